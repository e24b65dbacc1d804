"""Seconds per MAML meta-iteration: optlab's kernel against PyTorch eager on the same setting (not a test).

    python benchmarks/maml.py [--quick] [--profile]

One meta-iteration is the meta-loss and its gradient in theta (what the outer optimizer asks the oracle
for): sinusoid tasks, 1-40-40-1 ReLU MLP, meta-batch 25, K = 10, one inner step with alpha = 0.01,
float64, one thread everywhere. Both sides run the same batched formulation (parameters broadcast to a
task axis, one backward for all per-task inner gradients); torch is also timed with the common loop over
tasks, for reference. Times are medians over interleaved repeats. --profile prints where optlab's time goes.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from optlab.autodiff import Variable, gradients  # noqa: E402
from optlab_plugins.maml import maml  # noqa: E402
from optlab_studies.maml_sinusoid import tasks as sinusoid  # noqa: E402

META_BATCH, K, ALPHA = 25, 10, 0.01


def optlab_step(theta: np.ndarray, support: tuple, query: tuple, steps: int, first_order: bool) -> Callable:
    meta_loss = maml(sinusoid.task_losses, ALPHA, steps, first_order)

    def step() -> np.ndarray:
        x = Variable(theta)
        (g,) = gradients(meta_loss(sinusoid.unpack(x), support, query), [x], retain_graph=False)  # as the oracle
        return g.data

    return step


def torch_unpack(theta: torch.Tensor) -> list[torch.Tensor]:
    out, start = [], 0
    for a, b in sinusoid.layer_shapes():
        out.append(theta[start:start + a * b].reshape(a, b))
        start += a * b
    return out


def torch_losses(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h = x
    for i in range(0, len(params), 2):
        h = torch.matmul(h, params[i]) + params[i + 1]
        if i + 2 < len(params):
            h = torch.relu(h)
    return ((h - y) ** 2).reshape(y.shape[0], -1).mean(dim=1)


def torch_step(theta: np.ndarray, support: tuple, query: tuple, steps: int, first_order: bool,
               batched: bool = True) -> Callable:
    (xs, ys), (xq, yq) = [tuple(torch.from_numpy(a) for a in d) for d in (support, query)]

    def adapted(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        for _ in range(steps):
            grads = torch.autograd.grad(torch_losses(params, x, y).sum(), params, create_graph=not first_order)
            params = [p - ALPHA * g for p, g in zip(params, grads)]
        return params

    def step() -> np.ndarray:
        t = torch.from_numpy(theta).requires_grad_(True)
        shared = torch_unpack(t)
        if batched:
            params = adapted([p.unsqueeze(0).expand(META_BATCH, *p.shape) for p in shared], xs, ys)
            loss = torch_losses(params, xq, yq).mean()
        else:  # the usual per-task loop
            loss = sum(torch_losses(adapted(shared, xs[i:i + 1], ys[i:i + 1]), xq[i:i + 1], yq[i:i + 1])[0]
                       for i in range(META_BATCH)) / META_BATCH
        (g,) = torch.autograd.grad(loss, t)
        return g.numpy()

    return step


def median_seconds(fns: dict[str, Callable], repeats: int, inner: int) -> dict[str, float]:
    """Median seconds per call, repeats interleaved across the functions."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--profile", action="store_true", help="cProfile optlab's second-order meta-iteration")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(0)
    theta = sinusoid.init_theta(rng)
    support, query = sinusoid.meta_batch(rng, META_BATCH, K)
    repeats, inner = (5, 5) if args.quick else (15, 10)
    print(f"MAML meta-iteration (meta-loss + gradient), sinusoid, 40-40 ReLU MLP, meta-batch {META_BATCH}, "
          f"K = {K}, float64, 1 thread; median of {repeats} x {inner}")
    print(f"{'setting':<26}{'optlab ms':>10}{'torch ms':>10}{'ratio':>8}{'torch loop ms':>15}")
    for label, steps, first_order in (("second order, 1 step", 1, False), ("first order, 1 step", 1, True),
                                      ("second order, 5 steps", 5, False)):
        ours = optlab_step(theta, support, query, steps, first_order)
        theirs = torch_step(theta, support, query, steps, first_order)
        np.testing.assert_allclose(ours(), theirs(), rtol=1e-8, atol=1e-10)
        fns = {"optlab": ours, "torch": theirs,
               "loop": torch_step(theta, support, query, steps, first_order, batched=False)}
        t = median_seconds(fns, repeats, inner)
        print(f"{label:<26}{t['optlab'] * 1e3:>10.2f}{t['torch'] * 1e3:>10.2f}"
              f"{t['optlab'] / t['torch']:>7.2f}x{t['loop'] * 1e3:>15.2f}")
    if args.profile:
        step = optlab_step(theta, support, query, 1, False)
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [step() for _ in range(200)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
