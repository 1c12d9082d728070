"""Chapter 11: sample efficiency of HopfieldQ against DQN (CartPole-v1) and SoftQ (Pendulum-v1).

Each row is one seed: the environment steps until the greedy policy's mean evaluation return
(10 episodes, every 5000 steps) first reaches the target (CartPole-v1: 475 within 100 000
steps; Pendulum-v1: -250 within 60 000 steps), and the wall time of the run. A missed target
shows as ``nan``. ``--quick`` runs 4000 steps per seed on one seed (a smoke run: the targets
are not expected to be met). The long runs can also be launched one at a time with
``python -m benchmarks.rl_energy_runs`` (see that file).

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks --only rl_energy_cartpole rl_energy_pendulum
"""

from __future__ import annotations

import math

from .harness import Row, register
from .rl_energy_runs import run_seed


def _steps(r: dict) -> float:
    return math.nan if r["steps_to_target"] is None else float(r["steps_to_target"])


def _rows(name: str, task: str, ours: str, peer: str, quick: bool) -> list[Row]:
    rows = []
    for seed in [0] if quick else [0, 1, 2]:
        a = run_seed(task, ours, seed, quick)
        b = run_seed(task, peer, seed, quick)
        tgt = a["target"]
        rows.append(
            Row(
                name,
                f"{a['task']} seed {seed}: steps to {tgt:g}",
                _steps(a),
                _steps(b),
                peer,
                unit="steps",
            )
        )
        if tgt >= 0:
            rows.append(
                Row(
                    name,
                    f"{a['task']} seed {seed}: best eval return",
                    a["best_eval"],
                    b["best_eval"],
                    peer,
                    unit="return",
                    higher_is_better=True,
                )
            )
        else:  # negative returns: compare costs (-return), lower is better
            rows.append(
                Row(
                    name,
                    f"{a['task']} seed {seed}: best eval cost (-return)",
                    -a["best_eval"],
                    -b["best_eval"],
                    peer,
                    unit="-return",
                )
            )
        rows.append(
            Row(name, f"{a['task']} seed {seed}: wall time", a["wall_s"], b["wall_s"], peer)
        )
    return rows


@register("rl_energy_cartpole")
def bench_cartpole(quick: bool) -> list[Row]:
    """HopfieldQ vs DQN on CartPole-v1 (stable-baselines3 is not a dependency of the book)."""
    return _rows("rl_energy_cartpole", "cartpole", "hopfield", "dqn", quick)


@register("rl_energy_pendulum")
def bench_pendulum(quick: bool) -> list[Row]:
    """HopfieldQ vs the MLP soft Q-learning reference SoftQ on Pendulum-v1."""
    return _rows("rl_energy_pendulum", "pendulum", "hopfield", "softq", quick)
