r"""Energy-based policies: the Hopfield Q-function and soft Q-learning (chapter 11).

Both agents learn a Q-function by temporal differences with a replay buffer and a target copy
(as :class:`~ebmlib.rl.agents.DQN`) and act by sampling from the Boltzmann policy

.. math::

    \pi(a \mid s) \propto \exp\big(Q(s, a) / \alpha\big)

(chapter 11, eq. (11.1)): by enumeration when the action set is finite, and for a box of
continuous actions by importance resampling of uniform proposals followed by a few
Metropolis-adjusted Langevin steps on the action (:func:`ebmlib.rl.models.langevin_sample`).

* :class:`HopfieldQ`: :math:`Q(s, a) = -F(\phi(s, a)) + c`, where
  :math:`F(\xi) = \tfrac12\lVert\xi\rVert^2 - \beta^{-1}\log\sum_i e^{\beta x_i^\top\xi}` is the
  free energy of the modern-Hopfield energy (chapter 4) with the pattern index summed out,
  evaluated at a learned state-action embedding :math:`\phi`; the patterns :math:`x_i` are
  learned (eq. (11.7));
* :class:`SoftQ`: the same learning rule with a plain MLP :math:`Q(s, a)`, the reference.

They follow the agent interface of :mod:`ebmlib.rl.agents` (``act``, ``greedy``, ``update``,
``begin_episode``) and so run under :func:`ebmlib.rl.training.train` and
:func:`ebmlib.rl.training.evaluate`.
See chapter 11 (:ref:`chapter-energy-policies`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from gymnasium import spaces

from .._validation import (
    check_choice,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_tensor,
)
from ._nets import _mlp, _seeded_init
from ._spaces import SpaceCodec
from .models import langevin_sample

__all__ = ["HopfieldQ", "SoftQ", "HopfieldQNet", "MLPQNet", "train_steps"]


class HopfieldQNet(torch.nn.Module):
    r"""The Hopfield Q-function :math:`Q(s, a) = -F_\beta(\phi(s, a)) + c` (eq. (11.7)).

    .. math::

        F_\beta(\xi) = \tfrac12 \xi^\top\xi - \beta^{-1} \log \sum_{i=1}^N e^{\beta x_i^\top \xi},
        \qquad \xi = \phi(s, a) = \mathrm{MLP}([s; a]) \in \R^{d},

    the free energy of the joint energy :math:`E(\xi, i) = \tfrac12\xi^\top\xi - x_i^\top\xi`
    with the pattern index :math:`i` summed out. It equals the chapter-4 energy
    :func:`ebmlib.modern.energy` minus its constants :math:`\beta^{-1}\log N + \tfrac12 M^2`,
    and :math:`\beta Q` is, up to a constant, the log density of the marginal of
    :class:`ebmlib.attention_bm.AttentionBM` with the same patterns (chapter 8).
    Its gradient in :math:`\xi` is :math:`X^\top \mathrm{softmax}(\beta X \xi) - \xi`: one
    attention read-out with query :math:`\xi` and keys = values = patterns, minus the query.

    Parameters
    ----------
    n_in : int
        Length of ``[s; a]``.
    n_patterns, embed_dim : int
        :math:`N` and :math:`d`.
    beta : float
        Inverse temperature of the Hopfield energy.
    hidden : tuple of int
        Hidden widths of the embedding MLP.
    generator : torch.Generator, optional
        Source of the initial weights and patterns (patterns ~ N(0, I)).
    """

    def __init__(
        self,
        n_in: int,
        n_patterns: int = 32,
        embed_dim: int = 16,
        beta: float = 1.0,
        hidden: tuple[int, ...] = (64, 64),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.beta = check_positive(beta, "beta")
        n_patterns = check_int(n_patterns, "n_patterns", minimum=1)
        embed_dim = check_int(embed_dim, "embed_dim", minimum=1)
        self.embed = _mlp(check_int(n_in, "n_in", minimum=1), hidden, embed_dim)
        _seeded_init(self.embed, generator)
        self.patterns = torch.nn.Parameter(torch.randn(n_patterns, embed_dim, generator=generator))
        self.offset = torch.nn.Parameter(torch.zeros(()))

    def free_energy(self, xi: torch.Tensor) -> torch.Tensor:
        r"""``F_beta(xi)`` for embeddings ``[..., d]`` -> ``[...]``."""
        scores = self.beta * (xi @ self.patterns.T)  # [..., N]
        return 0.5 * (xi * xi).sum(-1) - torch.logsumexp(scores, -1) / self.beta

    def index_posterior(self, xi: torch.Tensor) -> torch.Tensor:
        r"""Attention weights ``softmax(beta X xi)`` over the patterns, ``[..., N]``."""
        return torch.softmax(self.beta * (xi @ self.patterns.T), -1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` for ``s`` ``[B, ds]`` and ``a`` ``[B, K, da]`` -> ``[B, K]``."""
        xi = self.embed(torch.cat([s[:, None, :].expand(-1, a.shape[1], -1), a], -1))
        return -self.free_energy(xi) + self.offset


