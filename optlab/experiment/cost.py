"""The cost model: one weighted cost per run (and per trace point) from its oracle counts, in gradients.

Defaults are the medians measured with the oracle on the 35 MGH problems (see docs/config-reference.md):
an f evaluation records no graph and costs ~1/35 of a gradient, an HVP ~2.5 gradients, a dense
Hessian ~1.6 n gradients. A value and gradient together (f_and_grad) is counted as one f and one gradient.
"""
from __future__ import annotations

import re
from typing import Any

import pydantic

_PER_N = re.compile(r"^\s*(?P<a>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)?\s*\*?\s*n\s*$")
KINDS = {"f": "nfev", "grad": "ngev", "hvp": "nhvp", "hessian": "nhess"}


def _weight(value: Any, where: str) -> float | str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{where}: must be >= 0, got {value}")
        return float(value)
    if isinstance(value, str) and _PER_N.match(value):
        return value.replace(" ", "")
    raise ValueError(f"{where}: expected a number or a multiple of n such as '1.6n', got {value!r}")


class CostModel(pydantic.BaseModel):
    """Weights of f, gradient, HVP and Hessian calls; each a number or a multiple of n ('1.6n', 'n')."""

    model_config = pydantic.ConfigDict(extra="forbid")
    f: float | str = 0.03
    grad: float | str = 1.0
    hvp: float | str = 2.5
    hessian: float | str = "1.6n"

    @pydantic.field_validator("f", "grad", "hvp", "hessian", mode="before")
    @classmethod
    def _check(cls, value: Any, info: pydantic.ValidationInfo) -> float | str:
        return _weight(value, info.field_name or "cost weight")  # a field validator always has its field's name

    def weight(self, kind: str, n: int | None) -> float:
        """The weight of one call of `kind` (f, grad, hvp, hessian) on a problem of size n."""
        value = getattr(self, kind)
        if isinstance(value, float):
            return value
        match = _PER_N.match(value)
        if match is None:  # validated on construction; only a later assignment can get here
            raise ValueError(f"cost model {kind}: expected a number or a multiple of n such as '1.6n', got {value!r}")
        factor = match.group("a")
        return (1.0 if factor is None else float(factor)) * (n or 0)

    def costs(self, trace: Any, n: int | None) -> Any:
        """Weighted cost at every point of a trace given as numpy columns (nfev, ngev, nhvp, nhess)."""
        return sum(self.weight(kind, n) * getattr(trace, column) for kind, column in KINDS.items())

    def cost(self, counts: dict[str, Any], n: int | None) -> float:
        """Weighted cost of a run row or a trace point: sum of weight x count over the kinds of call."""
        return sum(self.weight(kind, n) * (counts.get(column) or 0) for kind, column in KINDS.items())
