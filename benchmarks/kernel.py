"""Speed and memory of the autodiff kernel against numpy and its peers (not part of the test suite).

    python benchmarks/kernel.py [--quick]

Float64 and one thread everywhere. Peers: torch eager, HIPS autograd, JAX eager (no jit); a peer
that is not importable is skipped with a note. Times are medians over repeats that are interleaved
across frameworks (the machine is shared and noisy, so every framework sees the same noise).

  (a) chain: 50 x [sin, mul, add] on 10 elements, then sum; forward + backward per call
  (b) Rosenbrock gradient, n = 10^6, against numpy's own forward of f; ours by grad() and by
      Variable.backward() (the seed's API)
  (c) Rosenbrock Hessian-vector product (ours: hvp; torch: double backward; jax: jvp of grad;
      autograd: hessian_vector_product)
  (d) peak memory of (b): ru_maxrss growth in a fresh subprocess per framework, over a baseline
      taken after imports and after allocating x
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import optlab.autodiff as ad  # noqa: E402
import optlab.autodiff.functions as F  # noqa: E402

CHAIN_LEN, CHAIN_N, ROSEN_N = 50, 10, 10**6


def load_peers() -> tuple[dict, list[str]]:
    """The importable peers by name, and a note for each one that is missing."""
    peers, notes = {}, []
    try:
        import torch
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        peers["torch"] = torch
    except ImportError as e:
        notes.append(f"torch eager skipped: not importable ({e})")
    try:
        import autograd
        import autograd.numpy as anp
        peers["autograd"] = (autograd, anp)
    except ImportError as e:
        notes.append(f"HIPS autograd skipped: not importable ({e})")
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        peers["jax"] = (jax, jnp)
    except ImportError as e:
        notes.append(f"JAX eager skipped: not importable ({e})")
    return peers, notes


# ----------------------------------------------------------------------------------------------
# The problems, one per framework. Each maker returns a zero-argument callable to time and a
# function giving the result as an ndarray (to check that all frameworks agree).

def chain_f(x, c, sin):
    for _ in range(CHAIN_LEN):
        x = sin(x)
        x = x * c
        x = x + c
    return x.sum()


def rosen(x, sum_=None):
    s = (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return s.sum()


def chain_makers(peers: dict, x0: np.ndarray, c: np.ndarray) -> dict[str, Callable]:
    m = {"numpy (forward only)": lambda: chain_f(x0, c, np.sin)}

    def ours_backward():
        x = ad.Variable(x0)
        chain_f(x, c, F.sin).backward()
        return x.grad.data

    m["optlab Variable.backward"] = ours_backward
    ours_grad = ad.grad(lambda x: chain_f(x, c, F.sin))
    m["optlab grad()"] = lambda: ours_grad(x0)
    if "torch" in peers:
        torch = peers["torch"]
        ct = torch.from_numpy(c)

        def torch_run():
            x = torch.from_numpy(x0).requires_grad_(True)
            chain_f(x, ct, torch.sin).backward()
            return x.grad.numpy()

        m["torch eager"] = torch_run
    if "autograd" in peers:
        autograd, anp = peers["autograd"]
        ag = autograd.grad(lambda x: chain_f(x, c, anp.sin))
        m["HIPS autograd"] = lambda: ag(x0)
    if "jax" in peers:
        jax, jnp = peers["jax"]
        cj, xj = jnp.asarray(c), jnp.asarray(x0)
        jg = jax.grad(lambda x: chain_f(x, cj, jnp.sin))
        m["JAX eager"] = lambda: np.asarray(jg(xj).block_until_ready())
    return m


def rosen_grad_makers(peers: dict, x0: np.ndarray) -> dict[str, Callable]:
    m = {"numpy forward of f": lambda: rosen(x0)}
    ours = ad.grad(rosen)
    m["optlab grad()"] = lambda: ours(x0)

    def ours_backward():  # the seed's API: keeps the graph (backward twice accumulates, as DeZero)
        x = ad.Variable(x0)
        rosen(x).backward()
        return x.grad.data

    m["optlab Variable.backward"] = ours_backward
    if "torch" in peers:
        torch = peers["torch"]

        def torch_run():
            x = torch.from_numpy(x0).requires_grad_(True)
            rosen(x).backward()
            return x.grad.numpy()

        m["torch eager"] = torch_run
    if "autograd" in peers:
        autograd, _ = peers["autograd"]
        ag = autograd.grad(rosen)
        m["HIPS autograd"] = lambda: ag(x0)
    if "jax" in peers:
        jax, jnp = peers["jax"]
        xj = jnp.asarray(x0)
        jg = jax.grad(rosen)
        m["JAX eager"] = lambda: np.asarray(jg(xj).block_until_ready())
    return m


def rosen_hvp_makers(peers: dict, x0: np.ndarray, v0: np.ndarray) -> dict[str, Callable]:
    m = {"optlab hvp()": lambda: ad.hvp(rosen, x0, v0)}
    if "torch" in peers:
        torch = peers["torch"]
        vt = torch.from_numpy(v0)

        def torch_run():
            x = torch.from_numpy(x0).requires_grad_(True)
            (g,) = torch.autograd.grad(rosen(x), x, create_graph=True)
            (hv,) = torch.autograd.grad(g, x, vt)
            return hv.numpy()

        m["torch eager (double backward)"] = torch_run
    if "autograd" in peers:
        autograd, _ = peers["autograd"]
        ahvp = autograd.hessian_vector_product(rosen)
        m["HIPS autograd"] = lambda: ahvp(x0, v0)
    if "jax" in peers:
        jax, jnp = peers["jax"]
        xj, vj = jnp.asarray(x0), jnp.asarray(v0)
        jg = jax.grad(rosen)
        m["JAX eager (jvp of grad)"] = lambda: np.asarray(jax.jvp(jg, (xj,), (vj,))[1].block_until_ready())
    return m


# ----------------------------------------------------------------------------------------------
# Timing.

def calibrate(fn: Callable, target: float) -> int:
    """Calls per timed batch so that one batch takes about `target` seconds."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return max(1, int(target / max(dt, 1e-7)))


