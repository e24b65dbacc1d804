"""The one judge: what a finished run achieved, at an accuracy tau, against its instance's reference values.

A run's status says why it stopped; its verdict says what it reached:

- ``global``: final f within tau of f* (f - f* <= tau max(1, |f*|));
- ``local``: final f within tau of a listed local minimum (|f - f_loc| <= tau max(1, |f_loc|));
- ``stationary``: elsewhere, at a point that passes the stationarity test (scaled gradient <= 1e-8,
  the default stopping test, whatever test stopped the run);
- ``unsolved``: anything else, including every diverged run and every error.

Where no f* is known, the lowest final f any run of the instance reached serves, and `Reference.known`
is False so that reports say so. Only a run that ended below its start or at a stationary point can set
that value: where every run was stopped at its start (killed by a time limit before its first step, say),
the start is no reference, and no run is `global`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, TypeGuard

from ..optim.status import SGTOL, Status

VERDICTS = ("global", "local", "stationary", "unsolved")
TAU = 1e-6
SOLVED = "global"
Instance = tuple[str, str, float]


@dataclass(frozen=True)
class Reference:
    """What an instance's runs are judged against: f* (or the best found) and the listed local minima."""

    f: float | None
    known: bool
    local_minima: tuple[float, ...] = ()
    source: str = ""


def instance(run: dict[str, Any]) -> Instance:
    """The instance a run belongs to: problem, its resolved parameters (seed included where the problem
    takes one), and scale. Stores written before instances were recorded fall back to the config's params."""
    params = run.get("instance_params")
    if params is None:
        params = run.get("problem_params") or {}
    return run["problem"], json.dumps(params, sort_keys=True), run["scale"]


def _finite(value: Any) -> TypeGuard[float]:
    """A number that is not None, NaN or infinite (a final f the judge can compare)."""
    return value is not None and math.isfinite(value)


def references(runs: list[dict[str, Any]]) -> dict[Instance, Reference]:
    """Per instance: its f* and local minima as the problem stated them, else the best final f found."""
    out: dict[Instance, Reference] = {}
    best: dict[Instance, tuple[float, str]] = {}
    for r in runs:
        key = instance(r)
        if r.get("f_star") is not None and key not in out:
            out[key] = Reference(r["f_star"], True, tuple(r.get("local_minima") or ()),
                                 r.get("reference") or "f* given")
        if _witness(r) and (key not in best or r["f_final"] < best[key][0]):
            best[key] = (r["f_final"], r["label"])
    for key, (f, label) in best.items():
        if key not in out:
            minima = next((tuple(r.get("local_minima") or ()) for r in runs if instance(r) == key), ())
            out[key] = Reference(f, False, minima, f"f* unknown: the best final f found in this study ({label})")
    for r in runs:
        none = "f* unknown and no run moved below its start or reached a stationary point"
        out.setdefault(instance(r), Reference(None, False, tuple(r.get("local_minima") or ()), none))
    return out


def _witness(run: dict[str, Any]) -> bool:
    """A run whose final f may stand for an unknown f*: finite, and below its start or at a stationary point."""
    f, f0 = run.get("f_final"), run.get("f0")
    return _finite(f) and ((_finite(f0) and f < f0) or is_stationary(run))


def within(f: float, target: float, tau: float) -> bool:
    """f no more than tau max(1, |target|) above target (below it counts: f* is then only an upper bound)."""
    return f - target <= tau * max(1.0, abs(target))


def is_stationary(run: dict[str, Any]) -> bool:
    """The final point passes the default stationarity test; stores without the measure use the status."""
    measure = run.get("scaled_gradient")
    if measure is None:
        return run.get("status") == Status.CONVERGED
    return measure <= SGTOL


def verdict(run: dict[str, Any], ref: Reference, tau: float = TAU) -> str:
    """global, local, stationary or unsolved (see the module docstring)."""
    f = run.get("f_final")
    if run.get("status") in (Status.ERROR, Status.DIVERGED) or not _finite(f):
        return "unsolved"
    if ref.f is not None and within(f, ref.f, tau):
        return "global"
    if any(abs(f - m) <= tau * max(1.0, abs(m)) for m in ref.local_minima):
        return "local"
    return "stationary" if is_stationary(run) else "unsolved"


def judge(runs: list[dict[str, Any]], tau: float = TAU) -> dict[str, str]:
    """run_id -> verdict for every run, each against its own instance's reference."""
    refs = references(runs)
    return {r["run_id"]: verdict(r, refs[instance(r)], tau) for r in runs}


VERDICT_COLUMNS = ["problem", "instance", "scale", "label", "seed", "status", "verdict", "nit", "f_final", "reference",
                   "reference_known"]


def verdict_rows(runs: list[dict[str, Any]], tau: float = TAU) -> list[dict[str, Any]]:
    """One row per run: what it was run on, why it stopped and what it achieved at tau (for exports)."""
    refs = references(runs)
    rows = []
    for r in runs:
        key, ref = instance(r), refs[instance(r)]
        rows.append({"problem": r["problem"], "instance": key[1], "scale": r["scale"], "label": r["label"],
                     "seed": r["seed"], "status": r["status"], "verdict": verdict(r, ref, tau), "nit": r.get("nit"),
                     "f_final": r.get("f_final"), "reference": ref.f, "reference_known": ref.known})
    return rows
