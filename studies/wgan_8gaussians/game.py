"""WGAN on toy 2-D distributions (Gulrajani et al., 2017): data, nets, alternating training, mode metrics.

The toy data follow the paper's code (gan_toy.py), drawn from a seed: 8 gaussians on a circle of radius 2
(std 0.02), a 5 x 5 grid of gaussians 2 apart (std 0.05), both scaled to unit-ish spread, and a swiss roll
(noise 0.25, scaled by 1/7.5). Generator (2-D gaussian noise -> 2-D) and critic (2-D -> score) are ReLU MLPs
on flat parameter vectors (`optlab_studies.mlp`). The critic is constrained by the gradient penalty
(`constraint="gp"`) or by clipping its weights to [-clip, clip] after every step (`"clip"`, the WGAN baseline).

Each player is a stochastic `Problem` of its own parameters (the other player's held fixed) and is moved by
an optimizer plugin's `step` on an `Oracle` of that problem: `train` alternates n_critic critic steps with
one generator step. Two problems are registered: `wgan_game`, the whole game (`optlab run` trains it through
`GameProblem.play`), and `wgan_toy`, the critic's problem against the generator at its seeded start (the
paper's figure 1 setting: a critic trained against a fixed generator).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import optlab.autodiff.functions as F
from optlab.autodiff import no_grad
from optlab.optim import Budget, Optimizer, Oracle, Problem, State, Status
from optlab_plugins.gradient_penalty import gradient_penalty_at, input_gradient_norms, interpolates

from ..mlp import forward, layer_shapes, unpack

NOISE = 2  # generator input dimension, as in the paper's toy code


# ----------------------------------------------------------------------------------------------
# Toy data.

def eight_gaussians() -> tuple[np.ndarray, float]:
    """Centers and per-coordinate std of the 8 gaussians (radius 2, std 0.02, all divided by 1.414)."""
    angles = np.arange(8) * np.pi / 4
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1) / 1.414, 0.02 / 1.414


def twenty_five_gaussians() -> tuple[np.ndarray, float]:
    """Centers and std of the 5 x 5 grid (spacing 2, std 0.05, all divided by 2.828)."""
    grid = np.arange(-2, 3) * 2.0
    return np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2) / 2.828, 0.05 / 2.828


MODES: dict[str, Callable[[], tuple[np.ndarray, float]]] = {
    "8gaussians": eight_gaussians, "25gaussians": twenty_five_gaussians}
DATASETS = (*MODES, "swissroll")


def swiss_roll(rng: np.random.Generator, n: int, noise: float = 0.25) -> np.ndarray:
    """sklearn's make_swiss_roll, coordinates (x, z), scaled by 1/7.5."""
    t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=n))
    xz = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    return xz / 7.5


