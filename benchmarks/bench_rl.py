"""Environment steps per second of the chapter 10 learners.

* ``rl_free_energy_steps``: SARSA training of :class:`ebmlib.rl.agents.FreeEnergyQ` on
  FrozenLake-v1 (K = 128 hidden units, the chapter's configuration) and on the 3-agent Blocker
  task, against tabular SARSA on the same environment (the peer), in environment steps per
  second including the environment itself.
* ``rl_dqn_cartpole_steps``: training of :class:`ebmlib.rl.agents.DQN` on CartPole-v1 (one
  minibatch step of 64 per environment step after 1000 warm-up steps), against the bare
  environment driven by random actions (the peer: the ceiling set by gymnasium itself).
  stable-baselines3, the peer named in the design, is not installed here.
"""

from __future__ import annotations

import time

import gymnasium as gym
import torch

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl import train
from ebmlib.rl.agents import DQN, FreeEnergyQ, RandomAgent, TabularQ, linear_schedule

from .harness import Row, register


def _steps_per_second(env, agent, episodes: int, seed: int = 0) -> float:
    t0 = time.perf_counter()
    h = train(env, agent, episodes, seed=seed, progress_bar=False)
    return sum(h.lengths) / (time.perf_counter() - t0)


@register("rl_free_energy_steps")
def free_energy_steps(quick: bool) -> list[Row]:
    rows = []
    episodes = 300 if quick else 2000
    env = gym.make("FrozenLake-v1")
    fe = FreeEnergyQ(
        env.observation_space,
        env.action_space,
        n_hidden=128,
        lr=0.002,
        init_std=1.0,
        offset_correction=True,
        exploration="epsilon",
        epsilon=0.1,
        generator=torch.Generator().manual_seed(0),
    )
    tab = TabularQ(env.observation_space, env.action_space, method="sarsa", epsilon=0.1)
    ours = _steps_per_second(env, fe, episodes)
    peer = _steps_per_second(env, tab, episodes)
    rows.append(
        Row(
            "rl_free_energy_steps",
            "FrozenLake, K=128",
            ours,
            peer,
            "tabular SARSA",
            "steps/s",
            True,
        )
    )
    benv = gym.make("ebmlib/Blocker-v0", n_agents=3, n_blockers=2)
    fe_b = FreeEnergyQ(
        benv.observation_space,
        benv.action_space,
        n_hidden=32,
        lr=0.005,
        init_std=0.3,
        gamma=0.95,
        exploration="epsilon",
        epsilon=0.1,
        offset_correction=True,
        generator=torch.Generator().manual_seed(0),
    )
    rnd = RandomAgent(benv.observation_space, benv.action_space)
    b_episodes = 20 if quick else 100
    ours_b = _steps_per_second(benv, fe_b, b_episodes)
    peer_b = _steps_per_second(benv, rnd, b_episodes)
    rows.append(
        Row(
            "rl_free_energy_steps",
            "Blocker 3v2, K=32, 64 joint actions",
            ours_b,
            peer_b,
            "random play (env only)",
            "steps/s",
            True,
        )
    )
    return rows


@register("rl_dqn_cartpole_steps")
def dqn_cartpole_steps(quick: bool) -> list[Row]:
    env = gym.make("CartPole-v1")
    agent = DQN(
        env.observation_space,
        env.action_space,
        learning_starts=1000,
        epsilon=linear_schedule(1.0, 0.05, 5000),
        generator=torch.Generator().manual_seed(0),
    )
    episodes = 60 if quick else 200
    ours = _steps_per_second(env, agent, episodes)
    # random actions on CartPole: the environment's own throughput
    peer_env = gym.make("CartPole-v1")
    peer_env.action_space.seed(0)
    n, t0 = 0, time.perf_counter()
    peer_env.reset(seed=0)
    while n < 20_000:
        _, _, term, trunc, _ = peer_env.step(peer_env.action_space.sample())
        n += 1
        if term or trunc:
            peer_env.reset()
    peer = n / (time.perf_counter() - t0)
    return [
        Row(
            "rl_dqn_cartpole_steps",
            f"CartPole-v1, {episodes} episodes, MLP 64-64",
            ours,
            peer,
            "env with random actions",
            "steps/s",
            True,
        )
    ]
