"""Plugins end to end: an installed package, local files, duplicates, autoload switch, list/check/new-plugin."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

import optlab.registry
from optlab.cli import main
from optlab.registry import PluginError, Registry

PLUGIN = '''
import numpy as np
from optlab import hookimpl
from optlab.optim import Optimizer, Params, State


class {cls}(Optimizer):
    name = "{name}"

    def step(self, oracle, state):
        {step}


@hookimpl
def optlab_optimizers():
    return [{cls}]
'''
GOOD_STEP = ("f, g = oracle.f_and_grad(state.x - 0.1 * state.g)\n"
             "        return State(x=state.x - 0.1 * state.g, f=f, g=g)")
STUCK_STEP = "return state  # never moves: cannot solve, never sees the NaN"


def write_plugin(path: Path, name: str, step: str = GOOD_STEP) -> Path:
    path.write_text(PLUGIN.format(cls=name.capitalize(), name=name, step=step))
    return path


@pytest.fixture
def fresh_registry(monkeypatch):
    """A new process-wide registry for this test, so files it loads do not leak into others."""
    monkeypatch.setattr(optlab.registry, "_default", None)


def cli_json(capsys, *argv: str) -> list[dict]:
    assert main([*argv, "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- an installed third-party package, in a real temporary environment -----------------------------

VENV_SCRIPT = textwrap.dedent('''
    import json, os
    import numpy as np
    import optlab
    import optlab.autodiff.functions as F
    from optlab.registry import registry
    entries = registry().entries("optimizers")["optimizers"]
    row = {"names": sorted(entries), "source": entries["heavy"].source if "heavy" in entries else None}
    if "heavy" in entries:
        r = optlab.minimize(lambda x: F.sum((x - 3.0) ** 2), np.zeros(3), method="heavy")
        row.update(status=r.status_name, x=r.x.tolist())
    print(json.dumps(row))
''')


def outer_site_dirs() -> list[str]:
    """This interpreter's site directories, in its order: optlab (installed or editable), pip, setuptools, pytest."""
    dirs = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory) -> Path:
    """A new venv that sees this interpreter's packages, with `optlab new-plugin heavy` pip-installed into it.

    The venv is made without system site packages and given this interpreter's site directories
    through a .pth file: `system_site_packages` would show the *base* interpreter's packages, which
    is not where optlab is installed when the tests themselves run in a venv.
    """
    root = tmp_path_factory.mktemp("thirdparty")
    assert main(["new-plugin", "heavy", "--dir", str(root)]) == 0
    env_dir = root / "venv"
    try:
        venv.EnvBuilder(with_pip=False).create(env_dir)
    except Exception as e:  # no ensurepip/venv support on this interpreter
        pytest.skip(f"cannot create a virtual environment: {e}")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "outer_site.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in outer_site_dirs()) + "\n")
    # offline and with this environment's setuptools (the test extra asks for one that builds wheels itself)
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", str(root / "optlab-heavy")], capture_output=True, text=True)
    needs = "\nthe offline build needs the test extra's setuptools>=70.1: pip install -e '.[test]'"
    assert install.returncode == 0, install.stdout + install.stderr + needs
    return python


def venv_run(python: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "OPTLAB_DISABLE_PLUGIN_AUTOLOAD"}
    return subprocess.run([python, *args], capture_output=True, text=True, env={**environ, **env}, timeout=120)


def test_installed_package_is_discovered_listed_and_run(plugin_venv):
    out = venv_run(plugin_venv, "-c", VENV_SCRIPT)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert row["source"] == "package optlab-heavy 0.1.0"
    assert {"gd", "scipy.bfgs", "heavy"} <= set(row["names"])
    assert row["status"] == "converged" and row["x"] == pytest.approx([3.0] * 3, abs=1e-4)

    listed = venv_run(plugin_venv, "-c", "from optlab.cli import main; main(['list', 'optimizers', '--json'])")
    assert listed.returncode == 0, listed.stderr
    heavy = next(r for r in json.loads(listed.stdout) if r["name"] == "heavy")
    assert heavy["source"] == "package optlab-heavy 0.1.0" and heavy["parameters"]["step"] == 1.0


def test_disable_autoload_drops_the_package_but_keeps_builtins(plugin_venv):
    out = venv_run(plugin_venv, "-c", VENV_SCRIPT, OPTLAB_DISABLE_PLUGIN_AUTOLOAD="1")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert row["source"] is None
    assert {"gd", "adam", "scipy.bfgs"} <= set(row["names"])


def test_generated_test_passes_in_the_environment(plugin_venv):
    package = plugin_venv.parents[2] / "optlab-heavy"
    out = venv_run(plugin_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package))
    assert out.returncode == 0, out.stdout + out.stderr


# --- local files, duplicates, the autoload switch in-process --------------------------------------

def test_local_plugin_file_via_cli_option(tmp_path, capsys, fresh_registry):
    path = write_plugin(tmp_path / "mine.py", "mine")
    rows = cli_json(capsys, "--plugin", str(path))
    mine = next(r for r in rows if r["name"] == "mine")
    assert mine["kind"] == "optimizer" and mine["source"] == f"file {path.resolve()}"


