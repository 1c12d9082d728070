"""Environments with factored actions for free-energy reinforcement learning (chapter 10).

* :class:`BlockerEnv` (``ebmlib/Blocker-v0``): a cooperative multi-agent task after
  Sallans & Hinton (2004); the joint action is one move per agent.
* :class:`KeyActionEnv` (``ebmlib/KeyAction-v0``): a one-step task whose state names a hidden
  target among ``2**n_bits`` binary actions; far too many actions to enumerate.

Both follow the gymnasium 1.x API and pass ``gymnasium.utils.env_checker.check_env``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .._validation import check_int

__all__ = ["BlockerEnv", "KeyActionEnv", "MOVES"]

#: Moves of one agent, as (row change, column change); same numbering as FrozenLake.
MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # left, down, right, up
_MOVE_NAMES = ("left", "down", "right", "up")


def _check_action(space: spaces.Space, action: Any) -> np.ndarray:
    """Validate a MultiDiscrete/MultiBinary action with a clear error."""
    arr = np.asarray(action)
    n = space.shape[0]
    if arr.shape != (n,):
        raise ValueError(
            f"action must have shape ({n},) (one entry per component), got {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"action must hold integers, got {arr.tolist()}")
    arr = arr.astype(np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        hi = np.asarray(space.nvec) - 1
        if np.any(arr < 0) or np.any(arr > hi):
            raise ValueError(f"action entries must lie in [0, {int(hi.max())}], got {arr.tolist()}")
    elif np.any((arr != 0) & (arr != 1)):
        raise ValueError(f"action must hold only 0 and 1 entries, got {arr.tolist()}")
    return arr


class BlockerEnv(gym.Env):
    """The cooperative Blocker task (this book's version of Sallans & Hinton 2004).

    A field of ``length`` rows and ``width`` columns; row 0 is the top, the last row is the
    **end zone**. ``n_agents`` agents start on distinct random columns of the top row;
    ``n_blockers`` blockers start on distinct random columns of the **defence row** (the row just
    above the end zone) and only ever move sideways along it. Each step:

    1. every agent makes one move (``0`` left, ``1`` down, ``2`` right, ``3`` up), in index order;
       a move off the field, onto a blocker or onto another agent leaves the agent where it is;
    2. if an agent now stands in the end zone the team **scores** and the episode terminates;
    3. otherwise each blocker, in index order, picks the agent nearest to the end zone that no
       earlier blocker has picked (ties: the agent in the nearest column, then the lower index;
       when all agents are picked, any agent), and steps one column towards it unless that cell
       holds another blocker or an agent.

    The reward is ``-1`` for every step (the scoring step included), so the return is minus the
    number of steps to score; the registered ``ebmlib/Blocker-v0`` cuts episodes after 100 steps.
    A single agent can never get past a blocker that shadows it, so the agents must spread out
    and arrive together: the task rewards coordination.

    Observation: ``MultiDiscrete([length * width] * (n_agents + n_blockers))``, the cell index
    ``row * width + col`` of every agent and then every blocker (learners encode each entry
    one-hot: "one-hot positions"). Action: ``MultiDiscrete([4] * n_agents)``, one move per agent.

    The original paper does not specify every rule; the field size (4 x 7), the blockers' rule,
    the collision rules and the reward above are the choices of this book.

    Parameters
    ----------
    width, length : int
        Field size; ``width >= 2``, ``length >= 3``.
    n_agents, n_blockers : int
        ``1 <= n_agents <= width``, ``0 <= n_blockers < width``.
    render_mode : {None, "ansi"}
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        width: int = 4,
        length: int = 7,
        n_agents: int = 2,
        n_blockers: int = 1,
        render_mode: str | None = None,
    ) -> None:
        self.width = check_int(width, "width", minimum=2)
        self.length = check_int(length, "length", minimum=3)
        self.n_agents = check_int(n_agents, "n_agents", minimum=1)
        self.n_blockers = check_int(n_blockers, "n_blockers", minimum=0)
        if self.n_agents > self.width:
            raise ValueError(f"n_agents must be <= width={self.width}, got {self.n_agents}")
        if self.n_blockers >= self.width:
            raise ValueError(f"n_blockers must be < width={self.width}, got {self.n_blockers}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        n_cells = self.width * self.length
        self.observation_space = spaces.MultiDiscrete([n_cells] * (self.n_agents + self.n_blockers))
        self.action_space = spaces.MultiDiscrete([4] * self.n_agents)
        self.defence_row = self.length - 2
        self.agents = np.zeros((self.n_agents, 2), dtype=np.int64)  # (row, col)
        self.blockers = np.zeros((self.n_blockers, 2), dtype=np.int64)

    # -- helpers -------------------------------------------------------------------------------
    def _obs(self) -> np.ndarray:
        cells = np.concatenate([self.agents, self.blockers]) if self.n_blockers else self.agents
        return (cells[:, 0] * self.width + cells[:, 1]).astype(np.int64)

    def _occupied(self, r: int, c: int, skip_agent: int = -1, skip_blocker: int = -1) -> bool:
        for i, (ar, ac) in enumerate(self.agents):
            if i != skip_agent and ar == r and ac == c:
                return True
        for j, (br, bc) in enumerate(self.blockers):
            if j != skip_blocker and br == r and bc == c:
                return True
        return False

    def _move_blockers(self) -> None:
        picked: set[int] = set()
        for j in range(self.n_blockers):
            br, bc = self.blockers[j]
            free = [i for i in range(self.n_agents) if i not in picked]
            pool = free if free else list(range(self.n_agents))
            target = min(pool, key=lambda i: (-self.agents[i, 0], abs(self.agents[i, 1] - bc), i))
            picked.add(target)
            step = int(np.sign(self.agents[target, 1] - bc))
            if step and not self._occupied(br, bc + step, skip_blocker=j):
                self.blockers[j, 1] = bc + step

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Agents on random distinct columns of the top row, blockers on the defence row."""
        super().reset(seed=seed)
        cols = self.np_random.permutation(self.width)[: self.n_agents]
        self.agents = np.stack([np.zeros(self.n_agents, dtype=np.int64), cols], axis=1)
        bcols = self.np_random.permutation(self.width)[: self.n_blockers]
        self.blockers = np.stack(
            [np.full(self.n_blockers, self.defence_row, dtype=np.int64), bcols], axis=1
        ).astype(np.int64)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the agents, check for a score, then move the blockers (see the class notes)."""
        moves = _check_action(self.action_space, action)
        for i, m in enumerate(moves):
            dr, dc = MOVES[int(m)]
            r, c = self.agents[i, 0] + dr, self.agents[i, 1] + dc
            if 0 <= r < self.length and 0 <= c < self.width and not self._occupied(r, c, i):
                self.agents[i] = (r, c)
        scored = bool((self.agents[:, 0] == self.length - 1).any())
        if not scored:
            self._move_blockers()
        return self._obs(), -1.0, scored, False, {"scored": scored}

    def render(self) -> str | None:
        """Text picture: ``A``/``B`` agents and blockers, ``=`` end zone, ``.`` empty."""
        if self.render_mode != "ansi":
            return None
        grid = [["." for _ in range(self.width)] for _ in range(self.length)]
        for c in range(self.width):
            grid[self.length - 1][c] = "="
        for r, c in self.blockers:
            grid[r][c] = "B"
        for i, (r, c) in enumerate(self.agents):
            grid[r][c] = str(i) if self.n_agents > 1 else "A"
        return "\n".join("".join(row) for row in grid) + "\n"


class KeyActionEnv(gym.Env):
    """A one-step task with ``2**n_bits`` binary actions: find the hidden key of the state.

    Each of ``n_states`` states names a hidden target action, a fixed random key
    ``k_s in {0, 1}^n_bits`` drawn once from ``key_seed``. ``reset`` draws a state uniformly;
    the agent answers with a binary action ``a`` and receives the reward

    ``r = (number of bits where a agrees with k_s) - n_bits / 2``,

    which grows with agreement (0 on average for a random answer, ``n_bits / 2`` for the key).
    The episode then terminates. With ``n_bits = 40`` there are about 1.1e12 actions, so an
    agent cannot enumerate them: it must sample good actions from its energy, in the spirit of
    the large-action experiments of Sallans & Hinton (2004).

    Parameters
    ----------
    n_bits : int
        Number of binary action units (default 40).
    n_states : int
        Number of states (default 8).
    key_seed : int
        Seed of the hidden keys (independent of the episode seeds).
    """

    metadata = {"render_modes": []}

    def __init__(self, n_bits: int = 40, n_states: int = 8, key_seed: int = 0) -> None:
        self.n_bits = check_int(n_bits, "n_bits", minimum=1)
        self.n_states = check_int(n_states, "n_states", minimum=1)
        self.key_seed = check_int(key_seed, "key_seed", minimum=0)
        rng = np.random.default_rng(self.key_seed)
        self._keys = rng.integers(0, 2, size=(self.n_states, self.n_bits), dtype=np.int8)
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.MultiBinary(self.n_bits)
        self.state = 0

    def key(self, state: int) -> np.ndarray:
        """The hidden target action of ``state`` (for analysis, not for the agent)."""
        state = check_int(state, "state", minimum=0)
        if state >= self.n_states:
            raise ValueError(f"state must be < n_states={self.n_states}, got {state}")
        return self._keys[state].copy()

    def agreement(self, state: int, action: Any) -> int:
        """Number of bits where ``action`` agrees with the key of ``state``."""
        a = _check_action(self.action_space, action)
        return int((a == self.key(state)).sum())

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Draw a state uniformly."""
        super().reset(seed=seed)
        self.state = int(self.np_random.integers(self.n_states))
        return self.state, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Reward ``agreement - n_bits / 2``; the episode terminates."""
        k = self.agreement(self.state, action)
        return self.state, float(k - self.n_bits / 2), True, False, {"agreement": k}


def __getattr__(name: str) -> Any:
    # MultiGoalEnv (chapter 11) lives in ebmlib.rl.multigoal; the public API names it
    # envs.MultiGoalEnv, so it is reachable from here too (lazily).
    if name == "MultiGoalEnv":
        from .multigoal import MultiGoalEnv

        return MultiGoalEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
