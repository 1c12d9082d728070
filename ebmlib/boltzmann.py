"""Boltzmann machines: stochastic binary units, Gibbs sampling, exact enumeration, learning.

A Boltzmann machine (chapter 6) has ``n = n_visible + n_hidden`` binary units ``s_i in {0, 1}``,
a symmetric weight matrix ``W`` with zero diagonal and biases ``b``. Its energy and distribution
at temperature ``T`` are

.. math::

    E(s) = -\\tfrac12 s^T W s - b^T s, \\qquad p_T(s) = e^{-E(s)/T} / Z_T .

Units are ordered visible first, then hidden. States are rows: a batch of states has shape
``[B, n]``. Exact quantities (``log Z``, probabilities, moments) enumerate all ``2^n`` states as
a ``[2^n, n]`` tensor, in chunks, so they are practical up to about 20 units. In that
enumeration, state number ``k`` has unit ``i`` equal to bit ``n - 1 - i`` of ``k`` (unit 0 is the
most significant bit), see :func:`all_states` and :func:`state_index`.

See chapter 6 of the book.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ._validation import (
    check_binary,
    check_choice,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_same_device,
    check_tensor,
)
from .utils import progress

__all__ = [
    "BoltzmannMachine",
    "AnnealResult",
    "anneal",
    "geometric_schedule",
    "all_states",
    "state_index",
    "empirical_distribution",
    "kl_divergence",
    "spin_glass",
    "demo_machine",
    "draw_distribution",
    "MAX_EXACT_UNITS",
]

#: Largest number of units for which exact enumeration is allowed (2^24 states).
MAX_EXACT_UNITS = 24
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
    """All binary states of ``n`` units (or the slice ``start:stop`` of them) as rows.

    State number ``k`` has unit ``i`` equal to bit ``n - 1 - i`` of ``k``, so the rows are in
    lexicographic order with unit 0 the most significant bit.

    Parameters
    ----------
    n : int
        Number of units (0 to 24).
    start, stop : int
        Slice of state numbers to build (default: all ``2^n``).
    dtype : torch.dtype
        dtype of the result.
    device : torch.device or str, optional
        Where to build it.

    Returns
    -------
    torch.Tensor
        Shape ``[stop - start, n]`` with entries in {0, 1}.
    """
    n = check_int(n, "n", minimum=0)
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"n must be <= {MAX_EXACT_UNITS} for enumeration, got {n}")
    stop = 2**n if stop is None else check_int(stop, "stop", minimum=0)
    start = check_int(start, "start", minimum=0)
    if not start <= stop <= 2**n:
        raise ValueError(
            f"need 0 <= start <= stop <= 2**n = {2**n}, got start={start}, stop={stop}"
        )
    codes = torch.arange(start, stop, device=device, dtype=torch.int64)
    shifts = torch.arange(n - 1, -1, -1, device=device, dtype=torch.int64)
    return ((codes[:, None] >> shifts) & 1).to(dtype)


@functools.lru_cache(maxsize=16)
def _cached_states(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """All ``2^n`` states for small ``n`` (at most one chunk), kept for reuse."""
    return all_states(n, dtype=dtype, device=device)


def state_index(states: torch.Tensor) -> torch.Tensor:
    """Number of each binary state in the enumeration order of :func:`all_states`.

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
    n = states.shape[-1]
    if n > 62:
        raise ValueError(f"states must have at most 62 units to be numbered, got {n}")
    weights = 2 ** torch.arange(n - 1, -1, -1, device=states.device, dtype=torch.int64)
    return (states.to(torch.int64) * weights).sum(-1)


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
        Shape ``[2^n]``, summing to one, in the order of :func:`all_states`.
    """
    check_tensor(states, "states", ndim=2)
    n = states.shape[-1]
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"states must have at most {MAX_EXACT_UNITS} units, got {n}")
    idx = state_index(states)
    counts = torch.bincount(idx, minlength=2**n).to(dtype)
    return counts / counts.sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Kullback-Leibler divergence ``KL(p || q) = sum_x p(x) log(p(x) / q(x))`` in nats.

    Terms with ``p(x) = 0`` contribute zero; ``q(x) = 0`` where ``p(x) > 0`` gives ``inf``.

    Parameters
    ----------
    p, q : torch.Tensor
        Probability vectors of the same shape ``[..., K]`` (the last axis sums to one).

    Returns
    -------
    torch.Tensor
        Shape ``[...]``.
    """
    check_tensor(p, "p", min_ndim=1, floating=True)
    check_tensor(q, "q", min_ndim=1, floating=True)
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    if bool((p < 0).any()) or bool((q < 0).any()):
        raise ValueError("p and q must be non-negative probability vectors")
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(-1)


