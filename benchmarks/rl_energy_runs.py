"""Long learning runs of chapter 11: HopfieldQ and DQN on CartPole-v1, HopfieldQ on Pendulum-v1.

Usage (from the repository root)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_energy_runs --task cartpole --agent hopfield \
        --seeds 0 1 2 --out /tmp/rl_energy_cartpole_hopfield.json

Each seed trains for the task's step budget (CartPole-v1: 100 000, Pendulum-v1: 60 000) with a
greedy evaluation every ``--eval-every`` steps (10 episodes) and stops at the target (CartPole:
mean return >= 475; Pendulum: >= -250). One JSON record per seed (steps to target, evaluation
curve, wall time) is written to ``--out`` after every seed. ``--quick`` shortens everything.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch

from ebmlib.rl.agents import DQN
from ebmlib.rl.energy_agents import HopfieldQ, SoftQ, train_steps

TASKS = {
    "cartpole": {"id": "CartPole-v1", "steps": 100_000, "target": 475.0, "eval_every": 5000},
    "pendulum": {"id": "Pendulum-v1", "steps": 60_000, "target": -250.0, "eval_every": 5000},
}


def make_agent(task: str, agent: str, env: gym.Env, seed: int):
    """The agents and hyper-parameters of chapter 11 (one place, used by the benchmark too)."""
    g = torch.Generator().manual_seed(seed)
    o, a = env.observation_space, env.action_space
    if task == "cartpole":
        common = dict(
            lr=1e-3,
            gamma=0.99,
            buffer_size=50_000,
            batch_size=64,
            learning_starts=1000,
            train_every=2,
            target_update=500,
            generator=g,
        )
        if agent == "hopfield":
            return HopfieldQ(
                o,
                a,
                n_patterns=32,
                embed_dim=16,
                beta=1.0,
                hidden=(64, 64),
                temperature=1.0,
                temperature_end=0.01,
                temperature_decay_steps=10_000,
                **common,
            )
        if agent == "dqn":
            return DQN(
                o,
                a,
                hidden=(64, 64),
                epsilon_start=1.0,
                epsilon_end=0.05,
                epsilon_decay_steps=10_000,
                **common,
            )
    if task == "pendulum":
        common = dict(
            lr=1e-3,
            gamma=0.99,
            buffer_size=60_000,
            batch_size=64,
            learning_starts=1000,
            train_every=1,
            tau=0.005,
            temperature=PENDULUM_ALPHA,
            n_action_samples=32,
            langevin_steps=3,
            langevin_step_size=0.01,
            generator=g,
        )
        if agent == "hopfield":
            return HopfieldQ(o, a, n_patterns=32, embed_dim=16, beta=1.0, hidden=(64, 64), **common)
        if agent == "softq":
            return SoftQ(o, a, hidden=(64, 64), **common)
    raise ValueError(f"unknown task/agent {task!r}/{agent!r}")


PENDULUM_ALPHA = 1.0


def run_seed(task: str, agent_name: str, seed: int, quick: bool = False) -> dict:
    """Train one seed and return its record."""
    spec = TASKS[task]
    env, ev = gym.make(spec["id"]), gym.make(spec["id"])
    agent = make_agent(task, agent_name, env, seed)
    steps = 4000 if quick else spec["steps"]
    every = 2000 if quick else spec["eval_every"]
    t = time.perf_counter()
    out = train_steps(
        env,
        agent,
        steps,
        eval_env=ev,
        eval_every=every,
        eval_episodes=3 if quick else 10,
        target=spec["target"],
        seed=seed,
    )
    out.update(
        task=spec["id"],
        agent=agent_name,
        seed=seed,
        budget=steps,
        target=spec["target"],
        wall_s=time.perf_counter() - t,
        final_eval=out["eval_returns"][-1],
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", choices=sorted(TASKS), required=True)
    p.add_argument("--agent", choices=["hopfield", "dqn", "softq"], required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    records = []
    for s in args.seeds:
        records.append(run_seed(args.task, args.agent, s, args.quick))
        r = records[-1]
        print(
            f"{r['task']} {r['agent']} seed {s}: steps_to_target={r['steps_to_target']} "
            f"best={r['best_eval']:.1f} wall={r['wall_s']:.0f}s",
            flush=True,
        )
        with open(args.out, "w") as f:
            json.dump(records, f)


if __name__ == "__main__":
    main()
