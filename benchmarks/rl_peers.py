"""The real peer of the book's deep RL results: stable-baselines3 DQN and SAC, same protocol.

Runs stable-baselines3's DQN on CartPole-v1 and SAC on Pendulum-v1 under exactly the budgets,
seeds and evaluation protocol of ``benchmarks/rl_energy_runs.py``: the full step budget
(100 000 / 60 000), a greedy (``deterministic=True``) evaluation every ``--eval-every`` steps on
10 episodes of a separate environment seeded ``10_000 + seed`` (with
:func:`ebmlib.rl.training.evaluate`, the same code that evaluates the book's agents), 100
consecutive greedy episodes at the end, and the same JSON format
(:func:`ebmlib.rl.training.save_runs`), so the chapters plot both with one function.

Two settings (``--config``):

* ``matched`` (default): the hyper-parameters of the book's agents in ``rl_energy_runs.py``
  (MLP 64-64, Adam 1e-3, gamma 0.99, batch 64, 1000 warm-up steps; DQN: buffer 50 000, a
  gradient step every 2 environment steps, target copied every 500 steps, epsilon 1 -> 0.05 over
  10 000 steps, Huber loss, gradient norm clipped at 10; SAC: buffer 60 000, one gradient step
  per environment step, Polyak rate 0.005, entropy temperature tuned automatically as SAC does);
* ``sb3``: stable-baselines3's own defaults for everything but the budget.

Usage (from the repository root)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_peers --task cartpole --algo dqn \
        --seeds 0 1 2 3 4 --out book/part4/data/cartpole_sb3_dqn.json

``--quick`` shortens everything (a smoke test, not a result). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ebmlib._optional import require
from ebmlib.rl.training import (
    StepRun,
    evaluate,
    save_runs,
    steps_first_reached,
    steps_reached_and_stayed,
    summarize,
)

TASKS = {
    "cartpole": {"id": "CartPole-v1", "steps": 100_000, "threshold": 475.0, "eval_every": 5000},
    "pendulum": {"id": "Pendulum-v1", "steps": 60_000, "threshold": -250.0, "eval_every": 5000},
}
ALGOS = {"cartpole": "dqn", "pendulum": "sac"}

MATCHED = {
    "dqn": dict(
        learning_rate=1e-3,
        buffer_size=50_000,
        learning_starts=1000,
        batch_size=64,
        gamma=0.99,
        train_freq=2,
        gradient_steps=1,
        target_update_interval=500,
        exploration_initial_eps=1.0,
        exploration_final_eps=0.05,
        max_grad_norm=10.0,
        policy_kwargs={"net_arch": [64, 64]},
    ),
    "sac": dict(
        learning_rate=1e-3,
        buffer_size=60_000,
        learning_starts=1000,
        batch_size=64,
        gamma=0.99,
        tau=0.005,
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto",
        policy_kwargs={"net_arch": [64, 64]},
    ),
}


class SB3Agent:
    """The agent interface of :mod:`ebmlib.rl.training` around a stable-baselines3 model.

    ``greedy`` is the model's deterministic action (argmax Q for DQN, the mean action for SAC);
    ``act`` its stochastic one. It is only evaluated, never updated, through this interface.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def greedy(self, obs: Any) -> Any:
        action, _ = self.model.predict(obs, deterministic=True)
        return int(action) if np.ndim(action) == 0 else action

    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        action, _ = self.model.predict(obs, deterministic=False)
        return int(action) if np.ndim(action) == 0 else action

    def update(self, *args: Any, **kwargs: Any) -> float:  # pragma: no cover - never called
        raise RuntimeError("stable-baselines3 models learn through model.learn")


def make_model(task: str, algo: str, env: gym.Env, seed: int, config: str, steps: int) -> Any:
    """A stable-baselines3 DQN (CartPole) or SAC (Pendulum) with the chosen settings."""
    sb3 = require("stable_baselines3", "bench", feature="benchmarks.rl_peers")
    if ALGOS.get(task) != algo:
        raise ValueError(f"the peer of {task!r} is {ALGOS.get(task)!r}, got {algo!r}")
    kw: dict[str, Any] = dict(MATCHED[algo]) if config == "matched" else {}
    if algo == "dqn" and config == "matched":
        kw["exploration_fraction"] = 10_000 / steps  # epsilon decays over the first 10 000 steps
    cls = sb3.DQN if algo == "dqn" else sb3.SAC
    return cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kw)


