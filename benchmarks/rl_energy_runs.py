"""Long learning runs of chapters 11-12: SoftQ, HopfieldQ and DQN on CartPole-v1 and Pendulum-v1.

Usage (from the repository root)::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.rl_energy_runs --task cartpole --agent hopfield \
        --seeds 0 1 2 3 4 --out book/part4/data/cartpole_hopfield.json

Every seed follows the book's evaluation protocol (:mod:`ebmlib.rl.training`): it trains for the
task's full step budget (CartPole-v1: 100 000, Pendulum-v1: 60 000), evaluates the greedy policy
every 5000 steps on 10 episodes of a separate evaluation environment seeded ``10_000 + seed``,
and closes with 100 consecutive greedy episodes (the CartPole-v1 criterion: mean return >= 475).
The runs (learning curves, final evaluations, the step from which the threshold stayed met, the
agent's config) are written with :func:`ebmlib.rl.training.save_runs` to ``--out`` after every
seed; :func:`ebmlib.rl.training.summarize` gives the mean and spread over seeds. The peers
(stable-baselines3 DQN and SAC) run under the same protocol in ``benchmarks/rl_peers.py``.

Diagnostics, recorded in the file's ``meta["diagnostics"]`` (per seed, at every evaluation
step; they use no random numbers, so the runs are the same with or without them): the mean and
largest Q on the last 2000 states of the replay buffer and, for ``HopfieldQ``, its offset
``c_Q`` and ceiling (chapter 12) and the attention regime there (the number of stored patterns
holding 90% of the softmax weight, ``N_0.9`` of chapter 4; how many patterns win somewhere; the
embedding and pattern norms). For a
continuous action, at the end of the run, the soft value ``V(s)`` of 256 buffer states by
quadrature next to the mean of its 32-proposal importance-sampling estimate (the bias of the
TD target, chapter 11).

``--variant NAME`` runs one of the :data:`VARIANTS` (the settings tried while tuning, on seeds
that are not reported). ``--quick`` shortens everything (a smoke test, not a result).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import gymnasium as gym
import torch

from ebmlib import modern
from ebmlib.rl import DQN, DeepQConfig, HopfieldQ, SoftQ, linear_schedule
from ebmlib.rl.training import save_runs, summarize, train_steps

TASKS = {
    "cartpole": {"id": "CartPole-v1", "steps": 100_000, "threshold": 475.0, "eval_every": 5000},
    "pendulum": {"id": "Pendulum-v1", "steps": 60_000, "threshold": -250.0, "eval_every": 5000},
}

_CARTPOLE = DeepQConfig(
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
)
_PENDULUM = DeepQConfig(
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
)

#: The hyper-parameters of chapters 11-12, per task and agent (one place, used by the tests too).
CONFIGS: dict[tuple[str, str], DeepQConfig] = {
    ("cartpole", "dqn"): _CARTPOLE,
    ("cartpole", "hopfield"): _CARTPOLE,
    ("pendulum", "softq"): _PENDULUM,
    ("pendulum", "hopfield"): _PENDULUM,
}
#: The Hopfield energy of HopfieldQ (N patterns in d dimensions at inverse temperature beta).
HOPFIELD: dict[str, dict[str, Any]] = {
    "cartpole": {"n_patterns": 32, "embed_dim": 16, "beta": 1.0},
    "pendulum": {"n_patterns": 32, "embed_dim": 16, "beta": 1.0},
}
#: Settings tried while tuning (config overrides and Hopfield arguments), on unreported seeds.
VARIANTS: dict[str, dict[str, Any]] = {}
AGENTS = {"hopfield": HopfieldQ, "softq": SoftQ, "dqn": DQN}


class _Probe:
    """Mixin recording deterministic diagnostics every ``probe_every`` environment steps."""

    probe_every = 5000

    def update(self, *args: Any, **kwargs: Any) -> float:
        err = super().update(*args, **kwargs)  # type: ignore[misc]
        if self.steps % self.probe_every == 0:  # type: ignore[attr-defined]
            self.probes.append(diagnose(self))
        return err


def _probed(cls: type) -> type:
    return type(cls.__name__, (_Probe, cls), {"__doc__": cls.__doc__})


def _probe_actions(agent: Any, n_states: int) -> torch.Tensor:
    """Actions in network units at which the diagnostics look, ``[n_states, A, da]``."""
    if agent.discrete:
        return torch.eye(agent.n_actions)[None].expand(n_states, -1, -1)
    u = torch.linspace(-1, 1, 9)
    grid = torch.stack(torch.meshgrid(*[u] * agent.action_dim, indexing="ij"), -1)
    return grid.reshape(1, -1, agent.action_dim).expand(n_states, -1, -1)


@torch.no_grad()
def diagnose(agent: Any, n_states: int = 2000) -> dict[str, float]:
    """Q and (for HopfieldQ) attention-regime statistics on the latest buffer states."""
    n = agent.size
    out: dict[str, float] = {"step": float(agent.steps)}
    if n == 0:
        return out
    s = agent.buffer.obs[max(0, n - n_states) : n]
    a = _probe_actions(agent, len(s))
    q = agent.qnet(s, a)
    out.update(q_mean=float(q.mean()), q_max=float(q.max()), q_min=float(q.min()))
    if isinstance(agent, HopfieldQ):
        xi = agent.embed(s, a).reshape(-1, agent.patterns.shape[1])
        x, beta = agent.patterns, agent.qnet.beta
        count = modern.softmax_mass_count(xi, x, beta, mass=0.9).double()
        winners = (xi @ x.T).argmax(-1)
        out.update(
            n09_mean=float(count.mean()),
            n09_median=float(count.median()),
            n09_single=float((count == 1).double().mean()),
            winning_patterns=float(torch.unique(winners).numel()),
            xi_norm=float(xi.norm(dim=-1).mean()),
            max_pattern_norm=float(x.norm(dim=-1).max()),
            offset=float(agent.qnet.offset),
            ceiling=agent.qnet.ceiling(),
        )
    return out


@torch.no_grad()
def soft_value_bias(agent: Any, n_states: int = 256, repeats: int = 256, seed: int = 0):
    """Exact soft values (1-D quadrature) of buffer states next to the mean of the agent's
    ``n_action_samples``-proposal importance-sampling estimate (continuous 1-D actions)."""
    if agent.discrete or agent.action_dim != 1:
        return None
    n = agent.size
    idx = torch.linspace(0, n - 1, n_states).long()
    s = agent.buffer.obs[idx]
    t = agent.current_T
    u = torch.linspace(-1, 1, 4001)
    q = agent.qnet(s, u[None, :, None].expand(n_states, -1, -1)).double()  # [S, 4001]
    w = torch.full((4001,), 2.0 / 4000, dtype=torch.float64)
    w[0] = w[-1] = 1.0 / 4000  # trapezoid weights
    exact = t * torch.logsumexp(q / t + w.log(), -1)
    g = torch.Generator().manual_seed(seed)
    k = agent.config.n_action_samples
    est = torch.zeros(n_states, dtype=torch.float64)
    for _ in range(repeats):
        uu = torch.rand(n_states, k, 1, generator=g) * 2 - 1
        qq = agent.qnet(s, uu).double()
        est += t * (torch.logsumexp(qq / t, -1) - math.log(k) + math.log(2.0))
    est /= repeats
    bias = est - exact
    return {
        "T": t,
        "n_action_samples": k,
        "n_states": n_states,
        "repeats": repeats,
        "bias_mean": float(bias.mean()),
        "bias_std": float(bias.std()),
        "bias_min": float(bias.min()),
        "q_range_mean": float((q.max(-1).values - q.min(-1).values).mean()),
    }


def make_agent(task: str, agent: str, env: gym.Env, seed: int, variant: str | None = None):
    """The agent of chapters 11-12 for ``task``, its weights drawn from ``seed``."""
    if (task, agent) not in CONFIGS:
        raise ValueError(f"unknown task/agent {task!r}/{agent!r}")
    g = torch.Generator().manual_seed(seed)
    cfg = CONFIGS[(task, agent)]
    extra = dict(HOPFIELD[task]) if agent == "hopfield" else {}
    if variant is not None:
        v = VARIANTS[variant]
        if v.get("agent", agent) != agent or v.get("task", task) != task:
            raise ValueError(f"variant {variant!r} is for {v.get('task')}/{v.get('agent')}")
        cfg = cfg.replace(**v.get("config", {}))
        extra.update(v.get("hopfield", {}))
    cls = _probed(AGENTS[agent])
    return cls(env.observation_space, env.action_space, cfg, generator=g, **extra)


def run_seed(
    task: str,
    agent_name: str,
    seed: int,
    quick: bool = False,
    variant: str | None = None,
    diagnostics: dict | None = None,
):
    """Train one seed under the protocol and return its :class:`~ebmlib.rl.training.StepRun`.

    ``diagnostics``, when given, receives ``{"probes": [...], "soft_value_bias": ...}``.
    """
    spec = TASKS[task]
    env, ev = gym.make(spec["id"]), gym.make(spec["id"])
    agent = make_agent(task, agent_name, env, seed, variant)
    agent.probes = []
    agent.probe_every = 1000 if quick else spec["eval_every"]
    run = train_steps(
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
    if diagnostics is not None:
        diagnostics["probes"] = agent.probes
        diagnostics["soft_value_bias"] = soft_value_bias(agent, repeats=16 if quick else 256)
        if agent_name == "hopfield":
            n_patterns, embed_dim = agent.patterns.shape
            diagnostics["hopfield"] = {
                "n_patterns": n_patterns,
                "embed_dim": embed_dim,
                "beta": agent.qnet.beta,
            }
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), required=True)
    p.add_argument("--agent", choices=sorted(AGENTS), required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--variant", choices=sorted(VARIANTS), default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs, diags = [], {}
    command = " ".join(["python -m benchmarks.rl_energy_runs"] + sys.argv[1:])
    for s in args.seeds:
        d: dict[str, Any] = {}
        runs.append(run_seed(args.task, args.agent, s, args.quick, args.variant, d))
        diags[str(s)] = d
        r = runs[-1]
        print(
            f"{r.env_id} {r.agent} seed {s}: final greedy mean {r.final_mean:.1f} "
            f"(last eval {r.eval_returns[-1]:.1f}), threshold stayed met from step "
            f"{r.reached_and_stayed}, wall {r.wall_s:.0f}s",
            flush=True,
        )
        save_runs(
            args.out,
            runs,
            command=command,
            variant=args.variant,
            variant_settings=VARIANTS.get(args.variant) if args.variant else None,
            diagnostics=diags,
        )
    sm = summarize(runs, last=min(5, len(runs[0].eval_returns)))
    print(
        f"last {sm.last} evaluations over {sm.n_runs} seeds: {sm.final_mean:.1f} +- "
        f"{sm.final_std:.1f} (min {sm.final_min:.1f}, max {sm.final_max:.1f}); "
        f"threshold stayed met in {sm.n_reached_and_stayed}/{sm.n_runs} runs; "
        f"final 100-episode means {[round(m, 1) for m in sm.final_episode_means]}"
    )


if __name__ == "__main__":
    main()
