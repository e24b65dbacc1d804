"""Run one call in a forked child process, so that a crash, an exit, a segfault or a hang ends that child only.

The driver (or a Dask worker) forks a child per run: the child inherits the loaded modules (no start-up
cost beyond the fork), sends its result back through a pipe, and exits. Whatever the run does to its own
process is seen from outside as an exit code or a signal and becomes a `Failure` with the last lines of
the child's output. A child dies with its parent (PR_SET_PDEATHSIG on Linux, a watchdog elsewhere), so
no run outlives a killed driver. POSIX only: where there is no fork, use the `inline` executor.
"""
from __future__ import annotations

import faulthandler
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

from ..optim.status import Status

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


REPORT_EVERY = 0.2  # seconds between a child's progress messages

_live: set[int] = set()  # pids of running children, so a second Ctrl-C can kill them before exiting
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


def call(fn: Callable[[Any], Any], item: Any, seconds: float | None = None,
         stop: threading.Event | None = None) -> Outcome:
    """fn(item) in a forked child, killed after `seconds` (a hard limit) or when `stop` is set."""
    read_fd, write_fd = os.pipe()
    output = tempfile.TemporaryFile()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(fn, item, write_fd, output.fileno(), parent)
    os.close(write_fd)
    _live.add(pid)
    conn = Connection(read_fd, writable=False)
    deadline = None if seconds is None else time.monotonic() + seconds
    value, got, raised, killed = None, False, None, None
    progress: list[Any] = []
    try:
        while True:
            if stop is not None and stop.is_set():
                killed = "stop"
                break
            if deadline is not None and time.monotonic() >= deadline:
                killed = "time"
                break
            timeout = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
            if not wait([conn], timeout):
                continue
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                break  # the child is gone
            except Exception as e:  # a result that cannot be unpickled here
                raised = f"its result could not be read: {type(e).__name__}: {e}"
                break
            if kind == "progress":
                progress.extend(payload)
            elif kind == "done":
                value, got = payload, True
            else:
                raised = payload
    finally:
        conn.close()
        if killed is not None:
            _kill(pid)
        code = _reap(pid)
        _live.discard(pid)
    tail = _tail(output)
    output.close()
    if killed == "stop":
        return Outcome(progress=progress, interrupted=True)
    if killed == "time":
        return Outcome(progress=progress, failure=Failure(
            Status.TIME_LIMIT, f"killed at the hard time limit ({seconds:.3g} s): the run did not return", tail))
    if got and code == 0:
        return Outcome(value=value, progress=progress)
    if raised is not None:
        last = raised.strip().splitlines()[-1] if raised.strip() else "an exception"
        return Outcome(progress=progress, failure=Failure(Status.ERROR, f"raised {last}", raised))
    return Outcome(progress=progress, failure=Failure(Status.ERROR, _death(code), tail))


def _child(fn: Callable[[Any], Any], item: Any, write_fd: int, out_fd: int, parent: int) -> None:
    """Run fn(item) as a disposable process and send ("done", value) or ("raised", traceback)."""
    code = 1
    try:
        os.setpgid(0, 0)  # the terminal's Ctrl-C goes to the driver, which decides
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent(parent)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # fresh streams: no lock held by a driver thread
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        faulthandler.enable(file=sys.stderr)  # a segfault leaves its Python stack in the output
        conn = Connection(write_fd, readable=False)
        global _progress
        _progress = []
        threading.Thread(target=_send_progress, args=(conn,), daemon=True).start()
        try:
            value = fn(item)
            with _send_lock:
                conn.send(("done", value))
            code = 0
        except BaseException:  # SystemExit and KeyboardInterrupt from a run are its faults, reported
            text = traceback.format_exc()
            sys.stderr.write(text)
            with _send_lock:
                conn.send(("raised", text))
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _send_progress(conn: Connection) -> None:
    """In a child: send the entries reported since the last message, every REPORT_EVERY seconds."""
    global _progress
    while True:
        time.sleep(REPORT_EVERY)
        with _send_lock:
            if _progress:
                conn.send(("progress", _progress))
                _progress = []


def _die_with_parent(parent: int) -> None:
    """Make this child exit when the process that forked it dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


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
        time.sleep(0.005)


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
