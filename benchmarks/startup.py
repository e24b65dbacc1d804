"""Start-up CPU of the command line and of a fresh worker (issue 15 item 5): goal under 0.15 s each.

Each case is a fresh process; its CPU is user + sys from wait4 (the whole process, interpreter included),
the median of --rounds runs interleaved case by case, so a change of the machine's load hits every case alike.
`python -c pass` and `python -c "import numpy"` are measured in the same run as the floors they are.

    python benchmarks/startup.py [--rounds 10] [--tree DIR] [--cached]

--tree DIR also times another source tree of optlab (DIR holds optlab/, optlab_plugins/ and optlab_studies/,
e.g. an unpacked `git archive` with plugins/ and studies/ linked under those names), put first on PYTHONPATH,
and prints both with their ratio. The worker cases run what a fresh Dask worker does for its first task: each
tree's driver plans a one-run config (gd on rosenbrock, 1 step) and pickles (execute, RunSpec) as Dask sends it;
the worker unpickles it and runs the dask executor's `_task` on it: up to its fork (the plugins imported, and
what the forked child is to inherit), and whole (forked child, run, result back). A Dask worker has imported
distributed (and with it numpy, yaml, asyncio, importlib.metadata) before any task: these cases import it first
and are judged by what they add to it. The same task run in-process by a plain process (no distributed) is
judged against bare Python. They run in the environment a Dask nanny gives the worker it spawns
(`distributed.nanny.pre-spawn-environ`: one OpenMP, MKL and OpenBLAS thread; numpy's import with OpenBLAS's
default thread pool costs ~0.05 s more CPU, its threads' start, which no worker pays); the same start with the
default threads is printed beside it, and a hand-made RunSpec (no plugin addresses: the registry finds its
objects by name) beside that.
--cached writes bytecode (to a temporary PYTHONPYCACHEPREFIX), as an installed optlab has it; without it the
environment decides (here PYTHONDONTWRITEBYTECODE=1: every module compiled at every start). One warm-up
round of every case is run first and not counted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

GOAL = 0.15  # seconds of CPU, whole process
NEUTRAL = tempfile.gettempdir()  # the processes' folder: `python -c` puts it first on sys.path, so not a source tree
# A Dask worker's first task, as the driver sends it: (execute, RunSpec) pickled by the tree's own `plan` of a
# one-run config (gd on rosenbrock, 1 step), run through the dask executor's task function `_task`.
CONFIG = ("name: startup\nproblems: [rosenbrock]\noptimizers: [{name: gd, params: {lr: 0.001}}]\n"
          "budget: {iterations: 1}\n")
PAYLOAD = """
import pickle, sys
from optlab.experiment.config import load_config
from optlab.experiment.runner import execute, plan
[spec] = plan(load_config(sys.argv[1]))
open(sys.argv[2], "wb").write(pickle.dumps((execute, spec)))
"""
# A Dask worker process has imported distributed (0.15 s here) before its first task: imported first, its own
# cost is the floor these cases are measured against (the case "a Dask worker's own imports").
DASK = "try:\n    import distributed\nexcept ImportError:\n    pass\n"
TASK = DASK + ("import pickle, sys\nfn, spec = pickle.load(open(sys.argv[1], 'rb'))\n"
               "import optlab_plugins.executors as ex\n")
# up to its fork: `call` replaced by the imports it makes first (this tree: `inherit`; older: isolation.INHERITED)
TASK_READY = TASK + ("import importlib, optlab.experiment.isolation as iso\n"
                     "ex.call = lambda *a: [importlib.import_module(m)\n"
                     "                      for m in (a[4] if len(a) > 4 else iso.INHERITED)]\n"
                     "ex._task(fn, spec, None)\n")
TASK_RUN = TASK + "assert ex._task(fn, spec, None).value[0]['nit'] == 1\n"
# the same task in a plain process, without distributed (whose imports include numpy): unpickled and run in-process
PLAIN_RUN = "import pickle, sys\nfn, spec = pickle.load(open(sys.argv[1], 'rb'))\nassert fn(spec)[0]['nit'] == 1\n"
BY_NAME = """
from optlab.experiment.grid import RunSpec
from optlab.experiment.runner import build
spec = RunSpec("rosenbrock", {}, "gd", {"lr": 1e-3}, "gd", 0, 1.0, {"iterations": 1}, {})
build(spec)
"""


# distributed's default pre-spawn-environ (as in distributed 2026.8.0), for when dask is not installed
NANNY_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "OPENBLAS_NUM_THREADS": "1"}


def nanny_environ() -> dict[str, str]:
    """The variables a Dask nanny sets in a worker's environment before spawning it (its config's, else the default)."""
    try:
        import dask.config
        import distributed  # noqa: F401 (registers the distributed.* config defaults)
    except ImportError:
        return NANNY_ENVIRON
    return {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", NANNY_ENVIRON).items()}


def cases(payload: str) -> dict[str, tuple[list[str], bool, bool, str]]:
    """label -> (command, judged against the goal, run in a Dask worker's environment, the floor it is judged
    above: optlab's share is its CPU minus that floor's, and the goal is met when share + `pass` < GOAL)."""
    py = sys.executable
    script = shutil.which("optlab", path=os.path.dirname(py))
    optlab = [script] if script else [py, "-m", "optlab"]
    bare, dask = "python -c pass", "a Dask worker's own imports (distributed), one BLAS thread"
    return {bare: ([py, "-c", "pass"], False, False, bare),
            'python -c "import numpy"': ([py, "-c", "import numpy"], False, False, bare),
            'python -c "import numpy", one BLAS thread (as a Dask worker)': ([py, "-c", "import numpy"], False, True,
                                                                              bare),
            dask: ([py, "-c", DASK], False, True, bare),
            "optlab --help": ([*optlab, "--help"], True, False, bare),
            "optlab list": ([*optlab, "list"], True, False, bare),
            "optlab list problems --json": ([*optlab, "list", "problems", "--json"], True, False, bare),
            "spawned worker: first task unpickled, its plugins imported (before its fork)":
                ([py, "-c", TASK_READY, payload], True, True, dask),
            "the same with OpenBLAS's default threads (no nanny)": ([py, "-c", TASK_READY, payload], False, False,
                                                                    dask),
            "spawned worker: first task done (forked child, 1 step)": ([py, "-c", TASK_RUN, payload], True, True, dask),
            "plain process (no distributed): the task unpickled and run in-process": ([py, "-c", PLAIN_RUN, payload],
                                                                                      True, True, bare),
            "a hand-made RunSpec built by name (the registry), no distributed": ([py, "-c", BY_NAME], False, True,
                                                                                 bare)}


def cpu(command: list[str], env: dict[str, str]) -> float:
    """User + sys CPU seconds of one run of `command` (stdout a pipe, as when piped or scripted)."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=NEUTRAL)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"{' '.join(command)[:80]}: exit status {status}\n{err}")
    return usage.ru_utime + usage.ru_stime


