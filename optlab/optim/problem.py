"""What an optimizer is run on: an objective written with F, a start point, and what is known of the answer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..autodiff.core import as_data


@dataclass
class Problem:
    """An unconstrained minimization problem.

    `objective(x)` takes a Variable (or a plain array) and is written with
    `optlab.autodiff.functions`, so the oracle differentiates it to any order. A problem may also
    give analytic `gradient`, `hessian` or `hvp` (numpy in, numpy out), and `value_and_gradient` when one
    call yields both (S2MPJ's fgx); the oracle counts them the same.
    A stochastic problem gives `resample(rng)`, called once per optimizer step with the run's generator.
    A sum of squares f(x) = sum_i r_i(x)^2 may give `residuals(x)`, the vector r written with F: the
    Gauss-Newton family reads r and its Jacobian (by autodiff) through `Oracle.residuals`.
    A finite sum f(x) = (1/m) sum_i f_i(x) may give `terms` (m) and `sample(indices)`, the objective
    (1/|S|) sum_{i in S} f_i written with F: sub-sampled methods read H_S v through `Oracle.sampled_hvp`,
    counted as |S|/m of one HVP.
    A stochastic problem may also give `batched(x, *data)` and `batch()`, its objective with the current
    sample as explicit arrays (objective(x) == batched(x, *batch())): the oracle then jits `batched` and
    hands it each call's batch, so a replay never sees a stale sample (docs/architecture.md, session 4).

    Reference values, which the judge compares final values with: `f_star` (the global minimum),
    `local_minima` (values of other known local minima) and `reference` (where they come from: a paper,
    an exact formula, a recorded reference solve). A seeded instance carries its own.
    """

    name: str
    objective: Callable[[Any], Any]
    x0: np.ndarray
    f_star: float | None = None
    x_star: np.ndarray | None = None
    local_minima: tuple[float, ...] = ()
    reference: str = ""
    gradient: Callable[[np.ndarray], np.ndarray] | None = None
    value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None
    hessian: Callable[[np.ndarray], np.ndarray] | None = None
    hvp: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    resample: Callable[[np.random.Generator], None] | None = None
    residuals: Callable[[Any], Any] | None = None
    terms: int | None = None
    sample: Callable[[np.ndarray], Callable[[Any], Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    batched: Callable[..., Any] | None = None
    batch: Callable[[], tuple[np.ndarray, ...]] | None = None

    def __post_init__(self) -> None:
        self.x0 = as_data(self.x0, f"problem {self.name!r}: x0").copy()
        if self.x0.ndim != 1:
            raise ValueError(f"problem {self.name!r}: x0 must be a 1-D array, got shape {self.x0.shape}")

    @property
    def n(self) -> int:
        return self.x0.size
