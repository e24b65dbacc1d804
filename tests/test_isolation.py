"""Worker processes started from several driver threads at once: each child holds only its own pipes.

A fork copies every open descriptor. A child forked while another worker's results pipe is open keeps
that pipe alive, so the other worker's crash is not seen until the copy's holder dies: a segfault read as
a hang (seen in CI under load, as `killed at the hard time limit`). These tests make that window wide.
"""
import os
import threading
import time

from optlab.experiment.isolation import Worker
from optlab.optim.status import Status


def _serve(item):
    if item == "exit":
        os._exit(3)
    if item == "hang":
        time.sleep(60)
    return item * 2


def test_a_crash_is_seen_at_once_while_another_thread_starts_a_worker(monkeypatch):
    real_fork, first = os.fork, threading.Event()

    def slow_fork():  # the first fork's parent pauses before closing its child's ends: another thread forks
        pid = real_fork()
        if pid and not first.is_set():
            first.set()
            time.sleep(0.5)
        return pid

    monkeypatch.setattr(os, "fork", slow_fork)
    outcomes, stop = {}, threading.Event()

    def crash():
        outcomes["crash"] = Worker(_serve).call("exit", seconds=5)
        stop.set()

    def hang():
        first.wait()
        outcomes["hang"] = Worker(_serve).call("hang", seconds=30, stop=stop)

    threads = [threading.Thread(target=crash), threading.Thread(target=hang)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    failure = outcomes["crash"].failure
    assert failure is not None and failure.status == Status.ERROR, failure
    assert failure.cause == "its process exited with code 3 without returning a result"
    assert outcomes["hang"].interrupted


def test_a_worker_closed_while_another_lives_exits_by_itself():
    first, second = Worker(_serve), Worker(_serve)
    assert first.call(1, seconds=30).value == 2
    assert second.call(2, seconds=30).value == 4  # forked while the first worker's pipes are open
    assert first._end() == 0  # its child saw its items pipe close and exited 0, rather than being killed
    assert second.call(3, seconds=30).value == 6
    second.close()
