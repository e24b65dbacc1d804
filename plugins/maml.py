"""MAML (Finn, Abbeel and Levine, 2017): the meta-objective as an ordinary differentiable function of theta.

`maml(task_losses, ...)` turns a batched task loss into the meta-loss: each task adapts the shared
parameters by `inner_steps` gradient steps on its support set, and the meta-loss is the mean query loss
after adaptation. The inner gradients keep their graph (second order) unless `first_order` detaches them
(FOMAML). Per-task gradients come from one backward pass: the shared parameters are broadcast to a
leading task axis, and task t's loss depends only on slice t.

The problem `maml_sinusoid` wraps it for the sinusoid study with a fresh meta-batch per step (`resample`),
so the outer update is whatever optimizer plugin a config names, second-order ones included.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.autodiff import Config, Variable, enable_grad, gradients
from optlab.optim import Problem

from . import sinusoid

TaskLosses = Callable[[Sequence[Any], Any], Any]  # (per-task params, data) -> losses of shape (tasks,)


def per_task(params: Sequence[Any], n: int) -> list[Any]:
    """Each parameter broadcast to a leading axis of n tasks."""
    return [F.broadcast_to(p, (n, *p.shape)) for p in params]


def adapt(task_losses: TaskLosses, params: Sequence[Any], support: Any, alpha: float, steps: int,
          create_graph: bool) -> list[Any]:
    """`steps` gradient steps of size alpha on each task's support loss; params carry the task axis."""
    params = [p if isinstance(p, Variable) else Variable(p) for p in params]
    for _ in range(steps):
        with enable_grad():
            grads = gradients(F.sum(task_losses(params, support)), params, create_graph=create_graph)
        # first order: each inner gradient enters as a constant array (a Variable would be a leaf that the
        # meta-gradient's backward pass differentiates for nothing)
        params = [p if g is None else p - alpha * (g if create_graph else g.data) for p, g in zip(params, grads)]
    return params


def maml(task_losses: TaskLosses, alpha: float = 0.01, inner_steps: int = 1,
         first_order: bool = False) -> Callable[..., Any]:
    """The meta-loss function ``meta_loss(params, support, query)`` of shared params (Variables).

    support and query are batched task data whose first array has a leading task axis.
    """
    def meta_loss(params: Sequence[Any], support: Any, query: Any) -> Any:
        n = np.shape(support[0])[0]
        second = not first_order and Config.enable_backprop and any(isinstance(p, Variable) for p in params)
        adapted = adapt(task_losses, per_task(params, n), support, alpha, inner_steps, create_graph=second)
        return F.mean(task_losses(adapted, query))

    return meta_loss


def maml_sinusoid(K: int = 10, alpha: float = 0.01, inner_steps: int = 1, first_order: bool = False,
                  meta_batch: int = 25, seed: int = 0) -> Problem:
    """Meta-learning sinusoid regression with a 40-40 ReLU MLP; x is its flat parameter vector.

    Each optimizer step sees a fresh meta-batch (resample); inner_steps=0 is joint training on all tasks
    (the pretrained baseline). The start is a He-normal initialization from `seed`.
    """
    if K < 1 or meta_batch < 1 or inner_steps < 0 or alpha < 0:
        raise ValueError(f"problem 'maml_sinusoid': needs K, meta_batch >= 1, inner_steps, alpha >= 0, got "
                         f"K={K}, meta_batch={meta_batch}, inner_steps={inner_steps}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    meta_loss = maml(sinusoid.task_losses, alpha, inner_steps, first_order)
    batch = {"data": sinusoid.meta_batch(rng, meta_batch, K)}

    def objective(theta: Any) -> Any:
        theta = theta if isinstance(theta, Variable) else Variable(theta)
        return meta_loss(sinusoid.unpack(theta), *batch["data"])

    def resample(generator: np.random.Generator) -> None:
        batch["data"] = sinusoid.meta_batch(generator, meta_batch, K)

    params = {"K": K, "alpha": alpha, "inner_steps": inner_steps, "first_order": first_order,
              "meta_batch": meta_batch, "seed": seed}
    return Problem(name="maml_sinusoid", objective=objective, x0=sinusoid.init_theta(rng), resample=resample,
                   params=params)


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Problem]]:
    return {"maml_sinusoid": maml_sinusoid}


@hookimpl
def optlab_transforms() -> dict[str, Callable[..., Any]]:
    return {"maml": maml}
