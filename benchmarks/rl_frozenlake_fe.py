"""Free-energy SARSA on slippery FrozenLake-v1, next to tabular SARSA: the runs of chapter 10.

Trains :class:`ebmlib.rl.agents.FreeEnergyQ` (an RBM with 128 hidden units over one-hot state
and action units, Q = -F, offset-corrected, initial weight scale 1) and tabular SARSA
(:class:`ebmlib.rl.agents.TabularQ`) on ``FrozenLake-v1`` (slippery, gamma 0.99) with the same
schedules: epsilon-greedy exploration with epsilon falling linearly from 1 to 0.01 over the
first 10 000 episodes, and a learning rate falling linearly from its starting value to a tenth
of it over the run. The starting rates were tuned on seeds 100, 101 and 102, which are not
reported (``--tune``). Following the book's protocol every run uses its full budget of
``--episodes`` (20 000); every ``--eval-every`` episodes the **exact** success probability of
the greedy policy is computed (:func:`ebmlib.rl.exact.success_probability`), so the learning
curve carries no evaluation noise. Reported per seed: the exact success probability of the
final greedy policy and the mean of the last 5 evaluations; over seeds, their mean and spread.

Usage (the commands of the results in chapter 10)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_frozenlake_fe --seeds 0 1 2 3 4 \\
        --out book/part4/data/frozenlake_fe.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_frozenlake_fe --tune \\
        --out book/part4/data/frozenlake_fe_tuning.json

It prints one markdown row per agent and seed and writes the runs with
:func:`ebmlib.rl.training.save_runs`. A results script, not a speed comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np
import torch

from ebmlib.rl import exact, train
from ebmlib.rl.agents import FreeEnergyQ, TabularQ, linear_schedule
from ebmlib.rl.training import save_runs, summarize

#: The free-energy agent of chapter 10 (its starting learning rate is in LR).
FE_CONFIG = dict(n_hidden=128, init_std=1.0, offset_correction=True, method="sarsa")
EPSILON = (1.0, 0.01, 10_000)  # linear from 1 to 0.01 over the first 10 000 episodes
#: Starting learning rates, tuned on seeds 100-102 over the grid TUNE_GRID.
LR = {"fe": 0.002, "tab": 0.1}
TUNE_GRID = {"fe": [0.001, 0.002, 0.004], "tab": [0.05, 0.1, 0.2]}
TUNE_SEEDS = [100, 101, 102]
NAMES = {"fe": "free-energy SARSA (n_h = 128)", "tab": "tabular SARSA"}


def make_agent(kind: str, env: gym.Env, seed: int, episodes: int, lr: float | None = None):
    """The free-energy agent (``"fe"``) or tabular SARSA (``"tab"``) of chapter 10."""
    lr0 = LR[kind] if lr is None else lr
    common = dict(
        exploration="epsilon",
        epsilon=linear_schedule(*EPSILON),
        lr=linear_schedule(lr0, lr0 / 10, episodes),
        gamma=0.99,
    )
    if kind == "fe":
        return FreeEnergyQ(
            env.observation_space,
            env.action_space,
            generator=torch.Generator().manual_seed(seed),
            **FE_CONFIG,
            **common,
        )
    return TabularQ(env.observation_space, env.action_space, method="sarsa", **common)


def run(kind: str, seed: int, episodes: int = 20_000, eval_every: int = 500, lr=None):
    """Train for the full budget; the exact P(goal) of the greedy policy every ``eval_every``."""
    env = gym.make("FrozenLake-v1")
    agent = make_agent(kind, env, seed, episodes, lr)
    return train(
        env,
        agent,
        episodes,
        seed=seed,
        eval_every=eval_every,
        eval_fn=lambda a: exact.success_probability(env, a.greedy_policy()),
        progress_bar=False,
    )


def tune(args: argparse.Namespace) -> None:
    """Mean of the last 5 evaluations over the tuning seeds, for each starting rate."""
    out = {"command": " ".join(["python -m benchmarks.rl_frozenlake_fe"] + sys.argv[1:]),
           "seeds": TUNE_SEEDS, "results": {}}  # fmt: skip
    for kind in args.agents:
        out["results"][kind] = {}
        for lr in TUNE_GRID[kind]:
            hs = [run(kind, s, args.episodes, args.eval_every, lr) for s in TUNE_SEEDS]
            fin = [float(np.mean(h.eval[-5:])) for h in hs]
            out["results"][kind][str(lr)] = {"final": fin, "mean": float(np.mean(fin))}
            print(f"tune {kind} lr {lr}: last 5 evaluations {np.round(fin, 4).tolist()}",
                  flush=True)  # fmt: skip
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(out, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--episodes", type=int, default=20_000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--agents", nargs="+", default=["fe", "tab"])
    ap.add_argument("--tune", action="store_true", help="tune the starting rates (seeds 100-102)")
    ap.add_argument("--out", default=None, help="write the runs to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.tune:
        tune(args)
        return
    print("| agent | seed | P(goal), final greedy policy | mean of last 5 evaluations | "
          "env steps | time (s) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    runs = []
    for kind in args.agents:
        mine = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            h = run(kind, seed, args.episodes, args.eval_every)
            mine.append(h)
            last = h.eval[-5:]
            print(
                f"| {NAMES[kind]} | {seed} | {h.eval[-1]:.4f} | {sum(last) / len(last):.4f} | "
                f"{sum(h.lengths)} | {time.perf_counter() - t0:.0f} |",
                flush=True,
            )
            if args.out:
                save_runs(
                    args.out,
                    runs + mine,
                    command=" ".join(["python -m benchmarks.rl_frozenlake_fe"] + sys.argv[1:]),
                    lr=LR,
                )
        sm = summarize(mine, last=min(5, len(mine[0].eval)))
        print(f"<!-- {kind}: last 5 evaluations over seeds {sm.seeds}: {sm.final_mean:.4f} +- "
              f"{sm.final_std:.4f} -->")  # fmt: skip
        runs += mine


if __name__ == "__main__":
    main()
