"""CPU seconds of `optlab report` on the MGH study against peers measured in the same run.

The goal (issue 10, item 8): the whole `optlab report DIR --redraw` process, figures drawn, under 2 s of
CPU (user + sys); its wall time is printed too (it counts the load of a shared machine). Each command runs
as a child process and is charged its own rusage (os.wait4), so CPU spent by other processes on a shared
machine is not counted; the commands are interleaved, so a change of load falls on all of them alike.
Peers: the CPU of importing matplotlib.pyplot, and of plain matplotlib (a Figure on the Agg canvas,
`subplots`, `savefig` PNG at the report's dpi) drawing as many empty PNGs with as many panels as the
report draws.

    python benchmarks/report.py [--store DIR] [--repeats N]

Without a store in DIR (default /tmp/optlab-bench-mgh) the study is run first:
`optlab run experiments/second-order-mgh/config.yaml --out DIR --executor local --workers 2`.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 2.0  # CPU seconds for the whole report process, figures drawn
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "experiments" / "second-order-mgh" / "config.yaml"
# The MGH report's figures: three convergence grids (4 instances x 3 x axes), the performance profiles
# (3 measures) and the data profiles (2 measures x 4 tau), as (rows, columns, width, height) in inches
LAYOUT = [(4, 3, 11.0, 9.8)] * 3 + [(1, 3, 15.4, 4.0), (2, 4, 17.6, 7.4)]
EMPTY_PNGS = f"""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
for i, (rows, cols, w, h) in enumerate({LAYOUT!r}):
    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    fig.subplots(rows, cols, squeeze=False)
    fig.savefig(f"{{__import__('sys').argv[1]}}/empty_{{i}}.png", dpi=90)
"""


def cpu(command: list[str]) -> tuple[float, float]:
    """User + sys CPU seconds and wall seconds of one child process running `command` (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def ensure_store(store: Path) -> None:
    """Run the MGH study into `store` unless its results.sqlite is there."""
    if (store / "results.sqlite").is_file():
        return
    print(f"running the MGH study into {store} (a few minutes) ...", flush=True)
    subprocess.run([sys.executable, "-m", "optlab", "run", str(CONFIG), "--out", str(store), "--executor", "local",
                    "--workers", "2"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "optlab-bench-mgh")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ensure_store(args.store)
    with tempfile.TemporaryDirectory(prefix="optlab-bench-report-") as tmp:
        report = [sys.executable, "-m", "optlab", "report", str(args.store), "--to", tmp]
        commands = {
            "report --redraw (figures drawn)": report + ["--redraw"],
            "report (figures reused)": report,
            "peer: import matplotlib.pyplot": [sys.executable, "-c", "import matplotlib.pyplot"],
            f"peer: matplotlib, {len(LAYOUT)} empty PNGs, {sum(r * c for r, c, _, _ in LAYOUT)} panels":
                [sys.executable, "-c", EMPTY_PNGS, tmp],
            "peer: python -c pass": [sys.executable, "-c", "pass"],
        }
        cpu(report + ["--redraw"])  # warm the page cache; the figures then exist for the reused runs
        times: dict[str, list[float]] = {name: [] for name in commands}
        walls: dict[str, list[float]] = {name: [] for name in commands}
        loads = []
        for _ in range(args.repeats):
            for name, command in commands.items():
                seconds, wall = cpu(command)
                times[name].append(seconds)
                walls[name].append(wall)
            loads.append(os.getloadavg()[0])
    print(f"CPU seconds (user + sys) per process, median [min, max] of {args.repeats}, and median wall seconds; "
          f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores; "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    redraw = medians["report --redraw (figures drawn)"]
    for name, ts in times.items():
        print(f"  {name:48s} {medians[name]:6.2f} [{min(ts):.2f}, {max(ts):.2f}]  "
              f"wall {statistics.median(walls[name]):6.2f}   report --redraw / this = {redraw / medians[name]:5.2f}")
    wall = statistics.median(walls["report --redraw (figures drawn)"])
    print(f"optlab report --redraw on the MGH study: {redraw:.2f} s CPU, {wall:.2f} s wall (median of {args.repeats})")
    for what, value in (("CPU", redraw), ("wall", wall)):
        print(f"goal: report --redraw under {GOAL:g} s of {what}: {value:.2f} s, {'PASS' if value < GOAL else 'FAIL'}")


if __name__ == "__main__":
    main()
