"""What a person sees while a sweep runs: a rich progress bar, then a summary table."""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import Config
from .profiles import calls
from .runner import make_executor, plan, run_experiment
from .store import Store

console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)  # logs and CI get full rows


def output_dir(config: Config, out: str | None) -> Path:
    return Path(out or config.output or Path("results") / config.name)


def run_with_progress(config: Config, args: argparse.Namespace) -> int:
    """Run `config` as the CLI asked, with a progress bar; 0 when every run finished (whatever its status)."""
    executor = make_executor(config, args.executor, args.workers)
    out = output_dir(config, args.out)
    specs = plan(config, args.config)
    start = time.perf_counter()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[last]}"), console=console, transient=False) as progress:
        task = progress.add_task(config.name, total=None, last="")

        def started(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)
            if done:
                progress.console.print(f"resuming: {done} of {total} runs already stored in {out}")

        def finished(row: dict[str, Any]) -> None:
            progress.update(task, advance=1, last=f"{row['problem']} / {row['label']}: {row['status']}")

        rows = run_experiment(config, specs, out, executor, fresh=args.fresh, on_result=finished, on_start=started,
                              on_stale=progress.console.print)
    with Store(out) as store:
        summary_table(store.runs(), f"{config.name}: {len(rows)} runs now, {time.perf_counter() - start:.1f} s")
    console.print(f"results: {out / 'results.sqlite'}   report: optlab report {out}")
    return 0


def summary_table(runs: list[dict[str, Any]], title: str) -> None:
    """Per method: runs by status and median oracle calls."""
    table = Table(title=title)
    statuses = ["converged", "max_iter", "budget", "time_limit", "diverged", "error"]
    table.add_column("method")
    for s in statuses:
        table.add_column(s, justify="right")
    table.add_column("median calls", justify="right")
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_method.setdefault(r["label"], []).append(r)
    for label, rs in by_method.items():
        counts = Counter(r["status"] for r in rs)
        median = sorted(calls(r) for r in rs)[len(rs) // 2]
        table.add_row(label, *[str(counts.get(s, 0)) for s in statuses], str(median))
    console.print(table)


def show_runs(directory: str) -> int:
    """`optlab show DIR`: every run in a table, then the failures with their first lines."""
    if not (Path(directory) / "results.sqlite").exists():
        console.print(f"optlab: {directory}: no results.sqlite here")
        return 2
    with Store(directory) as store:
        runs = store.runs()
    table = Table(title=f"{directory}: {len(runs)} runs")
    for col in ("problem", "method", "scale", "seed", "status", "iters", "f", "|g|", "calls", "seconds"):
        table.add_column(col)
    for r in runs:
        table.add_row(r["problem"], r["label"], f"{r['scale']:g}", str(r["seed"]), r["status"], str(r["nit"]),
                      _g(r["f_final"]), _g(r["gnorm_final"]), str(calls(r)), _g(r["wall_seconds"]))
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    for r in runs:
        if r["status"] == "error":
            last = (r["message"] or "").strip().splitlines()[-1:] or [""]
            console.print(f"[red]error[/red] {r['problem']} / {r['label']} seed {r['seed']}: {last[0]}")
    return 0


def _g(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
