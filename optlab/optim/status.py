"""Why a run stopped: the one vocabulary the loop, the runner, the store, the console and reports share."""
from __future__ import annotations

from enum import Enum

SGTOL = 1e-8  # the default stationarity test's tolerance (Stopping.sgtol): here, so the judge needs no pydantic


class Status(str, Enum):
    """A run's end status; a `str`, so a stored "converged" equals Status.CONVERGED."""

    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    BUDGET = "budget"
    TIME_LIMIT = "time_limit"
    DIVERGED = "diverged"
    ERROR = "error"

    __str__ = str.__str__  # print and f-strings show the value on every Python version

    def __format__(self, spec: str) -> str:  # format() and f-strings with a spec show the value too
        return str.__format__(self, spec)

    __hash__ = str.__hash__  # a dict keyed by stored strings finds the member (Enum hashes its name)

    @property
    def code(self) -> int:
        """scipy-style integer status: the position in this list (converged is 0)."""
        return list(Status).index(self)