def run_seed(
    task: str, algo: str, seed: int, quick: bool = False, config: str = "matched"
) -> StepRun:
    """Train one seed under the book's protocol and return its :class:`StepRun`."""
    spec = TASKS[task]
    total = 3000 if quick else spec["steps"]
    every = 1000 if quick else spec["eval_every"]
    episodes, final_episodes = (2, 5) if quick else (10, 100)
    eval_seed = 10_000 + seed
    env, ev = gym.make(spec["id"]), gym.make(spec["id"])
    t0 = time.perf_counter()
    model = make_model(task, algo, env, seed, config, total)
    agent = SB3Agent(model)
    eval_steps, eval_returns, eval_std = [], [], []

    def evaluation(step: int) -> None:
        e = evaluate(ev, agent, episodes, seed=eval_seed)
        eval_steps.append(step)
        eval_returns.append(e.mean_return)
        eval_std.append(float(e.returns.std()))

    evaluation(0)
    # one learn() call for the whole budget (so the exploration and learning-rate schedules see
    # the true budget); a callback evaluates every `every` steps, as the book's loop does
    base = require("stable_baselines3.common.callbacks", "bench").BaseCallback

    class EveryE(base):
        def _on_step(self) -> bool:
            if self.num_timesteps % every == 0 or self.num_timesteps == total:
                evaluation(self.num_timesteps)
            return True

    model.learn(total_timesteps=total, callback=EveryE())
    if eval_steps[-1] != total:  # pragma: no cover - learn() stops exactly at the budget
        evaluation(total)
    final = evaluate(ev, agent, final_episodes, seed=eval_seed)
    # training episodes as the Monitor wrapper recorded them
    monitor = model.get_env().envs[0]
    ep_returns = [float(r) for r in monitor.get_episode_rewards()]
    ep_steps = np.cumsum(monitor.get_episode_lengths()).astype(int).tolist()
    cfg = {"library": "stable-baselines3", "config": config, **MATCHED[algo]}
    if config != "matched":
        cfg = {"library": "stable-baselines3", "config": "sb3 defaults"}
    return StepRun(
        agent=f"sb3.{algo.upper()}",
        env_id=spec["id"],
        seed=seed,
        eval_seed=eval_seed,
        total_steps=total,
        eval_every=every,
        eval_episodes=episodes,
        eval_steps=eval_steps,
        eval_returns=eval_returns,
        eval_std=eval_std,
        episode_steps=ep_steps,
        episode_returns=ep_returns,
        final_returns=[float(r) for r in final.returns],
        final_mean=final.mean_return,
        threshold=spec["threshold"],
        first_reached=steps_first_reached(eval_steps, eval_returns, spec["threshold"]),
        reached_and_stayed=steps_reached_and_stayed(eval_steps, eval_returns, spec["threshold"]),
        config=cfg,
        wall_s=time.perf_counter() - t0,
    )


def _versions() -> dict[str, str]:
    """The versions of the peer library and of what it runs on, recorded with the runs."""
    sb3 = require("stable_baselines3", "bench")
    return {"stable_baselines3": sb3.__version__, "torch": torch.__version__,
            "gymnasium": gym.__version__}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), required=True)
    p.add_argument("--algo", choices=["dqn", "sac"], required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--config", choices=["matched", "sb3"], default="matched")
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = []
    command = " ".join(["python -m benchmarks.rl_peers"] + sys.argv[1:])
    for s in args.seeds:
        r = run_seed(args.task, args.algo, s, args.quick, args.config)
        runs.append(r)
        print(
            f"{r.env_id} {r.agent} seed {s}: final greedy mean {r.final_mean:.1f} "
            f"(last eval {r.eval_returns[-1]:.1f}), threshold stayed met from step "
            f"{r.reached_and_stayed}, wall {r.wall_s:.0f}s",
            flush=True,
        )
        save_runs(args.out, runs, command=command, versions=_versions())
    sm = summarize(runs, last=min(5, len(runs[0].eval_returns)))
    print(
        f"last {sm.last} evaluations over {sm.n_runs} seeds: {sm.final_mean:.1f} +- "
        f"{sm.final_std:.1f} (min {sm.final_min:.1f}, max {sm.final_max:.1f}); "
        f"threshold stayed met in {sm.n_reached_and_stayed}/{sm.n_runs} runs"
    )


if __name__ == "__main__":
    main()
