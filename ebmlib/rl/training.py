r"""The interaction loop and the evaluation protocol of the book's RL results (chapters 9-13).

* :func:`run_episode`, :func:`train` (a budget of episodes) and :func:`evaluate` (greedy
  episodes without learning);
* :func:`train_steps`: a budget of environment steps with greedy evaluations every
  ``eval_every`` steps on a separate evaluation environment, always to the full budget;
* :func:`summarize`: the mean and spread over seeds of the final evaluations, and the step at
  which a threshold was first reached *and stayed* reached;
* :data:`CARTPOLE_V1` and :func:`meets_criterion`: "solves CartPole-v1" means a mean return
  of at least 475 over 100 consecutive greedy episodes;
* :func:`save_runs` / :func:`load_runs`: the JSON files the chapters plot.

**The protocol** (stated in chapter 9 and followed by every RL result of the book): train to
the full budget and never stop at the first evaluation that reaches a target; evaluate every
``E`` steps with greedy episodes on an evaluation environment seeded apart from training
(``eval_seed = 10_000 + seed`` by default, the same start states at every evaluation); record
the whole learning curve; report the mean and spread over seeds of the last evaluations and the
step from which a threshold stayed met.

All loops follow the gymnasium 1.x API: ``reset(seed=...)`` returns ``(obs, info)`` and ``step``
returns ``(obs, reward, terminated, truncated, info)``. A terminated episode has no successor
value; a truncated one (time limit) is bootstrapped from the next state like any other step.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validation import _as_real, check_generator, check_int, check_probability
from ..utils import Result, progress, renamed_argument

__all__ = [
    "run_episode",
    "train",
    "evaluate",
    "train_steps",
    "summarize",
    "steps_reached_and_stayed",
    "steps_first_reached",
    "meets_criterion",
    "Criterion",
    "CARTPOLE_V1",
    "EpisodeResult",
    "TrainHistory",
    "Evaluation",
    "StepRun",
    "RunSummary",
    "save_runs",
    "load_runs",
]

_SINCE = "0.2"
RUNS_FORMAT = "ebmlib.rl.runs"
"""The ``format`` tag of the JSON files written by :func:`save_runs`."""


class _LegacyKeys:
    """Mapping access under the key names of earlier versions (with a DeprecationWarning)."""

    _legacy: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        if isinstance(key, str) and key in self._legacy:
            new = self._legacy[key]
            warnings.warn(
                f"{type(self).__name__}[{key!r}] is deprecated; use the field {new!r}",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(self, new)
        return Result.__getitem__(self, key)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class EpisodeResult(_LegacyKeys, Result):
    """One episode played by :func:`run_episode`."""

    total_return: float
    """Sum of the rewards."""
    length: int
    """Number of steps."""
    terminated: bool
    """True if the episode ended in a terminal state (not by a time limit)."""
    td_error: float
    """Mean absolute TD error of the agent's updates (0 without learning)."""

    _legacy = {"return": "total_return"}


@dataclasses.dataclass
class TrainHistory(_LegacyKeys, Result):
    """History of :func:`train`: one entry per episode, and one per evaluation."""

    episode: list[int]
    """Episode numbers 1, 2, ..."""
    returns: list[float]
    """Return of each training episode."""
    lengths: list[int]
    """Length of each training episode."""
    terminated: list[bool]
    """Whether each episode terminated (rather than being truncated)."""
    td_error: list[float]
    """Mean absolute TD error of each episode."""
    eval_episode: list[int]
    """Episodes after which ``eval_fn`` was called (0: before training)."""
    eval: list[float]
    """The values of ``eval_fn``."""
    agent: str = ""
    """Class name of the agent."""
    seed: int | None = None
    """Seed of the run."""
    config: dict[str, Any] | None = None
    """The agent's config (``agent.config.as_dict()``) when it has one."""

    _legacy = {"return": "returns", "length": "lengths"}

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        return _jsonable(self.as_dict())


@dataclasses.dataclass(frozen=True)
class Evaluation(_LegacyKeys, Result):
    """Summary of :func:`evaluate`."""

    returns: np.ndarray
    """Return of each episode, ``[episodes]``."""
    lengths: np.ndarray
    """Length of each episode, ``[episodes]``."""
    mean_return: float
    """Mean of ``returns``."""
    std_error: float
    """Standard error of the mean return (0 for one episode)."""
    mean_length: float
    """Mean episode length."""
    terminated_rate: float
    """Fraction of episodes that terminated (rather than being truncated)."""


