"""Reinforcement learning with energies (chapters 9-13).

Submodules
----------
``exact``
    Value iteration, soft value iteration, policy evaluation, exact success probabilities
    and returns for any environment that carries its model (toy-text, Blocker, lock).
``config``, ``buffer``
    The config dataclasses of the agents and the replay buffer of the deep agents.
``agents``
    :class:`~ebmlib.rl.agents.TabularQ`, :class:`~ebmlib.rl.agents.FreeEnergyQ` (an RBM's
    negative free energy as the Q-function), :class:`~ebmlib.rl.agents.DQN` and its base
    :class:`~ebmlib.rl.agents.DeepQAgent`, and baselines.
``energy_agents``
    :class:`~ebmlib.rl.energy_agents.SoftQ` and :class:`~ebmlib.rl.energy_agents.HopfieldQ`.
``envs``, ``multigoal``
    :class:`~ebmlib.rl.envs.BlockerEnv` (``ebmlib/Blocker-v1``),
    :class:`~ebmlib.rl.envs.CombinationLockEnv` (``ebmlib/CombinationLock-v0``),
    :class:`~ebmlib.rl.envs.KeyActionEnv` (``ebmlib/KeyAction-v0``) and
    :class:`~ebmlib.rl.multigoal.MultiGoalEnv` (``ebmlib/MultiGoal-v0``).
``training``
    :func:`~ebmlib.rl.training.train`, :func:`~ebmlib.rl.training.train_steps`,
    :func:`~ebmlib.rl.training.evaluate` and the evaluation protocol of the book's results.
``models``, ``plots``
    Langevin sampling and deep energy models; the chapters' drawing functions.

Importing this package imports gymnasium (the ``rl`` extra; a missing one is named in the
error) and registers the environments, so ``gymnasium.make("ebmlib/Blocker-v1")`` works after
``import ebmlib.rl``. Everything listed in ``__all__`` is a plain attribute of the package.

Agents share one shape, ``Agent(observation_space, action_space, config=None, *,
generator=None, **overrides)``, with the config dataclasses of :mod:`ebmlib.rl.config`; the deep
agents share one :class:`~ebmlib.rl.buffer.ReplayBuffer` and one TD step.
"""

from __future__ import annotations

from .._optional import require

_gym = require("gymnasium", "rl", feature="ebmlib.rl")

from . import (  # noqa: E402  (after the check that gymnasium is installed)
    agents,
    buffer,
    config,
    energy_agents,
    envs,
    exact,
    models,
    multigoal,
    plots,
    thoughts,
    training,
)
from .agents import (  # noqa: E402
    DQN,
    DeepQAgent,
    FreeEnergyQ,
    IndependentQ,
    RandomAgent,
    TabularQ,
    linear_schedule,
)
from .buffer import ReplayBuffer  # noqa: E402
from .config import DeepQConfig, FreeEnergyConfig, TabularConfig  # noqa: E402
from .energy_agents import HopfieldQ, SoftQ  # noqa: E402
from .envs import BlockerEnv, CombinationLockEnv, KeyActionEnv  # noqa: E402
from .exact import (  # noqa: E402
    policy_evaluation,
    soft_value_iteration,
    success_probability,
    value_iteration,
)
from .models import DeepEnergyModel, MLPEnergy, hmc_sample, langevin_sample  # noqa: E402
from .multigoal import MultiGoalEnv  # noqa: E402
from .thoughts import DeductionEnv  # noqa: E402
from .training import (  # noqa: E402
    CARTPOLE_V1,
    evaluate,
    load_runs,
    meets_criterion,
    save_runs,
    summarize,
    train,
    train_steps,
)

__all__ = [
    # submodules
    "agents",
    "buffer",
    "config",
    "energy_agents",
    "envs",
    "exact",
    "models",
    "multigoal",
    "plots",
    "thoughts",
    "training",
    # agents and their configs
    "TabularQ",
    "FreeEnergyQ",
    "DeepQAgent",
    "DQN",
    "SoftQ",
    "HopfieldQ",
    "IndependentQ",
    "RandomAgent",
    "TabularConfig",
    "FreeEnergyConfig",
    "DeepQConfig",
    "ReplayBuffer",
    "linear_schedule",
    # training and the evaluation protocol
    "train",
    "train_steps",
    "evaluate",
    "summarize",
    "meets_criterion",
    "CARTPOLE_V1",
    "save_runs",
    "load_runs",
    # exact solutions
    "value_iteration",
    "soft_value_iteration",
    "policy_evaluation",
    "success_probability",
    # environments and models
    "BlockerEnv",
    "CombinationLockEnv",
    "KeyActionEnv",
    "MultiGoalEnv",
    "DeductionEnv",
    "DeepEnergyModel",
    "MLPEnergy",
    "langevin_sample",
    "hmc_sample",
]


def _register() -> None:
    # ebmlib.rl.envs registers the Blocker, combination-lock, key-action and multi-goal tasks
    envs.register_envs()
    specs = {
        "ebmlib/Deduction-v0": ("ebmlib.rl.thoughts:DeductionEnv", None),
    }
    for env_id, (entry, limit) in specs.items():
        if env_id not in _gym.registry:
            _gym.register(id=env_id, entry_point=entry, max_episode_steps=limit)


_register()


def __dir__() -> list[str]:
    return sorted(__all__)
