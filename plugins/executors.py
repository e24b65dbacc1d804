"""Executors: serial, a local pool (the default), Dask distributed, and inline (in-process, for debugging).

For a sweep the runner calls `run_isolated(fn, items, limit, stop)`: each item runs in its own forked
child (optlab.experiment.isolation), killed at its hard time limit `limit(item)` or when `stop` is set,
and pairs (item, Outcome) are yielded as they finish. `map(fn, items)` is the plain form studies use.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait
from typing import Any, Callable, Iterable, Iterator

from optlab import hookimpl
from optlab.experiment.isolation import INHERITED, ExecutorError, Failure, Outcome, Worker, call
from optlab.experiment.spec import RunSpec
from optlab.optim.status import Status
from optlab.registry import registry

Limit = Callable[[Any], "float | None"]
Results = Iterator[tuple[Any, Outcome]]


class Serial:
    """One run after another, each in its own child process: the reference the others match bit for bit."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        pass

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        return map(fn, items)

    def run_isolated(self, fn: Callable, items: Iterable, limit: Limit, stop: threading.Event) -> Results:
        worker = Worker(fn)
        try:
            for item in items:
                if stop.is_set():
                    return
                yield item, worker.call(item, limit(item), stop)
        finally:
            worker.close()


class Inline(Serial):
    """Runs in the driver's own process, for a debugger: no isolation and no hard time limit."""

    def run_isolated(self, fn: Callable, items: Iterable, limit: Limit, stop: threading.Event) -> Results:
        for item in items:
            if stop.is_set():
                return
            yield item, Outcome(value=fn(item))