def _check_env(env: Any, name: str = "env") -> None:
    for attr in ("reset", "step", "action_space", "observation_space"):
        if not hasattr(env, attr):
            raise TypeError(f"{name} must be a gymnasium environment (missing {attr!r})")


def _check_agent(agent: Any, need_update: bool = True) -> None:
    names = ("act", "greedy", "update") if need_update else ("act", "greedy")
    for attr in names:
        if not callable(getattr(agent, attr, None)):
            raise TypeError(f"agent must have a method {attr!r}, got {type(agent).__name__}")


def _greedy_fn(agent: Any, generator: torch.Generator | None) -> Callable[[Any], Any]:
    """``agent.greedy``, given ``generator`` when it takes one (Gibbs-based greedy actions)."""
    try:
        takes = "generator" in inspect.signature(agent.greedy).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        takes = False
    if takes:
        return lambda o: agent.greedy(o, generator=generator)
    return agent.greedy


def run_episode(
    env: Any,
    agent: Any,
    *,
    learn: bool = True,
    greedy: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    max_steps: int | None = None,
    epsilon: float = 0.0,
) -> EpisodeResult:
    """Play one episode, updating the agent after every step when ``learn``.

    With ``greedy`` the agent's greedy action is taken, except with probability ``epsilon``
    a uniformly random one (drawn from ``env.action_space``, which :func:`train` and
    :func:`evaluate` seed). ``generator`` is passed to ``agent.act`` (None: torch's global
    generator).
    """
    epsilon = check_probability(epsilon, "epsilon")
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", minimum=1)
    obs, _ = env.reset(seed=seed)
    if greedy:
        best = _greedy_fn(agent, generator)

        def choose(o: Any) -> Any:
            if epsilon > 0 and float(torch.rand((), generator=generator)) < epsilon:
                return env.action_space.sample()
            return best(o)

    else:

        def choose(o: Any) -> Any:
            return agent.act(o, generator)

    action = choose(obs)
    total, n, abs_delta = 0.0, 0, 0.0
    terminated = truncated = False
    while True:
        next_obs, reward, terminated, truncated, _ = env.step(action)
        n += 1
        total += float(reward)
        if max_steps is not None and n >= max_steps:
            truncated = True
        next_action = None if terminated else choose(next_obs)
        if learn:
            abs_delta += abs(
                agent.update(obs, action, float(reward), next_obs, next_action, bool(terminated))
            )
        if terminated or truncated:
            break
        obs, action = next_obs, next_action
    return EpisodeResult(total, n, bool(terminated), abs_delta / n)


def _generator(seed: int | None) -> torch.Generator | None:
    """A generator seeded with ``seed``, or None (torch's global generator) for ``seed=None``."""
    if seed is None:
        return None
    return torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))


