"""The recorded runs of chapter 9: tabular learners on FrozenLake-v1 and DQN on CartPole-v1.

Two experiments, both under the book's evaluation protocol (:mod:`ebmlib.rl.training`: full
budget, learning curves, final evaluations averaged over seeds, seeds listed):

``frozenlake``
    Tabular Q-learning and SARSA (:class:`ebmlib.rl.agents.TabularQ`, learning rate 0.1,
    epsilon-greedy with epsilon falling linearly from 1 to 0.01 over the first half) on slippery
    ``FrozenLake-v1`` at gamma 0.99, and, for the learning-rate exercise of chapter 9, Q-learning
    with the visit-count rate ``eta = 1 / n(s, a)**omega`` (written out below, as the exercise
    asks the reader to). Every ``--eval-every`` episodes the **exact** success probability of
    the greedy policy is computed (:func:`ebmlib.rl.exact.success_probability`), so the
    learning curve and the final numbers carry no evaluation noise.
``dqn``
    :class:`ebmlib.rl.agents.DQN` on ``CartPole-v1`` for 100 000 environment steps (MLP 64-64,
    Adam 1e-3, gamma 0.99, replay buffer 50 000, minibatch 64, 1000 warm-up steps, a gradient
    step every 2 environment steps, target network copied every 500 steps, epsilon 1 -> 0.05
    over 10 000 steps, Huber loss, gradient norm clipped at 10), a greedy evaluation of 10
    episodes every 5000 steps on an environment seeded ``10_000 + seed``, and 100 consecutive
    greedy episodes at the end (the CartPole-v1 criterion: mean return >= 475). The peer is
    stable-baselines3's DQN with the same settings, run by ``benchmarks/rl_peers.py``.

Usage (the commands of the results in chapter 9)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_ch9 frozenlake --seeds 0 1 2 3 4 5 6 7 8 9 \\
        --out book/part4/data/rl_frozenlake_tabular.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_ch9 dqn --seeds 0 1 2 3 4 \\
        --out book/part4/data/rl_cartpole_dqn.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_peers --task cartpole --algo dqn \\
        --seeds 0 1 2 3 4 --out book/part4/data/rl_cartpole_sb3_dqn.json

A results script, not a speed comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ebmlib.rl import DQN, DeepQConfig, TabularQ, exact, linear_schedule, train
from ebmlib.rl.training import save_runs, summarize, train_steps

#: DQN on CartPole-v1 (chapter 9); the same settings as the stable-baselines3 peer.
DQN_CONFIG = DeepQConfig(
    hidden=(64, 64),
    lr=1e-3,
    gamma=0.99,
    buffer_size=50_000,
    batch_size=64,
    learning_starts=1000,
    train_every=2,
    target_update=500,
    epsilon=linear_schedule(1.0, 0.05, 10_000),
)
CARTPOLE = {"id": "CartPole-v1", "steps": 100_000, "eval_every": 5000, "threshold": 475.0}

#: Tabular learners on FrozenLake-v1 (chapter 9).
FL = {"gamma": 0.99, "lr": 0.1, "episodes": 3000, "eval_every": 100, "omega": 0.6}


# -- FrozenLake ---------------------------------------------------------------------------------
def frozenlake_run(method: str, seed: int, episodes: int, eval_every: int):
    """TabularQ (``"q"`` or ``"sarsa"``) for the full budget, exact P(goal) every ``eval_every``."""
    env = gym.make("FrozenLake-v1")
    agent = TabularQ(
        env.observation_space,
        env.action_space,
        lr=FL["lr"],
        gamma=FL["gamma"],
        method=method,
        exploration="epsilon",
        epsilon=linear_schedule(1.0, 0.01, max(1, episodes // 2)),
    )
    return train(
        env,
        agent,
        episodes,
        seed=seed,
        eval_every=eval_every,
        eval_fn=lambda a: exact.success_probability(env, a.greedy_policy()),
        progress_bar=False,
    )


def q_learning_visit_rate(
    seed: int, episodes: int, eval_every: int, omega: float
) -> dict[str, Any]:
    """Q-learning with the rate ``1 / n(s, a)**omega`` (the solution of the chapter's exercise).

    Same exploration, discount, seeding and exact evaluation as :func:`frozenlake_run`; only the
    learning rate differs: the ``n``-th update of a pair ``(s, a)`` uses ``n**-omega``.
    """
    env = gym.make("FrozenLake-v1")
    g = torch.Generator().manual_seed(seed)
    env.action_space.seed(seed)
    Q = np.zeros((16, 4))
    n = np.zeros((16, 4))
    half = max(1, episodes // 2)
    evals, at = [exact.success_probability(env, torch.as_tensor(Q.argmax(1)))], [0]
    for ep in range(episodes):
        eps = 1.0 + (0.01 - 1.0) * min(ep / half, 1.0)
        s, _ = env.reset(seed=seed if ep == 0 else None)
        done = False
        while not done:
            if float(torch.rand((), generator=g)) < eps:
                a = int(torch.randint(4, (), generator=g))
            else:
                a = int(Q[s].argmax())
            s2, r, term, trunc, _ = env.step(a)
            target = r if term else r + FL["gamma"] * Q[s2].max()
            n[s, a] += 1
            Q[s, a] += (target - Q[s, a]) / n[s, a] ** omega
            s, done = s2, term or trunc
        if (ep + 1) % eval_every == 0:
            at.append(ep + 1)
            evals.append(exact.success_probability(env, torch.as_tensor(Q.argmax(1))))
    return {"seed": seed, "eval_episode": at, "eval": evals, "omega": omega}


def frozenlake_main(args: argparse.Namespace) -> None:
    runs = []
    print("| learner | seed | P(goal), final greedy policy | mean of last 5 evaluations |")
    print("| --- | --- | --- | --- |")
    for method in ("q", "sarsa"):
        for s in args.seeds:
            h = frozenlake_run(method, s, args.episodes, args.eval_every)
            runs.append(h)
            print(f"| {method} | {s} | {h.eval[-1]:.4f} | {np.mean(h.eval[-5:]):.4f} |", flush=True)
    decay = []
    for s in args.seeds:
        r = q_learning_visit_rate(s, args.decay_episodes, args.eval_every, FL["omega"])
        decay.append(r)
        print(f"| q, rate n**-{FL['omega']} | {s} | {r['eval'][-1]:.4f} | "
              f"{np.mean(r['eval'][-5:]):.4f} |", flush=True)  # fmt: skip
    if args.out:
        command = " ".join(["python -m benchmarks.rl_ch9"] + sys.argv[1:])
        save_runs(args.out, runs, command=command, settings=FL, visit_rate_runs=decay)
        print(f"wrote {args.out}")


# -- DQN on CartPole ----------------------------------------------------------------------------
def dqn_run(seed: int, quick: bool = False):
    """DQN on CartPole-v1 for the full budget under the protocol (a StepRun)."""
    env, ev = gym.make(CARTPOLE["id"]), gym.make(CARTPOLE["id"])
    agent = DQN(
        env.observation_space,
        env.action_space,
        DQN_CONFIG,
        generator=torch.Generator().manual_seed(seed),
    )
    return train_steps(
        env,
        agent,
        3000 if quick else CARTPOLE["steps"],
        eval_env=ev,
        eval_every=1000 if quick else CARTPOLE["eval_every"],
        eval_episodes=2 if quick else 10,
        final_episodes=5 if quick else 100,
        threshold=CARTPOLE["threshold"],
        seed=seed,
    )


def dqn_main(args: argparse.Namespace) -> None:
    runs = []
    command = " ".join(["python -m benchmarks.rl_ch9"] + sys.argv[1:])
    for s in args.seeds:
        t0 = time.perf_counter()
        r = dqn_run(s, args.quick)
        runs.append(r)
        print(
            f"DQN seed {s}: final 100-episode greedy mean {r.final_mean:.1f}, last evaluation "
            f"{r.eval_returns[-1]:.1f}, 475 stayed met from step {r.reached_and_stayed} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        if args.out:
            save_runs(args.out, runs, command=command)
    sm = summarize(runs, last=min(5, len(runs[0].eval_returns)))
    print(
        f"last {sm.last} evaluations over seeds {sm.seeds}: {sm.final_mean:.1f} +- "
        f"{sm.final_std:.1f}; final 100-episode means {json.dumps(sm.final_episode_means)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    fl = sub.add_parser("frozenlake", help="tabular learners on FrozenLake-v1")
    fl.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    fl.add_argument("--episodes", type=int, default=FL["episodes"])
    fl.add_argument("--decay-episodes", type=int, default=FL["episodes"])
    fl.add_argument("--eval-every", type=int, default=FL["eval_every"])
    fl.add_argument("--out", default=None)
    dq = sub.add_parser("dqn", help="DQN on CartPole-v1")
    dq.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    dq.add_argument("--out", default=None)
    dq.add_argument("--quick", action="store_true", help="a smoke test, not a result")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.what == "frozenlake":
        frozenlake_main(args)
    else:
        dqn_main(args)


if __name__ == "__main__":
    main()
