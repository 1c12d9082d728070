r"""Configuration dataclasses of the agents: one field, one docstring, one check.

Every agent of :mod:`ebmlib.rl` is built the same way::

    Agent(observation_space, action_space, config=None, *, generator=None, **overrides)

where ``config`` is the agent's config dataclass (its defaults when omitted) and ``overrides``
replace single fields (``DQN(obs, act, lr=3e-4)`` is ``DQN(obs, act, DeepQConfig(lr=3e-4))``).
Field values are checked when the config is built, so a bad value raises a ``ValueError`` or
``TypeError`` that names the field.

* :class:`TabularConfig`: :class:`~ebmlib.rl.agents.TabularQ` (chapter 9);
* :class:`FreeEnergyConfig`: :class:`~ebmlib.rl.agents.FreeEnergyQ` (chapter 10);
* :class:`DeepQConfig`: the replay-buffer agents :class:`~ebmlib.rl.agents.DQN`,
  :class:`~ebmlib.rl.energy_agents.SoftQ` and :class:`~ebmlib.rl.energy_agents.HopfieldQ`
  (chapters 9 and 11), which differ only in their Q-network.

Exploration parameters (``epsilon``, the temperature ``T``, the learning rate of the online
agents) are a number or a schedule: a callable ``t -> value``, for example
:func:`linear_schedule`. For the online agents ``t`` counts episodes, for the replay-buffer agents
environment steps (as in DQN, where epsilon decays over steps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from .._validation import (
    _as_real as check_real,
)
from .._validation import (
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
)

__all__ = [
    "Schedule",
    "LinearSchedule",
    "linear_schedule",
    "schedule_value",
    "TabularConfig",
    "FreeEnergyConfig",
    "DeepQConfig",
]

Schedule = float | Callable[[int], float]
"""A number, or a callable ``t -> number`` (``t``: episodes or environment steps)."""

_C = TypeVar("_C", bound="_Config")


@dataclasses.dataclass(frozen=True)
class LinearSchedule:
    """The schedule ``t -> start + (end - start) * min(t / duration, 1)``.

    A callable dataclass (rather than a closure) so that configs holding it print, compare and
    serialise to JSON.
    """

    start: float
    """Value at ``t = 0``."""
    end: float
    """Value for ``t >= duration``."""
    duration: int
    """Length of the ramp (episodes or steps), >= 1."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration", check_int(self.duration, "duration", minimum=1))
        object.__setattr__(self, "start", check_real(self.start, "start"))
        object.__setattr__(self, "end", check_real(self.end, "end"))

    def __call__(self, t: int) -> float:
        t = check_nonnegative(t, "t")
        return self.start + (self.end - self.start) * min(t / self.duration, 1.0)


def linear_schedule(start: float, end: float, duration: int) -> LinearSchedule:
    """A schedule ``t -> start + (end - start) * min(t / duration, 1)`` for exploration.

    Parameters
    ----------
    start, end : float
        Values at ``t = 0`` and for ``t >= duration``.
    duration : int
        Number of episodes (or steps) of the ramp, >= 1.
    """
    return LinearSchedule(start, end, duration)


def _check_schedule(value: Any, name: str, kind: str) -> Schedule:
    """Check a number or schedule; numbers are checked now, schedules at their start."""
    check = {"positive": check_positive, "probability": check_probability}[kind]
    if callable(value):
        check(value(0), f"{name}(0)")
        return value
    return check(value, name)


def schedule_value(value: Schedule, t: int, name: str, kind: str = "positive") -> float:
    """The value of a number or schedule at ``t``, checked (``kind``: positive/probability)."""
    check_choice(kind, "kind", ("positive", "probability"))
    t = check_nonnegative(t, "t")
    v = value(t) if callable(value) else value
    if kind == "probability":
        return check_probability(v, name)
    return check_positive(v, name)


