"""Sinusoid regression tasks (Finn, Abbeel and Levine, 2017), the 1-40-40-1 ReLU regressor, and the problem.

A task is y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5]. Arrays carry a leading
task axis, so a whole meta-batch runs through one batched network: x and y have shape (tasks, points, 1).
The problem `maml_sinusoid` is MAML's meta-objective of the regressor's flat parameter vector, with a fresh
meta-batch every optimizer step, so the outer update is whatever optimizer plugin a config names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import optlab.autodiff.functions as F
from optlab.autodiff import Variable
from optlab.optim import Problem
from optlab_plugins.maml import maml

from .. import mlp

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, np.pi)
INPUT = (-5.0, 5.0)
HIDDEN = (40, 40)


@dataclass(frozen=True)
class Tasks:
    """A batch of sinusoids: amplitude and phase per task, shape (tasks,)."""

    amplitude: np.ndarray
    phase: np.ndarray

    @property
    def n(self) -> int:
        return self.amplitude.size

    def sample(self, rng: np.random.Generator, points: int) -> tuple[np.ndarray, np.ndarray]:
        """`points` inputs per task drawn from U[-5, 5] and their targets, each of shape (tasks, points, 1)."""
        x = rng.uniform(*INPUT, size=(self.n, points, 1))
        return x, self(x)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Targets at inputs x of shape (tasks, points, 1)."""
        return self.amplitude[:, None, None] * np.sin(x - self.phase[:, None, None])


def sample_tasks(rng: np.random.Generator, n: int) -> Tasks:
    return Tasks(rng.uniform(*AMPLITUDE, size=n), rng.uniform(*PHASE, size=n))


def meta_batch(rng: np.random.Generator, n: int, k: int) -> tuple[tuple, tuple]:
    """n tasks with K shots for adaptation (support) and K others for the meta-loss (query)."""
    tasks = sample_tasks(rng, n)
    return tasks.sample(rng, k), tasks.sample(rng, k)


_meta_batch = meta_batch  # for the problem factory, whose parameter `meta_batch` (the paper's name) shadows it


def layer_shapes() -> list[tuple[int, int]]:
    """The regressor's weight and bias shapes, layer by layer."""
    return mlp.layer_shapes(HIDDEN)


def n_params() -> int:
    return mlp.n_params(HIDDEN)


def unpack(theta: Any) -> list[Any]:
    """The regressor's weights and biases sliced from its flat parameter vector."""
    return mlp.unpack(theta, HIDDEN)


def init_theta(rng: np.random.Generator, std: float = 0.01) -> np.ndarray:
    """The paper's initialization as one flat vector: weights normal(0, std) truncated at 2 std, zero biases."""
    parts = []
    for i, (a, b) in enumerate(layer_shapes()):
        parts.append(np.clip(rng.standard_normal(a * b), -2, 2) * std if i % 2 == 0 else np.zeros(a * b))
    return np.concatenate(parts)


def task_losses(params: Sequence[Any], data: tuple[np.ndarray, np.ndarray]) -> Any:
    """Mean squared error of each task, shape (tasks,)."""
    x, y = data
    err = mlp.forward(params, x) - y
    return F.mean(err * err, axis=(1, 2))


def maml_sinusoid(K: int = 10, alpha: float = 0.01, inner_steps: int = 1, first_order: bool = False,
                  meta_batch: int = 25, seed: int = 0) -> Problem:
    """Meta-learning sinusoid regression with a 40-40 ReLU MLP; x is its flat parameter vector.

    Each optimizer step sees a fresh meta-batch (resample); inner_steps=0 is joint training on all tasks
    (the pretrained baseline). The start is the paper's initialization from `seed`.
    """
    if K < 1 or meta_batch < 1 or inner_steps < 0 or alpha < 0:
        raise ValueError(f"problem 'maml_sinusoid': needs K, meta_batch >= 1, inner_steps, alpha >= 0, got "
                         f"K={K}, meta_batch={meta_batch}, inner_steps={inner_steps}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    meta_loss = maml(task_losses, alpha, inner_steps, first_order)
    batch = {"data": _meta_batch(rng, meta_batch, K)}

    def batched(theta: Any, x: Any, y: Any) -> Any:
        theta = theta if isinstance(theta, Variable) else Variable(theta)
        return meta_loss(unpack(theta), x, y)

    def objective(theta: Any) -> Any:
        return batched(theta, *batch["data"])

    def resample(generator: np.random.Generator) -> None:
        batch["data"] = _meta_batch(generator, meta_batch, K)

    params = {"K": K, "alpha": alpha, "inner_steps": inner_steps, "first_order": first_order,
              "meta_batch": meta_batch, "seed": seed}
    return Problem(name="maml_sinusoid", objective=objective, x0=init_theta(rng), resample=resample, params=params,
                   batched=batched, batch=lambda: batch["data"])

