"""Blocker learning curves of chapter 10: the free-energy agent against tabular and random play.

On ``ebmlib/Blocker-v0`` (4 x 7 field) it trains, for several seeds,

* ``fe``: :class:`ebmlib.rl.agents.FreeEnergyQ` (64 hidden units, learning rate falling
  linearly from 0.002 to 0.0002 over the run, initial weight scale 0.3, K log 2 correction)
  over one-hot positions and the joint action (enumerated), trained by TD(0) with the maximum
  over the joint actions (Q-learning), epsilon-greedy;
* ``joint``: joint tabular Q-learning over (all positions, joint action), only where the table
  fits (the small instance);
* ``indep``: independent per-agent tabular Q-learners, each seeing its own and the blockers'
  positions (:class:`ebmlib.rl.agents.IndependentQ`);
* ``random``: uniformly random joint actions,

and every ``--eval-every`` episodes measures the mean return of the epsilon-greedy test policy
(epsilon = 0.05, so that a deterministic greedy policy cannot loop forever) over 20 seeded test
episodes. The return is minus the number of steps to score (-6 is the best possible
from the top row; -100 means no score within the time limit).

Usage (the exact commands of the results table in chapter 10)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_blocker --agents 2 --blockers 1
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_blocker --agents 3 --blockers 2

It prints a markdown table: the learning curve of the test return, mean and standard error
over seeds. A results script, not a speed comparison.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import ebmlib.rl  # noqa: F401  (registers ebmlib/Blocker-v0)
from ebmlib.rl import evaluate, train
from ebmlib.rl.agents import FreeEnergyQ, IndependentQ, RandomAgent, TabularQ, linear_schedule

GAMMA = 0.95


FE = {"n_hidden": 64, "lr": 0.002, "method": "q", "lr_decay": True}
EVAL_EPSILON = 0.05


def make_agent(kind: str, env: gym.Env, seed: int, episodes: int):
    """The agents compared in chapter 10 (configuration as in the module docstring)."""
    eps = linear_schedule(1.0, 0.05, episodes // 2)
    n_a = env.unwrapped.n_agents
    n_b = env.unwrapped.n_blockers
    if kind == "fe":
        return FreeEnergyQ(
            env.observation_space,
            env.action_space,
            n_hidden=FE["n_hidden"],
            lr=FE["lr"]
            if not FE.get("lr_decay")
            else linear_schedule(FE["lr"], FE["lr"] / 10, episodes),
            init_std=0.3,
            gamma=GAMMA,
            method=FE["method"],
            exploration="epsilon",
            epsilon=eps,
            offset_correction=True,
            generator=torch.Generator().manual_seed(seed),
        )
    if kind == "joint":
        return TabularQ(
            env.observation_space, env.action_space, lr=0.2, gamma=GAMMA, method="q", epsilon=eps
        )
    if kind == "indep":
        views = [[i, *range(n_a, n_a + n_b)] for i in range(n_a)]
        return IndependentQ(
            env.observation_space,
            env.action_space,
            views,
            lr=0.2,
            gamma=GAMMA,
            method="q",
            epsilon=eps,
        )
    if kind == "random":
        return RandomAgent(env.observation_space, env.action_space)
    raise ValueError(f"unknown agent {kind!r}")


def run(kind: str, seed: int, n_agents: int, n_blockers: int, episodes: int, every: int) -> dict:
    """Train one agent; return the learning curve of the greedy return."""
    env = gym.make("ebmlib/Blocker-v0", n_agents=n_agents, n_blockers=n_blockers)
    test_env = gym.make("ebmlib/Blocker-v0", n_agents=n_agents, n_blockers=n_blockers)
    agent = make_agent(kind, env, seed, episodes)
    t0 = time.perf_counter()
    h = train(
        env,
        agent,
        episodes,
        seed=seed,
        eval_every=every,
        eval_fn=lambda a: evaluate(
            test_env, a, 20, seed=10_000 + seed, greedy=kind != "random", epsilon=EVAL_EPSILON
        )["mean_return"],
        progress_bar=False,
    )
    return {"curve": h["eval"], "episodes": h["eval_episode"], "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--blockers", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--episodes", type=int, default=1500)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--learners", nargs="+", default=None)
    ap.add_argument("--fe-hidden", type=int, default=FE["n_hidden"])
    ap.add_argument("--fe-lr", type=float, default=FE["lr"])
    ap.add_argument("--fe-method", choices=["sarsa", "q"], default=FE["method"])
    ap.add_argument(
        "--fe-constant-lr", action="store_true", help="keep the FE learning rate constant"
    )
    args = ap.parse_args()
    FE.update(n_hidden=args.fe_hidden, lr=args.fe_lr, method=args.fe_method)
    FE["lr_decay"] = not args.fe_constant_lr
    kinds = args.learners or (
        ["fe", "joint", "indep", "random"] if args.agents == 2 else ["fe", "indep", "random"]
    )
    print(f"Blocker 4x7, {args.agents} agents, {args.blockers} blockers, seeds {args.seeds}")
    rows = []
    for kind in kinds:
        curves, secs = [], 0.0
        for seed in args.seeds:
            r = run(kind, seed, args.agents, args.blockers, args.episodes, args.eval_every)
            curves.append(r["curve"])
            secs += r["seconds"]
            print(f"  {kind} seed {seed}: {[round(x, 1) for x in r['curve']]}", flush=True)
        c = np.asarray(curves)
        se = c.std(0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else 0 * c[0]
        rows.append((kind, r["episodes"], c.mean(0), se, secs))
    head = " | ".join(f"ep {e}" for e in rows[0][1])
    print(f"\n| agent | {head} | time (s) |")
    print("| --- | " + " | ".join("---" for _ in rows[0][1]) + " | --- |")
    for kind, _, m, se, secs in rows:
        cells = " | ".join(f"{a:.1f} ± {b:.1f}" for a, b in zip(m, se, strict=True))
        print(f"| {kind} | {cells} | {secs:.0f} |")


if __name__ == "__main__":
    main()
