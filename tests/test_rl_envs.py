"""Tests of ebmlib.rl.envs and the multi-goal task: API, registration, rules, bad inputs.

The rules of the Blocker task are checked against a plain re-implementation written here from
the class documentation (chapter 10); the exact optima are tested in ``test_rl_exact.py``.
"""

from __future__ import annotations

import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from _rl_reference import all_states, ref_step  # tests/_rl_reference.py
from gymnasium.utils.env_checker import check_env

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl.envs import BlockerEnv, CombinationLockEnv, KeyActionEnv
from ebmlib.rl.multigoal import MultiGoalEnv

ENV_IDS = ["ebmlib/Blocker-v1", "ebmlib/CombinationLock-v0", "ebmlib/KeyAction-v0",
           "ebmlib/MultiGoal-v0"]  # fmt: skip


@pytest.mark.parametrize(
    "make",
    [
        BlockerEnv,
        lambda: BlockerEnv(width=4, length=4, n_agents=2, n_blockers=1),
        lambda: BlockerEnv(width=5, length=5, n_agents=2, n_blockers=2, blocker_width=2),
        CombinationLockEnv,
        lambda: CombinationLockEnv(n_bits=4, n_rooms=2, reset_on_failure=False),
        KeyActionEnv,
        MultiGoalEnv,
    ],
    ids=[
        "blocker-3v2",
        "blocker-2v1",
        "blocker-2v2",
        "lock",
        "lock-stay",
        "keyaction",
        "multigoal",
    ],
)
def test_check_env_passes(make):
    """Every environment satisfies gymnasium's API checker (render modes included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no spec": tested through make below
        check_env(make())


def test_every_env_registered_on_import():
    """``import ebmlib.rl`` registers every environment, with its time limit, exactly once."""
    import importlib

    for env_id in ENV_IDS:
        assert env_id in gym.registry
    assert gym.spec("ebmlib/Blocker-v1").max_episode_steps == 40
    assert gym.spec("ebmlib/CombinationLock-v0").max_episode_steps == 50
    importlib.reload(ebmlib.rl.envs)  # registering again must not fail or duplicate
    env = gym.make("ebmlib/Blocker-v1", n_agents=2, n_blockers=1, width=4)
    assert env.reset(seed=0)[0].shape == (3,)
    with pytest.raises(gym.error.DeprecatedEnv), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gym.make("ebmlib/Blocker-v0")  # the rules changed: v1 replaces it


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_with_render_mode(env_id):
    """``gym.make(id, render_mode="ansi")`` works and renders text; unknown modes are refused."""
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert isinstance(text, str) and text.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gymnasium's own warning comes first
        with pytest.raises(ValueError, match="render_mode"):
            gym.make(env_id, render_mode="human")


# ------------------------------------------------ the Blocker rules against a plain simulator
def check_step_matches_reference(kw):
    """env.step from every legal state and every joint action equals ``ref_step``."""
    env = BlockerEnv(**kw)
    W, L, bw = env.width, env.length, env.blocker_width
    n = 0
    for agents, blockers in all_states(W, L, env.n_agents, env.n_blockers, bw):
        for moves in itertools.product(range(4), repeat=env.n_agents):
            env.reset(options={"state": (agents, blockers)})
            obs, r, term, trunc, info = env.step(np.asarray(moves))
            a2, b2, r2, s2 = ref_step(W, L, bw, agents, blockers, moves)
            assert env.state == (a2, b2) and (r, term) == (r2, s2) and not trunc
            assert obs.tolist() == [x * W + y for x, y in a2] + list(b2)
            n += 1
    assert n > 1000


SMALL = [
    dict(width=4, length=4, n_agents=2, n_blockers=1),
    dict(width=5, length=3, n_agents=2, n_blockers=2, blocker_width=2),
    dict(width=5, length=4, n_agents=2, n_blockers=1, blocker_width=3),
]


@pytest.mark.parametrize("kw", SMALL)
def test_blocker_step_matches_plain_simulator_everywhere(kw):
    """Chapter 10's Blocker rules (blockers' maximin reply, ordered agent moves, scoring):
    env.step from every legal state and every joint action equals a plain simulator written
    from the class documentation (tests/_rl_reference.py)."""
    check_step_matches_reference(kw)


def _blockers_never_move(self, agents, blockers):
    return blockers


def _blockers_minimise(self, agents, blockers):
    # the sign error: the gap is brought as close to the agents as possible
    best, best_score = blockers, None
    for move in self._moves:
        cols = tuple(c + d for c, d in zip(blockers, move, strict=True))
        if cols[0] < 0 or cols[-1] > self.width - self.blocker_width:
            continue
        if any(b - a < self.blocker_width for a, b in zip(cols, cols[1:], strict=False)):
            continue
        cov = self._covered(cols)
        if any(r == self.defence_row and c in cov for r, c in agents):
            continue
        score = min(
            self.defence_row - r + abs(c - g)
            for g in range(self.width)
            if g not in cov
            for r, c in agents
            if r <= self.defence_row
        )
        if best_score is None or score < best_score:
            best, best_score = cols, score
    return best


def _agents_move_simultaneously(self, agents, blockers, moves):
    # agents check collisions against the positions before anyone moved
    covered = self._covered(blockers)
    out = []
    for (r0, c0), m in zip(agents, moves, strict=True):
        dr, dc = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}[int(m)]
        r, c = r0 + dr, c0 + dc
        ok = 0 <= r < self.length and 0 <= c < self.width
        ok = ok and not (r == self.defence_row and c in covered) and (r, c) not in agents
        out.append((r, c) if ok else (r0, c0))
    return tuple(out)


@pytest.mark.parametrize(
    "attr, wrong",
    [
        ("_blockers_reply", _blockers_never_move),
        ("_blockers_reply", _blockers_minimise),
        ("_agents_move", _agents_move_simultaneously),
    ],
    ids=["blockers-static", "blockers-wrong-sign", "agents-simultaneous"],
)
def test_reference_comparison_catches_wrong_rules(monkeypatch, attr, wrong):
    """Injected wrong variants of the rules (blockers that never move, blockers that bring the
    gap to the agents, agents that collide against stale positions) are caught."""
    monkeypatch.setattr(BlockerEnv, attr, wrong)
    with pytest.raises(AssertionError):
        check_step_matches_reference(SMALL[0])


def test_blocker_default_instance_matches_plain_simulator_on_a_sample():
    """The same comparison on 3000 random (state, joint action) pairs of the 4 x 7 task with
    three agents and two blockers three cells wide."""
    env = BlockerEnv()
    states = list(all_states(7, 4, 3, 2, 3))
    rng = np.random.default_rng(0)
    for k in rng.integers(len(states), size=3000):
        agents, blockers = states[k]
        moves = tuple(int(m) for m in rng.integers(4, size=3))
        (a2, b2), r, scored = env.transition((agents, blockers), moves)
        assert (a2, b2, r, scored) == ref_step(7, 4, 3, agents, blockers, moves)


def test_blocker_rules_by_hand():
    """A scripted episode of the 4 x 7 task: all three gaps threatened, one must open."""
    env = BlockerEnv(render_mode="ansi")
    env.reset(options={"state": (((0, 0), (0, 3), (0, 6)), (0, 3))})  # gap at column 6
    # step 1: the blockers keep the gap 2 moves from the nearest agent (no move helps, so they
    # stay); all agents step down to row 1, right above the three possible gaps
    _, r, term, *_ = env.step([1, 1, 1])
    assert (r, term) == (-1.0, False)
    assert env.agents == ((1, 0), (1, 3), (1, 6)) and env.blockers == (0, 3)
    # step 2: every gap is one move from an agent: the blockers stay, agent 2 enters the gap
    _, r, term, *_ = env.step([1, 1, 1])
    assert env.agents == ((1, 0), (1, 3), (2, 6)) and not term
    assert env.render().splitlines()[2] == "######2"
    # step 3: agent 2 walks into the end zone and scores
    _, r, term, _, info = env.step([1, 1, 1])
    assert (r, term, info["scored"]) == (1.0, True, True)
    # a lone agent in front of the gap is shut out: the blockers move the gap away at once,
    # to column 3 (4 moves from the nearest agent) rather than to column 0 (2 moves)
    env.reset(options={"state": (((1, 6), (0, 0), (0, 1)), (0, 3))})
    env.step([1, 3, 3])
    assert env.blockers == (0, 4) and env.agents[0] == (1, 6)


def test_blocker_cells_and_joint_index():
    """``cells`` lists agents then blocker cells; joint_index and joint_action are inverse."""
    env = BlockerEnv()
    env.reset(options={"state": (((0, 0), (1, 3), (0, 6)), (1, 4))})
    assert env.cells().tolist() == [0, 10, 6] + [14 + c for c in (1, 2, 3, 4, 5, 6)]
    for k in range(64):
        assert env.joint_index(env.joint_action(k)) == k
    assert env.joint_index([1, 2, 3]) == 1 + 2 * 4 + 3 * 16


def test_blocker_bad_inputs():
    """Wrong actions, states and sizes raise errors that name the argument."""
    env = BlockerEnv()
    env.reset(seed=0)
    for bad in ([1, 1], [1, 1, 4], [0.5, 1, 1], [-1, 0, 0], [np.nan, 1, 1]):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    with pytest.raises(TypeError, match="action"):
        env.step(["a", "b", "c"])
    with pytest.raises(ValueError, match="gap"):
        BlockerEnv(width=6, n_blockers=2, blocker_width=3)
    with pytest.raises(ValueError, match="n_agents"):
        BlockerEnv(width=3, n_agents=4, n_blockers=0)
    with pytest.raises(ValueError, match="state"):
        env.reset(options={"state": (((2, 0), (0, 3), (0, 6)), (0, 3))})  # agent on a blocker
    with pytest.raises(ValueError, match="state"):
        env.reset(options={"state": (((0, 0), (0, 0), (0, 6)), (0, 3))})  # two agents, one cell
    with pytest.raises(ValueError, match="name"):
        env.heuristic_action("charge")
    with pytest.raises(ValueError, match="index"):
        env.joint_action(64)


def test_blocker_reset_covers_every_start_state():
    """``reset`` draws agents on distinct top-row columns and a legal blocker line, and every
    one of the 630 start states has probability 1/630 (chi-square over 63 000 resets, 5 sd)."""
    env = BlockerEnv()
    starts = env.start_states()
    assert len(starts) == 7 * 6 * 5 * 3 and len(set(starts)) == len(starts)
    index = {s: i for i, s in enumerate(starts)}
    env.reset(seed=1)
    counts = np.zeros(len(starts))
    n = 63_000
    for _ in range(n):
        env.reset()
        counts[index[env.state]] += 1
    e = n / len(starts)
    chi2 = float(((counts - e) ** 2 / e).sum())
    dof = len(starts) - 1
    assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof)


# ------------------------------------------------------------------------- combination lock
def test_lock_rewards_and_moves_by_hand():
    """Chapter 10's lock: partial credit per bolt, effort per switch, +1 for the last door,
    reset to room 0 on a failure."""
    env = CombinationLockEnv(n_bits=4, n_rooms=2, effort_cost=0.1, rules=[[1, 0], [0, 1]])
    env.reset(seed=0)
    # room 0: bolt 0 needs differing switches (0, 1), bolt 1 agreeing ones (2, 3)
    room, r, term, _, info = env.step([1, 0, 1, 1])
    assert (room, term, info["open_bolts"]) == (1, False, 2)
    assert r == pytest.approx(1 - 1 - 0.1 * 3)
    room, r, term, _, info = env.step([1, 1, 0, 0])  # room 1: bolt 0 agrees, bolt 1 shut
    assert (room, term, info["open_bolts"]) == (0, False, 1)
    assert r == pytest.approx(0.5 - 1 - 0.2)
    env.step(env.optimal_action(0))
    room, r, term, _, _ = env.step(env.optimal_action(1))
    assert term and r == pytest.approx(1 - 1 - 0.1 + 1)
    stay = CombinationLockEnv(n_bits=4, n_rooms=2, rules=[[1, 0], [0, 1]], reset_on_failure=False)
    stay.reset(seed=0)
    stay.step([1, 0, 0, 0])
    assert stay.step([0, 0, 0, 0])[0] == 1  # failed in room 1: stays in room 1


def test_lock_bolts_depend_only_on_pairs():
    """A bolt opens for exactly half of the settings of either of its switches (no signal from
    one switch alone), for every rule."""
    env = CombinationLockEnv(n_bits=6, n_rooms=3, key_seed=4)
    for room in range(3):
        assert env.rules[room].any()  # every door has an XOR bolt
        acts = np.array(list(itertools.product([0, 1], repeat=6)))
        opened = np.array([env.open_bolts(room, a) for a in acts])  # [64, 3]
        for j in range(6):
            for v in (0, 1):
                assert opened[acts[:, j] == v, j // 2].mean() == 0.5


def test_lock_bad_inputs():
    """Bad sizes, rules and actions name the argument."""
    with pytest.raises(ValueError, match="n_bits"):
        CombinationLockEnv(n_bits=5)
    with pytest.raises(ValueError, match="effort_cost"):
        CombinationLockEnv(n_bits=8, effort_cost=0.2)
    with pytest.raises(ValueError, match="rules"):
        CombinationLockEnv(n_bits=4, n_rooms=2, rules=[[1, 2], [0, 1]])
    with pytest.raises(TypeError, match="reset_on_failure"):
        CombinationLockEnv(reset_on_failure=1)
    env = CombinationLockEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.full(8, 2))
    with pytest.raises(ValueError, match="action"):
        env.step(np.zeros(7, dtype=np.int8))
    with pytest.raises(ValueError, match="room"):
        env.open_bolts(3, np.zeros(8, dtype=np.int8))


# ------------------------------------------------------------------------------ key action
def test_key_action_reward_counts_agreement():
    """Reward = agreement - n_bits / 2: n_bits / 2 for the key, -n_bits / 2 for its complement."""
    env = KeyActionEnv(n_bits=40, n_states=8, key_seed=3)
    s, _ = env.reset(seed=0)
    key = env.key(s)
    _, r, term, trunc, info = env.step(key)
    assert (r, term, trunc, info["agreement"]) == (20.0, True, False, 40)
    env.reset(seed=0)
    assert env.step(1 - key)[1] == -20.0
    with pytest.raises(ValueError, match="action"):
        env.step(np.zeros(39, dtype=np.int8))
    with pytest.raises(ValueError, match="action"):
        env.step(np.full(40, 2))
    with pytest.raises(ValueError, match="state"):
        env.key(8)


# ------------------------------------------------------------------------------ multi-goal
def test_multigoal_refuses_out_of_range_actions():
    """Actions outside [-1, 1]^2 raise instead of being clipped silently; the boundary is
    accepted."""
    env = MultiGoalEnv(start_noise=0.0)
    env.reset(seed=0)
    for bad in ([1.5, 0.0], [0.0, -1.01], [np.inf, 0.0]):
        with pytest.raises(ValueError, match="action"):
            env.step(np.asarray(bad))
    with pytest.raises(ValueError, match="action"):
        env.step([0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="action"):
        env.step(["up", "left"])
    obs, *_ = env.step([1.0, -1.0])
    np.testing.assert_allclose(obs, [1.0, -1.0])