def environments(tree: str | None, cached: bool) -> dict[str, dict[str, str]]:
    env = dict(os.environ)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="optlab-startup-pycache-")
    out = {"this tree": env}
    if tree:
        path = os.pathsep.join([os.path.abspath(tree), *filter(None, [env.get("PYTHONPATH")])])
        out = {"--tree": {**env, "PYTHONPATH": path}, **out}
    return out


def where(env: dict[str, str]) -> str:
    code = "import optlab, optlab_plugins; print(optlab.__file__, optlab_plugins.__file__)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=NEUTRAL).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tree", help="another optlab source tree to time beside this one")
    parser.add_argument("--cached", action="store_true", help="with bytecode written and reused")
    args = parser.parse_args()
    envs = environments(args.tree, args.cached)
    folder = tempfile.mkdtemp(prefix="optlab-startup-")
    config = os.path.join(folder, "startup.yaml")
    with open(config, "w") as handle:
        handle.write(CONFIG)
    payloads = {}
    for name, env in envs.items():  # each tree's driver plans its own task
        payloads[name] = os.path.join(folder, f"task-{len(payloads)}.pickle")
        subprocess.run([sys.executable, "-c", PAYLOAD, config, payloads[name]], env=env, cwd=NEUTRAL, check=True)
    tables = {name: cases(payloads[name]) for name in envs}
    table = tables["this tree"]
    nanny = nanny_environ()
    times: dict[tuple[str, str], list[float]] = {(e, c): [] for e in envs for c in table}
    for label in table:  # warm-up: the page cache, and the bytecode with --cached
        for name, env in envs.items():
            command, _, worker, _ = tables[name][label]
            cpu(command, {**env, **nanny} if worker else env)
    for _ in range(args.rounds):
        for label in table:
            for name, env in envs.items():
                command, _, worker, _ = tables[name][label]
                times[name, label].append(cpu(command, {**env, **nanny} if worker else env))
    load = os.getloadavg()
    print(f"CPU seconds (user + sys, whole process), median of {args.rounds}; load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores; "
          f"bytecode {'cached' if args.cached else 'as the environment: PYTHONDONTWRITEBYTECODE='}"
          f"{'' if args.cached else os.environ.get('PYTHONDONTWRITEBYTECODE', '')}")
    for name, env in envs.items():
        print(f"  {name}: {where(env)}")
    print(f"  a Dask worker's environment (the nanny's pre-spawn-environ): {nanny}")
    bare_label = "python -c pass"
    bare = statistics.median(times["this tree", bare_label])
    heads = [f"{name} CPU s" for name in envs] + (["ratio"] if len(envs) > 1 else [])
    print("\n| case | " + " | ".join(heads) + " | optlab's share (minus its floor) | goal < 0.15 s |")
    print("|:---|" + "---:|" * (len(heads) + 2))
    for label, (_, judged, _, floor) in table.items():
        med = {name: statistics.median(times[name, label]) for name in envs}
        cells = [f"{med[name]:.3f} [{min(times[name, label]):.3f}-{max(times[name, label]):.3f}]" for name in envs]
        if len(envs) > 1:
            first, last = list(med.values())
            cells.append(f"{last / first:.2f}")
        share = med["this tree"] - statistics.median(times["this tree", floor])
        shown = "-" if label == floor else f"{share:.3f}" + ("" if floor == bare_label else " (minus distributed)")
        verdict = ("PASS" if share + bare < GOAL else "MISS") if judged else "-"
        print(f"| {label} | " + " | ".join(cells) + f" | {shown} | {verdict} |")


if __name__ == "__main__":
    main()
