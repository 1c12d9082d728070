"""One seed of each headline RL result of the book, re-run under the evaluation protocol (slow).

Each entry of :data:`HEADLINES` names the benchmark run that produced a result (the same
function the benchmark script calls, so the test and the book cannot drift apart), one seed, the
file where the chapter keeps its recorded runs, and the claim the chapter makes about the
result. The claims and tolerances are filled in from the recorded runs (never guessed); an
entry without a claim yet is skipped and says so. When the recorded file holds a run of the
seed, the re-run must also reproduce its final evaluation within the entry's tolerance.

Run them with ``pytest -m slow tests/test_rl_headline.py`` (each takes minutes).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package lives at the repository root
    sys.path.insert(0, str(ROOT))


def _bench(module: str) -> Any:
    return importlib.import_module(f"benchmarks.{module}")


@dataclasses.dataclass(frozen=True)
class Headline:
    """A headline RL result: how to re-run one seed of it and what the book claims."""

    name: str
    """What the result is (task, agent)."""
    chapter: int
    """The chapter that reports it."""
    run: Callable[[int], Any]
    """Runs one seed under the protocol; returns a StepRun or TrainHistory."""
    seed: int
    """The seed re-run here."""
    data: str
    """The chapter's recorded runs (``ebmlib.rl.training.save_runs`` format)."""
    claim: Callable[[Any], bool] | None = None
    """The chapter's claim about this seed's run (None: not recorded yet)."""
    claim_text: str = ""
    """The claim in words (the assertion message)."""
    reproduce_tol: float | None = None
    """Largest allowed difference of the final evaluation from the recorded run of the seed."""


def _final(run: Any) -> float:
    """The final evaluation: mean of the final greedy episodes, else the last evaluation."""
    if getattr(run, "final_mean", None) is not None:
        return float(run.final_mean)
    values = run.eval_returns if hasattr(run, "eval_returns") else run.eval
    return float(values[-1])


HEADLINES = [
    Headline(
        "FrozenLake-v1, free-energy SARSA (K=128), exact P(goal) of the final greedy policy",
        10,
        lambda s: _bench("rl_frozenlake_fe").run("fe", s, 20_000, 500),
        0,
        "book/part4/data/frozenlake_fe.json",
    ),
    Headline(
        "FrozenLake-v1, tabular SARSA, exact P(goal) of the final greedy policy",
        10,
        lambda s: _bench("rl_frozenlake_fe").run("tab", s, 20_000, 500),
        0,
        "book/part4/data/frozenlake_fe.json",
    ),
    Headline(
        "CartPole-v1, DQN, 100 000 steps",
        9,
        lambda s: _bench("rl_energy_runs").run_seed("cartpole", "dqn", s),
        0,
        "book/part4/data/cartpole_dqn.json",
    ),
    Headline(
        "CartPole-v1, stable-baselines3 DQN, 100 000 steps",
        9,
        lambda s: _bench("rl_peers").run_seed("cartpole", "dqn", s),
        0,
        "book/part4/data/cartpole_sb3_dqn.json",
    ),
    Headline(
        "CartPole-v1, HopfieldQ, 100 000 steps",
        12,
        lambda s: _bench("rl_energy_runs").run_seed("cartpole", "hopfield", s),
        0,
        "book/part4/data/cartpole_hopfield.json",
    ),
    Headline(
        "Pendulum-v1, SoftQ, 60 000 steps",
        11,
        lambda s: _bench("rl_energy_runs").run_seed("pendulum", "softq", s),
        0,
        "book/part4/data/pendulum_softq.json",
    ),
    Headline(
        "Pendulum-v1, HopfieldQ, 60 000 steps",
        12,
        lambda s: _bench("rl_energy_runs").run_seed("pendulum", "hopfield", s),
        0,
        "book/part4/data/pendulum_hopfield.json",
    ),
    Headline(
        "Pendulum-v1, stable-baselines3 SAC, 60 000 steps",
        11,
        lambda s: _bench("rl_peers").run_seed("pendulum", "sac", s),
        0,
        "book/part4/data/pendulum_sb3_sac.json",
    ),
]


def _recorded(path: str, seed: int) -> Any | None:
    """The recorded run of ``seed`` in ``path`` (None when the file or the seed is missing)."""
    from ebmlib.rl.training import load_runs

    p = ROOT / path
    if not p.exists():
        return None
    try:
        runs, _ = load_runs(p)
    except ValueError:  # a file in an earlier format
        return None
    for r in runs:
        if getattr(r, "seed", None) == seed:
            return r
    return None


@pytest.mark.slow
@pytest.mark.parametrize("h", HEADLINES, ids=lambda h: "-".join(h.name.split(", ")[:2]))
def test_headline_result_holds_for_one_seed(h: Headline):
    """The chapter's claim about one seed of its headline result, re-run from scratch."""
    if h.claim is None:
        pytest.skip(f"chapter {h.chapter} has not recorded its claim for this result yet")
    run = h.run(h.seed)
    assert h.claim(run), f"{h.name}, seed {h.seed}: {h.claim_text}"
    recorded = _recorded(h.data, h.seed)
    if recorded is not None and h.reproduce_tol is not None:
        assert abs(_final(run) - _final(recorded)) <= h.reproduce_tol


def test_headline_entries_name_existing_benchmarks():
    """Every entry's benchmark module exists and exposes the function the entry calls."""
    for module, fn in [
        ("rl_frozenlake_fe", "run"),
        ("rl_energy_runs", "run_seed"),
        ("rl_peers", "run_seed"),
    ]:
        assert (ROOT / "benchmarks" / f"{module}.py").exists(), module
        src = (ROOT / "benchmarks" / f"{module}.py").read_text()
        assert f"def {fn}(" in src, (module, fn)
    assert len({h.name for h in HEADLINES}) == len(HEADLINES)
