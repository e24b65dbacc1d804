"""jit against JAX jit, torch eager and our eager: per-call f+grad and hvp on 8 MGH problems and a 2-layer
tanh MLP, then scipy trust-ncg on extended Rosenbrock fed each one's derivatives.

One process, float64, one thread; contenders are timed interleaved, best of K rounds; ratios are printed.
Run: python benchmarks/jit.py [--rounds K] [--problems NAME ...] [--per-call-only]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import torch

import optlab.autodiff.functions as F
import optlab.problems
from optlab.autodiff import hvp, jit, value_and_grad
from optlab.optim.malloc import keep_freed_memory

jax.config.update("jax_enable_x64", True)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

# ----------------------------------------------------------------------------------------------
# The same residuals, written once for any namespace N (jnp, torch) with cos, sin, sum.

R5, R10 = np.sqrt(5.0), np.sqrt(10.0)


def residuals(name: str, N, n: int):
    i = N.asarray(np.arange(1.0, n + 1.0)) if N is jnp else torch.arange(1.0, n + 1.0)
    table = {
        "rosenbrock": lambda x: (10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0]),
        "freudenstein_roth": lambda x: (-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
                                        -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1]),
        "powell_singular": lambda x: (x[0] + 10.0 * x[1], R5 * (x[2] - x[3]), (x[1] - 2.0 * x[2]) ** 2,
                                      R10 * (x[0] - x[3]) ** 2),
        "wood": lambda x: (10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0], np.sqrt(90.0) * (x[3] - x[2] * x[2]),
                           1.0 - x[2], R10 * (x[1] + x[3] - 2.0), (x[1] - x[3]) / R10),
        "extended_rosenbrock": lambda x: (10.0 * (x[1::2] - x[0::2] * x[0::2]), 1.0 - x[0::2]),
        "extended_powell": lambda x: (x[0::4] + 10.0 * x[1::4], R5 * (x[2::4] - x[3::4]),
                                      (x[1::4] - 2.0 * x[2::4]) ** 2, R10 * (x[0::4] - x[3::4]) ** 2),
        "penalty1": lambda x: (np.sqrt(1e-5) * (x - 1.0), N.sum(x * x) - 0.25),
        "trigonometric": lambda x: (n - N.sum(N.cos(x)) + i * (1.0 - N.cos(x)) - N.sin(x),),
    }
    r = table[name]

    def f(x):
        total = 0.0
        for piece in r(x):
            total = total + N.sum(piece * piece)
        return total

    return f


PROBLEMS = {"rosenbrock": {}, "freudenstein_roth": {}, "powell_singular": {}, "wood": {},
            "extended_rosenbrock": {"n": 10}, "extended_powell": {"n": 12}, "penalty1": {"n": 10},
            "trigonometric": {"n": 10}}


# ----------------------------------------------------------------------------------------------
# The MLP: 2 layers, tanh, batch 64, width 32, 8 inputs, mean squared error.

def mlp_loss(N, matmul):
    def loss(params, x, y):
        w1, b1, w2, b2 = params
        h = N.tanh(matmul(x, w1) + b1)
        err = matmul(h, w2) + b2 - y
        return N.mean(err * err)
    return loss


CLOCK = time.process_time  # CPU seconds of this process (all its threads): on a shared machine, wall time
# counts the other jobs' turns too (--wall to use it anyway)


def best(calls: dict, rounds: int, budget: float = 0.02) -> dict[str, float]:
    """Seconds per call of each contender, interleaved, best of `rounds` (each timed for ~budget s)."""
    numbers = {}
    for k, c in calls.items():
        t = CLOCK()
        c()
        numbers[k] = max(1, int(budget / max(CLOCK() - t, 1e-7)))
    out = {k: float("inf") for k in calls}
    for _ in range(rounds):
        for k, c in calls.items():
            t = CLOCK()
            for _ in range(numbers[k]):
                c()
            out[k] = min(out[k], (CLOCK() - t) / numbers[k])
    return out


def first_call(fn, *args) -> float:
    t = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out) if isinstance(out, (jax.Array, tuple)) else None
    return time.perf_counter() - t


def race(name, f, fj, ft, x, v, rounds: int, ratios: dict) -> None:
    """One problem's row pair: f+grad and hvp of every contender."""
    leaves = list(x) if isinstance(x, tuple) else [x]
    vleaves = list(v) if isinstance(v, tuple) else [v]
    tx = [torch.tensor(a, requires_grad=True) for a in leaves]
    tv = [torch.tensor(a) for a in vleaves]
    tree = (lambda ts: tuple(ts)) if isinstance(x, tuple) else (lambda ts: ts[0])

    def torch_vg():
        y = ft(tree(tx))
        return y.item(), torch.autograd.grad(y, tx)

    def torch_hvp():
        g = torch.autograd.grad(ft(tree(tx)), tx, create_graph=True)
        return torch.autograd.grad(g, tx, tv)

    eager_vg, eager_hvp = value_and_grad(f), (lambda a, b, f=f: hvp(f, a, b))
    jit_vg, jit_hvp = jit(eager_vg), jit(eager_hvp)
    jax_vg = jax.jit(jax.value_and_grad(fj))
    jax_hvp = jax.jit(lambda a, b, fj=fj: jax.jvp(jax.grad(fj), (a,), (b,))[1])
    xj = jax.tree_util.tree_map(jnp.asarray, x)
    vj = jax.tree_util.tree_map(jnp.asarray, v)
    trace = {"f+grad": first_call(jit_vg, x), "hvp": first_call(jit_hvp, x, v)}
    compile_ = {"f+grad": first_call(jax_vg, xj), "hvp": first_call(jax_hvp, xj, vj)}
    # the contenders agree before they race
    np.testing.assert_allclose(float(jax_vg(xj)[0]), float(eager_vg(x)[0]), rtol=1e-10)
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(jax_hvp(xj, vj))]),
                               np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(jit_hvp(x, v))]),
                               rtol=1e-8, atol=1e-10)
    for task, calls in (
        ("f+grad", {"eager": lambda: eager_vg(x), "jit": lambda: jit_vg(x),
                    "jax": lambda: jax.block_until_ready(jax_vg(xj)), "torch": torch_vg}),
        ("hvp", {"eager": lambda: eager_hvp(x, v), "jit": lambda: jit_hvp(x, v),
                 "jax": lambda: jax.block_until_ready(jax_hvp(xj, vj)), "torch": torch_hvp}),
    ):
        t = best(calls, rounds)
        ratios[task].append((t["jit"] / t["jax"], t["eager"] / t["jit"]))
        print(f"{name:22s} {task:7s} {t['eager'] * 1e6:9.1f} {t['jit'] * 1e6:8.1f} {t['jax'] * 1e6:8.1f} "
              f"{t['torch'] * 1e6:8.1f} {t['jit'] / t['jax']:8.2f} {t['eager'] / t['jit']:9.1f} "
              f"{trace[task] * 1e3:9.1f} {compile_[task] * 1e3:14.1f}")


