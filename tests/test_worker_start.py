"""A worker runs the task the driver planned from the addresses it resolved (issue 15 item 5).

The driver's registry finds each run's problem, optimizer and evaluation and writes where they live into the
RunSpec (`where`); a fresh worker imports those modules only. Checked by behaviour and by the modules a fresh
interpreter holds, not by a clock.
"""
import dataclasses
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import optlab
from optlab.experiment.config import Config
from optlab.experiment.runner import execute, plan
from optlab.experiment.spec import RunSpec, address, locate
from optlab.experiment.worker import evaluate
from optlab.optim.loop import Fields, run, run_fields

CONFIG = {"name": "worker", "problems": ["rosenbrock", "beale"], "seeds": [0],
          "optimizers": [{"name": "gd", "params": {"lr": 1e-3}}, "lbfgs", "newton", "trust-ncg", "scipy.trust-ncg"],
          "budget": {"iterations": 40}}
TIMING = ("wall_seconds", "oracle_seconds")


def planned(config: dict = CONFIG, source: str = "config") -> list[RunSpec]:
    return plan(Config.model_validate(config), source)


def comparable(row: dict, trace: list[dict]) -> tuple[dict, list[dict]]:
    """A run's row and trace without the clock's readings."""
    return ({k: v for k, v in row.items() if k not in TIMING},
            [{k: v for k, v in point.items() if k != "seconds"} for point in trace])


def test_the_driver_writes_where_each_plugin_object_lives():
    specs = planned()
    for spec in specs:
        assert set(spec.where) == {"problems", "optimizers", "evaluations"}
        assert spec.where["evaluations"] == ""  # MGH problems have no evaluation
        assert locate(spec.where["problems"]) is optlab.registry.registry().get("problems", spec.problem)
        assert locate(spec.where["optimizers"]) is optlab.registry.registry().get("optimizers", spec.optimizer)
    assert {s.where["optimizers"] for s in specs if s.optimizer == "scipy.trust-ncg"} == {
        "optlab_plugins.scipy_baselines:TrustNCG"}


def test_a_run_from_its_addresses_equals_the_run_looked_up_by_name():
    """Bit for bit: the same rows and traces (clock aside) whether the worker imports the addresses or asks
    the registry, for first-order, second-order and scipy methods."""
    for spec in planned():
        by_name = dataclasses.replace(spec, where={})
        assert comparable(*execute(spec)) == comparable(*execute(by_name)), spec.label


def test_only_objects_that_their_address_gives_back_get_one():
    def closure():
        pass

    assert address(Fields) == "optlab.optim.loop:Fields"
    assert address(closure) is None  # a local function: no module attribute holds it
    assert address(np.float64(1.0)) is None  # an instance: no qualname
    made = type("Made", (), {"__module__": "optlab.optim.loop"})
    assert address(made) is None  # a class a hook made: its module holds no such name


def test_a_plugin_file_is_looked_up_by_name_in_the_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(optlab.registry, "_default", None)  # a registry of its own: the file's names stay here
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(textwrap.dedent("""
        import numpy as np
        from optlab import hookimpl
        from optlab.optim import Problem
        import optlab.autodiff.functions as F

        def bowl():
            return Problem(name="bowl", objective=lambda x: F.sum(x * x), x0=np.ones(3))

        @hookimpl
        def optlab_problems():
            return {"bowl": bowl}
    """))
    config = {**CONFIG, "problems": ["bowl", "rosenbrock"], "optimizers": ["gd"], "plugins": [str(plugin)]}
    specs = {s.problem: s for s in planned(config, str(tmp_path / "c.yaml"))}
    assert "problems" not in specs["bowl"].where and specs["bowl"].where["optimizers"] == "optlab_plugins.gd:" \
        "GradientDescent"
    assert specs["rosenbrock"].where["problems"] == "optlab_plugins.mgh:rosenbrock"
    row, trace = execute(specs["bowl"])
    assert row["status"] != "error" and row["nit"] == 40, row["message"]


