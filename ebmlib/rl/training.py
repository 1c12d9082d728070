"""The interaction loop: :func:`train` and :func:`evaluate` (chapters 9 and 10).

Both follow the gymnasium 1.x API: ``reset(seed=...)`` returns ``(obs, info)`` and ``step``
returns ``(obs, reward, terminated, truncated, info)``. A terminated episode has no successor
value; a truncated one (time limit) is bootstrapped from the next state like any other step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import check_int, check_probability
from ..utils import progress

__all__ = ["train", "evaluate", "run_episode"]


def _check_env(env: Any) -> None:
    for attr in ("reset", "step", "action_space", "observation_space"):
        if not hasattr(env, attr):
            raise TypeError(f"env must be a gymnasium environment (missing {attr!r})")


def _check_agent(agent: Any, need_update: bool = True) -> None:
    names = ("act", "greedy", "update") if need_update else ("act", "greedy")
    for attr in names:
        if not callable(getattr(agent, attr, None)):
            raise TypeError(f"agent must have a method {attr!r}, got {type(agent).__name__}")


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
) -> dict[str, float]:
    """Play one episode, updating the agent after every step when ``learn``.

    With ``greedy`` the agent's greedy action is taken, except with probability ``epsilon``
    a uniformly random one (drawn from ``env.action_space``, which :func:`train` and
    :func:`evaluate` seed).

    Returns ``{"return": G, "length": n, "terminated": bool, "td_error": mean |delta|}``.
    """
    obs, _ = env.reset(seed=seed)
    if greedy:

        def choose(o: Any) -> Any:
            if epsilon > 0 and float(torch.rand((), generator=generator)) < epsilon:
                return env.action_space.sample()
            return agent.greedy(o)

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
    return {
        "return": total,
        "length": float(n),
        "terminated": float(bool(terminated)),
        "td_error": abs_delta / n,
    }


def train(
    env: Any,
    agent: Any,
    episodes: int,
    *,
    seed: int | None = 0,
    max_steps: int | None = None,
    eval_every: int | None = None,
    eval_fn: Callable[[Any], float] | None = None,
    stop_fn: Callable[[dict[str, list[float]]], bool] | None = None,
    progress_bar: bool | None = None,
    desc: str | None = None,
) -> dict[str, list[float]]:
    """Train ``agent`` on ``env`` for ``episodes`` episodes.

    Seeding: the first ``env.reset`` gets ``seed`` (later resets continue the environment's own
    random stream, the gymnasium convention), ``env.action_space`` is seeded with ``seed``, and
    the agent's exploration draws come from ``torch.Generator().manual_seed(seed)``. With the
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
        Seed of the run (``None``: not seeded).
    max_steps : int, optional
        Cut episodes after this many steps (in addition to the environment's own time limit).
    eval_every : int, optional
        Call ``eval_fn(agent)`` before the first episode and after every ``eval_every``
        episodes; the values go to ``history["eval"]`` with ``history["eval_episode"]``.
    eval_fn : callable ``agent -> float``, optional
        For example the exact success probability of the greedy policy.
    stop_fn : callable ``history -> bool``, optional
        Called after every evaluation; training stops early when it returns True (for example
        ``lambda h: h["eval"][-1] >= 0.8``).
    progress_bar : bool, optional
        Show a ``tqdm`` bar (default: :func:`ebmlib.utils.progress_disabled` decides).
    desc : str, optional
        Label of the bar.

    Returns
    -------
    dict of lists
        ``episode``, ``return``, ``length``, ``terminated``, ``td_error`` (one entry per episode)
        and ``eval_episode``, ``eval`` (one per evaluation).
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
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
        env.action_space.seed(seed)
        generator = torch.Generator().manual_seed(seed)
    else:
        generator = torch.Generator()
        generator.seed()
    history: dict[str, list[float]] = {
        k: [] for k in ("episode", "return", "length", "terminated", "td_error")
    }
    history["eval_episode"] = []
    history["eval"] = []
    if eval_every is not None:
        history["eval_episode"].append(0)
        history["eval"].append(float(eval_fn(agent)))
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
        history["episode"].append(ep + 1)
        for k in ("return", "length", "terminated", "td_error"):
            history[k].append(out[k])
        if eval_every is not None and (ep + 1) % eval_every == 0:
            history["eval_episode"].append(ep + 1)
            history["eval"].append(float(eval_fn(agent)))
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(eval=f"{history['eval'][-1]:.3f}")
            if stop_fn is not None and stop_fn(history):
                break
    return history


def evaluate(
    env: Any,
    agent: Any,
    episodes: int = 100,
    *,
    seed: int | None = 0,
    greedy: bool = True,
    max_steps: int | None = None,
    epsilon: float = 0.0,
) -> dict[str, Any]:
    """Play ``episodes`` episodes without learning and summarise the returns.

    Parameters
    ----------
    env, agent :
        As in :func:`train`.
    episodes : int
    seed : int or None
        Seed of the first reset and of the agent's draws.
    greedy : bool
        Use ``agent.greedy`` (True) or the exploratory ``agent.act``.
    max_steps : int, optional
    epsilon : float
        With ``greedy``, take a uniformly random action with this probability (an
        epsilon-greedy test policy, which cannot loop forever in a deterministic environment).

    Returns
    -------
    dict
        ``returns`` and ``lengths`` (numpy arrays), ``mean_return``, ``std_error`` (of the
        mean), ``mean_length`` and ``terminated_rate``.
    """
    _check_env(env)
    _check_agent(agent, need_update=False)
    episodes = check_int(episodes, "episodes", minimum=1)
    epsilon = check_probability(epsilon, "epsilon")
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(check_int(seed, "seed", minimum=0))
        env.action_space.seed(seed)
    rets, lens, terms = [], [], []
    for ep in range(episodes):
        out = run_episode(
            env,
            agent,
            learn=False,
            greedy=greedy,
            seed=seed if (ep == 0 and seed is not None) else None,
            generator=generator,
            max_steps=max_steps,
            epsilon=epsilon,
        )
        rets.append(out["return"])
        lens.append(out["length"])
        terms.append(out["terminated"])
    r = np.asarray(rets)
    return {
        "returns": r,
        "lengths": np.asarray(lens),
        "mean_return": float(r.mean()),
        "std_error": float(r.std(ddof=1) / np.sqrt(len(r))) if len(r) > 1 else 0.0,
        "mean_length": float(np.mean(lens)),
        "terminated_rate": float(np.mean(terms)),
    }
