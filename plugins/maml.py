"""MAML (Finn, Abbeel and Levine, 2017): the meta-objective as an ordinary differentiable function of theta.

`maml(task_losses, ...)` turns a batched task loss into the meta-loss: each task adapts the shared
parameters by `inner_steps` gradient steps on its support set, and the meta-loss is the mean query loss
after adaptation. The inner gradients keep their graph (second order) unless `first_order` detaches them
(FOMAML). Per-task gradients come from one backward pass: the shared parameters are broadcast to a
leading task axis, and task t's loss depends only on slice t.

The sinusoid study (`optlab_studies.maml_sinusoid`) makes it a problem with a fresh meta-batch per step.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.autodiff import Config, Variable, enable_grad, gradients, no_grad

TaskLosses = Callable[[Sequence[Any], Any], Any]  # (per-task params, data) -> losses of shape (tasks,)


def per_task(params: Sequence[Any], n: int) -> list[Any]:
    """Each parameter broadcast to a leading axis of n tasks."""
    return [F.broadcast_to(p, (n, *p.shape)) for p in params]


def adapt(task_losses: TaskLosses, params: Sequence[Any], support: Any, alpha: float, steps: int,
          create_graph: bool) -> list[Any]:
    """`steps` gradient steps of size alpha on each task's support loss; params carry the task axis."""
    params = [p if isinstance(p, Variable) else Variable(p) for p in params]
    # First order, a step that joins an outer graph (training: the meta-gradient, or a jit trace of it) comes
    # from a recorded inner pass, detached under no_grad: a constant of the meta-graph, the same bits as a raw
    # pass (create_graph=False, then g.data), whose VJP steps on bare arrays a jit trace cannot follow (jit
    # refuses them), so FOMAML replays at every batch. Under no_grad (fine-tuning) the raw pass is cheaper.
    recorded = create_graph or Config.enable_backprop
    for _ in range(steps):
        with enable_grad():
            grads = gradients(F.sum(task_losses(params, support)), params, create_graph=recorded)
        if create_graph:
            params = [p if g is None else p - alpha * g for p, g in zip(params, grads)]
        elif recorded:
            with no_grad():
                moves = [None if g is None else alpha * g for g in grads]
            params = [p if d is None else p - d for p, d in zip(params, moves)]
        else:
            params = [p if g is None else p - alpha * g.data for p, g in zip(params, grads)]
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


@hookimpl
def optlab_transforms() -> dict[str, Callable[..., Any]]:
    return {"maml": maml}
