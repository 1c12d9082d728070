r"""The multi-goal point-mass task (chapter 11), after Haarnoja et al. (2017).

A point in the plane starts near the origin and moves by its action
:math:`a \in [-1, 1]^2` each step; four goals sit at :math:`(\pm 5, 0)` and :math:`(0, \pm 5)`.
The reward is

.. math::

    r = -c_a \lVert a\rVert^2 - c_d \min_g \lVert p' - g\rVert + R_{\text{goal}}\,[\text{goal}],

and an episode ends when the point comes within ``goal_radius`` of a goal (terminated) or after
``horizon`` steps (truncated). The four goals are equally good by symmetry, so an optimal
stochastic policy spreads over all of them while a greedy deterministic one commits to one.
Registered with gymnasium as ``ebmlib/MultiGoal-v0``. See chapter 11
(:ref:`chapter-energy-policies`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import require
from .._validation import _as_real, check_int, check_nonnegative, check_positive
from ..utils import renamed_argument

gym = require("gymnasium", "rl", feature="ebmlib.rl")
spaces = require("gymnasium.spaces", "rl", feature="ebmlib.rl")

__all__ = [
    "MultiGoalEnv",
    "GOALS",
    "goal_reached",
    "rollouts",
    "draw_multigoal",
    "draw_policy_samples",
]

GOALS = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0], [0.0, -5.0]], dtype=np.float32)


class MultiGoalEnv(gym.Env):
    """2-D point mass with four goals (see the module docstring for the reward).

    Parameters
    ----------
    horizon : int
        Steps before truncation.
    action_cost, distance_cost, goal_reward : float
        :math:`c_a`, :math:`c_d`, :math:`R_{goal}`.
    goal_radius : float
        Distance at which a goal counts as reached.
    start_noise : float
        Standard deviation of the start position around the origin.
    bound : float
        Positions are clipped to ``[-bound, bound]^2``.
    render_mode : {None, "ansi"}
        ``"ansi"``: :meth:`render` returns the step, the position and the nearest goal as text.

    Raises
    ------
    ValueError
        From :meth:`step`, for an action that is not a finite array of shape ``(2,)`` inside
        the action space ``[-1, 1]^2`` (actions are never clipped silently).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        horizon: int = 30,
        action_cost: float = 0.1,
        distance_cost: float = 0.1,
        goal_reward: float = 10.0,
        goal_radius: float = 1.0,
        start_noise: float = 0.1,
        bound: float = 7.0,
        render_mode: str | None = None,
    ) -> None:
        self.horizon = check_int(horizon, "horizon", minimum=1)
        self.action_cost = check_nonnegative(action_cost, "action_cost")
        self.distance_cost = check_nonnegative(distance_cost, "distance_cost")
        self.goal_reward = _as_real(goal_reward, "goal_reward")
        self.goal_radius = check_positive(goal_radius, "goal_radius")
        self.start_noise = check_nonnegative(start_noise, "start_noise")
        self.bound = check_positive(bound, "bound")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-self.bound, self.bound, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._pos = np.zeros(2, dtype=np.float32)
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._pos = (self.np_random.normal(size=2) * self.start_noise).astype(np.float32)
        self._pos = np.clip(self._pos, -self.bound, self.bound)
        self._t = 0
        return self._pos.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        try:
            a = np.asarray(action, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise TypeError(f"action must be an array of 2 numbers, got {action!r}") from err
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be a finite array of shape (2,), got {action!r}")
        if np.any(np.abs(a) > 1.0):
            raise ValueError(
                f"action must lie in the action space [-1, 1]^2, got {a.tolist()}; scale or "
                "clip it before calling step"
            )
        self._pos = np.clip(self._pos + a, -self.bound, self.bound).astype(np.float32)
        self._t += 1
        dist = np.linalg.norm(GOALS - self._pos, axis=1)
        k = int(dist.argmin())
        terminated = bool(dist[k] <= self.goal_radius)
        reward = -self.action_cost * float(a @ a) - self.distance_cost * float(dist[k])
        if terminated:
            reward += self.goal_reward
        truncated = (not terminated) and self._t >= self.horizon
        return self._pos.copy(), float(reward), terminated, bool(truncated), {"goal": k}

    def render(self) -> str | None:
        """Text: step, position and distance to the nearest goal (``render_mode="ansi"``)."""
        if self.render_mode != "ansi":
            return None
        dist = np.linalg.norm(GOALS - self._pos, axis=1)
        k = int(dist.argmin())
        return (
            f"step {self._t}/{self.horizon}: position ({self._pos[0]:+.2f}, {self._pos[1]:+.2f}), "
            f"nearest goal {k} at distance {dist[k]:.2f}\n"
        )


def goal_reached(position: Any, goal_radius: float = 1.0) -> int:
    """Index of the goal within ``goal_radius`` of ``position`` (``[2]``), or -1."""
    try:
        p = np.asarray(position, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"position must be a pair of numbers, got {position!r}") from err
    if p.shape != (2,):
        raise ValueError(f"position must have shape (2,), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"position must be finite, got {p.tolist()}")
    goal_radius = check_positive(goal_radius, "goal_radius")
    dist = np.linalg.norm(GOALS - p, axis=1)
    return int(dist.argmin()) if dist.min() <= goal_radius else -1


def rollouts(
    env: MultiGoalEnv, policy: Any, n: int, *, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Play ``n`` episodes with ``policy(obs) -> action``.

    Returns the paths (each ``[T+1, 2]``) and the goal index reached by each (-1: none).
    """
    n = check_int(n, "n", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    if not callable(policy):
        raise TypeError(f"policy must be callable (obs -> action), got {policy!r}")
    paths, goals = [], []
    for i in range(n):
        obs, _ = env.reset(seed=seed + i)
        path = [obs]
        while True:
            obs, _, term, trunc, info = env.step(policy(obs))
            path.append(obs)
            if term or trunc:
                break
        paths.append(np.asarray(path))
        goals.append(info["goal"] if term else -1)
    return paths, np.asarray(goals)


def draw_multigoal(
    paths: list[np.ndarray], *, title: str | None = None, goal_radius: float = 1.0, ax: Any = None
) -> Any:
    """Draw trajectories of the multi-goal task with the four goals; returns the axes."""
    plt = require("matplotlib.pyplot", "viz")

    goal_radius = check_positive(goal_radius, "goal_radius")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    for g in GOALS:
        ax.add_patch(plt.Circle(tuple(g), goal_radius, color="tab:green", alpha=0.3))
    for k, p in enumerate(paths):
        ax.plot(
            p[:, 0],
            p[:, 1],
            "-",
            color="tab:blue",
            alpha=0.5,
            lw=1,
            label="trajectories" if k == 0 else None,
        )
    ax.plot([], [], "o", color="tab:green", alpha=0.4, label="goals")
    ax.set_xlim(-7, 7)
    ax.set_ylim(-7, 7)
    ax.set_aspect("equal")
    ax.set_xlabel("position $p_1$")
    ax.set_ylabel("position $p_2$")
    ax.legend(loc="upper right", fontsize=7)
    if title:
        ax.set_title(title)
    return ax


@renamed_argument("alpha", "T", since="0.2")
def draw_policy_samples(
    agent: Any, T: float = 0.3, n: int = 20, seed: int = 0, ax: Any = None
) -> Any:
    r"""Demo: ``n`` episodes from the origin with actions drawn from ``exp(Q/T)``.

    ``agent`` is a trained continuous-action :class:`~ebmlib.rl.energy_agents.HopfieldQ` or
    :class:`~ebmlib.rl.energy_agents.SoftQ`; ``T`` is the sampling temperature
    (:math:numref:`eq-energy-policies-policy`; ``alpha`` is a deprecated alias). The title
    counts the episodes that reached each goal. Returns the axes.
    """
    import torch

    T = check_positive(T, "T")
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    env = MultiGoalEnv(start_noise=0.0)

    def policy(obs: np.ndarray) -> np.ndarray:
        return agent.from_units(agent.sample_actions(obs, 1, T=T, generator=g)[0])

    paths, goals = rollouts(env, policy, n, seed=seed)
    counts = np.bincount(goals[goals >= 0], minlength=4)
    title = f"$T$ = {T:g}: goals " + "/".join(str(c) for c in counts)
    return draw_multigoal(paths, title=title, ax=ax)
