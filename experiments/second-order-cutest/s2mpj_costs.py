"""Per-call cost of S2MPJ's own Python on its unconstrained problems with n <= N at default sizes.

    python experiments/second-order-cutest/s2mpj_costs.py [--max-n 100] [--out s2mpj_costs.csv]

For each problem: seconds to build it, one f+g (fgx), one Hv (fHxv) and one dense Hessian (fgHx) at x0
(the Hv only when f+g took <= 0.05 s, the Hessian only when the Hv did). --resume keeps the rows
already in the file and times the rest.
The study's per-run budgets (iterations, oracle calls) and its problem split come from
these numbers (README); they are wall times on a shared machine, so they only rank problems.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from optlab_plugins import s2mpj

LIMIT_S = 5  # a problem still being timed after this many seconds is recorded without times (out of budget)
SKIP_S = 0.05  # a problem whose f+g (or Hv) takes longer is out of the study's budget: its Hv (or H) is not timed


class OutOfTime(Exception):
    """A problem's calls took longer than LIMIT_S in all."""


def _out_of_time(*_: Any) -> None:
    raise OutOfTime


def seconds(call: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=100)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "s2mpj_costs.csv"))
    parser.add_argument("--resume", action="store_true", help="keep the rows already in the file")
    args = parser.parse_args()
    factories = s2mpj.problems()
    names = [name for name, f in factories.items() if f.n <= args.max_n]
    done = set()
    if args.resume and os.path.exists(args.out):
        with open(args.out, newline="") as handle:
            done = {row["problem"] for row in csv.DictReader(handle)}
    with open(args.out, "a" if done else "w", newline="") as handle:
        out = csv.writer(handle)
        if not done:
            out.writerow(["problem", "n", "build_s", "fg_s", "hv_s", "hess_s", "f_star"])
        for name in (name for name in names if name not in done):
            signal.signal(signal.SIGALRM, _out_of_time)
            signal.alarm(LIMIT_S)
            try:
                build = time.perf_counter()
                problem = factories[name]()
                build = time.perf_counter() - build
                x = problem.x0
                v = np.random.default_rng(0).standard_normal(problem.n)
                fg = seconds(problem.value_and_gradient, x)
                hv = seconds(problem.hvp, x, v) if fg <= SKIP_S else math.nan
                hess = seconds(problem.hessian, x) if hv <= SKIP_S else math.nan
            except OutOfTime:
                print(f"{name}: more than {LIMIT_S} s", file=sys.stderr)
                out.writerow([name, factories[name].n, "", "", "", "", ""])
                continue
            except Exception as exc:  # noqa: BLE001 - a problem S2MPJ cannot evaluate is recorded, not fatal
                print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                out.writerow([name, factories[name].n, "", "", "", "", ""])
                continue
            finally:
                signal.alarm(0)
            out.writerow([name, problem.n, f"{build:.4g}", f"{fg:.4g}", f"{hv:.4g}", f"{hess:.4g}",
                          "" if problem.f_star is None else repr(problem.f_star)])
            handle.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
