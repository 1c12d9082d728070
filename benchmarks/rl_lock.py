"""Learners on the combination lock of chapter 10, scored exactly against the optimum.

The task is :class:`ebmlib.rl.envs.CombinationLockEnv` (``ebmlib/CombinationLock-v0``): three
rooms, eight switches in four pairs; each pair works one bolt of the room's door, which opens
when the two switches agree or when they differ (hidden rules); partial credit per open bolt, an
effort cost of 0.05 per switch that is on, +1 for the last door; a shut door sends the agent
back to room 0; episodes are cut after 50 steps. Learners, trained for the full budget on every
seed, all by SARSA with the same schedules: Boltzmann exploration with the temperature falling
linearly from 1 to 0.05 over the first half of the run, and a learning rate falling linearly to
a tenth of its starting value over the run. The starting rates were tuned on seeds 100-102,
which are not reported (``--tune``):

* ``fe-gibbs``: :class:`ebmlib.rl.agents.FreeEnergyQ` (Q = -F of an RBM over the room and the
  eight switch units), actions drawn by annealed block Gibbs sampling with the room clamped;
* ``fe-enum``: the same agent, actions drawn from ``softmax(Q/T)`` over all 256 actions;
* ``joint``: tabular SARSA over (room, all 256 switch settings), Boltzmann over the 256;
* ``additive``: a Q-function that is a sum of one term per switch, ``Q(s, a) = b(s) +
  sum_j w_j(s) a_j`` (the free-energy agent without hidden units, with room-dependent switch
  weights), trained by the same TD rule; its Boltzmann policy factorises over the switches;
* ``random``: uniformly random switches.

Every ``--eval-every`` episodes the learner's greedy policy is scored **exactly**
(:mod:`ebmlib.rl.exact`, no sampling): the probability of opening the last door within the
50-step limit and the expected return. For the learners with Q-values the script also records
how well they represent ``Q*`` (the mean absolute error over all 3 x 256 state-action pairs)
and whether they rank every pair of switch settings as ``Q*`` does (the fraction of pairs of
actions, per room, whose order agrees with ``Q*``).

Usage (the commands of the results in chapter 10; the Gibbs-sampled learner is kept in its own
file)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_lock --learners joint additive fe-enum random \\
        --seeds 0 1 2 3 4 --out book/part4/data/lock_runs.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_lock --learners fe-gibbs --seeds 0 1 2 3 4 \\
        --out book/part4/data/lock_gibbs.json
    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_lock --tune \\
        --out book/part4/data/lock_tuning.json

A results script, not a speed comparison.
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
from ebmlib.rl.agents import FreeEnergyQ, RandomAgent, TabularQ
from ebmlib.rl.config import linear_schedule
from ebmlib.rl.envs import CombinationLockEnv

LIMIT = 50  # time limit of ebmlib/CombinationLock-v0
GAMMA = 0.95
EPISODES = 2000
T_SCHEDULE = (1.0, 0.05)  # Boltzmann temperature, linear over the first half of the run
#: Starting learning rates (tuned on seeds 100-102, see TUNE_GRID) and model sizes.
DEFAULTS: dict[str, dict[str, Any]] = {
    "fe-gibbs": {"lr": 0.05, "n_hidden": 32, "gibbs_sweeps": 10},
    "fe-enum": {"lr": 0.05, "n_hidden": 32},
    "joint": {"lr": 0.5},
    "additive": {"lr": 0.3},
    "random": {},
}
#: The starting rates tried on the tuning seeds (fe-gibbs uses fe-enum's: same model and rule).
TUNE_GRID: dict[str, list[float]] = {
    "fe-enum": [0.01, 0.02, 0.05, 0.1],
    "joint": [0.1, 0.5, 1.0],
    "additive": [0.03, 0.1, 0.3, 1.0],
}
TUNE_SEEDS = [100, 101, 102]


class AdditiveQ:
    r"""``Q(s, a) = b(s) + sum_j w_j(s) a_j``: one term per action bit, trained by SARSA.

    The gradient of ``Q`` is ``1`` for ``b(s)`` and ``a_j`` for ``w_j(s)``, so the TD step is
    ``b(s) += lr delta``, ``w(s) += lr delta a``. Because ``Q`` is a sum over bits,
    ``softmax(Q(s, .)/T)`` is a product of independent bits with ``p(a_j = 1) = sigma(w_j(s) /
    T)``, sampled exactly, and the greedy action switches on exactly the bits with
    ``w_j(s) > 0``.
    """

    def __init__(self, n_states: int, n_bits: int, lr: Any, T: Any, gamma: float) -> None:
        self.b = torch.zeros(n_states, dtype=torch.float64)
        self.w = torch.zeros(n_states, n_bits, dtype=torch.float64)
        self.lr_schedule, self.T_schedule, self.gamma = lr, T, gamma
        self.episode = 0
        self.n_bits = n_bits

    def begin_episode(self, episode: int) -> None:
        self.episode = episode

    def q(self, s: int, a: Any) -> float:
        return float(self.b[s] + self.w[s] @ torch.as_tensor(np.asarray(a), dtype=torch.float64))

    def q_table(self) -> torch.Tensor:
        bits = torch.tensor(
            [[(k >> j) & 1 for j in range(self.n_bits)] for k in range(2**self.n_bits)],
            dtype=torch.float64,
        )
        return self.b[:, None] + self.w @ bits.T

    def act(self, obs: int, generator: torch.Generator | None = None) -> np.ndarray:
        p = torch.sigmoid(self.w[int(obs)] / self.T_schedule(self.episode))
        return (torch.rand(self.n_bits, generator=generator, dtype=torch.float64) < p).numpy()

    def greedy(self, obs: int) -> np.ndarray:
        return (self.w[int(obs)] > 0).numpy().astype(np.int8)

    def update(self, obs, action, reward, next_obs, next_action, terminated) -> float:
        nxt = 0.0 if terminated else self.q(int(next_obs), next_action)
        s = int(obs)
        delta = float(reward) + self.gamma * nxt - self.q(s, action)
        step = self.lr_schedule(self.episode) * delta
        self.b[s] += step
        self.w[s] += step * torch.as_tensor(np.asarray(action), dtype=torch.float64)
        return delta


def make_agent(kind: str, env: Any, seed: int, episodes: int, opts: dict[str, Any]) -> Any:
    """The learners compared in chapter 10 (configuration in the module docstring)."""
    o, a = env.observation_space, env.action_space
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
            init_std=0.5,
            offset_correction=True,
            generator=torch.Generator().manual_seed(seed),
            **common,
        )
    if kind == "joint":
        return TabularQ(o, a, **common)
    if kind == "additive":
        return AdditiveQ(o.n, a.n, lr, T, GAMMA)
    if kind == "random":
        return RandomAgent(o, a)
    raise ValueError(f"unknown learner {kind!r}")


def q_table(kind: str, agent: Any) -> torch.Tensor | None:
    """The learner's Q-values ``[rooms, 2**n_bits]`` in the model's action order."""
    if kind == "random":
        return None
    return agent.q_table().double()


def greedy_table(kind: str, agent: Any, env: CombinationLockEnv) -> torch.Tensor:
    """The learner's deterministic greedy action in every room (uniform for ``random``)."""
    if kind == "random":
        n = 2**env.n_bits
        return torch.full((env.n_rooms, n), 1.0 / n, dtype=torch.float64)
    if kind.startswith("fe"):
        return agent.q_table().argmax(1)  # exact argmax over the 256 actions
    return env.policy_table(agent.greedy)