@dataclasses.dataclass(frozen=True)
class _Config:
    """Shared behaviour of the config dataclasses."""

    def replace(self: _C, **changes: Any) -> _C:
        """A copy with some fields changed (checked like the original)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no field(s) {', '.join(map(repr, unknown))}; "
                f"fields: {', '.join(sorted(names))}"
            )
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict (tuples as lists, schedules as dicts or repr)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, LinearSchedule):
                v = {"linear_schedule": dataclasses.asdict(v)}
            elif isinstance(v, tuple):
                v = list(v)
            elif callable(v):
                v = repr(v)
            out[f.name] = v
        return out

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)


def _build(cls: type[_C], config: _C | None, overrides: dict[str, Any]) -> _C:
    """``config`` (or the defaults of ``cls``) with ``overrides`` applied; type-checked."""
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    return config.replace(**overrides) if overrides else config


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TabularConfig(_Config):
    r"""Configuration of :class:`~ebmlib.rl.agents.TabularQ` (chapter 9).

    Schedules (``lr``, ``epsilon``, ``T``) are callables of the episode number.
    """

    lr: Schedule = 0.1
    r"""Learning rate :math:`\eta` of the TD update, in (0, 1], or a schedule over episodes
    (chapter 10 gives every learner of a comparison the same schedule)."""
    gamma: float = 0.99
    r"""Discount factor :math:`\gamma`, in [0, 1]."""
    method: str = "q"
    """``"q"`` (Q-learning, max over next actions) or ``"sarsa"`` (the next action taken)."""
    exploration: str = "epsilon"
    """``"epsilon"`` (epsilon-greedy) or ``"boltzmann"`` (softmax of Q/T)."""
    epsilon: Schedule = 0.1
    """Exploration rate of epsilon-greedy, in [0, 1], or a schedule over episodes."""
    T: Schedule = 1.0
    """Temperature of Boltzmann exploration, > 0, or a schedule over episodes."""
    q_init: float = 0.0
    """Initial value of every table entry (optimistic values encourage exploration)."""
    max_entries: int = 50_000_000
    """Refuse tables with more entries than this (use a function approximator instead)."""

    def __post_init__(self) -> None:
        if callable(self.lr):
            check_probability(self.lr(0), "lr(0)", open_left=True)
        else:
            self._set("lr", check_probability(self.lr, "lr", open_left=True))
        self._set("gamma", check_probability(self.gamma, "gamma"))
        check_choice(self.method, "method", ("q", "sarsa"))
        check_choice(self.exploration, "exploration", ("epsilon", "boltzmann"))
        self._set("epsilon", _check_schedule(self.epsilon, "epsilon", "probability"))
        self._set("T", _check_schedule(self.T, "T", "positive"))
        self._set("q_init", check_real(self.q_init, "q_init"))
        self._set("max_entries", check_int(self.max_entries, "max_entries", minimum=1))


@dataclasses.dataclass(frozen=True)
class FreeEnergyConfig(_Config):
    r"""Configuration of :class:`~ebmlib.rl.agents.FreeEnergyQ` (chapter 10).

    Schedules (``lr``, ``epsilon``, ``T``) are callables of the episode number.
    """

    n_hidden: int = 16
    """Number of hidden units :math:`K` of the RBM."""
    lr: Schedule = 0.01
    r"""Learning rate of the TD update (:math:numref:`eq-free-energy-rl-td`), > 0, or a schedule
    over episodes."""
    gamma: float = 0.99
    r"""Discount factor :math:`\gamma`, in [0, 1]."""
    method: str = "sarsa"
    """``"sarsa"`` (the next action taken) or ``"q"`` (max by enumeration)."""
    exploration: str = "boltzmann"
    """``"boltzmann"`` (sample exp(Q/T)) or ``"epsilon"`` (epsilon-greedy)."""
    T: Schedule = 1.0
    """Temperature of Boltzmann exploration, > 0, or a schedule over episodes."""
    epsilon: Schedule = 0.1
    """Exploration rate of epsilon-greedy, in [0, 1], or a schedule over episodes."""
    action_selection: str = "auto"
    """``"enumerate"``, ``"gibbs"`` or ``"auto"`` (enumerate up to ``max_enumerate`` actions)."""
    max_enumerate: int = 1024
    """Largest action set that is enumerated."""
    gibbs_sweeps: int = 20
    """Sweeps of annealed block Gibbs sampling per action choice
    (:math:numref:`eq-free-energy-rl-gibbs`)."""
    gibbs_T0: float = 4.0
    """First temperature of the geometric annealing schedule of Gibbs sampling."""
    greedy_T: float = 0.05
    """Final temperature of the annealed Gibbs chains used by ``greedy`` (Gibbs mode)."""
    greedy_chains: int = 8
    """Number of annealed Gibbs chains of ``greedy`` (the best action seen is kept)."""
    init_std: float = 0.1
    """Standard deviation of the initial weights (see the symmetry trap of chapter 10)."""
    offset_correction: bool | str = False
    r"""Remove the initial offset :math:`K\log 2` of Q (:math:numref:`eq-free-energy-rl-offset`):
    ``False``, ``True`` or
    ``"klog2"`` (subtract :math:`K\log 2`), or ``"mean"`` (the measured mean offset)."""

    def __post_init__(self) -> None:
        self._set("n_hidden", check_int(self.n_hidden, "n_hidden", minimum=1))
        self._set("lr", _check_schedule(self.lr, "lr", "positive"))
        self._set("gamma", check_probability(self.gamma, "gamma"))
        check_choice(self.method, "method", ("sarsa", "q"))
        check_choice(self.exploration, "exploration", ("boltzmann", "epsilon"))
        self._set("T", _check_schedule(self.T, "T", "positive"))
        self._set("epsilon", _check_schedule(self.epsilon, "epsilon", "probability"))
        check_choice(self.action_selection, "action_selection", ("auto", "enumerate", "gibbs"))
        self._set("max_enumerate", check_int(self.max_enumerate, "max_enumerate", minimum=1))
        self._set("gibbs_sweeps", check_int(self.gibbs_sweeps, "gibbs_sweeps", minimum=1))
        self._set("gibbs_T0", check_positive(self.gibbs_T0, "gibbs_T0"))
        self._set("greedy_T", check_positive(self.greedy_T, "greedy_T"))
        self._set("greedy_chains", check_int(self.greedy_chains, "greedy_chains", minimum=1))
        self._set("init_std", check_nonnegative(self.init_std, "init_std"))
        if self.offset_correction not in (False, True, "klog2", "mean"):
            raise ValueError(
                "offset_correction must be False, True, 'klog2' or 'mean', "
                f"got {self.offset_correction!r}"
            )


@dataclasses.dataclass(frozen=True)
class DeepQConfig(_Config):
    r"""Configuration of the replay-buffer agents (DQN, SoftQ, HopfieldQ; chapters 9 and 11).

    One learning rule for all of them (:func:`ebmlib.rl.agents.td_step`): minibatches drawn
    uniformly from a :class:`~ebmlib.rl.buffer.ReplayBuffer`, the Huber (or squared) loss between
    :math:`Q_\theta(s, a)` and the target :math:`r + \gamma (1 - \text{terminated})
    V_{\bar\theta}(s')` computed with a target copy :math:`\bar\theta` of the network, where
    :math:`V` is the max over actions (``backup="max"``) or the soft value
    :math:`T \log \int e^{Q/T}` (``backup="soft"``). Schedules (``epsilon``, ``T``) are
    callables of the number of environment steps.
    """

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the Q-network's MLP (ReLU)."""
    lr: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.99
    r"""Discount factor :math:`\gamma`, in [0, 1]."""
    buffer_size: int = 50_000
    """Capacity of the replay buffer (oldest transitions are overwritten)."""
    batch_size: int = 64
    """Transitions per minibatch."""
    learning_starts: int = 1000
    """Environment steps collected before the first gradient step."""
    train_every: int = 1
    """Environment steps per gradient step."""
    target_update: int = 500
    """Environment steps between copies of the network into the target (when ``tau`` is None)."""
    tau: float | None = None
    r"""Polyak rate of a soft target update :math:`\bar\theta \leftarrow (1-\tau)\bar\theta +
    \tau\theta` after every gradient step, in (0, 1]; None: periodic copies."""
    loss: str = "huber"
    """``"huber"`` (smooth L1, as in DQN) or ``"mse"``."""
    grad_clip: float | None = 10.0
    """Largest gradient norm (clipped above it); None: no clipping."""
    exploration: str | None = None
    """``"epsilon"`` (epsilon-greedy), ``"boltzmann"`` (sample exp(Q/T)), or None: the agent's
    own default (epsilon-greedy for DQN, Boltzmann for SoftQ and HopfieldQ)."""
    epsilon: Schedule = LinearSchedule(1.0, 0.05, 10_000)
    """Exploration rate of epsilon-greedy, or a schedule over environment steps."""
    T: Schedule = 1.0
    """Temperature of the Boltzmann policy and of the soft backup, > 0, or a schedule over
    environment steps."""
    backup: str | None = None
    """``"max"`` or ``"soft"``; None: ``"max"`` for discrete actions, ``"soft"`` for a Box."""
    n_action_samples: int = 32
    """Uniform proposals per draw for continuous actions (the soft value and the resampling
    step of the sampler)."""
    langevin_steps: int = 5
    """MALA steps refining each sampled continuous action
    (:math:numref:`eq-energy-policies-mala`)."""
    langevin_step_size: float = 0.01
    """MALA step size, on actions scaled to [-1, 1]."""
    n_greedy: int = 256
    """Size of the quasi-random grid of actions searched by ``greedy`` (continuous actions)."""

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if not isinstance(hidden, tuple | list):
            raise TypeError(f"hidden must be a tuple of ints, got {type(hidden).__name__}")
        self._set("hidden", tuple(check_int(h, "hidden", minimum=1) for h in hidden))
        self._set("lr", check_positive(self.lr, "lr"))
        self._set("gamma", check_probability(self.gamma, "gamma"))
        self._set("buffer_size", check_int(self.buffer_size, "buffer_size", minimum=1))
        self._set("batch_size", check_int(self.batch_size, "batch_size", minimum=1))
        self._set("learning_starts", check_int(self.learning_starts, "learning_starts", minimum=0))
        self._set("train_every", check_int(self.train_every, "train_every", minimum=1))
        self._set("target_update", check_int(self.target_update, "target_update", minimum=1))
        if self.tau is not None:
            self._set("tau", check_probability(self.tau, "tau", open_left=True))
        check_choice(self.loss, "loss", ("huber", "mse"))
        if self.grad_clip is not None:
            self._set("grad_clip", check_positive(self.grad_clip, "grad_clip"))
        if self.exploration is not None:
            check_choice(self.exploration, "exploration", ("epsilon", "boltzmann"))
        self._set("epsilon", _check_schedule(self.epsilon, "epsilon", "probability"))
        self._set("T", _check_schedule(self.T, "T", "positive"))
        if self.backup is not None:
            check_choice(self.backup, "backup", ("max", "soft"))
        self._set(
            "n_action_samples", check_int(self.n_action_samples, "n_action_samples", minimum=1)
        )
        self._set("langevin_steps", check_int(self.langevin_steps, "langevin_steps", minimum=0))
        self._set(
            "langevin_step_size", check_positive(self.langevin_step_size, "langevin_step_size")
        )
        self._set("n_greedy", check_int(self.n_greedy, "n_greedy", minimum=1))
