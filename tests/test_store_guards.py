"""A guarded output folder, through the CLI: one sweep at a time, stores that belong to their config,
damaged files refused (never overwritten without --fresh), read-only folders readable, a full disk stopped."""
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from optlab.cli import main

HERE = Path(__file__).parent
PLUGINS = [str(HERE / "data" / "e2e_plugin.py"), str(HERE / "data" / "fault_plugin.py")]


def write_config(tmp_path: Path, name: str = "guards", **overrides) -> Path:
    config = {"name": name, "problems": [{"name": "bowl", "params": {"n": 2}}],
              "optimizers": [{"name": "gd", "params": {"lr": [0.1, 0.3]}}], "seeds": 2,
              "budget": {"iterations": 200}, "executor": "serial", "plugins": PLUGINS}
    config.update(overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def optlab(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "optlab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def count(out: Path) -> int:
    return sqlite3.connect(out / "results.sqlite").execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_second_run_on_the_folder_is_refused_naming_the_first(tmp_path):
    cfg = write_config(tmp_path, optimizers=["hang"], budget={"seconds": 30})
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out / ".optlab-run.lock").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        for extra in ([], ["--fresh"]):  # a concurrent --fresh must not delete the other's results either
            second = optlab("run", cfg, "--out", out, *extra)
            assert second.returncode == 2
            line = one_line(second)
            assert f"in use by another optlab run (pid {first.pid} on {socket.gethostname()}, started 20" in line
        assert (out / "results.sqlite").exists()
    finally:
        first.kill()
        first.wait()
    assert optlab("run", write_config(tmp_path), "--out", out, "--fresh").returncode == 0  # the kernel freed the lock


def test_another_experiments_store_is_refused_unless_merge(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(write_config(tmp_path, "first")), "--out", str(out)]) == 0
    other = write_config(tmp_path, "second", optimizers=[{"name": "gd", "params": {"lr": [0.2, 0.25]}}])
    proc = optlab("run", other, "--out", out)
    assert proc.returncode == 2 and "holds experiment 'first'" in one_line(proc) and "--merge" in proc.stderr
    stricter = optlab("run", write_config(tmp_path, "first", budget={"iterations": 50}), "--out", out)
    assert stricter.returncode == 2 and "under another budget or stopping test" in one_line(stricter)
    assert count(out) == 4
    assert main(["run", str(other), "--out", str(out), "--merge"]) == 0
    assert count(out) == 8
    grown = write_config(tmp_path, "first", seeds=3)  # the same experiment with a larger grid resumes
    assert main(["run", str(grown), "--out", str(out)]) == 0 and count(out) == 10


def _damage(kind: str, db: Path) -> None:
    data = db.read_bytes()
    if kind == "truncated":
        db.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        db.write_bytes(data[:4096] + bytes(range(256)) * 16 + data[8192:])
    elif kind == "not sqlite":
        db.write_bytes(b"PK\x03\x04 this is a zip file, not a database" * 100)
    elif kind == "foreign":
        db.unlink()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        con.commit()
        con.close()


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "not sqlite", "foreign"])
def test_a_damaged_or_foreign_database_is_refused_and_kept(tmp_path, kind):
    cfg = write_config(tmp_path, seeds=10)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    db = out / "results.sqlite"
    _damage(kind, db)
    before = db.read_bytes()
    commands = [["run", cfg, "--out", out], ["report", out]]
    if kind == "truncated":
        commands += [["show", out], ["export", out]]
    for command in commands:
        proc = optlab(*command)
        assert proc.returncode == 2, (command, proc.stderr)
        line = one_line(proc)
        assert str(db) in line and ("damaged" in line or "not an optlab results database" in line), line
    assert db.read_bytes() == before  # nothing overwrote it
    assert main(["run", str(cfg), "--out", str(out), "--fresh"]) == 0 and count(out) == 20


def _read_only(paths: list[Path], on: bool) -> bool:
    """chattr +i: not even root may write there (chmod does not stop root, who runs these tests)."""
    flag = "+i" if on else "-i"
    return all(subprocess.run(["chattr", flag, str(p)], capture_output=True).returncode == 0 for p in paths)