def train(
    env: Any,
    agent: Any,
    episodes: int,
    *,
    seed: int | None = 0,
    max_steps: int | None = None,
    eval_every: int | None = None,
    eval_fn: Callable[[Any], float] | None = None,
    stop_fn: Callable[[TrainHistory], bool] | None = None,
    progress_bar: bool | None = None,
    desc: str | None = None,
) -> TrainHistory:
    """Train ``agent`` on ``env`` for ``episodes`` episodes.

    Seeding: the first ``env.reset`` gets ``seed`` (later resets continue the environment's own
    random stream, the gymnasium convention), ``env.action_space`` is seeded with ``seed``, and
    the agent's exploration draws come from ``torch.Generator().manual_seed(seed)``; with
    ``seed=None`` nothing is seeded and the draws come from torch's global generator. With the
    same seed and a freshly built agent, a run is reproducible.

    Parameters
    ----------
    env : gymnasium.Env
    agent :
        An object with ``act(obs, generator)``, ``greedy(obs)``, ``update(...)`` and optionally
        ``begin_episode(episode)`` (see :mod:`ebmlib.rl.agents`).
    episodes : int
        Number of training episodes.
    seed : int or None
        Seed of the run.
    max_steps : int, optional
        Cut episodes after this many steps (in addition to the environment's own time limit).
    eval_every : int, optional
        Call ``eval_fn(agent)`` before the first episode and after every ``eval_every``
        episodes; the values go to ``history.eval`` with ``history.eval_episode``.
    eval_fn : callable ``agent -> float``, optional
        For example the exact success probability of the greedy policy.
    stop_fn : callable ``history -> bool``, optional
        Deprecated: the book's protocol trains to the full budget. Called after every
        evaluation; training stops early when it returns True.
    progress_bar : bool, optional
        Show a ``tqdm`` bar (default: :func:`ebmlib.utils.progress_disabled` decides).
    desc : str, optional
        Label of the bar.

    Returns
    -------
    TrainHistory
    """
    _check_env(env)
    _check_agent(agent)
    episodes = check_int(episodes, "episodes", minimum=0)
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", minimum=1)
    if eval_every is not None:
        eval_every = check_int(eval_every, "eval_every", minimum=1)
        if eval_fn is None or not callable(eval_fn):
            raise ValueError("eval_every needs a callable eval_fn(agent) -> float")
    if stop_fn is not None:
        warnings.warn(
            "train(stop_fn=...) is deprecated: results are reported after the full budget",
            DeprecationWarning,
            stacklevel=2,
        )
    generator = _generator(seed)
    if seed is not None:
        env.action_space.seed(seed)
    cfg = getattr(agent, "config", None)
    h = TrainHistory(
        [], [], [], [], [], [], [],
        agent=type(agent).__name__,
        seed=seed,
        config=cfg.as_dict() if hasattr(cfg, "as_dict") else None,
    )  # fmt: skip
    if eval_every is not None:
        h.eval_episode.append(0)
        h.eval.append(float(eval_fn(agent)))
    disable = None if progress_bar is None else not progress_bar
    bar = progress(range(episodes), desc=desc or type(agent).__name__, disable=disable)
    for ep in bar:
        if hasattr(agent, "begin_episode"):
            agent.begin_episode(ep)
        out = run_episode(
            env,
            agent,
            learn=True,
            seed=seed if ep == 0 else None,
            generator=generator,
            max_steps=max_steps,
        )
        h.episode.append(ep + 1)
        h.returns.append(out.total_return)
        h.lengths.append(out.length)
        h.terminated.append(out.terminated)
        h.td_error.append(out.td_error)
        if eval_every is not None and (ep + 1) % eval_every == 0:
            h.eval_episode.append(ep + 1)
            h.eval.append(float(eval_fn(agent)))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(eval=f"{h.eval[-1]:.3f}")
            if stop_fn is not None and stop_fn(h):
                break
    return h


