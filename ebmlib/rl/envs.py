"""Environments with factored actions for free-energy reinforcement learning (chapter 10).

* :class:`BlockerEnv` (``ebmlib/Blocker-v1``): the cooperative Blocker task of Sallans &
  Hinton (2000, 2004): a team of agents must get one of its members past a line of wide blockers
  that move to block them; one move per agent, so the joint action is factored.
* :class:`CombinationLockEnv` (``ebmlib/CombinationLock-v0``): a multi-step task whose action
  bits *interact*: each door of a lock opens only for the right combinations of switch pairs.
* :class:`KeyActionEnv` (``ebmlib/KeyAction-v0``): a one-step task whose state names a hidden
  target among ``2**n_bits`` binary actions; far too many actions to enumerate, and
  separable (the reward is a sum over bits).
* :class:`~ebmlib.rl.multigoal.MultiGoalEnv` (``ebmlib/MultiGoal-v0``, chapter 11), re-exported.

All follow the gymnasium 1.x API, pass ``gymnasium.utils.env_checker.check_env`` and accept
``render_mode="ansi"``. The Blocker and combination-lock tasks are small enough to be solved
exactly: their ``tabular()`` method returns the full model for :mod:`ebmlib.rl.exact`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._optional import require
from .._validation import check_choice, check_int, check_nonnegative
from .exact import TabularMDP
from .multigoal import MultiGoalEnv

gym = require("gymnasium", "rl", feature="ebmlib.rl")
spaces = require("gymnasium.spaces", "rl", feature="ebmlib.rl")

__all__ = [
    "BlockerEnv",
    "CombinationLockEnv",
    "KeyActionEnv",
    "MultiGoalEnv",
    "MOVES",
    "REGISTERED",
    "register_envs",
]

#: Moves of one agent, as (row change, column change); same numbering as FrozenLake.
MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # left, down, right, up
_MOVE_NAMES = ("left", "down", "right", "up")


def _check_action(space: Any, action: Any, name: str = "action") -> np.ndarray:
    """Validate a MultiDiscrete/MultiBinary action; errors name the argument (``name``)."""
    arr = np.asarray(action)
    n = space.shape[0]
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) (one entry per component), got {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integers, got {arr.tolist()}")
    arr = arr.astype(np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        hi = np.asarray(space.nvec) - 1
        if np.any(arr < 0) or np.any(arr > hi):
            raise ValueError(f"{name} entries must lie in [0, {int(hi.max())}], got {arr.tolist()}")
    elif np.any((arr != 0) & (arr != 1)):
        raise ValueError(f"{name} must hold only 0 and 1 entries, got {arr.tolist()}")
    return arr


def _check_render_mode(render_mode: str | None, modes: list[str]) -> str | None:
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"render_mode must be None or one of {modes}, got {render_mode!r}")
    return render_mode


#: A Blocker state: ``((row, col) of every agent, left column of every blocker)``.
BlockerState = tuple[tuple[tuple[int, int], ...], tuple[int, ...]]


class BlockerEnv(gym.Env):
    r"""The cooperative Blocker task after Sallans & Hinton (2000, 2004).

    A field of ``length`` rows and ``width`` columns; row 0 is the top and the last row is the
    **end zone**. The row above it is the **defence line**, patrolled by ``n_blockers``
    blockers, each ``blocker_width`` cells wide (three in the original task). The blockers
    never leave the line, never overlap and cannot cover it whole (``n_blockers *
    blocker_width < width``): there is always a **gap**, and the agents can reach the end zone
    only through it. ``n_agents`` agents start on distinct random columns of the top row, the
    blockers on a random legal stretch of the line (all start states equally likely). Each
    step:

    1. **the blockers move**: each may shift one column left or right or stay (no overlaps,
       never onto an agent). Among the joint moves open to them they take the one that keeps
       the gaps farthest from the agents: it maximises the number of moves, ignoring
       obstacles, that the nearest agent needs to enter a gap cell
       (``(defence row - row) + |column - gap column|``). Ties go to the joint move with fewer
       blockers moving, then to the first in lexicographic order over the blockers (blocker 0
       first), with stay before left before right;
    2. **the agents move** in index order (``0`` left, ``1`` down, ``2`` right, ``3`` up); a
       move off the field, onto a blocker or onto another agent leaves the agent where it is;
    3. if an agent now stands in the end zone the team **scores**: reward ``+1`` and the
       episode terminates; otherwise the reward is ``-1``.

    With the default 4 x 7 field, three agents and two blockers three cells wide, the gap can
    only be at column 0, 3 or 6, and the blockers can move it anywhere in one step. Two agents
    can therefore never score: the blockers always keep the gap away from both. Three agents
    score by standing above all three possible gaps at once, so that one of them must stay
    open: the task needs the whole team to coordinate. ``exact.value_iteration(env, gamma)``
    solves it exactly (:meth:`tabular` lists its 7 632 reachable states and 64 joint actions):
    the optimal joint policy scores from every one of the 630 start states within 7 steps
    (mean return ``-102/35 = -2.91``), whereas agents that do not coordinate
    (:meth:`heuristic_action`) score from few or none: all walking down from 1/35 of the starts,
    each heading for its own nearest hole from 12/35, all chasing the open gap from none.

    The field size, the numbers of agents and blockers, the blockers' width and the rewards
    follow Sallans & Hinton (2004); the papers do not spell out every rule, and the
    blockers' strategy, the tie-breaks and the collision rules above are this book's choices.

    Observation: ``MultiDiscrete([length * width] * n_agents + [width - blocker_width + 1] *
    n_blockers)``: the cell ``row * width + col`` of every agent, then the leftmost column of
    every blocker. Action: ``MultiDiscrete([4] * n_agents)``, one move per agent; the joint
    action index used by :meth:`tabular` is ``sum_i move_i * 4**i``.

    Parameters
    ----------
    width, length : int
        Field size; ``width >= 2``, ``length >= 3``.
    n_agents : int
        ``1 <= n_agents <= width``.
    n_blockers, blocker_width : int
        ``n_blockers >= 0``, ``blocker_width >= 1``, ``n_blockers * blocker_width < width``.
    render_mode : {None, "ansi"}
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        width: int = 7,
        length: int = 4,
        n_agents: int = 3,
        n_blockers: int = 2,
        blocker_width: int = 3,
        render_mode: str | None = None,
    ) -> None:
        self.width = check_int(width, "width", minimum=2)
        self.length = check_int(length, "length", minimum=3)
        self.n_agents = check_int(n_agents, "n_agents", minimum=1)
        self.n_blockers = check_int(n_blockers, "n_blockers", minimum=0)
        self.blocker_width = check_int(blocker_width, "blocker_width", minimum=1)
        if self.n_agents > self.width:
            raise ValueError(f"n_agents must be <= width={self.width}, got {self.n_agents}")
        if self.n_blockers * self.blocker_width >= self.width:
            raise ValueError(
                "the blockers must leave a gap: need n_blockers * blocker_width < width, got "
                f"n_blockers={self.n_blockers}, blocker_width={self.blocker_width}, "
                f"width={self.width}"
            )
        self.render_mode = _check_render_mode(render_mode, self.metadata["render_modes"])
        self.defence_row = self.length - 2
        self.end_row = self.length - 1
        n_cells = self.width * self.length
        n_pos = self.width - self.blocker_width + 1
        self.observation_space = spaces.MultiDiscrete(
            [n_cells] * self.n_agents + [n_pos] * self.n_blockers
        )
        self.action_space = spaces.MultiDiscrete([4] * self.n_agents)
        self._lines = self._legal_lines()
        #: Columns of the defence line that some legal blocker placement leaves open.
        self.holes = tuple(
            c for c in range(self.width) if any(c not in self._covered(b) for b in self._lines)
        )
        self._moves = list(itertools.product((0, -1, 1), repeat=self.n_blockers))
        self._moves.sort(key=lambda m: sum(d != 0 for d in m))  # stable: fewer movers first
        self.agents: tuple[tuple[int, int], ...] = tuple((0, c) for c in range(self.n_agents))
        self.blockers: tuple[int, ...] = self._lines[0]
        self._tabular: TabularMDP | None = None

    # -- the rules, as pure functions of a state ---------------------------------------------
    def _legal_lines(self) -> list[tuple[int, ...]]:
        """All placements of the blockers on an empty defence line (left columns, in order)."""
        top = self.width - self.blocker_width
        return [
            cols
            for cols in itertools.combinations(range(top + 1), self.n_blockers)
            if all(b - a >= self.blocker_width for a, b in itertools.pairwise(cols))
        ]

    def _covered(self, blockers: tuple[int, ...]) -> set[int]:
        """Columns of the defence line under a blocker."""
        return {c + k for c in blockers for k in range(self.blocker_width)}

    def _blockers_reply(
        self, agents: tuple[tuple[int, int], ...], blockers: tuple[int, ...]
    ) -> tuple[int, ...]:
        """Rule 1: the blockers' joint move that keeps the gaps farthest from the agents."""
        if not self.n_blockers:
            return blockers
        on_line = {c for r, c in agents if r == self.defence_row}
        best, best_score = blockers, -1
        for move in self._moves:
            cols = tuple(c + d for c, d in zip(blockers, move, strict=True))
            if cols[0] < 0 or cols[-1] > self.width - self.blocker_width:
                continue
            if any(b - a < self.blocker_width for a, b in itertools.pairwise(cols)):
                continue
            covered = self._covered(cols)
            if covered & on_line:
                continue
            score = min(
                (self.defence_row - r) + abs(c - g)
                for g in range(self.width)
                if g not in covered
                for r, c in agents
                if r <= self.defence_row
            )
            if score > best_score:
                best, best_score = cols, score
        return best

    def _agents_move(
        self, agents: tuple[tuple[int, int], ...], blockers: tuple[int, ...], moves: Any
    ) -> tuple[tuple[int, int], ...]:
        """Rule 2: the agents move in index order; blocked moves leave an agent in place."""
        covered = self._covered(blockers)
        pos = list(agents)
        for i, m in enumerate(moves):
            dr, dc = MOVES[int(m)]
            r, c = pos[i][0] + dr, pos[i][1] + dc
            if not (0 <= r < self.length and 0 <= c < self.width):
                continue
            if r == self.defence_row and c in covered:
                continue
            if (r, c) in pos:
                continue
            pos[i] = (r, c)
        return tuple(pos)

    def transition(self, state: BlockerState, moves: Any) -> tuple[BlockerState, float, bool]:
        """One step from ``state`` (rules 1-3): ``(next_state, reward, scored)``.

        ``state`` is ``(agents, blockers)`` as in :attr:`state`; ``moves`` one move per agent.
        Pure: the environment itself is not changed.
        """
        agents, blockers = self._check_state(state)
        moves = _check_action(self.action_space, moves, "moves")
        blockers = self._blockers_reply(agents, blockers)
        agents = self._agents_move(agents, blockers, moves)
        scored = any(r == self.end_row for r, _ in agents)
        return (agents, blockers), (1.0 if scored else -1.0), scored

    @property
    def state(self) -> BlockerState:
        """The current state ``((row, col) of every agent, left column of every blocker)``."""
        return self.agents, self.blockers

    def start_states(self) -> list[BlockerState]:
        """Every state ``reset`` can return (each equally likely)."""
        out = []
        for cols in itertools.permutations(range(self.width), self.n_agents):
            agents = tuple((0, c) for c in cols)
            out.extend((agents, line) for line in self._lines)
        return out

    def observation(self, state: BlockerState) -> np.ndarray:
        """The observation of ``state`` (see the class notes)."""
        agents, blockers = state
        cells = [r * self.width + c for r, c in agents]
        return np.asarray(cells + list(blockers), dtype=np.int64)

    def cells(self, state: BlockerState | None = None) -> np.ndarray:
        """Occupied cells ``row * width + col``: every agent, then every cell under a blocker.

        For drawing a state (``ebmlib.rl.plots.draw_blocker(env.cells(), width, length,
        n_agents)`` draws each blocker cell as a square). Default: the current state.
        """
        agents, blockers = self.state if state is None else state
        covered = sorted(self._covered(blockers))
        cells = [r * self.width + c for r, c in agents]
        cells += [self.defence_row * self.width + c for c in covered]
        return np.asarray(cells, dtype=np.int64)

    def joint_index(self, moves: Any) -> int:
        """Index ``sum_i move_i * 4**i`` of a joint action (as used by :meth:`tabular`)."""
        m = _check_action(self.action_space, moves, "moves")
        return int(sum(int(x) * 4**i for i, x in enumerate(m)))

    def joint_action(self, index: int) -> np.ndarray:
        """The moves of joint action ``index`` (inverse of :meth:`joint_index`)."""
        index = check_int(index, "index", minimum=0)
        if index >= 4**self.n_agents:
            raise ValueError(f"index must be < 4**n_agents = {4**self.n_agents}, got {index}")
        return np.asarray([(index >> (2 * i)) & 3 for i in range(self.n_agents)], np.int64)

    # -- exact model ---------------------------------------------------------------------------
    def tabular(self) -> TabularMDP:
        """The exact model over every state reachable from a start state.

        States are numbered in the order a breadth-first search from the start states meets
        them; ``labels[s]`` is the state ``(agents, blockers)``. Joint action ``k`` is
        :meth:`joint_action` ``(k)``. The model is deterministic (one outcome per pair); a
        scoring step terminates with reward ``+1`` (a success). Cached after the first call.

        Returns
        -------
        TabularMDP
        """
        if self._tabular is not None:
            return self._tabular
        n_act = 4**self.n_agents
        joint = [tuple(self.joint_action(k)) for k in range(n_act)]
        starts = self.start_states()
        index = {s: i for i, s in enumerate(starts)}
        labels = list(starts)
        rows_next, rows_term = [], []
        k = 0
        while k < len(labels):
            agents, blockers = labels[k]
            moved = self._blockers_reply(agents, blockers)
            nxt, term = [], []
            for m in joint:
                a2 = self._agents_move(agents, moved, m)
                if any(r == self.end_row for r, _ in a2):
                    nxt.append(0)
                    term.append(True)
                    continue
                s2 = (a2, moved)
                j = index.get(s2)
                if j is None:
                    j = index[s2] = len(labels)
                    labels.append(s2)
                nxt.append(j)
                term.append(False)
            rows_next.append(nxt)
            rows_term.append(term)
            k += 1
        terminate = torch.tensor(rows_term, dtype=torch.float64)
        next_state = torch.tensor(rows_next, dtype=torch.int64)[:, :, None]
        prob = (1 - terminate)[:, :, None]
        R = 2 * terminate - 1  # +1 when scoring, -1 otherwise
        initial = torch.zeros(len(labels), dtype=torch.float64)
        initial[: len(starts)] = 1.0 / len(starts)
        self._tabular = TabularMDP(
            next_state, prob, R, terminate.clone(), terminate, initial, tuple(labels)
        )
        return self._tabular

    def policy_table(
        self, act: Callable[[np.ndarray], Any], mdp: TabularMDP | None = None
    ) -> torch.Tensor:
        """Joint action index of ``act(observation)`` in every state of ``mdp`` (``[S]``).

        Turns any deterministic policy that maps observations to joint actions (a learner's
        greedy policy, a heuristic) into the table :mod:`ebmlib.rl.exact` evaluates.
        """
        if not callable(act):
            raise TypeError(f"act must be callable (observation -> action), got {act!r}")
        mdp = self.tabular() if mdp is None else mdp
        return torch.tensor(
            [self.joint_index(act(self.observation(s))) for s in mdp.labels], dtype=torch.int64
        )

    # -- fixed policies without (or with) coordination -----------------------------------------
    def heuristic_action(self, name: str, state: BlockerState | None = None) -> np.ndarray:
        """Joint action of a fixed policy in ``state`` (default: the current state).

        ``name`` is one of

        * ``"all_down"``: every agent always moves down;
        * ``"nearest_hole"``: each agent on its own column: it heads for the column of
          :attr:`holes` nearest to it (ties: the lower one) and walks down there, whatever its
          team-mates do;
        * ``"chase_gap"``: independent greedy agents: each heads for the open gap cell nearest
          to it right now and walks down when above it;
        * ``"formation"``: a coordinated convention: the agents, ranked by column from the
          left (ties by index), take evenly spaced holes in the same order, so that no two
          go for the same hole and none has to cross another, and walk down there.
        """
        agents, blockers = self.state if state is None else state
        if name == "all_down":
            return np.ones(self.n_agents, dtype=np.int64)
        if name == "nearest_hole":
            targets = [min(self.holes, key=lambda h, c=c: (abs(h - c), h)) for _, c in agents]
        elif name == "chase_gap":
            covered = self._covered(blockers)
            open_cols = [g for g in range(self.width) if g not in covered]
            targets = [min(open_cols, key=lambda g, c=c: (abs(g - c), g)) for _, c in agents]
        elif name == "formation":
            n, n_h = self.n_agents, len(self.holes)
            rank = sorted(range(n), key=lambda i: (agents[i][1], i))
            targets = [0] * n
            for k, i in enumerate(rank):
                j = k % n_h if n > n_h else (round(k * (n_h - 1) / (n - 1)) if n > 1 else 0)
                targets[i] = self.holes[j]
        else:
            names = "'all_down', 'nearest_hole', 'chase_gap' or 'formation'"
            raise ValueError(f"name must be {names}, got {name!r}")
        out = []
        for (r, c), t in zip(agents, targets, strict=True):
            if r >= self.defence_row or c == t:
                out.append(1)  # down
            else:
                out.append(0 if t < c else 2)
        return np.asarray(out, dtype=np.int64)

    def heuristic_policy(self, name: str, mdp: TabularMDP | None = None) -> torch.Tensor:
        """:meth:`heuristic_action` ``(name)`` in every state of ``mdp``: joint indices ``[S]``."""
        check_choice(name, "name", ("all_down", "nearest_hole", "chase_gap", "formation"))
        mdp = self.tabular() if mdp is None else mdp
        powers = 4 ** np.arange(self.n_agents)
        return torch.tensor(
            [int(self.heuristic_action(name, s) @ powers) for s in mdp.labels], dtype=torch.int64
        )

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Agents on random distinct columns of the top row, blockers on a random legal stretch.

        ``options={"state": (agents, blockers)}`` starts from a given legal state instead.
        """
        super().reset(seed=seed)
        if options and "state" in options:
            self.agents, self.blockers = self._check_state(options["state"])
        else:
            cols = self.np_random.permutation(self.width)[: self.n_agents]
            self.agents = tuple((0, int(c)) for c in cols)
            self.blockers = self._lines[int(self.np_random.integers(len(self._lines)))]
        return self.observation(self.state), {}

    def _check_state(self, state: Any) -> BlockerState:
        try:
            agents = tuple((int(r), int(c)) for r, c in state[0])
            blockers = tuple(int(c) for c in state[1])
        except (TypeError, ValueError, IndexError) as err:
            raise ValueError(
                "options['state'] must be ((row, col) of every agent, left column of every "
                f"blocker), got {state!r}"
            ) from err
        ok = (
            len(agents) == self.n_agents
            and len(blockers) == self.n_blockers
            and len(set(agents)) == self.n_agents
            and all(0 <= r < self.end_row and 0 <= c < self.width for r, c in agents)
            and blockers in self._lines
            and not any(r == self.defence_row and c in self._covered(blockers) for r, c in agents)
        )
        if not ok:
            raise ValueError(f"options['state'] is not a legal non-terminal state: {state!r}")
        return agents, blockers

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the blockers, then the agents; score if an agent reached the end zone."""
        moves = _check_action(self.action_space, action)
        (self.agents, self.blockers), reward, scored = self.transition(self.state, moves)
        return self.observation(self.state), reward, scored, False, {"scored": scored}

    def render(self) -> str | None:
        """Text picture: agents ``0``-``9``, blockers ``#``, end zone ``=``, empty ``.``."""
        if self.render_mode != "ansi":
            return None
        grid = [["." for _ in range(self.width)] for _ in range(self.length)]
        grid[self.end_row] = ["=" for _ in range(self.width)]
        for c in self._covered(self.blockers):
            grid[self.defence_row][c] = "#"
        for i, (r, c) in enumerate(self.agents):
            grid[r][c] = str(i % 10)
        return "\n".join("".join(row) for row in grid) + "\n"


