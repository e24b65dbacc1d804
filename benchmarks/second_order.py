"""Second-order methods, ours against scipy's, judged as `optlab report` judges (not part of the test suite).

    python benchmarks/second_order.py [--sets "MGH x0" "MGH 10x0"] [--workers N] [--seconds S] [--solved M]
    python benchmarks/second_order.py --store results/some-study      # the table of a stored study
    python benchmarks/second_order.py --timing [--sizes 10000 100000] [--repeats 3]
    python benchmarks/second_order.py --lm                              # LM against MINPACK's lmder, per problem

Per problem set and method: instances solved at tau = 1e-6 and the median weighted cost over the instances
the method solves ("own") and over those every method in the table solves ("common"). Both numbers are the
project's, not this script's: "solved" is a verdict of `optlab.experiment.judge`, and the cost
is `optlab.experiment.cost.CostModel` (the defaults, in gradients: f 0.5, gradient 1, HVP 2, Hessian or
Jacobian n; with --store the store's own model unless --cost names one, as `optlab report --cost` does).

Two measures of "solved" (--solved; by default both, one table after the other, each labelled):
- `global`: verdict `global`, final f within tau max(1, |f*|) of the instance's f* (or of the best final f
  of any run where f* is unknown): the report's headline;
- `known`: verdict `global` or `local`, i.e. also within tau of a local minimum the problem lists (MGH's
  freudenstein_roth at 48.98, biggs_exp6 at 5.66e-3): issue 16's opening measure, "f within 1e-5 of a known
  minimum", at tau. A `stationary` run (stationary away from every listed minimum) is never solved.

Runs made here go through `optlab.optim.run` with the MGH study's budget and stopping test
(experiments/second-order-mgh/config.yaml: 2000 iterations, 20000 oracle calls, 60 s; scaled gradient
<= 1e-8), so a row here is the row that study would store. `--store DIR` reads an `optlab run` output folder
instead (the S2MPJ study, say): one set per scale, methods are the stored labels, scipy's are those named
`scipy.*`.

Goal lines: "best" is the method with most solved, ties to the lower common median cost. Our best must solve
at least as many as scipy's best with no more median cost over the instances both solve (printed with the
all-methods common median too); the same comparison follows for the cheapest of our methods that solves as
many as scipy's best; arc must solve at least as many as scipy.trust-krylov; on MGH from x0, our best must
solve all 35. A summary at the end gives each goal's verdict per set and measure.

--lm: levenberg-marquardt against scipy.optimize.least_squares(method="lm") (MINPACK's lmder) on every MGH
problem from x0, with the tolerances of tests/test_second_order.py's comparison (ours: gradient test gtol 1e-12,
ftol 1e-20, 2000 iterations; lmder: xtol = ftol = gtol = 1e-15): iterations, Jacobians and f evaluations of
each, and whether the two reach the same minimizer (final f to 1e-9 relative, x to 1e-6 + 1e-6 |x|).

--timing: extended Rosenbrock (MGH 21), n = 10^4 and 10^5, wall time of our trust-ncg against scipy's
trust-ncg through the same loop and oracle, median of --repeats interleaved runs; goal: ours <= 1.2x.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import optlab.problems  # noqa: E402
from optlab.experiment.cost import CostModel  # noqa: E402
from optlab.experiment.judge import TAU, instance, references, verdict  # noqa: E402
from optlab.experiment.report import chosen_cost_model, stored_runs  # noqa: E402
from optlab.optim import Budget, Status, Stopping, run  # noqa: E402
from optlab.registry import registry  # noqa: E402

MGH = ["rosenbrock", "freudenstein_roth", "powell_badly_scaled", "brown_badly_scaled", "beale",
       "jennrich_sampson", "helical_valley", "bard", "gaussian", "meyer", "gulf", "box3", "powell_singular",
       "wood", "kowalik_osborne", "brown_dennis", "osborne1", "biggs_exp6", "osborne2", "watson",
       "extended_rosenbrock", "extended_powell", "penalty1", "penalty2", "variably_dimensioned",
       "trigonometric", "brown_almost_linear", "discrete_boundary_value", "discrete_integral_equation",
       "broyden_tridiagonal", "broyden_banded", "linear_full_rank", "linear_rank1", "linear_rank1_zero",
       "chebyquad"]
OURS = ["newton", "newton:gill-murray", "newton-cg", "newton-cg:lbfgs", "newton-cg:diag", "trust-ncg",
        "trust-ncg:lbfgs", "trust-ncg:diag", "trust-exact", "trust-krylov", "arc", "saddle-free-newton",
        "hessian-free", "gauss-newton", "levenberg-marquardt", "lbfgs"]
SCIPY = ["scipy.newton-cg", "scipy.trust-ncg", "scipy.trust-krylov", "scipy.trust-exact", "scipy.bfgs",
         "scipy.l-bfgs-b"]
VARIANTS = {"newton:gill-murray": ("newton", {"factorization": "gill-murray"}),
            "newton-cg:lbfgs": ("newton-cg", {"preconditioner": "lbfgs"}),
            "newton-cg:diag": ("newton-cg", {"preconditioner": "diag"}),
            "trust-ncg:lbfgs": ("trust-ncg", {"preconditioner": "lbfgs"}),
            "trust-ncg:diag": ("trust-ncg", {"preconditioner": "diag"})}
SETS = {"MGH x0": 1.0, "MGH 10x0": 10.0}
STUDY_BUDGET = {"iterations": 2000, "oracle_calls": 20000, "seconds": 60.0}
STUDY_STOPPING = {"test": "gradient", "sgtol": 1e-8}
ROSEN_BUDGET = {"iterations": 2000, "seconds": 120.0}
MEASURES = {"global": ("global",), "known": ("global", "local")}  # --solved: the verdicts that count as solved


def one_run(job: tuple[str, str, float, dict]) -> dict[str, Any]:
    """Run `label` on `problem` at `scale`; a row with the fields the store keeps and the judge reads."""
    label, problem_name, scale, budget = job
    row: dict[str, Any] = {"run_id": f"{label}/{problem_name}/{scale:g}", "label": label, "problem": problem_name,
                           "scale": scale, "instance_params": {}, "seed": 0}
    try:
        problem = optlab.problems.get(problem_name, scale=scale)
        name, params = VARIANTS.get(label, (label, {}))
        res = run(registry().get("optimizers", name)(**params), problem, Budget(**budget), Stopping(**STUDY_STOPPING))
        row.update(status=res.status_name, n=problem.n, nit=res.nit, f_final=float(res.fun), f_star=problem.f_star,
                   local_minima=list(problem.local_minima), reference=problem.reference,
                   scaled_gradient=res.scaled_gradient, wall_seconds=res.wall_seconds,
                   **{k: res.counts[k] for k in ("nfev", "ngev", "nhvp", "nhess")})
    except Exception as e:  # a setup failure is an unsolved run, never the end of the table
        row.update(status=Status.ERROR, f_final=None, message=f"{type(e).__name__}: {e}"[:160])
    return row


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def table(rows: list[dict[str, Any]], cost: CostModel, ours: list[str], theirs: list[str], title: str,
          measure: str = "global", all_goal: bool = False) -> dict:
    """Print one set's table and goal lines with "solved" as `measure` says (a key of MEASURES); return solved
    instances, costs per method and the goals' verdicts (for tests, and the summary). `all_goal`: our best
    must solve every instance of the set (issue 16's goal on MGH from x0)."""
    counted = MEASURES[measure]
    refs = references(rows)
    labels = [m for m in ours + theirs if any(r["label"] == m for r in rows)]
    keys = sorted({instance(r) for r in rows})
    solved: dict[str, set] = {m: set() for m in labels}
    costs: dict[tuple[str, Any], float] = {}
    for r in rows:
        if r["label"] in solved and verdict(r, refs[instance(r)], TAU) in counted:
            solved[r["label"]].add(instance(r))
            costs[(r["label"], instance(r))] = cost.cost(r, r.get("n"))
    common = set.intersection(*solved.values()) if solved else set()

    def med(m: str, over: set) -> float | None:
        return median([costs[(m, k)] for k in over])

    print(f"\n{title}, solved = {measure} (verdict {' or '.join(counted)} at tau = {TAU:g}): {len(keys)} instances, "
          f"{len(rows)} runs; {len(common)} solved by every method; cost in gradients (f {cost.f}, g {cost.grad}, "
          f"HVP {cost.hvp}, Hessian/Jacobian {cost.hessian})")
    print(f"{'method':26s} {'solved':>8s} {'med cost (own)':>15s} {'med cost (common)':>18s}  unsolved")
    for m in labels:
        missing = sorted(k[0] for k in set(keys) - solved[m])
        print(f"{m:26s} {len(solved[m]):>4d}/{len(keys):<3d} {fmt(med(m, solved[m])):>15s} {fmt(med(m, common)):>18s}"
              f"  {', '.join(missing)[:150]}")

    def rank(m: str) -> tuple[int, float]:
        c = med(m, common)
        return len(solved[m]), -(c if c is not None else float("inf"))

    goals: dict[str, bool] = {}
    mine, scipys = [m for m in ours if m in solved], [m for m in theirs if m in solved]
    if mine and scipys:
        a, b = max(mine, key=rank), max(scipys, key=rank)
        both = solved[a] & solved[b]
        ca, cb = med(a, both), med(b, both)
        ok = len(solved[a]) >= len(solved[b]) and ca is not None and cb is not None and ca <= cb
        goals["best"] = ok
        print(f"GOAL our best ({a}, {len(solved[a])}) solves >= scipy's best ({b}, {len(solved[b])}) with no more "
              f"median cost over the {len(both)} instances both solve ({fmt(ca)} vs {fmt(cb)}): "
              f"{'PASS' if ok else 'MISS'}; over the {len(common)} all solve: {fmt(med(a, common))} vs "
              f"{fmt(med(b, common))}")
        enough = [m for m in mine if len(solved[m]) >= len(solved[b])]
        if enough:  # the same comparison for the cheapest of ours that solves as many as scipy's best
            cheap = min(enough, key=lambda m: med(m, solved[m] & solved[b]) or float("inf"))
            pair = solved[cheap] & solved[b]
            cc, cb = med(cheap, pair), med(b, pair)
            goals["cheapest"] = cc is not None and cb is not None and cc <= cb
            print(f"  the cheapest of ours solving >= {len(solved[b])}: {cheap} ({len(solved[cheap])}), median cost "
                  f"over the {len(pair)} instances it and {b} solve {fmt(cc)} vs {fmt(cb)}: "
                  f"{'PASS' if goals['cheapest'] else 'MISS'}")
    if "arc" in solved and "scipy.trust-krylov" in solved:
        n_arc, n_tk = len(solved["arc"]), len(solved["scipy.trust-krylov"])
        goals["arc"] = n_arc >= n_tk
        print(f"GOAL arc solves >= scipy.trust-krylov: {n_arc} vs {n_tk}: {'PASS' if goals['arc'] else 'MISS'}")
    if all_goal and mine:
        a = max(mine, key=rank)
        goals["all"] = len(solved[a]) == len(keys)
        print(f"GOAL our best ({a}) solves all {len(keys)}: {len(solved[a])} of {len(keys)}: "
              f"{'PASS' if goals['all'] else 'MISS'}")
    return {"solved": solved, "costs": costs, "common": common, "goals": goals}


GOAL_NAMES = {"best": "our best >= scipy's best, no more median cost", "cheapest": "cheapest of ours solving as many",
              "arc": "arc >= scipy.trust-krylov", "all": "our best solves all"}


def summary(verdicts: dict[tuple[str, str], dict[str, bool]]) -> None:
    """One line per goal: its verdict on each (set, measure) the tables were printed for."""
    columns = list(verdicts)
    print("\ngoals, per set and measure of solved:")
    print(f"{'goal':48s} " + " ".join(f"{s + ', ' + m:>18s}" for s, m in columns))
    for goal, text in GOAL_NAMES.items():
        cells = [verdicts[c].get(goal) for c in columns]
        if any(v is not None for v in cells):
            print(f"{text:48s} " + " ".join(f"{'-' if v is None else 'PASS' if v else 'MISS':>18s}" for v in cells))


def run_sets(sets: list[str], workers: int, seconds: float, methods: list[str], measures: list[str]) -> None:
    budget = {**STUDY_BUDGET, "seconds": seconds}
    print(f"runs: budget {budget}, stopping {STUDY_STOPPING} (the MGH study's), {workers} worker(s)")
    goals = {}
    for name in sets:
        jobs = [(m, p, SETS[name], budget) for p in MGH for m in methods]
        start = time.perf_counter()
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                rows = list(pool.map(one_run, jobs, chunksize=2))
        else:
            rows = [one_run(j) for j in jobs]
        elapsed = time.perf_counter() - start
        timed_out = sorted(f"{r['label']}/{r['problem']}" for r in rows if r.get("status") == Status.TIME_LIMIT)
        for measure in measures:
            goals[(name, measure)] = table(rows, CostModel(), [m for m in OURS if m in methods],
                                           [m for m in SCIPY if m in methods], f"{name} ({elapsed:.0f} s)", measure,
                                           all_goal=SETS[name] == 1.0)["goals"]
        print(f"runs stopped by the {seconds:g} s limit: {len(timed_out)} {' '.join(timed_out)[:600]}")
    summary(goals)


def store_tables(directories: list[str], weights: str = "stored", measures: tuple[str, ...] = ("global",)) -> None:
    """The tables of stored studies: one per scale and measure, its labels split into ours and scipy's by name.
    Several folders (parts of one set, each instance in one of them) are judged as one set."""
    rows, models = [], []
    for directory in directories:
        part = stored_runs(Path(directory))  # the rows the report judges (a killed run's n filled in)
        if not part:
            raise SystemExit(f"{directory}: no runs stored")
        rows += part
        models.append(chosen_cost_model(Path(directory), weights))
    if any(m != models[0] for m in models):
        raise SystemExit(f"{', '.join(directories)}: stored under different cost models; name one with --cost")
    cost = models[0]
    directory = " + ".join(directories)
    labels = sorted({r["label"] for r in rows})
    theirs = [m for m in labels if m.startswith("scipy.")]
    ours = [m for m in labels if m not in theirs]
    experiment = " + ".join(dict.fromkeys(r.get("experiment") or directory for r in rows))
    goals = {}
    for scale in sorted({r["scale"] for r in rows}):
        for measure in measures:
            goals[(f"scale {scale:g}", measure)] = table([r for r in rows if r["scale"] == scale], cost, ours, theirs,
                                                         f"{experiment}, scale {scale:g}", measure)["goals"]
    summary(goals)


def lm_against_minpack(problems: list[str]) -> list[dict[str, Any]]:
    """Per problem: our levenberg-marquardt and MINPACK's lmder from x0, counts and final points (see --lm)."""
    import numpy as np
    import scipy.optimize

    from optlab.optim import Oracle

    rows = []
    for name in problems:
        p = optlab.problems.get(name)
        residuals = Oracle(p).residuals
        ref = scipy.optimize.least_squares(lambda x, res=residuals: res(x)[0], p.x0,
                                           jac=lambda x, res=residuals: res(x)[1], method="lm", xtol=1e-15,
                                           ftol=1e-15, gtol=1e-15)
        r = run(registry().get("optimizers", "levenberg-marquardt")(), p, Budget(iterations=2000),
                Stopping(gtol=1e-12, ftol=1e-20))
        f_ref = 2 * float(ref.cost)  # least_squares' cost is half the sum of squares; MGH's f is the sum
        same_f = abs(r.fun - f_ref) <= 1e-9 * max(1.0, f_ref)
        same_x = bool(np.all(np.abs(r.x - ref.x) <= 1e-6 + 1e-6 * np.abs(ref.x)))
        rows.append({"problem": name, "n": p.n, "nit": r.nit, "jacobians": r.counts["nhess"], "nfev": r.counts["nfev"],
                     "status": r.status_name, "f": float(r.fun), "lm_nfev": int(ref.nfev), "lm_njev": int(ref.njev),
                     "lm_status": int(ref.status), "lm_f": f_ref, "dx": float(np.abs(r.x - ref.x).max()),
                     "same": "yes" if same_f and same_x else "f only" if same_f else "no"})
    return rows


def lm_table(problems: list[str]) -> None:
    rows = lm_against_minpack(problems)
    print("\nlevenberg-marquardt against scipy.optimize.least_squares(method='lm') (MINPACK lmder), MGH from x0")
    print(f"{'problem':28s} {'n':>3s} | {'ours: nit':>9s} {'J':>5s} {'f':>5s} {'status':>9s} {'final f':>11s} | "
          f"{'lmder: J':>8s} {'f':>5s} {'info':>4s} {'final f':>11s} | {'max|dx|':>8s} same minimizer")
    for r in rows:
        print(f"{r['problem']:28s} {r['n']:>3d} | {r['nit']:>9d} {r['jacobians']:>5d} {r['nfev']:>5d} "
              f"{r['status']:>9s} {r['f']:>11.4e} | {r['lm_njev']:>8d} {r['lm_nfev']:>5d} {r['lm_status']:>4d} "
              f"{r['lm_f']:>11.4e} | {r['dx']:>8.1e} {r['same']}")
    same = [r for r in rows if r["same"] == "yes"]
    fewer = sum(r["jacobians"] <= r["lm_njev"] for r in same)
    print(f"same minimizer on {len(same)} of {len(rows)} (same final f only: "
          f"{sum(r['same'] == 'f only' for r in rows)}); where the same, ours took no more Jacobians than lmder on "
          f"{fewer} of {len(same)}; median Jacobians ours {median([r['jacobians'] for r in same])}, "
          f"lmder {median([r['lm_njev'] for r in same])}")


def rosenbrock_timing(sizes: list[int], repeats: int) -> None:
    print(f"\nextended Rosenbrock, standard start; wall time through optlab's loop, median of {repeats} "
          f"(interleaved); budget {ROSEN_BUDGET}; goal: ours <= 1.2x scipy's")
    for n in sizes:
        times: dict[str, list[float]] = {"trust-ncg": [], "scipy.trust-ncg": []}
        for _ in range(repeats):
            for method in times:
                problem = optlab.problems.get("extended_rosenbrock", n=n)
                start = time.perf_counter()
                res = run(registry().get("optimizers", method)(), problem, Budget(**ROSEN_BUDGET), Stopping())
                times[method].append(time.perf_counter() - start)
                print(f"{n:>7}  {method:16s} {res.status_name:10s} nit {res.nit:>5} nhvp {res.counts['nhvp']:>6} "
                      f"{times[method][-1]:.2f} s")
        ratio = statistics.median(times["trust-ncg"]) / statistics.median(times["scipy.trust-ncg"])
        verdict = "PASS" if ratio <= 1.2 else "MISS"
        print(f"GOAL n={n}: ours/scipy wall-time ratio {ratio:.2f}x (goal <= 1.2x): {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS), help="MGH sets to run")
    parser.add_argument("--methods", nargs="*", default=OURS + SCIPY, help="labels to run (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="processes for the runs")
    parser.add_argument("--seconds", type=float, default=STUDY_BUDGET["seconds"], help="seconds per run")
    parser.add_argument("--store", nargs="+", help="print the tables of these `optlab run` output folders (one "
                        "set: parts of it, each instance in one) instead of running")
    parser.add_argument("--cost", default="stored", help="with --store: 'stored', 'default' or KIND=WEIGHT,...")
    parser.add_argument("--solved", choices=["both", *MEASURES], default="both",
                        help="what counts as solved: global (verdict global), known (global or local: a listed "
                             "local minimum counts too), both (default: a table for each)")
    parser.add_argument("--timing", action="store_true", help="only the extended Rosenbrock timing")
    parser.add_argument("--lm", action="store_true", help="only levenberg-marquardt against MINPACK's lmder")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10**4, 10**5])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    measures = list(MEASURES) if args.solved == "both" else [args.solved]
    if args.store:
        store_tables(args.store, args.cost, measures)
        return 0
    import numpy  # noqa: E401
    import scipy
    print(f"optlab second-order benchmark; numpy {numpy.__version__}, scipy {scipy.__version__}, "
          f"python {sys.version.split()[0]}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.timing:
        rosenbrock_timing(args.sizes, args.repeats)
    elif args.lm:
        lm_table(MGH)
    else:
        run_sets(args.sets, args.workers, args.seconds, args.methods, measures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
