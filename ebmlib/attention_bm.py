r"""The Boltzmann machine behind attention (chapter 8).

A modern Hopfield network (chapter 4) has a stochastic twin. Take a continuous state
:math:`\xi \in \mathbb{R}^d` and a pattern index :math:`i \in \{1, \dots, N\}` and define the joint
Boltzmann distribution (:math:numref:`eq-abm-joint`)

.. math::

    p(\xi, i) = \frac{1}{Z} \exp\!\big(-\beta\,(\tfrac12 \lVert\xi\rVert^2 - x_i^\top \xi)\big).

Its conditionals are the two halves of a block Gibbs sampler (:math:numref:`eq-abm-conditionals`),

* :math:`p(i \mid \xi) = \mathrm{softmax}(\beta X^\top \xi)_i` (the attention weights), and
* :math:`p(\xi \mid i) = \mathcal{N}(x_i, I/\beta)`;

its marginal is :math:`p(\xi) \propto e^{-\beta E(\xi)}` with :math:`E` the modern-Hopfield
energy of :func:`ebmlib.modern.energy` (:math:numref:`eq-abm-marginal`), a Gaussian mixture whose
weights :math:`w_i \propto e^{\beta\lVert x_i\rVert^2/2}` are tied to the pattern norms
(:math:numref:`eq-abm-mixture`), and the normaliser is known in closed form,
:math:`Z = (2\pi/\beta)^{d/2} \sum_i e^{\beta \lVert x_i \rVert^2 / 2}`. Replacing the sampled
index by its posterior mean gives :math:`\xi \leftarrow X \mathrm{softmax}(\beta X^\top \xi)`:
the Hopfield update, i.e. one attention step, is the mean-field step of this machine
(:math:numref:`eq-abm-meanfield`).

Maximum likelihood for the patterns (:meth:`AttentionBM.fit`) is *not* an equal-weight
Gaussian-mixture fit: its gradient is the mixture-mean gradient plus a term
:math:`\beta x_i(\bar r_i - w_i)` from the tie between weights and norms
(:math:numref:`eq-abm-ml-split`). For binary data, :meth:`AttentionBM.log_prob_binary` quantises
the machine to unit cells; the result is exactly a mixture of independent-pixel Bernoulli
distributions (:class:`BernoulliMixture`, :math:numref:`eq-abm-bernoulli-mixture`), which
:func:`bernoulli_mixture_em` fits by ordinary EM as a baseline.

Patterns are stored as **rows** (``patterns`` has shape ``[N, d]``), states are ``[B, d]``; the
book's :math:`X^\top \xi` is ``states @ patterns.T``. ``beta`` is the raw inverse temperature
(the temperature is ``T = 1 / beta``).

The module also holds the classical precursor (a Hebbian Hopfield network is an RBM with
Gaussian hidden units, by the Hubbard-Stratonovich identity): :func:`hopfield_log_partition` and
:func:`hubbard_stratonovich_log_partition` compute its partition function in both pictures.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ._optional import require
from ._states import MAX_EXACT_UNITS, binary_states, state_chunks
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_nonnegative,
    check_pm1,
    check_positive,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .utils import Result, progress

__all__ = [
    "AttentionBM",
    "GibbsResult",
    "FitHistory",
    "BernoulliMixture",
    "BinarySample",
    "EMResult",
    "bernoulli_mixture_em",
    "hopfield_log_partition",
    "hubbard_stratonovich_log_partition",
    "draw_annealing",
]

#: Largest number of grid points :meth:`AttentionBM.index_transition_matrix` and
#: :func:`hubbard_stratonovich_log_partition` evaluate before refusing (memory and time).
MAX_GRID_POINTS = 4_000_000


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GibbsResult(Result):
    """Result of :meth:`AttentionBM.gibbs` and :meth:`AttentionBM.sample`.

    Attributes
    ----------
    states : torch.Tensor
        Final states ``[B, d]``.
    indices : torch.Tensor
        The pattern indices drawn last, ``[B]`` (int64): the state was drawn from
        ``N(x_i, I / beta)`` with these ``i``.
    trace : torch.Tensor or None
        States after every step, ``[steps, B, d]``, when asked for.

    Notes
    -----
    Unpacking as ``states, indices, trace = bm.gibbs(...)`` (the named tuple of earlier
    versions) still works but is deprecated; read the attributes instead.
    """

    states: torch.Tensor
    indices: torch.Tensor
    trace: torch.Tensor | None = None

    def __iter__(self) -> Iterator:  # type: ignore[override]
        warnings.warn(
            "unpacking a GibbsResult as (states, indices, trace) is deprecated; use res.states, "
            "res.indices and res.trace",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self.states, self.indices, self.trace))


@dataclasses.dataclass
class FitHistory(Result):
    """Training history of :meth:`AttentionBM.fit` and :meth:`AttentionBM.fit_binary`.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers, from 1.
    log_likelihood : list of float
        Mean exact log-likelihood of the training data after each epoch (nats per example):
        the continuous density for :meth:`~AttentionBM.fit`, the quantised probability for
        :meth:`~AttentionBM.fit_binary`.
    lr : list of float
        Step size used in each epoch.
    """

    epoch: list[int] = dataclasses.field(default_factory=list)
    log_likelihood: list[float] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)

    def append(self, epoch: int, log_likelihood: float, lr: float) -> None:
        """Record one epoch."""
        self.epoch.append(epoch)
        self.log_likelihood.append(log_likelihood)
        self.lr.append(lr)


@dataclasses.dataclass(frozen=True)
class BinarySample(Result):
    """Exact samples of a :class:`BernoulliMixture`.

    Attributes
    ----------
    samples : torch.Tensor
        Binary rows ``[n, d]`` (0.0 / 1.0 in the mixture's dtype).
    components : torch.Tensor
        The component each row was drawn from, ``[n]`` (int64).
    """

    samples: torch.Tensor
    components: torch.Tensor


@dataclasses.dataclass(frozen=True)
class BernoulliMixture(Result):
    r"""A mixture of independent-pixel Bernoulli distributions over ``{0, 1}^d``.

    .. math::

        p(v) = \sum_{i=1}^N \tilde w_i \prod_{j=1}^d \theta_{ij}^{v_j} (1 - \theta_{ij})^{1 - v_j}

    (:math:numref:`eq-abm-bernoulli-mixture`). Stored in log space, so that probabilities
    within round-off of 0 or 1 keep their precision.

    Attributes
    ----------
    log_weights : torch.Tensor
        :math:`\log \tilde w_i`, ``[N]``; ``logsumexp`` is 0.
    log_p1 : torch.Tensor
        :math:`\log \theta_{ij}`, ``[N, d]``.
    log_p0 : torch.Tensor
        :math:`\log (1 - \theta_{ij})`, ``[N, d]``.

    Examples
    --------
    >>> mix = BernoulliMixture.from_probs(torch.tensor([0.5, 0.5]),
    ...                                   torch.tensor([[0.9, 0.1], [0.2, 0.7]]))
    >>> mix.log_prob(torch.tensor([[1.0, 0.0]])).exp()
    tensor([0.4350])
    """

    log_weights: torch.Tensor
    log_p1: torch.Tensor
    log_p0: torch.Tensor

    def __post_init__(self) -> None:
        check_tensor(self.log_weights, "log_weights", ndim=1, floating=True, finite=False)
        check_tensor(self.log_p1, "log_p1", ndim=2, floating=True, finite=False)
        check_tensor(self.log_p0, "log_p0", ndim=2, floating=True, finite=False)
        check_same_dtype(log_weights=self.log_weights, log_p1=self.log_p1, log_p0=self.log_p0)
        check_same_device(log_weights=self.log_weights, log_p1=self.log_p1, log_p0=self.log_p0)
        for name in ("log_weights", "log_p1", "log_p0"):
            t = getattr(self, name)
            if bool((torch.isnan(t) | (t > 1e-6)).any()):  # -inf (probability 0) is fine
                raise ValueError(f"{name} must hold log-probabilities (<= 0, no NaN)")
        if self.log_p1.shape != self.log_p0.shape or self.log_p1.shape[0] != len(self.log_weights):
            raise ValueError(
                "log_p1 and log_p0 must both have shape [N, d] with N = len(log_weights), got "
                f"{tuple(self.log_p1.shape)}, {tuple(self.log_p0.shape)} and N = "
                f"{len(self.log_weights)}"
            )

    @classmethod
    def from_probs(cls, weights: torch.Tensor, probs: torch.Tensor) -> BernoulliMixture:
        """Build from mixture weights ``[N]`` (>= 0, summing to 1) and pixel probabilities
        ``[N, d]`` in ``[0, 1]``."""
        check_tensor(weights, "weights", ndim=1, floating=True)
        check_tensor(probs, "probs", ndim=2, floating=True)
        check_same_dtype(weights=weights, probs=probs)
        check_same_device(weights=weights, probs=probs)
        if probs.shape[0] != weights.shape[0]:
            raise ValueError(
                f"probs must have one row per component ({weights.shape[0]} weights), got "
                f"shape {tuple(probs.shape)}"
            )
        if bool((weights < 0).any()) or abs(float(weights.sum()) - 1.0) > 1e-6:
            raise ValueError("weights must be >= 0 and sum to 1")
        if bool(((probs < 0) | (probs > 1)).any()):
            raise ValueError("probs must lie in [0, 1]")
        return cls(weights.log(), probs.log(), torch.log1p(-probs))

    @property
    def n_components(self) -> int:
        """Number of components ``N``."""
        return self.log_p1.shape[0]

    @property
    def dim(self) -> int:
        """Number of pixels ``d``."""
        return self.log_p1.shape[1]

    @property
    def weights(self) -> torch.Tensor:
        r"""Mixture weights :math:`\tilde w`, ``[N]``."""
        return self.log_weights.exp()

    @property
    def probs(self) -> torch.Tensor:
        r"""Pixel probabilities :math:`\theta`, ``[N, d]``."""
        return self.log_p1.exp()

    def n_parameters(self) -> int:
        """Free parameters: ``N d`` pixel probabilities and ``N - 1`` weights."""
        return self.n_components * self.dim + self.n_components - 1

    def component_log_prob(self, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\log \tilde w_i + \sum_j \log p(v_j \mid i)` for every component, ``[B, N]``."""
        v = _check_binary_rows(v, "v", self.dim, self.log_p1)
        return self._component_log_prob(v)

    def _component_log_prob(self, v: torch.Tensor) -> torch.Tensor:
        # sum_j [v_j log theta_ij + (1 - v_j) log(1 - theta_ij)] as two matrix products; a
        # pixel probability of exactly 0 or 1 has log -inf, clamped to the most negative float
        # so that 0 * log never makes a NaN (the sum still overflows to -inf where it should)
        lo = torch.finfo(self.log_p1.dtype).min
        return (
            v @ self.log_p1.clamp(min=lo).T
            + (1 - v) @ self.log_p0.clamp(min=lo).T
            + self.log_weights
        )

    def log_prob(self, v: torch.Tensor) -> torch.Tensor:
        """Exact log-probability of binary rows ``v`` (``[B, d]``), in nats, ``[B]``."""
        return torch.logsumexp(self.component_log_prob(v), dim=-1)

    def posterior(self, v: torch.Tensor) -> torch.Tensor:
        """Component posterior ``p(i | v)`` (the E-step responsibilities), ``[B, N]``."""
        return torch.softmax(self.component_log_prob(v), dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> BinarySample:
        """Exact samples: a component by its weight, then every pixel independently.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        generator : torch.Generator, optional
            Source of randomness (default: torch's global generator).

        Returns
        -------
        BinarySample
            ``samples [n, d]`` and ``components [n]``.
        """
        n = check_int(n, "n", minimum=1)
        check_generator(generator, device=self.log_p1.device)
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        u = torch.rand(
            (n, self.dim), generator=generator, dtype=self.log_p1.dtype, device=self.log_p1.device
        )
        samples = (u < self.probs[comp]).to(self.log_p1.dtype)
        return BinarySample(samples, comp)


@dataclasses.dataclass(frozen=True)
class EMResult(Result):
    """Result of :func:`bernoulli_mixture_em`.

    Attributes
    ----------
    mixture : BernoulliMixture
        The fitted mixture.
    log_likelihood : list of float
        Mean log-likelihood of the training data before each M-step (nats per example).
    objective : list of float
        The quantity EM never lowers: the mean log-likelihood plus the log prior of the
        pseudo-counts, divided by the number of examples.
    """

    mixture: BernoulliMixture
    log_likelihood: list[float]
    objective: list[float]


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _as_floating(x: torch.Tensor, dtype: torch.dtype, name: str) -> torch.Tensor:
    """Integer and bool tensors become ``dtype`` (the dtype policy); floats are kept."""
    if x.is_floating_point():
        return x
    if x.is_complex():
        raise TypeError(f"{name} must be real (floating, integer or bool), got {x.dtype}")
    return x.to(dtype)


def _check_binary_rows(v: Any, name: str, d: int, like: torch.Tensor) -> torch.Tensor:
    check_tensor(v, name, ndim=2)
    check_same_device(**{name: v, "the model": like})
    if v.is_floating_point():
        check_same_dtype(**{name: v, "the model": like})
    v = _as_floating(v, like.dtype, name)
    if v.shape[-1] != d:
        raise ValueError(f"{name} must have shape [B, {d}], got {tuple(v.shape)}")
    if not bool(((v == 0) | (v == 1)).all()):
        raise ValueError(f"{name} must contain only 0 and 1 entries (binary vectors)")
    return v


def _log_interval(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b, on the side of the tail that keeps precision."""
    flip = (a + b) > 0  # mostly in the upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_hi = torch.special.log_ndtr(hi)
    return log_hi + torch.log(-torch.expm1(torch.special.log_ndtr(lo) - log_hi))


# ---------------------------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------------------------


class AttentionBM(nn.Module):
    r"""A Boltzmann machine over a continuous state and a pattern index (chapter 8).

    .. math::

        p(\xi, i) \propto \exp\!\big(-\beta\,(\tfrac12\lVert\xi\rVert^2 - x_i^\top\xi)\big),
        \qquad \xi \in \mathbb{R}^d,\ i \in \{1, \dots, N\}

    (:math:numref:`eq-abm-joint`). The stored patterns are an ``nn.Parameter`` (so the machine
    can learn them with :meth:`fit`, move with ``.to(device)`` and round-trip through
    ``state_dict``); ``beta`` is a fixed inverse temperature that is saved in the
    ``state_dict`` too (as extra state) and restored exactly by ``load_state_dict``.

    Parameters
    ----------
    patterns : torch.Tensor
        Initial stored patterns as rows, shape ``[N, d]``, floating point, finite. Copied.
    beta : float
        Inverse temperature ``1 / T``, > 0. The conditional ``p(xi | i)`` has covariance
        ``I / beta``.

    Examples
    --------
    >>> X = torch.tensor([[-2.0], [1.0], [3.0]])
    >>> bm = AttentionBM(X, beta=2.0)
    >>> bm.mean_field_step(torch.tensor([[0.5]])).shape
    torch.Size([1, 1])
    """

    def __init__(self, patterns: torch.Tensor, beta: float):
        super().__init__()
        check_tensor(patterns, "patterns", ndim=2, floating=True)
        self._beta = check_positive(beta, "beta")
        self.patterns = nn.Parameter(patterns.detach().clone())

    # -- sizes, beta, state_dict -------------------------------------------------------------

    @property
    def beta(self) -> float:
        """The inverse temperature (a Python float, > 0)."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = check_positive(value, "beta")

    @property
    def T(self) -> float:  # noqa: N802 (the book's symbol)
        """The temperature ``1 / beta``."""
        return 1.0 / self._beta

    def get_extra_state(self) -> dict[str, float]:
        """``beta`` travels in the ``state_dict`` (key ``"_extra_state"``)."""
        return {"beta": self._beta}

    def set_extra_state(self, state: Any) -> None:
        """Restore ``beta`` from a ``state_dict``."""
        if not isinstance(state, dict) or "beta" not in state:
            raise ValueError(f"the extra state must be a dict with key 'beta', got {state!r}")
        self.beta = state["beta"]

    @property
    def n_patterns(self) -> int:
        """Number of stored patterns ``N``."""
        return self.patterns.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the state."""
        return self.patterns.shape[1]

    def extra_repr(self) -> str:
        return f"N={self.n_patterns}, d={self.dim}, beta={self._beta:g}"

    def _check_states(
        self, states: Any, name: str = "states", ndim: tuple[int, ...] = (1, 2)
    ) -> torch.Tensor:
        check_tensor(states, name, ndim=ndim)
        check_same_device(**{name: states, "patterns": self.patterns})
        if states.is_floating_point():
            check_same_dtype(**{name: states, "patterns": self.patterns})
        states = _as_floating(states, self.patterns.dtype, name)
        if states.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have last dimension d = {self.dim} to match the stored patterns, "
                f"got shape {tuple(states.shape)}"
            )
        return states

    def _check_indices(self, indices: Any) -> torch.Tensor:
        if not isinstance(indices, torch.Tensor):
            raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
        if indices.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"indices must have an integer dtype, got {indices.dtype}")
        if indices.numel() == 0:
            raise ValueError("indices must not be empty")
        check_same_device(indices=indices, patterns=self.patterns)
        if bool((indices < 0).any()) or bool((indices >= self.n_patterns).any()):
            raise ValueError(
                f"indices must lie in [0, {self.n_patterns - 1}] (N = {self.n_patterns})"
            )
        return indices.long()

    # -- energies, normaliser, densities -----------------------------------------------------

    def joint_energy(self, states: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        r"""Energy of the joint model, :math:`\tfrac12\lVert\xi\rVert^2 - x_i^\top\xi`.

        ``p(xi, i) = exp(-beta * joint_energy) / Z`` (:math:numref:`eq-abm-joint`).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` (or ``[d]``).
        indices : torch.Tensor
            Integer pattern indices, ``[B]`` (or a scalar tensor).

        Returns
        -------
        torch.Tensor
            ``[B]`` (or a scalar).
        """
        states = self._check_states(states)
        idx = self._check_indices(indices)
        try:
            torch.broadcast_shapes(states.shape[:-1], idx.shape)
        except RuntimeError as err:
            raise ValueError(
                f"indices of shape {tuple(idx.shape)} must match the states of shape "
                f"{tuple(states.shape)} (one index per state)"
            ) from err
        x = self.patterns[idx]
        return 0.5 * (states * states).sum(-1) - (x * states).sum(-1)

    def _log_joint_unnormalised(self, states: torch.Tensor) -> torch.Tensor:
        """``-beta * joint_energy`` for every index, ``[..., N]``."""
        half_sq = 0.5 * (states * states).sum(-1, keepdim=True)
        return self._beta * (states @ self.patterns.T - half_sq)

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        r"""The modern-Hopfield energy :math:`E(\xi)` of the marginal (chapter 4).

        .. math::

            E(\xi) = -\beta^{-1}\log\sum_i e^{-\beta(\lVert\xi\rVert^2/2 - x_i^\top\xi)}
                     + \beta^{-1}\log N + \tfrac12 M^2

        computed from this machine's joint energies; it equals the energy of
        :func:`ebmlib.modern.energy` with the same patterns and ``beta``, and the marginal is
        ``p(xi) = exp(-beta E(xi)) / Z_E`` (:math:numref:`eq-abm-marginal`).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B]`` or a scalar.
        """
        states = self._check_states(states)
        m_sq = (self.patterns * self.patterns).sum(-1).max()
        lse = torch.logsumexp(self._log_joint_unnormalised(states), dim=-1)
        return (-lse + math.log(self.n_patterns)) / self._beta + 0.5 * m_sq

    def log_mixture_weights(self) -> torch.Tensor:
        r"""Log mixture weights :math:`\log w_i`, :math:`w_i \propto e^{\beta\lVert x_i\rVert^2/2}`.

        The marginal is the Gaussian mixture ``sum_i w_i N(x_i, I / beta)``
        (:math:numref:`eq-abm-mixture`): the weights are tied to the pattern norms.

        Returns
        -------
        torch.Tensor
            ``[N]``, ``logsumexp`` of it is 0.
        """
        a = 0.5 * self._beta * (self.patterns * self.patterns).sum(-1)
        return a - torch.logsumexp(a, dim=0)

    def log_partition(self) -> torch.Tensor:
        r"""Exact :math:`\log Z` of the joint model (:math:numref:`eq-abm-partition`).

        .. math:: Z = (2\pi/\beta)^{d/2} \sum_{i=1}^N e^{\beta \lVert x_i \rVert^2 / 2}.

        Returns
        -------
        torch.Tensor
            A 0-dim tensor.
        """
        a = 0.5 * self._beta * (self.patterns * self.patterns).sum(-1)
        return 0.5 * self.dim * math.log(2 * math.pi / self._beta) + torch.logsumexp(a, dim=0)

    def log_density(self, states: torch.Tensor) -> torch.Tensor:
        r"""Exact, normalised log density of the marginal :math:`\log p(\xi)`.

        .. math::

            \log p(\xi) = \log \sum_i e^{-\beta(\lVert\xi\rVert^2/2 - x_i^\top \xi)} - \log Z
                        = -\beta E(\xi) - \log Z_E

        (:math:numref:`eq-abm-marginal`).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B]`` or a scalar; integrates to 1 over ``R^d``.
        """
        states = self._check_states(states)
        return self._log_density(states)

    def _log_density(self, states: torch.Tensor) -> torch.Tensor:
        lse = torch.logsumexp(self._log_joint_unnormalised(states), dim=-1)
        return lse - self.log_partition()

    # -- the two conditionals and the Gibbs sampler (private kernels: no value checks) -------

    def _index_probs(self, states: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self._beta * (states @ self.patterns.T), dim=-1)

    def _draw_indices(
        self, states: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        probs = self._index_probs(states.detach()).detach()
        flat = probs.reshape(-1, self.n_patterns)
        idx = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
        return idx.reshape(probs.shape[:-1])

    def _draw_states(self, idx: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mean = self.patterns.detach()[idx]
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + noise / math.sqrt(self._beta)

    def index_posterior(self, states: torch.Tensor) -> torch.Tensor:
        r"""The conditional :math:`p(i \mid \xi) = \mathrm{softmax}(\beta X^\top\xi)_i`.

        (:math:numref:`eq-abm-conditionals`.) These are exactly the attention weights of a
        query ``xi`` over keys ``X``.

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            ``[B, N]`` (or ``[N]``), rows sum to 1.
        """
        return self._index_probs(self._check_states(states))

    def sample_indices(
        self, states: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``i ~ p(i | xi)`` for each state (one half of a Gibbs step).

        (:math:numref:`eq-abm-conditionals`, :math:numref:`eq-abm-gibbs`.)

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.
        generator : torch.Generator, optional
            On the device of the states (default: torch's global generator).

        Returns
        -------
        torch.Tensor
            ``[B]`` (or 0-dim) int64 indices.
        """
        states = self._check_states(states)
        check_generator(generator, device=self.patterns.device)
        return self._draw_indices(states, generator)

    def sample_states(
        self, indices: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Draw :math:`\xi \sim \mathcal{N}(x_i, I/\beta)` for each index.

        (:math:numref:`eq-abm-conditionals`, the other half of :math:numref:`eq-abm-gibbs`.)

        Parameters
        ----------
        indices : torch.Tensor
            Integer indices, any shape ``S``.
        generator : torch.Generator, optional
            On the device of the patterns (default: torch's global generator).

        Returns
        -------
        torch.Tensor
            States of shape ``S + [d]``.
        """
        idx = self._check_indices(indices)
        check_generator(generator, device=self.patterns.device)
        return self._draw_states(idx, generator)

    def gibbs(
        self,
        states: torch.Tensor,
        steps: int = 1,
        generator: torch.Generator | None = None,
        return_trace: bool = False,
    ) -> GibbsResult:
        r"""Block Gibbs sampling: alternate ``i ~ p(i | xi)`` and ``xi ~ p(xi | i)``.

        One step is :math:numref:`eq-abm-gibbs`. Each of the ``B`` rows of ``states`` is an
        independent chain. The chain leaves the joint distribution invariant, so its state
        marginal converges to ``p(xi) = exp(-beta E(xi)) / Z_E`` (chapter 8, theorem
        "Gibbs sampling of the attention energy") -- but leaving a memory takes a time that
        grows exponentially with ``beta`` times the separation of the patterns
        (:math:numref:`eq-abm-escape`); see :meth:`index_transition_matrix`.

        Parameters
        ----------
        states : torch.Tensor
            Initial states, ``[B, d]``.
        steps : int
            Number of full Gibbs steps (>= 1).
        generator : torch.Generator, optional
            On the device of the states (default: torch's global generator).
        return_trace : bool
            Also return the states after every step, ``[steps, B, d]``.

        Returns
        -------
        GibbsResult
            ``states`` ``[B, d]``, the last sampled ``indices`` ``[B]``, and the ``trace`` or
            None.
        """
        xi = self._check_states(states, ndim=(2,)).detach()
        steps = check_int(steps, "steps", minimum=1)
        check_generator(generator, device=self.patterns.device)
        trace = [] if return_trace else None
        with torch.no_grad():
            for _ in range(steps):
                idx = self._draw_indices(xi, generator)
                xi = self._draw_states(idx, generator)
                if trace is not None:
                    trace.append(xi)
        return GibbsResult(xi, idx, torch.stack(trace) if trace is not None else None)

    def sample(self, n: int, generator: torch.Generator | None = None) -> GibbsResult:
        """Exact ancestral samples: ``i ~ w``, then ``xi ~ N(x_i, I / beta)``.

        (:math:numref:`eq-abm-mixture`.) Unlike :meth:`gibbs`, no chain has to mix.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        generator : torch.Generator, optional
            On the device of the patterns (default: torch's global generator).

        Returns
        -------
        GibbsResult
            ``states [n, d]``, ``indices [n]``, ``trace`` None.
        """
        n = check_int(n, "n", minimum=1)
        check_generator(generator, device=self.patterns.device)
        with torch.no_grad():
            w = self.log_mixture_weights().exp()
            idx = torch.multinomial(w, n, replacement=True, generator=generator)
            return GibbsResult(self._draw_states(idx, generator), idx, None)

    def mean_field_step(self, states: torch.Tensor) -> torch.Tensor:
        r"""Mean-field step :math:`\xi \leftarrow X\mathrm{softmax}(\beta X^\top\xi)` (attention).

        Replacing the sampled index of a Gibbs step by its posterior expectation
        (:math:numref:`eq-abm-meanfield`). This is the modern-Hopfield update of chapter 4,
        one attention step of chapter 5, the fixed-point iteration of naive mean-field
        variational inference for the joint model, and Gaussian mean-shift, i.e. EM for a
        mode of the mixture (:math:numref:`eq-abm-mf-variational`).

        Parameters
        ----------
        states : torch.Tensor
            ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            Same shape as ``states``.
        """
        states = self._check_states(states)
        return self._index_probs(states) @ self.patterns

    # -- mixing ------------------------------------------------------------------------------

    def index_transition_matrix(self, spacing: float | None = None) -> torch.Tensor:
        r"""Exact transition matrix of the index chain of :meth:`gibbs`.

        The indices visited by the Gibbs sampler form a Markov chain of their own, with

        .. math::

            P_{ii'} = \mathbb{E}_{\xi \sim \mathcal N(x_i, I/\beta)}
                      \big[\mathrm{softmax}(\beta X^\top \xi)_{i'}\big]

        (:math:numref:`eq-abm-index-kernel`). It is reversible with respect to the weights
        ``w`` of :meth:`log_mixture_weights`; ``1 / (1 - P_ii)`` is the mean number of steps
        the sampler stays at memory ``i``, and the second eigenvalue sets the mixing time.

        The integrand depends on ``xi`` only through its projection on the span of the
        patterns, so the expectation is an integral over ``r = rank(X)`` Gaussian coordinates;
        it is done by the trapezoidal rule on ``[-10, 10]^r`` (exponentially accurate for
        this smooth integrand; the spacing is chosen from ``beta`` and the pattern distances
        so that the error is far below round-off). Exact for ``r <= 2``.

        Parameters
        ----------
        spacing : float, optional
            Grid spacing in standard deviations (default: chosen from ``beta``).

        Returns
        -------
        torch.Tensor
            ``[N, N]`` float64 on the patterns' device, rows sum to 1.

        Raises
        ------
        ValueError
            If the patterns span more than 2 dimensions, or if the grid would exceed
            ``MAX_GRID_POINTS`` points.
        """
        x = self.patterns.detach().to(torch.float64).cpu()
        n = self.n_patterns
        # X z = A u with u ~ N(0, I_r) the coordinates of z in an orthonormal basis of the span
        u_svd, s_svd, _ = torch.linalg.svd(x, full_matrices=False)
        tol = s_svd.max().item() * max(x.shape) * 1e-13 if s_svd.numel() else 0.0
        r = int((s_svd > tol).sum())
        if r > 2:
            raise ValueError(
                "index_transition_matrix is exact for patterns that span at most 2 dimensions; "
                f"these span {r}"
            )
        if r == 0:
            return torch.full((n, n), 1.0 / n, dtype=torch.float64, device=self.patterns.device)
        a_mat = u_svd[:, :r] * s_svd[:r]  # [N, r]
        sb = math.sqrt(self._beta)
        if spacing is None:
            span = (a_mat[:, None, :] - a_mat[None, :, :]).norm(dim=-1).max().item()
            spacing = min(0.05, 0.3 / (sb * span)) if span > 0 else 0.05
        spacing = check_positive(spacing, "spacing")
        half = 10.0
        m = int(math.ceil(2 * half / spacing)) + 1
        if m**r > MAX_GRID_POINTS:
            raise ValueError(
                f"the quadrature grid would need {m}^{r} points (> {MAX_GRID_POINTS}); use a "
                "smaller beta or a larger spacing"
            )
        g = torch.linspace(-half, half, m, dtype=torch.float64)
        h = g[1] - g[0]
        w1 = torch.exp(-0.5 * g**2) / math.sqrt(2 * math.pi) * h
        if r == 1:
            grid, wts = g[:, None], w1
        else:
            gx, gy = torch.meshgrid(g, g, indexing="ij")
            grid = torch.stack([gx.ravel(), gy.ravel()], 1)
            wts = (w1[:, None] * w1[None, :]).ravel()
        noise_scores = sb * grid @ a_mat.T  # [G, N]: beta X^T (z / sqrt(beta))
        base = self._beta * x @ x.T  # [N, N]: beta x_b^T x_a, row a
        out = torch.empty(n, n, dtype=torch.float64)
        for a in range(n):
            out[a] = (wts[:, None] * torch.softmax(base[a] + noise_scores, dim=-1)).sum(0)
        out /= out.sum(-1, keepdim=True)  # the truncated tails (< 1e-22)
        return out.to(self.patterns.device)

    def norm_curvature(self) -> torch.Tensor:
        r"""Curvature of :math:`\log Z` along each pattern's norm (:math:numref:`eq-abm-curvature`).

        .. math::

            \hat x_i^\top \frac{\partial^2 \log Z}{\partial x_i\,\partial x_i} \hat x_i
            = \beta w_i + \beta^2 w_i (1 - w_i) \lVert x_i\rVert^2,
            \qquad \hat x_i = x_i / \lVert x_i\rVert .

        Because the data term of the log-likelihood is convex in the patterns, this bounds the
        curvature of the negative log-likelihood along the same direction from above; a
        gradient step larger than ``2 / curvature`` along a norm can overshoot.

        Returns
        -------
        torch.Tensor
            ``[N]``.
        """
        w = self.log_mixture_weights().exp()
        sq = (self.patterns * self.patterns).sum(-1)
        return self._beta * w + self._beta**2 * w * (1 - w) * sq

    # -- a discrete likelihood for binary data -----------------------------------------------

    def _log_cells(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = math.sqrt(self._beta)
        x = self.patterns
        return _log_interval(s * (-0.5 - x), s * (0.5 - x)), _log_interval(
            s * (0.5 - x), s * (1.5 - x)
        )

    def log_prob_binary(self, v: torch.Tensor) -> torch.Tensor:
        r"""Exact log-probability of binary vectors under the machine, quantised to unit cells.

        Binary vector ``v`` gets the probability that ``xi`` falls in the cell
        ``v + [-1/2, 1/2)^d``, renormalised over the ``2^d`` cells of binary vectors
        (:math:numref:`eq-abm-quantised`):

        .. math::

            p_{\mathrm q}(v) = \frac{\sum_i w_i \prod_j c_{ij}(v_j)}
                        {\sum_i w_i \prod_j (c_{ij}(0) + c_{ij}(1))},
            \quad c_{ij}(b) = \Phi(\sqrt\beta\,(b + \tfrac12 - x_{ij}))
                              - \Phi(\sqrt\beta\,(b - \tfrac12 - x_{ij})).

        This is exactly a Bernoulli mixture (:meth:`quantised_mixture`).

        Parameters
        ----------
        v : torch.Tensor
            Binary {0, 1} vectors, ``[B, d]`` (integer or bool rows are converted).

        Returns
        -------
        torch.Tensor
            ``[B]`` log-probabilities (nats); they sum to 1 over all of ``{0, 1}^d``.
        """
        return self._log_prob_binary(_check_binary_rows(v, "v", self.dim, self.patterns))

    def _log_prob_binary(self, v: torch.Tensor) -> torch.Tensor:
        log_c0, log_c1 = self._log_cells()  # [N, d] each
        # log prod_j c_ij(v_j) = sum_j log c_ij(0) + v . (log c_i(1) - log c_i(0)), [B, N]
        per = v @ (log_c1 - log_c0).T + log_c0.sum(-1)
        log_w = self.log_mixture_weights()
        num = torch.logsumexp(per + log_w, dim=-1)
        den = torch.logsumexp(torch.logaddexp(log_c0, log_c1).sum(-1) + log_w, dim=0)
        return num - den

    def quantised_mixture(self) -> BernoulliMixture:
        r"""The quantised machine as a Bernoulli mixture (:math:numref:`eq-abm-bernoulli-mixture`).

        .. math::

            \tilde w_i \propto w_i \prod_j \big(c_{ij}(0) + c_{ij}(1)\big), \qquad
            \theta_{ij} = \frac{c_{ij}(1)}{c_{ij}(0) + c_{ij}(1)} ,

        so that :meth:`log_prob_binary` is :math:`\log \sum_i \tilde w_i \prod_j
        \theta_{ij}^{v_j}(1 - \theta_{ij})^{1 - v_j}`. The weights :math:`\tilde w` are not
        free: they are fixed by the patterns, through the norms (``w``) and through the
        probability of the cube ``[-1/2, 3/2)^d`` under each component.

        Returns
        -------
        BernoulliMixture
            ``N`` components over ``d`` pixels (detached from autograd).
        """
        with torch.no_grad():
            log_c0, log_c1 = self._log_cells()
            log_tot = torch.logaddexp(log_c0, log_c1)  # [N, d]
            a = self.log_mixture_weights() + log_tot.sum(-1)
            return BernoulliMixture(a - torch.logsumexp(a, 0), log_c1 - log_tot, log_c0 - log_tot)

    def sample_binary(self, n: int, generator: torch.Generator | None = None) -> BinarySample:
        """Exact samples of the quantised machine :meth:`log_prob_binary`.

        A component by its quantised weight :math:`\tilde w_i`, then every pixel independently with
        probability ``theta_ij`` (:meth:`quantised_mixture`). Not the same as rounding the
        states of :meth:`gibbs` or :meth:`sample`: those are continuous states, most of them
        outside the cube the quantisation conditions on.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        generator : torch.Generator, optional
            Source of randomness (default: torch's global generator).

        Returns
        -------
        BinarySample
            ``samples [n, d]`` and ``components [n]``.
        """
        return self.quantised_mixture().sample(n, generator)

    # -- learning ----------------------------------------------------------------------------

    def _phase_statistic(self, states: torch.Tensor) -> torch.Tensor:
        """The one statistic of both phases, ``mean_l p(i | xi^(l)) xi^(l)``, ``[N, d]``."""
        r = self._index_probs(states)  # [n, N]
        return r.T @ states / states.shape[0]

    def _ml_gradient(self, data: torch.Tensor) -> torch.Tensor:
        w = self.log_mixture_weights().exp()
        return self._beta * (self._phase_statistic(data) - w[:, None] * self.patterns)

    def _cd_gradient(
        self, data: torch.Tensor, k: int, generator: torch.Generator | None
    ) -> torch.Tensor:
        xi = data
        for _ in range(k):
            xi = self._draw_states(self._draw_indices(xi, generator), generator)
        return self._beta * (self._phase_statistic(data) - self._phase_statistic(xi))

    def ml_gradient(self, data: torch.Tensor) -> torch.Tensor:
        r"""Exact gradient of the mean log-likelihood with respect to the patterns.

        .. math::

            \frac{\partial \mathcal L}{\partial x_i}
            = \beta\Big(\frac1n\sum_\ell p(i \mid \xi^{(\ell)})\,\xi^{(\ell)} - w_i\, x_i\Big)

        (:math:numref:`eq-abm-ml`): data ("clamped") phase minus model ("free") phase, with
        :math:`\mathbb{E}_{\text{model}}[p(i\mid\xi)\xi] = w_i x_i` exactly. Equivalently
        (:math:numref:`eq-abm-ml-split`) the gradient of a Gaussian mixture's log-likelihood in
        its means with the weights held at ``w``, plus :math:`\beta x_i (\bar r_i - w_i)`
        with :math:`\bar r_i = \frac1n\sum_\ell p(i\mid\xi^{(\ell)})`: the weights are tied to the
        norms, so this is not an equal-weight (or any fixed-weight) mixture fit.

        Parameters
        ----------
        data : torch.Tensor
            ``[n, d]``.

        Returns
        -------
        torch.Tensor
            ``[N, d]``, same dtype as the patterns.
        """
        data = self._check_states(data, "data", ndim=(2,))
        with torch.no_grad():
            return self._ml_gradient(data)

    def cd_gradient(
        self, data: torch.Tensor, k: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        r"""Contrastive-divergence estimate of :meth:`ml_gradient` (:math:numref:`eq-abm-cd`).

        The model phase :math:`w_i x_i = \mathbb{E}_{\text{model}}[p(i\mid\xi)\xi]` is replaced
        by the same statistic averaged over the states reached by ``k`` Gibbs steps started at
        the data.

        Parameters
        ----------
        data : torch.Tensor
            ``[n, d]``.
        k : int
            Gibbs steps (>= 1).
        generator : torch.Generator, optional
            Source of randomness (default: torch's global generator).

        Returns
        -------
        torch.Tensor
            ``[N, d]``.
        """
        data = self._check_states(data, "data", ndim=(2,))
        k = check_int(k, "k", minimum=1)
        check_generator(generator, device=self.patterns.device)
        with torch.no_grad():
            return self._cd_gradient(data, k, generator)

    def fit(
        self,
        data: torch.Tensor,
        method: str = "ml",
        epochs: int = 50,
        lr: float = 0.3,
        batch_size: int | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
        progress_bar: bool | None = None,
    ) -> FitHistory:
        r"""Learn the stored patterns from data by gradient ascent on the log-likelihood.

        ``method="ml"`` uses the exact gradient :meth:`ml_gradient` (:math:numref:`eq-abm-ml`);
        ``"cd"`` uses :meth:`cd_gradient` with ``k`` Gibbs steps (:math:numref:`eq-abm-cd`).
        The step is ``x_i += (lr / beta) * gradient_i``; ``beta`` stays fixed.

        Because the mixture weights grow with the pattern norms, the curvature of
        :math:`\log Z` along a pattern's norm is
        :math:`\beta w_i + \beta^2 w_i(1 - w_i)\lVert x_i\rVert^2` (:meth:`norm_curvature`,
        :math:numref:`eq-abm-curvature`), which can be large, and a fixed step can overshoot.
        With the exact gradient on the full data set (``method="ml"``, no ``batch_size``) the
        step is therefore halved whenever it would lower the log-likelihood, so the
        log-likelihood never falls.

        Parameters
        ----------
        data : torch.Tensor
            Training data ``[n, d]``.
        method : {"ml", "cd"}
            Exact gradient or contrastive divergence.
        epochs : int
            Passes over the data (>= 1).
        lr : float
            Step size (> 0), in units of ``1 / beta``.
        batch_size : int, optional
            Minibatch size (default: the whole data set each step).
        k : int
            Gibbs steps for ``"cd"``.
        generator : torch.Generator, optional
            Shuffling and CD sampling (default: torch's global generator).
        progress_bar : bool, optional
            Show a progress bar (default: only in an interactive terminal or notebook).

        Returns
        -------
        FitHistory
            ``epoch``, ``log_likelihood`` (the mean exact log density of the training data
            after each epoch, nats per example) and ``lr`` (the step size used).

        Raises
        ------
        FloatingPointError
            If the log-likelihood stops being finite (lower ``lr``).
        """
        data = self._check_states(data, "data", ndim=(2,)).detach()
        check_choice(method, "method", ("ml", "cd"))
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_positive(lr, "lr")
        k = check_int(k, "k", minimum=1)
        check_generator(generator, device=self.patterns.device)
        n = data.shape[0]
        bs = n if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
        halving = method == "ml" and bs >= n
        history = FitHistory()
        disable = None if progress_bar is None else not progress_bar
        with torch.no_grad():
            ll = self._log_density(data).mean().item()
            for epoch in progress(
                range(epochs), desc=f"AttentionBM.fit ({method})", disable=disable
            ):
                if halving:
                    lr, ll = self._ascent_step(data, lr, ll)
                else:
                    perm = torch.randperm(n, generator=generator, device=self.patterns.device)
                    for start in range(0, n, bs):
                        batch = data[perm[start : start + bs]]
                        if method == "ml":
                            g = self._ml_gradient(batch)
                        else:
                            g = self._cd_gradient(batch, k, generator)
                        self.patterns.add_(g, alpha=lr / self._beta)
                        if not bool(torch.isfinite(self.patterns).all()):
                            raise FloatingPointError(
                                f"the patterns stopped being finite at epoch {epoch + 1}; "
                                f"lower lr (now {lr})"
                            )
                    ll = self._log_density(data).mean().item()
                if not math.isfinite(ll):
                    raise FloatingPointError(
                        f"the log-likelihood became {ll} at epoch {epoch + 1}; lower lr (now {lr})"
                    )
                history.append(epoch + 1, ll, lr)
        return history

    def _ascent_step(self, data: torch.Tensor, lr: float, ll: float) -> tuple[float, float]:
        """One exact gradient step, halving ``lr`` until the log-likelihood does not fall."""
        g = self._ml_gradient(data)
        start = self.patterns.detach().clone()
        while True:
            self.patterns.copy_(start + (lr / self._beta) * g)
            new = self._log_density(data).mean().item()
            if new >= ll - 1e-12 or lr < 1e-12:
                return lr, new
            lr *= 0.5

    def fit_binary(
        self,
        data: torch.Tensor,
        epochs: int = 150,
        lr: float = 0.05,
        progress_bar: bool | None = None,
    ) -> FitHistory:
        """Maximise the exact quantised log-likelihood :meth:`log_prob_binary` of binary data.

        The patterns are fitted to the discrete likelihood of :math:numref:`eq-abm-quantised`
        by full-batch Adam on its autograd gradient; ``beta`` stays fixed. The result is a
        Bernoulli mixture whose weights are tied to its pixel probabilities
        (:meth:`quantised_mixture`); :func:`bernoulli_mixture_em` fits the same family with
        free weights.

        Parameters
        ----------
        data : torch.Tensor
            Binary {0, 1} rows ``[n, d]``.
        epochs : int
            Adam steps (>= 1).
        lr : float
            Adam learning rate (> 0).
        progress_bar : bool, optional
            Show a progress bar (default: only in an interactive terminal or notebook).

        Returns
        -------
        FitHistory
            ``epoch``, ``log_likelihood`` (nats per example, before each step) and ``lr``.
        """
        data = _check_binary_rows(data, "data", self.dim, self.patterns).detach()
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_positive(lr, "lr")
        opt = torch.optim.Adam([self.patterns], lr=lr)
        history = FitHistory()
        disable = None if progress_bar is None else not progress_bar
        for epoch in progress(range(epochs), desc="AttentionBM.fit_binary", disable=disable):
            opt.zero_grad()
            loss = -self._log_prob_binary(data).mean()
            loss.backward()
            opt.step()
            history.append(epoch + 1, -loss.item(), lr)
        self.patterns.grad = None
        return history


# ---------------------------------------------------------------------------------------------
# the ordinary Bernoulli mixture, fitted by EM (the baseline of the digits section)
# ---------------------------------------------------------------------------------------------


def bernoulli_mixture_em(
    data: torch.Tensor,
    n_components: int,
    *,
    iterations: int = 100,
    pseudo_count: float = 0.1,
    generator: torch.Generator | None = None,
    progress_bar: bool | None = None,
) -> EMResult:
    r"""Fit a Bernoulli mixture (:class:`BernoulliMixture`) to binary rows by EM.

    E-step: responsibilities :math:`r_{\ell i} = P(i \mid v^{(\ell)})`. M-step:

    .. math::

        \tilde w_i = \frac1n \sum_\ell r_{\ell i}, \qquad
        \theta_{ij} = \frac{\sum_\ell r_{\ell i} v^{(\ell)}_j + a}{\sum_\ell r_{\ell i} + 2a},

    the maximum a posteriori update under a Beta(:math:`a+1, a+1`) prior on every pixel
    probability (``a = pseudo_count``; ``a = 0`` is plain maximum likelihood). Each iteration
    never lowers the mean log-likelihood plus the log prior (the ``objective`` of the result)
    (Dempster, Laird and Rubin 1977). The components start at ``n_components`` distinct training
    rows drawn at random, shrunk half-way to 1/2 (``theta = 1/4 + v/2``), with equal weights.

    Parameters
    ----------
    data : torch.Tensor
        Binary {0, 1} rows ``[n, d]``, floating point (integer or bool are converted to the
        default dtype).
    n_components : int
        Number of components ``N`` (1 <= N <= n).
    iterations : int
        EM iterations (>= 1).
    pseudo_count : float
        ``a >= 0`` above.
    generator : torch.Generator, optional
        Picks the starting rows (default: torch's global generator).
    progress_bar : bool, optional
        Show a progress bar (default: only in an interactive terminal or notebook).

    Returns
    -------
    EMResult
        ``mixture``, and ``log_likelihood`` and ``objective`` per iteration.
    """
    check_tensor(data, "data", ndim=2)
    dtype = data.dtype if data.is_floating_point() else torch.get_default_dtype()
    data = _as_floating(data, dtype, "data")
    if not bool(((data == 0) | (data == 1)).all()):
        raise ValueError("data must contain only 0 and 1 entries (binary vectors)")
    n, d = data.shape
    k = check_int(n_components, "n_components", minimum=1)
    if k > n:
        raise ValueError(f"n_components must be <= the number of rows ({n}), got {k}")
    iterations = check_int(iterations, "iterations", minimum=1)
    a = check_nonnegative(pseudo_count, "pseudo_count")
    check_generator(generator, device=data.device)
    start = torch.randperm(n, generator=generator, device=data.device)[:k]
    theta = 0.25 + 0.5 * data[start]
    log_pi = torch.full((k,), -math.log(k), dtype=dtype, device=data.device)
    lls, objs = [], []
    disable = None if progress_bar is None else not progress_bar
    with torch.no_grad():
        for _ in progress(range(iterations), desc="bernoulli_mixture_em", disable=disable):
            mix = BernoulliMixture(log_pi, theta.log(), torch.log1p(-theta))
            comp = mix._component_log_prob(data)  # [n, N]
            ll = torch.logsumexp(comp, -1)
            prior = a * (mix.log_p1 + mix.log_p0).sum() if a > 0 else torch.zeros((), dtype=dtype)
            lls.append(ll.mean().item())
            objs.append(lls[-1] + prior.item() / n)
            r = torch.exp(comp - ll[:, None])  # E-step
            nk = r.sum(0)
            log_pi = torch.log(nk / n)  # M-step
            theta = (r.T @ data + a) / (nk[:, None] + 2 * a)
            if a == 0:
                theta = torch.where(nk[:, None] > 0, theta, torch.full_like(theta, 0.5))
    mix = BernoulliMixture(log_pi, theta.log(), torch.log1p(-theta))
    return EMResult(mix, lls, objs)


# ---------------------------------------------------------------------------------------------
# the classical precursor: Hubbard-Stratonovich
# ---------------------------------------------------------------------------------------------


def _check_hebbian_args(patterns: Any, beta: Any) -> tuple[torch.Tensor, float]:
    check_tensor(patterns, "patterns", ndim=2)
    check_pm1(patterns, "patterns")
    return patterns, check_positive(beta, "beta")


def hopfield_log_partition(patterns: torch.Tensor, beta: float) -> torch.Tensor:
    r"""Exact :math:`\log Z` of a Hebbian Hopfield network by enumerating all ``2^d`` states.

    The network has weights :math:`W = (X X^\top - N I)/d` (Hebbian, zero diagonal; here the
    book's :math:`X` is ``patterns.T``) and energy :math:`E(\xi) = -\tfrac12 \xi^\top W \xi`,
    so (:math:numref:`eq-abm-hopfield-z`)

    .. math::

        Z = \sum_{\xi \in \{\pm1\}^d} \exp\Big(\frac{\beta}{2d}\sum_i (x_i^\top \xi)^2
            - \frac{\beta N}{2}\Big).

    Parameters
    ----------
    patterns : torch.Tensor
        +-1 patterns as rows, ``[N, d]`` with ``d <= MAX_EXACT_UNITS`` (24).
    beta : float
        Inverse temperature, > 0.

    Returns
    -------
    torch.Tensor
        0-dim, float64, on the patterns' device.
    """
    patterns, beta = _check_hebbian_args(patterns, beta)
    n, d = patterns.shape
    if d > MAX_EXACT_UNITS:
        raise ValueError(
            f"patterns must have d <= {MAX_EXACT_UNITS} units for exact enumeration, got d = {d}"
        )
    x = patterns.to(torch.float64)
    parts = []
    for start, stop in state_chunks(d, 1 << 16):
        xi = binary_states(d, start=start, stop=stop, spins=True, device=x.device)  # [S, d]
        overlaps = xi @ x.T  # [S, N]
        parts.append(torch.logsumexp(beta / (2 * d) * (overlaps**2).sum(-1), dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0) - beta * n / 2


#: Spacing of the trapezoidal grid of :func:`hubbard_stratonovich_log_partition`, in units of
#: the hidden units' standard deviation: the relative error on a unit Gaussian is
#: ``2 exp(-2 pi^2 / h^2)`` (about 1e-17 at 0.7).
HS_SPACING = 0.7


def hubbard_stratonovich_log_partition(
    patterns: torch.Tensor, beta: float, n_quadrature: int | None = None
) -> torch.Tensor:
    r"""The same :math:`\log Z` computed as an RBM with Gaussian hidden units.

    The Hubbard-Stratonovich identity
    :math:`e^{a^2/2} = \int \frac{dz}{\sqrt{2\pi}} e^{-z^2/2 + a z}` turns each squared overlap
    into a Gaussian hidden unit :math:`z_i` coupled linearly to the spins. Summing the spins
    out then gives (:math:numref:`eq-abm-hs`)

    .. math::

        Z = e^{-\beta N/2} \int \frac{d^N z}{(2\pi)^{N/2}} e^{-\lVert z\rVert^2/2}
            \prod_{j=1}^d 2\cosh\Big(\sqrt{\beta/d}\,\sum_i z_i x_{ij}\Big),

    an RBM whose visible units are the ``d`` spins and whose ``N`` hidden units are Gaussian
    (Barra et al. 2012).

    The integrand is a sum of unit-width Gaussians centred at :math:`\sqrt{\beta/d}\, X^\top\xi`
    (one per spin state), all inside the box :math:`|z_i| \le \sqrt{\beta d}`. The integral is
    done by the trapezoidal rule with spacing ``HS_SPACING`` (0.7) on that box widened by 10 on
    each side: exact to round-off (relative error below 1e-15) for every ``beta``, as long as
    the grid, ``(2 (sqrt(beta d) + 10) / 0.7)^N`` points, fits in ``MAX_GRID_POINTS``. A fixed
    Gauss-Hermite rule, by contrast, misses the mass once ``sqrt(beta d)`` passes its largest
    node.

    Parameters
    ----------
    patterns : torch.Tensor
        +-1 patterns as rows, ``[N, d]``.
    beta : float
        Inverse temperature, > 0.
    n_quadrature : int, optional
        Deprecated and ignored: the grid is chosen from ``beta``.

    Returns
    -------
    torch.Tensor
        0-dim, float64, on the patterns' device.

    Raises
    ------
    ValueError
        If the grid would exceed ``MAX_GRID_POINTS`` points (large ``N`` or ``beta d``).
    """
    patterns, beta = _check_hebbian_args(patterns, beta)
    if n_quadrature is not None:
        warnings.warn(
            "hubbard_stratonovich_log_partition(): n_quadrature is deprecated and ignored; the "
            "quadrature grid is chosen from beta so that the result is exact",
            DeprecationWarning,
            stacklevel=2,
        )
    n, d = patterns.shape
    c = math.sqrt(beta / d)
    half = c * d + 10.0
    m = int(math.ceil(2 * half / HS_SPACING)) + 1
    if m**n > MAX_GRID_POINTS:
        raise ValueError(
            f"the quadrature grid would need {m}^{n} = {m**n:.2e} points for N = {n}, d = {d}, "
            f"beta = {beta:g} (> {MAX_GRID_POINTS:.0e}); use fewer patterns or a smaller beta"
        )
    x = patterns.to(torch.float64)
    g = torch.linspace(-half, half, m, dtype=torch.float64, device=x.device)
    log_h = math.log((2 * half) / (m - 1))
    const = n * (log_h - 0.5 * math.log(2 * math.pi)) - beta * n / 2
    powers = m ** torch.arange(n - 1, -1, -1, device=x.device)
    parts = []
    for start in range(0, m**n, 1 << 18):
        codes = torch.arange(start, min(start + (1 << 18), m**n), device=x.device)
        z = g[(codes[:, None] // powers) % m]  # [G, N] grid points
        fields = c * z @ x  # [G, d]
        log_2cosh = torch.logaddexp(fields, -fields)
        parts.append(torch.logsumexp(log_2cosh.sum(-1) - 0.5 * (z * z).sum(-1), dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0) + const


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------


def draw_annealing(
    beta: float = 1.0,
    n_samples: int = 600,
    steps: int = 20,
    seed: int = 0,
    ax=None,
):
    """Gibbs samples of a 2-D AttentionBM at inverse temperature ``beta`` (chapter 8 demo).

    Four stored patterns on a circle of radius 2; ``n_samples`` chains run ``steps`` Gibbs
    steps from random starts. Small ``beta``: samples spread over one broad blob (the global
    average regime); large ``beta``: they sit on the patterns (retrieval). The exact density
    is drawn as contours.

    Parameters
    ----------
    beta : float
        Inverse temperature (> 0).
    n_samples, steps : int
        Chains and Gibbs steps.
    seed : int
        Seed of the generator.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = require("matplotlib.pyplot", "viz", feature="attention_bm.draw_annealing")

    beta = check_positive(beta, "beta")
    angles = torch.tensor([0.3, 1.9, 3.4, 4.9], dtype=torch.float64)
    X = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    bm = AttentionBM(X, beta)
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    start = 3.0 * torch.randn(n_samples, 2, generator=gen, dtype=torch.float64)
    res = bm.gibbs(start, steps=steps, generator=gen)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
    else:
        fig = ax.figure
    g = torch.linspace(-4.5, 4.5, 121, dtype=torch.float64)
    gx, gy = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad():
        dens = bm.log_density(torch.stack([gx.ravel(), gy.ravel()], 1)).exp().reshape(121, 121)
    ax.contour(gx.numpy(), gy.numpy(), dens.numpy(), levels=6, cmap="Blues")
    s = res.states.numpy()
    ax.scatter(s[:, 0], s[:, 1], s=4, alpha=0.35, color="#d1495b", label="Gibbs samples")
    ax.scatter(X[:, 0], X[:, 1], marker="*", s=160, color="black", label="stored patterns")
    ax.set_xlim(-4.5, 4.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\xi_1$")
    ax.set_ylabel(r"$\xi_2$")
    ax.set_title(rf"$\beta$ = {beta:g}", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    return fig
