"""Time f, gradient, HVP and Hessian calls of the counting oracle on the 35 MGH problems, as ratios to a gradient.

The defaults of the cost model (optlab/experiment/cost.py) are the medians this prints.
Run: python benchmarks/oracle_costs.py
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
from optlab_plugins import mgh

from optlab.optim import Oracle


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


def ratios(factory: Callable[[], object]) -> tuple[float, float, float]:
    """f/grad, hvp/grad and hessian/(n grad) times of one problem at x0 + 0.01."""
    p = factory()
    oracle, x, v = Oracle(p), p.x0 + 0.01, np.ones(p.n)
    tf, tg = best_time(lambda: oracle.f(x)), best_time(lambda: oracle.grad(x))
    th, t_hess = best_time(lambda: oracle.hvp(x, v)), best_time(lambda: oracle.hessian(x), 10)
    return tf / tg, th / tg, t_hess / tg / p.n


def main() -> None:
    rows = []
    for name, factory in mgh.PROBLEMS.items():
        rows.append(ratios(factory))
        f, hvp, hess = rows[-1]
        print(f"{name:28s} f/grad {f:6.3f}  hvp/grad {hvp:5.2f}  hessian/(n grad) {hess:5.2f}")
    a = np.array(rows)
    for label, col in (("f/grad", 0), ("hvp/grad", 1), ("hessian/(n grad)", 2)):
        q1, med, q3 = np.percentile(a[:, col], [25, 50, 75])
        print(f"{label:18s} median {med:.3f}  quartiles {q1:.3f} - {q3:.3f}")


if __name__ == "__main__":
    main()
