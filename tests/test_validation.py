"""Validation that bounds what it reads: each bad config exits 2 with one line, within 5 s and 200 MB."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLUGIN = str(Path(__file__).parent / "data" / "e2e_plugin.py")
GOOD = f"name: v\nproblems: [bowl]\noptimizers: [gd]\nplugins: [{PLUGIN}]\n"

ALIAS_BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
              "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
              "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n")  # 10^9 strings once expanded

CASES = {  # name -> (file text or bytes, extra CLI args, words the one line must contain)
    "alias_bomb": (ALIAS_BOMB, [], "expands to more than 200,000 values (through YAML aliases?)"),
    "deep_list": ("name: v\nproblems: " + "[" * 5000 + "]" * 5000 + "\n", [], "nested deeper than 40 levels"),
    "negative_seed": (GOOD + "seeds: [-1]\n", [], "seeds[0]: Input should be greater than or equal to 0"),
    "huge_seed": (GOOD + f"seeds: [{10**40}]\n", [], "seeds[0]: Input should be less than or equal to"),
    "seed_count_bomb": (GOOD + "seeds: 1000000000\n", [], "a count of seeds must be between 1 and 100000"),
    "nul_in_name": ('name: "a\\0b"\nproblems: [bowl]\noptimizers: [gd]\n', [], "name: must be printable"),
    "slash_in_name": ("name: ../../etc\nproblems: [bowl]\noptimizers: [gd]\n", [], "must be one folder name"),
    "control_in_label": (GOOD.replace("[gd]", '[{name: gd, label: "x\\ry"}]'), [], "optimizers[0].label"),
    "not_utf8": (b"name: caf\xe9\nproblems: [bowl]\noptimizers: [gd]\n", [], "not UTF-8 text (byte 0xe9 at offset 9)"),
    "binary": (b"\x7fELF\x02\x01\x01\x00" * 64, [], "not a text file (a NUL byte at offset 7)"),
    "set_bad_yaml": (GOOD, ["--set", "budget.iterations=["], "--set budget.iterations=[: the value is not valid YAML"),
    "set_no_equals": (GOOD, ["--set", "budget.iterations"], "--set budget.iterations: expected key.path=value"),
    "set_empty_key": (GOOD, ["--set", "budget..iterations=3"], "empty key"),
    "workers_negative": (GOOD, ["--workers", "-1"], "--workers -1: must be positive"),
    "workers_not_int": (GOOD, ["--workers", "two"], "--workers two: expected an integer"),
    "workers_million_flag": (GOOD, ["--workers", "1000000"], "--workers 1000000: at most"),
    "workers_million_file": (GOOD + "executor: {name: local, workers: 1000000}\n", [],
                             "executor.workers: Input should be less than or equal to"),
    "huge_grid": (GOOD.replace("[gd]", "[{name: gd, params: {lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}}]")
                  + "seeds: 100000\n", [], "the grid has 1,000,000 runs, more than the limit of 10,000; "
                                           "pass --max-runs 1000000 to run it"),
    # the default lr written out is the same run (two labels of one optimizer are two runs: issue 10)
    "duplicate_runs": (GOOD.replace("[gd]", "[gd, {name: gd, params: {lr: 0.001}}]"), [],
                       "'gd' repeats the run 'gd' on bowl (seed 0, scale 1)"),
    "duplicate_seeds": (GOOD + "seeds: [0, 1, 1]\n", [], "'gd' repeats the run 'gd' on bowl (seed 1, scale 1)"),
    # two settings of one method under one label would be merged into one row of every report table
    "label_collision": (GOOD.replace("[gd]", "[{name: gd, params: {lr: 0.1}}, {name: gd, params: {lr: 0.01}}]"), [],
                        "optimizers[1]: the label 'gd' is already optimizers[0]'s (gd lr=0.1); give one a label:"),
    "label_collision_explicit": (GOOD.replace("[gd]", "[{name: gd, label: m}, {name: gd, params: {lr: 0.5}, "
                                                      "label: m}]"), [],
                                 "optimizers[1]: the label 'm' is already optimizers[0]'s (gd)"),
    # YAML 1.1 reads true/yes/on as booleans; pydantic would take them for the number 1
    "boolean_iterations": (GOOD + "budget: {iterations: on}\n", [],
                           "budget.iterations: expected a number, got the boolean True"),
    "boolean_seed": (GOOD + "seeds: [yes]\n", [], "seeds[0]: expected a number, got the boolean True"),
    "boolean_scale": (GOOD + "scale: [true]\n", [], "scale[0]: expected a number, got the boolean True"),
    "boolean_typx_set": (GOOD, ["--set", "stopping.typx=true"], "stopping.typx: expected a number, got the boolean"),
    # yaml.safe_load keeps the last of two equal keys: the first list of optimizers would vanish
    "duplicate_key": (GOOD + "optimizers: [lbfgs]\n", [], "line 5: duplicate key 'optimizers' (first on line 3)"),
    "duplicate_nested_key": (GOOD + "budget: {iterations: 5, iterations: 50}\n", [],
                             "line 5: duplicate key 'iterations' (first on line 5)"),
    "missing_plugin_file": ("name: v\nproblems: [bowl]\noptimizers: [gd]\nplugins: [nothere.py]\n", [],
                            "bad.yaml: plugins[0]: plugin file "),
    "too_big": ("name: v\n" + "# padding\n" * 200_000, [], "a config may have at most 1,000,000"),
    "unreachable_dask": (GOOD + "executor: {name: dask, address: 'tcp://127.0.0.1:9'}\n", [],
                         "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    "bad_dask_address": (GOOD + "executor: {name: dask, address: 'tcp://nowhere'}\n", [],
                         "expected tcp://HOST:PORT"),
}


BOMBS = {"alias_bomb", "deep_list", "seed_count_bomb", "huge_grid", "too_big"}
CHECKED_BY_VALIDATE = BOMBS | {"bad_dask_address"}  # validate must not call valid what run refuses


MEASURE = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
           "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
           "sys.exit(code)")


def run_measured(args: list[str], tmp_path: Path) -> tuple[int, str, float, float]:
    """Exit status, stderr, seconds and peak resident MB of one `optlab` process.

    A small Python process starts it and reads its peak from getrusage: a child forked straight from
    pytest would count pytest's own pages (hundreds of MB once torch is loaded) in its peak.
    """
    peak = tmp_path / "peak_kb"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(peak), sys.executable, "-m", "optlab", *args],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr, time.monotonic() - start, int(peak.read_text()) / 1024


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_exits_2_with_one_line_quickly_and_small(tmp_path, case):
    text, extra, words = CASES[case]
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    for command in (["run", str(cfg), "--out", str(tmp_path / "o"), *extra], ["validate", str(cfg), *extra]):
        if command[0] == "validate" and case not in CHECKED_BY_VALIDATE:
            continue  # validate reads the file the same way; the bombs are worth proving on both
        code, err, seconds, mb = run_measured(command, tmp_path)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (command[0], err)
        assert lines[0].startswith("optlab: ") and words in lines[0], (command[0], lines[0])
        assert seconds < 5 + _startup(), f"{command[0]} took {seconds:.1f} s"
        assert mb < 200, f"{command[0]} peaked at {mb:.0f} MB"
    assert not (tmp_path / "o" / "results.sqlite").exists()


_STARTUP: list[float] = []


def _startup() -> float:
    """Seconds `optlab validate` takes on a good config here: the machine's own start-up cost, not the case's."""
    if not _STARTUP:
        good = Path(os.environ.get("TMPDIR", "/tmp")) / f"optlab-good-{os.getpid()}.yaml"
        good.write_text(GOOD)
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "optlab", "validate", str(good)], capture_output=True, check=True)
        _STARTUP.append(time.monotonic() - start)
        good.unlink()
    return _STARTUP[0]


def test_validate_says_it_ran_the_plugin_files(tmp_path):
    cfg = tmp_path / "good.yaml"
    cfg.write_text(GOOD + "seeds: 3\n")
    proc = subprocess.run([sys.executable, "-m", "optlab", "validate", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{cfg}: valid, 3 runs; imported 1 plugin file (their code ran): {PLUGIN}"


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path, monkeypatch):
    from optlab.experiment.config import load_config

    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "plugin.py").write_text(Path(PLUGIN).read_text())
    cfg = folder / "config.yaml"
    cfg.write_text("name: v\nproblems: [bowl]\noptimizers: [gd]\nplugins: [plugin.py]\noutput: out\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("study/config.yaml")
    assert config.plugins == [str(folder / "plugin.py")] and config.output == str(folder / "out")


def test_max_runs_lets_a_large_grid_through(tmp_path):
    cfg = tmp_path / "big.yaml"
    cfg.write_text(GOOD + "seeds: 10001\n")
    refused = subprocess.run([sys.executable, "-m", "optlab", "validate", str(cfg)], capture_output=True, text=True)
    assert refused.returncode == 2 and "the grid has 10,001 runs" in refused.stderr
    allowed = subprocess.run([sys.executable, "-m", "optlab", "validate", str(cfg), "--max-runs", "10001"],
                             capture_output=True, text=True)
    assert allowed.returncode == 0 and "valid, 10001 runs" in allowed.stdout


class _NotDask:
    """A TCP service on localhost that is not a Dask scheduler: it answers with `reply` or stays silent."""

    def __init__(self, reply: bytes | None) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply is not None:
                conn.recv(4096)
                conn.sendall(self.reply)


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4, None],
                         ids=["http", "silent"])
def test_a_port_that_is_not_a_dask_scheduler_is_refused_in_one_line(tmp_path, reply):
    """Something listens, but not Dask (a web server, a proxy): refused before any progress, not a MemoryError."""
    pytest.importorskip("dask.distributed")
    service = _NotDask(reply)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(GOOD + f"executor: {{name: dask, address: '{service.address}'}}\n")
    code, err, seconds, mb = run_measured(["run", str(cfg), "--out", str(tmp_path / "o")], tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"optlab: no Dask scheduler answered at {service.address}"), lines[0]
    handshake = 0 if reply else 3.0  # a silent listener is given Dask.connect_timeout to answer
    assert seconds < 5 + handshake + _startup(), f"took {seconds:.1f} s"
    assert mb < 200, f"peaked at {mb:.0f} MB"
    assert not (tmp_path / "o" / "results.sqlite").exists()