class CombinationLockEnv(gym.Env):
    r"""A multi-step task whose action bits interact: the doors of a combination lock.

    The agent walks through ``n_rooms`` rooms; in each it sets ``n_bits`` switches (the binary
    action), grouped in pairs ``(0, 1), (2, 3), ...``. Every pair works one bolt of the room's
    door, and each bolt has a hidden rule: it opens when the pair's two switches **agree** or
    when they **differ** (an XOR). The door opens when all its bolts do. A step in room ``s``
    with switches ``a`` earns

    .. math::

        r = \frac{\#\text{open bolts}}{n_{\text{pairs}}} - 1 - c\,|a| + [\text{last door}],

    a partial credit for the bolts, an effort cost ``c`` per switch that is on, and ``+1`` for
    opening the last door, which ends the episode. If the door opens the agent walks into the
    next room; if not, the lock resets and the agent is back in room 0
    (``reset_on_failure=False``: it stays where it is).

    Whether a bolt opens depends on the *combination* of its two switches, never on one switch
    alone: averaged over its partner, each switch opens a bolt half of the time. An agent whose
    Q-function is a sum of one term per action bit therefore sees no signal from the bolts;
    its best fit to the optimal Q is ``-c`` per switch (all switches off), which never opens a
    "differ" bolt (:func:`ebmlib.rl.exact.additive_fit`). A factored agent must learn the
    couplings, as the hidden units of a free-energy agent can.

    Observation: ``Discrete(n_rooms)``, the room. Action: ``MultiBinary(n_bits)``; the action
    index used by :meth:`tabular` is ``sum_j a_j 2**j``.

    Parameters
    ----------
    n_bits : int
        Number of switches, even, ``2 <= n_bits <= 20``.
    n_rooms : int
        Number of doors (``>= 1``).
    effort_cost : float
        ``c >= 0`` with ``c * n_bits < 1``, so that opening the last door pays.
    reset_on_failure : bool
        Send the agent back to room 0 when a door stays shut.
    key_seed : int
        Seed of the hidden rules: uniform among the rules with at least one "differ" bolt per
        room, drawn once (independent of the episode seeds).
    rules : array-like of shape ``[n_rooms, n_bits // 2]``, optional
        The rules given explicitly: ``1`` = the bolt opens when its switches differ, ``0`` =
        when they agree. Overrides ``key_seed``.
    render_mode : {None, "ansi"}
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        n_bits: int = 8,
        n_rooms: int = 3,
        effort_cost: float = 0.05,
        reset_on_failure: bool = True,
        key_seed: int = 0,
        rules: Any = None,
        render_mode: str | None = None,
    ) -> None:
        self.n_bits = check_int(n_bits, "n_bits", minimum=2)
        if self.n_bits % 2 or self.n_bits > 20:
            raise ValueError(f"n_bits must be even and <= 20, got {self.n_bits}")
        self.n_pairs = self.n_bits // 2
        self.n_rooms = check_int(n_rooms, "n_rooms", minimum=1)
        self.effort_cost = check_nonnegative(effort_cost, "effort_cost")
        if self.effort_cost * self.n_bits >= 1:
            raise ValueError(
                f"effort_cost * n_bits must be < 1, got {self.effort_cost} * {self.n_bits}"
            )
        if not isinstance(reset_on_failure, bool):
            raise TypeError(f"reset_on_failure must be a bool, got {type(reset_on_failure)}")
        self.reset_on_failure = reset_on_failure
        self.key_seed = check_int(key_seed, "key_seed", minimum=0)
        if rules is None:
            rng = np.random.default_rng(self.key_seed)
            out = np.zeros((self.n_rooms, self.n_pairs), dtype=np.int8)
            for s in range(self.n_rooms):
                while not out[s].any():
                    out[s] = rng.integers(0, 2, size=self.n_pairs)
            self.rules = out
        else:
            r = np.asarray(rules)
            if r.shape != (self.n_rooms, self.n_pairs) or not np.isin(r, (0, 1)).all():
                raise ValueError(
                    f"rules must be a 0/1 array of shape ({self.n_rooms}, {self.n_pairs}), "
                    f"got {r.tolist()}"
                )
            self.rules = r.astype(np.int8)
        self.render_mode = _check_render_mode(render_mode, self.metadata["render_modes"])
        self.observation_space = spaces.Discrete(self.n_rooms)
        self.action_space = spaces.MultiBinary(self.n_bits)
        self.room = 0
        self._last: np.ndarray | None = None

    def open_bolts(self, room: int, action: Any) -> np.ndarray:
        """Which bolts of ``room``'s door ``action`` opens: bool array ``[n_bits // 2]``."""
        room = check_int(room, "room", minimum=0)
        if room >= self.n_rooms:
            raise ValueError(f"room must be < n_rooms={self.n_rooms}, got {room}")
        a = _check_action(self.action_space, action)
        return (a[0::2] ^ a[1::2]) == self.rules[room]

    def transition(self, room: int, action: Any) -> tuple[int, float, bool]:
        """One step from ``room``: ``(next_room, reward, opened_last_door)`` (pure)."""
        a = _check_action(self.action_space, action)
        bolts = self.open_bolts(room, a)
        reward = bolts.mean() - 1.0 - self.effort_cost * float(a.sum())
        if bolts.all():
            if room == self.n_rooms - 1:
                return room, float(reward + 1.0), True
            return room + 1, float(reward), False
        return (0 if self.reset_on_failure else room), float(reward), False

    def optimal_action(self, room: int) -> np.ndarray:
        """A cheapest action that opens ``room``'s door (one switch on per "differ" bolt)."""
        room = check_int(room, "room", minimum=0)
        if room >= self.n_rooms:
            raise ValueError(f"room must be < n_rooms={self.n_rooms}, got {room}")
        a = np.zeros(self.n_bits, dtype=np.int8)
        a[0::2] = self.rules[room]
        return a

    def tabular(self) -> TabularMDP:
        """The exact model: ``n_rooms`` states, ``2**n_bits`` actions (bit ``j`` of action ``k``
        is ``(k >> j) & 1``), deterministic. Opening the last door is the success."""
        from .._states import binary_states

        bits = binary_states(self.n_bits, dtype=torch.int64)  # [A, K]
        rules = torch.as_tensor(self.rules, dtype=torch.int64)  # [S, P]
        bolts = (bits[:, 0::2] ^ bits[:, 1::2])[None] == rules[:, None]  # [S, A, P]
        open_all = bolts.all(-1)
        R = bolts.double().mean(-1) - 1.0 - self.effort_cost * bits.sum(1).double()[None]
        rooms = torch.arange(self.n_rooms)[:, None].expand_as(open_all)
        last = rooms == self.n_rooms - 1
        success = (open_all & last).double()
        R = R + success
        fail_to = torch.zeros_like(rooms) if self.reset_on_failure else rooms
        nxt = torch.where(open_all, (rooms + 1).clamp(max=self.n_rooms - 1), fail_to)
        initial = torch.zeros(self.n_rooms, dtype=torch.float64)
        initial[0] = 1.0
        return TabularMDP(
            nxt[:, :, None].contiguous(),
            (1 - success)[:, :, None],
            R,
            success,
            success.clone(),
            initial,
            tuple(range(self.n_rooms)),
        )

    def action_index(self, action: Any) -> int:
        """Index ``sum_j a_j 2**j`` of a binary action (as used by :meth:`tabular`)."""
        a = _check_action(self.action_space, action)
        return int((a.astype(np.int64) << np.arange(self.n_bits)).sum())

    def policy_table(self, act: Callable[[int], Any]) -> torch.Tensor:
        """Action index of ``act(room)`` in every room: the table :mod:`ebmlib.rl.exact` reads."""
        if not callable(act):
            raise TypeError(f"act must be callable (room -> action), got {act!r}")
        return torch.tensor([self.action_index(act(s)) for s in range(self.n_rooms)])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Start in room 0."""
        super().reset(seed=seed)
        self.room = 0
        self._last = None
        return self.room, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Try the switches on the current door (see the class notes)."""
        a = _check_action(self.action_space, action)
        bolts = self.open_bolts(self.room, a)
        self.room, reward, done = self.transition(self.room, a)
        self._last = a
        return self.room, reward, done, False, {"open_bolts": int(bolts.sum())}

    def render(self) -> str | None:
        """Text: the room and the last switches."""
        if self.render_mode != "ansi":
            return None
        last = "-" if self._last is None else "".join(str(int(x)) for x in self._last)
        return f"room {self.room}/{self.n_rooms}, last switches {last}\n"


