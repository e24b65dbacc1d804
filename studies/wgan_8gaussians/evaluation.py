"""Each trained game measured on held-out data and noise: mode coverage, quality, critic gradient norms.

10,000 generated points: a mode is covered when at least 1/4 of the uniform share of them lies within 3 std
of it, and the quality share is the fraction within 3 std of some mode; ||grad D(x_hat)|| on interpolates
of held-out real and generated points, whose mean distance to 1 is the gradient penalty's target.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .game import NOISE, Game, GameProblem, mode_stats, sample_data
from .game import evaluate as critic_measures

SAMPLES = 10_000  # generated points scored against the modes
EVAL_SEED = 2017


def held_out(dataset: str, n: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """n real points and n noise vectors, and the generator that then draws the interpolation weights."""
    rng = np.random.default_rng(EVAL_SEED)
    return sample_data(dataset, rng, n), rng.standard_normal((n, NOISE)), rng


def measure(game: Game) -> tuple[float, np.ndarray, np.ndarray]:
    """W estimate, ||grad D(x_hat)|| on held-out interpolates, and the generated held-out samples."""
    real, z, rng = held_out(game.dataset, SAMPLES)
    wasserstein, norms = critic_measures(game, real, z, rng)
    return wasserstein, norms, game.fake(z)


def evaluate(problem: GameProblem, result: Any) -> dict[str, Any]:
    """The run's metrics: coverage, quality, norm statistics, W estimate, the training history, both players."""
    game, history = problem.game, problem.history
    wasserstein, norms, samples = measure(game)
    modes = mode_stats(samples, game.dataset)
    finite = all(np.all(np.isfinite(v)) for v in (game.theta_g, game.theta_d, norms, history.wasserstein,
                                                   history.grad_norm_mean))
    return {
        "constraint": game.constraint, "dataset": game.dataset, "samples": SAMPLES,
        "modes": None if modes is None else int(modes.counts.size),
        "modes_covered": None if modes is None else modes.covered,
        "quality": None if modes is None else modes.quality,
        "gap": np.mean(np.abs(norms - 1)), "norm_mean": np.mean(norms), "norm_median": np.median(norms),
        "norm_p5": np.percentile(norms, 5), "norm_p95": np.percentile(norms, 95),
        "wasserstein": wasserstein, "finite": bool(finite),
        "seconds_per_iteration": result.wall_seconds / max(result.nit, 1),
        "history": {"iteration": history.iteration, "wasserstein": history.wasserstein,
                    "grad_norm_mean": history.grad_norm_mean, "grad_norm_gap": history.grad_norm_gap},
        "theta_g": game.theta_g, "theta_d": game.theta_d,
    }
