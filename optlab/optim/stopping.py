"""Budgets and the one convergence test that judges every method, ours and scipy's alike."""
from __future__ import annotations

import math

import pydantic


class Budget(pydantic.BaseModel):
    """Limits on a run: iterations, oracle calls of any kind, wall-clock seconds (None: no limit)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    iterations: int = pydantic.Field(1000, ge=1)
    oracle_calls: int | None = pydantic.Field(None, ge=1)
    seconds: float | None = pydantic.Field(None, gt=0)


class Stopping(pydantic.BaseModel):
    """Converged when f - f* <= ftol (f0 - f*) where f* is known, or when ||g|| <= gtol ||g0||.

    The gradient test is relative to the start so that badly scaled problems are judged alike; the
    f - f* test is More and Wild's (2009) accuracy measure used by data profiles. Both are relative
    to the start, so the defaults are tight: from 10 x0 a start can be 10^6 times worse than from x0.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    gtol: float = pydantic.Field(1e-8, gt=0, lt=1)
    ftol: float = pydantic.Field(1e-10, gt=0, lt=1)

    def reason(self, f: float, gnorm: float | None, f0: float, g0norm: float | None,
               f_star: float | None) -> str | None:
        """Why the run has converged ("f - f*" or "gradient"), or None."""
        if f_star is not None and f - f_star <= self.ftol * max(f0 - f_star, 0.0):
            return "f - f*"
        if gnorm is not None and g0norm is not None and gnorm <= self.gtol * max(g0norm, math.ulp(1.0)):
            return "gradient"
        return None