def per_call_table(rounds: int, only: list[str] | None = None) -> None:
    rng = np.random.default_rng(0)
    print("per call, us (ratios: ours-jit / JAX-jit; our eager / ours-jit)")
    head = (f"{'problem':22s} {'task':7s} {'eager':>9s} {'jit':>8s} {'JAX jit':>8s} {'torch':>8s} "
            f"{'jit/JAX':>8s} {'eager/jit':>9s} {'trace ms':>9s} {'JAX compile ms':>14s}")
    print(head)
    cases = []
    for name, params in PROBLEMS.items():
        if only is not None and name not in only:
            continue
        problem = optlab.problems.get(name, **params)
        x = problem.x0 + 0.1 * rng.standard_normal(problem.x0.shape)
        v = rng.standard_normal(x.shape)
        fj = residuals(name, jnp, x.size)
        ft = residuals(name, torch, x.size)
        cases.append((name, problem.objective, fj, ft, (x,), v))
    # the MLP, with parameters as a tuple (a pytree)
    x_in, y_out = rng.standard_normal((64, 8)), rng.standard_normal((64, 1))
    theta = (rng.standard_normal((8, 32)) * 0.3, np.zeros(32), rng.standard_normal((32, 1)) * 0.3, np.zeros(1))
    v_theta = tuple(rng.standard_normal(p.shape) for p in theta)
    ours_mlp, jax_mlp, torch_mlp = mlp_loss(F, F.matmul), mlp_loss(jnp, jnp.matmul), mlp_loss(torch, torch.matmul)
    if only is None or "mlp" in only:
        cases.append(("mlp 64x32 tanh", lambda p: ours_mlp(p, x_in, y_out), lambda p: jax_mlp(p, x_in, y_out),
                      lambda p: torch_mlp(p, torch.from_numpy(x_in), torch.from_numpy(y_out)), (theta,), v_theta))
    ratios: dict[str, list] = {"f+grad": [], "hvp": []}
    for name, f, fj, ft, (x,), v in cases:
        race(name, f, fj, ft, x, v, rounds, ratios)
    for task, goal in (("f+grad", 1.5), ("hvp", 2.0)):
        r = np.array(ratios[task])
        print(f"{task}: jit/JAX median {np.median(r[:, 0]):.2f} (goal <= {goal}), worst {r[:, 0].max():.2f}; "
              f"eager/jit median {np.median(r[:, 1]):.1f} (goal >= 5), worst {r[:, 1].min():.1f}")


