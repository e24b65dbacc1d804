"""Sinusoid regression tasks (Finn, Abbeel and Levine, 2017) and a 40-40 ReLU MLP on a flat parameter vector.

A task is y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5]. Arrays carry a leading
task axis, so a whole meta-batch runs through one batched network: x and y have shape (tasks, points, 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

import optlab.autodiff.functions as F

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


def layer_shapes(hidden: Sequence[int] = HIDDEN, inputs: int = 1, outputs: int = 1) -> list[tuple[int, int]]:
    """Weight and bias shapes, (fan_in, fan_out) and (1, fan_out), layer by layer: inputs -> hidden -> outputs."""
    sizes = [inputs, *hidden, outputs]
    shapes = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shapes += [(fan_in, fan_out), (1, fan_out)]
    return shapes


def n_params(hidden: Sequence[int] = HIDDEN, inputs: int = 1, outputs: int = 1) -> int:
    return sum(a * b for a, b in layer_shapes(hidden, inputs, outputs))


def init_theta(rng: np.random.Generator, hidden: Sequence[int] = HIDDEN, std: float = 0.01) -> np.ndarray:
    """The paper's initialization as one flat vector: weights normal(0, std) truncated at 2 std, zero biases."""
    parts = []
    for i, (a, b) in enumerate(layer_shapes(hidden)):
        parts.append(np.clip(rng.standard_normal(a * b), -2, 2) * std if i % 2 == 0 else np.zeros(a * b))
    return np.concatenate(parts)


def unpack(theta: Any, hidden: Sequence[int] = HIDDEN, inputs: int = 1, outputs: int = 1) -> list[Any]:
    """Slice the flat vector into the layers' weights and biases (differentiably, for a Variable)."""
    out, start = [], 0
    for shape in layer_shapes(hidden, inputs, outputs):
        stop = start + shape[0] * shape[1]
        out.append(F.reshape(theta[start:stop], shape))
        start = stop
    return out


def forward(params: Sequence[Any], x: Any, activation: Callable[[Any], Any] = F.relu) -> Any:
    """The MLP on x (tasks, points, 1) with per-task parameters (leading task axis) or shared ones."""
    h = x
    for i in range(0, len(params), 2):
        h = F.matmul(h, params[i]) + params[i + 1]
        if i + 2 < len(params):
            h = activation(h)
    return h


def task_losses(params: Sequence[Any], data: tuple[np.ndarray, np.ndarray]) -> Any:
    """Mean squared error of each task, shape (tasks,)."""
    x, y = data
    err = forward(params, x) - y
    return F.mean(err * err, axis=(1, 2))
