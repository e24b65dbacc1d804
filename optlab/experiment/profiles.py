"""Dolan-More performance profiles and More-Wild data profiles: the maths, no plotting and no I/O.

An instance is a problem with its parameters and scale; its seeds are folded into one cost by the median,
an unsolved seed counting as infinite (so a method solves an instance when it solves more than half its seeds).
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import numpy as np

Instance = tuple[str, str, float]
COUNTS = ("nfev", "ngev", "nhvp", "nhess")


def calls(counts: dict[str, Any]) -> int:
    """Total oracle calls (f + g + Hv + H) of a run row or a trace point; missing counts are 0."""
    return sum(counts.get(k) or 0 for k in COUNTS)


def instance(run: dict[str, Any]) -> Instance:
    """The instance a run belongs to: problem, its parameters (as JSON) and scale."""
    return run["problem"], json.dumps(run.get("problem_params") or {}, sort_keys=True), run["scale"]


def seed_median(costs: Sequence[float]) -> float:
    """Median cost over seeds; inf (unsolved) counts, so the result is finite only if most seeds solved."""
    return float(np.median(costs)) if len(costs) else math.inf


def cost_table(runs: list[dict[str, Any]], cost: Callable[[dict[str, Any]], float]
               ) -> tuple[list[Instance], dict[str, np.ndarray]]:
    """Instances in order, and per method the seed-median `cost(run)` on each (inf where never run)."""
    instances = list(dict.fromkeys(instance(r) for r in runs))
    index = {key: i for i, key in enumerate(instances)}
    per_seed: dict[str, list[list[float]]] = {}
    for r in runs:
        per_seed.setdefault(r["label"], [[] for _ in instances])[index[instance(r)]].append(cost(r))
    return instances, {label: np.array([seed_median(c) for c in cells]) for label, cells in per_seed.items()}


def ratios(costs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Performance ratios r_ps = t_ps / min_s t_ps; inf where s did not solve p."""
    table = np.array(list(costs.values()), dtype=float)
    best = table.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.isinf(table), math.inf, np.where(table == best, 1.0, table / best))
    return dict(zip(costs, r))


def share_within(values: np.ndarray, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """The profile curve: for each threshold t, the share of `values` <= t (rho_s(tau) or d_s(kappa))."""
    return np.searchsorted(np.sort(values), thresholds, side="right") / len(values)


def reference_f(runs: list[dict[str, Any]], traces: dict[str, list[dict[str, Any]]]) -> dict[Instance, float | None]:
    """f_L per instance: the known f* if any run has it, else the lowest finite f any run saw (None if none)."""
    seen: dict[Instance, list[float]] = {}
    known: dict[Instance, float] = {}
    for r in runs:
        key = instance(r)
        if r.get("f_star") is not None:
            known[key] = r["f_star"]
        fs = [p["f"] for p in traces.get(r["run_id"], [])] + [r.get("f_final")]
        seen.setdefault(key, []).extend(f for f in fs if f is not None and math.isfinite(f))
    return {key: known.get(key, min(fs) if fs else None) for key, fs in seen.items()}


def units_to_solve(trace: list[dict[str, Any]], f_low: float | None, tau: float, n: int | None) -> float:
    """Budget units (oracle calls / (n + 1)) at the first point with f - f_L <= tau (f0 - f_L); inf if never."""
    if not trace or f_low is None or n is None:
        return math.inf
    target = f_low + tau * max(trace[0]["f"] - f_low, 0.0)
    return next((calls(p) / (n + 1) for p in trace if p["f"] is not None and p["f"] <= target), math.inf)