def _as_temperature(T: Any) -> float:
    return check_positive(T, "T")


# ----------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------
class BoltzmannMachine(nn.Module):
    """A fully connected Boltzmann machine with binary {0, 1} units.

    Energy and distribution (chapter 6, eqs. (6.1)-(6.2)):

    .. math::

        E(s) = -\\tfrac12 s^T W s - b^T s + c, \\qquad p_T(s) = \\frac{e^{-E(s)/T}}{Z_T},
        \\qquad Z_T = \\sum_s e^{-E(s)/T},

    with ``W`` symmetric and zero on the diagonal (``c`` is a constant offset, zero unless the
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
        Randomness for the initial weights (default: a CPU generator seeded with 0).
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
        check_generator(generator)
        if generator is None:  # a fixed default seed; the global random state is never touched
            generator = torch.Generator().manual_seed(0)
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        n = self.n_units
        w = torch.randn(n, n, generator=generator, dtype=torch.float64) * init_std
        w = torch.triu(w, diagonal=1)
        w = w + w.T
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
        bm = cls(nv, n - nv, dtype=weights.dtype, device=weights.device)
        with torch.no_grad():
            bm.weight.copy_(0.5 * (weights + weights.T))
            if bias is not None:
                check_tensor(bias, "bias", shape=(n,), floating=True)
                check_same_device(weights=weights, bias=bias)
                bm.bias.copy_(bias)
        return bm

    @classmethod
    def from_ising(cls, J: torch.Tensor, h: torch.Tensor | None = None) -> BoltzmannMachine:
        """The {0, 1} machine whose energy equals an Ising energy of the spins ``sigma = 2s - 1``.

        With ``E_Ising(sigma) = -1/2 sigma^T J sigma - h^T sigma`` (``J`` symmetric, zero
        diagonal), substituting ``sigma = 2 s - 1`` gives ``W = 4 J``, ``b = 2 h - 2 J 1`` and
        the constant ``c = -1/2 1^T J 1 + h^T 1``, stored in ``energy_offset``, so
        ``machine.energy(s) == E_Ising(2 s - 1)`` exactly (chapter 6, eq. (6.6)).

        Parameters
        ----------
        J : torch.Tensor
            Couplings, shape ``[n, n]``, symmetric with zero diagonal.
        h : torch.Tensor, optional
            Fields, shape ``[n]`` (default zeros).
        """
        check_tensor(J, "J", ndim=2, floating=True)
        n = J.shape[0]
        if J.shape[1] != n:
            raise ValueError(f"J must be square, got shape {tuple(J.shape)}")
        if h is None:
            h = torch.zeros(n, dtype=J.dtype, device=J.device)
        check_tensor(h, "h", shape=(n,), floating=True)
        check_same_device(J=J, h=h)
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
        """Energy ``E(s) = -1/2 s^T W s - b^T s + c`` of each state (chapter 6, eq. (6.1)).

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
        """Local fields ``h_i = sum_j W_ij s_j + b_i`` (chapter 6, eq. (6.3)).

        ``h_i = E(s with s_i = 0) - E(s with s_i = 1)``, so the heat-bath probability of
        ``s_i = 1`` given the other units is ``sigmoid(h_i / T)``.

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
        shape = (batch,) if isinstance(batch, int) else tuple(batch)
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
        """Heat-bath (Gibbs) sweeps, batched over chains (chapter 6, eq. (6.3)).

        Each unit ``i`` in turn is set to 1 with probability ``sigmoid(h_i / T)`` given the
        current values of all the others, for every chain at once. One sweep visits each unit
        in ``units`` once: in index order (``order="sequential"``) or in a fresh random order per
        sweep (``order="random"``). Units not in ``units`` stay clamped.

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, n]`` or ``[n]``, entries in {0, 1}; not modified.
        T : float
            Temperature (> 0).
        sweeps : int
            Number of sweeps (>= 0).
        generator : torch.Generator, optional
            Source of randomness (on the device of the machine).
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
            idx = torch.as_tensor(units, dtype=torch.int64).reshape(-1).cpu()
            if idx.numel() == 0:
                raise ValueError("units must name at least one unit")
            if bool((idx < 0).any()) or bool((idx >= n).any()):
                raise ValueError(f"units must be indices in [0, {n}), got {idx.tolist()}")
        squeeze = states.dim() == 1
        s = states.reshape(-1, n).to(self.weight.dtype).clone()  # [B, n]
        s = self._sweeps(s, T, sweeps, generator, idx, order)
        out = s.to(states.dtype)
        return out.reshape(states.shape[-1]) if squeeze else out.reshape(states.shape)

    def _sweeps(
        self,
        s: torch.Tensor,
        T: float,
        sweeps: int,
        generator: torch.Generator | None,
        idx: torch.Tensor | None = None,
        order: str = "sequential",
    ) -> torch.Tensor:
        """Unchecked heat-bath sweeps on ``s`` ``[B, n]`` in place (float, parameter dtype).

        Unit ``i`` becomes 1 when ``u < sigmoid(h_i / T)`` with ``u ~ U(0, 1)``, written as
        ``sum_j W_ij s_j > T logit(u) - b_i`` so that the thresholds of a whole sweep are drawn
        and transformed at once and each unit costs one matrix-vector product.
        """
        n = self.n_units
        idx = torch.arange(n) if idx is None else idx
        m = idx.numel()
        W, b = self.W, self.bias
        Wt = W.T.contiguous()  # row i is column i of the symmetric W
        # Work on a unit-major copy so that writing one unit's values is contiguous; ``s`` is
        # a [B, n] view of it.
        sT = s.T.contiguous()  # [n, B]
        s_in = s
        s = sT.T
        for _ in range(sweeps):
            u = torch.rand((s.shape[0], m), generator=generator, device=s.device, dtype=s.dtype)
            if order == "random":
                perm = torch.randperm(m, generator=generator, device=s.device).cpu()
                sweep_idx = idx[perm]
            else:
                sweep_idx = idx
            # thr[k] = T logit(u) - b_i for the k-th visited unit i: [m, B]
            thr = (T * (torch.log(u) - torch.log1p(-u)) - b[sweep_idx.to(s.device)]).T.contiguous()
            for k, i in enumerate(sweep_idx.tolist()):
                sT[i] = torch.mv(s, Wt[i]) > thr[k]
        s_in.copy_(s)
        return s_in

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
        if 2**n <= _CHUNK:
            yield _cached_states(n, self.weight.dtype, self.weight.device)
            return
        for start in range(0, 2**n, _CHUNK):
            stop = min(start + _CHUNK, 2**n)
            yield all_states(
                n, start=start, stop=stop, dtype=self.weight.dtype, device=self.weight.device
            )

    def energies_exact(self) -> torch.Tensor:
        """Energies of all ``2^n`` states in the order of :func:`all_states`, shape ``[2^n]``."""
        n = self._check_exact()
        return torch.cat([self._energy(s) for s in self._chunks(n)])

    def log_partition_exact(self, T: float = 1.0) -> torch.Tensor:
        """``log Z_T = log sum_s exp(-E(s)/T)`` by enumerating all ``2^n`` states (eq. (6.2)).

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
        """Exact Boltzmann probabilities by enumeration (chapter 6, eq. (6.2)).

        Parameters
        ----------
        T : float
            Temperature (> 0).
        over : {"joint", "visible"}
            ``"joint"``: ``p_T(s)`` for all ``2^n`` joint states ``s = (v, h)``, shape ``[2^n]``.
            ``"visible"``: the visible marginal ``p_T(v) = sum_h p_T(v, h)``, shape
            ``[2^n_visible]`` (the same as ``"joint"`` without hidden units).

        Returns
        -------
        torch.Tensor
            Probabilities in the order of :func:`all_states`, summing to one.
        """
        T = _as_temperature(T)
        check_choice(over, "over", ("joint", "visible"))
        logp = -self.energies_exact() / T
        p = torch.softmax(logp, dim=0)
        if over == "visible":
            p = p.reshape(2**self.n_visible, 2**self.n_hidden).sum(-1)
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
        e = self.energies_exact()
        emin = e.min()
        tol = 1e-9 if e.dtype == torch.float64 else 1e-4
        idx = torch.nonzero(e <= emin + tol * (1 + emin.abs())).reshape(-1)
        states = (idx[:, None] >> torch.arange(self.n_units - 1, -1, -1, device=idx.device)) & 1
        return emin, states.to(self.weight.dtype)

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
        """Mean exact log-likelihood ``(1/N) sum_n log p(v_n)`` at ``T = 1`` (nats per example)."""
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
        """Weighted mean ``<s>`` and ``<s s^T>`` of rows ``s`` (weights ``w`` sum to 1)."""
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
        """Free-phase moments ``<s_i>`` and ``<s_i s_j>`` under ``p_T`` (chapter 6, eq. (6.8)).

        Parameters
        ----------
        method : {"exact", "gibbs"}
            ``"exact"`` enumerates all states. ``"gibbs"`` runs ``sweeps`` sweeps from
            ``states`` (required, shape ``[B, n]``) and averages over the chains.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Means ``[n]`` and second moments ``[n, n]``.
        """
        check_choice(method, "method", ("exact", "gibbs"))
        if method == "exact":
            T = _as_temperature(T)
            n = self._check_exact()
            if 2**n <= _CHUNK:  # one table: a single energy evaluation
                S = _cached_states(n, self.weight.dtype, self.weight.device)
                return self._moments(S, torch.softmax(-self._energy(S) / T, dim=0))
            mean = torch.zeros(n, dtype=self.weight.dtype, device=self.weight.device)
            corr = torch.zeros(n, n, dtype=self.weight.dtype, device=self.weight.device)
            log_z = self.log_partition_exact(T)
            for s in self._chunks(n):
                w = torch.exp(-self._energy(s) / T - log_z)
                m, c = self._moments(s, w)
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
        """Clamped-phase moments ``<s_i>_data`` and ``<s_i s_j>_data`` (chapter 6, eq. (6.8)).

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
        v = data.to(self.weight.dtype)
        nv, nh = self.n_visible, self.n_hidden
        if nh == 0:
            return self._moments(v)
        if method == "exact":
            self._check_exact(nh)
            post = self.hidden_posterior_exact(v)  # [N, H]
            hs = _cached_states(nh, v.dtype, v.device)  # [H, nh]
            eh = post @ hs  # [N, nh] = E[h | v]
            ehh = torch.einsum("nk,ki,kj->nij", post, hs, hs).mean(0)  # [nh, nh]
            N = v.shape[0]
            mean = torch.cat([v.mean(0), eh.mean(0)])
            cvv = v.T @ v / N
            cvh = v.T @ eh / N
            corr = torch.cat([torch.cat([cvv, cvh], 1), torch.cat([cvh.T, ehh], 1)], 0)
            return mean, corr
        h0 = self.random_state(v.shape[0], generator=generator)[:, nv:]
        s = torch.cat([v, h0], dim=1)
        s = self.gibbs(s, T=1.0, sweeps=sweeps, generator=generator, units=range(nv, nv + nh))
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

    def gradient(
        self, data: torch.Tensor, *, method: str = "exact", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Boltzmann learning rule: gradient of the mean log-likelihood (eq. (6.8)).

        ``dL/dw_ij = <s_i s_j>_data - <s_i s_j>_model`` for each pair ``i != j`` (one coupling
        per pair) and ``dL/db_i = <s_i>_data - <s_i>_model``, at ``T = 1``.

        Parameters
        ----------
        data : torch.Tensor
            Visible data, shape ``[N, n_visible]``.
        method : {"exact"}
            Only exact statistics here; :meth:`fit` also offers sampled statistics.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            ``dW`` ``[n, n]`` (symmetric, zero diagonal) and ``db`` ``[n]``.
        """
        check_choice(method, "method", ("exact",))
        md, cd = self.data_statistics(data, method="exact")
        mm, cm = self.model_statistics(method="exact")
        dW = cd - cm
        dW = dW - torch.diag_embed(torch.diagonal(dW))
        return dW, md - mm

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
    ) -> dict[str, list[float]]:
        """Train with the Boltzmann learning rule (Ackley, Hinton and Sejnowski, 1985).

        Each update is gradient ascent on the mean log-likelihood (chapter 6, eq. (6.8)):

        ``W += lr (<s s^T>_data - <s s^T>_model)`` (off the diagonal),
        ``b += lr (<s>_data - <s>_model)``,

        minus ``lr * weight_decay * W``. The clamped ("data") phase fixes the visible units to the
        data; the free ("model") phase samples all units.

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
        weight_decay : float
            L2 penalty on the weights.
        track : bool, optional
            Record the exact log-likelihood and KL each epoch (default: when ``n <= 16``).
        generator : torch.Generator, optional
            Randomness for mini-batches and sampling.
        progress_bar : bool, optional
            Force the progress bar on/off (default: ``ebmlib.utils.progress_disabled()``).

        Returns
        -------
        dict of lists
            ``"epoch"``, ``"corr_gap"`` (max ``|<s_i s_j>_data - <s_i s_j>_model|`` of the last
            update) and, when tracked, ``"log_likelihood"`` (nats per example) and ``"kl"``
            (``KL(p_data || p_model)``, nats).
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
        n = self.n_units
        if method == "auto":
            method = "exact" if n <= 16 else "gibbs"
        if method == "exact":
            self._check_exact()
        if track is None:
            track = n <= 16
        if track:
            self._check_exact()
        chains = self.random_state(n_chains, generator=generator) if method == "gibbs" else None
        if track:
            data_idx = state_index(data)
            p_data = empirical_distribution(data, dtype=self.weight.dtype)
        history: dict[str, list[float]] = {"epoch": [], "corr_gap": []}
        if track:
            history["log_likelihood"] = []
            history["kl"] = []
        disable = None if progress_bar is None else not progress_bar
        for epoch in progress(range(epochs), desc="Boltzmann fit", disable=disable):
            if batch_size >= N:
                batches = [data]
            else:
                perm = torch.randperm(N, generator=generator, device=data.device)
                batches = [data[perm[i : i + batch_size]] for i in range(0, N, batch_size)]
            for batch in batches:
                with torch.no_grad():
                    if method == "exact":
                        md, cd = self.data_statistics(batch, method="exact")
                        mm, cm = self.model_statistics(method="exact")
                    else:
                        md, cd = self.data_statistics(
                            batch, method="gibbs", sweeps=clamped_sweeps, generator=generator
                        )
                        chains = self.gibbs(chains, T=1.0, sweeps=sweeps, generator=generator)
                        mm, cm = self._moments(chains)
                    dW = cd - cm
                    dW = dW - torch.diag_embed(torch.diagonal(dW))
                    W = self.W
                    self.weight.copy_(W + lr * (dW - weight_decay * W))
                    self.bias.add_(lr * (md - mm))
            history["epoch"].append(epoch + 1)
            history["corr_gap"].append(float(dW.abs().max()))
            if track:
                with torch.no_grad():
                    pv = self.probabilities_exact(over="visible")  # one enumeration
                    history["log_likelihood"].append(float(torch.log(pv[data_idx]).mean()))
                    history["kl"].append(float(kl_divergence(p_data, pv)))
        return history

    # -- exact Markov kernels ----------------------------------------------------------------
    @torch.no_grad()
    def transition_matrix(self, T: float = 1.0, *, kind: str = "random", site: int | None = None):
        """Exact heat-bath transition matrix over all ``2^n`` states (chapter 6, eqs. (6.4)-(6.5)).

        ``P[a, b]`` is the probability of moving from state ``a`` to state ``b`` (rows sum to 1),
        in the order of :func:`all_states`.

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
        (``kind="sweep"``) without forming the matrix: updating unit ``i`` pools the mass of each
        pair of states that differ only in unit ``i`` and splits it as ``1 - q`` : ``q`` with
        ``q = sigmoid(h_i / T)`` (chapter 6, eq. (6.3)). Cost ``O(n 2^n)`` per sweep.

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
        S = all_states(n, dtype=dtype, device=device)
        idx = torch.arange(2**n, device=device)
        pairs = []
        for i in range(n):
            bit = 1 << (n - 1 - i)
            a = idx[(idx & bit) == 0]  # states with s_i = 0
            b = a | bit  # the same states with s_i = 1
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
        s = all_states(n, dtype=dtype, device=device)  # [S, n]
        p1 = torch.sigmoid((s @ self.W[:, i] + self.bias[i]) / T)  # [S]
        idx = torch.arange(2**n, device=device)
        bit = 1 << (n - 1 - i)
        idx0 = idx & ~bit  # state with s_i = 0
        idx1 = idx | bit  # state with s_i = 1
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


@dataclass
class AnnealResult:
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
            u = torch.rand(s.shape, generator=generator, device=s.device, dtype=s.dtype)
            for i in range(self.n_units):
                s1, s0 = s.clone(), s.clone()
                s1[:, i], s0[:, i] = 1, 0
                dE = self.energy(s0) - self.energy(s1)  # = h_i for a Boltzmann machine
                s[:, i] = (u[:, i] < torch.sigmoid(dE / T)).to(s.dtype)
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
    sweeps (eq. (6.3)); as ``T`` falls the stationary distribution ``p_T(s) ~ exp(-E(s)/T)``
    concentrates on the lowest-energy states.

    Parameters
    ----------
    machine : BoltzmannMachine, tensor or callable
        The energy to minimise over binary states ``s in {0, 1}^n``: a
        :class:`BoltzmannMachine` (see :meth:`BoltzmannMachine.from_ising` for spin problems);
        a symmetric, zero-diagonal weight matrix ``[n, n]`` (the machine with zero biases); or a
        callable mapping states ``[B, n]`` to energies ``[B]``, updated by the heat-bath rule
        ``p(s_i = 1 | rest) = sigmoid((E(s_i = 0) - E(s_i = 1)) / T)`` computed from energy
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
    """Sherrington-Kirkpatrick couplings: ``J_ij = J_ji = +-1/sqrt(n)`` at random, ``J_ii = 0``.

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
    draws, for every state (sorted by energy), the exact probability ``p_T(s)`` as bars and the
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
    import matplotlib.pyplot as plt

    T = _as_temperature(T)
    if machine is None:
        machine = demo_machine()
    if not isinstance(machine, BoltzmannMachine):
        raise TypeError(f"machine must be a BoltzmannMachine, got {type(machine).__name__}")
    gen = torch.Generator(device=machine.weight.device).manual_seed(
        check_int(seed, "seed", minimum=0)
    )
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
    ax.bar(x, exact[order].numpy(), color="0.75", label="exact $p_T(s)$")
    ax.plot(x, emp[order].numpy(), "o", ms=3.5, color="C3", label=f"Gibbs, {n_chains} chains")
    ax.set_xlabel("state, sorted by energy (low to high)")
    ax.set_ylabel("probability")
    ax.set_title(f"T = {T:g}: total variation {tv:.3f}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return ax
