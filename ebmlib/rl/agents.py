"""Agents: tabular Q-learning/SARSA, the free-energy (RBM) Q-function, and a small DQN.

All agents share one small interface used by :func:`ebmlib.rl.training.train`:

* ``act(obs, generator=None)``: an exploratory action (epsilon-greedy or Boltzmann);
* ``greedy(obs)``: the action with the highest estimated value;
* ``update(obs, action, reward, next_obs, next_action, terminated)``: one learning step
  (``next_action`` is the action the agent will take next, used by SARSA; it is ``None`` when
  the episode terminated). Returns the TD error ``delta`` as a float;
* ``begin_episode(episode)``: lets exploration schedules depend on the episode number.

Exploration parameters (``epsilon``, ``temperature``) are floats or callables
``episode -> float``.

See chapter 9 (:ref:`chapter-rl`) for Q-learning and SARSA and chapter 10
(:ref:`chapter-free-energy-rl`) for :class:`FreeEnergyQ`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from .._validation import (
    check_choice,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
)
from ._nets import _mlp, _seeded_init
from ._spaces import SpaceCodec

__all__ = [
    "TabularQ",
    "FreeEnergyQ",
    "DQN",
    "IndependentQ",
    "RandomAgent",
    "linear_schedule",
    "boltzmann_probabilities",
]

Schedule = float | Callable[[int], float]


def linear_schedule(start: float, end: float, duration: int) -> Callable[[int], float]:
    """A schedule ``t -> start + (end - start) * min(t / duration, 1)`` for exploration.

    Parameters
    ----------
    start, end : float
        Values at ``t = 0`` and for ``t >= duration``.
    duration : int
        Number of episodes (or steps) of the ramp, >= 1.
    """
    duration = check_int(duration, "duration", minimum=1)
    start = float(start)
    end = float(end)

    def schedule(t: int) -> float:
        return start + (end - start) * min(t / duration, 1.0)

    return schedule


def _check_schedule(value: Schedule, name: str, positive: bool) -> Schedule:
    if callable(value):
        return value
    if positive:
        return check_positive(value, name)
    return check_probability(value, name)


def _space(value: Any, name: str) -> spaces.Space:
    if isinstance(value, spaces.Space):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return spaces.Discrete(check_int(value, name, minimum=1))
    raise TypeError(f"{name} must be a gymnasium space or a positive int, got {type(value)}")


def boltzmann_probabilities(q: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Boltzmann (softmax) exploration ``pi(a|s) = exp(Q(s,a)/T) / sum_b exp(Q(s,b)/T)``.

    Chapter 9, eq. (9.8). ``q`` is ``[..., A]``; the result has the same shape.
    """
    temperature = check_positive(temperature, "temperature")
    return torch.softmax(q / temperature, dim=-1)


class _Agent:
    """Shared bookkeeping: spaces, exploration schedules, episode counter."""

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        gamma: float,
        exploration: str,
        epsilon: Schedule,
        temperature: Schedule,
    ) -> None:
        self.observation_space = _space(observation_space, "observation_space")
        self.action_space = _space(action_space, "action_space")
        self.obs_codec = SpaceCodec(self.observation_space, "observation_space")
        self.act_codec = SpaceCodec(self.action_space, "action_space")
        self.gamma = check_probability(gamma, "gamma")
        self.exploration = check_choice(exploration, "exploration", ("epsilon", "boltzmann"))
        self.epsilon = _check_schedule(epsilon, "epsilon", positive=False)
        self.temperature = _check_schedule(temperature, "temperature", positive=True)
        self.episode = 0

    def begin_episode(self, episode: int) -> None:
        """Tell the agent which episode starts (drives the exploration schedules)."""
        self.episode = int(episode)

    @property
    def current_epsilon(self) -> float:
        """Epsilon of the current episode."""
        e = self.epsilon(self.episode) if callable(self.epsilon) else self.epsilon
        return check_probability(e, "epsilon")

    @property
    def current_temperature(self) -> float:
        """Boltzmann temperature of the current episode."""
        t = self.temperature(self.episode) if callable(self.temperature) else self.temperature
        return check_positive(t, "temperature")


