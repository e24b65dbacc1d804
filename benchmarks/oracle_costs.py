"""Time f, gradient, HVP and Hessian calls of the counting oracle on the 35 MGH problems, as ratios to a gradient.

The defaults of the cost model (optlab/experiment/cost.py) are the medians this prints.
Run: python benchmarks/oracle_costs.py
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from optlab.optim import Oracle
from optlab_plugins import mgh


def best_time(fn: Callable[[], object], reps: int = 60) -> float:
    """Best of 3 mean times over `reps` calls."""
    fn()
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def main() -> None:
    rows = []
    for name, factory in mgh.PROBLEMS.items():
        p = factory()
        oracle, x, v = Oracle(p), p.x0 + 0.01, np.ones(p.n)
        tf, tg = best_time(lambda: oracle.f(x)), best_time(lambda: oracle.grad(x))
        th, tH = best_time(lambda: oracle.hvp(x, v)), best_time(lambda: oracle.hessian(x), 10)
        rows.append((tf / tg, th / tg, tH / tg / p.n))
        print(f"{name:28s} n={p.n:3d}  f/grad {tf / tg:6.3f}  hvp/grad {th / tg:5.2f}  hessian/(n grad) {tH / tg / p.n:5.2f}")
    a = np.array(rows)
    for label, col in (("f/grad", 0), ("hvp/grad", 1), ("hessian/(n grad)", 2)):
        q1, med, q3 = np.percentile(a[:, col], [25, 50, 75])
        print(f"{label:18s} median {med:.3f}  quartiles {q1:.3f} - {q3:.3f}")


if __name__ == "__main__":
    main()