def test_local_file_with_postponed_annotations_and_literal_params(tmp_path, capsys, fresh_registry):
    """pydantic resolves `from __future__ import annotations` through sys.modules: the file must be there."""
    path = tmp_path / "lit.py"
    params = 'name = "lit"\n\n    class Params(Params):\n        mode: Literal["a", "b"] = "a"'
    path.write_text("from __future__ import annotations\nfrom typing import Literal\n"
                    + PLUGIN.format(cls="Lit", name="lit", step=GOOD_STEP).replace('name = "lit"', params))
    assert main(["--plugin", str(path), "check-plugin", "lit", "-p", "mode=b"]) == 0
    assert main(["check-plugin", "lit", "-p", "mode=c"]) == 2
    assert "mode" in capsys.readouterr().err


def test_missing_plugin_file_is_one_line_exit_2(tmp_path, capsys, fresh_registry):
    assert main(["--plugin", str(tmp_path / "nope.py"), "list"]) == 2
    err = capsys.readouterr().err
    assert "nope.py" in err and "does not exist" in err and err.count("\n") == 1


def test_duplicate_names_name_both_sources(tmp_path):
    a, b = write_plugin(tmp_path / "a.py", "twin"), write_plugin(tmp_path / "b.py", "twin")
    with pytest.raises(PluginError) as e:
        Registry(files=[a, b])
    assert str(a) in str(e.value) and str(b) in str(e.value) and "'twin'" in str(e.value)
    with pytest.raises(PluginError, match="built-in.*gd.py|gd.py.*built-in"):
        Registry(files=[write_plugin(tmp_path / "gd.py", "gd")])


def test_disable_autoload_keeps_builtins(monkeypatch):
    monkeypatch.setenv("OPTLAB_DISABLE_PLUGIN_AUTOLOAD", "1")
    found = Registry().entries("optimizers")["optimizers"]
    assert {"gd", "adam", "scipy.bfgs", "scipy.trust-exact"} <= set(found)
    assert {e.source for e in found.values()} == {"built-in"}


# --- list, check-plugin, new-plugin -----------------------------------------------------------------

def test_list_json_includes_gd_with_its_defaults(capsys):
    rows = cli_json(capsys)
    gd = next(r for r in rows if r["name"] == "gd")
    assert gd["kind"] == "optimizer" and gd["source"] == "built-in"
    assert gd["parameters"]["lr"] == 0.001 and gd["parameters"]["nesterov"] is False
    kinds = {r["kind"] for r in rows}
    assert "optimizer" in kinds


def test_list_one_kind_as_a_table(capsys):
    assert main(["list", "optimizers"]) == 0
    out = capsys.readouterr().out
    assert "gd" in out and "lr=0.001" in out and "built-in" in out


def test_check_plugin_gd_passes(capsys):
    assert main(["check-plugin", "gd"]) == 0
    out = capsys.readouterr().out
    assert out.count("pass") == 4 and "FAIL" not in out


def test_check_plugin_fails_a_broken_plugin(tmp_path, capsys, fresh_registry):
    path = write_plugin(tmp_path / "stuck.py", "stuck", STUCK_STEP)
    assert main(["--plugin", str(path), "check-plugin", "stuck"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "solves a quadratic" in out


def test_check_plugin_unknown_name_suggests_closest(capsys):
    assert main(["check-plugin", "gdd"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'gd'" in err


def test_check_plugin_bad_parameter_exit_2(capsys):
    assert main(["check-plugin", "gd", "-p", "lr=-1"]) == 2
    assert "lr" in capsys.readouterr().err


def test_new_plugin_writes_three_files_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["new-plugin", "bb", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "optlab-bb"
    assert sorted(p.name for p in root.iterdir()) == ["optlab_bb.py", "pyproject.toml", "test_optlab_bb.py"]
    assert 'bb = "optlab_bb"' in (root / "pyproject.toml").read_text()
    before = (root / "optlab_bb.py").read_text()
    assert main(["new-plugin", "bb", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (root / "optlab_bb.py").read_text() == before


@pytest.mark.parametrize("name", ["Bad", "with-dash", "1st", "a b", ""])
def test_new_plugin_bad_names_exit_2(tmp_path, capsys, name):
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 2
    assert "bad plugin name" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_new_plugin_module_passes_conformance_as_a_local_file(tmp_path, fresh_registry):
    from optlab.conformance import run_checks
    from optlab.registry import registry

    main(["new-plugin", "starter", "--dir", str(tmp_path)])
    registry().load_file(tmp_path / "optlab-starter" / "optlab_starter.py")
    assert all(c.passed for c in run_checks("starter")), run_checks("starter")


def test_cli_subprocess_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import sys; from optlab.cli import main; sys.exit(main())",
                          "list", "optimizers", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and any(r["name"] == "scipy.bfgs" for r in json.loads(out.stdout))
