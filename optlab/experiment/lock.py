"""An exclusive lock per output folder, so that two sweeps never write (or --fresh) one store at once."""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
from pathlib import Path
from typing import Iterator

if sys.platform == "win32":  # not POSIX: no lock (the isolated executors need POSIX anyway)
    fcntl = None
else:
    import fcntl

LOCK_NAME = ".optlab-run.lock"


class FolderBusy(RuntimeError):
    """Another `optlab run` holds the folder: one line naming it (pid, host, start time)."""


@contextlib.contextmanager
def folder_lock(directory: str | Path) -> Iterator[None]:
    """Hold `<directory>/.optlab-run.lock` (flock: the kernel frees it when its holder dies, even by SIGKILL)."""
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise FolderBusy(f"{directory}: cannot lock the output folder ({e.strerror}); "
                         "is it writable? show, export and report read it without a lock") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FolderBusy(f"{directory}: in use by another optlab run ({_holder(fd)}); wait for it "
                                 "to finish, or give this run another --out") from None
        stamp = {"pid": os.getpid(), "host": socket.gethostname(),
                 "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(stamp).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote into the file."""
    try:
        stamp = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {stamp['pid']} on {stamp['host']}, started {stamp['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
