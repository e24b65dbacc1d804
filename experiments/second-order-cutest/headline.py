"""The study's headline from its store: solved at tau per method, median weighted cost over commonly solved problems.

    python experiments/second-order-cutest/headline.py [RESULTS_DIR] [--tau 1e-6]

Solved at tau: f_final - f_L <= tau (f0 - f_L), f_L the problem's f* where known, else the lowest
f_final any method reached (More and Wild's test). Weighted cost: nfev + ngev + 2 nhvp + n nhess
(an Hv costs about two gradients in our kernel at n = 10^3: benchmarks/problems.py).
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
from pathlib import Path


def weighted(run: dict) -> float:
    return run["nfev"] + run["ngev"] + 2 * run["nhvp"] + run["n"] * run["nhess"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--tau", type=float, default=1e-6)
    args = parser.parse_args()
    db = sqlite3.connect(Path(args.results) / "results.sqlite")
    db.row_factory = sqlite3.Row
    runs = [dict(r) for r in db.execute("select * from runs")]
    problems = sorted({r["problem"] for r in runs})
    methods = sorted({r["label"] for r in runs})
    f_low = {}
    for p in problems:
        finals = [r["f_final"] for r in runs if r["problem"] == p and r["f_final"] is not None and math.isfinite(r["f_final"])]
        star = next((r["f_star"] for r in runs if r["problem"] == p and r["f_star"] is not None), None)
        f_low[p] = star if star is not None else (min(finals) if finals else None)

    def solved(r: dict) -> bool:
        low, f, f0 = f_low[r["problem"]], r["f_final"], r["f0"]
        return low is not None and f is not None and math.isfinite(f) and f - low <= args.tau * max(f0 - low, 0.0)

    solved_by = {m: {r["problem"]: r for r in runs if r["label"] == m and solved(r)} for m in methods}
    common = sorted(set.intersection(*(set(s) for s in solved_by.values()))) if methods else []
    print(f"{len(runs)} runs, {len(problems)} problems, {len(methods)} methods; tau = {args.tau:g}; "
          f"{len(common)} problems solved by every method\n")
    print("| method | solved | median weighted cost (common) | median seconds (common) |")
    print("|:---|---:|---:|---:|")
    for m in methods:
        costs = [weighted(solved_by[m][p]) for p in common]
        secs = [solved_by[m][p]["wall_seconds"] for p in common]
        print(f"| {m} | {len(solved_by[m])}/{len(problems)} | {statistics.median(costs) if costs else '-'} "
              f"| {statistics.median(secs) if secs else float('nan'):.3g} |")


if __name__ == "__main__":
    main()
