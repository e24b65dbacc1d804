"""What a person sees while a sweep runs: a rich progress bar, then a summary table."""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..optim.status import Status
from .config import Config
from .profiles import calls
from .runner import Interrupted, make_executor, plan, run_experiment
from .store import Store, StoreError

console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)  # logs and CI get full rows


def output_dir(config: Config, out: str | None) -> Path:
    return Path(out or config.output or Path("results") / config.name)


@dataclass(frozen=True)
class RunOptions:
    """How to run a sweep, as plain values (the CLI fills it from its flags)."""

    config_path: str = "config"
    out: str | None = None
    executor: str | None = None
    workers: int | None = None
    fresh: bool = False
    retry_failed: bool = False
    merge: bool = False
    max_seconds: float | None = None
    max_runs: int | None = None


EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as shells report it


def run_with_progress(config: Config, options: RunOptions = RunOptions()) -> int:
    """Run `config` with a progress bar; 0 when every run finished (whatever its status).

    An interrupted sweep prints one line and returns 130 (SIGINT), 143 (SIGTERM) or 124 (--max-seconds).
    """
    specs = plan(config, options.config_path, options.max_runs)
    executor = make_executor(config, options.executor, options.workers)
    out = output_dir(config, options.out)
    start = time.perf_counter()
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=console, transient=False)
    task: list[Any] = []
    try:
        with contextlib.ExitStack() as shown:
            def started(total: int, done: int) -> None:  # the folder is locked and the store sound: show it
                shown.enter_context(progress)
                task.append(progress.add_task(config.name, total=total, completed=done, last=""))
                if done:
                    progress.console.print(f"resuming: {done} of {total} runs already stored in {out}")

            def finished(row: dict[str, Any]) -> None:
                progress.update(task[0], advance=1, last=f"{row['problem']} / {row['label']}: {row['status']}")

            rows = run_experiment(config, specs, out, executor, fresh=options.fresh, on_result=finished,
                                  on_start=started, retry_failed=options.retry_failed, merge=options.merge,
                                  max_seconds=options.max_seconds, on_stale=progress.console.print)
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        return 124 if e.signum is None else EXIT.get(e.signum, 124)
    with Store(out, readonly=True) as store:
        summary_table(store.runs(), f"{config.name}: {len(rows)} runs now, {time.perf_counter() - start:.1f} s")
    console.print(f"results: {out / 'results.sqlite'}   report: optlab report {out}")
    return 0


def summary_table(runs: list[dict[str, Any]], title: str) -> None:
    """Per method: runs by status and median oracle calls."""
    table = Table(title=title)
    statuses = list(Status)
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
    try:
        with Store(directory, readonly=True) as store:
            runs = store.runs()
    except StoreError as e:
        print(f"optlab: {e}", file=sys.stderr)
        return 2
    table = Table(title=f"{directory}: {len(runs)} runs")
    for col in ("problem", "method", "scale", "seed", "status", "iters", "f", "|g|", "calls", "seconds"):
        table.add_column(col)
    for r in runs:
        table.add_row(r["problem"], r["label"], f"{r['scale']:g}", str(r["seed"]), r["status"], str(r["nit"]),
                      _g(r["f_final"]), _g(r["gnorm_final"]), str(calls(r)), _g(r["wall_seconds"]))
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    for r in runs:
        if r["status"] == Status.ERROR:
            last = (r["message"] or "").strip().splitlines()[-1:] or [""]
            console.print(f"[red]error[/red] {r['problem']} / {r['label']} seed {r['seed']}: {last[0]}")
    return 0


def _g(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
