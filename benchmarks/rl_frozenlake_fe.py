"""Free-energy SARSA on slippery FrozenLake-v1: the full run of chapter 10.

Trains :class:`ebmlib.rl.agents.FreeEnergyQ` (an RBM with 128 hidden units over one-hot state
and action units, Q = -F) by SARSA with epsilon-greedy exploration on ``FrozenLake-v1``
(slippery, gamma 0.99), next to tabular SARSA with the same schedule, and every ``--eval-every``
episodes computes the exact success probability of each agent's greedy policy
(:func:`ebmlib.rl.exact.success_probability`). A run stops once the greedy policy succeeds with
probability >= ``--target`` (0.80), or after ``--episodes`` (20 000).

Usage (the exact command of the results table in chapter 10)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_frozenlake_fe --seeds 0 1 2

It prints one markdown row per agent and seed. This is a results script, not a speed
comparison, so it is not registered with the benchmark harness.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from ebmlib.rl import exact, train
from ebmlib.rl.agents import FreeEnergyQ, TabularQ, linear_schedule

#: The configuration reported in chapter 10.
FE_CONFIG = dict(n_hidden=128, lr=0.002, init_std=1.0, offset_correction=True, method="sarsa")
EPSILON = (1.0, 0.01, 10_000)  # linear from 1 to 0.01 over the first 10 000 episodes


def make_agent(kind: str, env: gym.Env, seed: int):
    """The free-energy agent (``"fe"``) or tabular SARSA (``"tab"``) of chapter 10."""
    eps = linear_schedule(*EPSILON)
    if kind == "fe":
        return FreeEnergyQ(
            env.observation_space,
            env.action_space,
            exploration="epsilon",
            epsilon=eps,
            generator=torch.Generator().manual_seed(seed),
            **FE_CONFIG,
        )
    return TabularQ(env.observation_space, env.action_space, lr=0.1, method="sarsa", epsilon=eps)


def run(kind: str, seed: int, episodes: int, eval_every: int, target: float) -> dict:
    """Train until the exact success probability of the greedy policy reaches ``target``."""
    env = gym.make("FrozenLake-v1")
    agent = make_agent(kind, env, seed)
    t0 = time.perf_counter()
    h = train(
        env,
        agent,
        episodes,
        seed=seed,
        eval_every=eval_every,
        eval_fn=lambda a: exact.success_probability(env, a.greedy_policy()),
        stop_fn=lambda hist: hist["eval"][-1] >= target,
        progress_bar=False,
    )
    final = h["eval"][-1]
    return {
        "reached": h["eval_episode"][-1] if final >= target else None,
        "final": final,
        "best": max(h["eval"]),
        "steps": int(sum(h["length"])),
        "seconds": time.perf_counter() - t0,
        "history": h,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--episodes", type=int, default=20_000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--target", type=float, default=0.80)
    ap.add_argument("--agents", nargs="+", default=["fe", "tab"])
    args = ap.parse_args()
    print("| agent | seed | episodes to P(goal) >= 0.80 | P(goal) at stop | env steps | time (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in args.agents:
        for seed in args.seeds:
            r = run(kind, seed, args.episodes, args.eval_every, args.target)
            name = "free-energy SARSA (K=128)" if kind == "fe" else "tabular SARSA"
            reached = r["reached"] if r["reached"] is not None else f"not within {args.episodes}"
            print(
                f"| {name} | {seed} | {reached} | {r['final']:.4f} | {r['steps']} | "
                f"{r['seconds']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