def test_run_still_returns_scipys_result_with_the_fields_of_the_workers_run():
    problem = optlab.problems.get("rosenbrock")
    gd = optlab.registry.registry().get("optimizers", "gd")
    result, fields = run(gd(lr=1e-3), problem), run_fields(gd(lr=1e-3), problem)
    assert type(result) is OptimizeResult and type(fields) is Fields
    assert result.keys() == fields.keys()
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "status", "message", "status_name"):
        assert np.array_equal(result[key], fields[key]) if key in ("x", "jac") else result[key] == fields[key]
    assert {**result.counts, "seconds": 0} == {**fields.counts, "seconds": 0}  # the oracle's clock aside
    assert fields.nit == fields["nit"]
    fields.message = "changed"
    assert fields["message"] == "changed"
    with pytest.raises(AttributeError):
        fields.nope  # noqa: B018
    assert isinstance(optlab.minimize(problem.objective, problem.x0, method="gd"), OptimizeResult)


def test_an_evaluation_gets_an_optimize_result(tmp_path, monkeypatch):
    (tmp_path / "my_evaluation.py").write_text(
        "def evaluate(problem, result):\n    return {'type': type(result).__name__, 'nit': result.nit}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = dataclasses.replace(planned()[0], where={**planned()[0].where, "evaluations": "my_evaluation:evaluate"})
    assert evaluate(spec, None, Fields(nit=3)) == {"type": "OptimizeResult", "nit": 3}
    assert evaluate(planned()[0], None, Fields(nit=3)) is None


def fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


LIGHT = ("scipy", "yaml", "optlab.registry", "optlab.experiment.config", "optlab.experiment.grid",
         "optlab.experiment.store", "optlab.experiment.runner", "optlab_plugins.catalogue")
TASK = """
import pickle, sys
fn, spec = pickle.loads({payload!r})
{body}
print(",".join(sorted(m for m in sys.modules if m in {light!r} or m.startswith("optlab_plugins."))))
"""


def test_a_fresh_worker_imports_its_runs_plugins_and_no_registry_config_or_scipy():
    """What a Dask worker imports for gd on rosenbrock: the two plugin modules, not the registry, the config
    models, YAML, the store nor any scipy (the loop's result is a plain dict until an evaluation needs scipy's)."""
    [spec] = [s for s in planned() if s.optimizer == "gd" and s.problem == "rosenbrock"]
    payload = pickle.dumps((execute, spec))
    body = "row, trace = fn(spec)\nassert row['status'] == 'max_iter' and row['nit'] == 40, row"
    assert fresh(TASK.format(payload=payload, body=body, light=LIGHT)) == "optlab_plugins.gd,optlab_plugins.mgh"


def test_a_dask_task_warms_its_child_with_scipy_only_when_its_run_needs_it():
    """Before its fork a Dask task imports the run's plugin modules; scipy.optimize (isolation.INHERITED, with
    scipy.linalg) only when they import scipy, as the scipy baselines and second-order methods do."""
    specs = {s.optimizer: s for s in planned() if s.problem == "rosenbrock"}
    body = "from optlab.experiment.worker import warm\nprint(warm(spec))"
    for name, inherits, modules in [("gd", (), "optlab_plugins.gd,optlab_plugins.mgh"),
                                    ("scipy.trust-ncg", ("scipy.optimize",),
                                     "optlab_plugins.mgh,optlab_plugins.scipy_baselines,scipy"),
                                    ("newton", ("scipy.optimize",), "optlab_plugins.mgh,optlab_plugins.newton,scipy")]:
        code = TASK.format(payload=pickle.dumps((execute, specs[name])), body=body, light=LIGHT)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        printed, loaded = proc.stdout.strip().splitlines()[-2:]
        assert (printed, loaded) == (repr(inherits), modules), name
