"""End to end through the CLI: runs, resume after SIGKILL, executors agree, bad configs, failing runs."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from optlab.cli import main
from optlab.experiment.store import Store

PLUGIN = str(Path(__file__).parent / "data" / "e2e_plugin.py")


def write_config(tmp_path: Path, **overrides) -> Path:
    config = {"name": "e2e", "problems": [{"name": "bowl", "params": {"n": [2, 3]}}, "cliff"],
              "optimizers": [{"name": "gd", "params": {"lr": [0.1, 0.3]}}, "adam", "raiser"],
              "seeds": 2, "scale": [1, 10], "budget": {"iterations": 200}, "executor": "serial",
              "plugins": [PLUGIN]}
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_sweep_records_every_status_and_one_failure_stops_nothing(tmp_path):
    cfg = write_config(tmp_path)
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 0
    runs = Store(tmp_path / "out").runs()
    assert len(runs) == 3 * 4 * 2 * 2  # problems (bowl n=2,3 + cliff) x methods x scales x seeds
    by = {(r["problem"], r["label"], r["problem_params"].get("n"), r["scale"], r["seed"]): r for r in runs}
    assert by[("bowl", "gd(lr=0.1)", 3, 1.0, 0)]["status"] == "converged"
    assert by[("bowl", "gd(lr=0.1)", 3, 1.0, 0)]["f_final"] < 1e-8 * by[("bowl", "gd(lr=0.1)", 3, 1.0, 0)]["f0"]
    assert {r["status"] for r in runs if r["problem"] == "cliff" and r["optimizer"] == "gd"} == {"diverged"}
    raised = [r for r in runs if r["optimizer"] == "raiser"]
    assert {r["status"] for r in raised} == {"error"}
    assert all("ZeroDivisionError: bug in a third-party step" in r["message"] for r in raised)
    assert all(r["config_hash"] and r["versions"]["numpy"] and r["versions"]["numpy simd"] for r in runs)


def test_rerun_resumes_without_repeating(tmp_path):
    cfg = write_config(tmp_path)
    out = str(tmp_path / "out")
    assert main(["run", str(cfg), "--out", out]) == 0
    first = {r["run_id"]: r["finished_at"] for r in Store(out).runs()}
    assert main(["run", str(cfg), "--out", out, "--set", "seeds=3"]) == 0
    second = {r["run_id"]: r["finished_at"] for r in Store(out).runs()}
    assert len(second) == len(first) * 3 // 2
    assert all(second[k] == v for k, v in first.items())  # not re-run


def test_sigkill_mid_sweep_then_rerun_has_every_run_once(tmp_path):
    cfg = write_config(tmp_path, problems=[{"name": "bowl", "params": {"n": 2, "delay": 0.002}}],
                       optimizers=[{"name": "gd", "params": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05]}}],
                       seeds=4, scale=[1], budget={"iterations": 150}, jit=False)  # the delay runs at every call
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / "results.sqlite"
    deadline = time.time() + 60
    stored = 0
    while time.time() < deadline and stored < 3:
        time.sleep(0.05)
        if db.exists():
            try:
                stored = sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
    assert 3 <= killed_at < 20, "the kill must land in the middle of the sweep"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (20, 20)
    traces_ok = con.execute("SELECT count(*) FROM runs r WHERE nit + 1 != "
                            "(SELECT count(*) FROM traces t WHERE t.run_id = r.run_id)").fetchone()[0]
    assert traces_ok == 0


def _results(out):
    store = Store(out)
    return {r["run_id"]: (r["status"], r["nit"], r["nfev"], r["ngev"], r["f_final"],
                          tuple(t["f"] for t in store.trace(r["run_id"]))) for r in store.runs()}


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_executors_match_serial_bit_for_bit(tmp_path, executor):
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    cfg = write_config(tmp_path, optimizers=[{"name": "gd", "params": {"lr": [0.1, 0.3]}}, "adam"], scale=[1])
    assert main(["run", str(cfg), "--out", str(tmp_path / "serial"), "--executor", "serial"]) == 0
    assert main(["run", str(cfg), "--out", str(tmp_path / executor), "--executor", executor, "--workers", "2"]) == 0
    serial, other = _results(tmp_path / "serial"), _results(tmp_path / executor)
    assert len(serial) == 18 and serial == other


BAD = {
    "bad_yaml": ("name: x\nproblems: [bowl\n", "not valid YAML (line 3"),
    "unknown_key": ("name: x\nproblems: [bowl]\noptimizers: [gd]\nbudgett: {}\n", "budgett: unknown key"),
    "unknown_plugin": ("name: x\nproblems: [bowl]\noptimizers: [gdd]\n", "unknown optimizer 'gdd'; did you mean 'gd'?"),
    "wrong_type": ("name: x\nproblems: [bowl]\noptimizers: [gd]\nseeds: [a]\n", "seeds[0]: Input should be a valid integer"),
    "negative_budget": ("name: x\nproblems: [bowl]\noptimizers: [gd]\nbudget: {iterations: -5}\n",
                        "budget.iterations: Input should be greater than or equal to 1"),
    "empty_grid": ("name: x\nproblems: [bowl]\noptimizers: [{name: gd, params: {lr: []}}]\n",
                   "optimizers[0].params: grid axis 'lr' is empty"),
    "empty_list": ("name: x\nproblems: []\noptimizers: [gd]\n", "problems: List should have at least 1 item"),
    "bad_param": ("name: x\nproblems: [bowl]\noptimizers: [{name: gd, params: {lr: -1}}]\n",
                  "optimizer 'gd': parameter 'lr': Input should be greater than 0"),
    "unknown_problem_param": ("name: x\nproblems: [{name: bowl, params: {m: 2}}]\noptimizers: [gd]\n",
                              "problems[0].params.m: unknown parameter of problem 'bowl'"),
    # a problem parameter of its default's kind (the factory checks the values when a run builds the problem)
    "problem_param_bool": ("name: x\nproblems: [{name: extended_rosenbrock, params: {n: yes}}]\noptimizers: [gd]\n",
                           "problems[0].params.n: problem 'extended_rosenbrock' takes a number here, got True"),
    "problem_param_quoted": ("name: x\nproblems: [{name: quadratic, params: {cond: '50'}}]\noptimizers: [gd]\n",
                             "problems[0].params.cond: problem 'quadratic' takes a number here, got '50' "
                             "(write it without quotes)"),
    "problem_param_fraction": ("name: x\nproblems: [{name: extended_rosenbrock, params: {n: [4, 4.5]}}]\n"
                               "optimizers: [gd]\n",
                               "problems[0].params.n: problem 'extended_rosenbrock' takes an integer here, got 4.5"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_config_exits_2_with_one_line(tmp_path, case):
    text, expected = BAD[case]
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text + f"plugins: [{PLUGIN}]\n" if "plugins" not in text and case != "bad_yaml" else text)
    proc = subprocess.run([sys.executable, "-m", "optlab", "run", str(cfg), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"optlab: {cfg}:") and expected in lines[0], lines[0]
    assert not (tmp_path / "o" / "results.sqlite").exists()


def test_export_writes_tidy_csv(tmp_path):
    cfg = write_config(tmp_path, problems=["bowl"], optimizers=["gd"], seeds=1, scale=[1])
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    assert main(["export", str(out), "--format", "csv"]) == 0
    runs = (out / "runs.csv").read_text().splitlines()
    traces = (out / "traces.csv").read_text().splitlines()
    assert runs[0].startswith("run_id,experiment,problem") and len(runs) == 2
    nit = Store(out).runs()[0]["nit"]
    assert len(traces) == 1 + nit + 1
