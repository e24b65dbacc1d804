"""Dolan-More performance profiles and More-Wild data profiles: the maths, no plotting and no I/O.

An instance is a problem with its parameters and scale; its seeds are folded into one cost by the median,
an unsolved seed counting as infinite (so a method solves an instance when it solves more than half its seeds).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .judge import Instance, instance

COUNTS = ("nfev", "ngev", "nhvp", "nhess")


def calls(counts: dict[str, Any]) -> int:
    """Total oracle calls (f + g + Hv + H) of a run row or a trace point; missing counts are 0."""
    return sum(counts.get(k) or 0 for k in COUNTS)


def seed_median(costs: Sequence[float]) -> float:
    """Median cost over seeds; inf (unsolved) counts, so the result is finite only if most seeds solved."""
    if len(costs) == 1:  # one seed (most studies): the value itself, without np.median's 100 us
        return float(costs[0])
    return float(np.median(costs)) if len(costs) else math.inf


def cost_table(runs: list[dict[str, Any]], cost: Callable[[dict[str, Any]], float],
               key: Callable[[dict[str, Any]], Instance] = instance) -> tuple[list[Instance], dict[str, np.ndarray]]:
    """Instances in order, and per method the seed-median `cost(run)` on each (inf where never run);
    `key` gives a run's instance (a report passes the keys it computed once)."""
    keys = [key(r) for r in runs]
    instances = list(dict.fromkeys(keys))
    index = {k: i for i, k in enumerate(instances)}
    per_seed: dict[str, list[list[float]]] = {}
    for r, k in zip(runs, keys):
        cells = per_seed.get(r["label"])
        if cells is None:  # not setdefault: its default, a list per instance, would be built for every run
            cells = per_seed[r["label"]] = [[] for _ in instances]
        cells[index[k]].append(cost(r))
    return instances, {label: np.array([seed_median(c) for c in cells]) for label, cells in per_seed.items()}


def ratios(costs: dict[str, np.ndarray], floor: float = 0.0) -> dict[str, np.ndarray]:
    """Performance ratios r_ps = t_ps / min_s t_ps; inf where s did not solve p.

    Costs below `floor` count as `floor` (1 for call counts, so that a method needing none of a kind of
    call is the cheapest in it rather than dividing by zero).
    """
    table = np.maximum(np.array(list(costs.values()), dtype=float), floor)
    best = table.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.isinf(table), math.inf, np.where(table == best, 1.0, table / best))
    return dict(zip(costs, r))


def share_within(values: np.ndarray, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """The profile curve: for each threshold t, the share of `values` <= t (rho_s(tau) or d_s(kappa))."""
    return np.searchsorted(np.sort(values), thresholds, side="right") / len(values)


def units_to_solve(f: np.ndarray, costs: np.ndarray, f_low: float | None, tau: float) -> float:
    """The cost (costs[k] at trace point k) of the first point with f - f_L <= tau (f0 - f_L); inf if never."""
    return float(units_to_solve_at(f, costs, f_low, [tau])[0])


def units_to_solve_at(f: np.ndarray, costs: np.ndarray, f_low: float | None, taus: Sequence[float]) -> np.ndarray:
    """`units_to_solve` at each of `taus` in one pass: the first point whose best-so-far f meets each target."""
    if f.size == 0 or f_low is None:
        return np.full(len(taus), math.inf)
    best = np.minimum.accumulate(np.where(np.isnan(f), np.inf, f))  # NaN never meets a target
    # -best is nondecreasing: the first k with best[k] <= target
    k = np.searchsorted(-best, -targets(f[0], f_low, taus), side="left")
    return np.where(k < f.size, np.asarray(costs, dtype=float)[np.minimum(k, f.size - 1)], math.inf)


def targets(f0: float, f_low: float, taus: Sequence[float]) -> np.ndarray:
    """More and Wild's targets f_L + tau (f0 - f_L), one per tau: met by the first point whose f is at most one
    (the first whose best-so-far f is)."""
    return f_low + np.asarray(taus, dtype=float) * max(f0 - f_low, 0.0)
