"""The MAML sinusoid study's section of `optlab report`: the MSE table, findings, MSE curves, fitted curves.

It reads only the store: each run's metrics (the held-out MSE after 0..10 steps, its training loss, its
trained parameters, from which the fitted curves are redrawn). The lowest seed of each method and K is shown.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from optlab.autodiff import no_grad

from ..figures import figure
from ..mlp import forward
from . import tasks
from .evaluation import EVAL_POINTS, EVAL_STEPS, EVAL_TASKS, fine_tune, held_out

METHODS = ("maml", "fomaml", "pretrained")
COLORS = {"maml": "tab:red", "fomaml": "tab:orange", "pretrained": "tab:blue"}
SHOWN_STEPS = (0, 1, 2, 5, EVAL_STEPS)
Run = dict[str, Any]


def shown_runs(runs: list[Run]) -> dict[tuple[str, int], Run]:
    """The lowest seed of each (method, K) among the evaluated maml_sinusoid runs."""
    out: dict[tuple[str, int], Run] = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        if r["problem"] == "maml_sinusoid" and r.get("metrics"):
            out.setdefault((r["metrics"]["method"], r["metrics"]["K"]), r)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][1], METHODS.index(kv[0][0]))))


def _curves(run: Run) -> tuple[np.ndarray, np.ndarray]:
    return np.array(run["metrics"]["mse_mean"]), np.array(run["metrics"]["mse_half"])


def _steps(s: int) -> str:
    return f"{s} step{'s' if s != 1 else ''}"


def mse_table(shown: dict[tuple[str, int], Run]) -> list[str]:
    lines = ["| K | method | " + " | ".join(_steps(s) for s in SHOWN_STEPS) + " |",
             "|---|---|" + "---|" * len(SHOWN_STEPS)]
    for (method, k), run in shown.items():
        mean, half = _curves(run)
        lines.append(f"| {k} | {method} | " + " | ".join(f"{mean[s]:.3f} ± {half[s]:.3f}" for s in SHOWN_STEPS) + " |")
    return lines


def findings(shown: dict[tuple[str, int], Run], ks: Sequence[int]) -> list[str]:
    """The paper's qualitative claims, checked on these numbers."""
    out = []
    for k in ks:
        if not all((m, k) in shown for m in METHODS):
            continue
        maml, fo, pre = (_curves(shown[m, k])[0] for m in METHODS)
        out.append(f"- K = {k}: after one step MAML's MSE is {maml[1]:.3f} against the pretrained baseline's "
                   f"{pre[1]:.3f} ({pre[1] / maml[1]:.1f}x lower); "
                   f"MAML keeps falling to {maml[EVAL_STEPS]:.3f} at {EVAL_STEPS} steps "
                   f"({'monotone' if np.all(np.diff(maml[1:]) <= 0) else 'not monotone'} from step 1); "
                   f"second order vs first order after one step: {maml[1]:.3f} vs {fo[1]:.3f}.")
    return out


