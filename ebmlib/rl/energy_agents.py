r"""Energy-based policies: the Hopfield Q-function and soft Q-learning (chapter 11).

Both agents are :class:`~ebmlib.rl.agents.DeepQAgent` subclasses that differ only in their
Q-network: they learn by the TD step of :class:`~ebmlib.rl.agents.DQN` (replay buffer, target
copy, :class:`~ebmlib.rl.config.DeepQConfig`) and act by sampling from the Boltzmann policy

.. math::

    \pi(a \mid s) \propto \exp\big(Q(s, a) / T\big)

(chapter 11, :math:numref:`eq-energy-policies-policy`): by enumeration when the action set is
finite, and for a box of
continuous actions by importance resampling of uniform proposals followed by a few
Metropolis-adjusted Langevin steps on the action (:func:`ebmlib.rl.models.langevin_sample`).

* :class:`HopfieldQ`: :math:`Q(s, a) = -\upsilon F(\psi(s, a)) + c_Q`, where
  :math:`F(\xi) = \tfrac12\lVert\xi\rVert^2 - \beta^{-1}\log\sum_i e^{\beta x_i^\top\xi}` is the
  free energy of the modern-Hopfield energy (chapter 4) with the pattern index summed out,
  evaluated at a learned state-action embedding :math:`\psi`; the patterns :math:`x_i` are
  learned (chapter 12, :math:numref:`eq-hopfield-q-def`);
* :class:`SoftQ`: the same learning rule with a plain MLP :math:`Q(s, a)`, the reference.

They follow the agent interface of :mod:`ebmlib.rl.agents` (``act``, ``greedy``, ``update``,
``begin_episode``) and so run under :func:`ebmlib.rl.training.train_steps` and
:func:`ebmlib.rl.training.evaluate`. (Haarnoja et al.'s entropy temperature :math:`\alpha` is
the book's :math:`T`.)
See chapters 11 (:ref:`chapter-energy-policies`) and 12 (:ref:`chapter-hopfield-q`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from .._validation import check_int, check_positive, check_tensor
from ..utils import renamed_argument
from ._nets import _mlp, _seeded_init
from .agents import DeepQAgent
from .config import DeepQConfig

__all__ = ["HopfieldQ", "SoftQ", "HopfieldQNet", "MLPQNet"]


class HopfieldQNet(torch.nn.Module):
    r"""The Hopfield Q-function :math:`Q(s, a) = -\upsilon F_\beta(\psi(s, a)) + c_Q`
    (:math:numref:`eq-hopfield-q-def`).

    .. math::

        F_\beta(\xi) = \tfrac12 \xi^\top\xi - \beta^{-1} \log \sum_{i=1}^N e^{\beta x_i^\top \xi},
        \qquad \xi = \psi(s, a) = \mathrm{MLP}([s; a]) \in \R^{d},

    the free energy of the joint energy :math:`E(\xi, i) = \tfrac12\xi^\top\xi - x_i^\top\xi`
    with the pattern index :math:`i` summed out. It equals the chapter-4 energy
    :func:`ebmlib.modern.energy` minus its constants :math:`\beta^{-1}\log N + \tfrac12 M^2`,
    and :math:`\beta Q / \upsilon` is, up to a constant, the log density of the marginal of
    :class:`ebmlib.attention_bm.AttentionBM` with the same patterns (chapter 8).
    Its gradient in :math:`\xi` is :math:`\upsilon (X^\top \mathrm{softmax}(\beta X \xi) - \xi)`:
    one attention read-out with query :math:`\xi` and keys = values = patterns, minus the query.

    The value scale :math:`\upsilon` sets how many units of value one unit of free energy is
    worth. Since :math:`\upsilon F_\beta(\xi; X) = F_{\beta/\upsilon}(\sqrt\upsilon\,\xi;
    \sqrt\upsilon\, X)`, it is the same model at inverse temperature :math:`\beta/\upsilon` with
    embeddings and patterns :math:`\sqrt\upsilon` times larger; what it changes is the scale at
    which the network starts and learns. Every Hopfield Q-function has the ceiling
    :math:`Q \le c_Q + \upsilon(\tfrac12 M^2 + \beta^{-1}\log N)`
    (:math:numref:`eq-hopfield-q-ceiling`); values close to it need the attention concentrated
    on patterns aligned with the embedding (chapter 12). The offset starts at
    :math:`c_Q = -\upsilon\beta^{-1}\log N`, so that an untrained network's log-sum-exp is a
    log-mean-exp and its values start near zero.

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
    value_scale : float
        :math:`\upsilon > 0`.
    """

    def __init__(
        self,
        n_in: int,
        n_patterns: int = 32,
        embed_dim: int = 16,
        beta: float = 1.0,
        hidden: tuple[int, ...] = (64, 64),
        generator: torch.Generator | None = None,
        value_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.beta = check_positive(beta, "beta")
        self.value_scale = check_positive(value_scale, "value_scale")
        n_patterns = check_int(n_patterns, "n_patterns", minimum=1)
        embed_dim = check_int(embed_dim, "embed_dim", minimum=1)
        self.embed = _mlp(check_int(n_in, "n_in", minimum=1), hidden, embed_dim)
        _seeded_init(self.embed, generator)
        self.patterns = torch.nn.Parameter(torch.randn(n_patterns, embed_dim, generator=generator))
        c0 = -self.value_scale * math.log(n_patterns) / self.beta
        self.offset = torch.nn.Parameter(torch.tensor(c0))

    def free_energy(self, xi: torch.Tensor) -> torch.Tensor:
        r"""``F_beta(xi)`` for embeddings ``[..., d]`` -> ``[...]``."""
        scores = self.beta * (xi @ self.patterns.T)  # [..., N]
        return 0.5 * (xi * xi).sum(-1) - torch.logsumexp(scores, -1) / self.beta

    def index_posterior(self, xi: torch.Tensor) -> torch.Tensor:
        r"""Attention weights ``softmax(beta X xi)`` over the patterns, ``[..., N]``."""
        return torch.softmax(self.beta * (xi @ self.patterns.T), -1)

    def ceiling(self) -> float:
        r"""The largest value the network can take,
        :math:`c_Q + \upsilon(\tfrac12 M^2 + \beta^{-1}\log N)`
        (:math:numref:`eq-hopfield-q-ceiling`)."""
        with torch.no_grad():
            m2 = float((self.patterns * self.patterns).sum(-1).max())
            n = self.patterns.shape[0]
            return float(self.offset) + self.value_scale * (0.5 * m2 + math.log(n) / self.beta)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` for ``s`` ``[B, ds]`` and ``a`` ``[B, K, da]`` -> ``[B, K]``."""
        xi = self.embed(torch.cat([s[:, None, :].expand(-1, a.shape[1], -1), a], -1))
        return -self.value_scale * self.free_energy(xi) + self.offset


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


