r"""A thinking agent: Q-values from the free energy of an attention Boltzmann machine (chapter 13).

The thought :math:`a \in \{0, 1\}^n` and a pattern index :math:`i \in \{1, \dots, N\}` form a
Boltzmann machine whose energy, with the state :math:`s` clamped, is

.. math::

    E(a, i \mid s) = -z_i(s, a), \qquad z_i(s, a) = u_i(s) + x_i(s)^\top a,

where the :math:`N` stored **state-action patterns** :math:`(u_i(s), x_i(s))` are read from the
state by a network (a key part :math:`u_i` that scores how well pattern :math:`i` fits the state
and an action part :math:`x_i \in \R^n` that says which propositions it asserts). Summing out
the index at inverse temperature :math:`\beta` gives the free energy and the action value
(chapter 13, :math:numref:`eq-thinking-q`)

.. math::

    Q(s, a) = -F(s, a) = \beta^{-1} \log \sum_{i=1}^N e^{\beta z_i(s, a)},

the log-sum-exp energy of chapters 4 and 8 with the thought as the query. The two conditionals
are the chapter-8 Gibbs step with binary units (:func:`gibbs_thoughts`):
:math:`p(i \mid a, s) = \mathrm{softmax}(z(s, a)/T)_i` (attention over the stored patterns) and
:math:`p(a \mid i, s) = \prod_j \sigma(x_{ij}(s)/T)^{a_j} (1 - \sigma(x_{ij}(s)/T))^{1 - a_j}`.
At :math:`T = 1/\beta` the thoughts it samples follow :math:`e^{\beta Q(s, a)}`; at other
temperatures they follow the machine at that temperature, :math:`e^{F_T/T}` with
:math:`F_T = -T\log\sum_i e^{z_i/T}` (as for the RBM of chapter 10). Because :math:`a` given
:math:`i` factorises, the index marginal has a closed form and :func:`sample_thoughts` draws
exact samples too.

:class:`AttentionQ` learns :math:`Q` by temporal differences with backpropagation (the
shared :class:`~ebmlib.rl.config.DeepQConfig`, :class:`~ebmlib.rl.buffer.ReplayBuffer` and
:func:`~ebmlib.rl.agents.td_step`); it explores by Gibbs sampling with the state clamped and acts
greedily at the zero-temperature limit, the best of the :math:`N` pattern modes. With
``n_patterns=1`` the value is additive over the bits of the thought,
:math:`Q = u(s) + x(s)^\top a`, the per-bit model that the chapter shows cannot pick the
optimal thought.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from .._states import MAX_EXACT_UNITS, binary_states
from .._validation import check_choice, check_generator, check_int, check_positive, check_tensor
from ._nets import _mlp, _seeded_init
from .buffer import ReplayBuffer
from .config import DeepQConfig, _build, schedule_value

__all__ = [
    "AttentionQNet",
    "AttentionQ",
    "gibbs_thoughts",
    "sample_thoughts",
    "thought_log_probs",
    "pattern_modes",
]


# ---------------------------------------------------------------------------------------------
# the machine, as functions of the clamped state's patterns (u [B, N], X [B, N, n])
# ---------------------------------------------------------------------------------------------
def _check_patterns(u: torch.Tensor, X: torch.Tensor) -> None:
    check_tensor(u, "u", ndim=2, floating=True)
    check_tensor(X, "X", ndim=3, floating=True)
    if X.shape[:2] != u.shape:
        raise ValueError(
            f"X must have shape [B, N, n] with [B, N] = u.shape={tuple(u.shape)}, got "
            f"{tuple(X.shape)}"
        )
    if X.dtype != u.dtype:
        raise TypeError(f"u and X must share a dtype, got {u.dtype} and {X.dtype}")


def _index_logits(u: torch.Tensor, X: torch.Tensor, a: torch.Tensor, T: float) -> torch.Tensor:
    """Log attention weights of the index given the thought, ``(u + X a)/T``, ``[B, N]``."""
    return (u + (X @ a[:, :, None])[..., 0]) / T


def _marginal_index_logits(u: torch.Tensor, X: torch.Tensor, T: float) -> torch.Tensor:
    """Log marginal weights of the index, ``u/T + sum_j softplus(x_ij/T)``, ``[B, N]``."""
    return u / T + F.softplus(X / T).sum(-1)


def _unit_probs(x: torch.Tensor, T: float) -> torch.Tensor:
    """Probabilities that each proposition is asserted given the index, ``sigmoid(x/T)``."""
    return torch.sigmoid(x / T)


def gibbs_thoughts(
    u: torch.Tensor,
    X: torch.Tensor,
    T: float = 1.0,
    steps: int = 1,
    *,
    a0: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    return_trace: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Block Gibbs sampling of thoughts with the state clamped (chapter 13, the chapter-8 step).

    Each step draws the pattern index from the attention weights and then every proposition of
    the thought independently from the chosen pattern:

    .. math::

        i \sim \mathrm{softmax}\big((u + X a)/T\big), \qquad
        a_j \sim \mathrm{Bernoulli}\big(\sigma(x_{ij}/T)\big).

    The chain leaves :math:`p_T(a, i) \propto e^{(u_i + x_i^\top a)/T}` invariant.

    Parameters
    ----------
    u : torch.Tensor
        Key parts of the patterns at the clamped state, ``[B, N]``.
    X : torch.Tensor
        Action parts, ``[B, N, n]``.
    T : float
        Temperature (> 0).
    steps : int
        Number of block steps (>= 1).
    a0 : torch.Tensor, optional
        Initial thoughts ``[B, n]`` (default: the empty thought).
    generator : torch.Generator, optional
        None: torch's global generator.
    return_trace : bool
        Also return the attention weights ``softmax((u + X a)/T)`` before each step,
        ``[steps, B, N]``.

    Returns
    -------
    (thoughts, indices, trace)
        ``[B, n]`` binary thoughts (dtype of ``u``), ``[B]`` the last indices, and the trace or
        None.
    """
    _check_patterns(u, X)
    T = check_positive(T, "T")
    steps = check_int(steps, "steps", minimum=1)
    check_generator(generator)
    B, N, n = X.shape
    if a0 is None:
        a = torch.zeros(B, n, dtype=u.dtype, device=u.device)
    else:
        a = check_tensor(a0, "a0", ndim=2).to(u.dtype)
        if a.shape != (B, n):
            raise ValueError(f"a0 must have shape {(B, n)}, got {tuple(a.shape)}")
    trace = []
    rows = torch.arange(B, device=u.device)
    for _ in range(steps):
        w = torch.softmax(_index_logits(u, X, a, T), -1)  # [B, N]
        if return_trace:
            trace.append(w)
        idx = torch.multinomial(w, 1, generator=generator)[:, 0]
        a = torch.bernoulli(_unit_probs(X[rows, idx], T), generator=generator)
    return a, idx, (torch.stack(trace) if return_trace else None)


