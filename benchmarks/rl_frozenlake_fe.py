"""Free-energy SARSA on slippery FrozenLake-v1: the full run of chapter 10.

Trains :class:`ebmlib.rl.agents.FreeEnergyQ` (an RBM with 128 hidden units over one-hot state
and action units, Q = -F) by SARSA with epsilon-greedy exploration on ``FrozenLake-v1``
(slippery, gamma 0.99), next to tabular SARSA with the same schedule. Following the book's
protocol, every run uses its full budget of ``--episodes`` (20 000); every ``--eval-every``
episodes the exact success probability of the greedy policy is computed
(:func:`ebmlib.rl.exact.success_probability`), so the learning curve is exact. Reported per
seed: the exact success probability of the final greedy policy, the mean of the last 5
evaluations, and the episode from which the success probability stayed at or above
``--threshold`` (0.80, which lies between the optimum 0.8235 and the near-tied policy 0.7805).

Usage (the exact command of the results table in chapter 10)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_frozenlake_fe --seeds 0 1 2 3 4 \
        --out book/part4/data/frozenlake_fe.json

It prints one markdown row per agent and seed and writes the runs with
:func:`ebmlib.rl.training.save_runs`. A results script, not a speed comparison.
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import torch

from ebmlib.rl import exact, train
from ebmlib.rl.agents import FreeEnergyQ, TabularQ, linear_schedule
from ebmlib.rl.training import save_runs, steps_reached_and_stayed, summarize

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


def run(kind: str, seed: int, episodes: int, eval_every: int):
    """Train for the full budget; the exact P(goal) of the greedy policy every ``eval_every``."""
    env = gym.make("FrozenLake-v1")
    agent = make_agent(kind, env, seed)
    return train(
        env,
        agent,
        episodes,
        seed=seed,
        eval_every=eval_every,
        eval_fn=lambda a: exact.success_probability(env, a.greedy_policy()),
        progress_bar=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--episodes", type=int, default=20_000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--threshold", type=float, default=0.80)
    ap.add_argument("--agents", nargs="+", default=["fe", "tab"])
    ap.add_argument("--out", default=None, help="write the runs to this JSON file")
    args = ap.parse_args()
    print(
        "| agent | seed | P(goal), final greedy policy | mean of last 5 evaluations | "
        f"stayed >= {args.threshold} from episode | env steps | time (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    runs = []
    for kind in args.agents:
        mine = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            h = run(kind, seed, args.episodes, args.eval_every)
            mine.append(h)
            stayed = steps_reached_and_stayed(h.eval_episode, h.eval, args.threshold)
            name = "free-energy SARSA (K=128)" if kind == "fe" else "tabular SARSA"
            last = h.eval[-5:]
            print(
                f"| {name} | {seed} | {h.eval[-1]:.4f} | {sum(last) / len(last):.4f} | "
                f"{stayed if stayed is not None else 'never'} | {sum(h.lengths)} | "
                f"{time.perf_counter() - t0:.0f} |",
                flush=True,
            )
        sm = summarize(mine, last=min(5, len(mine[0].eval)), threshold=args.threshold)
        print(
            f"<!-- {kind}: last 5 evaluations over {sm.n_runs} seeds {sm.final_mean:.4f} +- "
            f"{sm.final_std:.4f}; stayed >= {args.threshold} in {sm.n_reached_and_stayed} -->"
        )
        runs += mine
        if args.out:
            save_runs(
                args.out,
                runs,
                command=" ".join(["python -m benchmarks.rl_frozenlake_fe"] + sys.argv[1:]),
            )


if __name__ == "__main__":
    main()
