"""A sweep that survives anything, end to end through the CLI: every fault a run can have, on each executor.

Each test reads the stored rows back: every run stored once, the faulty ones as error/time_limit with
their cause (exit code or signal, last lines of output), the honest ones converged.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
PLUGINS = [str(HERE / "data" / "e2e_plugin.py"), str(HERE / "data" / "fault_plugin.py")]
FAULTS = ["os_exit", "segfault", "sys_exit", "keyboard_interrupt", "hang", "killed_worker"]
CAUSES = {  # fault -> (status, words its stored cause must contain)
    "os_exit": ("error", "exited with code 3"),
    "segfault": ("error", "SIGSEGV"),
    "sys_exit": ("error", "raised SystemExit: 4"),
    "keyboard_interrupt": ("error", "raised KeyboardInterrupt"),
    "hang": ("time_limit", "hard time limit"),
    "killed_worker": ("error", "SIGKILL"),
}


def write_config(tmp_path: Path, **overrides) -> Path:
    config = {"name": "faults", "problems": [{"name": "bowl", "params": {"n": 3}}],
              "optimizers": [{"name": "gd", "params": {"lr": 0.3}}, *FAULTS], "seeds": 2, "budget": {"iterations": 300, "seconds": 0.5},
              "executor": "serial", "plugins": PLUGINS}
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def optlab(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "optlab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def stored(out: Path) -> list[dict]:
    con = sqlite3.connect(out / "results.sqlite")
    con.row_factory = sqlite3.Row
    return [dict(r) for r in con.execute("SELECT * FROM runs")]


def assert_faults_stored(rows: list[dict], seeds: int = 2) -> None:
    assert len(rows) == len({r["run_id"] for r in rows}) == (1 + len(FAULTS)) * seeds
    for r in rows:
        if r["optimizer"] == "gd":
            assert r["status"] == "converged" and r["f_final"] < 1e-9, r
            continue
        status, words = CAUSES[r["optimizer"]]
        assert r["status"] == status and words in r["reason"], (r["optimizer"], r["status"], r["reason"])
        if r["optimizer"] != "keyboard_interrupt" and r["optimizer"] != "sys_exit":
            assert f"{r['optimizer']}: about to fail" in r["message"], r["message"]  # its last output
    segfault = next(r for r in rows if r["optimizer"] == "segfault")
    assert "Fatal Python error: Segmentation fault" in segfault["message"]  # faulthandler's stack
    hang = next(r for r in rows if r["optimizer"] == "hang")
    assert hang["nit"] == 1 and hang["f_final"] < hang["f0"]  # its last recorded iterate was kept


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_every_fault_is_stored_with_its_cause_and_the_sweep_goes_on(tmp_path, executor):
    cfg = write_config(tmp_path)
    start = time.monotonic()
    proc = optlab("run", cfg, "--out", tmp_path / "out", "--executor", executor, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 60
    assert_faults_stored(stored(tmp_path / "out"))
    again = optlab("run", cfg, "--out", tmp_path / "out", "--executor", executor)  # failures are not retried
    assert again.returncode == 0 and "resuming: 14 of 14" in again.stderr
    assert len(stored(tmp_path / "out")) == 14


def test_retry_failed_runs_only_the_failures_again(tmp_path):
    cfg = write_config(tmp_path, optimizers=[{"name": "gd", "params": {"lr": 0.3}}, "os_exit"], seeds=1)
    out = tmp_path / "out"
    assert optlab("run", cfg, "--out", out).returncode == 0
    before = {r["optimizer"]: r["finished_at"] for r in stored(out)}
    time.sleep(1.1)  # finished_at has whole seconds
    assert optlab("run", cfg, "--out", out, "--retry-failed").returncode == 0
    after = {r["optimizer"]: r["finished_at"] for r in stored(out)}
    assert after["gd"] == before["gd"] and after["os_exit"] > before["os_exit"]


def _wait_for_rows(db: Path, n: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline and count < n:
        time.sleep(0.05)
        try:
            count = sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
        except sqlite3.OperationalError:
            count = 0
    return count


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, from /proc."""
    out, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        kids = []
        for task in Path(f"/proc/{parent}/task").glob("*"):  # a child belongs to the thread that forked it
            try:
                kids += (task / "children").read_text().split()
            except OSError:
                pass
        for k in map(int, kids):
            if k not in out:
                out.add(k)
                frontier.add(k)
    return out


def _wait_for_children(pid: int, n: int, timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_children(pid)) < n:
        time.sleep(0.05)
    return _children(pid)


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


SLOW = {"problems": [{"name": "bowl", "params": {"n": 2, "delay": 0.002}}],
        "optimizers": [{"name": "gd", "params": {"lr": [0.01, 0.02, 0.03]}}], "seeds": 4,
        "budget": {"iterations": 100}, "jit": False}  # the delay is in the objective's Python: no replays
TOTAL = 12


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stores_what_finished_and_the_rerun_completes_without_repeats(tmp_path, sig, code):
    cfg = write_config(tmp_path, executor="local", **SLOW)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for_rows(out / "results.sqlite", 3) >= 3
    workers = _children(proc.pid)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 5
    assert proc.returncode == code, err
    line = err.strip().splitlines()[-1]
    n, m = len(stored(out)), TOTAL - len(stored(out))
    assert line == f"interrupted: {n} runs stored, {m} left; run again to resume", err
    assert 3 <= n < TOTAL and workers and not _alive(workers)
    first = {r["run_id"]: r["finished_at"] for r in stored(out)}
    again = optlab("run", cfg, "--out", out)
    assert again.returncode == 0 and f"resuming: {n} of {TOTAL}" in again.stderr
    rows = stored(out)
    assert len(rows) == len({r["run_id"] for r in rows}) == TOTAL
    assert all(r["finished_at"] == first[r["run_id"]] for r in rows if r["run_id"] in first)


def test_second_ctrl_c_exits_at_once(tmp_path):
    cfg = write_config(tmp_path, executor="local", optimizers=["hang"], seeds=4, budget={"seconds": 30})
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(tmp_path / "o")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_children(proc.pid, 1)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=5)
    assert proc.returncode == 130


def test_no_worker_outlives_a_killed_driver(tmp_path):
    cfg = write_config(tmp_path, executor="local", optimizers=["hang"], seeds=2, budget={"seconds": 60})
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(tmp_path / "o"),
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = _wait_for_children(proc.pid, 2)
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(workers):
        time.sleep(0.1)
    assert not _alive(workers)


def test_max_seconds_stops_the_sweep_and_the_rerun_resumes(tmp_path):
    slower = {**SLOW, "problems": [{"name": "bowl", "params": {"n": 2, "delay": 0.005}}], "seeds": 2}
    cfg = write_config(tmp_path, executor="local", **slower)
    out, total = tmp_path / "out", 6
    start = time.monotonic()
    proc = optlab("run", cfg, "--out", out, "--workers", 2, "--max-seconds", 1.5)
    assert time.monotonic() - start < 15
    assert proc.returncode == 124, proc.stderr
    n = len(stored(out))
    assert 0 <= n < total
    assert proc.stderr.strip().splitlines()[-1] == (f"stopped after --max-seconds 1.5: {n} runs stored, "
                                                    f"{total - n} left; run again to resume")
    assert optlab("run", cfg, "--out", out).returncode == 0 and len(stored(out)) == total