# ----------------------------------------------------------------------------------------------
# End to end: scipy's trust-ncg on extended Rosenbrock, fed analytic, JAX-jitted and our jitted derivatives.

def ext_rosen_analytic():
    def f(x):
        a, b = x[0::2], x[1::2]
        return float(np.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2))

    def grad(x):
        a, b = x[0::2], x[1::2]
        g = np.empty_like(x)
        g[0::2] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
        g[1::2] = 200.0 * (b - a * a)
        return g

    def hessp(x, p):
        a, b = x[0::2], x[1::2]
        pa, pb = p[0::2], p[1::2]
        out = np.empty_like(x)
        out[0::2] = (1200.0 * a * a - 400.0 * b + 2.0) * pa - 400.0 * a * pb
        out[1::2] = -400.0 * a * pa + 200.0 * pb
        return out

    return f, grad, hessp


def end_to_end(rounds: int) -> None:
    print("\nscipy trust-ncg on extended Rosenbrock, ms per solve (fed: analytic, JAX jit, our jit, our eager)")
    print(f"{'n':>6s} {'analytic':>9s} {'JAX jit':>8s} {'our jit':>8s} {'eager':>8s} {'jit/JAX':>8s} "
          f"{'jit/analytic':>12s} {'iters':>6s} {'JAX compile ms':>14s}")
    for n in (10, 100, 100_000):
        solve_row(n, rounds if n <= 100 else 2, with_eager=n <= 100)


def solve_row(n: int, rounds: int, with_eager: bool = True) -> None:
    """One size: every feed of scipy's trust-ncg, timed."""
    problem = optlab.problems.get("extended_rosenbrock", n=n)
    f = problem.objective
    x0 = problem.x0
    fa, ga, ha = ext_rosen_analytic()
    fj = residuals("extended_rosenbrock", jnp, n)
    jvg = jax.jit(jax.value_and_grad(fj))
    jhv = jax.jit(lambda a, b: jax.jvp(jax.grad(fj), (a,), (b,))[1])
    t0 = time.perf_counter()
    jvg(x0)[0].block_until_ready()
    jhv(x0, x0).block_until_ready()
    compile_ms = (time.perf_counter() - t0) * 1e3
    ovg, ohv = jit(value_and_grad(f)), jit(lambda a, b: hvp(f, a, b))
    evg, ehv = value_and_grad(f), (lambda a, b: hvp(f, a, b))

    def fed(vg, hv):
        def fun(x):
            value, g = vg(x)
            return float(value), np.asarray(g)
        return lambda: scipy.optimize.minimize(fun, x0, jac=True, hessp=lambda x, p: np.asarray(hv(x, p)),
                                               method="trust-ncg", options={"gtol": 1e-8})

    solves = {"analytic": lambda: scipy.optimize.minimize(fa, x0, jac=ga, hessp=ha, method="trust-ncg",
                                                          options={"gtol": 1e-8}),
              "jax": fed(jvg, jhv), "jit": fed(ovg, ohv), "eager": fed(evg, ehv)}
    if not with_eager:  # at n = 10^5 eager costs what jit does (numpy-bound): one feed less to wait for
        del solves["eager"]
    results = {k: s() for k, s in solves.items()}
    assert all(r.success and np.allclose(r.x, 1.0, atol=1e-5) for r in results.values()), results
    t = best(solves, rounds, budget=0.2)
    t.setdefault("eager", float("nan"))
    print(f"{n:6d} {t['analytic'] * 1e3:9.2f} {t['jax'] * 1e3:8.2f} {t['jit'] * 1e3:8.2f} "
          f"{t['eager'] * 1e3:8.2f} {t['jit'] / t['jax']:8.2f} {t['jit'] / t['analytic']:12.2f} "
          f"{results['jit'].nit:6d} {compile_ms:14.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-mallopt", action="store_true", help="leave glibc's thresholds alone")
    parser.add_argument("--wall", action="store_true", help="time by the wall clock, not CPU seconds")
    parser.add_argument("--per-call-only", action="store_true", help="skip the end-to-end solves")
    parser.add_argument("--problems", nargs="+", choices=[*PROBLEMS, "mlp"], metavar="NAME",
                        help=f"per-call rows of these only ({', '.join(PROBLEMS)}, mlp)")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    print(f"clock: {'wall' if args.wall else 'CPU seconds of this process'}")
    # as in a run's worker process (optlab.optim.malloc): every contender shares the allocator's setting
    print(f"mallopt thresholds raised: {False if args.no_mallopt else keep_freed_memory()}")
    per_call_table(args.rounds, args.problems)
    if not args.per_call_only:
        end_to_end(args.rounds)


if __name__ == "__main__":
    main()
