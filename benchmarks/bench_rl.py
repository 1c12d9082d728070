"""Environment steps per second of the chapter 9-10 learners.

* ``rl_free_energy_steps``: SARSA training of :class:`ebmlib.rl.agents.FreeEnergyQ` (its one
  torch path) on FrozenLake-v1 (K = 128 hidden units, the chapter's configuration) and on the
  3-agent Blocker task, against a hand-written numpy implementation of the same algorithm on the
  same RBM weights (the peer: the CPU-only numpy twin that earlier versions carried), in
  environment steps per second including the environment itself; plus tabular SARSA on
  FrozenLake for scale.
* ``rl_dqn_cartpole_steps``: training of :class:`ebmlib.rl.agents.DQN` on CartPole-v1 (one
  minibatch step of 64 per environment step after 1000 warm-up steps), against the bare
  environment driven by random actions (the ceiling set by gymnasium itself). The
  sample-efficiency peer (stable-baselines3) runs in ``benchmarks/rl_peers.py``.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl import train
from ebmlib.rl.agents import DQN, FreeEnergyQ, TabularQ, linear_schedule

from .harness import Row, register


def _steps_per_second(env, agent, episodes: int, seed: int = 0) -> float:
    t0 = time.perf_counter()
    h = train(env, agent, episodes, seed=seed, progress_bar=False)
    return sum(h.lengths) / (time.perf_counter() - t0)


def _interleaved(env, ours, peer, episodes: int, blocks: int = 4) -> tuple[float, float]:
    """Steps per second of two agents trained in alternating blocks of episodes (so that a
    change of machine load affects both alike)."""
    n = {"ours": 0, "peer": 0}
    t = {"ours": 0.0, "peer": 0.0}
    for k in range(blocks):
        order = [("ours", ours), ("peer", peer)]
        for name, agent in order if k % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            h = train(env, agent, max(1, episodes // blocks), seed=k, progress_bar=False)
            t[name] += time.perf_counter() - t0
            n[name] += sum(h.lengths)
    return n["ours"] / t["ours"], n["peer"] / t["peer"]


class NumpyFreeEnergySarsa:
    """The peer: epsilon-greedy free-energy SARSA (eqs. (10.1)-(10.3)) in plain numpy.

    It copies the weights of a :class:`FreeEnergyQ` (so both start from the same RBM), keeps
    them as numpy arrays, enumerates the actions for ``Q(s, .)`` and updates only the rows of
    the active visible units. Discrete or MultiDiscrete spaces.
    """

    def __init__(self, like: FreeEnergyQ, epsilon: float, lr: float, gamma: float) -> None:
        self.W = like.rbm.W.detach().numpy().copy()
        self.b = like.rbm.b.detach().numpy().copy()
        self.c = like.rbm.c.detach().numpy().copy()
        self.oc, self.ac = like.obs_codec, like.act_codec
        self.ns = like.n_state_units
        self.A = like.act_codec.all_units(torch.float32, "cpu").numpy()
        self.eps, self.lr, self.gamma = epsilon, lr, gamma

    def _idx(self, s, a):
        return np.concatenate([self.oc.active(s, "obs"), self.ac.active(a, "a") + self.ns])

    def _q(self, idx):
        pre = self.c + self.W[idx].sum(0)
        return float(self.b[idx].sum() + np.logaddexp(0.0, pre).sum()), pre

    def q_values(self, s):
        si = self.oc.active(s, "obs")
        x = self.c + self.W[si].sum(0)
        pre = x + self.A @ self.W[self.ns :]
        return self.b[si].sum() + self.A @ self.b[self.ns :] + np.logaddexp(0.0, pre).sum(1)

    def act(self, s, generator=None):
        if float(torch.rand((), generator=generator)) < self.eps:
            return self.ac.from_index(int(torch.randint(self.A.shape[0], (), generator=generator)))
        return self.greedy(s)

    def greedy(self, s):
        return self.ac.from_index(int(self.q_values(s).argmax()))

    def update(self, s, a, r, s2, a2, terminated):
        idx = self._idx(s, a)
        q, pre = self._q(idx)
        nxt = 0.0 if terminated else self._q(self._idx(s2, a2))[0]
        delta = r + self.gamma * nxt - q
        p = 0.5 * (1.0 + np.tanh(0.5 * pre))
        self.W[idx] += self.lr * delta * p
        self.b[idx] += self.lr * delta
        self.c += self.lr * delta * p
        return delta


def _fe_pair(env, n_hidden, lr, init_std, gamma=0.99):
    fe = FreeEnergyQ(
        env.observation_space,
        env.action_space,
        n_hidden=n_hidden,
        lr=lr,
        init_std=init_std,
        gamma=gamma,
        offset_correction=True,
        method="sarsa",
        exploration="epsilon",
        epsilon=0.1,
        generator=torch.Generator().manual_seed(0),
    )
    return fe, NumpyFreeEnergySarsa(fe, 0.1, lr, gamma)


@register("rl_free_energy_steps")
def free_energy_steps(quick: bool) -> list[Row]:
    rows = []
    episodes = 300 if quick else 2000
    env = gym.make("FrozenLake-v1")
    fe, twin = _fe_pair(env, 128, 0.002, 1.0)
    ours, peer = _interleaved(env, fe, twin, episodes)
    rows.append(
        Row("rl_free_energy_steps", "FrozenLake, K=128", ours, peer, "numpy twin", "steps/s", True)
    )
    tab = TabularQ(env.observation_space, env.action_space, method="sarsa", epsilon=0.1)
    rows.append(
        Row(
            "rl_free_energy_steps",
            "FrozenLake, K=128",
            ours,
            _steps_per_second(env, tab, episodes),
            "tabular SARSA",
            "steps/s",
            True,
        )
    )
    blocker_id = max(k for k in gym.registry if k.startswith("ebmlib/Blocker-v"))
    benv = gym.make(blocker_id)
    fe_b, twin_b = _fe_pair(benv, 32, 0.005, 0.3, gamma=0.95)
    b_episodes = 20 if quick else 100
    ours_b, peer_b = _interleaved(benv, fe_b, twin_b, b_episodes)
    rows.append(
        Row(
            "rl_free_energy_steps",
            f"{blocker_id.split('/')[1]}, K=32",
            ours_b,
            peer_b,
            "numpy twin",
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
