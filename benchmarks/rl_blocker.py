"""Blocker learning curves of chapter 10, scored exactly against the optimum and fixed policies.

The task is ``ebmlib/Blocker-v1``: a 4 x 7 field, three agents, two blockers three cells wide
that move to keep the gap away from the agents (Sallans & Hinton 2004; rules in
:class:`ebmlib.rl.envs.BlockerEnv`); episodes are cut after 40 steps; reward +1 for the
scoring step, -1 for every other step. Learners, trained for the full budget on every seed:

* ``fe-gibbs``: Sallans & Hinton's algorithm whole: :class:`ebmlib.rl.agents.FreeEnergyQ`
  trained by SARSA, its joint actions drawn by annealed block Gibbs sampling with the state
  clamped (``action_selection="gibbs"``, Boltzmann exploration at temperature ``T``);
* ``fe-enum``: the same agent and rule, actions drawn from ``softmax(Q/T)`` by enumerating the
  64 joint actions (exact sampling: what Gibbs approximates);
* ``joint``: joint tabular SARSA over (all positions, joint action);
* ``indep``: independent tabular learners, one per agent, each seeing its own and the
  blockers' positions (:class:`ebmlib.rl.agents.IndependentQ`);
* ``random``: uniformly random joint actions.

Every learner gets the same schedules: Boltzmann exploration (``softmax(Q/T)``, for the
independent learners per agent) with the temperature falling linearly from 1 to 0.1 over the
first half of the run, and a learning rate falling linearly from its starting value to a tenth
of it over the whole run. Only the starting rates differ; they are the best of the grid
``TUNE_GRID`` on seeds 100, 101 and 102, which are never reported (``--tune`` runs it; its
results are in ``book/part4/data/blocker_tuning.json``; the joint table scores at no rate of
the grid, so its hand-set rate is kept, and the Gibbs-sampled agent shares the enumerating
agent's rate). Every
``--eval-every`` episodes the learner's **greedy policy** (argmax of its Q-values over the 64
joint actions, in every one of the 7 632 reachable states) is scored **exactly** by
:mod:`ebmlib.rl.exact`: its success rate and mean return over all 630 start states within the
40-step limit, with no sampling noise. The exact optimum and the fixed policies (all down,
nearest hole, chasing the gap, the coordinated formation) are printed alongside. Following the
book's protocol the table reports the mean and spread over seeds of the last ``--final``
evaluations, and the first episode from which the success rate stayed at 1.

Usage (the commands of the results in chapter 10; the Gibbs-sampled learner is kept in its own
file)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_blocker --learners joint indep fe-enum random \\
        --seeds 0 1 2 3 4 --out book/part4/data/blocker_runs.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_blocker --learners fe-gibbs --seeds 0 1 2 3 4 \\
        --out book/part4/data/blocker_gibbs.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_blocker --tune \\
        --out book/part4/data/blocker_tuning.json

A results script, not a speed comparison (seconds per run are printed for orientation only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch

import ebmlib.rl  # noqa: F401  (registers the environments)
from ebmlib.rl import exact, train
from ebmlib.rl.agents import FreeEnergyQ, IndependentQ, RandomAgent, TabularQ
from ebmlib.rl.config import linear_schedule
from ebmlib.rl.envs import BlockerEnv

LIMIT = 40  # time limit of ebmlib/Blocker-v1
GAMMA = 0.95
EPISODES = 4000
T_SCHEDULE = (1.0, 0.1)  # Boltzmann temperature, linear over the first half of the run
#: Starting learning rates (the best of TUNE_GRID on seeds 100-102, see --tune) and sizes.
DEFAULTS: dict[str, dict[str, Any]] = {
    "fe-gibbs": {"lr": 0.01, "n_hidden": 64, "gibbs_sweeps": 10},
    "fe-enum": {"lr": 0.01, "n_hidden": 64},
    "joint": {"lr": 0.5},
    "indep": {"lr": 0.2},
    "random": {},
}
#: The starting rates tried on the tuning seeds (fe-gibbs uses fe-enum's: same model and rule).
TUNE_GRID: dict[str, list[float]] = {
    "fe-enum": [0.01, 0.02, 0.04],
    "joint": [0.2, 0.5, 1.0],
    "indep": [0.05, 0.2, 0.5],
}
TUNE_SEEDS = [100, 101, 102]


def make_env(kw: dict[str, Any]) -> Any:
    import gymnasium as gym

    return gym.make("ebmlib/Blocker-v1", **kw)


def make_agent(kind: str, env: Any, seed: int, episodes: int, opts: dict[str, Any]) -> Any:
    """The learners compared in chapter 10 (configuration in the module docstring)."""
    o, a = env.observation_space, env.action_space
    u = env.unwrapped
    T = linear_schedule(*T_SCHEDULE, max(1, episodes // 2))
    lr = linear_schedule(opts["lr"], opts["lr"] / 10, episodes) if "lr" in opts else None
    common = dict(gamma=GAMMA, method="sarsa", exploration="boltzmann", T=T, lr=lr)
    if kind in ("fe-gibbs", "fe-enum"):
        return FreeEnergyQ(
            o,
            a,
            n_hidden=opts["n_hidden"],
            action_selection="gibbs" if kind == "fe-gibbs" else "enumerate",
            gibbs_sweeps=opts.get("gibbs_sweeps", 20),
            init_std=0.3,
            offset_correction=True,
            generator=torch.Generator().manual_seed(seed),
            **common,
        )
    if kind == "joint":
        return TabularQ(o, a, **common)
    if kind == "indep":
        views = [[i, *range(u.n_agents, u.n_agents + u.n_blockers)] for i in range(u.n_agents)]
        return IndependentQ(o, a, views, **common)
    if kind == "random":
        return RandomAgent(o, a)
    raise ValueError(f"unknown learner {kind!r}")


_STATE_UNITS: dict[int, torch.Tensor] = {}


def _fe_greedy(agent: FreeEnergyQ, env: BlockerEnv, mdp: exact.TabularMDP) -> torch.Tensor:
    """Argmax of ``Q = -F`` over the joint actions in every state, in one batched evaluation.

    The same numbers as ``agent.q_values(obs).argmax()`` state by state (eq. 10.1 evaluated for
    all states at once), returned as the model's joint-action indices.
    """
    key = id(mdp)
    if key not in _STATE_UNITS:
        _STATE_UNITS[key] = torch.stack(
            [agent.encode_state(env.observation(s)) for s in mdp.labels]
        )
    S = _STATE_UNITS[key].to(agent.rbm.W.dtype)  # [n_states, n_state_units]
    A = agent.act_codec.all_units(agent.rbm.W.dtype, "cpu")  # [n_actions, n_action_units]
    ns = agent.n_state_units
    W, b, c = agent.rbm.W, agent.rbm.b, agent.rbm.c
    x = c + S @ W[:ns]  # [n_states, n_h]
    q = torch.stack(
        [torch.nn.functional.softplus(x + a @ W[ns:]).sum(1) + a @ b[ns:] for a in A], 1
    )  # [n_states, n_actions]; the state's own bias term is the same for every action
    best = q.argmax(1)
    codec = agent.act_codec
    to_env = torch.tensor([env.joint_index(codec.from_index(i)) for i in range(len(A))])
    return to_env[best]


def greedy_table(kind: str, agent: Any, env: BlockerEnv, mdp: exact.TabularMDP) -> torch.Tensor:
    """The learner's deterministic greedy joint action in every state of the model."""
    if kind.startswith("fe"):  # exact argmax over the 64 joint actions (enumeration)
        return _fe_greedy(agent, env, mdp)
    if kind == "random":  # the uniform policy as probabilities
        return torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)
    return env.policy_table(agent.greedy, mdp)


