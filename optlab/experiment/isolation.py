"""Run one call in a forked child process, so that a crash, an exit, a segfault or a hang ends that child only.

The driver (or a Dask worker) forks a child per run: the child inherits the loaded modules (no start-up
cost beyond the fork), sends its result back through a pipe, and exits. Whatever the run does to its own
process is seen from outside as an exit code or a signal and becomes a `Failure` with the last lines of
the child's output. A child dies with its parent (PR_SET_PDEATHSIG on Linux, a watchdog elsewhere), so
no run outlives a killed driver. POSIX only: where there is no fork, use the `inline` executor.
"""
from __future__ import annotations

import ctypes
import faulthandler
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

from ..optim.malloc import keep_freed_memory
from ..optim.status import Status

# Modules loaded before a fork so that each child inherits them: scipy.optimize, which brings scipy.linalg and
# scipy.sparse. Plugins reach them on first use (scipy's lazy submodules) to keep start-up light; without this
# each run's child would import them inside its run. The driver imports them before forking its workers; a
# Dask worker only for the runs that need scipy (`optlab.experiment.worker.warm`).
INHERITED = ("scipy.optimize",)
TAIL_LINES = 40  # lines of a failed run's output kept with its cause
POLL = 0.1  # seconds between checks of the stop flag and the deadline


class ExecutorError(RuntimeError):
    """An executor cannot start (e.g. an unreachable Dask scheduler): one line for the user."""


@dataclass
class Failure:
    """Why a run gave no result: its status (error or time_limit), one line of cause, its last output."""

    status: Status
    cause: str
    output: str = ""


@dataclass
class Outcome:
    """What came back from one isolated call: its value, or a failure; `progress` is what it reported."""

    value: Any = None
    failure: Failure | None = None
    progress: list[Any] = field(default_factory=list)
    interrupted: bool = False  # stopped by the sweep (Ctrl-C, --max-seconds): no result, still to do


REPORT_EVERY = 0.2  # seconds between a child's progress messages (and checks that the parent lives)
PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None

_live: set[int] = set()  # pids of running children, so a second Ctrl-C can kill them before exiting
# Workers are started from several driver threads at once (the local executor). A fork copies every open
# descriptor, so a child forked while another worker's pipes are open would hold that worker's ends: its
# results pipe would never reach EOF when its child dies (a crash read as a hang), and its child would never
# see its items pipe close. So pipes are made, forked and closed under one lock, and each new child lets go
# of the driver's ends of every other live worker (`_forget_driver`).
_fork_lock = threading.Lock()
_driver_ends: set[int] = set()
_progress: list[Any] | None = None  # in a child: entries not yet sent to the driver
_send_lock = threading.Lock()


def report(entry: Any) -> None:
    """From inside a run: add `entry` to its progress, which the driver keeps if the run is killed.

    Cheap (an append): a thread of the child sends what accumulated every REPORT_EVERY seconds.
    Outside an isolated child it does nothing.
    """
    if _progress is not None:
        with _send_lock:
            _progress.append(entry)


def kill_all() -> None:
    """SIGKILL every running child (the driver is about to exit at once)."""
    for pid in list(_live):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Worker:
    """A forked child that runs fn(item) for one item after another; whatever kills it, the next call
    forks a replacement. The child inherits the driver's loaded modules, so starting one costs a fork."""

    def __init__(self, fn: Callable[[Any], Any], inherit: tuple[str, ...] = INHERITED) -> None:
        self.fn, self.inherit = fn, inherit
        self.pid: int | None = None

    def _start(self) -> None:
        for name in self.inherit:
            importlib.import_module(name)
        self.output = tempfile.TemporaryFile()  # the child's stdout and stderr
        parent = os.getpid()
        with _fork_lock:
            items_r, items_w = os.pipe()
            results_r, results_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                try:
                    os.close(items_w)
                    os.close(results_r)
                    _forget_driver()
                    _serve(self.fn, items_r, results_w, self.output.fileno(), parent)
                finally:
                    os._exit(1)
            os.close(items_r)
            os.close(results_w)
            _driver_ends.update((items_w, results_r))
        self.pid = pid
        _live.add(pid)
        self.send = Connection(items_w, readable=False)
        self.receive = Connection(results_r, writable=False)

    def call(self, item: Any, seconds: float | None = None, stop: threading.Event | None = None) -> Outcome:
        """fn(item) in the child, killed after `seconds` (a hard limit) or when `stop` is set."""
        if self.pid is None:
            self._start()
        self.output.seek(0)
        self.output.truncate()  # the child is idle: its output file starts afresh for this item
        deadline = None if seconds is None else time.monotonic() + seconds
        progress: list[Any] = []
        try:
            self.send.send(item)
        except OSError:
            pass  # the child is gone: its death is read below
        while True:
            if stop is not None and stop.is_set():
                self._end(kill=True)
                return Outcome(progress=progress, interrupted=True)
            if deadline is not None and time.monotonic() >= deadline:
                tail = self._tail()
                self._end(kill=True)
                return Outcome(progress=progress, failure=Failure(
                    Status.TIME_LIMIT, f"killed at the hard time limit ({seconds:.3g} s): the run did not return",
                    tail))
            timeout = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
            if not wait([self.receive], timeout):
                continue
            try:
                kind, payload = self.receive.recv()
            except (EOFError, OSError):  # the child died
                tail = self._tail()
                return Outcome(progress=progress, failure=Failure(Status.ERROR, _death(self._end()), tail))
            except Exception as e:  # a result that cannot be unpickled here
                tail = self._tail()
                self._end(kill=True)
                return Outcome(progress=progress, failure=Failure(
                    Status.ERROR, f"its result could not be read: {type(e).__name__}: {e}", tail))
            if kind == "progress":
                progress.extend(payload)
            elif kind == "done":
                return Outcome(value=payload, progress=progress)
            else:
                last = payload.strip().splitlines()[-1] if payload.strip() else "an exception"
                return Outcome(progress=progress, failure=Failure(Status.ERROR, f"raised {last}",
                                                                  self._tail() or payload))

    def close(self) -> None:
        """Let the child finish (it exits when its item pipe closes)."""
        if self.pid is not None:
            self._end()

    def _end(self, kill: bool = False) -> int:
        """Reap the child (killing it first if asked); returns its waitstatus_to_exitcode."""
        pid, self.pid = self.pid, None
        assert pid is not None, "Worker._end: no child (every caller runs after _start)"
        with _fork_lock:  # no fork between forgetting a descriptor and closing it (its number is reused)
            _driver_ends.difference_update((self.send.fileno(), self.receive.fileno()))
            self.send.close()
            self.receive.close()
        if kill:
            _kill(pid)
        code = _reap(pid)
        _live.discard(pid)
        self.output.close()
        return code

    def _tail(self) -> str:
        return _tail(self.output)