def bench(makers: dict[str, Callable], repeats: int, target: float) -> dict[str, tuple[float, float]]:
    """(median, min) seconds per call for each maker; repeats interleaved round-robin."""
    for fn in makers.values():  # warm up (caches, lazy imports, JAX dispatch tables)
        fn()
        fn()
    numbers = {k: calibrate(fn, target) for k, fn in makers.items()}
    samples: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(repeats):
        for k, fn in makers.items():
            n = numbers[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t0) / n)
    return {k: (statistics.median(s), min(s)) for k, s in samples.items()}


def check_agree(makers: dict[str, Callable], ref: str, skip: str = "numpy") -> None:
    """Every framework must compute the same derivative as ours."""
    want = np.asarray(makers[ref]())
    for k, fn in makers.items():
        if k.startswith(skip) or k == ref:
            continue
        got = np.asarray(fn())
        if not np.allclose(got, want, rtol=1e-9, atol=1e-9):
            raise AssertionError(f"{k} disagrees with {ref}: max |diff| = {np.max(np.abs(got - want)):.3g}")


def fmt_time(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:9.1f} us"
    if t < 1.0:
        return f"{t * 1e3:9.2f} ms"
    return f"{t:9.3f} s "


def print_table(title: str, res: dict[str, tuple[float, float]], base: str, ours: str) -> None:
    print(f"\n{title}")
    print(f"  {'framework':<32}{'median':>13}{'min':>13}{'x ' + base.split()[0]:>11}{'ours/this':>11}")
    tb, to = res[base][0], res[ours][0]
    for k, (med, mn) in res.items():
        print(f"  {k:<32}{fmt_time(med):>13}{fmt_time(mn):>13}{med / tb:>10.2f}x{to / med:>10.2f}x")


# ----------------------------------------------------------------------------------------------
# Memory: one fresh interpreter per framework.

_MEM_CHILD = r"""
import os, sys, json, resource
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[v] = "1"
sys.path.insert(0, {root!r})
import numpy as np
which = {which!r}
def rosen(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
if which == "numpy forward of f":
    run = lambda x: rosen(x)
    prep = lambda x: x
elif which == "optlab grad()":
    import optlab.autodiff as ad
    g = ad.grad(rosen)
    run = lambda x: g(x)
    prep = lambda x: x
elif which == "torch eager":
    import torch
    torch.set_num_threads(1)
    def run(x):
        x = x.detach().requires_grad_(True)
        rosen(x).backward()
        return x.grad
    prep = torch.from_numpy
elif which == "HIPS autograd":
    import autograd
    g = autograd.grad(rosen)
    run = lambda x: g(x)
    prep = lambda x: x
elif which == "JAX eager":
    import jax, jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    g = jax.grad(rosen)
    run = lambda x: g(x).block_until_ready()
    prep = jnp.asarray
x = prep(np.random.default_rng(0).uniform(-1.0, 1.0, {n}))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = run(x)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_kb": base, "peak_kb": peak}}))
"""


