"""The study's headline, formatted from the project's judge: solved at tau per method, median weighted cost
over the instances every method solved.

    python experiments/second-order-cutest/headline.py DIR [DIR ...] [--tau 1e-6]

Verdicts come from `optlab.experiment.judge` exactly as `optlab report DIR` draws them (solved = verdict
`global`), the weighted cost from the cost model stored with the runs. Nothing is judged here.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from optlab.experiment.judge import SOLVED, TAU, instance
from optlab.experiment.report import MEASURES, Options, Study, load, stored_cost_model


def headline(study: Study) -> list[str]:
    """Markdown rows: method, solved / instances, median weighted cost and seconds over the common solved set."""
    instances = {instance(r) for r in study.runs}
    methods = sorted({r["label"] for r in study.runs})
    solved = {m: {instance(r): r for r in study.runs if r["label"] == m and study.verdicts[r["run_id"]] == SOLVED}
              for m in methods}
    common = set.intersection(*(set(s) for s in solved.values())) if methods else set()
    cost = MEASURES["cost"][1]
    lines = [f"{len(study.runs)} runs, {len(instances)} instances, {len(methods)} methods; "
             f"tau = {study.options.tau:g}; {len(common)} instances solved by every method.", "",
             "| method | solved | median weighted cost (common) | median seconds (common) |", "|:---|---:|---:|---:|"]
    for m in methods:
        costs = [cost(solved[m][k], study.options.cost) for k in common]
        secs = [solved[m][k]["wall_seconds"] for k in common]
        lines.append(f"| {m} | {len(solved[m])}/{len(instances)} | "
                     f"{f'{statistics.median(costs):.4g}' if costs else '-'} | "
                     f"{f'{statistics.median(secs):.3g}' if secs else '-'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="experiment folders (each holding results.sqlite)")
    parser.add_argument("--tau", type=float, default=TAU)
    args = parser.parse_args()
    for directory in map(Path, args.dirs):
        study = load(directory, Options(tau=args.tau, cost=stored_cost_model(directory)))
        print(f"### {directory.name}\n")
        print("\n".join(headline(study)) + "\n")


if __name__ == "__main__":
    main()
