"""Each trained network fine-tuned on held-out tasks: the task MSE after 0..10 inner gradient steps.

600 held-out tasks (the same for every method and run), K shots each to fine-tune with plain gradient steps
of the problem's alpha, MSE on 100 uniform points per task: Finn et al.'s protocol (section 5.1).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from optlab.autodiff import no_grad
from optlab.optim import Problem
from optlab_plugins.maml import adapt, per_task

from . import tasks

EVAL_TASKS = 600
EVAL_STEPS = 10
EVAL_POINTS = 100  # query points per held-out task
EVAL_SEED = 2017
TAIL = 100  # the training loss reported is the mean over the last TAIL meta-iterations


def method_of(params: dict[str, Any]) -> str:
    """maml, fomaml, or pretrained (inner_steps 0: joint training on all tasks)."""
    if params.get("inner_steps", 1) == 0:
        return "pretrained"
    return "fomaml" if params.get("first_order", False) else "maml"


def held_out(K: int) -> tuple[tasks.Tasks, tuple, tuple]:
    """600 tasks, K shots each for fine-tuning and EVAL_POINTS for the MSE; the same for every method."""
    rng = np.random.default_rng([EVAL_SEED, K])
    drawn = tasks.sample_tasks(rng, EVAL_TASKS)
    return drawn, drawn.sample(rng, K), drawn.sample(rng, EVAL_POINTS)


def fine_tune(theta: np.ndarray, support: tuple, alpha: float, steps: int) -> list[list[np.ndarray]]:
    """Per-task parameters after 0..steps gradient steps on the support sets (no graph kept)."""
    params = per_task(tasks.unpack(theta), support[0].shape[0])
    out = [list(params)]
    for _ in range(steps):
        params = [p.data for p in adapt(tasks.task_losses, out[-1], support, alpha, 1, create_graph=False)]
        out.append(params)
    return out


def mse_after_steps(theta: np.ndarray, K: int, alpha: float) -> np.ndarray:
    """Task MSEs after 0..EVAL_STEPS inner steps, shape (steps + 1, tasks)."""
    _, support, query = held_out(K)
    with no_grad():
        return np.stack([tasks.task_losses(p, query) for p in fine_tune(theta, support, alpha, EVAL_STEPS)])


def interval(mse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over tasks and the half-width of its 95% normal interval."""
    return mse.mean(axis=-1), 1.96 * mse.std(axis=-1, ddof=1) / np.sqrt(mse.shape[-1])


def evaluate(problem: Problem, result: Any) -> dict[str, Any]:
    """The run's metrics: method, K, alpha, MSE mean and 95% half-width per step, training loss, theta."""
    K, alpha = problem.params["K"], problem.params["alpha"]
    mean, half = interval(mse_after_steps(result.x, K, alpha))
    tail = [t["f"] for t in result.trace[-TAIL:]]
    return {"method": method_of(problem.params), "K": K, "alpha": alpha, "steps": EVAL_STEPS,
            "tasks": EVAL_TASKS, "mse_mean": mean, "mse_half": half, "final_loss": float(np.mean(tail)),
            "theta": result.x}