class KeyActionEnv(gym.Env):
    """A one-step task with ``2**n_bits`` binary actions: find the hidden key of the state.

    Each of ``n_states`` states names a hidden target action, a fixed random key
    ``k_s in {0, 1}^n_bits`` drawn once from ``key_seed``. ``reset`` draws a state uniformly;
    the agent answers with a binary action ``a`` and receives the reward

    ``r = (number of bits where a agrees with k_s) - n_bits / 2``,

    which grows with agreement (0 on average for a random answer, ``n_bits / 2`` for the key).
    The episode then terminates. With ``n_bits = 40`` there are about 1.1e12 actions, so an
    agent cannot enumerate them: it must sample good actions from its energy, in the spirit of
    the large-action experiments of Sallans & Hinton (2004). The reward is a sum of one term per
    bit (separable); :class:`CombinationLockEnv` is the task whose bits interact.

    Parameters
    ----------
    n_bits : int
        Number of binary action units (default 40).
    n_states : int
        Number of states (default 8).
    key_seed : int
        Seed of the hidden keys (independent of the episode seeds).
    render_mode : {None, "ansi"}
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        n_bits: int = 40,
        n_states: int = 8,
        key_seed: int = 0,
        render_mode: str | None = None,
    ) -> None:
        self.n_bits = check_int(n_bits, "n_bits", minimum=1)
        self.n_states = check_int(n_states, "n_states", minimum=1)
        self.key_seed = check_int(key_seed, "key_seed", minimum=0)
        self.render_mode = _check_render_mode(render_mode, self.metadata["render_modes"])
        rng = np.random.default_rng(self.key_seed)
        self._keys = rng.integers(0, 2, size=(self.n_states, self.n_bits), dtype=np.int8)
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.MultiBinary(self.n_bits)
        self.state = 0
        self._last: int | None = None

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
        self._last = None
        return self.state, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """Reward ``agreement - n_bits / 2``; the episode terminates."""
        k = self.agreement(self.state, action)
        self._last = k
        return self.state, float(k - self.n_bits / 2), True, False, {"agreement": k}

    def render(self) -> str | None:
        """Text: the state and the agreement of the last answer."""
        if self.render_mode != "ansi":
            return None
        last = "-" if self._last is None else f"{self._last}/{self.n_bits}"
        return f"state {self.state}, last agreement {last}\n"


#: Environments registered with gymnasium on ``import ebmlib.rl``: id -> (entry point, limit).
REGISTERED = {
    "ebmlib/Blocker-v1": ("ebmlib.rl.envs:BlockerEnv", 40),
    "ebmlib/CombinationLock-v0": ("ebmlib.rl.envs:CombinationLockEnv", 50),
    "ebmlib/KeyAction-v0": ("ebmlib.rl.envs:KeyActionEnv", None),
    "ebmlib/MultiGoal-v0": ("ebmlib.rl.multigoal:MultiGoalEnv", None),
}


def register_envs() -> None:
    """Register :data:`REGISTERED` with gymnasium (idempotent; runs on ``import ebmlib.rl``).

    ``max_episode_steps`` is the time limit of ``gymnasium.make``: 40 steps for the Blocker
    task (the optimum scores within 7), 50 for the combination lock. The multi-goal task cuts
    its episodes itself (``horizon``).
    """
    for env_id, (entry, limit) in REGISTERED.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=limit)


register_envs()