@pytest.mark.skipif(not shutil.which("chattr"), reason="needs chattr to make a folder read-only for root")
def test_show_export_and_report_work_on_a_read_only_folder(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    listing = sorted(p.name for p in out.iterdir())
    frozen = [out / name for name in listing] + [out]
    if not _read_only(frozen, True):
        _read_only(frozen, False)
        pytest.skip("chattr +i is not permitted here")
    try:
        assert subprocess.run(["touch", str(out / "x")], capture_output=True).returncode != 0  # really read-only
        target = tmp_path / "to"
        shown = optlab("show", out)
        assert shown.returncode == 0 and "4 runs" in shown.stdout, shown.stderr
        exported = optlab("export", out, "--to", target.mkdir() or target)
        assert exported.returncode == 0 and (target / "runs.csv").read_text().count("\n") == 5, exported.stderr
        reported = optlab("report", out, "--to", target)
        assert reported.returncode == 0 and "| gd(lr=0.3) |" in (target / "report.md").read_text(), reported.stderr
        refused = optlab("report", out)
        assert refused.returncode == 2 and "choose a folder with --to" in one_line(refused)
        again = optlab("run", cfg, "--out", out)
        assert again.returncode == 2 and "cannot lock the output folder" in one_line(again)
        assert sorted(p.name for p in out.iterdir()) == listing  # nothing written there
    finally:
        _read_only(frozen, False)


def test_a_full_disk_stops_the_sweep_keeping_what_is_stored(tmp_path, monkeypatch, capsys):
    from optlab.experiment.store import Store

    real_write, calls = Store.write, []

    def write(self, run, trace):
        calls.append(run["run_id"])
        if len(calls) > 2:
            raise sqlite3.OperationalError("database or disk is full")
        real_write(self, run, trace)

    monkeypatch.setattr(Store, "write", write)
    cfg = write_config(tmp_path, executor="local")
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot store a result (database or disk is full); stopped with 2 runs stored, 2 left" in err
    monkeypatch.setattr(Store, "write", real_write)
    assert main(["run", str(cfg), "--out", str(out)]) == 0 and count(out) == 4


@pytest.mark.skipif(not shutil.which("chattr"), reason="needs chattr to make a folder read-only for root")
def test_a_read_only_folder_with_a_wal_but_no_shm_shows_the_committed_runs(tmp_path):
    """Runs committed to the WAL (a driver killed before its checkpoint) count, even where no -shm can be made:
    opening the file immutable alone would silently show the database as it was before them."""
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    killed = ("import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA wal_autocheckpoint=0'); "
              "db.execute('DELETE FROM runs WHERE rowid IN (SELECT rowid FROM runs LIMIT 3)'); db.commit(); "
              "os._exit(0)")  # a commit in the WAL only: the writer dies before any checkpoint
    subprocess.run([sys.executable, "-c", killed, str(out / "results.sqlite")], check=True)
    assert (out / "results.sqlite-wal").stat().st_size > 0
    (out / "results.sqlite-shm").unlink()
    frozen = sorted(out.iterdir()) + [out]
    if not _read_only(frozen, True):
        _read_only(frozen, False)
        pytest.skip("chattr +i is not permitted here")
    try:
        shown = optlab("show", out)
        assert shown.returncode == 0 and f"{out}: 1 runs" in shown.stdout, shown.stdout + shown.stderr
    finally:
        _read_only(frozen, False)


def test_a_read_only_open_checks_again_after_the_file_changed(tmp_path):
    # read-only opens skip quick_check for a file state already checked in this process (a report opens its
    # store several times); a file damaged afterwards has another state and is refused
    from optlab.experiment.store import Store, StoreError

    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    Store(out, readonly=True).close()
    Store(out, readonly=True).close()  # the same state: no second check needed, and none refuses it
    _damage("corrupt", out / "results.sqlite")
    with pytest.raises(StoreError, match="damaged"):
        Store(out, readonly=True)


def test_trace_arrays_read_missing_values_as_nan(tmp_path):
    # SQLite keeps NaN as NULL; the report's columns read NULL as NaN and keep inf
    from optlab.experiment.store import Store

    with Store(tmp_path) as store:
        trace = [{"iter": 0, "f": 3.0, "gnorm": None, "nfev": 1, "ngev": 1, "nhvp": 0, "nhess": 0, "seconds": 0.1},
                 {"iter": 1, "f": float("nan"), "gnorm": float("inf"), "nfev": 2, "ngev": 2, "nhvp": 0, "nhess": 0,
                  "seconds": 0.2, "info": {"cg_iters": 3}}]
        store.write({"run_id": "r", "problem": "p", "label": "A", "seed": 0, "scale": 1.0, "status": "diverged"},
                    trace)
    with Store(tmp_path, readonly=True) as store:
        t = store.trace_arrays()["r"]
    np.testing.assert_array_equal(t.iter, [0, 1])
    np.testing.assert_array_equal(t.f, [3.0, np.nan])
    np.testing.assert_array_equal(t.gnorm, [np.nan, np.inf])
    np.testing.assert_array_equal(t.seconds, [0.1, 0.2])
    assert t.info == [None, {"cg_iters": 3}]
