"""Start-up CPU of the command line and of a fresh worker (issue 15 item 5): goal under 0.15 s each.

Each case is a fresh process; its CPU is user + sys from wait4 (the whole process, interpreter included),
the median of --rounds runs interleaved case by case, so a change of the machine's load hits every case alike.
`python -c pass` and `python -c "import numpy"` are measured in the same run as the floors they are.

    python benchmarks/startup.py [--rounds 10] [--tree DIR] [--cached]

--tree DIR also times another source tree of optlab (DIR holds optlab/, optlab_plugins/ and optlab_studies/,
e.g. an unpacked `git archive` with plugins/ and studies/ linked under those names), put first on PYTHONPATH,
and prints both with their ratio. The worker case runs what a fresh Dask worker does before and for its first
run: import the runner, build one run's problem and optimizer by name, and run it (gd on rosenbrock, 1 step),
in the environment a Dask nanny gives the worker it spawns (`distributed.nanny.pre-spawn-environ`: one OpenMP,
MKL and OpenBLAS thread; numpy's import with OpenBLAS's default thread pool costs ~0.08 s more CPU, its
threads' start, which no worker pays); the same start with the default threads is printed beside it.
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
WORKER_READY = """
from optlab.experiment.grid import RunSpec
from optlab.experiment.runner import build
spec = RunSpec("rosenbrock", {}, "gd", {"lr": 1e-3}, "gd", 0, 1.0, {"iterations": 1}, {})
build(spec)
"""
WORKER_RUN = WORKER_READY + "from optlab.experiment.runner import execute\nassert execute(spec)[0]['nit'] == 1\n"


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


def cases() -> dict[str, tuple[list[str], bool, bool]]:
    """label -> (command, judged against the goal, run in a Dask worker's environment)."""
    py = sys.executable
    script = shutil.which("optlab", path=os.path.dirname(py))
    optlab = [script] if script else [py, "-m", "optlab"]
    return {"python -c pass": ([py, "-c", "pass"], False, False),
            'python -c "import numpy"': ([py, "-c", "import numpy"], False, False),
            'python -c "import numpy", one BLAS thread (as a Dask worker)': ([py, "-c", "import numpy"], False, True),
            "optlab --help": ([*optlab, "--help"], True, False),
            "optlab list": ([*optlab, "list"], True, False),
            "optlab list problems --json": ([*optlab, "list", "problems", "--json"], True, False),
            "spawned worker: ready (runner, problem, optimizer)": ([py, "-c", WORKER_READY], True, True),
            "the same with OpenBLAS's default threads (no nanny)": ([py, "-c", WORKER_READY], False, False),
            "spawned worker: first run done (1 step)": ([py, "-c", WORKER_RUN], False, True)}


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
    table = cases()
    nanny = nanny_environ()
    times: dict[tuple[str, str], list[float]] = {(e, c): [] for e in envs for c in table}
    for command, _, worker in table.values():  # warm-up: the page cache, and the bytecode with --cached
        for env in envs.values():
            cpu(command, {**env, **nanny} if worker else env)
    for _ in range(args.rounds):
        for label, (command, _, worker) in table.items():
            for name, env in envs.items():
                times[name, label].append(cpu(command, {**env, **nanny} if worker else env))
    load = os.getloadavg()
    print(f"CPU seconds (user + sys, whole process), median of {args.rounds}; load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores; "
          f"bytecode {'cached' if args.cached else 'as the environment: PYTHONDONTWRITEBYTECODE='}"
          f"{'' if args.cached else os.environ.get('PYTHONDONTWRITEBYTECODE', '')}")
    for name, env in envs.items():
        print(f"  {name}: {where(env)}")
    print(f"  a Dask worker's environment (the nanny's pre-spawn-environ): {nanny}")
    bare = {name: statistics.median(times[name, "python -c pass"]) for name in envs}
    heads = [f"{name} CPU s" for name in envs] + (["ratio"] if len(envs) > 1 else [])
    print("\n| case | " + " | ".join(heads) + " | optlab's share (minus `pass`) | goal < 0.15 s |")
    print("|:---|" + "---:|" * (len(heads) + 2))
    for label, (_, judged, _) in table.items():
        med = {name: statistics.median(times[name, label]) for name in envs}
        cells = [f"{med[name]:.3f} [{min(times[name, label]):.3f}-{max(times[name, label]):.3f}]" for name in envs]
        if len(envs) > 1:
            first, last = list(med.values())
            cells.append(f"{last / first:.2f}")
        now = med["this tree"]
        share = "-" if label == "python -c pass" else f"{now - bare['this tree']:.3f}"
        verdict = ("PASS" if now < GOAL else "MISS") if judged else "-"
        print(f"| {label} | " + " | ".join(cells) + f" | {share} | {verdict} |")


if __name__ == "__main__":
    main()