def score(policy: torch.Tensor, mdp: exact.TabularMDP) -> tuple[float, float]:
    """Exact success rate and mean return over the start states within the time limit."""
    return (
        exact.success_probability(mdp, policy, max_steps=LIMIT),
        exact.expected_return(mdp, policy, LIMIT),
    )


def references(env: BlockerEnv, mdp: exact.TabularMDP) -> dict[str, tuple[float, float]]:
    """Exact success rate and mean return of the optimum and of the fixed policies."""
    out = {"optimum": score(exact.value_iteration(mdp, GAMMA).policy, mdp)}
    for name in ("all_down", "nearest_hole", "chase_gap", "formation"):
        out[name] = score(env.heuristic_policy(name, mdp), mdp)
    uniform = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)
    out["uniform_random"] = score(uniform, mdp)
    return out


def run(
    kind: str,
    seed: int,
    episodes: int = EPISODES,
    eval_every: int = 250,
    lr: float | None = None,
    env_kw: dict[str, Any] | None = None,
) -> dict:
    """Train one learner for the full budget; exact greedy scores every ``eval_every``."""
    env_kw = env_kw or {}
    env = make_env(env_kw)
    model_env = BlockerEnv(**env_kw)
    mdp = model_env.tabular()
    opts = dict(DEFAULTS[kind])
    if lr is not None and "lr" in opts:
        opts["lr"] = lr
    agent = make_agent(kind, env, seed, episodes, opts)
    succ: list[float] = []

    def eval_fn(a: Any) -> float:
        s, r = score(greedy_table(kind, a, model_env, mdp), mdp)
        succ.append(s)
        return r

    t0 = time.perf_counter()
    h = train(
        env, agent, episodes, seed=seed, eval_every=eval_every, eval_fn=eval_fn,
        progress_bar=False,
    )  # fmt: skip
    return {
        "seed": seed,
        "lr": opts.get("lr"),
        "episodes": list(h.eval_episode),
        "mean_return": list(h.eval),
        "success": succ,
        "training_returns": [float(x) for x in h.returns],
        "training_steps": int(sum(h.lengths)),
        "seconds": time.perf_counter() - t0,
    }