class MLPQNet(torch.nn.Module):
    """A plain MLP ``Q(s, a) = MLP([s; a])`` (the soft Q-learning reference)."""

    def __init__(
        self,
        n_in: int,
        hidden: tuple[int, ...] = (64, 64),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.net = _mlp(check_int(n_in, "n_in", minimum=1), hidden, 1)
        _seeded_init(self.net, generator)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` for ``s`` ``[B, ds]`` and ``a`` ``[B, K, da]`` -> ``[B, K]``."""
        return self.net(torch.cat([s[:, None, :].expand(-1, a.shape[1], -1), a], -1))[..., 0]


class _EnergyQ(torch.nn.Module):
    """TD learning of a Q-network with a Boltzmann (energy-based) policy; see module docstring."""

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        qnet_factory,
        *,
        lr: float,
        gamma: float,
        buffer_size: int,
        batch_size: int,
        learning_starts: int,
        train_every: int,
        target_update: int,
        tau: float | None,
        temperature: float,
        temperature_end: float | None,
        temperature_decay_steps: int,
        backup: str | None,
        n_action_samples: int,
        langevin_steps: int,
        langevin_step_size: float,
        n_greedy: int,
        generator: torch.Generator | None,
        device: Any,
    ) -> None:
        super().__init__()
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
        check_generator(generator)
        self.generator = generator if generator is not None else torch.Generator()
        self.gamma = check_probability(gamma, "gamma")
        self.temperature = check_positive(temperature, "temperature")
        self.temperature_end = (
            self.temperature
            if temperature_end is None
            else check_positive(temperature_end, "temperature_end")
        )
        self.temperature_decay_steps = check_int(
            temperature_decay_steps, "temperature_decay_steps", minimum=1
        )
        if backup is None:
            backup = "max" if self.discrete else "soft"
        self.backup = check_choice(backup, "backup", ("max", "soft"))
        if not self.discrete and self.backup != "soft":
            raise ValueError("continuous actions need backup='soft'")
        self.n_action_samples = check_int(n_action_samples, "n_action_samples", minimum=1)
        self.langevin_steps = check_int(langevin_steps, "langevin_steps", minimum=0)
        self.langevin_step_size = check_positive(langevin_step_size, "langevin_step_size")
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
        self.qnet = qnet_factory(self.n_obs + self.action_dim).to(device)
        self.target = copy.deepcopy(self.qnet)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=check_positive(lr, "lr"))
        self.buffer_size = check_int(buffer_size, "buffer_size", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.learning_starts = check_int(learning_starts, "learning_starts", minimum=0)
        self.train_every = check_int(train_every, "train_every", minimum=1)
        self.target_update = check_int(target_update, "target_update", minimum=1)
        self.tau = None if tau is None else check_probability(tau, "tau", open_left=True)
        dev = self._device
        self._obs = torch.zeros(self.buffer_size, self.n_obs, device=dev)
        self._next = torch.zeros(self.buffer_size, self.n_obs, device=dev)
        self._act = torch.zeros(self.buffer_size, self.action_dim, device=dev)
        self._rew = torch.zeros(self.buffer_size, device=dev)
        self._done = torch.zeros(self.buffer_size, device=dev)
        self.steps = 0
        self.size = 0
        self.episode = 0
        if not self.discrete:
            n_greedy = check_int(n_greedy, "n_greedy", minimum=1)
            sob = torch.quasirandom.SobolEngine(self.action_dim, scramble=True, seed=0)
            self._greedy_grid = (sob.draw(n_greedy) * 2 - 1).to(dev)  # [G, da] in [-1, 1]

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return next(self.qnet.parameters()).device

    def begin_episode(self, episode: int) -> None:
        """Record the episode number (the temperature schedule runs on steps)."""
        self.episode = int(episode)

    @property
    def current_temperature(self) -> float:
        """Policy temperature: linear from ``temperature`` to ``temperature_end`` over steps."""
        f = min(self.steps / self.temperature_decay_steps, 1.0)
        return self.temperature + (self.temperature_end - self.temperature) * f

    def _s(self, obs: Any) -> torch.Tensor:
        """Observation -> network input ``[1, n_obs]`` (values for a Box, else one-hot units)."""
        if self.obs_codec.kind != "box":
            return self.obs_codec.to_units(obs, "obs", torch.float32, self._device).reshape(1, -1)
        x = torch.as_tensor(self.obs_codec.check(obs, "obs"), dtype=torch.float32)
        return x.reshape(1, -1).to(self._device)

    def _to_unit(self, action: Any) -> torch.Tensor:
        """Action -> network units (one-hot, or scaled to [-1, 1])."""
        if self.discrete:
            if isinstance(action, torch.Tensor):
                action = action.item()
            a = int(action) - self.action_start
            if not 0 <= a < self.n_actions:
                raise ValueError(f"action must be in the action_space, got {action}")
            return F.one_hot(torch.tensor(a), self.n_actions).float()
        a = torch.as_tensor(action, dtype=torch.float32).reshape(-1)
        if a.shape[0] != self.action_dim:
            raise ValueError(f"action must have {self.action_dim} entries, got {a.shape[0]}")
        return 2 * (a - self._low) / (self._high - self._low) - 1

    def _from_unit(self, u: torch.Tensor) -> Any:
        u = u.detach().cpu().clamp(-1, 1)
        return (self._low + (u + 1) * 0.5 * (self._high - self._low)).numpy()

    def _all_actions(self, batch: int) -> torch.Tensor:
        eye = torch.eye(self.n_actions, device=self._device)
        return eye[None].expand(batch, -1, -1)

    # -- values --------------------------------------------------------------------------------
    def q(self, obs: Any, actions: Any) -> torch.Tensor:
        """``Q(s, a)`` for one observation and a list of actions, ``[K]``."""
        u = torch.stack([self._to_unit(a) for a in actions]).to(self._device)
        with torch.no_grad():
            return self.qnet(self._s(obs), u[None])[0]

    def q_values(self, obs: Any) -> torch.Tensor:
        """``Q(s, .)`` over all actions (discrete action spaces), ``[A]``."""
        if not self.discrete:
            raise TypeError("q_values needs a Discrete action_space; use q(obs, actions)")
        with torch.no_grad():
            return self.qnet(self._s(obs), self._all_actions(1))[0]

    @torch.no_grad()
    def soft_value(
        self, s: torch.Tensor, alpha: float, net: torch.nn.Module | None = None
    ) -> torch.Tensor:
        r"""Soft value :math:`V(s) = \alpha\log\int e^{Q(s,a)/\alpha} da` (eq. (11.2)), ``[B]``.

        A sum over the actions when they are discrete; for a box, the importance-sampling
        estimate with ``n_action_samples`` uniform proposals on the unit-scaled box
        :math:`[-1, 1]^m` (volume :math:`2^m`).
        """
        net = self.qnet if net is None else net
        if self.discrete:
            q = net(s, self._all_actions(s.shape[0]))
            return alpha * torch.logsumexp(q / alpha, -1)
        k = self.n_action_samples
        u = torch.rand(s.shape[0], k, self.action_dim, generator=self.generator) * 2 - 1
        q = net(s, u.to(s.device))
        log_vol = self.action_dim * math.log(2.0)
        return alpha * (torch.logsumexp(q / alpha, -1) - math.log(k) + log_vol)

    def sample_actions(
        self,
        obs: Any,
        n: int = 1,
        *,
        alpha: float | None = None,
        generator: torch.Generator | None = None,
        langevin_steps: int | None = None,
    ) -> torch.Tensor:
        r"""Draw ``n`` actions (in network units) from :math:`\pi \propto e^{Q(s,\cdot)/\alpha}`.

        Discrete: exact softmax sampling; returns indices ``[n]``. Box: ``n_action_samples``
        uniform proposals per draw, one resampled by weight :math:`e^{Q/\alpha}`, then
        ``langevin_steps`` MALA steps on the energy :math:`-Q(s, \cdot)/\alpha` restricted to
        :math:`[-1, 1]^m`; returns ``[n, m]`` (eq. (11.4)).
        """
        alpha = self.current_temperature if alpha is None else check_positive(alpha, "alpha")
        g = self.generator if generator is None else generator
        s = self._s(obs)
        if self.discrete:
            with torch.no_grad():
                q = self.qnet(s, self._all_actions(1))[0]
            p = torch.softmax(q / alpha, -1).cpu()
            return torch.multinomial(p, n, replacement=True, generator=g)
        k = self.n_action_samples
        u = torch.rand(n, k, self.action_dim, generator=g) * 2 - 1
        u = u.to(self._device)
        with torch.no_grad():
            q = self.qnet(s.expand(n, -1), u)  # [n, k]
            pick = torch.multinomial(torch.softmax(q / alpha, -1).cpu(), 1, generator=g)[:, 0]
        a0 = u[torch.arange(n), pick.to(self._device)]  # [n, m]
        steps = self.langevin_steps if langevin_steps is None else langevin_steps
        if steps == 0:
            return a0
        sn = s.expand(n, -1)

        def energy(a: torch.Tensor) -> torch.Tensor:
            return -self.qnet(sn, a[:, None, :])[:, 0] / alpha

        self.qnet.requires_grad_(False)
        try:
            out = langevin_sample(
                energy,
                a0,
                self.langevin_step_size,
                steps,
                g if g.device == a0.device else None,
                bounds=(-1.0, 1.0),
                metropolis=True,
            )
        finally:
            self.qnet.requires_grad_(True)
        return out

    # -- interface -----------------------------------------------------------------------------
    def act(self, obs: Any, generator: torch.Generator | None = None) -> Any:
        """An action sampled from the Boltzmann policy at the current temperature."""
        check_generator(generator)
        a = self.sample_actions(obs, 1, generator=generator)
        if self.discrete:
            return int(a[0]) + self.action_start
        return self._from_unit(a[0])

    def greedy(self, obs: Any) -> Any:
        """``argmax_a Q(s, a)``: enumeration, or a fixed quasi-random grid of the action box."""
        if self.discrete:
            return int(self.q_values(obs).argmax()) + self.action_start
        with torch.no_grad():
            q = self.qnet(self._s(obs), self._greedy_grid[None])[0]
        return self._from_unit(self._greedy_grid[int(q.argmax())])

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """Store the transition and, every ``train_every`` steps, take one TD step (eq. (11.9)).

        Target: ``r + gamma (1 - done) V_target(s')`` with ``V`` the max over actions
        (``backup="max"``) or the soft value at the current temperature (``backup="soft"``);
        Huber loss. Returns the mean absolute TD error of the minibatch (0 before learning).
        """
        i = self.steps % self.buffer_size
        self._obs[i] = self._s(obs)[0]
        self._next[i] = self._s(next_obs)[0]
        self._act[i] = self._to_unit(action).to(self._device)
        self._rew[i] = float(reward)
        self._done[i] = float(bool(terminated))
        self.steps += 1
        self.size = min(self.size + 1, self.buffer_size)
        if self.tau is None and self.steps % self.target_update == 0:
            self.target.load_state_dict(self.qnet.state_dict())
        if self.steps < self.learning_starts or self.steps % self.train_every:
            return 0.0
        idx = torch.randint(self.size, (self.batch_size,), generator=self.generator)
        idx = idx.to(self._device)
        s, a, s2 = self._obs[idx], self._act[idx], self._next[idx]
        q = self.qnet(s, a[:, None, :])[:, 0]
        with torch.no_grad():
            if self.backup == "max":
                v = self.target(s2, self._all_actions(s2.shape[0])).max(-1).values
            else:
                v = self.soft_value(s2, self.current_temperature, self.target)
            y = self._rew[idx] + self.gamma * (1.0 - self._done[idx]) * v
        loss = F.smooth_l1_loss(q, y)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.qnet.parameters(), 10.0)
        self.optimizer.step()
        if self.tau is not None:
            with torch.no_grad():
                for p, pt in zip(self.qnet.parameters(), self.target.parameters(), strict=True):
                    pt.lerp_(p, self.tau)
        return float((y - q.detach()).abs().mean())


_DOC_PARAMS = """
    Parameters
    ----------
    observation_space : gymnasium.spaces.Box (or Discrete/MultiDiscrete/MultiBinary, one-hot)
    action_space : gymnasium.spaces.Discrete or Box (finite bounds)
    hidden : tuple of int
        Hidden widths of the network.
    lr : float
        Adam learning rate.
    gamma : float
        Discount.
    buffer_size, batch_size, learning_starts, train_every : int
        Replay buffer, minibatch, steps before learning, environment steps per gradient step.
    target_update : int
        Steps between copies of the target network (when ``tau`` is None).
    tau : float, optional
        Polyak rate of the target network instead of periodic copies.
    temperature : float
        :math:`\\alpha` of the policy (and of the soft backup), > 0.
    temperature_end, temperature_decay_steps :
        Optional linear decay of :math:`\\alpha` over environment steps.
    backup : {"max", "soft"}, optional
        Target value: hard max (default for discrete actions) or soft value (continuous).
    n_action_samples : int
        Uniform proposals for the soft value and for the resampling step (continuous).
    langevin_steps, langevin_step_size :
        MALA refinement of sampled actions (continuous; actions scaled to [-1, 1]).
    n_greedy : int
        Size of the quasi-random action grid used by ``greedy`` (continuous).
    generator : torch.Generator, optional
        Source of the initial weights, minibatches, proposals and (by default) the actions.
    device : optional
"""


class HopfieldQ(_EnergyQ):
    __doc__ = (
        r"""Q-learning with the Hopfield Q-function :math:`Q = -F_\beta(\phi(s,a)) + c`, eq. (11.7).

    See :class:`HopfieldQNet` for the function and the module docstring for the policy.
    ``n_patterns`` learned patterns of dimension ``embed_dim`` and inverse temperature ``beta``.
    """
        + _DOC_PARAMS
    )

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        n_patterns: int = 32,
        embed_dim: int = 16,
        beta: float = 1.0,
        hidden: tuple[int, ...] = (64, 64),
        lr: float = 1e-3,
        gamma: float = 0.99,
        buffer_size: int = 50_000,
        batch_size: int = 64,
        learning_starts: int = 1000,
        train_every: int = 1,
        target_update: int = 500,
        tau: float | None = None,
        temperature: float = 1.0,
        temperature_end: float | None = None,
        temperature_decay_steps: int = 10_000,
        backup: str | None = None,
        n_action_samples: int = 32,
        langevin_steps: int = 5,
        langevin_step_size: float = 0.01,
        n_greedy: int = 256,
        generator: torch.Generator | None = None,
        device: Any = None,
    ) -> None:
        check_generator(generator)
        gen = generator if generator is not None else torch.Generator()
        super().__init__(
            observation_space,
            action_space,
            lambda n_in: HopfieldQNet(n_in, n_patterns, embed_dim, beta, hidden, gen),
            lr=lr,
            gamma=gamma,
            buffer_size=buffer_size,
            batch_size=batch_size,
            learning_starts=learning_starts,
            train_every=train_every,
            target_update=target_update,
            tau=tau,
            temperature=temperature,
            temperature_end=temperature_end,
            temperature_decay_steps=temperature_decay_steps,
            backup=backup,
            n_action_samples=n_action_samples,
            langevin_steps=langevin_steps,
            langevin_step_size=langevin_step_size,
            n_greedy=n_greedy,
            generator=gen,
            device=device,
        )

    @property
    def patterns(self) -> torch.Tensor:
        """The learned stored patterns ``[N, d]`` (rows)."""
        return self.qnet.patterns.detach()

    def embed(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Embeddings ``phi(s, a)`` for ``obs`` ``[B, ds]`` and unit actions ``[B, K, da]``."""
        obs = check_tensor(obs, "obs", ndim=2, floating=True)
        actions = check_tensor(actions, "actions", ndim=3, floating=True)
        with torch.no_grad():
            s = obs[:, None, :].expand(-1, actions.shape[1], -1)
            return self.qnet.embed(torch.cat([s, actions], -1))


class SoftQ(_EnergyQ):
    __doc__ = (
        r"""Soft Q-learning (Haarnoja et al. 2017) with an MLP ``Q(s, a)``: the reference.

    Same policy, buffer and targets as :class:`HopfieldQ`; only the Q-network differs.
    """
        + _DOC_PARAMS
    )

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
        tau: float | None = None,
        temperature: float = 1.0,
        temperature_end: float | None = None,
        temperature_decay_steps: int = 10_000,
        backup: str | None = None,
        n_action_samples: int = 32,
        langevin_steps: int = 5,
        langevin_step_size: float = 0.01,
        n_greedy: int = 256,
        generator: torch.Generator | None = None,
        device: Any = None,
    ) -> None:
        check_generator(generator)
        gen = generator if generator is not None else torch.Generator()
        super().__init__(
            observation_space,
            action_space,
            lambda n_in: MLPQNet(n_in, hidden, gen),
            lr=lr,
            gamma=gamma,
            buffer_size=buffer_size,
            batch_size=batch_size,
            learning_starts=learning_starts,
            train_every=train_every,
            target_update=target_update,
            tau=tau,
            temperature=temperature,
            temperature_end=temperature_end,
            temperature_decay_steps=temperature_decay_steps,
            backup=backup,
            n_action_samples=n_action_samples,
            langevin_steps=langevin_steps,
            langevin_step_size=langevin_step_size,
            n_greedy=n_greedy,
            generator=gen,
            device=device,
        )


def train_steps(
    env: Any,
    agent: Any,
    total_steps: int,
    *,
    eval_env: Any = None,
    eval_every: int = 5000,
    eval_episodes: int = 10,
    target: float | None = None,
    stop_at_target: bool = True,
    seed: int = 0,
    progress_bar: bool | None = None,
) -> dict[str, Any]:
    """Train for a budget of environment steps with periodic greedy evaluations.

    Episodes are played with :func:`ebmlib.rl.training.run_episode`; after every ``eval_every``
    steps the greedy policy is evaluated on ``eval_episodes`` episodes of ``eval_env`` (seeded
    ``seed + 10_000``) with :func:`ebmlib.rl.training.evaluate`. With ``target``,
    ``steps_to_target`` is the first evaluation step whose mean return reaches it (None if
    never), and training stops there when ``stop_at_target``.

    Returns
    -------
    dict
        ``eval_steps``, ``eval_returns`` (lists), ``episode_returns``, ``episode_steps``
        (training episodes), ``steps_to_target``, ``steps`` (total), ``best_eval``.
    """
    from ..utils import progress
    from .training import evaluate, run_episode

    total_steps = check_int(total_steps, "total_steps", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    eval_episodes = check_int(eval_episodes, "eval_episodes", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    eval_env = env if eval_env is None else eval_env
    gen = torch.Generator().manual_seed(seed)
    env.action_space.seed(seed)
    out: dict[str, Any] = {
        "eval_steps": [],
        "eval_returns": [],
        "episode_returns": [],
        "episode_steps": [],
        "steps_to_target": None,
    }
    steps, ep, next_eval = 0, 0, eval_every
    disable = None if progress_bar is None else not progress_bar
    bar = progress(range(total_steps), desc=type(agent).__name__, disable=disable)
    while steps < total_steps:
        if hasattr(agent, "begin_episode"):
            agent.begin_episode(ep)
        r = run_episode(
            env,
            agent,
            learn=True,
            seed=seed if ep == 0 else None,
            generator=gen,
            max_steps=total_steps - steps,
        )
        n = int(r["length"])
        steps += n
        ep += 1
        if hasattr(bar, "update"):
            bar.update(n)
        out["episode_returns"].append(r["return"])
        out["episode_steps"].append(steps)
        if steps >= next_eval or steps >= total_steps:
            next_eval += eval_every
            ev = evaluate(eval_env, agent, eval_episodes, seed=seed + 10_000)
            out["eval_steps"].append(steps)
            out["eval_returns"].append(ev["mean_return"])
            if target is not None and ev["mean_return"] >= target:
                if out["steps_to_target"] is None:
                    out["steps_to_target"] = steps
                if stop_at_target:
                    break
    if hasattr(bar, "close"):
        bar.close()
    out["steps"] = steps
    out["best_eval"] = max(out["eval_returns"]) if out["eval_returns"] else None
    return out
