"""Boltzmann machines: stochastic binary units, Gibbs sampling, exact enumeration, learning.

A Boltzmann machine (chapter 6) has ``d = n_visible + n_hidden`` binary units ``xi_j in {0, 1}``
(``n`` in the code), a symmetric weight matrix ``W`` with zero diagonal and biases ``b``. Its
energy (:math:numref:`eq-boltzmann-energy`) and distribution at temperature ``T``
(:math:numref:`eq-boltzmann-distribution`) are

.. math::

    E(\\xi) = -\\tfrac12 \\xi^T W \\xi - b^T \\xi, \\qquad p_T(\\xi) = e^{-E(\\xi)/T} / Z_T .

Units are ordered visible first, then hidden. States are rows: a batch of states has shape
``[B, n]``. Exact quantities (``log Z``, probabilities, moments) enumerate all ``2^n`` states as
a ``[2^n, n]`` tensor, in chunks, so they are practical up to about 20 units. The enumeration is
the library's one order (:func:`binary_states`): state number ``k`` has unit ``j`` equal to bit
``j`` of ``k`` (least significant bit first), and :func:`state_index` is its inverse. With
hidden units, the joint state number is ``k = k_v + 2^n_visible k_h``.

See chapter 6 of the book.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import _states
from ._optional import require
from ._states import MAX_EXACT_UNITS, binary_states, state_chunks
from ._validation import (
    check_binary,
    check_choice,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .utils import Result, progress

__all__ = [
    "BoltzmannMachine",
    "BoltzmannHistory",
    "AnnealResult",
    "anneal",
    "geometric_schedule",
    "binary_states",
    "state_index",
    "empirical_distribution",
    "kl_divergence",
    "spin_glass",
    "demo_machine",
    "draw_distribution",
    "MAX_EXACT_UNITS",
]

_CHUNK = 1 << 15  # states per enumeration chunk


# ----------------------------------------------------------------------------------------------
# Enumeration helpers
# ----------------------------------------------------------------------------------------------
def all_states(
    n: int,
    *,
    start: int = 0,
    stop: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Deprecated alias of :func:`binary_states` (since 0.2.0).

    Before 0.2.0 this function numbered states with unit 0 as the *most* significant bit. The
    library now has one order, least significant bit first, shared by :func:`binary_states`,
    :func:`state_index`, :meth:`BoltzmannMachine.probabilities_exact` and every other exact
    routine; this alias returns the states in that order, so that code pairing it with those
    routines stays correct.
    """
    warnings.warn(
        "ebmlib.boltzmann.all_states is deprecated since ebmlib 0.2.0; use "
        "ebmlib.boltzmann.binary_states. States are now numbered least significant bit first "
        "(unit j is bit j of the state number), the order of probabilities_exact and state_index",
        DeprecationWarning,
        stacklevel=2,
    )
    return binary_states(n, start=start, stop=stop, dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _cached_states(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """All ``2^n`` states for small ``n`` (at most one chunk), kept for reuse."""
    return binary_states(n, dtype=dtype, device=device)


def state_index(states: torch.Tensor) -> torch.Tensor:
    """Number of each binary state in the order of :func:`binary_states` (unit ``j`` is bit ``j``).

    Parameters
    ----------
    states : torch.Tensor
        Shape ``[..., n]`` with entries in {0, 1}, ``n <= 62``.

    Returns
    -------
    torch.Tensor
        int64 tensor of shape ``[...]``.
    """
    check_tensor(states, "states", min_ndim=1)
    check_binary(states, "states")
    return _states.state_index(states)


def empirical_distribution(
    states: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Relative frequency of each of the ``2^n`` states among the rows of ``states``.

    Parameters
    ----------
    states : torch.Tensor
        Shape ``[B, n]``, binary.
    dtype : torch.dtype
        dtype of the result.

    Returns
    -------
    torch.Tensor
        Shape ``[2^n]``, summing to one, in the order of :func:`binary_states`.
    """
    check_tensor(states, "states", ndim=2)
    n = states.shape[-1]
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"states must have at most {MAX_EXACT_UNITS} units, got {n}")
    idx = state_index(states)
    counts = torch.bincount(idx, minlength=2**n).to(dtype)
    return counts / counts.sum()


def _check_distribution(p: Any, name: str) -> torch.Tensor:
    """``p`` must be a floating tensor of non-negative entries whose last axis sums to one."""
    check_tensor(p, name, min_ndim=1, floating=True)
    if bool((p < 0).any()):
        raise ValueError(f"{name} must be a probability vector: found negative entries")
    # Round-off of a sum of K terms is about K eps; allow far more, reject real normalisation
    # errors (an unnormalised vector, counts, or weights).
    tol = max(1e-6, 100 * p.shape[-1] * torch.finfo(p.dtype).eps)
    total = p.sum(-1)
    if bool(((total - 1).abs() > tol).any()):
        worst = float(total.flatten()[(total - 1).abs().flatten().argmax()])
        raise ValueError(
            f"{name} must be a probability vector whose last axis sums to 1 (within {tol:.0e}), "
            f"found a sum of {worst:.6g}; normalise it first"
        )
    return p


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Kullback-Leibler divergence ``KL(p || q) = sum_x p(x) log(p(x) / q(x))`` in nats.

    Terms with ``p(x) = 0`` contribute zero; ``q(x) = 0`` where ``p(x) > 0`` gives ``inf``.

    Parameters
    ----------
    p, q : torch.Tensor
        Probability vectors of the same shape ``[..., K]``: non-negative, the last axis summing
        to one (up to round-off; anything else raises a ``ValueError``).

    Returns
    -------
    torch.Tensor
        Shape ``[...]``.
    """
    _check_distribution(p, "p")
    _check_distribution(q, "q")
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    check_same_dtype(p=p, q=q)
    check_same_device(p=p, q=q)
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(-1)


def _as_temperature(T: Any) -> float:
    return check_positive(T, "T")


def _boltzmann_rule(
    clamped: tuple[torch.Tensor, torch.Tensor], free: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Data minus model moments (:math:numref:`eq-boltzmann-rule`): ``(dW, db)``.

    ``clamped`` and ``free`` are ``(mean [n], second moment [n, n])`` pairs; the diagonal of
    ``dW`` is zeroed (a unit has no coupling with itself).
    """
    (m_data, c_data), (m_model, c_model) = clamped, free
    dW = c_data - c_model
    return dW - torch.diag_embed(torch.diagonal(dW)), m_data - m_model


@dataclass
class BoltzmannHistory(Result):
    """Training history of :meth:`BoltzmannMachine.fit`, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch number (1, 2, ...).
    corr_gap : list of float
        ``max |<xi_j xi_k>_data - <xi_j xi_k>_model|`` of the epoch's last update.
    log_likelihood : list of float
        Exact mean log-likelihood of the training data (nats per example); empty when not
        tracked.
    kl : list of float
        Exact ``KL(p_data || p_model)`` over visible states (nats); empty when not tracked.
    """

    epoch: list[int] = field(default_factory=list)
    corr_gap: list[float] = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------
class BoltzmannMachine(nn.Module):
    """A fully connected Boltzmann machine with binary {0, 1} units.

    Energy and distribution (chapter 6, :math:numref:`eq-boltzmann-energy` and
    :math:numref:`eq-boltzmann-distribution`):

    .. math::

        E(\\xi) = -\\tfrac12 \\xi^T W \\xi - b^T \\xi + E_0, \\qquad
        p_T(\\xi) = \\frac{e^{-E(\\xi)/T}}{Z_T}, \\qquad Z_T = \\sum_\\xi e^{-E(\\xi)/T},

    with ``W`` symmetric and zero on the diagonal (``E_0`` is a constant offset, zero unless the
    machine was built by :meth:`from_ising`). Units ``0 .. n_visible - 1`` are visible, the
    remaining ``n_hidden`` are hidden.

    The weight parameter ``weight`` is stored as a full ``[n, n]`` matrix; the machine always
    uses its symmetric, zero-diagonal part :attr:`W` = ``(weight + weight^T) / 2`` with the
    diagonal masked, so any value of the parameter defines a valid machine. The parameters are
    created with ``requires_grad=False`` because :meth:`fit` applies the learning rule itself;
    call ``machine.requires_grad_()`` to differentiate exact quantities such as
    :meth:`log_likelihood` with autograd.

    Parameters
    ----------
    n_visible : int
        Number of visible units (>= 1).
    n_hidden : int
        Number of hidden units (>= 0).
    init_std : float, optional
        Standard deviation of the initial (symmetric) weights; biases start at zero. Default
        0 without hidden units (the log-likelihood is then concave and zero is a fine start)
        and 0.1 with hidden units (to break the symmetry between them).
    generator : torch.Generator, optional
        Randomness for the initial weights (a CPU generator); ``None`` uses torch's global
        generator, so ``torch.manual_seed`` makes the machine reproducible. Nothing is drawn
        when ``init_std`` is 0.
    dtype : torch.dtype
        Parameter dtype (use ``torch.float64`` for exact checks).
    device : torch.device or str, optional
        Parameter device.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int = 0,
        *,
        init_std: float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.n_visible = check_int(n_visible, "n_visible", minimum=1)
        self.n_hidden = check_int(n_hidden, "n_hidden", minimum=0)
        if init_std is None:
            # Hidden units need broken symmetry: with W = 0 they would all learn the same thing.
            init_std = 0.0 if self.n_hidden == 0 else 0.1
        init_std = check_nonnegative(init_std, "init_std")
        check_generator(generator, device="cpu")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        n = self.n_units
        w = torch.zeros(n, n, dtype=torch.float64)
        if init_std > 0:
            w = torch.triu(torch.randn(n, n, generator=generator, dtype=torch.float64), 1)
            w = (w + w.T) * init_std
        # fit() applies the Boltzmann rule directly, so gradients are off by default; call
        # ``requires_grad_()`` to differentiate the exact quantities with autograd.
        self.weight = nn.Parameter(w.to(dtype=dtype, device=device), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(n, dtype=dtype, device=device), requires_grad=False)
        self.register_buffer("energy_offset", torch.zeros((), dtype=dtype, device=device))

    # -- basic properties ---------------------------------------------------------------------
    @property
    def n_units(self) -> int:
        """Total number of units ``n = n_visible + n_hidden``."""
        return self.n_visible + self.n_hidden

    @property
    def W(self) -> torch.Tensor:
        """The symmetric, zero-diagonal weight matrix actually used, shape ``[n, n]``."""
        w = 0.5 * (self.weight + self.weight.T)
        return w - torch.diag_embed(torch.diagonal(w))

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"

    @classmethod
    def from_weights(
        cls,
        weights: torch.Tensor,
        bias: torch.Tensor | None = None,
        n_visible: int | None = None,
    ) -> BoltzmannMachine:
        """Build a machine with given weights (symmetric, zero diagonal) and biases.

        Parameters
        ----------
        weights : torch.Tensor
            Shape ``[n, n]``, symmetric with zero diagonal; its dtype and device are used.
        bias : torch.Tensor, optional
            Shape ``[n]`` (default zeros).
        n_visible : int, optional
            How many of the ``n`` units are visible (default all).
        """
        check_tensor(weights, "weights", ndim=2, floating=True)
        n = weights.shape[0]
        if weights.shape[1] != n:
            raise ValueError(f"weights must be square, got shape {tuple(weights.shape)}")
        if not torch.allclose(weights, weights.T, rtol=0.0, atol=1e-6 * (1 + weights.abs().max())):
            raise ValueError("weights must be symmetric")
        if bool((torch.diagonal(weights) != 0).any()):
            raise ValueError("weights must have a zero diagonal")
        nv = n if n_visible is None else check_int(n_visible, "n_visible", minimum=1)
        if nv > n:
            raise ValueError(f"n_visible must be <= {n} (the size of weights), got {nv}")
        if bias is not None:
            check_tensor(bias, "bias", shape=(n,), floating=True)
            check_same_device(weights=weights, bias=bias)
            check_same_dtype(weights=weights, bias=bias)
        bm = cls(nv, n - nv, dtype=weights.dtype, device=weights.device)
        with torch.no_grad():
            bm.weight.copy_(0.5 * (weights + weights.T))
            if bias is not None:
                bm.bias.copy_(bias)
        return bm

    @classmethod
    def from_ising(cls, J: torch.Tensor, h: torch.Tensor | None = None) -> BoltzmannMachine:
        """The {0, 1} machine whose energy equals an Ising energy of the spins ``xi_pm = 2 xi - 1``.

        With ``E_pm(xi_pm) = -1/2 xi_pm^T J xi_pm - h^T xi_pm`` (``J`` symmetric, zero
        diagonal; ``h`` is the field written ``b^pm`` in the book), substituting
        ``xi_pm = 2 xi - 1`` gives ``W = 4 J``, ``b = 2 h - 2 J 1`` and the constant
        ``E_0 = -1/2 1^T J 1 + h^T 1``, stored in ``energy_offset``, so
        ``machine.energy(xi) == E_pm(2 xi - 1)`` exactly (chapter 6,
        :math:numref:`eq-boltzmann-ising`).

        Parameters
        ----------
        J : torch.Tensor
            Couplings, shape ``[n, n]``, symmetric with zero diagonal.
        h : torch.Tensor, optional
            Fields ``b^pm`` of the spins, shape ``[n]`` (default zeros).
        """
        check_tensor(J, "J", ndim=2, floating=True)
        n = J.shape[0]
        if J.shape[1] != n:
            raise ValueError(f"J must be square, got shape {tuple(J.shape)}")
        if h is None:
            h = torch.zeros(n, dtype=J.dtype, device=J.device)
        check_tensor(h, "h", shape=(n,), floating=True)
        check_same_device(J=J, h=h)
        check_same_dtype(J=J, h=h)
        ones = torch.ones(n, dtype=J.dtype, device=J.device)
        bm = cls.from_weights(4.0 * J, 2.0 * h - 2.0 * (J @ ones))
        with torch.no_grad():
            bm.energy_offset.fill_(float(-0.5 * ones @ J @ ones + h @ ones))
        return bm

    # -- input checks ------------------------------------------------------------------------
    def _check_states(
        self, states: Any, name: str = "states", n: int | None = None
    ) -> torch.Tensor:
        n = self.n_units if n is None else n
        check_tensor(states, name, min_ndim=1)
        if states.shape[-1] != n:
            raise ValueError(
                f"{name} must have last dimension {n} (the number of units), got shape "
                f"{tuple(states.shape)}"
            )
        check_binary(states, name)
        check_same_device(**{name: states, "parameters": self.weight})
        return states

    def _check_exact(self, n: int | None = None) -> int:
        n = self.n_units if n is None else n
        if n > MAX_EXACT_UNITS:
            raise ValueError(
                f"exact enumeration needs at most {MAX_EXACT_UNITS} units, this machine has {n}; "
                "use sampling instead"
            )
        return n

    # -- energy and conditionals --------------------------------------------------------------
    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """Energy ``E(xi) = -1/2 xi^T W xi - b^T xi + E_0`` of each state
        (:math:numref:`eq-boltzmann-energy`).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[..., n]`` with entries in {0, 1}.

        Returns
        -------
        torch.Tensor
            Shape ``[...]``, in the parameter dtype.
        """
        self._check_states(states)
        return self._energy(states.to(self.weight.dtype))

    def _energy(self, s: torch.Tensor) -> torch.Tensor:
        W = self.W
        return -0.5 * ((s @ W) * s).sum(-1) - s @ self.bias + self.energy_offset

    def local_field(self, states: torch.Tensor) -> torch.Tensor:
        """Local fields ``a_j = sum_k W_jk xi_k + b_j`` (:math:numref:`eq-boltzmann-conditional`).

        ``a_j = E(xi with xi_j = 0) - E(xi with xi_j = 1)``, so the heat-bath probability of
        ``xi_j = 1`` given the other units is ``sigmoid(a_j / T)``.

        Returns
        -------
        torch.Tensor
            Shape ``[..., n]``.
        """
        self._check_states(states)
        return states.to(self.weight.dtype) @ self.W + self.bias

    def random_state(
        self,
        batch: int | Sequence[int] = (),
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Uniformly random states of shape ``[*batch, n]`` (entries 0 or 1)."""
        if isinstance(batch, int):
            shape: tuple[Any, ...] = (batch,)
        elif isinstance(batch, (Sequence, torch.Size)):
            shape = tuple(batch)
        else:
            raise TypeError(f"batch must be an int or a sequence of ints, got {batch!r}")
        for k, b in enumerate(shape):
            check_int(b, f"batch[{k}]", minimum=1)
        check_generator(generator, device=self.weight.device)
        u = torch.rand(
            (*shape, self.n_units),
            generator=generator,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        return (u < 0.5).to(self.weight.dtype)

    # -- Gibbs sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def gibbs(
        self,
        states: torch.Tensor,
        T: float = 1.0,
        sweeps: int = 1,
        generator: torch.Generator | None = None,
        *,
        units: Sequence[int] | torch.Tensor | None = None,
        order: str = "sequential",
    ) -> torch.Tensor:
        """Heat-bath (Gibbs) sweeps, batched over chains (:math:numref:`eq-boltzmann-conditional`).

        Each unit ``j`` in turn is set to 1 with probability ``sigmoid(a_j / T)`` given the
        current values of all the others, for every chain at once. One sweep visits each unit
        in ``units`` once: in index order (``order="sequential"``) or in a fresh random order per
        sweep (``order="random"``; one order per sweep, shared by all chains of the batch, so
        each chain is a random-scan sampler but the chains of one call are not independent
        during the transient). Units not in ``units`` stay clamped. Every sweep leaves ``p_T``
        invariant (:math:numref:`eq-boltzmann-stationary`).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[..., n]``, entries in {0, 1}; not modified.
        T : float
            Temperature (> 0).
        sweeps : int
            Number of sweeps (>= 0).
        generator : torch.Generator, optional
            Source of randomness (on the device of the machine); ``None`` uses torch's global
            generator.
        units : sequence of int, optional
            Which units to update (default all); e.g. ``range(n_visible, n)`` samples the hidden
            units with the visible ones clamped.
        order : {"sequential", "random"}
            Visiting order within a sweep.

        Returns
        -------
        torch.Tensor
            New states, same shape and dtype as ``states``.
        """
        self._check_states(states)
        T = _as_temperature(T)
        sweeps = check_int(sweeps, "sweeps", minimum=0)
        check_generator(generator, device=self.weight.device)
        check_choice(order, "order", ("sequential", "random"))
        n = self.n_units
        if units is None:
            idx = torch.arange(n)
        else:
            bad = isinstance(units, str) or (
                isinstance(units, torch.Tensor)
                and (units.is_floating_point() or units.is_complex())
            )
            try:
                idx = None if bad else torch.as_tensor(units, dtype=torch.int64).reshape(-1).cpu()
            except (TypeError, ValueError, RuntimeError):
                idx = None
            if idx is None:
                raise TypeError(
                    f"units must be a sequence or tensor of integer indices, got {units!r}"
                )
            if idx.numel() == 0:
                raise ValueError("units must name at least one unit")
            if bool((idx < 0).any()) or bool((idx >= n).any()):
                raise ValueError(f"units must be indices in [0, {n}), got {idx.tolist()}")
        s = states.reshape(-1, n).to(self.weight.dtype)  # [B, n]
        s = self._sweeps(s, T, sweeps, generator, idx, order)
        return s.to(states.dtype).reshape(states.shape)

    def _sweeps(
        self,
        s: torch.Tensor,
        T: float,
        sweeps: int,
        generator: torch.Generator | None,
        idx: torch.Tensor | None = None,
        order: str = "sequential",
    ) -> torch.Tensor:
        """Unchecked heat-bath sweeps of the chains ``s`` ``[B, n]`` (parameter dtype).

        Returns new states ``[B, n]``; ``s`` is not modified. The chains are held unit-major
        (``[n, B]``) so that setting one unit of every chain writes one contiguous row.
        """
        idx = torch.arange(self.n_units) if idx is None else idx
        W, b = self.W, self.bias
        x = s.T.clone()  # [n, B]: row i holds unit i of every chain
        for _ in range(sweeps):
            if order == "random":
                idx = idx[torch.randperm(idx.numel(), generator=generator, device=s.device).cpu()]
            u = torch.rand((idx.numel(), x.shape[1]), generator=generator, device=s.device,
                           dtype=s.dtype)  # fmt: skip
            for k, i in enumerate(idx.tolist()):
                field = W[i] @ x + b[i]  # local field a_i of every chain, [B]
                x[i] = (u[k] < torch.sigmoid(field / T)).to(x.dtype)
        return x.T

    @torch.no_grad()
    def sample(
        self,
        n_samples: int,
        T: float = 1.0,
        sweeps: int = 100,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw ``n_samples`` states from independent chains started uniformly at random.

        Each chain runs ``sweeps`` sequential heat-bath sweeps; the final states are returned
        (shape ``[n_samples, n]``). They are exact samples only in the limit of many sweeps;
        :meth:`transition_matrix` gives the exact distribution after any number of sweeps.
        """
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        s0 = self.random_state(n_samples, generator=generator)
        return self.gibbs(s0, T=T, sweeps=sweeps, generator=generator)

    # -- exact enumeration -------------------------------------------------------------------
    def _chunks(self, n: int):
        """All ``2^n`` states in the order of :func:`binary_states`, ``2^15`` rows at a time."""
        dtype, device = self.weight.dtype, self.weight.device
        if 2**n <= _CHUNK:
            yield _cached_states(n, dtype, device)
            return
        for start, stop in state_chunks(n, _CHUNK):
            yield binary_states(n, start=start, stop=stop, dtype=dtype, device=device)

    def energies_exact(self) -> torch.Tensor:
        """Energies of all ``2^n`` states in the order of :func:`binary_states`, shape ``[2^n]``."""
        n = self._check_exact()
        return torch.cat([self._energy(s) for s in self._chunks(n)])

    def log_partition_exact(self, T: float = 1.0) -> torch.Tensor:
        """``log Z_T = log sum_xi exp(-E(xi)/T)`` by enumerating all ``2^n`` states
        (:math:numref:`eq-boltzmann-distribution`).

        Vectorised over chunks of ``2^15`` states and combined with ``logsumexp``.

        Returns
        -------
        torch.Tensor
            A scalar in the parameter dtype.
        """
        T = _as_temperature(T)
        n = self._check_exact()
        parts = [torch.logsumexp(-self._energy(s) / T, dim=0) for s in self._chunks(n)]
        return torch.logsumexp(torch.stack(parts), dim=0)

    def probabilities_exact(self, T: float = 1.0, *, over: str = "joint") -> torch.Tensor:
        """Exact Boltzmann probabilities by enumeration (:math:numref:`eq-boltzmann-distribution`).

        Parameters
        ----------
        T : float
            Temperature (> 0).
        over : {"joint", "visible"}
            ``"joint"``: ``p_T(xi)`` for all ``2^n`` joint states ``xi = (v, h)``, shape ``[2^n]``.
            ``"visible"``: the visible marginal ``p_T(v) = sum_h p_T(v, h)``, shape
            ``[2^n_visible]`` (the same as ``"joint"`` without hidden units).

        Returns
        -------
        torch.Tensor
            Probabilities in the order of :func:`binary_states` (for ``"joint"`` the state
            number is ``k_v + 2^n_visible k_h``), summing to one.
        """
        T = _as_temperature(T)
        check_choice(over, "over", ("joint", "visible"))
        p = torch.softmax(-self.energies_exact() / T, dim=0)
        if over == "visible":  # visible units are the low bits: row k_h, column k_v
            p = p.reshape(2**self.n_hidden, 2**self.n_visible).sum(0)
        return p

    def visible_probabilities_exact(self, T: float = 1.0) -> torch.Tensor:
        """The visible marginal ``p_T(v)``, shape ``[2^n_visible]``.

        Same as ``probabilities_exact(T, over="visible")``.
        """
        return self.probabilities_exact(T, over="visible")

    def ground_states_exact(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The lowest energy and all states attaining it, by enumeration.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            The minimum energy (scalar) and the ground states ``[k, n]``.
        """
        n = self._check_exact()
        emin = self.energies_exact().min()
        tol = 1e-9 if emin.dtype == torch.float64 else 1e-4
        ground = [s[self._energy(s) <= emin + tol * (1 + emin.abs())] for s in self._chunks(n)]
        return emin, torch.cat(ground)

    def free_energy(self, visible: torch.Tensor, T: float = 1.0) -> torch.Tensor:
        """``F(v) = -T log sum_h exp(-E(v, h)/T)``, exact over the ``2^n_hidden`` hidden states.

        Parameters
        ----------
        visible : torch.Tensor
            Shape ``[..., n_visible]``, binary.

        Returns
        -------
        torch.Tensor
            Shape ``[...]``; equals ``E(v)`` when there are no hidden units.
        """
        T = _as_temperature(T)
        self._check_states(visible, "visible", n=self.n_visible)
        self._check_exact(self.n_hidden)
        v = visible.reshape(-1, self.n_visible).to(self.weight.dtype)
        logw = self._hidden_log_weights(v, T)  # [B, 2^nh]
        return (-T * torch.logsumexp(logw, dim=-1)).reshape(visible.shape[:-1])

    def _hidden_log_weights(self, v: torch.Tensor, T: float) -> torch.Tensor:
        """``-E(v, h)/T`` for every hidden state ``h``: shape ``[B, 2^n_hidden]``."""
        nv, nh = self.n_visible, self.n_hidden
        W, b = self.W, self.bias
        if nh == 0:
            return (-self._energy(v) / T)[:, None]
        hs = _cached_states(nh, v.dtype, v.device)  # [H, nh]
        Wvv, Wvh, Whh = W[:nv, :nv], W[:nv, nv:], W[nv:, nv:]
        e_v = -0.5 * ((v @ Wvv) * v).sum(-1) - v @ b[:nv]  # [B]
        e_h = -0.5 * ((hs @ Whh) * hs).sum(-1) - hs @ b[nv:]  # [H]
        e_vh = -(v @ Wvh) @ hs.T  # [B, H]
        return -(e_v[:, None] + e_h[None, :] + e_vh + self.energy_offset) / T

    def hidden_posterior_exact(self, visible: torch.Tensor, T: float = 1.0) -> torch.Tensor:
        """``p_T(h | v)`` for every hidden state, shape ``[B, 2^n_hidden]`` (clamped phase)."""
        T = _as_temperature(T)
        self._check_states(visible, "visible", n=self.n_visible)
        if self.n_hidden == 0:
            raise ValueError("hidden_posterior_exact needs a machine with hidden units")
        self._check_exact(self.n_hidden)
        v = visible.reshape(-1, self.n_visible).to(self.weight.dtype)
        return torch.softmax(self._hidden_log_weights(v, T), dim=-1)

    def log_prob_exact(self, visible: torch.Tensor, T: float = 1.0) -> torch.Tensor:
        """Exact ``log p_T(v) = -F(v)/T - log Z_T`` for each row, shape ``[...]``."""
        return -self.free_energy(visible, T) / T - self.log_partition_exact(T)

    def log_likelihood(self, data: torch.Tensor) -> torch.Tensor:
        """Mean exact log-likelihood ``(1/n) sum_l log p(v^(l))`` at ``T = 1`` (nats per row)."""
        data = self._check_data(data)
        return self.log_prob_exact(data).mean()

    def kl_from_data(self, data: torch.Tensor) -> torch.Tensor:
        """``KL(p_data || p_model)`` over visible states, where ``p_data`` is the empirical
        distribution of the rows of ``data`` (nats). Zero exactly when the model reproduces the
        data frequencies; it equals ``-H(p_data) - log_likelihood(data)``."""
        data = self._check_data(data)
        self._check_exact()
        p_data = empirical_distribution(data, dtype=self.weight.dtype)
        p_model = self.probabilities_exact(over="visible")
        return kl_divergence(p_data, p_model)

    # -- statistics and the learning rule ------------------------------------------------------
    def _moments(self, s: torch.Tensor, w: torch.Tensor | None = None):
        """Weighted mean ``<xi>`` and ``<xi xi^T>`` of the rows ``s`` (weights ``w`` sum to 1)."""
        if w is None:
            w = torch.full((s.shape[0],), 1.0 / s.shape[0], dtype=s.dtype, device=s.device)
        mean = w @ s
        corr = (s * w[:, None]).T @ s
        return mean, corr

    @torch.no_grad()
    def model_statistics(
        self,
        T: float = 1.0,
        *,
        method: str = "exact",
        states: torch.Tensor | None = None,
        sweeps: int = 1,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-phase moments ``<xi_j>`` and ``<xi_j xi_k>`` under ``p_T``
        (:math:numref:`eq-boltzmann-rule`).

        Parameters
        ----------
        T : float
            Temperature (> 0).
        method : {"exact", "gibbs"}
            ``"exact"`` enumerates all states. ``"gibbs"`` runs ``sweeps`` sweeps from
            ``states`` (required, shape ``[B, n]``) and averages over the chains.
        states, sweeps, generator
            Start states, number of sweeps and randomness for ``"gibbs"``.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Means ``[n]`` and second moments ``[n, n]``.
        """
        check_choice(method, "method", ("exact", "gibbs"))
        T = _as_temperature(T)
        if method == "exact":
            n = self._check_exact()
            if 2**n <= _CHUNK:  # one table: a single energy evaluation
                S = _cached_states(n, self.weight.dtype, self.weight.device)
                return self._moments(S, torch.softmax(-self._energy(S) / T, dim=0))
            mean = torch.zeros(n, dtype=self.weight.dtype, device=self.weight.device)
            corr = torch.zeros(n, n, dtype=self.weight.dtype, device=self.weight.device)
            log_z = self.log_partition_exact(T)
            for s in self._chunks(n):
                m, c = self._moments(s, torch.exp(-self._energy(s) / T - log_z))
                mean += m
                corr += c
            return mean, corr
        if states is None:
            raise ValueError("model_statistics(method='gibbs') needs states=[B, n] to start from")
        s = self.gibbs(states, T=T, sweeps=sweeps, generator=generator)
        return self._moments(s.reshape(-1, self.n_units).to(self.weight.dtype))

    @torch.no_grad()
    def data_statistics(
        self,
        data: torch.Tensor,
        *,
        method: str = "exact",
        sweeps: int = 10,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Clamped-phase moments ``<xi_j>_data`` and ``<xi_j xi_k>_data``
        (:math:numref:`eq-boltzmann-rule`).

        The visible units are clamped to the rows of ``data``; hidden units (if any) follow
        their posterior ``p(h | v)`` at ``T = 1``, either exactly by enumerating the
        ``2^n_hidden`` hidden states (``method="exact"``) or by ``sweeps`` Gibbs sweeps over the
        hidden units from a random start (``method="gibbs"``).

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Means ``[n]`` and second moments ``[n, n]``.
        """
        data = self._check_data(data)
        check_choice(method, "method", ("exact", "gibbs"))
        sweeps = check_int(sweeps, "sweeps", minimum=1)
        v = data.to(self.weight.dtype)
        nv, nh = self.n_visible, self.n_hidden
        if nh == 0:
            return self._moments(v)
        if method == "exact":
            self._check_exact(nh)
            post = self.hidden_posterior_exact(v)  # [N, H]
            hs = _cached_states(nh, v.dtype, v.device)  # [H, nh]
            eh = post @ hs  # [N, nh] = E[h | v]
            ehh = torch.einsum("nk,ki,kj->ij", post, hs, hs) / v.shape[0]  # [nh, nh]
            N = v.shape[0]
            mean = torch.cat([v.mean(0), eh.mean(0)])
            cvv = v.T @ v / N
            cvh = v.T @ eh / N
            corr = torch.cat([torch.cat([cvv, cvh], 1), torch.cat([cvh.T, ehh], 1)], 0)
            return mean, corr
        h0 = self.random_state(v.shape[0], generator=generator)[:, nv:]
        s = torch.cat([v, h0], dim=1)
        s = self._sweeps(s, 1.0, sweeps, generator, torch.arange(nv, nv + nh))
        return self._moments(s)

    def _check_data(self, data: Any) -> torch.Tensor:
        check_tensor(data, "data", ndim=2)
        if data.shape[1] != self.n_visible:
            raise ValueError(
                f"data must have shape [N, {self.n_visible}] (n_visible columns), got "
                f"{tuple(data.shape)}"
            )
        check_binary(data, "data")
        check_same_device(data=data, parameters=self.weight)
        return data

    def _statistics(
        self,
        batch: torch.Tensor,
        method: str,
        chains: torch.Tensor | None = None,
        sweeps: int = 1,
        clamped_sweeps: int = 10,
        generator: torch.Generator | None = None,
    ):
        """Clamped and free moments for one update, and the advanced persistent chains.

        ``method="exact"`` enumerates both phases; ``"gibbs"`` samples the clamped phase with
        ``clamped_sweeps`` sweeps over the hidden units and the free phase from the persistent
        ``chains`` ``[B, n]`` advanced by ``sweeps`` sweeps.
        """
        if method == "exact":
            return self.data_statistics(batch), self.model_statistics(), chains
        clamped = self.data_statistics(
            batch, method="gibbs", sweeps=clamped_sweeps, generator=generator
        )
        chains = self._sweeps(chains, 1.0, sweeps, generator)
        return clamped, self._moments(chains), chains

    def gradient(
        self, data: torch.Tensor, *, method: str = "exact", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Boltzmann learning rule: gradient of the mean log-likelihood
        (:math:numref:`eq-boltzmann-rule`).

        ``dL/dW_jk = <xi_j xi_k>_data - <xi_j xi_k>_model`` for each pair ``j != k`` (one
        coupling per pair) and ``dL/db_j = <xi_j>_data - <xi_j>_model``, at ``T = 1``, of the mean
        log-likelihood :math:numref:`eq-boltzmann-loglik`.

        Parameters
        ----------
        data : torch.Tensor
            Visible data, shape ``[N, n_visible]``.
        method : {"exact"}
            Only exact statistics here; :meth:`fit` also offers sampled statistics.
        generator : torch.Generator, optional
            Unused (kept for a uniform signature).

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            ``dW`` ``[n, n]`` (symmetric, zero diagonal) and ``db`` ``[n]``.
        """
        data = self._check_data(data)
        check_choice(method, "method", ("exact",))
        clamped, free, _ = self._statistics(data, "exact")
        return _boltzmann_rule(clamped, free)

    @torch.no_grad()
    def _visible_log_probabilities(self) -> torch.Tensor:
        """Exact ``log p(v)`` of all ``2^n_visible`` visible states, in log space."""
        logp = torch.log_softmax(-self.energies_exact(), dim=0)
        return torch.logsumexp(logp.reshape(2**self.n_hidden, 2**self.n_visible), dim=0)

    def fit(
        self,
        data: torch.Tensor,
        *,
        epochs: int = 200,
        lr: float = 0.1,
        method: str = "auto",
        batch_size: int | None = None,
        n_chains: int = 500,
        sweeps: int = 1,
        clamped_sweeps: int = 10,
        weight_decay: float = 0.0,
        track: bool | None = None,
        generator: torch.Generator | None = None,
        progress_bar: bool | None = None,
    ) -> BoltzmannHistory:
        """Train with the Boltzmann learning rule (Ackley, Hinton and Sejnowski, 1985).

        Each update is gradient ascent on the mean log-likelihood
        :math:numref:`eq-boltzmann-loglik` along the rule :math:numref:`eq-boltzmann-rule`:

        ``W += lr (<xi xi^T>_data - <xi xi^T>_model - weight_decay W)`` (off the diagonal),
        ``b += lr (<s>_data - <s>_model)``.

        The clamped ("data") phase fixes the visible units to the data; the free ("model")
        phase samples all units.

        Parameters
        ----------
        data : torch.Tensor
            Binary training data, shape ``[N, n_visible]``.
        epochs : int
            Passes over the data.
        lr : float
            Learning rate (> 0).
        method : {"auto", "exact", "gibbs"}
            ``"exact"``: both phases by enumeration (``2^n`` states; hidden posteriors over
            ``2^n_hidden``). ``"gibbs"``: the free phase from ``n_chains`` persistent chains
            advanced ``sweeps`` sweeps per update, the clamped phase by ``clamped_sweeps`` Gibbs
            sweeps over the hidden units. ``"auto"``: exact when ``n <= 16``.
        batch_size : int, optional
            Mini-batch size (default: the whole data set, one update per epoch).
        n_chains, sweeps, clamped_sweeps : int
            Sampler settings of ``"gibbs"``.
        weight_decay : float
            L2 penalty on the weights.
        track : bool, optional
            Record the exact log-likelihood and KL each epoch (default: when ``n <= 16``).
        generator : torch.Generator, optional
            Randomness for mini-batches and sampling (``None``: torch's global generator).
        progress_bar : bool, optional
            Force the progress bar on/off (default: ``ebmlib.utils.progress_disabled()``).

        Returns
        -------
        BoltzmannHistory
            Per epoch: ``epoch``, ``corr_gap`` and, when tracked, ``log_likelihood`` and ``kl``.

        Raises
        ------
        FloatingPointError
            When training diverges (the learning rate is too large): the parameters stop being
            finite, or the tracked mean log-likelihood falls below
            ``min(L_0, -n_visible log 2) - n_visible log 2``, where ``L_0`` is its value before
            training; the model then gives the data ``2^n_visible`` times less probability per
            example than both its start and the uniform distribution.
        """
        data = self._check_data(data)
        epochs = check_int(epochs, "epochs", minimum=1)
        lr = check_positive(lr, "lr")
        method = check_choice(method, "method", ("auto", "exact", "gibbs"))
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        sweeps = check_int(sweeps, "sweeps", minimum=1)
        clamped_sweeps = check_int(clamped_sweeps, "clamped_sweeps", minimum=1)
        weight_decay = check_nonnegative(weight_decay, "weight_decay")
        check_generator(generator, device=self.weight.device)
        N = data.shape[0]
        batch_size = N if batch_size is None else check_int(batch_size, "batch_size", minimum=1)
        if method == "auto":
            method = "exact" if self.n_units <= 16 else "gibbs"
        track = self.n_units <= 16 if track is None else bool(track)
        if method == "exact" or track:
            self._check_exact()
        chains = self.random_state(n_chains, generator=generator) if method == "gibbs" else None
        if track:
            data_idx = state_index(data)
            p_data = empirical_distribution(data, dtype=self.weight.dtype)
            floor = -self.n_visible * math.log(2.0)  # the uniform model's log-likelihood
            floor = min(float(self._visible_log_probabilities()[data_idx].mean()), floor) + floor
        x = data.to(self.weight.dtype)
        history = BoltzmannHistory()
        disable = None if progress_bar is None else not progress_bar
        for epoch in progress(range(1, epochs + 1), desc="Boltzmann fit", disable=disable):
            if batch_size < N:
                x = x[torch.randperm(N, generator=generator, device=x.device)]
            for batch in x.split(batch_size):
                with torch.no_grad():
                    clamped, free, chains = self._statistics(
                        batch, method, chains, sweeps, clamped_sweeps, generator
                    )
                    dW, db = _boltzmann_rule(clamped, free)
                    W = self.W
                    self.weight.copy_(W + lr * (dW - weight_decay * W))
                    self.bias.add_(lr * db)
            history.epoch.append(epoch)
            history.corr_gap.append(float(dW.abs().max()))
            if not all(bool(torch.isfinite(p).all()) for p in (self.weight, self.bias)):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch}: the parameters are no longer finite; "
                    f"lower lr (now {lr:g})"
                )
            if track:
                log_pv = self._visible_log_probabilities()
                ll = float(log_pv[data_idx].mean())
                history.log_likelihood.append(ll)
                history.kl.append(float((p_data * (p_data.clamp_min(1e-300).log() - log_pv)).sum()))
                if not ll >= floor:  # also catches NaN
                    raise FloatingPointError(
                        f"training diverged at epoch {epoch}: the mean log-likelihood fell to "
                        f"{ll:.4g} nats, below {floor:.4g} (n_visible log 2 under both its "
                        f"start and the uniform model); lower lr (now {lr:g})"
                    )
        return history

    # -- exact Markov kernels ----------------------------------------------------------------
    @torch.no_grad()
    def transition_matrix(self, T: float = 1.0, *, kind: str = "random", site: int | None = None):
        """Exact heat-bath transition matrix over all ``2^n`` states
        (:math:numref:`eq-boltzmann-detailed-balance`, :math:numref:`eq-boltzmann-stationary`).

        ``P[m, m']`` is the probability of moving from state number ``m`` to state number ``m'``
        (rows sum to 1),
        in the order of :func:`binary_states`.

        Parameters
        ----------
        T : float
            Temperature.
        kind : {"site", "random", "sweep"}
            ``"site"``: update unit ``site`` only. ``"random"``: pick a unit uniformly at random,
            then update it (the average of the site kernels). ``"sweep"``: one sequential sweep
            ``P_0 P_1 ... P_{n-1}``, as :meth:`gibbs` does.
        site : int
            The unit for ``kind="site"``.

        Returns
        -------
        torch.Tensor
            Shape ``[2^n, 2^n]``. Practical up to about 12 units.
        """
        T = _as_temperature(T)
        check_choice(kind, "kind", ("site", "random", "sweep"))
        n = self.n_units
        if n > 14:
            raise ValueError(
                f"transition_matrix builds a dense [2^n, 2^n] matrix; n must be <= 14, got {n}"
            )
        if kind == "site":
            if site is None:
                raise ValueError("site must be given when kind='site'")
            site = check_int(site, "site", minimum=0)
            if site >= n:
                raise ValueError(f"site must be < {n}, got {site}")
            return self._site_kernel(site, T)
        kernels = [self._site_kernel(i, T) for i in range(n)]
        if kind == "random":
            return torch.stack(kernels).mean(0)
        P = kernels[0]
        for K in kernels[1:]:
            P = P @ K
        return P

    @torch.no_grad()
    def distribution_after_sweeps(
        self, p0: torch.Tensor, T: float = 1.0, sweeps: int = 1
    ) -> torch.Tensor:
        """Exact distribution of the Gibbs sampler after each of ``sweeps`` sequential sweeps.

        Computes ``p_k = p_0 P^k`` for the sweep kernel of :meth:`transition_matrix`
        (``kind="sweep"``) without forming the matrix: updating unit ``j`` pools the mass of each
        pair of states that differ only in unit ``j`` and splits it as ``1 - q`` : ``q`` with
        ``q = sigmoid(a_j / T)`` (:math:numref:`eq-boltzmann-conditional`). Cost ``O(n 2^n)``
        per sweep.

        Parameters
        ----------
        p0 : torch.Tensor
            Start distribution over the ``2^n`` states, shape ``[2^n]``.
        T : float
            Temperature.
        sweeps : int
            Number of sweeps (>= 0).

        Returns
        -------
        torch.Tensor
            Shape ``[sweeps + 1, 2^n]``; row ``k`` is ``p_k`` (row 0 is ``p0``).
        """
        T = _as_temperature(T)
        sweeps = check_int(sweeps, "sweeps", minimum=0)
        n = self._check_exact()
        if n > 20:
            raise ValueError(f"distribution_after_sweeps needs n <= 20 units, got {n}")
        check_tensor(p0, "p0", shape=(2**n,), floating=True)
        check_same_device(p0=p0, parameters=self.weight)
        if bool((p0 < 0).any()) or abs(float(p0.sum()) - 1.0) > 1e-6:
            raise ValueError("p0 must be a probability vector (non-negative, summing to 1)")
        dtype, device = self.weight.dtype, self.weight.device
        S = binary_states(n, dtype=dtype, device=device)
        idx = torch.arange(2**n, device=device)
        pairs = []
        for i in range(n):
            bit = 1 << i  # unit i is bit i of the state number
            a = idx[(idx & bit) == 0]  # states with unit i off
            b = a | bit  # the same states with unit i on
            q = torch.sigmoid((S[a] @ self.W[:, i] + self.bias[i]) / T)
            pairs.append((a, b, q))
        p = p0.to(dtype).clone()
        out = [p.clone()]
        for _ in range(sweeps):
            for a, b, q in pairs:
                m = p[a] + p[b]
                p[a] = m * (1 - q)
                p[b] = m * q
            out.append(p.clone())
        return torch.stack(out)

    def _site_kernel(self, i: int, T: float) -> torch.Tensor:
        n = self.n_units
        dtype, device = self.weight.dtype, self.weight.device
        s = binary_states(n, dtype=dtype, device=device)  # [S, n]
        p1 = torch.sigmoid((s @ self.W[:, i] + self.bias[i]) / T)  # [S]
        idx = torch.arange(2**n, device=device)
        bit = 1 << i  # unit i is bit i of the state number
        idx0 = idx & ~bit  # the state with unit i off
        idx1 = idx | bit  # the state with unit i on
        P = torch.zeros(2**n, 2**n, dtype=dtype, device=device)
        P[idx, idx0] += 1 - p1
        P[idx, idx1] += p1
        return P


# ----------------------------------------------------------------------------------------------
# Simulated annealing
# ----------------------------------------------------------------------------------------------
def geometric_schedule(
    T_start: float = 5.0, T_end: float = 0.05, n_steps: int = 100
) -> torch.Tensor:
    """Temperatures ``T_k = T_start (T_end / T_start)^(k / (n_steps - 1))``, ``k = 0..n_steps-1``.

    Returns
    -------
    torch.Tensor
        float64, shape ``[n_steps]``.
    """
    T_start = check_positive(T_start, "T_start")
    T_end = check_positive(T_end, "T_end")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    if n_steps == 1:
        return torch.tensor([T_end], dtype=torch.float64)
    k = torch.arange(n_steps, dtype=torch.float64) / (n_steps - 1)
    return T_start * (T_end / T_start) ** k


@dataclass(frozen=True)
class AnnealResult(Result):
    """Output of :func:`anneal`.

    Attributes
    ----------
    states : torch.Tensor
        Final states ``[B, n]``.
    energies : torch.Tensor
        Their energies ``[B]``.
    best_states, best_energies : torch.Tensor
        Lowest-energy state seen by each chain, ``[B, n]`` and ``[B]``.
    trace : dict
        Per schedule step: ``"T"``, ``"mean_energy"`` and ``"min_energy"`` over the chains
        (lists), and ``"energies"`` ``[steps, B]`` when :func:`anneal` was asked to keep them.
    """

    states: torch.Tensor
    energies: torch.Tensor
    best_states: torch.Tensor
    best_energies: torch.Tensor
    trace: dict[str, Any] = field(default_factory=dict)


class _CallableEnergy:
    """Heat-bath sweeps for an arbitrary energy of binary states, by energy differences."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], n: int):
        self.fn = fn
        self.n_units = n

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        e = self.fn(s)
        if not isinstance(e, torch.Tensor) or e.shape != s.shape[:-1]:
            raise ValueError(
                f"energy must map states [B, n] to a tensor of shape [B], got "
                f"{type(e).__name__} {tuple(getattr(e, 'shape', ()))}"
            )
        return e

    def sweeps(self, s: torch.Tensor, T: float, sweeps: int, generator) -> torch.Tensor:
        for _ in range(sweeps):
            # [n, B], drawn as BoltzmannMachine._sweeps draws them: same seed, same run
            u = torch.rand((self.n_units, s.shape[0]), generator=generator, device=s.device,
                           dtype=s.dtype)  # fmt: skip
            for i in range(self.n_units):
                s1, s0 = s.clone(), s.clone()
                s1[:, i], s0[:, i] = 1, 0
                dE = self.energy(s0) - self.energy(s1)  # = local field a_i of a machine
                s[:, i] = (u[i] < torch.sigmoid(dE / T)).to(s.dtype)
        return s


@torch.no_grad()
def anneal(
    machine: BoltzmannMachine | torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    schedule: torch.Tensor | Sequence[float] | str | None = None,
    *,
    T_start: float = 5.0,
    T_end: float = 0.05,
    n_steps: int = 100,
    n_chains: int = 32,
    sweeps_per_step: int = 1,
    states: torch.Tensor | None = None,
    n_units: int | None = None,
    keep_energies: bool = False,
    generator: torch.Generator | None = None,
) -> AnnealResult:
    """Simulated annealing (Kirkpatrick et al., 1983) with heat-bath sweeps (chapter 6).

    At each temperature ``T_k`` of ``schedule`` every chain does ``sweeps_per_step`` heat-bath
    sweeps (:math:numref:`eq-boltzmann-conditional`); as ``T`` falls the stationary distribution
    ``p_T(xi) ~ exp(-E(xi)/T)`` concentrates on the lowest-energy states.

    Parameters
    ----------
    machine : BoltzmannMachine, tensor or callable
        The energy to minimise over binary states ``xi in {0, 1}^n``: a
        :class:`BoltzmannMachine` (see :meth:`BoltzmannMachine.from_ising` for spin problems);
        a symmetric, zero-diagonal weight matrix ``[n, n]`` (the machine with zero biases); or a
        callable mapping states ``[B, n]`` to energies ``[B]``, updated by the heat-bath rule
        ``p(xi_j = 1 | rest) = sigmoid((E(xi_j = 0) - E(xi_j = 1)) / T)`` computed from energy
        differences (two energy calls per unit; give ``n_units`` or ``states``).
    schedule : tensor, sequence of float or {"geometric", "linear"}, optional
        Positive temperatures, usually decreasing; or the name of a schedule from ``T_start`` to
        ``T_end`` in ``n_steps`` steps (default ``"geometric"``, see :func:`geometric_schedule`).
    T_start, T_end, n_steps :
        Used only when ``schedule`` is a name or None.
    n_chains : int
        Independent chains (ignored when ``states`` is given).
    sweeps_per_step : int
        Sweeps at each temperature.
    states : torch.Tensor, optional
        Initial states ``[B, n]`` (default uniformly random).
    n_units : int, optional
        Number of units, needed for a callable energy without ``states``.
    keep_energies : bool
        Also store every chain's energy after every step as ``trace["energies"]``, a tensor of
        shape ``[len(schedule), B]``.
    generator : torch.Generator, optional
        Randomness.

    Returns
    -------
    AnnealResult
        Final and best states and energies, and a per-step trace.
    """
    if isinstance(machine, torch.Tensor):
        machine = BoltzmannMachine.from_weights(machine)
    if isinstance(machine, BoltzmannMachine):
        dtype, device = machine.weight.dtype, machine.weight.device
        n = machine.n_units

        def sweep(s, T, k, g):
            return machine._sweeps(s, T, k, g)

        energy_fn = machine._energy
    elif callable(machine):
        if states is not None:
            check_tensor(states, "states", ndim=2)
            n = states.shape[1]
            dtype = states.dtype if states.is_floating_point() else torch.float32
            device = states.device
        elif n_units is not None:
            n = check_int(n_units, "n_units", minimum=1)
            dtype, device = torch.float32, torch.device("cpu")
        else:
            raise ValueError("a callable energy needs n_units or states to fix the number of units")
        wrapped = _CallableEnergy(machine, n)
        sweep, energy_fn = wrapped.sweeps, wrapped.energy
    else:
        raise TypeError(
            "machine must be a BoltzmannMachine, a weight matrix or a callable energy, got "
            f"{type(machine).__name__}"
        )
    if schedule is None or isinstance(schedule, str):
        kind = check_choice(
            "geometric" if schedule is None else schedule, "schedule", ("geometric", "linear")
        )
        if kind == "geometric":
            schedule = geometric_schedule(T_start, T_end, n_steps)
        else:
            T_start = check_positive(T_start, "T_start")
            T_end = check_positive(T_end, "T_end")
            n_steps = check_int(n_steps, "n_steps", minimum=1)
            schedule = torch.linspace(T_start, T_end, n_steps, dtype=torch.float64)
            if n_steps == 1:
                schedule = torch.tensor([T_end], dtype=torch.float64)
    if isinstance(schedule, torch.Tensor) and schedule.is_complex():
        raise TypeError(f"schedule must hold real temperatures, got {schedule.dtype}")
    sched = torch.as_tensor(schedule, dtype=torch.float64).reshape(-1)
    if sched.numel() == 0:
        raise ValueError("schedule must hold at least one temperature")
    if not bool(torch.isfinite(sched).all()) or bool((sched <= 0).any()):
        raise ValueError("schedule must hold finite temperatures > 0")
    sweeps_per_step = check_int(sweeps_per_step, "sweeps_per_step", minimum=1)
    check_generator(generator, device=device)
    if states is None:
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        u = torch.rand((n_chains, n), generator=generator, device=device, dtype=dtype)
        s = (u < 0.5).to(dtype)
    else:
        check_tensor(states, "states", ndim=2)
        if states.shape[1] != n:
            raise ValueError(f"states must have shape [B, {n}], got {tuple(states.shape)}")
        check_binary(states, "states")
        if states.device != torch.device(device) and isinstance(machine, BoltzmannMachine):
            check_same_device(states=states, parameters=machine.weight)
        s = states.to(dtype).clone()
    e = energy_fn(s)
    best_s, best_e = s.clone(), e.clone()
    trace: dict[str, Any] = {"T": [], "mean_energy": [], "min_energy": []}
    kept = []
    for T in sched.tolist():
        s = sweep(s, T, sweeps_per_step, generator)
        e = energy_fn(s)
        better = e < best_e
        best_e = torch.where(better, e, best_e)
        best_s[better] = s[better]
        trace["T"].append(T)
        trace["mean_energy"].append(float(e.mean()))
        trace["min_energy"].append(float(e.min()))
        if keep_energies:
            kept.append(e.clone())
    if keep_energies:
        trace["energies"] = torch.stack(kept)
    return AnnealResult(s, e, best_s, best_e, trace)


# ----------------------------------------------------------------------------------------------
# Problems and the demo
# ----------------------------------------------------------------------------------------------
def spin_glass(
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sherrington-Kirkpatrick couplings: ``J_jk = J_kj = +-1/sqrt(n)`` at random, ``J_jj = 0``.

    A frustrated problem: no spin configuration satisfies every bond. Use
    :meth:`BoltzmannMachine.from_ising` to turn it into a {0, 1} machine.

    Returns
    -------
    torch.Tensor
        Shape ``[n, n]``, symmetric, zero diagonal.
    """
    n = check_int(n, "n", minimum=2)
    check_generator(generator)
    signs = torch.randint(0, 2, (n, n), generator=generator).to(torch.float64) * 2 - 1
    J = torch.triu(signs, diagonal=1) / math.sqrt(n)
    return (J + J.T).to(dtype=dtype, device=device)


def demo_machine(n: int = 5, seed: int = 0, scale: float = 1.5) -> BoltzmannMachine:
    """A small fixed machine for demos: weights ``N(0, scale^2)``, biases ``-W 1 / 2``.

    The bias choice makes the energy symmetric under flipping all units, like an Ising model
    without field, so the distribution is not dominated by one corner of the hypercube.
    Returns a float64 machine with ``n`` visible units.
    """
    n = check_int(n, "n", minimum=1)
    scale = check_nonnegative(scale, "scale")
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    W = torch.triu(torch.randn(n, n, generator=g, dtype=torch.float64) * scale, diagonal=1)
    W = W + W.T
    return BoltzmannMachine.from_weights(W, -0.5 * W.sum(1))


def draw_distribution(
    T: float = 1.0,
    ax: Any = None,
    *,
    machine: BoltzmannMachine | None = None,
    n_chains: int = 4000,
    sweeps: int = 20,
    seed: int = 0,
) -> Any:
    """Demo: the Gibbs sampler's histogram against the exact Boltzmann distribution at ``T``.

    Runs ``n_chains`` independent chains for ``sweeps`` sweeps from uniformly random states and
    draws, for every state (sorted by energy), the exact probability ``p_T(xi)`` as bars and the
    sampled frequency as dots, with the total-variation distance in the title.

    Parameters
    ----------
    T : float
        Temperature (> 0).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    machine : BoltzmannMachine, optional
        Default :func:`demo_machine` (5 units, 32 states).
    n_chains, sweeps, seed : int
        Sampler settings.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = require("matplotlib.pyplot", "viz", feature="boltzmann.draw_distribution")

    T = _as_temperature(T)
    if machine is None:
        machine = demo_machine()
    if not isinstance(machine, BoltzmannMachine):
        raise TypeError(f"machine must be a BoltzmannMachine, got {type(machine).__name__}")
    gen = torch.Generator(device=machine.weight.device).manual_seed(
        check_int(seed, "seed", minimum=0)
    )
    n_chains = check_int(n_chains, "n_chains", minimum=1)
    sweeps = check_int(sweeps, "sweeps", minimum=0)
    with torch.no_grad():
        exact = machine.probabilities_exact(T).double().cpu()
        energies = machine.energies_exact().double().cpu()
        samples = machine.sample(n_chains, T=T, sweeps=sweeps, generator=gen)
        emp = empirical_distribution(samples.cpu())
    order = torch.argsort(energies)
    tv = 0.5 * float((exact - emp).abs().sum())
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.2))
    x = torch.arange(exact.numel()).numpy()
    ax.bar(x, exact[order].numpy(), color="0.75", label=r"exact $p_T(\xi)$")
    ax.plot(x, emp[order].numpy(), "o", ms=3.5, color="C3", label=f"Gibbs, {n_chains} chains")
    ax.set_xlabel("state, sorted by energy (low to high)")
    ax.set_ylabel("probability")
    ax.set_title(f"T = {T:g}: total variation {tv:.3f}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return ax
