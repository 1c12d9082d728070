"""Tests of ebmlib.rl.envs: the Blocker and key-action environments (chapter 10)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl.envs import BlockerEnv, KeyActionEnv


@pytest.mark.parametrize(
    "env",
    [BlockerEnv(), BlockerEnv(width=5, length=6, n_agents=3, n_blockers=2), KeyActionEnv()],
    ids=["blocker-2v1", "blocker-3v2", "keyaction"],
)
def test_check_env_passes(env):
    """Both environments satisfy gymnasium's API checker."""
    check_env(env, skip_render_check=True)


def test_registered_ids():
    """``ebmlib/Blocker-v0`` and ``ebmlib/KeyAction-v0`` are registered (once) with gymnasium."""
    env = gym.make("ebmlib/Blocker-v0", n_agents=3, n_blockers=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,)
    assert env.spec.max_episode_steps == 100
    assert gym.make("ebmlib/KeyAction-v0").unwrapped.n_bits == 40
    import importlib

    importlib.reload(ebmlib.rl)  # a second registration must not fail or duplicate


def test_blocker_rules_by_hand():
    """The book's Blocker rules: straight down, a blocker shadows the agent nearest the end
    zone, the other agent passes and scores after length - 1 steps with return -(length - 1)."""
    env = BlockerEnv(width=4, length=7, n_agents=2, n_blockers=1)
    env.reset(seed=0)
    env.agents[:] = [[0, 0], [0, 3]]
    env.blockers[:] = [[5, 0]]
    total, steps = 0.0, 0
    while True:
        _, r, term, trunc, info = env.step(np.array([1, 1]))
        total += r
        steps += 1
        if term:
            break
    assert info["scored"] and steps == 6 and total == -6.0
    assert env.agents[1].tolist() == [6, 3]  # agent 1 got past
    # agent 0 was held above the blocker until the blocker left to chase agent 1 (now the
    # nearest to the end zone) on step 5; on step 6 agent 0 stepped into the defence row
    assert env.agents[0].tolist() == [5, 0]
    assert env.blockers[0].tolist() == [5, 1]


def test_single_agent_cannot_pass_a_shadowing_blocker():
    """With one agent and one blocker, the blocker always stands in the agent's way."""
    env = BlockerEnv(width=4, length=5, n_agents=1, n_blockers=1)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(300):
        _, _, term, _, _ = env.step(rng.integers(0, 4, size=1))
        assert not term


def test_blocker_bad_inputs():
    """Wrong action shapes and out-of-range moves raise ValueError naming the action."""
    env = BlockerEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([1, 4]))
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="n_blockers"):
        BlockerEnv(width=3, n_blockers=3)
    with pytest.raises(ValueError, match="n_agents"):
        BlockerEnv(width=3, n_agents=4)


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