def call(fn: Callable[[Any], Any], item: Any, seconds: float | None = None,
         stop: threading.Event | None = None, inherit: tuple[str, ...] = INHERITED) -> Outcome:
    """fn(item) in a child of its own (what a Dask task does), killed after `seconds` or when `stop` is set;
    the modules `inherit` are imported first."""
    worker = Worker(fn, inherit)
    try:
        return worker.call(item, seconds, stop)
    finally:
        worker.close()


def _serve(fn: Callable[[Any], Any], items_fd: int, results_fd: int, out_fd: int, parent: int) -> None:
    """The child's life: set itself apart, then run items until its pipe closes; never returns."""
    try:
        os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the driver, which decides
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent(parent)
        keep_freed_memory()  # large arrays reuse freed pages rather than fault fresh ones (OPTLAB_MALLOPT=0: off)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # fresh streams: no lock held by a driver thread
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        faulthandler.enable(file=sys.stderr)  # a segfault leaves its Python stack in the output
        items = Connection(items_fd, writable=False)
        results = Connection(results_fd, readable=False)
        global _progress
        _progress = []
        threading.Thread(target=_send_progress, args=(results, parent), daemon=True).start()
        while True:
            try:
                item = items.recv()
            except EOFError:
                os._exit(0)
            try:
                message = ("done", fn(item))
            except BaseException:  # SystemExit and KeyboardInterrupt from a run are its faults, reported
                text = traceback.format_exc()
                sys.stderr.write(text)
                message = ("raised", text)
            sys.stdout.flush()
            sys.stderr.flush()
            with _send_lock:
                _progress.clear()  # the result holds the whole trace; nothing late may reach the next item
                try:
                    results.send(message)
                except Exception:  # a value that does not pickle
                    results.send(("raised", traceback.format_exc()))
    finally:
        os._exit(1)


def _send_progress(conn: Connection, parent: int) -> None:
    """In a child: send the entries reported since the last message, every REPORT_EVERY seconds;
    exit when the parent is gone (where PR_SET_PDEATHSIG does not exist)."""
    global _progress
    while True:
        time.sleep(REPORT_EVERY)
        if os.getppid() != parent:
            os._exit(1)
        with _send_lock:
            if _progress:
                conn.send(("progress", _progress))
                _progress = []


def _forget_driver() -> None:
    """In a new child: let go of the other workers' pipes and the driver's bookkeeping (its lock was copied
    held). Their descriptors are pointed at /dev/null rather than closed, so that their numbers are not
    reused while the copied Connection objects that own them still exist."""
    global _fork_lock
    null = os.open(os.devnull, os.O_RDWR)
    for fd in _driver_ends:
        os.dup2(null, fd)
    os.close(null)
    _fork_lock = threading.Lock()
    _driver_ends.clear()
    _live.clear()


def _die_with_parent(parent: int) -> None:
    """Make this child exit when the thread that forked it dies, even by SIGKILL (Linux)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> int:
    """Wait for the child; kill it if it lingers after closing its pipe. Returns waitstatus_to_exitcode."""
    end = time.monotonic() + 2.0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:
            _kill(pid)
            end = float("inf")
        time.sleep(0.001)


def _death(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"its process was killed by {name} (signal {-code})"
    return f"its process exited with code {code} without returning a result"


def _tail(output: Any) -> str:
    """The last TAIL_LINES lines of a child's output file."""
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - 65536))
    text = output.read().decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-TAIL_LINES:])
