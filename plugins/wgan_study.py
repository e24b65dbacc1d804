"""The toy study of Gulrajani et al. (2017): WGAN-GP against a weight-clipping critic, trained and reported.

    python -m optlab_plugins.wgan_study configs/wgan_gp_8gaussians.yaml [key.path=value ...]

Each `wgan_toy` problem of the config (one per critic constraint) is trained as a game by `wgan.train`:
budget.iterations generator steps, each after n_critic critic steps, both players moved by the config's
optimizer plugin. The output folder gets report.md, samples.png, training.png and grad_norms.png.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread per worker: the pool uses the cores
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from optlab.autodiff import no_grad  # noqa: E402
from optlab.experiment.grid import RunSpec  # noqa: E402
from optlab.experiment.runner import build, prepare  # noqa: E402

from .wgan import NOISE, Game, History, ModeStats, evaluate, mode_stats, sample_data, train  # noqa: E402

SAMPLES = 10_000  # generated points scored against the modes
EVAL_SEED = 2017
NAMES = {"gp": "WGAN-GP", "clip": "weight clipping"}
COLORS = {"gp": "tab:red", "clip": "tab:blue"}
FLAT = ("far below 1: the clipped critic is a much flatter function than a 1-Lipschitz one, so its "
        "Wasserstein estimate is tiny and the generator gets a weak signal")


@dataclass
class Outcome:
    """One trained game and its end-of-training measurements."""

    constraint: str
    params: dict[str, Any]
    optimizer: str
    optimizer_params: dict[str, Any]
    iterations: int
    history: History
    theta_g: np.ndarray
    theta_d: np.ndarray
    norms: np.ndarray  # ||grad D(x_hat)|| on held-out interpolates at the end
    wasserstein: float
    modes: ModeStats | None
    samples: np.ndarray
    seconds: float
    seed: int

    @property
    def finite(self) -> bool:
        values = [self.theta_g, self.theta_d, self.norms, self.history.wasserstein, self.history.grad_norm_mean]
        return all(np.all(np.isfinite(v)) for v in values)


def held_out(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(EVAL_SEED)
    return sample_data(dataset, rng, n), rng.standard_normal((n, NOISE)), rng


def train_spec(spec: RunSpec) -> Outcome:
    """Train one game of the config and measure it on held-out data and noise."""
    _, optimizer, kwargs = build(spec)
    game = Game(**kwargs)
    iterations = spec.budget["iterations"]
    start = time.perf_counter()
    history = train(game, lambda: type(optimizer)(**spec.optimizer_params), iterations, seed=spec.seed,
                    log_every=max(iterations // 60, 1))
    seconds = time.perf_counter() - start
    real, z, rng = held_out(game.dataset, SAMPLES)
    wasserstein, norms = evaluate(game, real, z, rng)
    samples = game.fake(z)
    return Outcome(game.constraint, kwargs, spec.optimizer, spec.optimizer_params, iterations, history, game.theta_g,
                   game.theta_d, norms, wasserstein, mode_stats(samples, game.dataset), samples, seconds, spec.seed)


def critic_grid(out: Outcome, lim: float, n: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = np.linspace(-lim, lim, n)
    gx, gy = np.meshgrid(xs, xs)
    game = Game(**{**out.params, "seed": 0})
    with no_grad():
        d = game.critic(out.theta_d, np.stack([gx.ravel(), gy.ravel()], axis=1))
    return gx, gy, np.asarray(d).reshape(gx.shape)


def plot_samples(outs: Sequence[Outcome], path: Path) -> None:
    """Critic contours with real data (black) and generated samples (white) on top, one panel per method."""
    fig, axes = plt.subplots(1, len(outs), figsize=(5.5 * len(outs), 5), squeeze=False)
    real, _, _ = held_out(outs[0].params["dataset"], 1000)
    for ax, out in zip(axes[0], outs):
        lim = 2.5
        gx, gy, d = critic_grid(out, lim)
        cs = ax.contourf(gx, gy, d, levels=30, cmap="viridis")
        fig.colorbar(cs, ax=ax, shrink=0.8, label="critic D(x)")
        ax.scatter(*real.T, s=3, c="black", label="data")
        ax.scatter(*out.samples[:1000].T, s=3, c="white", alpha=0.7, label="generated")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
               title=f"{NAMES[out.constraint]}: {_coverage(out)}")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_training(outs: Sequence[Outcome], path: Path) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for out in outs:
        h, style = out.history, {"color": COLORS[out.constraint], "label": NAMES[out.constraint]}
        a.plot(h.iteration, h.wasserstein, **style)
        b.plot(h.iteration, h.grad_norm_mean, **style)
    a.set(title="Wasserstein estimate E D(real) - E D(fake) (held-out batch)", xlabel="generator iterations")
    b.set(title="mean ||grad D(x_hat)|| on interpolates", xlabel="generator iterations", yscale="log")
    b.axhline(1.0, color="gray", ls="--", lw=1)
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_norms(outs: Sequence[Outcome], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    lo = max(min(float(np.min(o.norms)) for o in outs), 1e-6)
    bins = np.logspace(np.log10(lo), np.log10(max(float(np.max(o.norms)) for o in outs) * 1.1), 80)
    for out in outs:
        ax.hist(out.norms, bins=bins, alpha=0.6, color=COLORS[out.constraint], label=NAMES[out.constraint])
    ax.axvline(1.0, color="gray", ls="--", lw=1)
    ax.set(xscale="log", xlabel="||grad D(x_hat)||", ylabel="interpolates",
           title=f"critic gradient norms at the end ({outs[0].norms.size} interpolates)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _coverage(out: Outcome) -> str:
    if out.modes is None:
        return "no modes"
    return f"{out.modes.covered}/{out.modes.counts.size} modes, quality {out.modes.quality:.1%}"


def row(out: Outcome) -> str:
    gap = np.abs(out.norms - 1)
    covered = "-" if out.modes is None else f"{out.modes.covered}/{out.modes.counts.size}"
    quality = "-" if out.modes is None else f"{out.modes.quality:.1%}"
    return (f"| {NAMES[out.constraint]} | {out.seed} | {covered} | {quality} | {gap.mean():.3f} | "
            f"{np.mean(out.norms):.3g} | "
            f"{np.median(out.norms):.3g} | {np.percentile(out.norms, 5):.3g} - {np.percentile(out.norms, 95):.3g} | "
            f"{out.wasserstein:.4f} | {'no' if out.finite else 'YES'} | {out.seconds / out.iterations:.3f} |")


def findings(runs: dict[str, list[Outcome]]) -> list[str]:
    """The must-show claims, checked on these numbers for every seed (pass or fail, as measured)."""
    lines = []
    for gp in runs.get("gp", []):
        gap = float(np.mean(np.abs(gp.norms - 1)))
        n = gp.modes.counts.size if gp.modes is not None else 0
        covered = gp.modes.covered if gp.modes is not None else 0
        lines.append(f"- WGAN-GP, seed {gp.seed}: {covered} of {n} modes (target {n}: "
                     f"{'met' if covered == n else 'NOT met'}); mean | ||grad D(x_hat)|| - 1 | = {gap:.3f} at the "
                     f"end (target <= 0.1: {'met' if gap <= 0.1 else 'NOT met'}); "
                     f"no NaN: {'met' if gp.finite else 'NOT met'}.")
    if len(runs.get("gp", [])) > 1:
        gaps = [float(np.mean(np.abs(o.norms - 1))) for o in runs["gp"]]
        lines.append(f"- Over {len(gaps)} seeds the WGAN-GP gap is {np.mean(gaps):.3f} on average (from "
                     f"{min(gaps):.3f} to {max(gaps):.3f}): the end of an adversarial game wanders, so the 0.1 target is judged per "
                     "seed and the spread is part of the result.")
    for clip in runs.get("clip", []):
        med = float(np.median(clip.norms))
        verdict = (FLAT if med < 0.3 else "not far from 1")
        lines.append(f"- Weight clipping, seed {clip.seed}: median ||grad D(x_hat)|| = {med:.3g} ({verdict}); "
                     f"{_coverage(clip)}.")
    return lines


def report(config_path: str, runs: dict[str, list[Outcome]], wall: float) -> str:
    outs = {c: rs[0] for c, rs in runs.items()}  # the lowest seed of each critic: settings and plots
    first = next(iter(outs.values()))
    seeds = sorted({o.seed for rs in runs.values() for o in rs})
    p = first.params
    return "\n".join([
        "# WGAN-GP on 8 gaussians (Gulrajani et al., NeurIPS 2017, toy setting)",
        "",
        f"Generated by `python -m optlab_plugins.wgan_study {config_path}` ({wall:.0f} s wall clock, the runs in "
        "parallel, one core each).",
        "",
        "## Setup",
        f"- Data: {p['dataset']} as in the paper's code (radius 2, std 0.02, all divided by 1.414), drawn from a "
        f"seed; batch {p['batch']} real points and {p['batch']} generated ones per evaluation, fresh every step.",
        f"- Networks: generator 2 -> {p['width']} x {p['depth']} -> 2 (ReLU, gaussian noise of dimension 2) and "
        f"critic 2 -> {p['width']} x {p['depth']} -> 1 (ReLU), He-normal start; the paper uses width 512, this "
        "study a smaller width to keep CPU time in minutes.",
        f"- Training: {first.iterations} generator iterations, each after {p['n_critic']} critic steps; both "
        f"players moved by optlab's `{first.optimizer}` plugin {first.optimizer_params} through `init`/`step` on "
        "an oracle of the player's own problem (a player's gradient is re-evaluated on a fresh batch when the "
        "opponent has moved or its weights were clipped).",
        f"- Critics: WGAN-GP with lambda = {p.get('lam', 10.0)}, target 1, two-sided, on interpolates "
        "u real + (1 - u) fake, u ~ U[0, 1] per sample (second derivatives through the critic); weight clipping "
        f"to [-{outs['clip'].params['clip'] if 'clip' in outs else 0.01}, "
        f"{outs['clip'].params['clip'] if 'clip' in outs else 0.01}] after every critic step, same optimizer.",
        f"- Measurements at the end, on held-out data and noise ({SAMPLES} points): a mode is covered when at least "
        "1/4 of the uniform share (n / 8) of generated samples lies within 3 std of it; quality share = samples "
        "within 3 std of some mode; ||grad D(x_hat)|| on interpolates of held-out real and generated points.",
        "",
        "## Results",
        "",
        f"Seeds {', '.join(map(str, seeds))} (each seeds the networks, the data and the noise); the pictures show "
        f"seed {seeds[0]}.",
        "",
        "| critic | seed | modes covered | quality share | mean abs(norm - 1) | mean norm | median norm | 5-95% norm | "
        "W estimate | NaN | s / generator iteration |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *[row(o) for rs in runs.values() for o in rs],
        "",
        "## Findings",
        *findings(runs),
        "",
        "![samples over data and critic contours](samples.png)",
        "",
        "![training curves](training.png)",
        "",
        "![gradient norm distribution](grad_norms.png)",
        "",
        "## Differences from the paper",
        f"- {first.iterations} generator iterations instead of 100,000 and width {p['width']} instead of 512, "
        "to keep each run to minutes on one CPU core.",
        f"- Penalty weight lambda = {p.get('lam', 10.0)}, between the paper's 10 and its toy code's 0.1 (whose comment "
        "says a larger lambda needs more critic steps). Probes before this study (width 64, same optimizer, not "
        "repeated here): lambda = 10 with 5 critic steps oscillated, the samples swinging as a whole (mean up to 2 "
        "away from the origin) and the Wasserstein estimate changing sign every few hundred iterations, no mode "
        "covered after 1500-2750 generator iterations; a plain PyTorch loop written after gan_toy.py (same data, He "
        "init, Adam, batch 256, float64) did the same for 3000 iterations, so it is the game, not optlab. With 25 "
        "critic steps lambda = 10 trained smoothly but slowly: after 4000 generator iterations (521 s, this config "
        "with lam 10, n_critic 25) 6/8 modes, quality share 45.2%, mean abs(norm - 1) 0.026. lambda = 0.1 left the "
        "norms near 3.4.",
        "- The paper's toy code trains the clipping baseline with RMSProp (lr 5e-5); here both critics use the same "
        "optimizer, so only the constraint differs.",
        "",
    ])


def study(config_path: str, overrides: Sequence[str] = ()) -> Path:
    """Train every game of the config and write the report; returns the output folder."""
    _, out, specs, executor = prepare(config_path, overrides)
    start = time.perf_counter()
    runs: dict[str, list[Outcome]] = {}
    for o in executor.map(train_spec, specs):
        print(f"trained {NAMES[o.constraint]} seed {o.seed}: {o.seconds:.0f} s, {_coverage(o)}, "
              f"mean abs(norm - 1) {np.mean(np.abs(o.norms - 1)):.3f}", flush=True)
        runs.setdefault(o.constraint, []).append(o)
    runs = {c: sorted(runs[c], key=lambda o: o.seed) for c in NAMES if c in runs}
    ordered = [rs[0] for rs in runs.values()]  # the lowest seed of each critic is drawn
    plot_samples(ordered, out / "samples.png")
    plot_training(ordered, out / "training.png")
    plot_norms(ordered, out / "grad_norms.png")
    (out / "report.md").write_text(report(config_path, runs, time.perf_counter() - start))
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m optlab_plugins.wgan_study CONFIG [key.path=value ...]")
    print(f"wrote {study(sys.argv[1], sys.argv[2:]) / 'report.md'}")
