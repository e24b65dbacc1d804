"""S2MPJ's own calls on its unconstrained problems with n <= 100 at default sizes: seconds and agreement.

    python experiments/second-order-cutest/s2mpj_calls.py [--out s2mpj_calls.csv]   # times, about 5 min
    python experiments/second-order-cutest/s2mpj_calls.py --select 0.1              # the s2mpj-n100 list

At x0 and at x0 + 0.1 N(0, 1) (seed 0): one fx, fgx, fHxv (random v) and fgHx each, with whether fx's,
fgx's and fgHx's f and g agree bit for bit and the relative difference of fgHx's H v from fHxv's (what
plugins/s2mpj.py's per-point cache relies on). A problem whose four calls take > 4 s at a point is
recorded as out of time, one that raises with its error. --select S prints the problems whose median
fgx + fgHx seconds is < S, cheapest first (the rule of the s2mpj-n100 part).
"""
from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import time
from typing import Any

import numpy as np

from optlab_plugins import s2mpj

LIMIT_S = 4
HERE = os.path.dirname(os.path.abspath(__file__))


class OutOfTime(BaseException):
    """The calls at one point took longer than LIMIT_S."""


def _out_of_time(*_: Any) -> None:
    raise OutOfTime


def dense(a: Any) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64).reshape(-1)


def measure(name: str, x: np.ndarray, native: Any, rng: np.random.Generator) -> list[Any]:
    """[fx_s, fgx_s, hv_s, fghx_s, f and g bitwise equal, relative |Hv - H v|]."""
    start = time.perf_counter()
    f1 = native.fx(x)
    t1 = time.perf_counter()
    f2, g2 = native.fgx(x)
    t2 = time.perf_counter()
    v = rng.standard_normal(x.shape)
    hv = dense(native.fHxv(x, v))
    t3 = time.perf_counter()
    f3, g3, h = native.fgHx(x)
    t4 = time.perf_counter()
    same = np.array([float(f1), float(f2)]).tobytes() == np.array([float(f3), float(f3)]).tobytes() \
        and dense(g2).tobytes() == dense(g3).tobytes()
    rel = np.linalg.norm(dense(h) .reshape(x.size, x.size) @ v.reshape(-1) - hv) / max(np.linalg.norm(hv), 1e-300)
    return [t1 - start, t2 - t1, t3 - t2, t4 - t3, same, rel]


def time_all(out: str) -> None:
    signal.signal(signal.SIGALRM, _out_of_time)
    rng = np.random.default_rng(0)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["problem", "n", "point", "fx_s", "fgx_s", "hv_s", "fghx_s", "f_g_bitwise", "hv_rel", "error"])
        for name, factory in s2mpj.problems().items():
            if factory.n > 100:
                continue
            short = name.split(".", 1)[1]
            try:
                signal.alarm(LIMIT_S)
                native = s2mpj.instantiate(short)
                x0 = np.asarray(native.x0, dtype=np.float64).reshape(-1, 1)
                for point, x in (("x0", x0), ("x0+0.1N", x0 + 0.1 * rng.standard_normal(x0.shape))):
                    signal.alarm(LIMIT_S)
                    writer.writerow([name, x0.size, point, *measure(short, x, native, rng), ""])
            except OutOfTime:
                writer.writerow([name, factory.n, "", "", "", "", "", "", "", f"out of time (> {LIMIT_S} s)"])
            except Exception as e:  # noqa: BLE001 - S2MPJ raises anything
                writer.writerow([name, factory.n, "", "", "", "", "", "", "", f"{type(e).__name__}: {e}"[:200]])
            finally:
                signal.alarm(0)


def select(path: str, seconds: float) -> list[str]:
    """Problems whose median fgx + fgHx seconds is < `seconds`, cheapest first."""
    cost: dict[str, list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["error"]:
                cost.setdefault(row["problem"], []).append(float(row["fgx_s"]) + float(row["fghx_s"]))
    median = {name: statistics.median(c) for name, c in cost.items()}
    return sorted((name for name, c in median.items() if c < seconds), key=median.__getitem__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "s2mpj_calls.csv"))
    parser.add_argument("--select", type=float, metavar="S", help="print the problems cheaper than S seconds")
    args = parser.parse_args()
    if args.select is not None:
        print("\n".join(select(args.out, args.select)))
    else:
        time_all(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
