"""Start-up stays light (issue 15): `import optlab` and `optlab --help` import none of the heavy libraries.

Checked by the modules loaded in a fresh interpreter, not by a clock: a loaded machine cannot fail it.
"""
import importlib
import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "pydantic", "rich", "matplotlib", "pluggy", "yaml")
HELP = "import optlab.cli\nwith contextlib.redirect_stdout(io.StringIO()):\n    assert optlab.cli.main({argv!r}) == 0"
PROBE = """
import contextlib, io, sys
{code}
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code`."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [m for m in proc.stdout.strip().split(",") if m]


@pytest.mark.parametrize("code", [
    "import optlab",
    HELP.format(argv=["--help"]),
    HELP.format(argv=["run", "--help"]),
], ids=["import optlab", "optlab --help", "optlab run --help"])
def test_start_up_imports_nothing_heavy(code):
    assert loaded_after(code) == []


def test_the_lazy_names_still_arrive():
    """What `import optlab` defers is there on first use (plugins write `from optlab import hookimpl`)."""
    assert loaded_after("from optlab import hookimpl\nassert hookimpl.project_name == 'optlab'") == ["pluggy"]
    assert loaded_after(HELP.format(argv=["list", "--help"])) == []
    assert "numpy" in loaded_after("import optlab\noptlab.problems.get('rosenbrock')")


# What `optlab list` and a worker start need is numpy, pydantic, pluggy and the kernel; the run's own
# libraries load on first use (a method's first step, the loop's first result, a report's first figure).
RUN_ONLY = ("scipy.optimize", "scipy.linalg", "scipy.sparse", "matplotlib", "dask", "optlab.optim.loop",
            "optlab.experiment.report")
LIST = "import optlab.cli\nwith contextlib.redirect_stdout(io.StringIO()):\n    assert optlab.cli.main({argv!r}) == 0"


def loaded_of(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter holds after running `code`."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=names)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [m for m in proc.stdout.strip().split(",") if m]


@pytest.mark.parametrize("argv", [["list"], ["list", "optimizers", "--json"], ["list", "problems"]],
                         ids=["list", "list optimizers --json", "list problems"])
def test_list_imports_no_run_library(argv):
    assert loaded_beyond_the_kernel(LIST.format(argv=argv), RUN_ONLY) == []


def test_a_worker_starts_without_the_run_libraries():
    """What a fresh worker process (a Dask worker) loads before its first run: the runner and every plugin."""
    code = "import optlab.experiment.runner\nfrom optlab.registry import registry\nregistry().entries()"
    assert loaded_beyond_the_kernel(code, RUN_ONLY[:-2]) == []


def loaded_beyond_the_kernel(code: str, names: tuple[str, ...]) -> list[str]:
    """`loaded_of`, less what scipy.special brings by itself: the kernel needs it (sigmoid, erf), and some scipy
    releases load scipy.linalg and scipy.sparse with it (1.15.3 does, 1.17.1 does not)."""
    kernel = set(loaded_of("import scipy.special", names))
    return [m for m in loaded_of(code, names) if m not in kernel]


def test_the_run_libraries_arrive_on_first_use():
    """A method's first step imports scipy.linalg; the loop's result, scipy.optimize; and a forked worker
    inherits scipy.optimize from its driver (imported before the fork) rather than importing it again."""
    code = ("import numpy as np, optlab\n"
            "r = optlab.minimize(optlab.problems.get('rosenbrock').objective, np.array([-1.2, 1.0]), method='newton')\n"
            "assert r.success")
    assert loaded_of(code, ("scipy.optimize", "scipy.linalg")) == ["scipy.optimize", "scipy.linalg"]
    code = ("from optlab.experiment.isolation import Worker\nimport sys\n"
            "w = Worker(lambda _: 'scipy.optimize' in sys.modules)\n"
            "assert 'scipy.optimize' not in sys.modules\n"
            "assert w.call(0).value is True\nw.close()")
    assert loaded_of(code, ("scipy.optimize",)) == ["scipy.optimize"]


def test_optim_exports_every_name_lazily():
    """optlab.optim's names come from their submodules on first use; each listed one arrives, and only those."""
    import optlab.optim as optim

    assert sorted(optim.SUBMODULE) == sorted(optim.__all__)
    for name in optim.__all__:
        value = getattr(optim, name)
        assert getattr(importlib.import_module(f"optlab.optim.{optim.SUBMODULE[name]}"), name) is value
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        optim.nope  # noqa: B018


