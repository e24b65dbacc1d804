"""Time f, gradient, HVP and Hessian calls of the counting oracle on the 35 MGH problems, as ratios to a gradient.

Both oracle paths are timed: jit (the default: replayed programs) and eager (`jit: false`). The defaults of
the cost model (optlab/experiment/cost.py) are the medians of the default path, jit.
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


def ratios(factory: Callable[[], object], jit: bool) -> tuple[float, float, float]:
    """f/grad, hvp/grad and hessian/(n grad) times of one problem at x0 + 0.01."""
    p = factory()
    oracle, x, v = Oracle(p, jit=jit), p.x0 + 0.01, np.ones(p.n)
    tf, tg = best_time(lambda: oracle.f(x)), best_time(lambda: oracle.grad(x))
    th, t_hess = best_time(lambda: oracle.hvp(x, v)), best_time(lambda: oracle.hessian(x), 10)
    return tf / tg, th / tg, t_hess / tg / p.n


def main() -> None:
    rows: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for name, factory in mgh.PROBLEMS.items():
        for jit in (True, False):  # interleaved, so that a change of load falls on both paths
            rows[jit].append(ratios(factory, jit))
        (f, hvp, hess), (fe, hvpe, hesse) = rows[True][-1], rows[False][-1]
        print(f"{name:28s} jit: f/grad {f:6.3f} hvp/grad {hvp:5.2f} hessian/(n grad) {hess:5.2f}"
              f"   eager: {fe:6.3f} {hvpe:5.2f} {hesse:5.2f}")
    for jit in (True, False):
        a = np.array(rows[jit])
        print("jit (the default path):" if jit else "eager (jit: false):")
        for label, col in (("f/grad", 0), ("hvp/grad", 1), ("hessian/(n grad)", 2)):
            q1, med, q3 = np.percentile(a[:, col], [25, 50, 75])
            print(f"  {label:18s} median {med:.3f}  quartiles {q1:.3f} - {q3:.3f}")


if __name__ == "__main__":
    main()