def sample_data(dataset: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n points of a toy distribution, shape (n, 2)."""
    if dataset == "swissroll":
        return swiss_roll(rng, n)
    centers, std = MODES[dataset]()
    return centers[rng.integers(len(centers), size=n)] + std * rng.standard_normal((n, 2))


@dataclass(frozen=True)
class ModeStats:
    """Generated samples against the modes: per-mode counts within 3 std, covered modes, quality share."""

    counts: np.ndarray
    covered: int
    quality: float


def mode_stats(samples: np.ndarray, dataset: str, fair_share: float = 0.25) -> ModeStats | None:
    """A mode is covered when at least fair_share x (n / modes) samples lie within 3 std of it; the quality
    share is the fraction of samples within 3 std of some mode. None for data without modes."""
    if dataset not in MODES:
        return None
    centers, std = MODES[dataset]()
    dist = np.linalg.norm(samples[:, None, :] - centers[None], axis=-1)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centers))
    covered = int(np.sum(counts >= fair_share * len(samples) / len(centers)))
    return ModeStats(counts, covered, float(good.mean()))


# ----------------------------------------------------------------------------------------------
# Networks on flat parameter vectors.

def shapes(width: int, depth: int, outputs: int) -> dict[str, Any]:
    return {"hidden": (width,) * depth, "inputs": 2, "outputs": outputs}


def he_init(rng: np.random.Generator, width: int, depth: int, outputs: int) -> np.ndarray:
    """He-normal weights (std sqrt(2 / fan_in)), zero biases, as one flat vector."""
    parts = []
    for i, (a, b) in enumerate(layer_shapes(**shapes(width, depth, outputs))):
        parts.append(rng.standard_normal(a * b) * np.sqrt(2.0 / a) if i % 2 == 0 else np.zeros(a * b))
    return np.concatenate(parts)


def mlp(width: int, depth: int, outputs: int) -> Callable[[Any, Any], Any]:
    """net(theta, x): the ReLU MLP 2 -> width^depth -> outputs."""
    kw = shapes(width, depth, outputs)

    def net(theta: Any, x: Any) -> Any:
        return forward(unpack(theta, **kw), x)

    return net


# ----------------------------------------------------------------------------------------------
# The game.

@dataclass
class Batch:
    """What one oracle evaluation sees: real points, generator noise, the seed of the interpolation weights."""

    real: np.ndarray
    z: np.ndarray
    mix_seed: int


class Game:
    """Generator and critic parameters, the current batch, and each player's loss."""

    def __init__(self, dataset: str = "8gaussians", constraint: str = "gp", lam: float = 10.0,
                 target: float = 1.0, one_sided: bool = False, clip: float = 0.01, n_critic: int = 5,
                 width: int = 256, depth: int = 3, batch: int = 256, seed: int = 0) -> None:
        if dataset not in DATASETS or constraint not in ("gp", "clip"):
            raise ValueError(f"wgan: dataset must be one of {DATASETS} and constraint 'gp' or 'clip', "
                             f"got {dataset!r}, {constraint!r}")
        if min(n_critic, width, depth, batch) < 1 or clip <= 0:
            raise ValueError("wgan: n_critic, width, depth and batch must be >= 1 and clip > 0")
        self.dataset, self.constraint, self.clip, self.n_critic, self.size = dataset, constraint, clip, n_critic, batch
        self.generator, self.critic = mlp(width, depth, 2), mlp(width, depth, 1)
        self.penalty = gradient_penalty_at(self.critic, lam, target, one_sided) if constraint == "gp" else None
        rng = np.random.default_rng(seed)
        self.theta_g = he_init(rng, width, depth, 2)
        self.theta_d = self.clipped(he_init(rng, width, depth, 1))
        self.resample(rng)

    def clipped(self, theta_d: np.ndarray) -> np.ndarray:
        return np.clip(theta_d, -self.clip, self.clip) if self.constraint == "clip" else theta_d

    def resample(self, rng: np.random.Generator) -> None:
        self.batch = Batch(sample_data(self.dataset, rng, self.size), rng.standard_normal((self.size, NOISE)),
                           int(rng.integers(2 ** 63)))

    def fake(self, z: np.ndarray) -> np.ndarray:
        with no_grad():
            return self.generator(self.theta_g, z)

    def critic_loss(self, theta_d: Any) -> Any:
        """E D(fake) - E D(real) (+ the gradient penalty): the critic minimizes minus the W estimate."""
        return self.critic_loss_on(theta_d, *self.critic_batch())

    def critic_batch(self) -> tuple[np.ndarray, ...]:
        """What the critic's loss reads: real points, the generator's fakes, the interpolation weights u."""
        b = self.batch
        fake = np.asarray(self.fake(b.z).data)
        u = np.random.default_rng(b.mix_seed).uniform(size=(b.real.shape[0], 1))  # as `interpolates` draws
        return b.real, fake, u

    def critic_loss_on(self, theta_d: Any, real: Any, fake: Any, u: Any) -> Any:
        """The critic's loss on explicit arrays (the oracle jits it with them as inputs)."""
        loss = F.mean(self.critic(theta_d, fake)) - F.mean(self.critic(theta_d, real))
        if self.penalty is not None:
            loss = loss + self.penalty(theta_d, u * real + (1.0 - u) * fake)
        return loss

    def generator_loss(self, theta_g: Any) -> Any:
        return self.generator_loss_on(theta_g, *self.generator_batch())

    def generator_batch(self) -> tuple[np.ndarray, ...]:
        """What the generator's loss reads: the noise and the critic's current parameters."""
        return self.batch.z, self.theta_d

    def generator_loss_on(self, theta_g: Any, z: Any, theta_d: Any) -> Any:
        return -F.mean(self.critic(theta_d, self.generator(theta_g, z)))

    def problem(self, player: str) -> Problem:
        """The stochastic problem of one player ("critic" or "generator"), the other held at its current values."""
        if player == "critic":
            return Problem(name="wgan_critic", objective=self.critic_loss, x0=self.theta_d, resample=self.resample,
                           batched=self.critic_loss_on, batch=self.critic_batch)
        return Problem(name="wgan_generator", objective=self.generator_loss, x0=self.theta_g, resample=self.resample,
                       batched=self.generator_loss_on, batch=self.generator_batch)


# ----------------------------------------------------------------------------------------------
# Alternating training.

@dataclass
class Player:
    """An optimizer plugin stepping one player's problem through its own oracle.

    `stale` marks a gradient in the optimizer's state that no longer fits the game (the opponent moved, or
    the weights were clipped after the step): it is re-evaluated on a fresh batch before the next step.
    `loss` is the player's loss at its last step's closing evaluation, before any projection.
    """

    optimizer: Optimizer
    oracle: Oracle
    project: Callable[[np.ndarray], np.ndarray] | None = None
    state: State | None = None
    stale: bool = False
    loss: float = np.nan

    def step(self, resample: Callable[[], None]) -> np.ndarray:
        resample()
        if self.state is None:
            self.state = self.optimizer.init(self.oracle, self.oracle.problem.x0)
        elif self.stale:
            f, g = self.oracle.f_and_grad(self.state.x)
            self.state = State(x=self.state.x, f=f, g=g, extra=self.state.extra)
        resample()  # the step's closing evaluation sees a batch its update did not
        self.state = self.optimizer.step(self.oracle, self.state)
        self.loss = float(self.state.f)
        self.stale = self.project is not None
        if self.project is not None:
            self.state = State(x=self.project(self.state.x), f=np.nan, g=None, extra=self.state.extra)
        return self.state.x


@dataclass
class History:
    """Metrics logged during training, one entry per logged generator iteration."""

    iteration: list[int] = field(default_factory=list)
    wasserstein: list[float] = field(default_factory=list)
    grad_norm_mean: list[float] = field(default_factory=list)
    grad_norm_gap: list[float] = field(default_factory=list)  # mean | ||grad D(x_hat)|| - 1 |
    seconds: list[float] = field(default_factory=list)


def evaluate(game: Game, real: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """The Wasserstein estimate E D(real) - E D(fake) and ||grad_x D(x_hat)|| on interpolates, on a fixed batch."""
    fake = game.fake(z)
    with no_grad():
        w = float(np.mean(game.critic(game.theta_d, real)) - np.mean(game.critic(game.theta_d, fake)))
    x_hat = interpolates(rng, real, fake)
    norms = input_gradient_norms(game.critic, game.theta_d, x_hat, create_graph=False)
    return w, np.asarray(norms.data)


def train(game: Game, make_optimizer: Callable[[], Optimizer], iterations: int, seed: int = 0,
          log_every: int = 100, eval_size: int = 1024, oracle: Callable[[Problem], Oracle] = Oracle,
          on_round: Callable[[int, float], bool] | None = None) -> History:
    """`iterations` generator steps, each after n_critic critic steps; metrics every `log_every` steps.

    Each player's oracle is ``oracle(problem)``. `on_round(it, critic_loss)` is called at the start (it = 0,
    the critic's loss there) and after every generator step; it returns True to stop the game there.
    """
    rng = np.random.default_rng([seed, 1])
    eval_rng = np.random.default_rng([seed, 2])
    real, z, mix_seed = sample_data(game.dataset, eval_rng, eval_size), eval_rng.standard_normal((eval_size, NOISE)), 7
    critic = Player(make_optimizer(), oracle(game.problem("critic")),
                    game.clipped if game.constraint == "clip" else None)
    generator = Player(make_optimizer(), oracle(game.problem("generator")))
    resample = lambda: game.resample(rng)  # noqa: E731
    history, start = History(), time.perf_counter()
    if on_round is not None and on_round(0, critic.oracle.f(game.theta_d)):  # on the start's batch: no draw
        return history
    for it in range(1, iterations + 1):
        for _ in range(game.n_critic):
            game.theta_d = critic.step(resample)
        generator.stale = True
        game.theta_g = generator.step(resample)
        critic.stale = True
        if it % log_every == 0 or it == iterations:
            w, norms = evaluate(game, real, z, np.random.default_rng(mix_seed))
            history.iteration.append(it)
            history.wasserstein.append(w)
            history.grad_norm_mean.append(float(norms.mean()))
            history.grad_norm_gap.append(float(np.abs(norms - 1).mean()))
            history.seconds.append(time.perf_counter() - start)
        if on_round is not None and on_round(it, critic.loss):
            break
    return history


@dataclass
class GameProblem(Problem):
    """The WGAN game as one problem of both players' parameters x = (theta_g, theta_d), trained by `play`.

    It has no single objective to minimize: `optlab run` hands the configured optimizer to `play`, whose
    loop is `train`. After the run, `game` holds the trained players and `history` the logged metrics.
    """

    game: Game | None = None
    seed: int = 0
    history: History | None = None

    def play(self, optimizer: Optimizer) -> "Alternating":
        return Alternating(self, optimizer)


class Alternating:
    """A black-box method over a `GameProblem`: `train` with each player moved by its own copy of `optimizer`.

    One round (iteration) is n_critic critic steps and one generator step; the trace records the joint
    parameters and the critic's loss after each round. Both players' oracle calls count against the run's
    budget, on the run's oracle counts.
    """

    def __init__(self, problem: GameProblem, optimizer: Optimizer) -> None:
        self.problem, self.optimizer = problem, optimizer
        self.name = f"alternating {optimizer.name}"

    def minimize(self, oracle: Oracle, x0: np.ndarray, budget: Budget,
                 record: Callable[[np.ndarray, float, np.ndarray | None], str | None]) -> str:
        game, status = self.problem.game, {}

        def player_oracle(problem: Problem) -> Oracle:
            player = Oracle(problem, max_calls=budget.oracle_calls, max_seconds=budget.seconds)
            player.counts = oracle.counts
            return player

        def on_round(it: int, loss: float) -> bool:
            status["end"] = record(np.concatenate([game.theta_g, game.theta_d]), loss, None)
            return status["end"] is not None

        self.problem.history = train(game, lambda: type(self.optimizer)(**self.optimizer.params.model_dump()),
                                     budget.iterations, seed=self.problem.seed,
                                     log_every=max(budget.iterations // 60, 1), oracle=player_oracle,
                                     on_round=on_round)
        return status.get("end") or Status.MAX_ITER


def wgan_game(dataset: str = "8gaussians", constraint: str = "gp", lam: float = 10.0, target: float = 1.0,
              one_sided: bool = False, clip: float = 0.01, n_critic: int = 5, width: int = 256, depth: int = 3,
              batch: int = 256, seed: int = 0) -> GameProblem:
    """The whole game from its seeded start: budget.iterations rounds of alternating play."""
    game = Game(dataset, constraint, lam, target, one_sided, clip, n_critic, width, depth, batch, seed)

    def objective(x: Any) -> Any:
        raise TypeError("problem 'wgan_game' is a game of two players, trained by its `play`, "
                        "not by minimizing one objective")

    params = {"dataset": dataset, "constraint": constraint, "lam": lam, "target": target, "one_sided": one_sided,
              "clip": clip, "n_critic": n_critic, "width": width, "depth": depth, "batch": batch, "seed": seed}
    return GameProblem(name="wgan_game", objective=objective, x0=np.concatenate([game.theta_g, game.theta_d]),
                       params=params, game=game, seed=seed)


def wgan_toy(dataset: str = "8gaussians", constraint: str = "gp", lam: float = 10.0, target: float = 1.0,
             one_sided: bool = False, clip: float = 0.01, n_critic: int = 5, width: int = 256, depth: int = 3,
             batch: int = 256, seed: int = 0) -> Problem:
    """The critic's problem against the generator at its seeded start (a fresh batch every step)."""
    game = Game(dataset, constraint, lam, target, one_sided, clip, n_critic, width, depth, batch, seed)
    problem = game.problem("critic")
    problem.params = {"dataset": dataset, "constraint": constraint, "lam": lam, "target": target,
                      "one_sided": one_sided, "clip": clip, "n_critic": n_critic, "width": width, "depth": depth,
                      "batch": batch, "seed": seed}
    return problem