def evaluate(
    env: Any,
    agent: Any,
    episodes: int = 100,
    *,
    seed: int | None = 0,
    greedy: bool = True,
    max_steps: int | None = None,
    epsilon: float = 0.0,
) -> Evaluation:
    """Play ``episodes`` episodes without learning and summarise the returns.

    Parameters
    ----------
    env, agent :
        As in :func:`train`.
    episodes : int
        Number of consecutive episodes.
    seed : int or None
        Seed of the first reset, of ``env.action_space`` and of the agent's draws (None: not
        seeded; draws from torch's global generator).
    greedy : bool
        Use ``agent.greedy`` (True) or the exploratory ``agent.act``.
    max_steps : int, optional
    epsilon : float
        With ``greedy``, take a uniformly random action with this probability (an
        epsilon-greedy test policy, which cannot loop forever in a deterministic environment).

    Returns
    -------
    Evaluation
    """
    _check_env(env)
    _check_agent(agent, need_update=False)
    episodes = check_int(episodes, "episodes", minimum=1)
    epsilon = check_probability(epsilon, "epsilon")
    if max_steps is not None:
        max_steps = check_int(max_steps, "max_steps", minimum=1)
    generator = _generator(seed)
    if seed is not None:
        env.action_space.seed(seed)
    rets, lens, terms = [], [], []
    for ep in range(episodes):
        out = run_episode(
            env,
            agent,
            learn=False,
            greedy=greedy,
            seed=seed if ep == 0 else None,
            generator=generator,
            max_steps=max_steps,
            epsilon=epsilon,
        )
        rets.append(out.total_return)
        lens.append(out.length)
        terms.append(out.terminated)
    r = np.asarray(rets, dtype=np.float64)
    return Evaluation(
        returns=r,
        lengths=np.asarray(lens),
        mean_return=float(r.mean()),
        std_error=float(r.std(ddof=1) / np.sqrt(len(r))) if len(r) > 1 else 0.0,
        mean_length=float(np.mean(lens)),
        terminated_rate=float(np.mean(terms)),
    )


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Criterion:
    """A success criterion: mean greedy return ``>= threshold`` over ``episodes`` consecutive
    episodes."""

    threshold: float
    """Lowest mean return that counts as success."""
    episodes: int
    """Number of consecutive greedy episodes averaged."""
    name: str = ""
    """What meeting it means, for reports."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _as_real(self.threshold, "threshold"))
        object.__setattr__(self, "episodes", check_int(self.episodes, "episodes", minimum=1))
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")


CARTPOLE_V1 = Criterion(475.0, 100, "solves CartPole-v1")
"""The standard criterion of CartPole-v1: mean return >= 475 over 100 consecutive episodes."""


def meets_criterion(
    env: Any, agent: Any, criterion: Criterion = CARTPOLE_V1, *, seed: int | None = 0
) -> tuple[bool, Evaluation]:
    """Whether ``agent``'s greedy policy meets ``criterion`` on ``env`` (and the evaluation).

    Plays ``criterion.episodes`` consecutive greedy episodes (:func:`evaluate` with ``seed``)
    and compares their mean return with ``criterion.threshold``.
    """
    if not isinstance(criterion, Criterion):
        raise TypeError(f"criterion must be a Criterion, got {type(criterion).__name__}")
    ev = evaluate(env, agent, criterion.episodes, seed=seed)
    return ev.mean_return >= criterion.threshold, ev


def steps_reached_and_stayed(
    steps: Sequence[int], values: Sequence[float], threshold: float
) -> int | None:
    """The first step from which every later value is ``>= threshold`` (None if never).

    ``steps`` and ``values`` are one learning curve (evaluation steps and mean returns). A
    curve that reaches the threshold and then falls below it again has not *stayed*; only the
    last entry into the region counts. Example: values ``[10, 480, 300, 490, 500]`` at steps
    ``[0, 1, 2, 3, 4]`` with threshold 475 give 3.
    """
    if len(steps) != len(values):
        raise ValueError(
            f"steps and values must have equal lengths, got {len(steps)}, {len(values)}"
        )
    threshold = _as_real(threshold, "threshold")
    found = None
    for s, v in zip(reversed(list(steps)), reversed(list(values)), strict=True):
        if not v >= threshold:  # NaN counts as not met
            break
        found = int(s)
    return found


def steps_first_reached(
    steps: Sequence[int], values: Sequence[float], threshold: float
) -> int | None:
    """The first step whose value is ``>= threshold`` (None if never); compare
    :func:`steps_reached_and_stayed`, which the book reports."""
    threshold = _as_real(threshold, "threshold")
    for s, v in zip(steps, values, strict=True):
        if v >= threshold:
            return int(s)
    return None


@dataclasses.dataclass(frozen=True)
class StepRun(_LegacyKeys, Result):
    """One training run of :func:`train_steps` (one agent, one seed), as saved to JSON."""

    agent: str
    """Class name of the agent."""
    env_id: str | None
    """Environment id (None for an unregistered environment)."""
    seed: int
    """Seed of the training environment and of the exploration draws."""
    eval_seed: int
    """Seed of the evaluation environment (the same start states at every evaluation)."""
    total_steps: int
    """The step budget (always used in full)."""
    eval_every: int
    """Environment steps between evaluations."""
    eval_episodes: int
    """Greedy episodes per evaluation."""
    eval_steps: list[int]
    """Steps at which the greedy policy was evaluated (0, E, 2E, ..., total_steps)."""
    eval_returns: list[float]
    """Mean greedy return of each evaluation."""
    eval_std: list[float]
    """Standard deviation of the greedy returns within each evaluation."""
    episode_steps: list[int]
    """Step count at the end of each training episode."""
    episode_returns: list[float]
    """Return of each training episode (exploratory policy)."""
    final_returns: list[float]
    """Returns of the final greedy evaluation of ``final_episodes`` consecutive episodes."""
    final_mean: float | None
    """Their mean (None without a final evaluation)."""
    threshold: float | None
    """The threshold of ``first_reached`` and ``reached_and_stayed``."""
    first_reached: int | None
    """First evaluation step whose mean return reached the threshold."""
    reached_and_stayed: int | None
    """First evaluation step from which every later evaluation reached the threshold."""
    config: dict[str, Any] | None
    """The agent's config (``agent.config.as_dict()``) when it has one."""
    wall_s: float
    """Wall-clock seconds of the run (training and evaluations)."""

    _legacy = {"steps_to_target": "first_reached", "steps": "total_steps"}

    @property
    def best_eval(self) -> float:
        """Largest evaluation mean (for reports of earlier versions; prefer the last ones)."""
        return max(self.eval_returns)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of the fields."""
        return _jsonable(self.as_dict())


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray | torch.Tensor):
        return _jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    return x


def _eval_env_for(env: Any) -> Any:
    """A separate evaluation environment: a fresh ``gymnasium.make`` of ``env``'s spec, or a
    deep copy of ``env`` when it has none."""
    spec = getattr(env, "spec", None)
    if spec is not None:
        import gymnasium as gym

        return gym.make(spec)
    return copy.deepcopy(env)


@renamed_argument("target", "threshold", since=_SINCE)
def train_steps(
    env: Any,
    agent: Any,
    total_steps: int,
    *,
    eval_env: Any = None,
    eval_every: int = 5000,
    eval_episodes: int = 10,
    final_episodes: int = 0,
    threshold: float | None = None,
    seed: int = 0,
    eval_seed: int | None = None,
    progress_bar: bool | None = None,
    stop_at_target: bool | None = None,
) -> StepRun:
    r"""Train for a budget of environment steps with periodic greedy evaluations.

    The loop steps ``env`` for exactly ``total_steps`` steps (episodes continue across
    evaluations; an episode cut by the budget is simply not finished). Before the first step,
    after every ``eval_every`` steps and after the last one, the greedy policy plays
    ``eval_episodes`` episodes on ``eval_env`` seeded with ``eval_seed`` (:func:`evaluate`;
    the same start states every time, so the curve's changes come from the agent). With
    ``final_episodes``, one more greedy evaluation of that many consecutive episodes closes the
    run (``final_episodes=100`` for the CartPole-v1 criterion, :data:`CARTPOLE_V1`).

    Seeding: ``env`` is reset with ``seed`` at the start and its ``action_space`` seeded; the
    agent's exploration draws come from ``torch.Generator().manual_seed(seed)``. The agent's own
    generator (initial weights, minibatches) is the agent's business: build it with a seeded
    generator, or after ``torch.manual_seed``.

    Parameters
    ----------
    env : gymnasium.Env
        Training environment.
    agent :
        See :mod:`ebmlib.rl.agents`.
    total_steps : int
        Step budget, used in full.
    eval_env : gymnasium.Env, optional
        Evaluation environment (default: a fresh ``gymnasium.make(env.spec)``, or a deep copy).
        It must not be ``env`` itself.
    eval_every : int
        Steps between evaluations.
    eval_episodes : int
        Greedy episodes per evaluation.
    final_episodes : int
        Greedy episodes of a final evaluation (0: none).
    threshold : float, optional
        Record the first evaluation step reaching it and the step from which it stayed reached.
    seed : int
        Seed of the training run.
    eval_seed : int, optional
        Seed of the evaluations (default ``10_000 + seed``).
    progress_bar : bool, optional
    stop_at_target : bool, optional
        Deprecated and ignored: training always runs to the full budget.

    Returns
    -------
    StepRun
    """
    _check_env(env)
    _check_agent(agent)
    total_steps = check_int(total_steps, "total_steps", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    eval_episodes = check_int(eval_episodes, "eval_episodes", minimum=1)
    final_episodes = check_int(final_episodes, "final_episodes", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    eval_seed = 10_000 + seed if eval_seed is None else check_int(eval_seed, "eval_seed", minimum=0)
    if threshold is not None:
        threshold = float(threshold)
        if math.isnan(threshold):
            raise ValueError("threshold must be a number, got nan")
    if stop_at_target is not None:
        warnings.warn(
            "train_steps(stop_at_target=...) is deprecated and ignored: training always runs to "
            "the full budget",
            DeprecationWarning,
            stacklevel=3,
        )
    if eval_env is None:
        eval_env = _eval_env_for(env)
    elif eval_env is env:
        raise ValueError("eval_env must be a separate environment, not env itself")
    else:
        _check_env(eval_env, "eval_env")
    t_start = time.perf_counter()
    gen = _generator(seed)
    check_generator(gen)
    env.action_space.seed(seed)
    eval_steps: list[int] = []
    eval_returns: list[float] = []
    eval_std: list[float] = []

    def evaluation(step: int) -> None:
        ev = evaluate(eval_env, agent, eval_episodes, seed=eval_seed)
        eval_steps.append(step)
        eval_returns.append(ev.mean_return)
        eval_std.append(float(ev.returns.std()))

    episode_steps: list[int] = []
    episode_returns: list[float] = []
    disable = None if progress_bar is None else not progress_bar
    bar = progress(None, desc=type(agent).__name__, total=total_steps, disable=disable)
    evaluation(0)
    ep = 0
    if hasattr(agent, "begin_episode"):
        agent.begin_episode(ep)
    obs, _ = env.reset(seed=seed)
    action = agent.act(obs, gen)
    ep_return, ep_start = 0.0, 0
    for t in range(1, total_steps + 1):
        next_obs, reward, terminated, truncated, _ = env.step(action)
        ep_return += float(reward)
        next_action = None if terminated else agent.act(next_obs, gen)
        agent.update(obs, action, float(reward), next_obs, next_action, bool(terminated))
        if terminated or truncated:
            episode_steps.append(t)
            episode_returns.append(ep_return)
            if hasattr(bar, "update"):
                bar.update(t - ep_start)
            ep += 1
            ep_return, ep_start = 0.0, t
            if t < total_steps:
                if hasattr(agent, "begin_episode"):
                    agent.begin_episode(ep)
                obs, _ = env.reset()
                action = agent.act(obs, gen)
        else:
            obs, action = next_obs, next_action
        if t % eval_every == 0 or t == total_steps:
            evaluation(t)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(eval=f"{eval_returns[-1]:.1f}")
    if hasattr(bar, "close"):
        bar.close()
    final_returns: list[float] = []
    final_mean = None
    if final_episodes:
        ev = evaluate(eval_env, agent, final_episodes, seed=eval_seed)
        final_returns = [float(r) for r in ev.returns]
        final_mean = ev.mean_return
    spec = getattr(env, "spec", None)
    config = getattr(agent, "config", None)
    return StepRun(
        agent=type(agent).__name__,
        env_id=getattr(spec, "id", None),
        seed=seed,
        eval_seed=eval_seed,
        total_steps=total_steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        eval_steps=eval_steps,
        eval_returns=eval_returns,
        eval_std=eval_std,
        episode_steps=episode_steps,
        episode_returns=episode_returns,
        final_returns=final_returns,
        final_mean=final_mean,
        threshold=threshold,
        first_reached=None
        if threshold is None
        else steps_first_reached(eval_steps, eval_returns, threshold),
        reached_and_stayed=None
        if threshold is None
        else steps_reached_and_stayed(eval_steps, eval_returns, threshold),
        config=config.as_dict() if hasattr(config, "as_dict") else None,
        wall_s=time.perf_counter() - t_start,
    )


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RunSummary(Result):
    """Mean and spread over seeds of the final evaluations of several runs (:func:`summarize`)."""

    n_runs: int
    """Number of runs (seeds)."""
    seeds: list[int]
    """Their seeds."""
    last: int
    """Number of final evaluations averaged per run."""
    final_per_run: list[float]
    """Per run: the mean of its last ``last`` evaluation means."""
    final_mean: float
    """Mean over runs of ``final_per_run``."""
    final_std: float
    """Standard deviation over runs of ``final_per_run`` (ddof=1; 0 for one run)."""
    final_min: float
    """Smallest of ``final_per_run``."""
    final_max: float
    """Largest of ``final_per_run``."""
    threshold: float | None
    """Threshold of ``reached_and_stayed``."""
    reached_and_stayed: list[int | None]
    """Per run: the first evaluation step from which the threshold stayed met (None: never)."""
    n_reached_and_stayed: int
    """How many runs ended with the threshold met from some step on."""
    final_episode_means: list[float | None]
    """Per run: the mean of its final greedy evaluation (None when it had none)."""


def _curve(run: Any) -> tuple[list[int], list[float], int | None]:
    if isinstance(run, StepRun):
        return list(run.eval_steps), list(run.eval_returns), run.seed
    if isinstance(run, TrainHistory):
        return list(run.eval_episode), list(run.eval), run.seed
    if isinstance(run, dict) and "eval_steps" in run:
        return list(run["eval_steps"]), list(run["eval_returns"]), run.get("seed")
    raise TypeError(
        f"runs must hold StepRun or TrainHistory objects (or their dicts), got {type(run).__name__}"
    )


def summarize(runs: Sequence[Any], *, last: int = 5, threshold: float | None = None) -> RunSummary:
    """The mean and spread over seeds of the final evaluations, and when a threshold stayed met.

    Parameters
    ----------
    runs : sequence of StepRun or TrainHistory
        One run per seed (the same budget and evaluation schedule).
    last : int
        Number of final evaluations averaged per run (the last 5 by default).
    threshold : float, optional
        For :func:`steps_reached_and_stayed` per run (default: the runs' own ``threshold``).

    Returns
    -------
    RunSummary
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs must not be empty")
    last = check_int(last, "last", minimum=1)
    if threshold is not None:
        threshold = _as_real(threshold, "threshold")
    if threshold is None:
        ths = {getattr(r, "threshold", None) for r in runs} - {None}
        threshold = ths.pop() if len(ths) == 1 else None
    finals, stayed, seeds, final_eps = [], [], [], []
    for r in runs:
        steps, values, seed = _curve(r)
        if len(values) < last:
            raise ValueError(f"a run has {len(values)} evaluations, fewer than last={last}")
        finals.append(float(np.mean(values[-last:])))
        stayed.append(
            None if threshold is None else steps_reached_and_stayed(steps, values, threshold)
        )
        seeds.append(seed)
        final_eps.append(getattr(r, "final_mean", None))
    f = np.asarray(finals)
    return RunSummary(
        n_runs=len(runs),
        seeds=seeds,
        last=last,
        final_per_run=finals,
        final_mean=float(f.mean()),
        final_std=float(f.std(ddof=1)) if len(f) > 1 else 0.0,
        final_min=float(f.min()),
        final_max=float(f.max()),
        threshold=threshold,
        reached_and_stayed=stayed,
        n_reached_and_stayed=sum(s is not None for s in stayed),
        final_episode_means=final_eps,
    )


def save_runs(path: str | Path, runs: Sequence[StepRun | TrainHistory], **meta: Any) -> None:
    """Write runs (and optional metadata, e.g. the command) to a JSON file the chapters plot.

    The file holds ``{"format": "ebmlib.rl.runs", "version": 1, "meta": {...},
    "runs": [...]}``, each run a dict of the fields of a :class:`StepRun` (a budget of steps)
    or a :class:`TrainHistory` (a budget of episodes) plus ``"kind"`` (``"steps"`` or
    ``"episodes"``); :func:`load_runs` reads it back.
    """
    records = []
    for r in runs:
        if isinstance(r, StepRun):
            records.append({"kind": "steps", **r.to_json()})
        elif isinstance(r, TrainHistory):
            records.append({"kind": "episodes", **r.to_json()})
        else:
            raise TypeError(
                f"runs must hold StepRun or TrainHistory objects, got {type(r).__name__}"
            )
    doc = {"format": RUNS_FORMAT, "version": 1, "meta": _jsonable(meta), "runs": records}
    Path(path).write_text(json.dumps(doc, indent=1))


def load_runs(path: str | Path) -> tuple[list[StepRun | TrainHistory], dict[str, Any]]:
    """Read a file written by :func:`save_runs`: the runs and the metadata."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("format") != RUNS_FORMAT:
        raise ValueError(f"{path} is not an {RUNS_FORMAT} file")
    runs: list[StepRun | TrainHistory] = []
    for r in doc["runs"]:
        cls = TrainHistory if r.get("kind") == "episodes" else StepRun
        names = {f.name for f in dataclasses.fields(cls)}
        runs.append(cls(**{k: v for k, v in r.items() if k in names}))
    return runs, doc.get("meta", {})
