"""Run a sweep: expand the config, skip what the store has, execute the rest, store each as it finishes."""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import signal
import sqlite3
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

from ..optim.status import Status
from ..registry import PluginError, registry
from . import isolation
from .config import Config, ConfigError
from .grid import RunSpec, expand, stale_reasons
from .lock import folder_lock
from .numerics import numerics
from .store import Store
from .worker import build, evaluate, execute, finite, identity, row_counts

__all__ = ["Interrupted", "MAX_RUNS", "StoreFailed", "build", "evaluate", "execute", "failed_row", "hard_limit",
           "make_executor", "plan", "row_counts", "run_experiment", "stale_runs", "update_costs", "versions"]


def versions() -> dict[str, str]:
    """Package versions and the machine's numerics (numerics.py) that decide results, stored with every run."""
    out = {"python": platform.python_version()}
    for pkg in ("optlab", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "?"
    return out | numerics()


def failed_row(spec: RunSpec, failure: isolation.Failure, trace: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of a run that gave no result: its cause, its output, and its last reported iterate if any."""
    row = identity(spec)
    message = failure.cause + ("\n--- last output ---\n" + failure.output if failure.output else "")
    row.update(status=failure.status, reason=failure.cause[:200], message=message, nit=max(len(trace) - 1, 0))
    if trace:
        last = trace[-1]
        row.update({k: last.get(k) for k in ("nfev", "ngev", "nhvp", "nhess")}, wall_seconds=last.get("seconds"),
                   f0=finite(trace[0]["f"]), f_final=finite(last["f"]),
                   gnorm_final=None if last.get("gnorm") is None else finite(last["gnorm"]))
    return row


def hard_limit(spec: RunSpec) -> float | None:
    """Seconds after which an isolated run is killed: its budget.seconds plus a grace for start-up."""
    seconds = spec.budget.get("seconds")
    return None if seconds is None else 1.1 * seconds + 1.0


def make_executor(config: Config, name: str | None = None, workers: int | None = None) -> Any:
    """The executor plugin the config names (or `name`), with its options; `workers` overrides."""
    spec = config.executor
    name = name or spec.name
    factory = registry().get("executors", name)
    try:
        return factory(workers=workers or spec.workers, address=spec.address, **spec.options)
    except TypeError as e:  # an option the executor does not take
        raise ConfigError(f"executor.options: executor {name!r} cannot take them: {e}") from None


def plan(config: Config, source: str = "config", max_runs: int | None = None) -> list[RunSpec]:
    """Load the config's plugin files and expand it into validated runs (raises ConfigError).

    The grid is counted before it is built and refused above `max_runs` (default MAX_RUNS); two grid
    points that make the same run are an error, not a silent drop.
    """
    limit = MAX_RUNS if max_runs is None else max_runs
    _check_size(config.grid_size(), limit, source)  # before building: a 10^9-run grid must not be built
    reg = registry()
    for i, path in enumerate(config.plugins):
        try:
            reg.load_file(path)
        except PluginError as e:  # a missing or broken file: name the config and its key, as any bad key
            raise ConfigError(f"{source}: plugins[{i}]: {e}") from None
    specs = expand(config, reg, source)
    _check_size(len(specs), limit, source)  # entries that expand by the registry (e.g. suites) counted now
    seen: dict[str, RunSpec] = {}
    for spec in specs:
        if spec.run_id in seen:
            first = seen[spec.run_id]
            same = sum(1 for s in specs if s.run_id == spec.run_id) - 1
            raise ConfigError(f"{source}: {spec.label!r} repeats the run {first.label!r} on {spec.problem} "
                              f"(seed {spec.seed}, scale {spec.scale:g}){f' and {same - 1} more' if same > 1 else ''}"
                              f"; remove the duplicate grid point")
        seen[spec.run_id] = spec
    return specs


MAX_RUNS = 10_000


def _check_size(size: int, limit: float, source: str) -> None:
    if size > limit:
        raise ConfigError(f"{source}: the grid has {size:,} runs, more than the limit of {limit:,}; "
                          f"pass --max-runs {size} to run it")


class Interrupted(Exception):
    """The sweep stopped before its end (a signal or --max-seconds); what is stored stays stored."""

    def __init__(self, why: str, stored: int, left: int, signum: int | None = None) -> None:
        super().__init__(f"{why}: {stored} runs stored, {left} left; run again to resume")
        self.why, self.stored, self.left, self.signum = why, stored, left, signum


class StoreFailed(Exception):
    """Writing a result failed (disk full, I/O error): the sweep stopped, what was stored stays."""


def stale_runs(store: Store, specs: list[RunSpec]) -> tuple[list[str], str | None]:
    """Stored runs whose config cell (slot) now has another identity, and one line saying what changed."""
    stored = store.identities()
    ids: list[str] = []
    reasons: dict[str, None] = {}  # an ordered set: each reason once, in order of appearance
    for spec in specs:
        if spec.slot in stored and stored[spec.slot][0] != spec.run_id:
            ids.append(stored[spec.slot][0])
            for reason in stale_reasons(stored[spec.slot][1], spec.identity):
                reasons[reason] = None
    if not ids:
        return [], None
    return ids, f"{len(ids)} stored run{'s are' if len(ids) > 1 else ' is'} stale: {', '.join(reasons)}"


def update_costs(store: Store, config: Config) -> None:
    """Stored runs get the config's cost model (weighted costs are recomputed from their counts)."""
    model, weights = config.cost.model_dump(), config.cost.model()
    costs = {r["run_id"]: weights.cost(r, r["n"]) for r in store.runs() if r.get("cost_model") != model}
    if costs:
        store.set_costs(costs, model)


def run_experiment(config: Config, specs: list[RunSpec], out: str | Path, executor: Any, fresh: bool = False,
                   on_result: Callable[[dict], None] | None = None,
                   on_start: Callable[[int, int], None] | None = None, retry_failed: bool = False,
                   merge: bool = False, max_seconds: float | None = None,
                   on_stale: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Execute every run in `specs` not already in the store at `out`; return the rows written now.

    The output folder is locked for the sweep and its store must belong to this experiment (or
    `merge`). The driver alone writes the store, one transaction per finished run, as results arrive:
    a crash or a kill loses at most the runs in flight, and re-running resumes. Stored runs made stale
    by a change (code, defaults, budget...) are removed first and run again; `on_stale` hears the one
    line. Failed runs (status error) are run again only with `retry_failed`. The first SIGINT or SIGTERM, or
    `max_seconds`, stops dispatching and kills the runs in flight, then raises Interrupted; a second SIGINT
    exits at once.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    stop = threading.Event()
    why: dict[str, Any] = {}
    with folder_lock(out):
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                (out / f"results.sqlite{suffix}").unlink(missing_ok=True)
        with Store(out) as store, _on_signals(stop, why), _timer(max_seconds, stop, why):
            store.claim(config.name, config.protocol_digest(), merge=merge)
            stale, line = stale_runs(store, specs)
            if stale:
                store.delete(stale)
                if on_stale is not None and line is not None:
                    on_stale(line)
            update_costs(store, config)
            done = store.finished_ids(exclude_status=Status.ERROR if retry_failed else None)
            todo = [s for s in specs if s.run_id not in done]
            if on_start is not None:
                on_start(len(specs), len(specs) - len(todo))
            common = {"experiment": config.name, "config_hash": config.digest(), "versions": versions()}
            runs = _dispatch(executor, todo, stop)
            try:
                for spec, outcome in runs:
                    if outcome.interrupted:
                        continue
                    if outcome.failure is not None:
                        row, trace = failed_row(spec, outcome.failure, outcome.progress), outcome.progress
                    else:
                        row, trace = outcome.value
                    row.update(common, finished_at=_now())
                    try:
                        store.write(row, trace)
                    except (sqlite3.Error, OSError) as e:
                        stop.set()
                        stored = len(store.finished_ids() & {s.run_id for s in specs})
                        raise StoreFailed(f"{store.path}: cannot store a result ({e}); stopped with {stored} "
                                          f"runs stored, {len(specs) - stored} left; free space and run again "
                                          f"to resume") from None
                    written.append(row)
                    if on_result is not None:
                        on_result(row)
            finally:
                stop.set()  # whatever ends the loop, no run is left running
                runs.close()
            if why:
                stored = len(store.finished_ids() & {s.run_id for s in specs})
                raise Interrupted(why["why"], stored, len(specs) - stored, why.get("signum"))
    return written


def _dispatch(executor: Any, todo: list[RunSpec],
              stop: threading.Event) -> Generator[tuple[RunSpec, Any], None, None]:
    """(spec, Outcome) pairs as runs finish: isolated when the executor can, else through its plain map."""
    if hasattr(executor, "run_isolated"):
        yield from executor.run_isolated(execute, todo, hard_limit, stop)
        return
    by_id = {spec.run_id: spec for spec in todo}
    for row, trace in executor.map(execute, todo):  # a third-party executor: no isolation
        yield by_id[row["run_id"]], isolation.Outcome(value=(row, trace))


@contextlib.contextmanager
def _on_signals(stop: threading.Event, why: dict[str, Any]) -> Iterator[None]:
    """First SIGINT or SIGTERM: set `stop`. Second SIGINT: kill the runs and exit 130 at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT and why:
            isolation.kill_all()
            os._exit(130)
        why.setdefault("why", "interrupted")
        why.setdefault("signum", signum)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _timer(max_seconds: float | None, stop: threading.Event, why: dict[str, Any]) -> Iterator[None]:
    """After `max_seconds`, stop the sweep as an interrupt does."""
    if max_seconds is None:
        yield
        return

    def expire() -> None:
        why.setdefault("why", f"stopped after --max-seconds {max_seconds:g}")
        stop.set()

    timer = threading.Timer(max_seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
