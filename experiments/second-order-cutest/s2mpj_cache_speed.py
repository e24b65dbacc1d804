"""Before/after of plugins/s2mpj.py's per-point cache: seconds per call and per run, and equal counts.

    python experiments/second-order-cutest/s2mpj_cache_speed.py [--problems ALLINITU,...] [--methods arc,...]

"Before" is S2MPJ called directly for every request (the plugin's code before the cache, kept here as
`direct`); "after" is the plugin. Both run in this process, interleaved, medians of --repeat. Per run:
the study's runner (`optlab.experiment.runner.execute`) on the same spec both ways; counts and status
must agree (a run's f may differ in the last digits: cached Hv are products with S2MPJ's Hessian).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from optlab.experiment.grid import RunSpec
from optlab.experiment.runner import execute
from optlab_plugins import s2mpj

METHODS = ["newton", "newton-cg", "trust-ncg", "trust-exact", "trust-krylov", "arc", "saddle-free-newton",
           "hessian-free", "lbfgs", "scipy.newton-cg", "scipy.trust-ncg", "scipy.trust-krylov", "scipy.trust-exact"]


def direct(native: Any) -> dict[str, Callable]:
    """The plugin's derivatives before the cache: one S2MPJ call per request."""
    def col(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1, 1)

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = native.fgx(col(x))
        return float(f), s2mpj._column(g)

    def hessian(x: np.ndarray) -> np.ndarray:
        h = native.fgHx(col(x))[2]
        return np.asarray(h.toarray() if hasattr(h, "toarray") else h, dtype=np.float64)

    return {"value": lambda x: float(native.fx(col(x))), "value_and_gradient": value_and_gradient,
            "gradient": lambda x: value_and_gradient(x)[1],
            "hvp": lambda x, v: s2mpj._column(native.fHxv(col(x), col(v))), "hessian": hessian}


CACHED = s2mpj._derivatives


def seconds(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def per_call(name: str, repeat: int) -> dict[str, float]:
    """Median seconds of f+g, the first Hv at a new x, a further Hv there, and a Hessian, both ways."""
    native = s2mpj.instantiate(name)
    x0 = np.asarray(native.x0, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(0)
    out: dict[str, list[float]] = {}
    for r in range(repeat):
        x = x0 + 0.01 * (r + 1)
        v, w = rng.standard_normal(x.size), rng.standard_normal(x.size)
        for label, make in (("before", direct), ("after", CACHED)):
            d = make(native)
            out.setdefault(f"fg {label}", []).append(seconds(d["value_and_gradient"], x))
            out.setdefault(f"Hv first {label}", []).append(seconds(d["hvp"], x, v))
            out.setdefault(f"Hv again {label}", []).append(seconds(d["hvp"], x, w))
            out.setdefault(f"H {label}", []).append(seconds(d["hessian"], x + 1e-3))
    return {k: statistics.median(v) for k, v in out.items()}


def per_run(name: str, method: str, budget: dict[str, int]) -> dict[str, Any]:
    spec = RunSpec(problem=f"s2mpj.{name}", problem_params={}, optimizer=method, optimizer_params={}, label=method,
                   seed=0, scale=1.0, budget=budget, stopping={})
    rows = {}
    for label, make in (("before", direct), ("after", CACHED)):
        s2mpj._derivatives = make
        try:
            rows[label] = execute(spec)[0]
        finally:
            s2mpj._derivatives = CACHED
    b, a = rows["before"], rows["after"]
    keys = ("status", "nit", "nfev", "ngev", "nhvp", "nhess")
    return {"problem": name, "method": method, "before_s": b.get("wall_seconds"), "after_s": a.get("wall_seconds"),
            "same_counts": all(b.get(k) == a.get(k) for k in keys),
            "f_before": b.get("f_final"), "f_after": a.get("f_final")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="ALLINITU,BEALE,ARWHEAD,CHNROSNB,DIXMAANA1,EXTROSNB")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--calls", type=int, default=150)
    args = parser.parse_args()
    problems = args.problems.split(",")
    print("| problem | n | call | before ms | after ms | ratio |\n|:---|---:|:---|---:|---:|---:|")
    for name in problems:
        t = per_call(name, args.repeat)
        n = np.asarray(s2mpj.instantiate(name).x0).size
        for call in ("fg", "Hv first", "Hv again", "H"):
            before, after = t[f"{call} before"], t[f"{call} after"]
            print(f"| {name} | {n} | {call} | {1e3 * before:.3g} | {1e3 * after:.3g} | {before / after:.3g} |")
    print("\n| problem | method | before s | after s | ratio | same counts | f before | f after |\n"
          "|:---|:---|---:|---:|---:|:---|---:|---:|")
    total = {"before": 0.0, "after": 0.0}
    for name in problems:
        for method in args.methods.split(","):
            r = per_run(name, method, {"iterations": args.iterations, "oracle_calls": args.calls})
            total["before"] += r["before_s"] or 0.0
            total["after"] += r["after_s"] or 0.0
            print(f"| {name} | {method} | {r['before_s']:.3g} | {r['after_s']:.3g} | "
                  f"{r['before_s'] / r['after_s']:.3g} | {r['same_counts']} | "
                  f"{r['f_before']:.6g} | {r['f_after']:.6g} |")
    print(f"\nall runs: before {total['before']:.1f} s, after {total['after']:.1f} s, "
          f"ratio {total['before'] / total['after']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
