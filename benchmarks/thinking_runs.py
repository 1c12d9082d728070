"""Chapter 13: thinking agents on the deduction task as the number of propositions grows.

Every run draws a fresh rule base from its seed (``instance_seed = seed``), trains one agent for
the full step budget on episodes with random goals, and evaluates the greedy agent every
``eval_every`` steps on every goal of the instance (with an evaluation generator seeded apart
from training). Recorded per evaluation: success rate, thinking steps of the successful
episodes against the exact minimum, hallucination rate (rejected / asserted propositions) and
working-memory overflows.

Exploration is shared: with a probability that falls from 1 to 0.05 over the first 60% of the
budget every agent asserts one random proposition instead of its own thought; otherwise the DQNs
act greedily and the sampling agents sample at a temperature that falls from
``T0 = PENALTY / ln n`` to ``T0 / 5`` (the temperature at which an untrained sampler thinks about
one proposition at a time). Settings were chosen on seeds 100 and 101, which are not reported.

Agents: ``attention`` (:class:`ebmlib.rl.thinking.AttentionQ`, 16 stored patterns),
``additive`` (the same with one pattern: a per-bit additive Q), ``rbm``
(:class:`ebmlib.rl.FreeEnergyQ` with Gibbs-sampled thoughts, Sallans & Hinton), ``dqn_single``
(DQN over single propositions), ``dqn_joint`` (DQN with one output per thought, n <= 10),
``random`` and ``optimal`` (the exact plan).

The chapter's figure and table read every ``book/part5/data/thinking_*.json``, made by::

    OMP_WAIT_POLICY=PASSIVE nice -n 15 python -m benchmarks.thinking_runs \\
        --agents rbm dqn_single dqn_joint random optimal --out book/part5/data/thinking_runs.json
    ... --n 8 16 32 --agents attention --out book/part5/data/thinking_runs.json
    ... --n 8 16 --agents additive --out book/part5/data/thinking_additive.json
    ... --n 32 --seeds 4 3 2 1 0 --agents attention \\
        --out book/part5/data/thinking_attention_n32.json
    ... --n 32 --agents dqn_single random optimal --out book/part5/data/thinking_runs_n32.json
    ... --n 32 --seeds 4 --agents rbm --out book/part5/data/thinking_runs_n32.json

(one torch thread; a command skips the runs its ``--out`` file already holds, and every run is
seeded, so the record of a run does not depend on the command that makes it). The recorded
files hold the sizes up to n = 32; n = 64 and 128 are defined below but not recorded.
``--seeds 100 101 102`` runs held-out seeds; ``--n 16 --agents attention`` a single cell.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np
import torch

from ebmlib.rl import DQN, FreeEnergyQ, linear_schedule
from ebmlib.rl.thinking import AttentionQ
from ebmlib.rl.thoughts import (
    DeductionEnv,
    JointAction,
    SingleAssertion,
    minimum_steps,
    plan_policy,
    rollout,
)

GAMMA = 0.9
PENALTY = 0.1

#: per number of propositions: proof depth, premises per rule, working memory, step budget
SIZES: dict[int, dict[str, int]] = {
    8: {"depth": 2, "branching": 2, "memory": 2, "steps": 4_000},
    16: {"depth": 3, "branching": 2, "memory": 3, "steps": 8_000},
    32: {"depth": 3, "branching": 3, "memory": 4, "steps": 12_000},
    64: {"depth": 4, "branching": 3, "memory": 5, "steps": 16_000},
    128: {"depth": 5, "branching": 3, "memory": 6, "steps": 20_000},
}
#: first value of the shared exploration rate (one random proposition instead of the agent's own
#: thought); it falls linearly to 0.05 over the first 60% of the budget
EPS0: dict[str, float] = {}
AGENTS = ("attention", "additive", "rbm", "dqn_single", "dqn_joint", "random", "optimal")
N_EVALS = 10


def make_env(n: int, seed: int) -> DeductionEnv:
    """The deduction task of size ``n`` with the rule base of ``seed``."""
    size = SIZES[n]
    return DeductionEnv(
        n, size["depth"], size["branching"], instance_seed=seed, memory=size["memory"],
        penalty=PENALTY,
    )  # fmt: skip


def make_agent(kind: str, env: Any, seed: int, steps: int, **over: Any) -> Any:
    """The agent ``kind`` for ``env`` (already wrapped for the DQNs), seeded by ``seed``.

    ``over`` replaces settings (``lr``, ``t_scale`` multiplying the temperatures, ...).
    """
    gen = torch.Generator().manual_seed(seed)
    explore = int(0.6 * steps)
    n = env.unwrapped.n
    # the temperature at which a thought whose propositions each cost PENALTY has about one
    # proposition: n sigmoid(-PENALTY / T) = 1, i.e. T = PENALTY / ln(n) (chapter 13)
    t0 = over.pop("t_scale", 1.0) * PENALTY / math.log(n)
    deep = {
        "hidden": (128,),
        "lr": 1e-3,
        "gamma": GAMMA,
        "buffer_size": 20_000,
        "batch_size": 64,
        "learning_starts": 500,
        "target_update": 250,
    }
    deep.update({k: v for k, v in over.items() if k in deep})
    over = {k: v for k, v in over.items() if k not in deep}
    if kind in ("attention", "additive"):
        return AttentionQ(
            env.observation_space, env.action_space,
            n_patterns=16 if kind == "attention" else 1, beta=1 / t0, gibbs_steps=1,
            generator=gen, T=linear_schedule(t0, 0.2 * t0, explore), **deep, **over,
        )  # fmt: skip
    if kind in ("dqn_single", "dqn_joint"):
        return DQN(
            env.observation_space, env.action_space, generator=gen,
            exploration="epsilon", epsilon=0.0, **deep, **over,
        )  # fmt: skip
    if kind == "rbm":
        rbm = {"n_hidden": 32, "lr": 0.01, "gibbs_sweeps": 10, "init_std": 0.05, **over}
        agent = FreeEnergyQ(
            env.observation_space, env.action_space, generator=gen, gamma=GAMMA,
            method="sarsa", exploration="boltzmann", action_selection="gibbs",
            T=linear_schedule(t0, 0.2 * t0, max(1, explore // 10)), gibbs_T0=10 * t0,
            greedy_chains=8, greedy_T=0.2 * t0, **rbm,
        )  # fmt: skip
        # the prior of the attention agent: every asserted proposition starts at value -PENALTY
        with torch.no_grad():
            agent.rbm.b[agent.n_state_units :] = -PENALTY
        return agent
    raise ValueError(f"unknown agent {kind!r}")


def wrap(kind: str, env: DeductionEnv) -> Any:
    if kind == "dqn_single":
        return SingleAssertion(env)
    if kind == "dqn_joint":
        return JointAction(env)
    return env


def evaluate(env: Any, policy: Any) -> dict[str, float]:
    """Greedy rollouts on every goal of the instance."""
    base = env.unwrapped
    traces = [rollout(env, policy, goal=g) for g in base.instance.goals]
    ok = [t for t in traces if t.success]
    asserted = sum(t.assertions for t in traces)
    return {
        "success": float(np.mean([t.success for t in traces])),
        "steps": float(np.mean([t.steps for t in ok])) if ok else math.nan,
        "ratio": float(np.mean([t.steps / t.optimal_steps for t in ok])) if ok else math.nan,
        "optimal": float(np.mean([t.optimal_steps for t in ok])) if ok else math.nan,
        "hallucination": sum(t.hallucinations for t in traces) / max(asserted, 1),
        "overflow": float(np.mean([np.mean(t.overflow) for t in traces])),
        "return": float(np.mean([t.episode_return for t in traces])),
    }


def reference(n: int, seed: int) -> dict[str, Any]:
    """Exact minimum steps (with the working memory and one per step) for every goal."""
    env = make_env(n, seed)
    inst = env.instance
    tau = [minimum_steps(inst, g, memory=env.memory) for g in inst.goals]
    tau1 = [minimum_steps(inst, g, memory=1) for g in inst.goals]
    return {
        "goals": len(inst.goals),
        "tau_mean": float(np.mean(tau)),
        "tau1_mean": float(np.mean(tau1)),
        "ratio1_mean": float(np.mean(np.array(tau1) / np.array(tau))),
        "tau_max": int(max(tau)),
        "tau1_max": int(max(tau1)),
        "max_steps": env.max_steps,
    }


def run(kind: str, n: int, seed: int, steps: int | None = None, **over: Any) -> dict[str, Any]:
    """One training run to the full budget with evaluations; returns a JSON-ready dict."""
    steps = SIZES[n]["steps"] if steps is None else steps
    env = wrap(kind, make_env(n, seed))
    eval_env = wrap(kind, make_env(n, seed))
    t0 = time.process_time()
    out: dict[str, Any] = {"agent": kind, "n": n, "seed": seed, "steps": steps}
    if kind in ("random", "optimal"):
        if kind == "optimal":
            policy = plan_policy(eval_env)
        else:
            rng = np.random.default_rng(10_000 + seed)
            mem = eval_env.memory

            def policy(obs: np.ndarray) -> np.ndarray:
                a = np.zeros(n, dtype=np.int8)
                a[rng.choice(n, int(rng.integers(1, mem + 1)), replace=False)] = 1
                return a

        out["curve"] = [{"step": 0, **evaluate(eval_env, policy)}]
        out["cpu_s"] = time.process_time() - t0
        return out
    eps0 = over.pop("eps0", EPS0.get(kind, 1.0))
    agent = make_agent(kind, env, seed, steps, **over)
    act_gen = torch.Generator().manual_seed(seed)
    eval_gen = torch.Generator().manual_seed(10_000 + seed)
    explore_rng = np.random.default_rng(seed)
    epsilon = linear_schedule(eps0, min(eps0, 0.05), int(0.6 * steps))
    if kind == "rbm":

        def greedy(obs: np.ndarray) -> Any:
            return agent.greedy(obs, generator=eval_gen)
    else:
        greedy = agent.greedy

    def choose(obs: np.ndarray, t: int) -> Any:
        # the exploration shared by every agent: with probability epsilon(t) one random
        # proposition; otherwise the agent's own thought (greedy for the DQNs, sampled at the
        # current temperature for the sampling agents)
        if explore_rng.random() < epsilon(t):
            p = int(explore_rng.integers(n))
            if kind == "dqn_single":
                return p
            if kind == "dqn_joint":
                return 1 << p
            a = np.zeros(n, dtype=np.int8)
            a[p] = 1
            return a
        return agent.act(obs, act_gen)

    eval_every = steps // N_EVALS
    curve = []
    obs, _ = env.reset(seed=seed)
    episode = 0
    agent.begin_episode(episode)
    action = choose(obs, 0)
    for t in range(steps + 1):
        if t % eval_every == 0:
            curve.append({"step": t, **evaluate(eval_env, greedy)})
        if t == steps:
            break
        nxt, r, term, trunc, _ = env.step(action)
        next_action = None if term else choose(nxt, t + 1)
        agent.update(obs, action, r, nxt, next_action, term)
        if term or trunc:
            episode += 1
            agent.begin_episode(episode)
            obs, _ = env.reset()
            action = choose(obs, t + 1)
        else:
            obs, action = nxt, next_action
    out["curve"] = curve
    out["episodes"] = episode
    out["cpu_s"] = time.process_time() - t0
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=sorted(SIZES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--agents", nargs="+", default=list(AGENTS))
    p.add_argument("--steps", type=int, default=None, help="override the step budget")
    p.add_argument("--out", default=None, help="JSON file (appended run by run)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs: list[dict[str, Any]] = []
    done: set[tuple[str, int, int]] = set()
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            runs = json.load(f)["runs"]
        done = {(r["agent"], r["n"], r["seed"]) for r in runs}
    refs = {f"{n}/{s}": reference(n, s) for n in args.n for s in args.seeds}
    for n in args.n:
        for kind in args.agents:
            if kind == "dqn_joint" and n > 10:
                continue
            for seed in args.seeds:
                if (kind, n, seed) in done:
                    continue
                res = run(kind, n, seed, args.steps)
                last = res["curve"][-1]
                print(
                    f"n={n:4d} {kind:11s} seed={seed} success={last['success']:.2f} "
                    f"ratio={last['ratio']:.2f} halluc={last['hallucination']:.3f} "
                    f"cpu={res['cpu_s']:.0f}s",
                    flush=True,
                )
                runs.append(res)
                if args.out:
                    meta = {"gamma": GAMMA, "penalty": PENALTY, "sizes": SIZES,
                            "command": " ".join(sys.argv), "references": refs}  # fmt: skip
                    tmp = args.out + ".tmp"
                    with open(tmp, "w") as f:
                        json.dump({"meta": meta, "runs": runs}, f)
                    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