def plot_mse(shown: dict[tuple[str, int], Run], ks: Sequence[int], path: Path) -> None:
    fig = figure(5 * len(ks), 4)
    axes = fig.subplots(1, len(ks), squeeze=False)[0]
    steps = np.arange(EVAL_STEPS + 1)
    for ax, k in zip(axes, ks):
        for method in METHODS:
            if (method, k) in shown:
                mean, half = _curves(shown[method, k])
                ax.plot(steps, mean, "o-", color=COLORS[method], label=method, ms=3)
                ax.fill_between(steps, mean - half, mean + half, color=COLORS[method], alpha=0.2)
        ax.set(title=f"K = {k}: MSE on {EVAL_TASKS} held-out tasks", xlabel="inner gradient steps",
               ylabel="mean squared error", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_fits(shown: dict[tuple[str, int], Run], k: int, path: Path, tasks_shown: int = 3) -> None:
    """True curve, the K shots, and each method's fit before, after 1 and after 10 steps, for a few tasks."""
    drawn, support, _ = held_out(k)
    methods = [m for m in METHODS if (m, k) in shown]
    grid = np.linspace(*tasks.INPUT, 200)
    fig = figure(4.2 * len(methods), 2.8 * tasks_shown)
    axes = fig.subplots(tasks_shown, len(methods), squeeze=False, sharex=True)
    first = slice(0, tasks_shown)
    sub = tasks.Tasks(drawn.amplitude[first], drawn.phase[first])
    xs = np.broadcast_to(grid[None, :, None], (tasks_shown, grid.size, 1))
    for j, method in enumerate(methods):
        m = shown[method, k]["metrics"]
        fits = fine_tune(np.array(m["theta"]), (support[0][first], support[1][first]), m["alpha"], EVAL_STEPS)
        for i in range(tasks_shown):
            ax = axes[i, j]
            ax.plot(grid, sub(xs)[i, :, 0], "k-", lw=2, label="true")
            for step, style in ((0, ":"), (1, "--"), (EVAL_STEPS, "-")):
                with no_grad():
                    ax.plot(grid, forward(fits[step], xs)[i, :, 0], style, color=COLORS[method], label=_steps(step))
            ax.plot(support[0][i, :, 0], support[1][i, :, 0], "k^", ms=6, label=f"{k} shots")
            if i == 0:
                ax.set_title(f"{method}, K = {k}")
    axes[0, -1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def section(store: Any, outdir: Path) -> str | None:
    """Markdown of the study, its pictures saved under outdir/plots; None when the store has no such run."""
    runs = store.runs()
    shown = shown_runs(runs)
    if not shown:
        return None
    (outdir / "plots").mkdir(exist_ok=True)
    ks = sorted({k for _, k in shown})
    plot_mse(shown, ks, outdir / "plots" / "maml_mse_vs_steps.png")
    for k in ks:
        plot_fits(shown, k, outdir / "plots" / f"maml_fits_K{k}.png")
    some = next(iter(shown.values()))
    training = [f"| {m} | {k} | {r['nit']} | {r['metrics']['final_loss']:.3f} | {r['wall_seconds']:.0f} |"
                for (m, k), r in shown.items()]
    seeds = sorted({r["seed"] for r in runs if r["problem"] == "maml_sinusoid"})
    return "\n".join([
        "## MAML on sinusoid regression (Finn, Abbeel and Levine, ICML 2017, section 5.1)",
        "",
        "### Setup",
        "- Tasks: y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5]; K shots to adapt and K "
        f"other points for the meta-loss; meta-batch {some['problem_params'].get('meta_batch', 25)} tasks, "
        "a fresh one every step.",
        f"- Network: 1-40-40-1 ReLU MLP, MSE loss, one flat parameter vector ({tasks.n_params()} numbers) "
        f"differentiated by optlab's kernel; inner step size alpha = {some['metrics']['alpha']}, one inner step "
        "during meta-training.",
        f"- Outer loop: optimizer `{some['optimizer']}` {some['optimizer_params']}, {some['nit']} meta-iterations "
        "(the paper: Adam, 70,000). MAML differentiates through the inner step (second order), FOMAML detaches "
        "the inner gradient, pretrained trains one network on all tasks jointly (inner_steps 0).",
        f"- Evaluation (stored with each run as its metrics): {EVAL_TASKS} held-out tasks (the same for every "
        f"method), fine-tuned by plain gradient steps with alpha on K shots, MSE on {EVAL_POINTS} uniform points "
        "per task; mean ± 95% interval (1.96 standard errors over tasks). "
        f"Seeds stored: {', '.join(map(str, seeds))}; the tables and pictures show the lowest.",
        "",
        "### Mean squared error after fine-tuning",
        "",
        *mse_table(shown),
        "",
        "![MSE against inner steps](plots/maml_mse_vs_steps.png)",
        "",
        "### Findings",
        *findings(shown, ks),
        "",
        "### Fitted curves (first 3 held-out tasks; dotted: before fine-tuning, dashed: 1 step, solid: 10 steps)",
        "",
        *[f"![fits K={k}](plots/maml_fits_K{k}.png)" for k in ks],
        "",
        "### Training",
        "",
        "| method | K | meta-iterations | meta-loss (mean of last 100) | seconds |",
        "|---|---|---|---|---|",
        *training,
        "",
        "### Differences from the paper",
        f"- {some['nit']} instead of 70,000 meta-iterations, so absolute MSEs are higher than the paper's; the "
        "comparison between methods is what this study reproduces.",
        "- Initialization as in the paper's code (weights normal with std 0.01, truncated at 2 std; zero biases). "
        "The pretrained baseline is fine-tuned with the same alpha = 0.01 as MAML (the paper also tried a larger "
        "step for it).",
    ])
