"""Executors: serial, a local process pool (the default), and Dask distributed. Each yields results as they finish."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator

from optlab import hookimpl


class Serial:
    """One run after another in this process: the reference the others must match bit for bit."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        pass

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        return map(fn, items)


class LocalPool:
    """A process pool with one worker per core (or `workers`)."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if not items:
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            for future in as_completed([pool.submit(fn, item) for item in items]):
                yield future.result()


class Dask:
    """Dask distributed: the scheduler at `address`, or a LocalCluster of `workers` single-thread workers."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers, self.address = workers, address

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        try:
            from dask.distributed import Client, LocalCluster, as_completed as dask_completed
        except ImportError:
            raise RuntimeError("the dask executor needs dask[distributed]: pip install 'optlab[dask]'") from None
        items = list(items)
        if not items:
            return
        if self.address:
            client, cluster = Client(self.address), None
        else:
            cluster = LocalCluster(n_workers=self.workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = client.map(fn, items, pure=False)
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


@hookimpl
def optlab_executors() -> dict[str, Any]:
    return {"serial": Serial, "local": LocalPool, "dask": Dask}
