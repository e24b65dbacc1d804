"""Problems and an optimizer for the end-to-end tests, loaded as a local plugin file."""
import time

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Optimizer, Problem


def bowl(n: int = 3, scale: float = 1.0, delay: float = 0.0) -> Problem:
    """sum (x_i - i)^2 from x = scale * 1; `delay` seconds per evaluation make a sweep slow enough to kill."""
    def objective(x):
        if delay:
            time.sleep(delay)
        return F.sum((x - np.arange(n)) ** 2)
    return Problem("bowl", objective, scale * np.ones(n), f_star=0.0)


def cliff(scale: float = 1.0) -> Problem:
    """Unbounded below: gradient descent runs off to -inf, which must end as `diverged`."""
    return Problem("cliff", lambda x: -F.sum(F.exp(x)), scale * np.ones(2))


class Raiser(Optimizer):
    """An optimizer plugin with a bug: its second step raises."""

    name = "raiser"

    def step(self, oracle, state):
        if state.extra.get("stepped"):
            raise ZeroDivisionError("bug in a third-party step")
        state.extra["stepped"] = True
        return state


@hookimpl
def optlab_problems():
    return {"bowl": bowl, "cliff": cliff}


@hookimpl
def optlab_optimizers():
    return [Raiser]
