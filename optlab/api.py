"""The Python face of optlab: minimize a function written with optlab.autodiff.functions."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.optimize import OptimizeResult

from .optim.loop import run
from .optim.problem import Problem
from .optim.stopping import Budget, Stopping
from .registry import registry


def minimize(fun: Callable[[Any], Any], x0: Any, method: str = "trust-ncg", *,
             budget: Budget | dict | None = None, stopping: Stopping | dict | None = None,
             f_star: float | None = None, seed: int = 0, **params: Any) -> OptimizeResult:
    """Minimize fun from x0 with the optimizer plugin `method` and its `params`.

    Returns scipy's OptimizeResult fields (x, fun, jac, nit, nfev, njev, nhev, status, success,
    message) plus `counts` and `trace`.
    """
    problem = Problem(name=getattr(fun, "__name__", "fun"), objective=fun, x0=np.asarray(x0), f_star=f_star)
    optimizer = registry().get("optimizers", method)(**params)
    budget = budget if isinstance(budget, Budget) else Budget(**(budget or {}))
    stopping = stopping if isinstance(stopping, Stopping) else Stopping(**(stopping or {}))
    return run(optimizer, problem, budget, stopping, seed=seed)
