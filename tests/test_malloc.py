"""glibc's mmap and trim thresholds raised in worker processes and optlab.minimize: freed large arrays are
reused rather than faulted in again (counted as minor page faults, which do not depend on load)."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from optlab.experiment import isolation
from optlab.optim.malloc import keep_freed_memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

CHURN = """
import resource
import numpy as np
def churn():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):  # what an optimizer's step does at n = 10^6: fresh arrays, freed at once
        arrays = [np.ones(500_000) for _ in range(4)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""


def faults_in_a_fresh_interpreter(setup: str) -> int:
    code = f"{setup}\n{CHURN}\nprint(churn())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def churn_in_worker(_: object) -> int:
    namespace: dict = {}
    exec(CHURN, namespace)  # noqa: S102 (the test's own code)
    return int(namespace["churn"]())


@pytest.fixture(scope="module")
def plain() -> int:
    """Faults of the churn under glibc's defaults: it trims the heap after every round, so the 4 arrays of
    4 MB are faulted in again each time."""
    return faults_in_a_fresh_interpreter("")


@glibc
def test_raised_thresholds_keep_freed_arrays_from_faulting_in_again(plain):
    tuned = faults_in_a_fresh_interpreter("from optlab.optim.malloc import keep_freed_memory\n"
                                          "assert keep_freed_memory()")
    assert plain > 20_000
    assert tuned < plain / 10


@glibc
def test_a_worker_process_runs_with_the_raised_thresholds(plain):
    outcome = isolation.call(churn_in_worker, None, seconds=120)
    assert outcome.failure is None, outcome
    assert outcome.value < plain / 10


def test_opting_out_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("OPTLAB_MALLOPT", "0")
    assert keep_freed_memory() is False
