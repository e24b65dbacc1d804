"""The Dask executor on a real cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1.

The same fault battery as tests/test_faults.py, each run forked from its Dask worker (so a crash ends
that child, not the worker) with the same hard time limits; and a worker killed mid-run: Dask runs its
task again on another worker, and the sweep stores every run once.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_faults import (
    FAULTS,
    _alive,
    _children,
    _wait_for_children,
    assert_faults_stored,
    optlab,
    stored,
    write_config,
)

pytest.importorskip("dask.distributed")
pytestmark = pytest.mark.slow  # a scheduler and two workers start in each test: ~10-20 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKERS: dict[str, int] = {}  # address -> pid of its `dask worker` process


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-thread workers (under nannies), localhost only; yields (address, env)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "FAULT_MARKER_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
                                   "127.0.0.1", "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True))
    try:
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        WORKERS[address] = procs[1].pid
        yield address
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_every_fault_is_stored_with_its_cause_on_a_dask_cluster(tmp_path, cluster):
    cfg = write_config(tmp_path, executor={"name": "dask", "address": cluster})
    proc = optlab("run", cfg, "--out", tmp_path / "out", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert_faults_stored(stored(tmp_path / "out"))


def test_a_killed_dask_worker_costs_no_run(tmp_path, cluster):
    cfg = write_config(tmp_path, executor={"name": "dask", "address": cluster},
                       optimizers=[{"name": "gd", "params": {"lr": 0.3}}, "kill_dask_worker_once"], seeds=3)
    proc = optlab("run", cfg, "--out", tmp_path / "out", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "killed").exists()  # a worker process really was killed
    rows = stored(tmp_path / "out")
    assert len(rows) == len({r["run_id"] for r in rows}) == 6
    assert {r["status"] for r in rows} == {"converged"}, [(r["optimizer"], r["reason"]) for r in rows]


def test_dask_matches_serial_bit_for_bit_with_isolation(tmp_path, cluster):
    good = [{"name": "gd", "params": {"lr": [0.1, 0.3]}}, "adam"]
    cfg = write_config(tmp_path, optimizers=good, seeds=2, budget={"iterations": 300})  # no clock in the result
    assert optlab("run", cfg, "--out", tmp_path / "serial", "--executor", "serial").returncode == 0
    dask_cfg = write_config(tmp_path, optimizers=good, seeds=2, budget={"iterations": 300},
                            executor={"name": "dask", "address": cluster})
    assert optlab("run", dask_cfg, "--out", tmp_path / "dask").returncode == 0

    def key(rows):
        return {r["run_id"]: (r["status"], r["nit"], r["nfev"], r["f_final"]) for r in rows}
    assert len(stored(tmp_path / "serial")) == 6
    assert key(stored(tmp_path / "serial")) == key(stored(tmp_path / "dask"))


assert FAULTS  # the battery is shared with test_faults


def test_the_slurm_example_config_makes_worker_jobs_as_documented(monkeypatch):
    """The worked example validates, and its options reach dask-jobqueue's batch script (no SLURM needed)."""
    pytest.importorskip("dask_jobqueue")
    from optlab.experiment.config import load_config
    from optlab.experiment.runner import make_executor, plan

    config = load_config(Path(__file__).parents[1] / "configs" / "slurm_example.yaml")
    assert len(plan(config)) == 6 * 4 * 10
    script = make_executor(config).job_script()
    for line in ("#SBATCH -p short", "#SBATCH -A my-project", "#SBATCH -t 02:00:00", "#SBATCH --mem=4G",
                 "#SBATCH --qos=normal", "--nthreads 1"):
        assert line in script, script


def test_slurm_without_dask_jobqueue_says_what_to_install(monkeypatch):
    from optlab.experiment.isolation import ExecutorError
    from optlab.registry import registry

    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import fails as if not installed
    with pytest.raises(ExecutorError, match=r"^the slurm executor needs dask-jobqueue: pip install 'optlab\[slurm\]'$"):
        registry().get("executors", "slurm")(workers=2).job_script()


def test_ctrl_c_ends_the_runs_in_flight_on_the_dask_workers(tmp_path, cluster):
    """The driver's first Ctrl-C cancels the sweep's tasks; a task that is running kills its forked run
    within a couple of seconds rather than letting it run on to its hard limit (here 67 s)."""
    cfg = write_config(tmp_path, executor={"name": "dask", "address": cluster}, optimizers=["hang"], seeds=2,
                       budget={"seconds": 60})
    before = _children(WORKERS[cluster])  # the nannies' worker processes
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    runs = _wait_for_children(WORKERS[cluster], len(before) + 2, timeout=60) - before  # the two forked runs
    assert len(runs) == 2
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(runs):
        time.sleep(0.1)
    assert not _alive(runs)
    assert _alive(before) == before  # the workers themselves live on