# `optlab list` answers from the built-ins' catalogue: no plugin module, numpy, scipy or pydantic is imported.
PLUGIN_CODE = ("numpy", "scipy", "pydantic", "pluggy", "optlab.optim", "optlab.autodiff", "optlab_plugins.gd",
               "optlab_plugins.mgh", "optlab_plugins.s2mpj", "optlab_plugins.scipy_baselines")


@pytest.mark.parametrize("argv", [["list"], ["list", "optimizers", "--json"], ["list", "problems"]],
                         ids=["list", "list optimizers --json", "list problems"])
def test_list_imports_no_plugin_code(argv):
    assert loaded_of(LIST.format(argv=argv), PLUGIN_CODE) == []


def test_the_catalogue_equals_the_registry(monkeypatch):
    """Every row of the catalogue (names, order, parameters and defaults) is the registry's, kind by kind."""
    import optlab.registry
    from optlab.listing import catalogued_rows
    from optlab.plugin_cli import registry_rows
    from optlab.registry import KINDS, Registry

    monkeypatch.setattr(optlab.registry, "_default", Registry())  # the entry points' alone: no earlier test's files
    for kind in (None, *KINDS):
        assert catalogued_rows(kind) == registry_rows(kind), f"python -m optlab_plugins.catalogue rewrites it ({kind})"


def test_a_plugin_the_catalogue_does_not_know_lists_through_the_registry(tmp_path):
    """A --plugin file (as a third party's package) is listed, with the built-ins, exactly as the registry has it."""
    plugin = tmp_path / "mine.py"
    plugin.write_text("from optlab import hookimpl\n\n@hookimpl\ndef optlab_problems():\n"
                      "    def mine(scale=2.0):\n        pass\n    return {'mine': mine}\n")
    code = (f"import json\nbuf = io.StringIO()\nwith contextlib.redirect_stdout(buf):\n"
            f"    assert optlab.cli.main(['--plugin', {str(plugin)!r}, 'list', 'problems', '--json']) == 0\n"
            f"rows = json.loads(buf.getvalue())\nassert rows[-1]['name'] == 'mine', rows[-1]\n"
            f"assert rows[-1]['parameters'] == {{'scale': 2.0}}\nnames = {{r['name'] for r in rows}}\n"
            f"assert {{'rosenbrock', 'cutest.ARWHEAD', 'quadratic'}} <= names, sorted(names)[:9]")
    assert "optlab_plugins.gd" in loaded_of("import optlab.cli\n" + code, PLUGIN_CODE)


def test_the_plain_table_holds_what_the_json_holds(capsys):
    """Piped, `optlab list` prints plain columns (no rich): every row's cells are the JSON rows', in order."""
    import json

    from optlab.cli import main

    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    starts = [header.index(c) for c in ("kind", "name", "source", "parameters")]
    assert header.split() == ["kind", "name", "source", "parameters"]
    expect = [[r["kind"], r["name"], r["source"], ", ".join(f"{k}={v!r}" for k, v in r["parameters"].items())]
              for r in rows]
    cells = [[line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])] for line in lines[1:]]
    assert cells == expect


def test_the_kernel_imports_scipy_special_on_first_use():
    """sigmoid and erf (scipy.special's ufuncs) are built when first named; the rest of the kernel needs no scipy."""
    assert loaded_of("import optlab.autodiff.functions", ("scipy.special",)) == []
    code = "import optlab.autodiff.functions as F\nimport scipy.special\nassert F.sigmoid.__name__ == 'sigmoid'"
    assert loaded_of("import optlab.autodiff.functions as F\nF.sigmoid", ("scipy.special",)) == ["scipy.special"]
    assert loaded_of(code, ("scipy.special",)) == ["scipy.special"]
