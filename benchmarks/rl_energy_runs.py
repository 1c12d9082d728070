"""Long learning runs of chapters 9 and 11: HopfieldQ, SoftQ and DQN on CartPole-v1 and Pendulum-v1.

Usage (from the repository root)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_energy_runs --task cartpole --agent hopfield \
        --seeds 0 1 2 3 4 --out book/part4/data/cartpole_hopfield.json

Every seed follows the book's evaluation protocol (:mod:`ebmlib.rl.training`): it trains for the
task's full step budget (CartPole-v1: 100 000, Pendulum-v1: 60 000), evaluates the greedy policy
every ``--eval-every`` steps on 10 episodes of a separate evaluation environment seeded
``10_000 + seed``, and closes with 100 consecutive greedy episodes (the CartPole-v1 criterion:
mean return >= 475). The runs (learning curves, final evaluations, the step from which the
threshold stayed met, the agent's config) are written with :func:`ebmlib.rl.training.save_runs`
to ``--out`` after every seed; :func:`ebmlib.rl.training.summarize` gives the mean and spread
over seeds. The peers (stable-baselines3 DQN and SAC) run under the same protocol in
``benchmarks/rl_peers.py``. ``--quick`` shortens everything (a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import sys

import gymnasium as gym
import torch

from ebmlib.rl import DQN, DeepQConfig, HopfieldQ, SoftQ, linear_schedule
from ebmlib.rl.training import save_runs, summarize, train_steps

TASKS = {
    "cartpole": {"id": "CartPole-v1", "steps": 100_000, "threshold": 475.0, "eval_every": 5000},
    "pendulum": {"id": "Pendulum-v1", "steps": 60_000, "threshold": -250.0, "eval_every": 5000},
}

#: The hyper-parameters of chapter 11 (one place, used by the benchmarks too).
CONFIGS = {
    "cartpole": DeepQConfig(
        hidden=(64, 64),
        lr=1e-3,
        gamma=0.99,
        buffer_size=50_000,
        batch_size=64,
        learning_starts=1000,
        train_every=2,
        target_update=500,
        epsilon=linear_schedule(1.0, 0.05, 10_000),  # DQN
        T=linear_schedule(1.0, 0.01, 10_000),  # HopfieldQ, SoftQ
    ),
    "pendulum": DeepQConfig(
        hidden=(64, 64),
        lr=1e-3,
        gamma=0.99,
        buffer_size=60_000,
        batch_size=64,
        learning_starts=1000,
        train_every=1,
        tau=0.005,
        T=1.0,
        n_action_samples=32,
        langevin_steps=3,
        langevin_step_size=0.01,
    ),
}
AGENTS = {"hopfield": HopfieldQ, "softq": SoftQ, "dqn": DQN}
HOPFIELD = {"n_patterns": 32, "embed_dim": 16, "beta": 1.0}


def make_agent(task: str, agent: str, env: gym.Env, seed: int):
    """The agent of chapter 11 for ``task``, its weights drawn from ``seed``."""
    if agent not in AGENTS or task not in CONFIGS or (task == "pendulum" and agent == "dqn"):
        raise ValueError(f"unknown task/agent {task!r}/{agent!r}")
    g = torch.Generator().manual_seed(seed)
    extra = HOPFIELD if agent == "hopfield" else {}
    cls = AGENTS[agent]
    return cls(env.observation_space, env.action_space, CONFIGS[task], generator=g, **extra)


def run_seed(task: str, agent_name: str, seed: int, quick: bool = False):
    """Train one seed under the protocol and return its :class:`~ebmlib.rl.training.StepRun`."""
    spec = TASKS[task]
    env, ev = gym.make(spec["id"]), gym.make(spec["id"])
    agent = make_agent(task, agent_name, env, seed)
    return train_steps(
        env,
        agent,
        3000 if quick else spec["steps"],
        eval_env=ev,
        eval_every=1000 if quick else spec["eval_every"],
        eval_episodes=2 if quick else 10,
        final_episodes=5 if quick else 100,
        threshold=spec["threshold"],
        seed=seed,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), required=True)
    p.add_argument("--agent", choices=sorted(AGENTS), required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = []
    for s in args.seeds:
        runs.append(run_seed(args.task, args.agent, s, args.quick))
        r = runs[-1]
        print(
            f"{r.env_id} {r.agent} seed {s}: final greedy mean {r.final_mean:.1f} "
            f"(last eval {r.eval_returns[-1]:.1f}), threshold stayed met from step "
            f"{r.reached_and_stayed}, wall {r.wall_s:.0f}s",
            flush=True,
        )
        save_runs(
            args.out, runs, command=" ".join(["python -m benchmarks.rl_energy_runs"] + sys.argv[1:])
        )
    sm = summarize(runs, last=min(5, len(runs[0].eval_returns)))
    print(
        f"last {sm.last} evaluations over {sm.n_runs} seeds: {sm.final_mean:.1f} +- "
        f"{sm.final_std:.1f} (min {sm.final_min:.1f}, max {sm.final_max:.1f}); "
        f"threshold stayed met in {sm.n_reached_and_stayed}/{sm.n_runs} runs"
    )


if __name__ == "__main__":
    main()