def sample_thoughts(
    u: torch.Tensor, X: torch.Tensor, T: float = 1.0, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Exact samples of :math:`p_T(a, i) \propto e^{(u_i + x_i^\top a)/T}` (chapter 13).

    Summing the thought out in closed form, the index has the marginal

    .. math::

        p_T(i) \propto \exp\Big(u_i/T + \sum_j \operatorname{softplus}(x_{ij}/T)\Big),

    and given the index the propositions are independent Bernoulli draws. Returns thoughts
    ``[B, n]`` and indices ``[B]``.
    """
    _check_patterns(u, X)
    T = check_positive(T, "T")
    check_generator(generator)
    logw = _marginal_index_logits(u, X, T)
    idx = torch.multinomial(torch.softmax(logw, -1), 1, generator=generator)[:, 0]
    rows = torch.arange(u.shape[0], device=u.device)
    return torch.bernoulli(_unit_probs(X[rows, idx], T), generator=generator), idx


def thought_log_probs(u: torch.Tensor, X: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    r"""Exact :math:`\log p_T(a)` of every thought, by enumeration (small ``n`` only).

    :math:`p_T(a) \propto \sum_i e^{(u_i + x_i^\top a)/T}`
    (chapter 13, :math:numref:`eq-thinking-pt`); thought ``k`` is the binary expansion of
    ``k`` with the least significant bit first (bit ``j`` of ``k`` is proposition ``j``), the
    order of every enumeration in ``ebmlib``. Returns ``[B, 2**n]``.
    """
    _check_patterns(u, X)
    T = check_positive(T, "T")
    n = X.shape[-1]
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"enumeration needs n <= {MAX_EXACT_UNITS}, got n={n}")
    acts = binary_states(n, dtype=u.dtype, device=u.device)  # [2^n, n]
    z = (u[:, None, :] + torch.einsum("an,bkn->bak", acts, X)) / T  # [B, 2^n, N]
    logp = torch.logsumexp(z, -1)
    return logp - torch.logsumexp(logp, -1, keepdim=True)


def pattern_modes(X: torch.Tensor) -> torch.Tensor:
    r"""The most probable thought of each pattern, :math:`a_j = 1[x_{ij} > 0]`, ``[B, N, n]``.

    As :math:`T \to 0` the machine's thoughts concentrate on these: for each index the
    conditional :math:`\sigma(x_{ij}/T)` becomes the step function.
    """
    check_tensor(X, "X", ndim=3, floating=True)
    return (X > 0).to(X.dtype)


# ---------------------------------------------------------------------------------------------
# the Q-network
# ---------------------------------------------------------------------------------------------
class AttentionQNet(torch.nn.Module):
    r"""The attention-energy Q-function :math:`Q(s, a) = \beta^{-1}\log\sum_i e^{\beta z_i(s,a)}`.

    :math:`z_i(s, a) = u_i(s) + x_i(s)^\top a`, read from the state by an MLP
    (:math:numref:`eq-thinking-q`). The action parts are written
    :math:`x_i(s) = b(s) + d_i(s)`: a part :math:`b` shared by all patterns (the visible
    biases of the machine; :math:`b^\top a` is the additive part of :math:`Q`, since
    :math:`\lse` shifts by it) and a part :math:`d_i` of each pattern, which starts near zero, so
    that the untrained machine is nearly additive and its patterns separate as they learn.

    Parameters
    ----------
    n_obs : int
        Length of the state vector.
    n_props : int
        Number of propositions :math:`n` (action units).
    n_patterns : int
        :math:`N`; 1 gives the additive model :math:`u(s) + x(s)^\top a`.
    hidden : tuple of int
        Hidden widths of the MLP.
    beta : float
        Inverse temperature of the log-sum-exp.
    generator : torch.Generator, optional
        Source of the initial weights (None: torch's global generator).

    Notes
    -----
    The shared part starts with bias :math:`-\beta^{-1}\log n`, so that an untrained machine
    sampled at :math:`T = 1/\beta` thinks thoughts of about one proposition instead of
    :math:`n/2`; the weights of the pattern parts :math:`u_i, d_i` start 10 times smaller than
    torch's default.
    """

    def __init__(
        self,
        n_obs: int,
        n_props: int,
        n_patterns: int = 16,
        hidden: tuple[int, ...] = (128,),
        beta: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_obs = check_int(n_obs, "n_obs", minimum=1)
        self.n_props = check_int(n_props, "n_props", minimum=1)
        self.n_patterns = check_int(n_patterns, "n_patterns", minimum=1)
        self.beta = check_positive(beta, "beta")
        n, N = self.n_props, self.n_patterns
        self.net = _mlp(self.n_obs, tuple(hidden), n + N * (n + 1))
        _seeded_init(self.net, generator)
        with torch.no_grad():
            last = self.net[-1]
            last.weight[n:] *= 0.1
            last.bias[n:] *= 0.1
            last.bias[:n] -= math.log(n) / self.beta

    def patterns(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Key parts ``u`` ``[B, N]`` and action parts ``X`` ``[B, N, n]`` at states ``[B, ds]``."""
        n, N = self.n_props, self.n_patterns
        out = self.net(s)
        shared = out[:, :n]  # b(s), [B, n]
        per = out[:, n:].view(s.shape[0], N, n + 1)
        return per[..., 0], shared[:, None, :] + per[..., 1:]

    def scores(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``z_i(s, a)`` for thoughts ``a`` ``[B, K, n]`` -> ``[B, K, N]``."""
        u, X = self.patterns(s)
        return u[:, None, :] + a @ X.transpose(1, 2)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` for states ``[B, ds]`` and thoughts ``[B, K, n]`` -> ``[B, K]``."""
        return torch.logsumexp(self.beta * self.scores(s, a), -1) / self.beta

    def attention(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        r"""Attention weights :math:`p(i \mid s, a) = \mathrm{softmax}(\beta z)`, ``[B, K, N]``."""
        return torch.softmax(self.beta * self.scores(s, a), -1)


# ---------------------------------------------------------------------------------------------
# the agent
# ---------------------------------------------------------------------------------------------
class AttentionQ(torch.nn.Module):
    r"""TD learning of the attention-energy Q-function, acting by sampled thoughts (chapter 13).

    * **Acting** (:meth:`act`): a thought from the machine at the current temperature
      ``config.T`` with the state clamped: an exact draw (index from its closed-form marginal,
      then the thought) moved by ``gibbs_steps`` block Gibbs steps (:func:`gibbs_thoughts`). A
      chain started from the empty thought instead draws its first index from
      :math:`\mathrm{softmax}(u/T)` and reaches patterns whose key part is small only slowly.
    * **Greedy** (:meth:`greedy`): the zero-temperature limit: the best of the :math:`N` pattern
      modes (:func:`pattern_modes`) and the empty thought by :math:`Q`.
    * **Learning** (:meth:`update`): the shared replay buffer and TD step
      (:func:`~ebmlib.rl.agents.td_step`, Huber loss on :math:`r + \gamma V(s')` with a target
      copy), the successor value :math:`V` taken over thoughts sampled from the machine at
      :math:`s'` (or over its pattern modes, ``backup="max"``).

    Parameters
    ----------
    observation_space : gymnasium.spaces.MultiBinary
        States as binary vectors (for :class:`~ebmlib.rl.thoughts.DeductionEnv`: beliefs and
        goal).
    action_space : gymnasium.spaces.MultiBinary
        Thoughts over ``n`` propositions.
    config : DeepQConfig, optional
        Learning, replay and temperature settings (``config.T`` may be a schedule over steps).
    n_patterns : int
        :math:`N` stored patterns.
    beta : float
        Inverse temperature of the free energy.
    gibbs_steps : int
        Block Gibbs steps per action.
    backup : {"sample", "max"}
        Successor value of the TD target: thoughts sampled from the machine, or the best
        pattern mode (see :meth:`next_value`).
    n_backup : int
        Sampled thoughts per successor state (``backup="sample"``).
    generator : torch.Generator, optional
        Source of the initial weights, minibatches and (by default) the actions (a CPU
        generator; sampling on another device then uses that device's global generator).
    device : torch.device or str, optional
        Of the network and the replay buffer.
    **overrides :
        Single fields of the config.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: DeepQConfig | None = None,
        *,
        n_patterns: int = 16,
        beta: float = 1.0,
        gibbs_steps: int = 1,
        backup: str = "sample",
        n_backup: int = 4,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        self.config = _build(DeepQConfig, config, overrides)
        for name, space in (("observation_space", observation_space),
                            ("action_space", action_space)):  # fmt: skip
            if not isinstance(space, spaces.MultiBinary) or len(space.shape) != 1:
                raise TypeError(f"{name} must be a 1-d gymnasium MultiBinary space, got {space}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.n_obs = int(observation_space.shape[0])
        self.n_props = int(action_space.shape[0])
        self.generator = check_generator(generator)
        self.gibbs_steps = check_int(gibbs_steps, "gibbs_steps", minimum=1)
        self.backup = check_choice(backup, "backup", ("sample", "max"))
        self.n_backup = check_int(n_backup, "n_backup", minimum=1)
        self.qnet = AttentionQNet(
            self.n_obs, self.n_props, n_patterns, self.config.hidden, beta, generator
        ).to(device)
        self.target = copy.deepcopy(self.qnet)
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=self.config.lr)
        self.buffer = ReplayBuffer(
            self.config.buffer_size, self.n_obs, self.n_props, device=self._device
        )
        self.steps = 0
        self.episode = 0

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return next(self.qnet.parameters()).device

    def _gen(self, generator: torch.Generator | None) -> torch.Generator | None:
        g = self.generator if generator is None else check_generator(generator)
        return g if g is None or g.device == self._device else None

    def _s(self, obs: Any, what: str = "obs") -> torch.Tensor:
        arr = np.asarray(obs)
        if arr.shape != (self.n_obs,) or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{what} must be a binary vector of shape ({self.n_obs},)")
        return torch.as_tensor(arr, dtype=torch.float32, device=self._device)[None]

    def _a(self, action: Any) -> torch.Tensor:
        arr = np.asarray(action)
        if arr.shape != (self.n_props,) or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"action must be a binary vector of shape ({self.n_props},)")
        return torch.as_tensor(arr, dtype=torch.float32, device=self._device)

    @property
    def current_T(self) -> float:
        """Sampling temperature at the current step count."""
        return schedule_value(self.config.T, self.steps, "T")

    def begin_episode(self, episode: int) -> None:
        """Record the episode number (the schedules run on environment steps)."""
        self.episode = check_int(episode, "episode", minimum=0)

    # -- values and thoughts ---------------------------------------------------------------------
    @torch.no_grad()
    def q(self, obs: Any, thoughts: Any) -> torch.Tensor:
        """``Q(s, a)`` of one state for thoughts ``[K, n]`` -> ``[K]``."""
        a = torch.as_tensor(np.asarray(thoughts), dtype=torch.float32, device=self._device)
        if a.ndim != 2 or a.shape[1] != self.n_props:
            raise ValueError(f"thoughts must have shape [K, {self.n_props}]")
        return self.qnet(self._s(obs), a[None])[0]

    @torch.no_grad()
    def patterns(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored patterns read at a state: ``u`` ``[N]`` and ``X`` ``[N, n]``."""
        u, X = self.qnet.patterns(self._s(obs))
        return u[0], X[0]

    @torch.no_grad()
    def attention(self, obs: Any, thought: Any) -> torch.Tensor:
        """Attention weights over the patterns for one state and thought, ``[N]``."""
        return self.qnet.attention(self._s(obs), self._a(thought)[None, None])[0, 0]

    @torch.no_grad()
    def _best_mode(self, net: AttentionQNet, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, X = net.patterns(s)
        cand = torch.cat([pattern_modes(X), torch.zeros_like(X[:, :1])], 1)  # [B, N + 1, n]
        q = net(s, cand)
        best = q.argmax(-1)
        return cand[torch.arange(s.shape[0]), best], q.max(-1).values

    def greedy(self, obs: Any) -> np.ndarray:
        """The zero-temperature thought: the best pattern mode (or the empty thought) by Q."""
        a, _ = self._best_mode(self.qnet, self._s(obs))
        return a[0].cpu().numpy().astype(np.int8)

    @torch.no_grad()
    def act(self, obs: Any, generator: torch.Generator | None = None) -> np.ndarray:
        """A thought sampled at the current temperature: an exact draw (:func:`sample_thoughts`)
        followed by ``gibbs_steps`` Gibbs steps (which keep it exact)."""
        g = self._gen(generator)
        u, X = self.qnet.patterns(self._s(obs))
        T = self.current_T
        a0, _ = sample_thoughts(u, X, T, generator=g)
        a, _, _ = gibbs_thoughts(u, X, T, self.gibbs_steps, a0=a0, generator=g)
        return a[0].cpu().numpy().astype(np.int8)

    @torch.no_grad()
    def next_value(self, net: torch.nn.Module, next_obs: torch.Tensor) -> torch.Tensor:
        r"""The successor value of the TD target, ``[B]``.

        ``backup="sample"`` (the default): the mean of ``net`` (the target copy) over
        ``n_backup`` thoughts drawn from the online machine at the current temperature,
        :math:`\frac1K\sum_k Q_{\bar\theta}(s', a'_k)` with :math:`a'_k \sim p_T(a \mid s')`
        (chapter 13, :math:numref:`eq-thinking-td`: expected SARSA for the agent's own Boltzmann
        policy; as :math:`T \to 0` it becomes the max). ``backup="max"``: the best pattern mode
        of the online network at :math:`s'` valued by ``net`` (double Q-learning). A max over
        thoughts adds up the positive errors of every proposition whose value is near zero and
        extrapolates to thoughts that are never taken, so its upward bias can be larger than
        that of a max over a few actions (chapter 13).
        """
        if self.backup == "max":
            best, _ = self._best_mode(self.qnet, next_obs)
            return net(next_obs, best[:, None, :])[:, 0]
        u, X = self.qnet.patterns(next_obs)
        k = self.n_backup
        a, _ = sample_thoughts(
            u.repeat_interleave(k, 0), X.repeat_interleave(k, 0), self.current_T,
            generator=self._gen(None),
        )  # fmt: skip
        q = net(next_obs, a.view(next_obs.shape[0], k, -1))
        return q.mean(-1)

    def update(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        next_action: Any | None,
        terminated: bool,
    ) -> float:
        """Store the transition and, every ``train_every`` steps, take one TD step.

        Returns the mean absolute TD error of the minibatch (0 before learning starts).
        """
        from .agents import td_step, update_target

        cfg = self.config
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        self.buffer.add(
            self._s(obs)[0], self._a(action), reward, self._s(next_obs, "next_obs")[0],
            bool(terminated),
        )  # fmt: skip
        self.steps += 1
        if cfg.tau is None and self.steps % cfg.target_update == 0:
            update_target(self.qnet, self.target, None)
        if self.steps < cfg.learning_starts or self.steps % cfg.train_every:
            return 0.0
        batch = self.buffer.sample(cfg.batch_size, self._gen(None))
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
