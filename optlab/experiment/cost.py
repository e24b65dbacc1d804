"""The cost model: one weighted cost per run (and per trace point) from its oracle counts, in gradients.

Defaults are the medians measured with the oracle's default path (jit) on the 35 MGH problems
(benchmarks/oracle_costs.py, docs/config-reference.md): an f ~1/2 of a gradient, an HVP ~2 gradients, a
dense Hessian ~n gradients. A value and gradient together (f_and_grad) is counted as one f and one gradient.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PER_N = re.compile(r"^\s*(?P<a>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)?\s*\*?\s*n\s*$")
_NUMBER = re.compile(r"^[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$")
KINDS = {"f": "nfev", "grad": "ngev", "hvp": "nhvp", "hessian": "nhess"}


def check_weight(value: Any, where: str) -> float | str:
    """A weight as the model keeps it (a float, or a multiple of n without spaces); ValueError naming `where`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{where}: must be >= 0, got {value}")
        return float(value)
    if isinstance(value, str) and _PER_N.match(value):
        return value.replace(" ", "")
    raise ValueError(f"{where}: expected a number or a multiple of n such as '1.6n', got {value!r}")


@dataclass
class CostModel:
    """Weights of f, gradient, HVP and Hessian calls; each a number or a multiple of n ('1.6n', 'n').

    A plain class, not a pydantic model: `optlab report` reads it without importing pydantic (0.1 s); the
    config validates its `cost:` section with the same checks (`config.Cost`).
    """

    f: float | str = 0.5
    grad: float | str = 1.0
    hvp: float | str = 2.0
    hessian: float | str = "n"

    def __post_init__(self) -> None:
        for kind in KINDS:
            setattr(self, kind, check_weight(getattr(self, kind), kind))

    @classmethod
    def parse(cls, text: str) -> CostModel:
        """A model from 'f=0.5,hvp=2,hessian=n' (kinds not named keep their defaults), as `--cost` takes it."""
        weights: dict[str, str] = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            kind, sep, value = (part.strip() for part in item.partition("="))
            if not sep or kind not in KINDS:
                raise ValueError(f"--cost: {item!r} is not KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
            weights[kind] = value
        numbers = {k: float(v) if _NUMBER.match(v) else v for k, v in weights.items()}
        try:
            return cls(**numbers)
        except ValueError as e:
            raise ValueError(f"--cost: {e}") from None

    def model_dump(self) -> dict[str, float | str]:
        """The weights by kind, as stored with the runs (the names pydantic's models use)."""
        return {kind: getattr(self, kind) for kind in KINDS}

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
