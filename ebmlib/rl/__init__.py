"""Reinforcement learning with energies (chapters 9 and 10).

Submodules
----------
``exact``
    Value iteration, policy evaluation and exact success probabilities for gymnasium's
    tabular environments.
``agents``
    :class:`~ebmlib.rl.agents.TabularQ`, :class:`~ebmlib.rl.agents.FreeEnergyQ` (an RBM's
    negative free energy as the Q-function), :class:`~ebmlib.rl.agents.DQN` and baselines.
``envs``
    :class:`~ebmlib.rl.envs.BlockerEnv` (registered as ``ebmlib/Blocker-v0``) and
    :class:`~ebmlib.rl.envs.KeyActionEnv` (registered as ``ebmlib/KeyAction-v0``).
``training``
    :func:`~ebmlib.rl.training.train` and :func:`~ebmlib.rl.training.evaluate`.

Importing this package is cheap: the submodules load on first use. The environments are
registered with gymnasium here through lazy entry points, so ``gymnasium.make("ebmlib/Blocker-v0")``
works after ``import ebmlib.rl``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "exact",
    "agents",
    "envs",
    "training",
    "plots",
    "train",
    "evaluate",
    "value_iteration",
    "policy_evaluation",
    "success_probability",
    "TabularQ",
    "FreeEnergyQ",
    "DQN",
    "BlockerEnv",
    "KeyActionEnv",
]

_NAMES = {
    "train": "training",
    "evaluate": "training",
    "value_iteration": "exact",
    "policy_evaluation": "exact",
    "success_probability": "exact",
    "TabularQ": "agents",
    "FreeEnergyQ": "agents",
    "DQN": "agents",
    "BlockerEnv": "envs",
    "KeyActionEnv": "envs",
    "HopfieldQ": "energy_agents",
    "SoftQ": "energy_agents",
    "MultiGoalEnv": "multigoal",
    "DeepEnergyModel": "models",
}
_SUBMODULES = {
    "exact",
    "agents",
    "envs",
    "training",
    "plots",
    "energy_agents",
    "models",
    "multigoal",
}


def _register() -> None:
    import gymnasium as gym

    specs = {
        "ebmlib/Blocker-v0": ("ebmlib.rl.envs:BlockerEnv", 100),
        "ebmlib/KeyAction-v0": ("ebmlib.rl.envs:KeyActionEnv", None),
    }
    for env_id, (entry, limit) in specs.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=limit)


_register()


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