class LocalPool:
    """Up to `workers` runs at once (default: one per core), each in its own child process."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if not items:
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            for future in as_completed([pool.submit(fn, item) for item in items]):
                yield future.result()

    def run_isolated(self, fn: Callable, items: Iterable, limit: Limit, stop: threading.Event) -> Results:
        todo = iter(items)
        mine, workers = threading.local(), []

        def run(item: Any) -> Outcome:
            if not hasattr(mine, "worker"):
                mine.worker = Worker(fn)
                workers.append(mine.worker)
            return mine.worker.call(item, limit(item), stop)

        try:
            yield from self._dispatch(run, todo, stop)
        finally:
            for worker in workers:
                worker.close()

    def _dispatch(self, run: Callable[[Any], Outcome], todo: Iterator, stop: threading.Event) -> Results:
        with ThreadPoolExecutor(self.workers) as threads:  # each thread drives one worker process
            running: dict[Any, Any] = {}
            while True:
                while len(running) < self.workers and not stop.is_set():
                    item = next(todo, _END)
                    if item is _END:
                        break
                    running[threads.submit(run, item)] = item
                if not running:
                    return
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future.result()


_END = object()


class Dask:
    """Dask distributed: the scheduler at `address`, or a LocalCluster of `workers` single-thread workers.

    Each run is forked from its Dask worker (the same isolation and hard limits as locally), so a crash
    ends that child, not the worker; a worker that dies is replaced by its nanny and Dask runs its task
    elsewhere (up to `distributed.scheduler.allowed-failures` times, then the run is stored as error).
    """

    connect_timeout = 3.0

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers, self.address = workers, address
        self.connected: Any = None  # the client to the scheduler at `address`, made here, used by the sweep
        if address:  # refuse at once, before any progress is shown
            _reachable(address, self.connect_timeout)
            self.connected = _connect(address, self.connect_timeout)

    def _client(self) -> tuple[Any, Any]:
        if self.connected is not None:
            client, self.connected = self.connected, None
            return client, None
        if self.address:
            return _connect(self.address, self.connect_timeout), None
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("the dask executor needs dask[distributed]: pip install 'optlab[dask]'") from None
        cluster = LocalCluster(n_workers=self.workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if not items:
            return
        client, cluster = self._client()  # first: it says in one line when dask is missing
        from dask.distributed import as_completed as dask_completed

        try:
            futures = client.map(fn, items, pure=False)
            for future in dask_completed(futures):
                yield future.result()
        finally:
            _close(client, cluster)

    def run_isolated(self, fn: Callable, items: Iterable, limit: Limit, stop: threading.Event) -> Results:
        items = list(items)
        if not items:
            return
        client, cluster = self._client()  # first: it says in one line when dask is missing
        from dask.distributed import as_completed as dask_completed

        try:
            futures = {client.submit(_task, fn, item, limit(item), pure=False): item for item in items}
            pending = dask_completed(futures)
            while not pending.is_empty() and not stop.is_set():
                batch = pending.next_batch(block=False)
                if not batch:
                    time.sleep(0.05)
                    continue
                for future in batch:
                    yield futures[future], _outcome(future)
        finally:
            if stop.is_set():
                client.cancel(list(futures))
            _close(client, cluster, quick=stop.is_set())


class Slurm(Dask):
    """Dask workers as SLURM jobs through dask-jobqueue (extra `slurm`): one single-thread worker per job.

    `workers` jobs are submitted; `executor.options` go to dask_jobqueue.SLURMCluster (queue, account,
    walltime, memory, cores, job_extra_directives, ...). The scheduler runs in the driver, on the login node.
    """

    def __init__(self, workers: int | None = None, address: str | None = None, **jobqueue: Any) -> None:
        super().__init__(workers, address)
        self.jobqueue = {"cores": 1, "processes": 1, "memory": "2GB", **jobqueue}

    def _cluster(self) -> Any:
        try:
            from dask_jobqueue import SLURMCluster
        except ImportError:
            raise ExecutorError("the slurm executor needs dask-jobqueue: pip install 'optlab[slurm]'") from None
        return SLURMCluster(**self.jobqueue)

    def job_script(self) -> str:
        """The batch script each worker job is submitted with (to check the options before a sweep)."""
        cluster = self._cluster()
        try:
            return cluster.job_script()
        finally:
            cluster.close()

    def _client(self) -> tuple[Any, Any]:
        if self.address:
            return super()._client()
        from dask.distributed import Client

        cluster = self._cluster()
        cluster.scale(jobs=self.workers or 1)
        return Client(cluster), cluster


def _task(fn: Callable, item: Any, seconds: float | None) -> Outcome:
    """A Dask task: load the item's plugins in the worker process (its forked runs inherit them warm,
    so a run's hard time limit is not spent importing), then run the item in a child of its own.

    A RunSpec says where its plugin objects live (the driver's registry found them): their modules are imported
    here, before the fork, without a registry (`worker.warm`). Another item's needs are looked up by name.
    """
    if isinstance(item, RunSpec):
        from optlab.experiment.worker import warm

        inherit = warm(item)
    else:
        reg, inherit = registry(), INHERITED
        for path in getattr(item, "plugins", ()):
            reg.load_file(path)
        for kind, name in getattr(item, "needs", tuple)():
            reg.find(kind, name)
    stop = threading.Event()
    _watch_cancel(stop)
    try:
        return call(fn, item, seconds, stop, inherit)
    finally:
        stop.set()  # also ends the watcher


def _watch_cancel(stop: threading.Event) -> None:
    """In a Dask task: set `stop` when the client cancels the task (the driver's Ctrl-C), so that its run
    is killed now rather than at its hard limit. Dask cannot stop a running task's thread itself."""
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ImportError, ValueError):  # not inside a Dask worker
        return

    def watch() -> None:
        while not stop.wait(0.2):
            task = worker.state.tasks.get(key)
            if task is None or task.state in ("cancelled", "released", "forgotten"):
                stop.set()

    threading.Thread(target=watch, daemon=True).start()


def _connect(address: str, timeout: float) -> Any:
    """A Client to the scheduler at `address`, or one ExecutorError line within `timeout` seconds.

    Something else may listen there (a web server, a proxy): Dask's handshake then reads garbage (a
    MemoryError for an absurd frame length) or waits for ever, so it runs in a daemon thread with a deadline.
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise ExecutorError("the dask executor needs dask[distributed]: pip install 'optlab[dask]'") from None
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=timeout)
        except Exception as e:  # whatever the handshake met
            box["error"] = e

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    if "client" in box:
        return box["client"]
    why = (f"{type(box['error']).__name__}: {box['error']}".split("\n")[0][:200] if "error" in box
           else f"no handshake within {timeout:g} s")
    raise ExecutorError(f"no Dask scheduler answered at {address} ({why}); is that the scheduler's address?")


def _reachable(address: str, timeout: float) -> None:
    """Fail in one line, at once, when nothing listens at a tcp:// or tls:// scheduler address."""
    # imported here: the config module (yaml, its pydantic models) costs every command that loads the
    # plugins 0.06 s, `optlab report` and `optlab list` included, and only a Dask run needs it
    from optlab.experiment.config import scheduler_address

    try:
        _, host, port = scheduler_address(address)
    except ValueError as e:
        raise ExecutorError(str(e)) from None
    if host is None or port is None:
        return  # another transport (ucx, inproc): Client's own timeout applies
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {e.strerror or e}") from None


def _outcome(future: Any) -> Outcome:
    """The Outcome a Dask task returned, or an error when Dask could not run it (e.g. its workers died)."""
    try:
        return future.result()
    except Exception as e:
        cause = f"lost on Dask: {type(e).__name__}: {e}".split("\n")[0][:300]
        return Outcome(failure=Failure(Status.ERROR, cause))


def _close(client: Any, cluster: Any, quick: bool = False) -> None:
    """Close the client and our LocalCluster; when interrupted, give up waiting after a few seconds."""
    try:
        client.close(timeout=2 if quick else 30)
        if cluster is not None:
            cluster.close(timeout=3 if quick else 60)
    except (TimeoutError, OSError):
        pass  # the cluster's worker processes are our daemonic children: they end with this process


@hookimpl
def optlab_executors() -> dict[str, Any]:
    return {"serial": Serial, "local": LocalPool, "dask": Dask, "slurm": Slurm, "inline": Inline}
