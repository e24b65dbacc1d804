"""Issue 15 Must show (c): the MGH study's total CPU seconds, eager (`jit: false`) against jit (the default).

Runs `optlab run` on configs/second_order_mgh.yaml twice into temporary folders, CPU from wait4 (the
driver plus every reaped worker), prints both and their ratio (goal >= 3x), and checks that the judged
verdicts (status and solved per run) are the same.

    python benchmarks/jit_study.py [--config configs/second_order_mgh.yaml]
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

GOAL = 3.0


def run(config: dict, jit: bool, folder: Path) -> tuple[float, float, Path]:
    """(CPU s, wall s, results folder) of one `optlab run` of `config` with jit on or off."""
    out = folder / ("jit" if jit else "eager")
    path = folder / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump({**config, "jit": jit, "output": str(out)}))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(path), "--out", str(out)],
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"optlab run ({'jit' if jit else 'eager'}) exit status {status}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start, out


def verdicts(out: Path) -> dict[tuple, tuple]:
    """(problem, instance, scale, label, seed) -> (status, verdict) from `optlab export`'s verdicts.csv."""
    subprocess.run([sys.executable, "-m", "optlab", "export", str(out), "--to", str(out / "csv")], check=True,
                   stdout=subprocess.DEVNULL)
    rows = {}
    with open(out / "csv" / "verdicts.csv") as f:
        for r in csv.DictReader(f):
            rows[tuple(r[k] for k in ("problem", "instance", "scale", "label", "seed"))] = (r["status"], r["verdict"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(Path(__file__).parent.parent / "configs/second_order_mgh.yaml"))
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    with tempfile.TemporaryDirectory(prefix="optlab-jit-study-") as tmp:
        eager = run(config, False, Path(tmp))
        jit = run(config, True, Path(tmp))
        print(f"CPU s eager {eager[0]:.1f}, jit {jit[0]:.1f}", flush=True)
        before, after = verdicts(eager[2]), verdicts(jit[2])
        same = before == after
        for key in sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)):
            print(f"differs: {key}: eager {before.get(key)}, jit {after.get(key)}")
    print(f"| MGH study ({args.config}) | CPU s | wall s |\n|:---|---:|---:|")
    print(f"| eager (jit: false) | {eager[0]:.1f} | {eager[1]:.1f} |\n| jit | {jit[0]:.1f} | {jit[1]:.1f} |")
    ratio = eager[0] / jit[0]
    print(f"eager / jit CPU: {ratio:.2f}x (goal >= {GOAL:g}x: {'PASS' if ratio >= GOAL else 'MISS'}); "
          f"judged verdicts {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
