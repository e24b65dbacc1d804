"""Every error a user can cause at the command line ends in one line, exit 2 (bad input) or 1 (failure).

`optlab --debug ...` shows the traceback instead.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import optlab
import optlab.registry
from optlab.cli import main
from optlab.registry import PluginError

CONFIG = """\
name: tiny
problems: [rosenbrock]
optimizers: [gd]
budget: {iterations: 5}
executor: serial
"""
BOOM = '''
from optlab import hookimpl
from optlab.optim import Optimizer


class Boom(Optimizer):
    name = "boom"

    def init(self, oracle, x0):
        raise RuntimeError("boom at the start")


@hookimpl
def optlab_optimizers():
    return [Boom]
'''


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Plugin files loaded by one test must not leak into the next."""
    monkeypatch.setattr(optlab.registry, "_default", None)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def error_line(capsys) -> str:
    """The one line optlab printed for the error (progress output aside), checked to be alone."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("optlab:")]
    assert len(lines) == 1, err
    return lines[0]


def test_dask_executor_without_dask_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    """Refused before any run starts, as an executor that cannot start (an unreachable scheduler) is."""
    config = write(tmp_path / "c.yaml", CONFIG)
    monkeypatch.setitem(sys.modules, "dask", None)  # as if dask were not installed
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--executor", "dask"]) == 2
    line = error_line(capsys)
    assert "dask" in line and "pip install" in line


def test_debug_shows_the_traceback(tmp_path):
    config = write(tmp_path / "c.yaml", CONFIG)
    (tmp_path / "afile").write_text("")  # the output folder is a file: a runtime failure
    with pytest.raises(OSError):
        main(["--debug", "run", str(config), "--out", str(tmp_path / "afile")])


def test_export_to_a_new_folder_makes_it(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", CONFIG)
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 0
    target = tmp_path / "new" / "deeper"
    assert main(["export", str(tmp_path / "out"), "--to", str(target)]) == 0
    runs = (target / "runs.csv").read_text().splitlines()
    assert len(runs) == 2 and "rosenbrock" in runs[1]  # a header and the one run
    capsys.readouterr()
    (tmp_path / "afile").write_text("")
    assert main(["export", str(tmp_path / "out"), "--to", str(tmp_path / "afile")]) == 2
    assert "is a file, not a folder" in error_line(capsys)


def test_graph_to_an_unknown_format(tmp_path, capsys):
    assert main(["graph", "-o", str(tmp_path / "a.jpg")]) == 2
    line = error_line(capsys)
    assert ".jpg" in line and ".png" in line and "Graphviz" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("body,match", [
    ('return "gd2"', "returned str 'gd2'; it must return a list"),
    ("return [object()]", "has no name"),
    ("raise KeyError('x')", "failed: KeyError"),
])
def test_plugin_hook_returning_nonsense(tmp_path, capsys, body, match):
    plugin = write(tmp_path / "bad.py", f"from optlab import hookimpl\n\n\n@hookimpl\ndef optlab_optimizers():\n"
                                        f"    {body}\n")
    assert main(["--plugin", str(plugin), "list"]) == 2
    line = error_line(capsys)
    assert match in line and str(plugin) in line and "optlab_optimizers" in line


def test_report_on_a_study_whose_runs_all_errored(tmp_path, capsys, monkeypatch):
    study = tmp_path / "study"
    write(study / "boom.py", BOOM)
    config = write(study / "c.yaml", CONFIG.replace("[gd]", "[boom]") + "plugins: [boom.py]\n")
    monkeypatch.chdir(tmp_path)  # elsewhere than the config: plugins: is read relative to the config file
    assert main(["run", str(config), "--out", "out"]) == 0
    assert main(["report", "out"]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| boom |" in report and "error" in report and "no run recorded an iterate" in report


def test_plugins_are_found_next_to_the_config(tmp_path, capsys, monkeypatch):
    write(tmp_path / "study" / "boom.py", BOOM)
    config = write(tmp_path / "study" / "c.yaml", CONFIG.replace("[gd]", "[boom]") + "plugins: [boom.py]\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["validate", str(config)]) == 0
    assert "valid, 1 runs" in capsys.readouterr().out


@pytest.mark.parametrize("edit,match", [
    (lambda c: c + 'seeds: "3"\n', "seeds: must be a count (seeds: 3) or a list of seeds"),
    (lambda c: c.replace("optimizers:", "optimizer:"), "optimizer: unknown key; did you mean 'optimizers'?"),
    (lambda c: c.replace("budget: {iterations", "budget: {iteration"),
     "budget.iteration: unknown key; did you mean 'iterations'?"),
    (lambda c: c.replace("executor: serial", "executor: seriall"), "unknown executor 'seriall'; did you mean 'serial'"),
    (lambda c: c.replace("[gd]", '[{name: gd, params: {lr: "0.1"}}]'),
     "optimizer 'gd': parameter 'lr': expected float, got the string '0.1'"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, edit, match):
    config = write(tmp_path / "c.yaml", edit(CONFIG))
    assert main(["validate", str(config)]) == 2
    line = error_line(capsys)
    assert match in line and str(config) in line


def test_set_on_a_short_form_entry(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", CONFIG)
    assert main(["validate", str(config), "--set", "optimizers.0.params.x=1"]) == 2
    assert "optimizers[0]: optimizer 'gd': parameter 'x': unknown parameter (parameters: lr" in error_line(capsys)
    assert main(["validate", str(config), "--set", "optimizers.0.params.lr=0.5"]) == 0


def test_new_plugin_with_a_builtin_name_is_refused(tmp_path, capsys):
    assert main(["new-plugin", "newton", "--dir", str(tmp_path)]) == 2
    assert "'newton' exists already (built-in)" in error_line(capsys)
    assert not list(tmp_path.iterdir())


def test_check_plugin_bad_param_yaml(capsys):
    assert main(["check-plugin", "gd", "-p", "lr=["]) == 2
    assert "--param 'lr=[': the value is not valid YAML" in error_line(capsys)


def test_runtime_failure_is_one_line_exit_1(tmp_path, capsys):
    """A failure that is not bad input (here: the output folder is a file) is status 1, with the way to --debug."""
    config = write(tmp_path / "c.yaml", CONFIG)
    (tmp_path / "out").write_text("not a folder")
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 1
    line = error_line(capsys)
    assert "--debug" in line


def test_python_api_unknown_problem_suggests_the_closest():
    with pytest.raises(PluginError, match="unknown problem 'rosenbrok'; did you mean 'rosenbrock'"):
        optlab.problems.get("rosenbrok")
    with pytest.raises(PluginError, match="unknown parameter 'sclae'"):
        optlab.problems.get("rosenbrock", sclae=10)


USAGE_ERRORS = {  # argv -> (the parser that answers, words its one line must contain)
    "no_command": ([], "optlab", "the following arguments are required: command"),
    "unknown_command": (["rnu"], "optlab", "invalid choice: 'rnu'"),
    "run_without_config": (["run"], "optlab run", "the following arguments are required: config"),
    "run_unknown_option": (["run", "c.yaml", "--wrokers", "2"], "optlab run", "unrecognized arguments: --wrokers 2"),
    "top_unknown_option": (["--bogus", "list"], "optlab", "unrecognized arguments: --bogus"),
    "bad_choice": (["report", "out", "--xscale", "logg"], "optlab report", "argument --xscale: invalid choice: 'logg'"),
    "bad_float": (["report", "out", "--tau", "small"], "optlab report", "argument --tau: invalid float value: 'small'"),
    "bad_int": (["graph", "--order", "two"], "optlab graph", "argument --order: invalid int value: 'two'"),
    "bad_kind": (["list", "optimiser"], "optlab list", "argument KIND: invalid choice: 'optimiser'"),
    "new_plugin_without_name": (["new-plugin"], "optlab new-plugin", "the following arguments are required: name"),
}


@pytest.mark.parametrize("argv,prog,words", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_one_line_exit_2(capsys, argv, prog, words):
    """argparse's usage line and error line become one: what is wrong, and the --help that says more."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"{prog}: error: ") and words in err and err.rstrip().endswith(f"(see {prog} --help)")


def test_workers_not_a_number_is_one_line_exit_2(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", CONFIG)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--workers", "abc"]) == 2
    err = capsys.readouterr().err
    assert err == "optlab: --workers abc: expected an integer\n"
    assert not (tmp_path / "out").exists()


def test_help_is_argparse_help_exit_0(capsys):
    assert main(["run", "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: optlab run [-h]") and "--workers" in out and err == ""


def test_usage_error_from_the_installed_command(tmp_path):
    """The `optlab` script a user types (the venv's console script), not only main()."""
    script = Path(sys.executable).with_name("optlab")
    assert script.is_file(), f"no optlab script next to {sys.executable}: is optlab installed (pip install -e .)?"
    proc = subprocess.run([str(script), "run", "c.yaml", "--fersh"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "optlab run: error: unrecognized arguments: --fersh (see optlab run --help)\n"
