r"""Agents: tabular Q-learning/SARSA, the free-energy (RBM) Q-function, and the deep Q agents.

Every agent is built the same way::

    Agent(observation_space, action_space, config=None, *, generator=None, **overrides)

with a config dataclass from :mod:`ebmlib.rl.config` (``overrides`` replace single fields), and
shares one small interface used by :mod:`ebmlib.rl.training`:

* ``act(obs, generator=None)``: an exploratory action (epsilon-greedy or Boltzmann);
* ``greedy(obs)``: the action with the highest estimated value;
* ``update(obs, action, reward, next_obs, next_action, terminated)``: one learning step
  (``next_action`` is the action the agent will take next, used by SARSA; it is ``None`` when
  the episode terminated). Returns the TD error ``delta`` (the mean absolute TD error of the
  minibatch for the deep agents) as a float. A NaN or infinite reward raises a ``ValueError``;
* ``begin_episode(episode)``: lets exploration schedules depend on the episode number.

``generator=None`` means torch's global generator everywhere (weights, minibatches, actions), so
``torch.manual_seed(s)`` makes a run reproducible and different seeds give different agents.

The deep agents (:class:`DQN` here, :class:`~ebmlib.rl.energy_agents.SoftQ` and
:class:`~ebmlib.rl.energy_agents.HopfieldQ`) are thin subclasses of :class:`DeepQAgent` that
differ only in their Q-network: one :class:`~ebmlib.rl.config.DeepQConfig`, one
:class:`~ebmlib.rl.buffer.ReplayBuffer` and one TD step (:func:`td_step`).

See chapter 9 (:ref:`chapter-rl`) for Q-learning, SARSA and DQN, chapter 10
(:ref:`chapter-free-energy-rl`) for :class:`FreeEnergyQ`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._optional import require
from .._validation import (
    check_choice,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from ..utils import renamed_argument
from ._nets import QHeadNet
from ._spaces import SpaceCodec
from .buffer import ReplayBuffer, Transitions
from .config import (
    DeepQConfig,
    FreeEnergyConfig,
    LinearSchedule,
    Schedule,
    TabularConfig,
    _build,
    schedule_value,
)
from .config import linear_schedule as linear_schedule  # the import path of earlier versions

spaces = require("gymnasium", "rl", feature="ebmlib.rl").spaces

__all__ = [
    "TabularQ",
    "FreeEnergyQ",
    "DeepQAgent",
    "DQN",
    "IndependentQ",
    "RandomAgent",
    "boltzmann_probabilities",
    "td_targets",
    "td_step",
    "update_target",
]

_SINCE = "0.2"


def _space(value: Any, name: str) -> Any:
    if isinstance(value, spaces.Space):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return spaces.Discrete(check_int(value, name, minimum=1))
    raise TypeError(f"{name} must be a gymnasium space or a positive int, got {type(value)}")


def _check_reward(reward: Any) -> float:
    """The reward as a float; NaN or infinite rewards raise (they would poison every value)."""
    if isinstance(reward, torch.Tensor | np.ndarray) and reward.ndim == 0:
        reward = reward.item()
    if isinstance(reward, bool) or not isinstance(reward, int | float | np.integer | np.floating):
        raise TypeError(f"reward must be a real number, got {type(reward).__name__}")
    r = float(reward)
    if not math.isfinite(r):
        raise ValueError(f"reward must be a finite number, got {r}")
    return r


def _check_delta(delta: float, what: str) -> float:
    if not math.isfinite(delta):
        raise ValueError(
            f"the TD error became {delta} ({what}); the values diverged: lower the learning rate "
            "or the discount"
        )
    return delta


def boltzmann_probabilities(q: torch.Tensor, T: float) -> torch.Tensor:
    r"""Boltzmann (softmax) policy :math:`\pi(a|s) = e^{Q(s,a)/T} / \sum_b e^{Q(s,b)/T}`.

    Chapter 9, :math:numref:`eq-rl-boltzmann`. ``q`` is ``[..., A]`` (real, finite); the result
    has the same shape.
    """
    q = check_tensor(q, "q", min_ndim=1, floating=True)
    T = check_positive(T, "T")
    return torch.softmax(q / T, dim=-1)


class _Agent:
    """Shared bookkeeping of the online agents: spaces, config, exploration schedules."""

    config: Any

    def _init_agent(self, observation_space: Any, action_space: Any, config: Any) -> None:
        self.observation_space = _space(observation_space, "observation_space")
        self.action_space = _space(action_space, "action_space")
        self.obs_codec = SpaceCodec(self.observation_space, "observation_space")
        self.act_codec = SpaceCodec(self.action_space, "action_space")
        self.config = config
        self.episode = 0

    @property
    def gamma(self) -> float:
        """Discount factor (``config.gamma``)."""
        return self.config.gamma

    @property
    def exploration(self) -> str:
        """``"epsilon"`` or ``"boltzmann"`` (``config.exploration``)."""
        return self.config.exploration

    @property
    def method(self) -> str:
        """``"q"`` or ``"sarsa"`` (``config.method``)."""
        return self.config.method

    def begin_episode(self, episode: int) -> None:
        """Tell the agent which episode starts (drives the exploration schedules)."""
        self.episode = check_int(episode, "episode", minimum=0)

    @property
    def current_epsilon(self) -> float:
        """Epsilon of the current episode."""
        return schedule_value(self.config.epsilon, self.episode, "epsilon", "probability")

    @property
    def current_T(self) -> float:
        """Boltzmann temperature of the current episode."""
        return schedule_value(self.config.T, self.episode, "T")

    @property
    def current_temperature(self) -> float:
        """Deprecated alias of :attr:`current_T`."""
        warnings.warn(
            "current_temperature is deprecated; use current_T", DeprecationWarning, stacklevel=2
        )
        return self.current_T


def _random_action(c: SpaceCodec, generator: torch.Generator | None) -> Any:
    """A uniformly random value of the space behind ``c``."""
    if c.kind == "discrete":
        return int(torch.randint(c.n_units, (), generator=generator)) + c.start
    if c.kind == "multidiscrete":
        u = torch.rand(len(c.groups), generator=generator).numpy()
        return (u * np.asarray(c.groups)).astype(np.int64) + c.start_vec
    if c.kind == "multibinary":
        return (torch.rand(c.n_units, generator=generator) < 0.5).to(torch.int8).numpy()
    low = torch.as_tensor(c.space.low, dtype=torch.float64)
    high = torch.as_tensor(c.space.high, dtype=torch.float64)
    if not bool(torch.isfinite(low).all() & torch.isfinite(high).all()):
        raise ValueError(f"{c.name}: random actions need a Box with finite bounds")
    u = torch.rand(low.shape, generator=generator, dtype=torch.float64)
    return (low + u * (high - low)).numpy().astype(c.space.dtype)


# ---------------------------------------------------------------------------------------------
class TabularQ(_Agent):
    r"""Tabular Q-learning or SARSA with epsilon-greedy or Boltzmann exploration.

    The update (chapter 9, :math:numref:`eq-rl-q-learning` and :math:numref:`eq-rl-sarsa`) is

    .. math:: Q(s,a) \leftarrow Q(s,a) + \eta\,[r + \gamma\,Q' - Q(s,a)]

    with ``Q' = max_b Q(s', b)`` (Q-learning, ``method="q"``) or ``Q' = Q(s', a')`` for the
    action actually taken next (SARSA, ``method="sarsa"``), and ``Q' = 0`` after a terminating
    step.

    Parameters
    ----------
    observation_space, action_space : gymnasium space or int
        ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` (an int ``n`` means ``Discrete(n)``).
        Composite spaces are flattened to one table index (joint states and joint actions).
    config : TabularConfig, optional
        Learning rate (a number or a schedule over episodes), discount, method, exploration
        (see :class:`~ebmlib.rl.config.TabularConfig`).
    **overrides :
        Single fields of the config (``lr=0.5``, ``method="sarsa"``, ``T=0.3``, ...).

    Attributes
    ----------
    table : numpy.ndarray ``[S, A]`` (float64)
    """

    @renamed_argument("temperature", "T", since=_SINCE)
    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: TabularConfig | None = None,
        **overrides: Any,
    ) -> None:
        self._init_agent(observation_space, action_space, _build(TabularConfig, config, overrides))
        for codec in (self.obs_codec, self.act_codec):
            if codec.kind == "box" or codec.n_values <= 0:
                raise ValueError(f"{codec.name} is too large or continuous for a table")
        n = self.obs_codec.n_values * self.act_codec.n_values
        if n > self.config.max_entries:
            raise ValueError(
                f"a table with {self.obs_codec.n_values} states x {self.act_codec.n_values} "
                f"actions = {n} entries exceeds max_entries={self.config.max_entries}; a table "
                "is impractical here (use FreeEnergyQ)"
            )
        self.table = np.full(
            (self.obs_codec.n_values, self.act_codec.n_values),
            self.config.q_init,
            dtype=np.float64,
        )

    @property
    def lr(self) -> Schedule:
        """Learning rate or its schedule (``config.lr``)."""
        return self.config.lr

    @property
    def current_lr(self) -> float:
        """Learning rate of the current episode (``lr`` may be a schedule ``episode -> lr``)."""
        lr = self.config.lr
        if not callable(lr):  # checked by the config
            return lr
        return schedule_value(lr, self.episode, "lr", "probability")

    def q_values(self, obs: Any) -> torch.Tensor:
        """Row ``Q(s, .)`` as a float64 tensor ``[A]``."""
        return torch.from_numpy(self.table[self.obs_codec.to_index(obs, "obs")].copy())

    def q_table(self) -> torch.Tensor:
        """The whole table ``[S, A]`` as a float64 tensor."""
        return torch.from_numpy(self.table.copy())

    def greedy_policy(self) -> torch.Tensor:
        """Greedy action index of every state, ``[S]`` (ties to the lowest action)."""
        return torch.from_numpy(self.table.argmax(axis=1))

    def _choose(self, row: np.ndarray, generator: torch.Generator | None) -> int:
        if self.exploration == "epsilon":
            if float(torch.rand((), generator=generator)) < self.current_epsilon:
                return int(torch.randint(row.shape[0], (), generator=generator))
            best = np.flatnonzero(row == row.max())
            if best.size == 1:
                return int(best[0])
            return int(best[int(torch.randint(best.size, (), generator=generator))])
        p = boltzmann_probabilities(torch.from_numpy(row), self.current_T)
        return int(torch.multinomial(p, 1, generator=generator))

    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Exploratory action for ``obs`` (ties among greedy actions broken at random)."""
        check_generator(generator)
        row = self.table[self.obs_codec.to_index(obs, "obs")]
        return self.act_codec.from_index(self._choose(row, generator))

    def greedy(self, obs: Any) -> Any:
        """Greedy action for ``obs``."""
        row = self.table[self.obs_codec.to_index(obs, "obs")]
        return self.act_codec.from_index(int(row.argmax()))

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """One Q-learning or SARSA step (:math:numref:`eq-rl-q-learning` or
        :math:numref:`eq-rl-sarsa`); returns the TD error."""
        reward = _check_reward(reward)
        s = self.obs_codec.to_index(obs, "obs")
        a = self.act_codec.to_index(action, "action")
        if next_action is not None:  # checked even where Q-learning does not use it
            self.act_codec.check(next_action, "next_action")
        if terminated:
            target = reward
        else:
            s2 = self.obs_codec.to_index(next_obs, "next_obs")
            if self.method == "q":
                nxt = self.table[s2].max()
            else:
                if next_action is None:
                    raise ValueError("SARSA needs next_action when the episode goes on")
                nxt = self.table[s2, self.act_codec.to_index(next_action, "next_action")]
            target = reward + self.gamma * float(nxt)
        delta = _check_delta(target - float(self.table[s, a]), "TabularQ")
        self.table[s, a] += self.current_lr * delta
        return delta


# ---------------------------------------------------------------------------------------------
class RandomAgent(_Agent):
    """Uniformly random actions (a baseline); learns nothing."""

    def __init__(self, observation_space: Any, action_space: Any) -> None:
        self._init_agent(observation_space, action_space, None)

    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """A uniformly random action (``obs`` is checked against the observation space)."""
        check_generator(generator)
        self.obs_codec.check(obs, "obs")
        return _random_action(self.act_codec, generator)

    def greedy(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Random as well: the random agent has no values."""
        return self.act(obs, generator)

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any | None = None,
        next_action: Any | None = None,
        terminated: bool = False,
    ) -> float:
        """Nothing to learn (the transition is still checked against the spaces)."""
        self.obs_codec.check(obs, "obs")
        self.act_codec.check(action, "action")
        _check_reward(reward)
        if next_obs is not None:
            self.obs_codec.check(next_obs, "next_obs")
        if next_action is not None:
            self.act_codec.check(next_action, "next_action")
        return 0.0


# ---------------------------------------------------------------------------------------------
class IndependentQ(_Agent):
    r"""Independent per-agent tabular learners for a factored (``MultiDiscrete``) action.

    Learner ``i`` sees the observation components listed in ``views[i]``, picks its own component
    of the joint action, and is trained by Q-learning (or SARSA) on the shared team reward as if
    the other agents were part of the environment. This is the decentralised baseline of
    chapter 10 on the Blocker task.

    Parameters
    ----------
    observation_space : MultiDiscrete
    action_space : MultiDiscrete
        One component per learner.
    views : list of list of int
        The observation components each learner sees.
    config : TabularConfig, optional
        Shared by every learner.
    **overrides :
        Single fields of the config (``lr``, ``gamma``, ``epsilon``, ...).
    """

    @renamed_argument("temperature", "T", since=_SINCE)
    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        views: list[list[int]],
        config: TabularConfig | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(action_space, spaces.MultiDiscrete):
            raise TypeError("IndependentQ needs a MultiDiscrete action_space")
        if not isinstance(observation_space, spaces.MultiDiscrete):
            raise TypeError("IndependentQ needs a MultiDiscrete observation_space")
        if len(views) != len(action_space.nvec):
            raise ValueError(
                f"views must list one view per action component ({len(action_space.nvec)}), "
                f"got {len(views)}"
            )
        cfg = _build(TabularConfig, config, overrides)
        self._init_agent(observation_space, action_space, cfg)
        self.views = [list(map(int, v)) for v in views]
        self.learners = [
            TabularQ(spaces.MultiDiscrete(observation_space.nvec[v]), spaces.Discrete(int(n)), cfg)
            for v, n in zip(self.views, action_space.nvec, strict=True)
        ]

    def begin_episode(self, episode: int) -> None:
        super().begin_episode(episode)
        for learner in self.learners:
            learner.begin_episode(episode)

    def _view(self, obs: Any, i: int) -> np.ndarray:
        return np.asarray(self.obs_codec.check(obs, "obs"))[self.views[i]]

    def act(self, obs: Any, generator: torch.Generator | None = None) -> np.ndarray:
        """Each learner picks its own component."""
        return np.asarray(
            [lr.act(self._view(obs, i), generator) for i, lr in enumerate(self.learners)]
        )

    def greedy(self, obs: Any) -> np.ndarray:
        """Each learner's greedy component."""
        return np.asarray([lr.greedy(self._view(obs, i)) for i, lr in enumerate(self.learners)])

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """Each learner updates on its own view and component; returns the mean TD error."""
        reward = _check_reward(reward)
        action = self.act_codec.check(action, "action")
        deltas = []
        for i, lr in enumerate(self.learners):
            na = None if next_action is None else int(np.asarray(next_action)[i])
            deltas.append(
                lr.update(
                    self._view(obs, i),
                    int(action[i]),
                    reward,
                    self._view(next_obs, i),
                    na,
                    terminated,
                )
            )
        return float(np.mean(deltas))


# ---------------------------------------------------------------------------------------------
class FreeEnergyQ(_Agent):
    r"""Q-function given by the negative free energy of an RBM over state and action units.

    The visible vector is ``v = [phi(s), psi(a)]``: one-hot groups for ``Discrete`` and
    ``MultiDiscrete`` spaces, binary units for ``MultiBinary``. With the RBM of
    :class:`ebmlib.rbm.RBM` (weights ``W`` ``[n_visible, K]``, biases ``b``, ``c``)

    .. math::

        Q(s, a) = -F(v) = v^T b + \sum_{j=1}^{K} \operatorname{softplus}(c_j + v^T W_{:,j})

    (chapter 10, :math:numref:`eq-free-energy-rl-q`). Its gradient has a closed form
    (:math:numref:`eq-free-energy-rl-grad`):
    ``dQ/db = v``, ``dQ/dc = sigma(c + v^T W)``, ``dQ/dW = v sigma(c + v^T W)^T``, and learning
    is the TD(0) / SARSA rule ``theta += lr * delta * dQ(s,a)/dtheta`` with
    ``delta = r + gamma Q(s', a') - Q(s, a)`` (:math:numref:`eq-free-energy-rl-td`; ``method="q"``
    uses
    ``max_b Q(s', b)`` instead, by enumeration). One step evaluates ``Q(s, a)`` and
    ``Q(s', a')`` as one batch and updates ``W`` by a rank-one product (``torch.addr``), the same
    code on every device.

    **Action selection.** With few joint actions (``<= max_enumerate``) the agent enumerates
    them and samples from ``softmax(Q(s, .)/T)`` (Boltzmann) or acts epsilon-greedily. With a
    huge factored action set it runs annealed block Gibbs sampling over the hidden and action
    units with the state units clamped (:meth:`gibbs_actions`).

    **Temperature semantics.** Gibbs sampling at temperature ``T`` samples the joint
    ``p(a, h | s) ~ exp(-E(s, a, h) / T)``; its action marginal is
    ``sum_h exp(-E/T) = exp(-F_T(s, a)/T)`` with
    ``F_T = -v^T b - T sum_j softplus((c_j + v^T W_{:,j}) / T)``, which equals
    ``exp(-F(s, a)/T) = exp(Q(s, a)/T)`` **only at T = 1**
    (:math:numref:`eq-free-energy-rl-temperature`). So annealed Gibbs
    samples follow ``exp(Q)`` when the schedule ends at ``T = 1``; at a final ``T < 1`` they
    concentrate on low-energy actions, but not exactly as ``softmax(Q/T)``. Enumeration, in
    contrast, samples ``softmax(Q/T)`` exactly at every ``T``.

    Parameters
    ----------
    observation_space, action_space : gymnasium space or int
        ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``.
    config : FreeEnergyConfig, optional
        Hidden units, learning rate, exploration, Gibbs settings
        (see :class:`~ebmlib.rl.config.FreeEnergyConfig`).
    generator : torch.Generator, optional
        Source of the initial weights (None: torch's global generator).
    dtype, device :
        Of the RBM parameters.
    **overrides :
        Single fields of the config (``n_hidden=128``, ``lr=0.002``, ...).
    """

    @renamed_argument("temperature", "T", since=_SINCE)
    @renamed_argument("gibbs_start_temperature", "gibbs_T0", since=_SINCE)
    @renamed_argument("greedy_temperature", "greedy_T", since=_SINCE)
    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: FreeEnergyConfig | None = None,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> None:
        from ..rbm import RBM

        if isinstance(config, int) and not isinstance(config, bool):
            warnings.warn(
                "FreeEnergyQ(obs, act, n_hidden) is deprecated; pass n_hidden=... by keyword",
                DeprecationWarning,
                stacklevel=3,
            )
            overrides["n_hidden"], config = config, None
        cfg = _build(FreeEnergyConfig, config, overrides)
        self._init_agent(observation_space, action_space, cfg)
        for codec in (self.obs_codec, self.act_codec):
            if codec.kind == "box":
                raise TypeError(f"{codec.name}: FreeEnergyQ needs discrete or binary units")
        n_act = self.act_codec.n_values
        enumerable = 0 < n_act <= cfg.max_enumerate
        if cfg.action_selection == "enumerate" and not enumerable:
            raise ValueError(
                f"action_selection='enumerate' needs at most max_enumerate={cfg.max_enumerate} "
                "actions; this action space is larger (use 'gibbs')"
            )
        self.enumerate = cfg.action_selection == "enumerate" or (
            cfg.action_selection == "auto" and enumerable
        )
        if cfg.method == "q" and not self.enumerate:
            raise ValueError("method='q' needs enumerable actions; use method='sarsa'")
        check_generator(generator)
        self.n_state_units = self.obs_codec.n_units
        self.n_action_units = self.act_codec.n_units
        self.rbm = RBM(
            self.n_state_units + self.n_action_units,
            cfg.n_hidden,
            init_std=cfg.init_std,
            generator=generator,
            dtype=dtype,
            device=device,
        )
        self.rbm.requires_grad_(False)
        self._np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        self._views_key: Any = None
        # the action set is enumerated whenever it is small, also in Gibbs mode (for checks)
        self._all_actions = (
            self.act_codec.all_units(dtype, self.rbm.W.device) if enumerable else None
        )
        if cfg.offset_correction:
            self._correct_offset("mean" if cfg.offset_correction == "mean" else "klog2")

    def _correct_offset(self, mode: str) -> None:
        """Remove the initial value offset through the biases of the state units.

        At initialisation every hidden unit adds ``softplus(c_j + v^T W_{:,j})`` to ``Q``: exactly
        ``log 2`` at ``W = 0`` (:math:numref:`eq-free-energy-rl-offset`) and more on average for
        random weights (softplus is
        convex, so Jensen's inequality gives ``E softplus(x) >= softplus(E x) = log 2``).

        ``mode="klog2"`` subtracts ``K log 2`` from the bias of every unit of the first state
        group (one of them is always on), which makes ``Q = 0`` exactly at ``W = 0``.
        ``mode="mean"`` subtracts the measured offset instead: for a ``Discrete`` state space the
        mean over the actions (all of them, or 256 random ones) of the hidden sum, per state, so
        that ``Q(s, .)`` has mean 0 at every state; for ``MultiDiscrete`` states, the mean over 256
        random state-action pairs, from every unit of the first state group.
        """
        if not self.obs_codec.groups:
            raise ValueError("offset_correction needs a Discrete or MultiDiscrete state space")
        if mode == "klog2":
            self.rbm.b.data[: self.obs_codec.groups[0]] -= self.rbm.n_hidden * math.log(2.0)
            return
        gen = torch.Generator().manual_seed(0)
        W, c = self.rbm.W, self.rbm.c
        ns = self.n_state_units
        if self._all_actions is not None:
            A = self._all_actions
        else:
            units = [
                self.act_codec.to_units(_random_action(self.act_codec, gen), "a", W.dtype, W.device)
                for _ in range(256)
            ]
            A = torch.stack(units)
        hid_a = A @ W[ns:]  # [n_a, K]
        if self.obs_codec.kind == "discrete":
            for s in range(self.obs_codec.n_units):
                offset = F.softplus(c + W[s] + hid_a).sum(-1).mean()
                self.rbm.b.data[s] -= offset
            return
        states = [
            self.obs_codec.to_units(_random_action(self.obs_codec, gen), "s", W.dtype, W.device)
            for _ in range(256)
        ]
        S = torch.stack(states)
        pick = torch.randint(A.shape[0], (256,), generator=gen)
        offset = F.softplus(c + S @ W[:ns] + hid_a[pick]).sum(-1).mean()
        self.rbm.b.data[: self.obs_codec.groups[0]] -= offset

    @property
    def lr(self) -> Schedule:
        """Learning rate or its schedule (``config.lr``)."""
        return self.config.lr

    @property
    def current_lr(self) -> float:
        """Learning rate of the current episode (``lr`` may be a schedule ``episode -> lr``)."""
        lr = self.config.lr
        if not callable(lr):  # checked by the config
            return lr
        return schedule_value(lr, self.episode, "lr")

    # -- encodings -----------------------------------------------------------------------------
    @property
    def n_hidden(self) -> int:
        """Number of hidden units ``K``."""
        return self.rbm.n_hidden

    def encode_state(self, obs: Any) -> torch.Tensor:
        """State units ``phi(s)``, ``[n_state_units]``."""
        return self.obs_codec.to_units(obs, "obs", self.rbm.W.dtype, self.rbm.W.device)

    def encode_action(self, action: Any) -> torch.Tensor:
        """Action units ``psi(a)``, ``[n_action_units]``."""
        return self.act_codec.to_units(action, "action", self.rbm.W.dtype, self.rbm.W.device)

    def encode(self, obs: Any, action: Any) -> torch.Tensor:
        """Visible vector ``v = [phi(s), psi(a)]``, ``[n_visible]``."""
        return torch.cat([self.encode_state(obs), self.encode_action(action)])

    def _active(self, obs: Any, action: Any, prefix: str = "") -> np.ndarray:
        """Indices of the active visible units of ``(obs, action)`` (int64 ``[m]``)."""
        s = self.obs_codec.active(obs, prefix + "obs")
        a = self.act_codec.active(action, prefix + "action") + self.n_state_units
        return np.concatenate([s, a])

    def _params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The RBM's ``W``, ``b``, ``c`` (read from its parameter dict: the hot path)."""
        P = self.rbm._parameters
        return P["W"], P["b"], P["c"]  # type: ignore[return-value]

    def _visible(self, *active: np.ndarray) -> torch.Tensor:
        """Visible vectors ``[len(active), n_visible]`` with ones at the given active units."""
        W = self.rbm._parameters["W"]
        v = np.zeros((len(active), W.shape[0]), dtype=self._np_dtype)
        for i, idx in enumerate(active):
            v[i, idx] = 1.0
        t = torch.from_numpy(v)
        return t if W.is_cpu else t.to(W.device)

    def _q_visible(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Q = -F(v)`` ``[B]`` and the hidden input ``c + v^T W`` ``[B, K]``
        (:math:numref:`eq-free-energy-rl-q`)."""
        W, b, c = self._params()
        pre = torch.addmm(c, v, W)
        return torch.addmv(F.softplus(pre).sum(-1), v, b), pre

    def _rows(self) -> tuple[Any, Any, torch.Tensor, torch.Tensor]:
        """Row views of ``W`` and ``b`` and the action blocks ``W_a``, ``b_a`` (cached views:
        they follow in-place updates; rebuilt if the parameters are replaced)."""
        W, b, _ = self._params()
        key = (W.data_ptr(), b.data_ptr(), W.shape, W.dtype)
        if self._views_key != key:
            ns = self.n_state_units
            self._views = (W.unbind(0), b.unbind(0), W[ns:], b[ns:])
            self._views_key = key
        return self._views

    def _q_all_active(self, s_idx: np.ndarray) -> torch.Tensor:
        """``Q(s, .)`` over all actions from the active state units, ``[n_actions]``."""
        W_rows, b_rows, Wa, ba = self._rows()
        W, b, c = self._params()
        if s_idx.shape[0] == 1:  # a Discrete state: one row of W, no product needed
            i = int(s_idx[0])
            x, sb = c + W_rows[i], b_rows[i]
        else:
            ns = self.n_state_units
            sv = self._visible(s_idx)[0, :ns]
            x, sb = torch.addmv(c, W[:ns].T, sv), sv @ b[:ns]
        if self.act_codec.kind == "discrete":  # one-hot actions: Q = b_s + b_a + sum softplus
            return F.softplus(Wa + x).sum(-1).add_(ba + sb)
        A = self._all_actions
        return F.softplus(torch.addmm(x, A, Wa)).sum(-1).add_(torch.addmv(sb, A, ba))

    # -- values --------------------------------------------------------------------------------
    def q_from_units(self, v: torch.Tensor) -> torch.Tensor:
        """``Q = -F(v)`` for visible vectors ``[..., n_visible]``
        (:math:numref:`eq-free-energy-rl-q`)."""
        return -self.rbm.free_energy(v)

    def q(self, obs: Any, action: Any) -> float:
        """``Q(s, a) = -F(s, a)`` as a float."""
        return float(self._q_visible(self._visible(self._active(obs, action)))[0][0])

    def q_gradient(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""Closed-form gradient of ``Q = -F(v)`` with respect to the RBM parameters.

        ``dQ/dW = v sigma(c + v^T W)^T`` (``[n_visible, K]``), ``dQ/db = v``,
        ``dQ/dc = sigma(c + v^T W)`` (chapter 10, :math:numref:`eq-free-energy-rl-grad`). ``v`` is
        ``[n_visible]``.
        """
        v = self.rbm._check_v(v, "v")
        if v.dim() != 1:
            raise ValueError(f"v must be one visible vector [n_visible], got {tuple(v.shape)}")
        if v.is_floating_point() and v.dtype != self.rbm.W.dtype:
            raise TypeError(f"v must have the agent's dtype {self.rbm.W.dtype}, got {v.dtype}")
        p = torch.sigmoid(v @ self.rbm.W + self.rbm.c)  # [K]
        return {"W": torch.outer(v, p), "b": v.clone(), "c": p}

    def _state_field(self, s_units: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden input from the state units (plus ``c``), and the state's bias term."""
        ns = self.n_state_units
        return s_units @ self.rbm.W[:ns] + self.rbm.c, s_units @ self.rbm.b[:ns]

    def q_values(self, obs: Any) -> torch.Tensor:
        """``Q(s, a)`` for every action, ``[n_actions]`` in table-index order (enumeration)."""
        if self._all_actions is None:
            raise ValueError("q_values needs an enumerable action space")
        return self._q_all_active(self.obs_codec.active(obs, "obs"))

    @renamed_argument("temperature", "T", since=_SINCE)
    def action_probabilities(self, obs: Any, T: float = 1.0) -> torch.Tensor:
        """Exact Boltzmann policy ``softmax(Q(s, .)/T)`` by enumeration, ``[n_actions]``."""
        T = check_positive(T, "T")  # before q_values, so a refused call changes nothing
        return boltzmann_probabilities(self.q_values(obs), T)

    @renamed_argument("temperature", "T", since=_SINCE)
    def gibbs_log_weights(self, obs: Any, T: float = 1.0) -> torch.Tensor:
        r"""Unnormalised log action marginal of Gibbs sampling at fixed ``T``, ``[n_actions]``.

        ``log sum_h exp(-E(s,a,h)/T) = v^T b / T + sum_j softplus((c_j + v^T W_{:,j}) / T)``
        (:math:numref:`eq-free-energy-rl-temperature`); it equals ``Q(s,a)/T = -F(s,a)/T`` only at
        ``T = 1``. Needs enumerable
        actions.
        """
        if self._all_actions is None:
            raise ValueError("gibbs_log_weights needs an enumerable action space")
        t = check_positive(T, "T")
        ns = self.n_state_units
        x, sb = self._state_field(self.encode_state(obs))
        A = self._all_actions
        lin = sb + A @ self.rbm.b[ns:]
        return lin / t + F.softplus((x + A @ self.rbm.W[ns:]) / t).sum(-1)

    # -- Gibbs sampling over the action units ---------------------------------------------------
    def _sample_action_units(
        self, field: torch.Tensor, t: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Sample action units ``[B, n_action_units]`` given their input ``field``."""
        c = self.act_codec
        if c.kind == "multibinary":
            p = torch.sigmoid(field / t)
            u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
            return (u < p).to(p.dtype)
        out = torch.zeros_like(field)
        sizes = c.groups
        if len(set(sizes)) == 1:  # equal groups: one vectorised categorical draw
            B, g, n = field.shape[0], len(sizes), sizes[0]
            probs = torch.softmax(field.view(B, g, n) / t, dim=-1).view(B * g, n)
            idx = torch.multinomial(probs, 1, generator=generator).view(B, g)
            out.view(B, g, n).scatter_(2, idx.unsqueeze(-1), 1.0)
            return out
        for a, b in zip(c.offsets[:-1], c.offsets[1:], strict=True):
            probs = torch.softmax(field[:, a:b] / t, dim=-1)
            idx = torch.multinomial(probs, 1, generator=generator)
            out[:, a:b].scatter_(1, idx, 1.0)
        return out

    @renamed_argument("temperature", "T", since=_SINCE)
    @renamed_argument("start_temperature", "T0", since=_SINCE)
    def gibbs_actions(
        self,
        obs: Any,
        *,
        n_chains: int = 1,
        sweeps: int | None = None,
        T0: float | None = None,
        T: float = 1.0,
        keep_best: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""Annealed block Gibbs sampling of actions with the state units clamped.

        Each sweep at temperature ``T_t`` samples ``h ~ p(h | s, a)`` with
        ``p(h_j = 1) = sigma((c_j + v^T W_{:,j}) / T_t)`` and then every action group given
        ``h`` (a categorical draw per one-hot group, a Bernoulli draw per binary unit) from the
        field ``(b_a + W_a h) / T_t`` (:math:numref:`eq-free-energy-rl-gibbs`). The temperatures
        decrease geometrically from
        ``T0`` to ``T``. At a fixed ``T = 1`` the chain's stationary action distribution is
        ``exp(-F(s, a)) / Z(s) = softmax(Q(s, .))``; at other ``T`` it is
        ``exp(-F_T(s, a)/T)`` (see :meth:`gibbs_log_weights`), not ``softmax(Q/T)``.

        Parameters
        ----------
        obs :
            The (clamped) state.
        n_chains : int
            Independent chains run in parallel.
        sweeps : int, optional
            Number of sweeps (default ``config.gibbs_sweeps``).
        T0 : float, optional
            First temperature (default ``config.gibbs_T0``; pass ``T0=T`` for no annealing).
        T : float
            Final temperature.
        keep_best : bool
            Return, per chain, the action with the highest ``Q`` seen along the chain instead of
            the last sample (an optimiser, no longer a sampler).
        generator : torch.Generator, optional
            None: torch's global generator.

        Returns
        -------
        torch.Tensor ``[n_chains, n_action_units]``
            Action unit vectors.
        """
        check_generator(generator)
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        cfg = self.config
        sweeps = cfg.gibbs_sweeps if sweeps is None else check_int(sweeps, "sweeps", minimum=1)
        t_end = check_positive(T, "T")
        t0 = cfg.gibbs_T0 if T0 is None else check_positive(T0, "T0")
        ns = self.n_state_units
        W, b = self.rbm.W, self.rbm.b
        x, sb = self._state_field(self.encode_state(obs))  # [K], []
        Wa, ba = W[ns:], b[ns:]  # [n_a, K], [n_a]
        dtype = W.dtype
        # random initial actions
        a = self._sample_action_units(
            torch.zeros(n_chains, self.n_action_units, dtype=dtype, device=W.device), 1.0, generator
        )
        if sweeps == 1:
            temps = [t_end]
        else:
            temps = [t0 * (t_end / t0) ** (i / (sweeps - 1)) for i in range(sweeps)]
        best = a.clone()
        best_q = torch.full((n_chains,), -math.inf, dtype=dtype, device=W.device)
        for t in temps:
            pre = x + a @ Wa  # [B, K]
            u = torch.rand(pre.shape, generator=generator, dtype=dtype, device=W.device)
            h = u < torch.sigmoid(pre / t)
            a = self._sample_action_units(ba + h.to(dtype) @ Wa.T, t, generator)
            if keep_best:
                q = sb + a @ ba + F.softplus(x + a @ Wa).sum(-1)
                better = q > best_q
                best_q = torch.where(better, q, best_q)
                best[better] = a[better]
        return best if keep_best else a

    # -- acting --------------------------------------------------------------------------------
    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Exploratory action: Boltzmann ``softmax(Q/T)`` by enumeration, epsilon-greedy, or
        annealed Gibbs sampling ending at the current temperature (huge action sets)."""
        check_generator(generator)
        if self.exploration == "epsilon":
            if float(torch.rand((), generator=generator)) < self.current_epsilon:
                return _random_action(self.act_codec, generator)
            if self.enumerate:
                return self._greedy_enum(obs, generator)
            return self.greedy(obs, generator=generator)
        t = self.current_T
        if self.enumerate:
            p = torch.softmax(self.q_values(obs).double() / t, dim=0).cpu()
            i = int(torch.multinomial(p, 1, generator=generator))
            return self.act_codec.from_index(i)
        units = self.gibbs_actions(obs, T=t, generator=generator)[0]
        return self.act_codec.units_to_value(units)

    def _greedy_enum(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Greedy action by enumeration, ties broken uniformly at random."""
        q = self.q_values(obs).tolist()
        top = max(q)
        best = [i for i, x in enumerate(q) if x == top]
        i = (
            best[0]
            if len(best) == 1
            else best[int(torch.randint(len(best), (), generator=generator))]
        )
        return self.act_codec.from_index(i)

    def greedy(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Greedy action: argmax by enumeration, or the best of ``greedy_chains`` annealed Gibbs
        chains ending at ``greedy_T`` (an approximation for huge action sets)."""
        generator = check_generator(generator)
        if self.enumerate:
            return self.act_codec.from_index(int(self.q_values(obs).argmax()))
        units = self.gibbs_actions(
            obs,
            n_chains=self.config.greedy_chains,
            T=self.config.greedy_T,
            keep_best=True,
            generator=generator,
        )
        ns = self.n_state_units
        s = self.encode_state(obs).expand(units.shape[0], ns)
        q = self.q_from_units(torch.cat([s, units], dim=1))
        return self.act_codec.units_to_value(units[int(q.argmax())])

    def q_table(self) -> torch.Tensor:
        """``Q(s, a)`` for all states and actions, ``[S, A]`` (Discrete-like state spaces)."""
        if self._all_actions is None or self.obs_codec.n_values <= 0:
            raise ValueError("q_table needs enumerable state and action spaces")
        S = self.obs_codec.all_units(self.rbm.W.dtype, self.rbm.W.device)  # [S, ns]
        A = self._all_actions
        v = torch.cat(
            [
                S[:, None, :].expand(-1, A.shape[0], -1),
                A[None, :, :].expand(S.shape[0], -1, -1),
            ],
            dim=-1,
        )
        return self.q_from_units(v.reshape(-1, v.shape[-1])).view(S.shape[0], A.shape[0])

    def greedy_policy(self) -> torch.Tensor:
        """Greedy action index of every state, ``[S]``."""
        return self.q_table().argmax(dim=1)

    # -- learning ------------------------------------------------------------------------------
    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """One TD(0)/SARSA step on the RBM parameters (:math:numref:`eq-free-energy-rl-td`); returns
        ``delta``."""
        reward = _check_reward(reward)
        idx = self._active(obs, action)
        sarsa_next = not terminated and self.method == "sarsa"
        if sarsa_next:
            if next_action is None:
                raise ValueError("SARSA needs next_action when the episode goes on")
            # Q(s, a) and Q(s', a') in one batched evaluation
            v = self._visible(idx, self._active(next_obs, next_action, "next_"))
        else:
            v = self._visible(idx)
        q, pre = self._q_visible(v)
        values = q.tolist()
        if terminated:
            nxt = 0.0
        elif sarsa_next:
            nxt = values[1]
        else:
            nxt = float(self._q_all_active(self.obs_codec.active(next_obs, "next_obs")).max())
        delta = _check_delta(reward + self.gamma * nxt - values[0], "FreeEnergyQ")
        step = self.current_lr * delta
        if not abs(step) < 0.5 * torch.finfo(pre.dtype).max:
            _check_delta(math.inf, f"FreeEnergyQ, step lr * delta = {step:g} overflows {pre.dtype}")
        p, v0 = torch.sigmoid(pre[0]), v[0]  # [K], [n_visible]
        W, b, c = self._params()
        # theta += lr delta dQ/dtheta with dQ/dW = v sigma^T, dQ/db = v, dQ/dc = sigma
        W.addr_(v0, p, alpha=step)
        b.add_(v0, alpha=step)
        c.add_(p, alpha=step)
        return delta


# ---------------------------------------------------------------------------------------------
# One TD step for every replay-buffer agent (chapter 9, DQN; chapter 11, soft Q-learning).
def td_targets(
    rewards: torch.Tensor, terminated: torch.Tensor, next_values: torch.Tensor, gamma: float
) -> torch.Tensor:
    r"""TD targets :math:`y = r + \gamma\,(1 - \text{terminated})\,V(s')` (chapter 9, DQN), ``[B]``.

    A terminated transition has no successor value; a truncated one (time limit) is
    bootstrapped like any other. ``rewards``, ``terminated`` (0/1 as floats) and
    ``next_values`` are finite floating ``[B]`` tensors of one dtype and device.
    """
    for name, t in (("rewards", rewards), ("terminated", terminated), ("next_values", next_values)):
        check_tensor(t, name, ndim=1, floating=True)
    check_same_dtype(rewards=rewards, terminated=terminated, next_values=next_values)
    check_same_device(rewards=rewards, terminated=terminated, next_values=next_values)
    if not rewards.shape == terminated.shape == next_values.shape:
        raise ValueError(
            "rewards, terminated and next_values must have one shape [B], got "
            f"{list(rewards.shape)}, {list(terminated.shape)}, {list(next_values.shape)}"
        )
    gamma = check_probability(gamma, "gamma")
    return rewards + gamma * (1.0 - terminated) * next_values


def update_target(net: torch.nn.Module, target: torch.nn.Module, tau: float | None) -> None:
    r"""Copy ``net`` into ``target`` (``tau=None``) or move it by Polyak averaging,
    :math:`\bar\theta \leftarrow (1 - \tau)\bar\theta + \tau\theta`, ``0 <= tau <= 1``."""
    for name, m in (("net", net), ("target", target)):
        if not isinstance(m, torch.nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    if tau is not None:
        tau = check_probability(tau, "tau")
    with torch.no_grad():
        if tau is None:
            for p, pt in zip(net.parameters(), target.parameters(), strict=True):
                pt.copy_(p)
        else:
            for p, pt in zip(net.parameters(), target.parameters(), strict=True):
                pt.lerp_(p, tau)


def td_step(
    qnet: torch.nn.Module,
    target: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Transitions,
    next_value: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    *,
    gamma: float,
    loss: str = "huber",
    grad_clip: float | None = 10.0,
) -> float:
    r"""One gradient step of fitted Q-learning on a minibatch (chapter 9, DQN).

    Minimises the Huber (or squared) loss between :math:`Q_\theta(s, a)` and the fixed target
    :func:`td_targets` with :math:`V(s') =` ``next_value(target, next_obs)`` computed from the
    target network without gradient.

    Parameters
    ----------
    qnet, target : torch.nn.Module
        The network and its target copy; both map ``s`` ``[B, ds]`` and actions ``[B, K, da]``
        to ``[B, K]``.
    optimizer : torch.optim.Optimizer
        Over ``qnet``'s parameters.
    batch : Transitions
        A minibatch from :class:`~ebmlib.rl.buffer.ReplayBuffer` (actions ``[B, da]``).
    next_value : callable ``(net, next_obs) -> [B]``
        The successor value: max over actions, or the soft value.
    gamma : float
    loss : {"huber", "mse"}
    grad_clip : float or None
        Largest gradient norm.

    Returns
    -------
    float
        Mean absolute TD error :math:`|y - Q_\theta(s, a)|` of the minibatch (before the step).
    """
    for name, m in (("qnet", qnet), ("target", target)):
        if not isinstance(m, torch.nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if not isinstance(batch, Transitions):
        raise TypeError(f"batch must be a Transitions minibatch, got {type(batch).__name__}")
    if not callable(next_value):
        raise TypeError(f"next_value must be callable (net, next_obs) -> [B], got {next_value!r}")
    gamma = check_probability(gamma, "gamma")
    check_choice(loss, "loss", ("huber", "mse"))
    if grad_clip is not None:
        grad_clip = check_positive(grad_clip, "grad_clip")
    q = qnet(batch.obs, batch.actions[:, None, :])[:, 0]
    with torch.no_grad():
        y = td_targets(batch.rewards, batch.terminated, next_value(target, batch.next_obs), gamma)
    err = F.smooth_l1_loss(q, y) if loss == "huber" else F.mse_loss(q, y)
    mean_abs = float((y - q.detach()).abs().mean())
    _check_delta(mean_abs, "mean |y - Q| of the minibatch")
    optimizer.zero_grad()
    err.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(qnet.parameters(), grad_clip)
    optimizer.step()
    return mean_abs


def _legacy_schedules(overrides: dict[str, Any], cls_name: str) -> None:
    """Turn the keywords of earlier versions into schedules (with a DeprecationWarning)."""
    old_eps = [k for k in ("epsilon_start", "epsilon_end", "epsilon_decay_steps") if k in overrides]
    if old_eps:
        if "epsilon" in overrides:
            raise TypeError(f"{cls_name}() got both 'epsilon' and {old_eps}; use 'epsilon'")
        warnings.warn(
            f"{cls_name}(): {', '.join(old_eps)} are deprecated; use "
            "epsilon=linear_schedule(start, end, decay_steps)",
            DeprecationWarning,
            stacklevel=4,
        )
        overrides["epsilon"] = LinearSchedule(
            overrides.pop("epsilon_start", 1.0),
            overrides.pop("epsilon_end", 0.05),
            overrides.pop("epsilon_decay_steps", 10_000),
        )
    old_t = [k for k in ("temperature_end", "temperature_decay_steps") if k in overrides]
    if old_t:
        warnings.warn(
            f"{cls_name}(): {', '.join(old_t)} are deprecated; use "
            "T=linear_schedule(T_start, T_end, decay_steps)",
            DeprecationWarning,
            stacklevel=4,
        )
        end = overrides.pop("temperature_end", None)
        steps = overrides.pop("temperature_decay_steps", 10_000)
        start = overrides.get("T", 1.0)
        if end is not None:
            overrides["T"] = LinearSchedule(start, end, steps)


class DeepQAgent(torch.nn.Module):
    r"""Base of the replay-buffer agents: Q-learning with a network, a target copy and replay.

    A subclass only supplies its Q-network through :meth:`make_qnet`; everything else (the
    :class:`~ebmlib.rl.config.DeepQConfig`, the :class:`~ebmlib.rl.buffer.ReplayBuffer`, the
    TD step :func:`td_step`, exploration, the Boltzmann policy and its sampler) is shared.

    **The Q-network** maps states ``s`` ``[B, ds]`` and actions in network units ``[B, K, da]``
    to values ``[B, K]``. Network units are one-hot vectors for a ``Discrete`` action space and
    actions scaled to :math:`[-1, 1]^m` for a ``Box``; states are the raw values of a ``Box`` or
    one-hot units of a discrete space.

    **Acting.** ``exploration="epsilon"``: a uniformly random action with probability
    ``epsilon``, else :meth:`greedy`. ``exploration="boltzmann"``: a draw from
    :math:`\pi(a \mid s) \propto e^{Q(s, a)/T}` (chapter 11,
    :math:numref:`eq-energy-policies-policy`) by
    :meth:`sample_actions`: exact softmax sampling over a finite action set, and for a box
    importance resampling of ``n_action_samples`` uniform proposals followed by
    ``langevin_steps`` Metropolis-adjusted Langevin steps on the action.

    **Learning.** Every step stores the transition; every ``train_every`` steps after
    ``learning_starts`` one :func:`td_step` on a minibatch, with the target value
    :math:`\max_b Q_{\bar\theta}(s', b)` (``backup="max"``) or the soft value
    :math:`T \log \int e^{Q_{\bar\theta}(s', a)/T} da` (``backup="soft"``,
    :math:numref:`eq-energy-policies-softv`); the target
    network is copied every ``target_update`` steps or Polyak-averaged with rate ``tau``.

    Parameters
    ----------
    observation_space : gymnasium space
        ``Box`` (raw values) or ``Discrete``/``MultiDiscrete``/``MultiBinary`` (units).
    action_space : gymnasium space
        ``Discrete``, or a 1-d ``Box`` with finite bounds.
    config : DeepQConfig, optional
        All hyper-parameters (see :class:`~ebmlib.rl.config.DeepQConfig`).
    generator : torch.Generator, optional
        Source of the initial weights, minibatches, proposals and (by default) the actions;
        None: torch's global generator.
    device : optional
        Of the networks and the replay buffer.
    **overrides :
        Single fields of the config (``lr=3e-4``, ``T=0.5``, ...).
    """

    default_exploration = "boltzmann"
    """Exploration used when ``config.exploration`` is None."""

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: DeepQConfig | None = None,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        _legacy_schedules(overrides, type(self).__name__)
        cfg = _build(DeepQConfig, config, overrides)
        self.config = cfg
        observation_space = _space(observation_space, "observation_space")
        action_space = _space(action_space, "action_space")
        if not isinstance(
            observation_space,
            (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        ):
            raise TypeError(
                "observation_space must be a gymnasium Box, Discrete, MultiDiscrete or MultiBinary"
            )
        if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
            raise TypeError("action_space must be a gymnasium Discrete or Box")
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_codec = SpaceCodec(observation_space, "observation_space")
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.generator = check_generator(generator)
        self.exploration = cfg.exploration or self.default_exploration
        self.backup = cfg.backup or ("max" if self.discrete else "soft")
        if not self.discrete and self.backup != "soft":
            raise ValueError(
                "continuous actions need backup='soft' (a max over a box is not exact)"
            )
        self.n_obs = self.obs_codec.n_units
        if self.discrete:
            self.n_actions = int(action_space.n)
            self.action_start = int(action_space.start)
            self.action_dim = self.n_actions  # one-hot units
        else:
            if len(action_space.shape) != 1:
                raise ValueError("a Box action_space must be 1-d")
            self.action_dim = int(action_space.shape[0])
            self._low = torch.as_tensor(action_space.low, dtype=torch.float32)
            self._high = torch.as_tensor(action_space.high, dtype=torch.float32)
            if not bool(torch.isfinite(self._low).all() & torch.isfinite(self._high).all()):
                raise ValueError("a Box action_space must have finite bounds")
        self.qnet = self.make_qnet(self.n_obs, self.action_dim, generator).to(device)
        self.target = copy.deepcopy(self.qnet)
        self.target.requires_grad_(False)
        # foreach: one fused kernel per step for all parameters (the same update, fewer launches)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=cfg.lr, foreach=True)
        self.buffer = ReplayBuffer(
            cfg.buffer_size, self.n_obs, self.action_dim, device=self._device
        )
        self.steps = 0
        self.episode = 0
        if not self.discrete:
            sob = torch.quasirandom.SobolEngine(self.action_dim, scramble=True, seed=0)
            self._greedy_grid = (sob.draw(cfg.n_greedy) * 2 - 1).to(self._device)  # [G, da]

    def make_qnet(
        self, obs_dim: int, action_dim: int, generator: torch.Generator | None
    ) -> torch.nn.Module:
        """The Q-network ``(s [B, obs_dim], a [B, K, action_dim]) -> [B, K]`` (subclasses)."""
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return next(self.qnet.parameters()).device

    @property
    def size(self) -> int:
        """Number of transitions in the replay buffer."""
        return len(self.buffer)

    def begin_episode(self, episode: int) -> None:
        """Record the episode number (the schedules run on environment steps)."""
        self.episode = check_int(episode, "episode", minimum=0)

    @property
    def current_epsilon(self) -> float:
        """Epsilon at the current step count."""
        return schedule_value(self.config.epsilon, self.steps, "epsilon", "probability")

    @property
    def current_T(self) -> float:
        """Policy (and soft-backup) temperature at the current step count."""
        return schedule_value(self.config.T, self.steps, "T")

    @property
    def current_temperature(self) -> float:
        """Deprecated alias of :attr:`current_T`."""
        warnings.warn(
            "current_temperature is deprecated; use current_T", DeprecationWarning, stacklevel=2
        )
        return self.current_T

    def _s(self, obs: Any, what: str = "obs") -> torch.Tensor:
        """Observation -> network input ``[1, n_obs]`` (values for a Box, else one-hot units)."""
        if self.obs_codec.kind != "box":
            units = self.obs_codec.to_units(obs, what, torch.float32, self._device)
            return units.reshape(1, -1)
        x = self.obs_codec.check(obs, what)
        if not np.isfinite(x).all():
            raise ValueError(f"{what} must be finite, got {x.tolist()}")
        return torch.as_tensor(x, dtype=torch.float32).reshape(1, -1).to(self._device)

    def to_units(self, action: Any, what: str = "action") -> torch.Tensor:
        """Environment action -> network units ``[da]`` (one-hot, or scaled to [-1, 1]);
        ``what`` names the action in error messages."""
        if not isinstance(what, str):
            raise TypeError(f"what must be a str (a name for messages), got {type(what).__name__}")
        if self.discrete:
            if isinstance(action, torch.Tensor | np.ndarray):
                if action.size != 1 if isinstance(action, np.ndarray) else action.numel() != 1:
                    raise ValueError(f"{what} must be a single integer, got shape {action.shape}")
                action = action.item()
            if isinstance(action, bool) or not isinstance(action, int | np.integer):
                raise TypeError(f"{what} must be an integer, got {type(action).__name__}")
            a = int(action) - self.action_start
            if not 0 <= a < self.n_actions:
                raise ValueError(f"{what} must be in the action_space, got {action}")
            return F.one_hot(torch.tensor(a), self.n_actions).float()
        a = torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(-1)
        if a.shape[0] != self.action_dim:
            raise ValueError(f"{what} must have {self.action_dim} entries, got {a.shape[0]}")
        if not bool(torch.isfinite(a).all()):
            raise ValueError(f"{what} must be finite, got {a.tolist()}")
        return 2 * (a - self._low) / (self._high - self._low) - 1

    def from_units(self, u: torch.Tensor) -> Any:
        """Network units ``[da]`` (real, finite) -> environment action (an int, or a float32
        array in the box)."""
        check_tensor(u, "u", ndim=1, floating=True, shape=(self.action_dim,))
        if self.discrete:
            return int(u.argmax()) + self.action_start
        u = u.detach().cpu().clamp(-1, 1)
        return (self._low + (u + 1) * 0.5 * (self._high - self._low)).numpy()

    _from_unit = from_units  # older private name, used by earlier demos

    def _all_actions(self, batch: int) -> torch.Tensor:
        eye = torch.eye(self.n_actions, device=self._device)
        return eye[None].expand(batch, -1, -1)

    def _q_all(self, net: torch.nn.Module, s: torch.Tensor) -> torch.Tensor:
        """``Q(s, .)`` ``[B, A]`` over a finite action set (a network's ``q_all`` when it has
        one, else the network on one-hot actions)."""
        q_all = getattr(net, "q_all", None)
        if q_all is not None:
            return q_all(s)
        return net(s, self._all_actions(s.shape[0]))

    def _batch(self, s: Any, name: str, net: Any) -> torch.nn.Module:
        """Check a batch of network inputs ``[B, n_obs]`` against ``net`` (default the online
        network); return the network."""
        net = self.qnet if net is None else net
        if not isinstance(net, torch.nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        check_tensor(s, name, ndim=2, floating=True, shape=(None, self.n_obs))
        p = next(net.parameters(), None)
        if p is not None:
            if s.device != p.device:
                raise ValueError(f"{name} is on {s.device} but the network is on {p.device}")
            if s.dtype != p.dtype:
                raise TypeError(f"{name} must have the network's dtype {p.dtype}, got {s.dtype}")
        return net

    # -- values --------------------------------------------------------------------------------
    def q(self, obs: Any, actions: Any) -> torch.Tensor:
        """``Q(s, a)`` for one observation and a list of actions, ``[K]``."""
        u = torch.stack([self.to_units(a) for a in actions]).to(self._device)
        with torch.no_grad():
            return self.qnet(self._s(obs), u[None])[0]

    def q_values(self, obs: Any) -> torch.Tensor:
        """``Q(s, .)`` over all actions (discrete action spaces), ``[A]``."""
        if not self.discrete:
            raise TypeError("q_values needs a Discrete action_space; use q(obs, actions)")
        with torch.no_grad():
            return self._q_all(self.qnet, self._s(obs))[0]

    @renamed_argument("alpha", "T", since=_SINCE)
    @torch.no_grad()
    def soft_value(
        self, s: torch.Tensor, T: float, net: torch.nn.Module | None = None
    ) -> torch.Tensor:
        r"""Soft value :math:`V(s) = T\log\int e^{Q(s,a)/T} da`
        (:math:numref:`eq-energy-policies-softv`), ``[B]``.

        A sum over the actions when they are discrete; for a box, the importance-sampling
        estimate with ``n_action_samples`` uniform proposals on the unit-scaled box
        :math:`[-1, 1]^m` (volume :math:`2^m`), which is biased low for a finite number of
        proposals (Jensen's inequality: :math:`E \log \hat Z \le \log Z`).
        """
        T = check_positive(T, "T")
        net = self._batch(s, "s", net)
        if self.discrete:
            return T * torch.logsumexp(self._q_all(net, s) / T, -1)
        k = self.config.n_action_samples
        u = torch.rand(s.shape[0], k, self.action_dim, generator=self.generator) * 2 - 1
        q = net(s, u.to(s.device))
        log_vol = self.action_dim * math.log(2.0)
        return T * (torch.logsumexp(q / T, -1) - math.log(k) + log_vol)

    def max_value(self, s: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor:
        r""":math:`\max_a Q(s, a)` over a finite action set, ``[B]``."""
        net = self._batch(s, "s", net)
        with torch.no_grad():
            return self._q_all(net, s).max(-1).values

    @renamed_argument("alpha", "T", since=_SINCE)
    def sample_actions(
        self,
        obs: Any,
        n: int = 1,
        *,
        T: float | None = None,
        generator: torch.Generator | None = None,
        langevin_steps: int | None = None,
    ) -> torch.Tensor:
        r"""Draw ``n`` actions (in network units) from :math:`\pi \propto e^{Q(s,\cdot)/T}`.

        Discrete: exact softmax sampling; returns indices ``[n]``. Box: ``n_action_samples``
        uniform proposals per draw, one resampled by weight :math:`e^{Q/T}`, then
        ``langevin_steps`` MALA steps on the energy :math:`-Q(s, \cdot)/T` restricted to
        :math:`[-1, 1]^m`; returns ``[n, m]`` (:math:numref:`eq-energy-policies-mala`). ``T``
        defaults to the current
        temperature; ``generator`` to the agent's (None: torch's global generator).
        """
        n = check_int(n, "n", minimum=1)
        T = self.current_T if T is None else check_positive(T, "T")
        g = self.generator if generator is None else check_generator(generator)
        s = self._s(obs)
        if self.discrete:
            with torch.no_grad():
                q = self._q_all(self.qnet, s)[0]
            p = torch.softmax(q / T, -1).cpu()
            return torch.multinomial(p, n, replacement=True, generator=g)
        k = self.config.n_action_samples
        u = torch.rand(n, k, self.action_dim, generator=g) * 2 - 1
        u = u.to(self._device)
        with torch.no_grad():
            q = self.qnet(s.expand(n, -1), u)  # [n, k]
            pick = torch.multinomial(torch.softmax(q / T, -1).cpu(), 1, generator=g)[:, 0]
        a0 = u[torch.arange(n), pick.to(self._device)]  # [n, m]
        steps = self.config.langevin_steps if langevin_steps is None else langevin_steps
        steps = check_int(steps, "langevin_steps", minimum=0)
        if steps == 0:
            return a0
        from .models import langevin_sample

        sn = s.expand(n, -1)

        def energy(a: torch.Tensor) -> torch.Tensor:
            return -self.qnet(sn, a[:, None, :])[:, 0] / T

        self.qnet.requires_grad_(False)
        try:
            out = langevin_sample(
                energy,
                a0,
                self.config.langevin_step_size,
                steps,
                g if g is None or g.device == a0.device else None,
                bounds=(-1.0, 1.0),
                metropolis=True,
            )
        finally:
            self.qnet.requires_grad_(True)
        return out

    # -- interface -----------------------------------------------------------------------------
    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """An exploratory action: epsilon-greedy, or a draw from the Boltzmann policy."""
        check_generator(generator)
        self._s(obs)  # checked even where the action is drawn at random
        g = self.generator if generator is None else generator
        if self.exploration == "epsilon":
            if float(torch.rand((), generator=g)) < self.current_epsilon:
                if self.discrete:
                    return int(torch.randint(self.n_actions, (), generator=g)) + self.action_start
                u = torch.rand(self.action_dim, generator=g) * 2 - 1
                return self.from_units(u)
            return self.greedy(obs)
        a = self.sample_actions(obs, 1, generator=g)
        if self.discrete:
            return int(a[0]) + self.action_start
        return self.from_units(a[0])

    def greedy(self, obs: Any) -> Any:
        """``argmax_a Q(s, a)``: enumeration, or a fixed quasi-random grid of the action box."""
        if self.discrete:
            return int(self.q_values(obs).argmax()) + self.action_start
        with torch.no_grad():
            q = self.qnet(self._s(obs), self._greedy_grid[None])[0]
        return self.from_units(self._greedy_grid[int(q.argmax())])

    def next_value(self, net: torch.nn.Module, next_obs: torch.Tensor) -> torch.Tensor:
        """The successor value of the TD target: max or soft value at the current ``T``."""
        self._batch(next_obs, "next_obs", net)
        if self.backup == "max":
            return self.max_value(next_obs, net)
        return self.soft_value(next_obs, self.current_T, net)

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """Store the transition and, every ``train_every`` steps, take one :func:`td_step`.

        Returns the mean absolute TD error of the minibatch (0 before learning starts). A NaN
        or infinite reward, or a non-finite observation, raises a ``ValueError``.
        """
        reward = _check_reward(reward)
        cfg = self.config
        self.buffer.add(
            self._s(obs)[0], self.to_units(action), reward, self._s(next_obs, "next_obs")[0],
            bool(terminated),
        )  # fmt: skip
        self.steps += 1
        if cfg.tau is None and self.steps % cfg.target_update == 0:
            update_target(self.qnet, self.target, None)
        if self.steps < cfg.learning_starts or self.steps % cfg.train_every:
            return 0.0
        batch = self.buffer.sample(cfg.batch_size, self.generator)
        err = td_step(
            self.qnet,
            self.target,
            self.optimizer,
            batch,
            self.next_value,
            gamma=cfg.gamma,
            loss=cfg.loss,
            grad_clip=cfg.grad_clip,
        )
        if cfg.tau is not None:
            update_target(self.qnet, self.target, cfg.tau)
        return err


class DQN(DeepQAgent):
    r"""A deep Q-network (Mnih et al. 2015): an MLP with one output per action.

    :math:`Q_\theta(s, \cdot) = \mathrm{MLP}(s) \in \R^{A}`; epsilon-greedy by default, max
    backup, Huber loss, replay buffer and target network (chapter 9). Everything but the network
    is :class:`DeepQAgent`; the hyper-parameters are a :class:`~ebmlib.rl.config.DeepQConfig`.

    Parameters
    ----------
    observation_space : Box or Discrete/MultiDiscrete/MultiBinary
    action_space : Discrete
    config : DeepQConfig, optional
    generator : torch.Generator, optional
        None: torch's global generator.
    device : optional
    **overrides :
        Single fields of the config (``hidden=(128, 128)``, ``lr=5e-4``, ...).
    """

    default_exploration = "epsilon"

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: DeepQConfig | None = None,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(_space(action_space, "action_space"), spaces.Discrete):
            raise TypeError("DQN needs a Discrete action_space")
        super().__init__(
            observation_space,
            action_space,
            config,
            generator=generator,
            device=device,
            **overrides,
        )

    def make_qnet(
        self, obs_dim: int, action_dim: int, generator: torch.Generator | None
    ) -> torch.nn.Module:
        """An MLP with one output per action (``QHeadNet``)."""
        obs_dim = check_int(obs_dim, "obs_dim", minimum=1)
        action_dim = check_int(action_dim, "action_dim", minimum=1)
        return QHeadNet(obs_dim, action_dim, self.config.hidden, generator)

    @property
    def net(self) -> torch.nn.Module:
        """The MLP ``s -> Q(s, .)`` (``[B, ds] -> [B, A]``)."""
        return self.qnet.net
