"""Per-run commit cost of the result store: WAL with synchronous=FULL (SQLite's default) against NORMAL.

Writes RUNS runs with a TRACE-row trace each, one transaction per run as the driver does, in a folder
on the disk under test (default: a temporary folder in the current directory), and prints ms per run.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from optlab.experiment.store import Store

RUNS, TRACE = 200, 100


def per_run_ms(folder: Path, synchronous: str) -> float:
    with Store(folder) as store:
        store.db.execute(f"PRAGMA synchronous={synchronous}")
        trace = [{"iter": k, "f": 1.0 / (k + 1), "gnorm": 0.5, "nfev": k, "ngev": k, "nhvp": 0, "nhess": 0,
                  "seconds": 1e-3 * k} for k in range(TRACE)]
        start = time.perf_counter()
        for i in range(RUNS):
            store.write({"run_id": f"{synchronous}-{i}", "experiment": "bench", "status": "converged",
                         "message": "converged (gradient)", "problem_params": {}, "optimizer_params": {}}, trace)
        return 1e3 * (time.perf_counter() - start) / RUNS


def main(where: str = ".") -> None:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        full = per_run_ms(Path(tmp) / "full", "FULL")
        normal = per_run_ms(Path(tmp) / "normal", "NORMAL")
    print(f"per-run commit ({RUNS} runs, {TRACE}-row traces) in {Path(where).resolve()}:")
    print(f"  WAL synchronous=FULL   {full:6.2f} ms")
    print(f"  WAL synchronous=NORMAL {normal:6.2f} ms   ({full / normal:.1f}x cheaper)")


if __name__ == "__main__":
    main(*sys.argv[1:])