class HopfieldQ(DeepQAgent):
    r"""Q-learning with the Hopfield Q-function :math:`Q = -\upsilon F_\beta(\psi(s,a)) + c_Q`
    (:math:numref:`eq-hopfield-q-def`).

    A :class:`~ebmlib.rl.agents.DeepQAgent` whose network is :class:`HopfieldQNet`: ``n_patterns``
    learned patterns of dimension ``embed_dim`` at inverse temperature ``beta``, read by an
    embedding MLP with widths ``config.hidden``. Boltzmann exploration by default.

    Parameters
    ----------
    observation_space : gymnasium.spaces.Box (or Discrete/MultiDiscrete/MultiBinary, one-hot)
    action_space : gymnasium.spaces.Discrete or Box (finite bounds)
    config : DeepQConfig, optional
        Learning, replay, exploration and sampler settings (shared by every deep agent).
    n_patterns, embed_dim : int
        :math:`N` and :math:`d` of the Hopfield energy.
    beta : float
        Inverse temperature of the Hopfield energy (not the policy's: that is ``config.T``).
    value_scale : float
        Value scale :math:`\upsilon` of :class:`HopfieldQNet`: units of value per unit of free
        energy (chapter 12: :math:`1/(1-\gamma)` puts the ceiling at the scale of the
        returns).
    generator : torch.Generator, optional
        Source of the initial weights and patterns, minibatches, proposals and (by default) the
        actions; None: torch's global generator.
    device : optional
    **overrides :
        Single fields of the config (``T=0.3``, ``tau=0.01``, ...).
    """

    @renamed_argument("temperature", "T", since="0.2")
    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: DeepQConfig | None = None,
        *,
        n_patterns: int = 32,
        embed_dim: int = 16,
        beta: float = 1.0,
        value_scale: float = 1.0,
        generator: torch.Generator | None = None,
        device: Any = None,
        **overrides: Any,
    ) -> None:
        self._net_args = (
            check_int(n_patterns, "n_patterns", minimum=1),
            check_int(embed_dim, "embed_dim", minimum=1),
            check_positive(beta, "beta"),
            check_positive(value_scale, "value_scale"),
        )
        super().__init__(
            observation_space, action_space, config, generator=generator, device=device,
            **overrides,
        )  # fmt: skip

    def make_qnet(
        self, obs_dim: int, action_dim: int, generator: torch.Generator | None
    ) -> torch.nn.Module:
        """A :class:`HopfieldQNet` on ``[s; a]``."""
        n_patterns, embed_dim, beta, value_scale = self._net_args
        return HopfieldQNet(
            obs_dim + action_dim, n_patterns, embed_dim, beta, self.config.hidden, generator,
            value_scale=value_scale,
        )  # fmt: skip

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


class SoftQ(DeepQAgent):
    r"""Soft Q-learning with a plain MLP :math:`Q(s, a) = \mathrm{MLP}([s; a])`: the reference.

    A :class:`~ebmlib.rl.agents.DeepQAgent` whose network is :class:`MLPQNet`; same policy,
    buffer and targets as :class:`HopfieldQ`. It differs from Haarnoja et al. (2017), who
    amortise sampling with a network trained by Stein variational gradient descent: here every
    action is drawn afresh by importance resampling and a few MALA steps.

    Parameters
    ----------
    observation_space : gymnasium.spaces.Box (or Discrete/MultiDiscrete/MultiBinary, one-hot)
    action_space : gymnasium.spaces.Discrete or Box (finite bounds)
    config : DeepQConfig, optional
    generator : torch.Generator, optional
        None: torch's global generator.
    device : optional
    **overrides :
        Single fields of the config.
    """

    @renamed_argument("temperature", "T", since="0.2")
    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: DeepQConfig | None = None,
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
        **overrides: Any,
    ) -> None:
        super().__init__(
            observation_space, action_space, config, generator=generator, device=device,
            **overrides,
        )  # fmt: skip

    def make_qnet(
        self, obs_dim: int, action_dim: int, generator: torch.Generator | None
    ) -> torch.nn.Module:
        """An :class:`MLPQNet` on ``[s; a]``."""
        return MLPQNet(obs_dim + action_dim, self.config.hidden, generator)


def train_steps(*args: Any, **kwargs: Any) -> Any:
    """Deprecated alias of :func:`ebmlib.rl.training.train_steps` (moved there)."""
    warnings.warn(
        "ebmlib.rl.energy_agents.train_steps moved to ebmlib.rl.training.train_steps",
        DeprecationWarning,
        stacklevel=2,
    )
    from .training import train_steps as _train_steps

    return _train_steps(*args, **kwargs)