def stayed(episodes: list[int], values: list[float], level: float) -> int | None:
    """First evaluation episode from which ``values`` stayed >= ``level`` to the end."""
    first = None
    for e, v in zip(episodes, values, strict=True):
        if v >= level - 1e-12:
            first = e if first is None else first
        else:
            first = None
    return first


def _spread(x: np.ndarray) -> str:
    sd = x.std(ddof=1) if len(x) > 1 else 0.0
    return f"{x.mean():.3f} ± {sd:.3f} (min {x.min():.3f}, max {x.max():.3f})"


def tune(args: argparse.Namespace, env_kw: dict[str, Any]) -> None:
    """Each learner's starting rate on the tuning seeds: mean final return over them."""
    out: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.rl_blocker"] + sys.argv[1:]),
        "seeds": TUNE_SEEDS,
        "episodes": args.episodes,
        "results": {},
    }
    if args.out and os.path.exists(args.out):  # add to the results of earlier tuning runs
        with open(args.out) as f:
            out["results"] = json.load(f)["results"]
    for kind, grid in TUNE_GRID.items():
        if kind not in args.learners:
            continue
        out["results"].setdefault(kind, {})
        for lr in grid:
            if str(lr) in out["results"][kind]:
                continue
            rs = [run(kind, s, args.episodes, args.eval_every, lr, env_kw) for s in TUNE_SEEDS]
            fin = np.array([np.mean(r["mean_return"][-args.final :]) for r in rs])
            out["results"][kind][str(lr)] = {"final_returns": fin.tolist(), "mean": fin.mean()}
            print(f"tune {kind} lr {lr}: final mean return {_spread(fin)}", flush=True)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(out, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--learners", nargs="+", default=list(DEFAULTS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--episodes", type=int, default=EPISODES)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--final", type=int, default=5, help="evaluations averaged at the end")
    ap.add_argument("--lr", type=float, default=None, help="override the starting rate")
    ap.add_argument("--tune", action="store_true", help="tune the starting rates (seeds 100-102)")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--blockers", type=int, default=2)
    ap.add_argument("--width", type=int, default=7)
    ap.add_argument("--length", type=int, default=4)
    ap.add_argument("--out", default=None, help="write every curve to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    env_kw = dict(n_agents=args.agents, n_blockers=args.blockers, width=args.width,
                  length=args.length)  # fmt: skip
    if args.tune:
        tune(args, env_kw)
        return
    model_env = BlockerEnv(**env_kw)
    mdp = model_env.tabular()
    refs = references(model_env, mdp)
    print(
        f"Blocker {args.length} x {args.width}, {args.agents} agents, {args.blockers} blockers:"
        f" {mdp.n_states} states, {mdp.n_actions} joint actions; seeds {args.seeds}"
    )
    print("\nExact references (all start states, 40-step limit):\n")
    print("| policy | success rate | mean return |\n| --- | --- | --- |")
    for name, (s, r) in refs.items():
        print(f"| {name} | {s:.4f} | {r:.3f} |")
    results: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.rl_blocker"] + sys.argv[1:]),
        "task": {**env_kw, "limit": LIMIT, "gamma": GAMMA, "episodes": args.episodes},
        "T_schedule": T_SCHEDULE,
        "references": {k: {"success": s, "mean_return": r} for k, (s, r) in refs.items()},
        "learners": {},
    }
    rows = []
    for kind in args.learners:
        runs = []
        for seed in args.seeds:
            r = run(kind, seed, args.episodes, args.eval_every, args.lr, env_kw)
            runs.append(r)
            print(f"  {kind} seed {seed}: mean return {[round(x, 2) for x in r['mean_return']]}"
                  f" ({r['seconds']:.0f} s)", flush=True)  # fmt: skip
            results["learners"][kind] = {"config": DEFAULTS[kind], "runs": runs}
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(results, f, indent=1)
        final_r = np.array([np.mean(r["mean_return"][-args.final :]) for r in runs])
        final_s = np.array([np.mean(r["success"][-args.final :]) for r in runs])
        first = [stayed(r["episodes"], r["success"], 1.0) for r in runs]
        rows.append((kind, final_r, final_s, first))
    print(f"\nGreedy policies, last {args.final} evaluations, mean ± sd over seeds:\n")
    print("| learner | mean return | success rate | success 1 from episode |")
    print("| --- | --- | --- | --- |")
    for kind, fr, fs, first in rows:
        print(f"| {kind} | {_spread(fr)} | {_spread(fs)} | {first} |")
    if args.out:
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