def ranking_agreement(Q: torch.Tensor, Qstar: torch.Tensor) -> float:
    """Fraction of action pairs, per state, ordered by ``Q`` as by ``Q*`` (ties of Q* skipped)."""
    dq = Q[:, :, None] - Q[:, None, :]
    ds = Qstar[:, :, None] - Qstar[:, None, :]
    mask = ds.abs() > 1e-12
    return float(((dq * ds) > 0)[mask].double().mean())


def run(
    kind: str, seed: int, episodes: int = EPISODES, eval_every: int = 100, lr: float | None = None
) -> dict:
    """Train one learner for the full budget; exact scores every ``eval_every`` episodes."""
    import gymnasium as gym

    env = gym.make("ebmlib/CombinationLock-v0")
    lock = CombinationLockEnv()
    mdp = lock.tabular()
    Qstar = exact.value_iteration(mdp, GAMMA).Q
    opts = dict(DEFAULTS[kind])
    if lr is not None and "lr" in opts:
        opts["lr"] = lr
    agent = make_agent(kind, env, seed, episodes, opts)
    rec: dict[str, list[float]] = {"success": [], "q_error": [], "ranking": []}

    def eval_fn(a: Any) -> float:
        pol = greedy_table(kind, a, lock)
        rec["success"].append(exact.success_probability(mdp, pol, max_steps=LIMIT))
        Q = q_table(kind, a)
        if Q is not None:
            rec["q_error"].append(float((Q - Qstar).abs().mean()))
            rec["ranking"].append(ranking_agreement(Q, Qstar))
        return exact.expected_return(mdp, pol, LIMIT)

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
        **rec,
        "training_returns": [float(x) for x in h.returns],
        "training_steps": int(sum(h.lengths)),
        "seconds": time.perf_counter() - t0,
    }


