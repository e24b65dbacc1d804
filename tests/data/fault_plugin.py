"""Optimizers that break their process in every way a run can, for the fault tests (a local plugin file).

Each takes one honest gradient step, prints a line, then does its fault on the second step, so a
stored run shows a recorded iterate and the last lines of its output.
"""
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

from optlab import hookimpl
from optlab.optim import Optimizer


def gradient_step(oracle, state):
    x = state.x - 0.1 * state.g
    f, g = oracle.f_and_grad(x)
    return type(state)(x=x, f=f, g=g, extra=state.extra)


class _Faulty(Optimizer):
    """A gradient step first; the fault on the second step."""

    def step(self, oracle, state):
        if not state.extra.get("stepped"):
            state.extra["stepped"] = True
            return gradient_step(oracle, state)
        print(f"{self.name}: about to fail", flush=True)
        self.fault()
        return state


class OsExit(_Faulty):
    name = "os_exit"

    def fault(self):
        os._exit(3)


class Segfault(_Faulty):
    name = "segfault"

    def fault(self):
        ctypes.string_at(0)


class SysExit(_Faulty):
    name = "sys_exit"

    def fault(self):
        sys.exit(4)


class RaisesKeyboardInterrupt(_Faulty):
    name = "keyboard_interrupt"

    def fault(self):
        raise KeyboardInterrupt


class Hangs(_Faulty):
    """Never returns and never calls the oracle: only a hard time limit ends it."""

    name = "hang"

    def fault(self):
        while True:
            time.sleep(0.01)


class KillsItsWorker(_Faulty):
    """SIGKILL on the process it runs in: what an out-of-memory killer or an operator does to a worker."""

    name = "killed_worker"

    def fault(self):
        os.kill(os.getpid(), signal.SIGKILL)


class KillsDaskWorkerOnce(_Faulty):
    """Kills the Dask worker process it runs under (its parent), once: marked by a file in FAULT_MARKER_DIR."""

    name = "kill_dask_worker_once"

    def step(self, oracle, state):
        marker = Path(os.environ["FAULT_MARKER_DIR"]) / "killed"
        if not marker.exists():
            marker.write_text(str(os.getppid()))
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(5)  # dies with its worker
        return gradient_step(oracle, state)  # the run Dask tries again elsewhere converges


FAULTS = [OsExit, Segfault, SysExit, RaisesKeyboardInterrupt, Hangs, KillsItsWorker, KillsDaskWorkerOnce]


@hookimpl
def optlab_optimizers():
    return FAULTS
