"""Gradient descent: plain, heavy-ball momentum and Nesterov; and Adam."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import Optimizer, Oracle, Params, State


class GradientDescent(Optimizer):
    """x <- x + v, v <- momentum v - lr g (Nesterov: g taken at the look-ahead point x + momentum v)."""

    name = "gd"
    order = 1

    class Params(Params):
        lr: float = Field(1e-3, gt=0, description="step size")
        momentum: float = Field(0.0, ge=0, lt=1, description="heavy-ball coefficient")
        nesterov: bool = Field(False, description="Nesterov's look-ahead gradient")

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        state = super().init(oracle, x0)
        state.extra["v"] = np.zeros_like(x0)
        return state

    def step(self, oracle: Oracle, state: State) -> State:
        p, v = self.params, state.extra["v"]
        g = oracle.grad(state.x + p.momentum * v) if p.nesterov and p.momentum else state.g
        v = p.momentum * v - p.lr * g
        x = state.x + v
        f, gx = oracle.f_and_grad(x)
        return State(x=x, f=f, g=gx, extra={"v": v})


class Adam(Optimizer):
    """Kingma and Ba (2015): bias-corrected first and second moment estimates."""

    name = "adam"
    order = 1

    class Params(Params):
        lr: float = Field(1e-3, gt=0)
        beta1: float = Field(0.9, ge=0, lt=1)
        beta2: float = Field(0.999, ge=0, lt=1)
        eps: float = Field(1e-8, gt=0)

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        state = super().init(oracle, x0)
        state.extra.update(m=np.zeros_like(x0), v=np.zeros_like(x0), t=0)
        return state

    def step(self, oracle: Oracle, state: State) -> State:
        p, e = self.params, state.extra
        t = e["t"] + 1
        m = p.beta1 * e["m"] + (1 - p.beta1) * state.g
        v = p.beta2 * e["v"] + (1 - p.beta2) * state.g ** 2
        x = state.x - p.lr * (m / (1 - p.beta1 ** t)) / (np.sqrt(v / (1 - p.beta2 ** t)) + p.eps)
        f, g = oracle.f_and_grad(x)
        return State(x=x, f=f, g=g, extra={"m": m, "v": v, "t": t})


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [GradientDescent, Adam]
