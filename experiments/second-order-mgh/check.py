"""The study's headline and a check of its verdicts against the problems' own reference values.

    python experiments/second-order-mgh/check.py [STUDY_DIR] [--tau 1e-6]

Prints, per method, the runs solved at tau (verdict `global` in verdicts.csv) from x0 and from 10 x0
beside the old count by status (`converged`). Then checks every run of the store, taking f* and the
local minima from the problem itself (not from the store): a `global` run's final f is within tau of
f*, a `local` one's within tau of a listed local minimum, a `stationary` one's final point passes the
stationarity test (scaled gradient <= 1e-8). Exits 1 and lists the runs that fail.
"""
from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from optlab.registry import registry


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("study", nargs="?", default=str(Path(__file__).parent))
    parser.add_argument("--tau", type=float, default=1e-6)
    args = parser.parse_args()
    study = Path(args.study)
    with (study / "verdicts.csv").open() as fh:
        verdicts = {(r["problem"], float(r["scale"]), r["label"], int(r["seed"])): r["verdict"]
                    for r in csv.DictReader(fh)}
    db = sqlite3.connect(f"{(study / 'results.sqlite').resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    runs = [dict(r) for r in db.execute("SELECT problem, scale, label, seed, status, f_final, scaled_gradient "
                                        "FROM runs")]

    count: Counter[tuple[str, str, float]] = Counter()
    for r in runs:
        key = (r["problem"], r["scale"], r["label"], r["seed"])
        count[verdicts[key], r["label"], r["scale"]] += 1
        count["converged" if r["status"] == "converged" else "", r["label"], r["scale"]] += 1
    print("| method | solved from x0 | solved from 10 x0 | solved, both | local (x0 / 10 x0) | "
          "status converged (x0 / 10 x0) |\n|:---|---:|---:|---:|---:|---:|")
    for label in sorted({r["label"] for r in runs}) + ["all"]:
        def n(what: str, scale: float, label: str = label) -> int:
            return sum(v for (w, m, s), v in count.items() if w == what and s == scale and label in (m, "all"))
        print(f"| {label} | {n('global', 1.0)} | {n('global', 10.0)} | {n('global', 1.0) + n('global', 10.0)} | "
              f"{n('local', 1.0)} / {n('local', 10.0)} | {n('converged', 1.0)} / {n('converged', 10.0)} |")

    problems = {name: registry().get("problems", name)() for name in {r["problem"] for r in runs}}
    bad, checked = [], Counter()
    for r in runs:
        key = (r["problem"], r["scale"], r["label"], r["seed"])
        verdict, f, p = verdicts[key], r["f_final"], problems[r["problem"]]
        if verdict == "global":
            ok = p.f_star is not None and f - p.f_star <= args.tau * max(1.0, abs(p.f_star))
        elif verdict == "local":
            ok = any(abs(f - m) <= args.tau * max(1.0, abs(m)) for m in p.local_minima)
        elif verdict == "stationary":
            ok = r["scaled_gradient"] is not None and r["scaled_gradient"] <= 1e-8
        else:
            continue
        checked[verdict] += 1
        if not ok:
            bad.append(f"{key}: {verdict} at f = {f!r} (f* {p.f_star}, local minima {p.local_minima}, "
                       f"scaled gradient {r['scaled_gradient']})")
    print(f"\nchecked {dict(checked)} against the problems' f* and local minima: {len(bad)} wrong")
    print("\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