def measure_memory(names: list[str], n: int) -> dict[str, tuple[float, float]]:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = {}
    for name in names:
        code = _MEM_CHILD.format(root=root, which=name, n=n)
        # Linux carries ru_maxrss across fork+exec, so a child exec'ed from this (large) process would
        # start at our peak; a shell that forks the child (and does not exec it) gives a clean start.
        proc = subprocess.run(["sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, code],
                              capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            print(f"  memory of {name}: child failed:\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out[name] = ((r["peak_kb"] - r["base_kb"]) / 1024.0, r["base_kb"] / 1024.0)
    return out


# ----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    args = ap.parse_args()
    rep_small, rep_big = (5, 3) if args.quick else (31, 11)

    peers, notes = load_peers()
    print(f"optlab kernel benchmark -- numpy {np.__version__}, python {sys.version.split()[0]}, "
          f"float64, 1 thread")
    from importlib.metadata import PackageNotFoundError, version
    for name in ("torch", "autograd", "jax"):
        if name in peers:
            try:
                print(f"  {name} {version(name)}")
            except PackageNotFoundError:
                print(f"  {name} (version unknown)")
    for note in notes:
        print(f"  NOTE: {note}")

    rng = np.random.default_rng(0)
    goals: list[tuple[str, float, float]] = []  # (description, measured ratio, limit)

    # (a) chain
    x0, c = rng.uniform(-1.0, 1.0, CHAIN_N), rng.uniform(0.5, 1.5, CHAIN_N)
    m = chain_makers(peers, x0, c)
    check_agree(m, "optlab grad()")
    ra = bench(m, rep_small, target=0.02)
    print_table(f"(a) chain of {CHAIN_LEN} x [sin, mul, add] on {CHAIN_N} elements, forward + backward, "
                f"time per call", ra, "numpy (forward only)", "optlab grad()")
    ours_a = ra["optlab grad()"][0]
    if "torch eager" in ra:
        goals.append(("(a) optlab grad() <= torch eager", ours_a / ra["torch eager"][0], 1.0))
    if "HIPS autograd" in ra:
        goals.append(("(a) optlab grad() <= 0.5 x HIPS autograd", ours_a / ra["HIPS autograd"][0], 0.5))

    # (b) Rosenbrock gradient
    x0 = rng.uniform(-1.0, 1.0, ROSEN_N)
    v0 = rng.standard_normal(ROSEN_N)
    m = rosen_grad_makers(peers, x0)
    check_agree(m, "optlab grad()")
    rb = bench(m, rep_big, target=0.2)
    print_table(f"(b) Rosenbrock gradient, n = {ROSEN_N:.0e}, time per call", rb, "numpy forward of f",
                "optlab grad()")
    ours_b = rb["optlab grad()"][0]
    goals.append(("(b) optlab grad() <= 4 x numpy forward", ours_b / rb["numpy forward of f"][0], 4.0))
    if "torch eager" in rb:
        goals.append(("(b) optlab grad() <= torch eager", ours_b / rb["torch eager"][0], 1.0))
    ours_bw = rb["optlab Variable.backward"][0]
    minima = rb["optlab Variable.backward"][1] / rb["optlab grad()"][1]
    beside = f"{ours_bw / ours_b:.2f}x grad() (minima {minima:.2f}x)"
    if "torch eager" in rb:
        beside += f", {ours_bw / rb['torch eager'][0]:.2f}x torch eager's .backward()"
    print(f"  Variable.backward() (the seed's API, keeps the graph): {beside}; medians of {rep_big} repeats")
    goals.append(("(b) Variable.backward() <= 4 x numpy forward", ours_bw / rb["numpy forward of f"][0], 4.0))
    goals.append(("(b) Variable.backward() <= optlab grad()", ours_bw / ours_b, 1.0))
    if "torch eager" in rb:
        goals.append(("(b) Variable.backward() <= torch eager", ours_bw / rb["torch eager"][0], 1.0))

    # (c) Rosenbrock HVP
    m = rosen_hvp_makers(peers, x0, v0)
    check_agree(m, "optlab hvp()")
    m = {"optlab grad() (reference)": rosen_grad_makers({}, x0)["optlab grad()"], **m}
    rc = bench(m, rep_big, target=0.3)
    print_table(f"(c) Rosenbrock Hessian-vector product, n = {ROSEN_N:.0e}, time per call", rc,
                "optlab grad() (reference)", "optlab hvp()")
    ours_c = rc["optlab hvp()"][0]
    goals.append(("(c) optlab hvp() <= 2.5 x optlab grad()", ours_c / rc["optlab grad() (reference)"][0], 2.5))
    if "torch eager (double backward)" in rc:
        goals.append(("(c) optlab hvp() <= torch double backward",
                      ours_c / rc["torch eager (double backward)"][0], 1.0))

    # (d) memory
    names = ["numpy forward of f", "optlab grad()"]
    names += [k for k, p in (("torch eager", "torch"), ("HIPS autograd", "autograd"), ("JAX eager", "jax"))
              if p in peers]
    mem = measure_memory(names, ROSEN_N)
    x_mb = ROSEN_N * 8 / 2**20
    print(f"\n(d) peak memory of the Rosenbrock gradient (b), n = {ROSEN_N:.0e} (x is {x_mb:.1f} MB), "
          f"fresh process each")
    print(f"  {'framework':<32}{'peak - baseline':>17}{'in copies of x':>16}{'baseline RSS':>14}")
    for k, (delta, base) in mem.items():
        print(f"  {k:<32}{delta:>13.1f} MB{delta / x_mb:>15.1f}x{base:>11.0f} MB")

    print("\nGoals (ratio = ours / reference, PASS when <= limit)")
    for desc, ratio, limit in goals:
        print(f"  {'PASS' if ratio <= limit else 'MISS'}  {desc:<46} ratio {ratio:6.2f}  (limit {limit})")


if __name__ == "__main__":
    main()