def references() -> dict[str, dict[str, float]]:
    """Exact optimum, random play and the greedy policy of the best additive fit of ``Q*``."""
    lock = CombinationLockEnv()
    mdp = lock.tabular()
    sol = exact.value_iteration(mdp, GAMMA)
    n = mdp.n_actions
    unif = torch.full((mdp.n_states, n), 1.0 / n, dtype=torch.float64)
    fit = exact.additive_fit(sol.Q, lock.n_bits)
    out = {}
    for name, pol in [("optimum", sol.policy), ("random", unif), ("additive_fit", fit.greedy)]:
        out[name] = {
            "success": exact.success_probability(mdp, pol, max_steps=LIMIT),
            "mean_return": exact.expected_return(mdp, pol, LIMIT),
        }
    out["additive_fit"]["q_error"] = float(fit.residual.abs().mean())
    out["additive_fit"]["ranking"] = ranking_agreement(fit.fitted, sol.Q)
    return out


def _spread(x: np.ndarray) -> str:
    sd = x.std(ddof=1) if len(x) > 1 else 0.0
    return f"{x.mean():.3f} ± {sd:.3f} (min {x.min():.3f}, max {x.max():.3f})"


def tune(args: argparse.Namespace) -> None:
    """Each learner's starting rate on the tuning seeds: mean final return over them."""
    out: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.rl_lock"] + sys.argv[1:]),
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
            rs = [run(kind, s, args.episodes, args.eval_every, lr) for s in TUNE_SEEDS]
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
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--final", type=int, default=5, help="evaluations averaged at the end")
    ap.add_argument("--lr", type=float, default=None, help="override the starting rate")
    ap.add_argument("--tune", action="store_true", help="tune the starting rates (seeds 100-102)")
    ap.add_argument("--out", default=None, help="write every curve to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.tune:
        tune(args)
        return
    refs = references()
    print("| policy | success | mean return |\n| --- | --- | --- |")
    for name, r in refs.items():
        print(f"| {name} | {r['success']:.4f} | {r['mean_return']:.3f} |")
    results: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.rl_lock"] + sys.argv[1:]),
        "task": {"limit": LIMIT, "gamma": GAMMA, "episodes": args.episodes},
        "T_schedule": T_SCHEDULE,
        "references": refs,
        "learners": {},
    }
    for kind in args.learners:
        runs = []
        for seed in args.seeds:
            r = run(kind, seed, args.episodes, args.eval_every, args.lr)
            runs.append(r)
            print(
                f"  {kind} seed {seed}: success {[round(x, 3) for x in r['success']]}, "
                f"final return {r['mean_return'][-1]:.3f} ({r['seconds']:.0f} s)",
                flush=True,
            )
            results["learners"][kind] = {"config": DEFAULTS[kind], "runs": runs}
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(results, f, indent=1)
        fin = np.array([np.mean(r["success"][-args.final :]) for r in runs])
        ret = np.array([np.mean(r["mean_return"][-args.final :]) for r in runs])
        print(f"{kind}: last {args.final} evaluations, success {_spread(fin)}, "
              f"return {_spread(ret)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
