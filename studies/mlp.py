"""ReLU multilayer perceptrons on one flat parameter vector, with a leading task (or batch) axis allowed.

Both studies use it: the sinusoid regressor of MAML and WGAN's generator and critic.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import optlab.autodiff.functions as F


def layer_shapes(hidden: Sequence[int], inputs: int = 1, outputs: int = 1) -> list[tuple[int, int]]:
    """Weight and bias shapes, (fan_in, fan_out) and (1, fan_out), layer by layer: inputs -> hidden -> outputs."""
    sizes = [inputs, *hidden, outputs]
    shapes = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shapes += [(fan_in, fan_out), (1, fan_out)]
    return shapes


def n_params(hidden: Sequence[int], inputs: int = 1, outputs: int = 1) -> int:
    return sum(a * b for a, b in layer_shapes(hidden, inputs, outputs))


def unpack(theta: Any, hidden: Sequence[int], inputs: int = 1, outputs: int = 1) -> list[Any]:
    """Slice the flat vector into the layers' weights and biases (differentiably, for a Variable)."""
    out, start = [], 0
    for shape in layer_shapes(hidden, inputs, outputs):
        stop = start + shape[0] * shape[1]
        out.append(F.reshape(theta[start:stop], shape))
        start = stop
    return out


def forward(params: Sequence[Any], x: Any, activation: Callable[[Any], Any] = F.relu) -> Any:
    """The MLP on x (..., points, inputs) with per-task parameters (leading task axis) or shared ones."""
    h = x
    for i in range(0, len(params), 2):
        h = F.matmul(h, params[i]) + params[i + 1]
        if i + 2 < len(params):
            h = activation(h)
    return h