# ---------------------------------------------------------------------------------------------
class TabularQ(_Agent):
    r"""Tabular Q-learning or SARSA with epsilon-greedy or Boltzmann exploration.

    The update (chapter 9, eqs. (9.6)-(9.7)) is

    .. math:: Q(s,a) \leftarrow Q(s,a) + \eta\,[r + \gamma\,Q' - Q(s,a)]

    with ``Q' = max_b Q(s', b)`` (Q-learning, ``method="q"``) or ``Q' = Q(s', a')`` for the
    action actually taken next (SARSA, ``method="sarsa"``), and ``Q' = 0`` after a terminating
    step.

    Parameters
    ----------
    observation_space, action_space : gymnasium space or int
        ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` (an int ``n`` means ``Discrete(n)``).
        Composite spaces are flattened to one table index (joint states and joint actions).
    lr : float
        Learning rate ``eta`` in (0, 1].
    gamma : float
        Discount factor.
    method : {"q", "sarsa"}
    exploration : {"epsilon", "boltzmann"}
    epsilon : float or callable
        Exploration rate (or schedule ``episode -> epsilon``).
    temperature : float or callable
        Boltzmann temperature (or schedule).
    q_init : float
        Initial table value (optimistic values encourage exploration).
    max_entries : int
        Refuse tables larger than this (they are impractical; use :class:`FreeEnergyQ`).

    Attributes
    ----------
    table : numpy.ndarray ``[S, A]`` (float64)
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        lr: float = 0.1,
        gamma: float = 0.99,
        method: str = "q",
        exploration: str = "epsilon",
        epsilon: Schedule = 0.1,
        temperature: Schedule = 1.0,
        q_init: float = 0.0,
        max_entries: int = 50_000_000,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            gamma=gamma,
            exploration=exploration,
            epsilon=epsilon,
            temperature=temperature,
        )
        self.lr = check_probability(lr, "lr", open_left=True)
        self.method = check_choice(method, "method", ("q", "sarsa"))
        for codec in (self.obs_codec, self.act_codec):
            if codec.kind == "box" or codec.n_values <= 0:
                raise ValueError(f"{codec.name} is too large or continuous for a table")
        n = self.obs_codec.n_values * self.act_codec.n_values
        if n > check_int(max_entries, "max_entries", minimum=1):
            raise ValueError(
                f"a table with {self.obs_codec.n_values} states x {self.act_codec.n_values} "
                f"actions = {n} entries exceeds max_entries={max_entries}; a table is "
                "impractical here (use FreeEnergyQ)"
            )
        self.table = np.full(
            (self.obs_codec.n_values, self.act_codec.n_values), float(q_init), dtype=np.float64
        )

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
        p = boltzmann_probabilities(torch.from_numpy(row), self.current_temperature)
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
        """One Q-learning or SARSA step (eq. (9.6) or (9.7)); returns the TD error."""
        s = self.obs_codec.to_index(obs, "obs")
        a = self.act_codec.to_index(action, "action")
        if terminated:
            target = float(reward)
        else:
            s2 = self.obs_codec.to_index(next_obs, "next_obs")
            if self.method == "q":
                nxt = self.table[s2].max()
            else:
                if next_action is None:
                    raise ValueError("SARSA needs next_action when the episode goes on")
                nxt = self.table[s2, self.act_codec.to_index(next_action, "next_action")]
            target = float(reward) + self.gamma * nxt
        delta = target - self.table[s, a]
        self.table[s, a] += self.lr * delta
        return float(delta)


# ---------------------------------------------------------------------------------------------
class RandomAgent(_Agent):
    """Uniformly random actions (a baseline); learns nothing."""

    def __init__(self, observation_space: Any, action_space: Any) -> None:
        super().__init__(
            observation_space,
            action_space,
            gamma=1.0,
            exploration="epsilon",
            epsilon=1.0,
            temperature=1.0,
        )

    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """A uniformly random action."""
        check_generator(generator)
        return _random_action(self.act_codec, generator)

    def greedy(self, obs: Any) -> Any:
        """Random as well: the random agent has no values."""
        return self.act(obs)

    def update(self, *args: Any, **kwargs: Any) -> float:
        """Nothing to learn."""
        return 0.0


def _random_action(c: SpaceCodec, generator: torch.Generator | None) -> Any:
    """A uniformly random value of the space behind ``c``."""
    if c.kind == "discrete":
        return int(torch.randint(c.n_units, (), generator=generator)) + c.start
    if c.kind == "multidiscrete":
        u = torch.rand(len(c.groups), generator=generator).numpy()
        return (u * np.asarray(c.groups)).astype(np.int64) + c.start_vec
    if c.kind == "multibinary":
        return (torch.rand(c.n_units, generator=generator) < 0.5).to(torch.int8).numpy()
    raise TypeError("RandomAgent supports Discrete, MultiDiscrete and MultiBinary actions")


# ---------------------------------------------------------------------------------------------
class IndependentQ(_Agent):
    r"""Independent per-agent tabular learners for a factored (``MultiDiscrete``) action.

    Learner ``i`` sees the positions of itself and of the blockers only (the components listed in
    ``views[i]``), picks its own component of the joint action, and is trained by Q-learning on
    the shared team reward as if the other agents were part of the environment. This is the
    decentralised baseline of chapter 10 on the Blocker task.

    Parameters
    ----------
    observation_space : MultiDiscrete
    action_space : MultiDiscrete
        One component per learner.
    views : list of list of int
        The observation components each learner sees.
    **kwargs :
        Passed to each :class:`TabularQ` (``lr``, ``gamma``, ``epsilon``, ...).
    """

    def __init__(
        self,
        observation_space: spaces.MultiDiscrete,
        action_space: spaces.MultiDiscrete,
        views: list[list[int]],
        **kwargs: Any,
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
        super().__init__(
            observation_space,
            action_space,
            gamma=kwargs.get("gamma", 0.99),
            exploration=kwargs.get("exploration", "epsilon"),
            epsilon=kwargs.get("epsilon", 0.1),
            temperature=kwargs.get("temperature", 1.0),
        )
        self.views = [list(map(int, v)) for v in views]
        self.learners = [
            TabularQ(
                spaces.MultiDiscrete(observation_space.nvec[v]),
                spaces.Discrete(int(n)),
                **kwargs,
            )
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

    (chapter 10, eq. (10.1)). Its gradient has a closed form (eq. (10.2)):
    ``dQ/db = v``, ``dQ/dc = sigma(c + v^T W)``, ``dQ/dW = v sigma(c + v^T W)^T``, and learning
    is the TD(0) / SARSA rule ``theta += lr * delta * dQ(s,a)/dtheta`` with
    ``delta = r + gamma Q(s', a') - Q(s, a)`` (eq. (10.3); ``method="q"`` uses
    ``max_b Q(s', b)`` instead, by enumeration).

    **Action selection.** With few joint actions (``<= max_enumerate``) the agent enumerates
    them and samples from ``softmax(Q(s, .)/T)`` (Boltzmann) or acts epsilon-greedily. With a
    huge factored action set it runs annealed block Gibbs sampling over the hidden and action
    units with the state units clamped (:meth:`gibbs_actions`).

    **Temperature semantics.** Gibbs sampling at temperature ``T`` samples the joint
    ``p(a, h | s) ~ exp(-E(s, a, h) / T)``; its action marginal is
    ``sum_h exp(-E/T) = exp(-F_T(s, a)/T)`` with
    ``F_T = -v^T b - T sum_j softplus((c_j + v^T W_{:,j}) / T)``, which equals
    ``exp(-F(s, a)/T) = exp(Q(s, a)/T)`` **only at T = 1** (eq. (10.6)). So annealed Gibbs
    samples follow ``exp(Q)`` when the schedule ends at ``T = 1``; at a final ``T < 1`` they
    concentrate on low-energy actions, but not exactly as ``softmax(Q/T)``. Enumeration, in
    contrast, samples ``softmax(Q/T)`` exactly at every ``T``.

    Parameters
    ----------
    observation_space, action_space : gymnasium space or int
        ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``.
    n_hidden : int
        Number of hidden units ``K``.
    lr : float or callable
        Learning rate of the TD update (or a schedule ``episode -> lr``).
    gamma : float
        Discount factor.
    method : {"sarsa", "q"}
    exploration : {"boltzmann", "epsilon"}
    temperature, epsilon : float or callable
        Exploration parameters (or schedules over episodes).
    action_selection : {"auto", "enumerate", "gibbs"}
        ``"auto"`` enumerates when the action set has at most ``max_enumerate`` elements.
    max_enumerate : int
    gibbs_sweeps : int
        Sweeps of annealed Gibbs sampling per action choice.
    gibbs_start_temperature : float
        First temperature of the (geometric) annealing schedule.
    greedy_temperature : float
        Final temperature used by :meth:`greedy` in Gibbs mode (with ``greedy_chains`` chains,
        keeping the best action seen).
    greedy_chains : int
    init_std : float
        Standard deviation of the initial weights; see the symmetry trap in chapter 10.
    offset_correction : bool or {"klog2", "mean"}
        Remove the initial value offset (chapter 10, eq. (10.4)) through the biases of the state
        units: ``True`` or ``"klog2"`` subtracts ``K log 2`` (exact at ``W = 0``), ``"mean"``
        subtracts the measured mean offset of the random initial weights, which is larger (see
        ``_correct_offset``). Default False: the plain RBM.
    generator : torch.Generator, optional
        Source of the initial weights.
    dtype, device :
        Of the RBM parameters.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        n_hidden: int = 16,
        *,
        lr: Schedule = 0.01,
        gamma: float = 0.99,
        method: str = "sarsa",
        exploration: str = "boltzmann",
        temperature: Schedule = 1.0,
        epsilon: Schedule = 0.1,
        action_selection: str = "auto",
        max_enumerate: int = 1024,
        gibbs_sweeps: int = 20,
        gibbs_start_temperature: float = 4.0,
        greedy_temperature: float = 0.05,
        greedy_chains: int = 8,
        init_std: float = 0.1,
        offset_correction: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        from ..rbm import RBM

        super().__init__(
            observation_space,
            action_space,
            gamma=gamma,
            exploration=exploration,
            epsilon=epsilon,
            temperature=temperature,
        )
        for codec in (self.obs_codec, self.act_codec):
            if codec.kind == "box":
                raise TypeError(f"{codec.name}: FreeEnergyQ needs discrete or binary units")
        self.lr = lr if callable(lr) else check_positive(lr, "lr")
        self.method = check_choice(method, "method", ("sarsa", "q"))
        self.action_selection = check_choice(
            action_selection, "action_selection", ("auto", "enumerate", "gibbs")
        )
        self.max_enumerate = check_int(max_enumerate, "max_enumerate", minimum=1)
        n_act = self.act_codec.n_values
        enumerable = 0 < n_act <= self.max_enumerate
        if self.action_selection == "enumerate" and not enumerable:
            raise ValueError(
                f"action_selection='enumerate' needs at most max_enumerate={self.max_enumerate} "
                "actions; this action space is larger (use 'gibbs')"
            )
        self.enumerate = self.action_selection == "enumerate" or (
            self.action_selection == "auto" and enumerable
        )
        if self.method == "q" and not self.enumerate:
            raise ValueError("method='q' needs enumerable actions; use method='sarsa'")
        self.gibbs_sweeps = check_int(gibbs_sweeps, "gibbs_sweeps", minimum=1)
        self.gibbs_start_temperature = check_positive(
            gibbs_start_temperature, "gibbs_start_temperature"
        )
        self.greedy_temperature = check_positive(greedy_temperature, "greedy_temperature")
        self.greedy_chains = check_int(greedy_chains, "greedy_chains", minimum=1)
        check_nonnegative(init_std, "init_std")
        check_generator(generator)
        self.n_state_units = self.obs_codec.n_units
        self.n_action_units = self.act_codec.n_units
        self.rbm = RBM(
            self.n_state_units + self.n_action_units,
            check_int(n_hidden, "n_hidden", minimum=1),
            init_std=init_std,
            generator=generator,
            dtype=dtype,
            device=device,
        )
        self.rbm.requires_grad_(False)
        # the action set is enumerated whenever it is small, also in Gibbs mode (for checks)
        self._all_actions = (
            self.act_codec.all_units(dtype, self.rbm.W.device) if enumerable else None
        )
        self._all_actions_np = (
            self._all_actions.detach().cpu().numpy() if self._all_actions is not None else None
        )
        if offset_correction not in (False, True, "klog2", "mean"):
            raise ValueError(
                "offset_correction must be False, True, 'klog2' or 'mean', "
                f"got {offset_correction!r}"
            )
        if offset_correction:
            self._correct_offset("mean" if offset_correction == "mean" else "klog2")

    def _correct_offset(self, mode: str) -> None:
        """Remove the initial value offset through the biases of the state units.

        At initialisation every hidden unit adds ``softplus(c_j + v^T W_{:,j})`` to ``Q``: exactly
        ``log 2`` at ``W = 0`` (eq. (10.4)) and more on average for random weights (softplus is
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
                offset = torch.nn.functional.softplus(c + W[s] + hid_a).sum(-1).mean()
                self.rbm.b.data[s] -= offset
            return
        states = [
            self.obs_codec.to_units(_random_action(self.obs_codec, gen), "s", W.dtype, W.device)
            for _ in range(256)
        ]
        S = torch.stack(states)
        pick = torch.randint(A.shape[0], (256,), generator=gen)
        offset = torch.nn.functional.softplus(c + S @ W[:ns] + hid_a[pick]).sum(-1).mean()
        self.rbm.b.data[: self.obs_codec.groups[0]] -= offset

    # -- CPU fast path: numpy views that share memory with the RBM parameters ------------------
    def _views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        W = self.rbm.W
        if W.device.type != "cpu":
            return None
        return W.detach().numpy(), self.rbm.b.detach().numpy(), self.rbm.c.detach().numpy()

    def _np_field(self, s_idx: np.ndarray, views: tuple) -> tuple[np.ndarray, float]:
        W, b, c = views
        return c + W[s_idx].sum(0), float(b[s_idx].sum())

    def _np_q_all(self, s_idx: np.ndarray, views: tuple) -> np.ndarray:
        W, b, c = views
        ns = self.n_state_units
        x, sb = self._np_field(s_idx, views)
        if self.act_codec.kind == "discrete":
            pre = x + W[ns:]
            lin = b[ns:]
        else:
            A = self._all_actions_np
            pre = x + A @ W[ns:]
            lin = A @ b[ns:]
        return sb + lin + np.logaddexp(0.0, pre).sum(1)

    def _np_q(self, idx: np.ndarray, views: tuple) -> tuple[float, np.ndarray]:
        W, b, c = views
        pre = c + W[idx].sum(0)
        return float(b[idx].sum() + np.logaddexp(0.0, pre).sum()), pre

    def _idx(self, obs: Any, action: Any, what: str = "") -> np.ndarray:
        s = self.obs_codec.active(obs, what + "obs")
        a = self.act_codec.active(action, what + "action") + self.n_state_units
        return np.concatenate([s, a])

    @property
    def current_lr(self) -> float:
        """Learning rate of the current episode (``lr`` may be a schedule ``episode -> lr``)."""
        lr = self.lr(self.episode) if callable(self.lr) else self.lr
        return check_positive(lr, "lr")

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

    # -- values --------------------------------------------------------------------------------
    def q_from_units(self, v: torch.Tensor) -> torch.Tensor:
        """``Q = -F(v)`` for visible vectors ``[..., n_visible]`` (eq. (10.1))."""
        return -self.rbm.free_energy(v)

    def q(self, obs: Any, action: Any) -> float:
        """``Q(s, a) = -F(s, a)`` as a float."""
        views = self._views()
        if views is not None:
            return self._np_q(self._idx(obs, action), views)[0]
        return float(self.q_from_units(self.encode(obs, action)))

    def q_gradient(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""Closed-form gradient of ``Q = -F(v)`` with respect to the RBM parameters.

        ``dQ/dW = v sigma(c + v^T W)^T`` (``[n_visible, K]``), ``dQ/db = v``,
        ``dQ/dc = sigma(c + v^T W)`` (chapter 10, eq. (10.2)). ``v`` is ``[n_visible]``.
        """
        v = self.rbm._check_v(v, "v")
        if v.dim() != 1:
            raise ValueError(f"v must be one visible vector [n_visible], got {tuple(v.shape)}")
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
        views = self._views()
        if views is not None:
            q = self._np_q_all(self.obs_codec.active(obs, "obs"), views)
            return torch.from_numpy(q)
        return self._q_all(self.encode_state(obs))

    def _q_all(self, s_units: torch.Tensor) -> torch.Tensor:
        ns = self.n_state_units
        x, sb = self._state_field(s_units)  # [K], []
        A = self._all_actions  # [n_actions, n_action_units]
        return sb + A @ self.rbm.b[ns:] + F.softplus(x + A @ self.rbm.W[ns:]).sum(-1)

    def action_probabilities(self, obs: Any, temperature: float = 1.0) -> torch.Tensor:
        """Exact Boltzmann policy ``softmax(Q(s, .)/T)`` by enumeration, ``[n_actions]``."""
        return boltzmann_probabilities(self.q_values(obs), temperature)

    def gibbs_log_weights(self, obs: Any, temperature: float = 1.0) -> torch.Tensor:
        r"""Unnormalised log action marginal of Gibbs sampling at fixed ``T``, ``[n_actions]``.

        ``log sum_h exp(-E(s,a,h)/T) = v^T b / T + sum_j softplus((c_j + v^T W_{:,j}) / T)``
        (eq. (10.6)); it equals ``Q(s,a)/T = -F(s,a)/T`` only at ``T = 1``. Needs enumerable
        actions.
        """
        if self._all_actions is None:
            raise ValueError("gibbs_log_weights needs an enumerable action space")
        t = check_positive(temperature, "temperature")
        ns = self.n_state_units
        s = self.encode_state(obs)
        x, sb = self._state_field(s)
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
            return (torch.rand(p.shape, generator=generator, dtype=p.dtype) < p).to(p.dtype)
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

    def gibbs_actions(
        self,
        obs: Any,
        *,
        n_chains: int = 1,
        sweeps: int | None = None,
        start_temperature: float | None = None,
        temperature: float = 1.0,
        keep_best: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""Annealed block Gibbs sampling of actions with the state units clamped.

        Each sweep at temperature ``T_t`` samples ``h ~ p(h | s, a)`` with
        ``p(h_j = 1) = sigma((c_j + v^T W_{:,j}) / T_t)`` and then every action group given
        ``h`` (a categorical draw per one-hot group, a Bernoulli draw per binary unit) from the
        field ``(b_a + W_a h) / T_t`` (eq. (10.5)). The temperatures decrease geometrically from
        ``start_temperature`` to ``temperature``. At a fixed ``T = 1`` the chain's stationary
        action distribution is ``exp(-F(s, a)) / Z(s) = softmax(Q(s, .))``; at other ``T`` it is
        ``exp(-F_T(s, a)/T)`` (see :meth:`gibbs_log_weights`), not ``softmax(Q/T)``.

        Parameters
        ----------
        obs :
            The (clamped) state.
        n_chains : int
            Independent chains run in parallel.
        sweeps : int, optional
            Number of sweeps (default ``gibbs_sweeps``).
        start_temperature : float, optional
            First temperature (default ``gibbs_start_temperature``; use ``temperature`` itself
            for no annealing).
        temperature : float
            Final temperature.
        keep_best : bool
            Return, per chain, the action with the highest ``Q`` seen along the chain instead of
            the last sample (an optimiser, no longer a sampler).
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor ``[n_chains, n_action_units]``
            Action unit vectors.
        """
        check_generator(generator)
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        sweeps = self.gibbs_sweeps if sweeps is None else check_int(sweeps, "sweeps", minimum=1)
        t_end = check_positive(temperature, "temperature")
        t0 = (
            self.gibbs_start_temperature
            if start_temperature is None
            else check_positive(start_temperature, "start_temperature")
        )
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
            h = torch.rand(pre.shape, generator=generator, dtype=dtype) < torch.sigmoid(pre / t)
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
        t = self.current_temperature
        if self.enumerate:
            q = self.q_values(obs).double()
            p = torch.softmax(q / t, dim=0).numpy()
            u = float(torch.rand((), generator=generator, dtype=torch.float64))
            i = min(int(np.searchsorted(np.cumsum(p), u * p.sum(), side="right")), p.size - 1)
            return self.act_codec.from_index(i)
        units = self.gibbs_actions(obs, temperature=t, generator=generator)[0]
        return self.act_codec.units_to_value(units)

    def _greedy_enum(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        q = self.q_values(obs)
        best = (q == q.max()).nonzero()[:, 0]
        i = (
            best[0]
            if best.numel() == 1
            else best[torch.randint(best.numel(), (), generator=generator)]
        )
        return self.act_codec.from_index(int(i))

    def greedy(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """Greedy action: argmax by enumeration, or the best of ``greedy_chains`` annealed Gibbs
        chains ending at ``greedy_temperature`` (an approximation for huge action sets)."""
        if self.enumerate:
            return self.act_codec.from_index(int(self.q_values(obs).argmax()))
        units = self.gibbs_actions(
            obs,
            n_chains=self.greedy_chains,
            temperature=self.greedy_temperature,
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
        """One TD(0)/SARSA step on the RBM parameters (eq. (10.3)); returns ``delta``."""
        views = self._views()
        if views is not None:
            idx = self._idx(obs, action)
            q_sa, pre = self._np_q(idx, views)
            if terminated:
                target = float(reward)
            elif self.method == "q":
                nxt = self._np_q_all(self.obs_codec.active(next_obs, "next_obs"), views).max()
                target = float(reward) + self.gamma * float(nxt)
            else:
                if next_action is None:
                    raise ValueError("SARSA needs next_action when the episode goes on")
                target = (
                    float(reward)
                    + self.gamma * self._np_q(self._idx(next_obs, next_action, "next_"), views)[0]
                )
            delta = target - q_sa
            step = self.current_lr * delta
            p = 0.5 * (1.0 + np.tanh(0.5 * pre))  # sigmoid, overflow-free
            W, b, c = views
            W[idx] += step * p  # dQ/dW = v sigma^T: only the active rows of v are non-zero
            b[idx] += step
            c += step * p
            return delta
        v = self.encode(obs, action)
        pre = v @ self.rbm.W + self.rbm.c  # [K]
        q_sa = v @ self.rbm.b + F.softplus(pre).sum()
        if terminated:
            target = float(reward)
        elif self.method == "q":
            target = float(reward) + self.gamma * float(self.q_values(next_obs).max())
        else:
            if next_action is None:
                raise ValueError("SARSA needs next_action when the episode goes on")
            target = float(reward) + self.gamma * self.q(next_obs, next_action)
        delta = target - float(q_sa)
        step = self.current_lr * delta
        p = torch.sigmoid(pre)
        self.rbm.W.add_(torch.outer(v, p), alpha=step)
        self.rbm.b.add_(v, alpha=step)
        self.rbm.c.add_(p, alpha=step)
        return delta


# ---------------------------------------------------------------------------------------------
class DQN(_Agent, torch.nn.Module):
    r"""A small deep Q-network (Mnih et al. 2015): MLP, replay buffer, target network.

    The loss is the Huber loss between ``Q_theta(s, a)`` and the target
    ``r + gamma (1 - done) max_b Q_target(s', b)``, where ``Q_target`` is a copy of the network
    refreshed every ``target_update`` steps; minibatches are drawn uniformly from a ring buffer of
    past transitions. Epsilon decays linearly over environment steps.

    Parameters
    ----------
    observation_space : Box or Discrete
    action_space : Discrete
    hidden : tuple of int
        Hidden layer widths.
    lr : float
        Adam learning rate.
    gamma : float
    buffer_size, batch_size : int
    learning_starts : int
        Steps collected before the first gradient step.
    train_every : int
        Environment steps per gradient step.
    target_update : int
        Steps between target-network refreshes.
    epsilon_start, epsilon_end : float
    epsilon_decay_steps : int
    generator : torch.Generator, optional
        Source of the initial weights and of the minibatch indices.
    device : optional
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        hidden: tuple[int, ...] = (64, 64),
        lr: float = 1e-3,
        gamma: float = 0.99,
        buffer_size: int = 50_000,
        batch_size: int = 64,
        learning_starts: int = 1000,
        train_every: int = 1,
        target_update: int = 500,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay_steps: int = 10_000,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        torch.nn.Module.__init__(self)
        _Agent.__init__(
            self,
            observation_space,
            action_space,
            gamma=gamma,
            exploration="epsilon",
            epsilon=epsilon_start,
            temperature=1.0,
        )
        if self.act_codec.kind != "discrete":
            raise TypeError("DQN needs a Discrete action_space")
        if self.obs_codec.kind not in ("box", "discrete"):
            raise TypeError("DQN needs a Box or Discrete observation_space")
        check_generator(generator)
        self.generator = generator if generator is not None else torch.Generator()
        n_in, n_out = self.obs_codec.n_units, self.act_codec.n_units
        self.net = _mlp(n_in, hidden, n_out)
        _seeded_init(self.net, self.generator)  # same bounds as torch's default, but seeded
        self.net.to(device)
        self.target = copy.deepcopy(self.net)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=check_positive(lr, "lr"))
        self.buffer_size = check_int(buffer_size, "buffer_size", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.learning_starts = check_int(learning_starts, "learning_starts", minimum=0)
        self.train_every = check_int(train_every, "train_every", minimum=1)
        self.target_update = check_int(target_update, "target_update", minimum=1)
        self.epsilon_start = check_probability(epsilon_start, "epsilon_start")
        self.epsilon_end = check_probability(epsilon_end, "epsilon_end")
        self.epsilon_decay_steps = check_int(epsilon_decay_steps, "epsilon_decay_steps", minimum=1)
        dev = self.net[0].weight.device
        self._obs = torch.zeros(self.buffer_size, n_in, device=dev)
        self._next = torch.zeros(self.buffer_size, n_in, device=dev)
        self._act = torch.zeros(self.buffer_size, dtype=torch.long, device=dev)
        self._rew = torch.zeros(self.buffer_size, device=dev)
        self._done = torch.zeros(self.buffer_size, device=dev)
        self.steps = 0
        self.size = 0

    @property
    def current_epsilon(self) -> float:
        """Linearly decayed epsilon at the current step count."""
        f = min(self.steps / self.epsilon_decay_steps, 1.0)
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * f

    def _x(self, obs: Any, what: str) -> torch.Tensor:
        dev = self.net[0].weight.device
        if self.obs_codec.kind == "box":
            return torch.as_tensor(self.obs_codec.check(obs, what), device=dev).reshape(-1)
        return self.obs_codec.to_units(obs, what, torch.float32, dev)

    def q_values(self, obs: Any) -> torch.Tensor:
        """Network output ``Q(s, .)``, ``[A]``."""
        with torch.no_grad():
            return self.net(self._x(obs, "obs"))

    def greedy(self, obs: Any) -> int:
        """``argmax_a Q(s, a)``."""
        return int(self.q_values(obs).argmax()) + self.act_codec.start

    def act(self, obs: Any, generator: torch.Generator | None = None) -> int:
        """Epsilon-greedy action."""
        check_generator(generator)
        if float(torch.rand((), generator=generator)) < self.current_epsilon:
            return int(torch.randint(self.act_codec.n_units, (), generator=generator)) + (
                self.act_codec.start
            )
        return self.greedy(obs)

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """Store the transition; every ``train_every`` steps do one minibatch step.

        Returns the mean absolute TD error of the minibatch (0 before learning starts).
        """
        i = self.steps % self.buffer_size
        self._obs[i] = self._x(obs, "obs")
        self._next[i] = self._x(next_obs, "next_obs")
        self._act[i] = self.act_codec.check(action, "action")
        self._rew[i] = float(reward)
        self._done[i] = float(bool(terminated))
        self.steps += 1
        self.size = min(self.size + 1, self.buffer_size)
        if self.steps % self.target_update == 0:
            self.target.load_state_dict(self.net.state_dict())
        if self.steps < self.learning_starts or self.steps % self.train_every:
            return 0.0
        idx = torch.randint(self.size, (self.batch_size,), generator=self.generator)
        idx = idx.to(self._obs.device)
        q = self.net(self._obs[idx]).gather(1, self._act[idx, None])[:, 0]
        with torch.no_grad():
            nxt = self.target(self._next[idx]).max(1).values
            target = self._rew[idx] + self.gamma * (1.0 - self._done[idx]) * nxt
        loss = F.smooth_l1_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.optimizer.step()
        return float((target - q.detach()).abs().mean())


def __getattr__(name: str) -> Any:
    # The energy-based agents of chapter 11 live in ebmlib.rl.energy_agents; the public API
    # names them agents.HopfieldQ and agents.SoftQ, so they are reachable from here too (lazily,
    # to keep this module light).
    if name in ("HopfieldQ", "SoftQ"):
        from . import energy_agents

        return getattr(energy_agents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
