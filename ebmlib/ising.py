"""The two-dimensional Ising model: energies, samplers, exact enumeration and Onsager's solution.

See chapter 1 (:ref:`chapter-ising`). Spins live on a periodic ``L x L`` square lattice and are
stored as ``+-1`` tensors of shape ``[..., L, L]``: any leading dimensions form a batch of
independent lattices that are updated together. The energy is

.. math::

    E(s) = -J \\sum_{\\langle ij \\rangle} s_i s_j - h \\sum_i s_i

(chapter 1, eq. (1.1)), where the first sum runs over the ``2 L^2`` nearest-neighbour bonds.

Two Markov chain Monte Carlo rules are provided, Metropolis and heat bath (Glauber), both with
the checkerboard update: the sites of one colour of the chequerboard have all their neighbours
in the other colour, so a whole colour is updated at once. There are two implementations:

* ``method="multispin"`` (the default for even ``L`` whose half has a divisor from 8 to 64,
  which includes every even ``L`` from 16 to 128 and every multiple of 128) stores the lattice
  as four quarter lattices ``s[2m + a, 2n + b]`` and packs up to 64 spins of one quarter into
  the bits of one ``int64`` word. Neighbour sums, acceptance decisions and flips are then
  bitwise operations on whole words, and a half-sweep touches only the colour it updates. The
  acceptance test ``u < p`` compares a 24-bit uniform random integer, built bit plane by bit
  plane, with the acceptance probability rounded to 24 bits (the resolution of a ``float32``
  uniform).
* ``method="plain"`` is the readable reference: full-lattice tensors, ``torch.roll`` neighbour
  sums and float uniforms compared with the acceptance probability. It also handles odd ``L``,
  where the periodic lattice is not bipartite and three colours are needed.

Both run unchanged on CUDA.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch

from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_pm1,
    check_tensor,
)

__all__ = [
    "IsingModel",
    "critical_temperature",
    "onsager_energy",
    "onsager_magnetization",
    "exact_enumeration",
    "ExactIsing",
    "state_index",
    "transition_matrix",
    "binder_cumulant",
    "susceptibility",
    "draw_ising",
    "MAX_EXACT_L",
    "ACCEPT_BITS",
]

MAX_EXACT_L = 4
"""Largest side length :func:`exact_enumeration` accepts (``2**16`` states)."""

ACCEPT_BITS = 24
"""Bits of resolution of the acceptance probabilities in the multi-spin sampler."""

_LITTLE_ENDIAN = sys.byteorder == "little"

_RULES = ("metropolis", "heat_bath")
_METHODS = ("auto", "multispin", "plain")


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, np.ndarray):
        value = torch.as_tensor(value)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_temperature(T: Any, batch_shape: torch.Size, device: torch.device) -> Any:
    """Return ``T`` as a python float or as a float64 tensor of shape ``batch_shape``."""
    if isinstance(T, np.ndarray):
        T = torch.as_tensor(T)
    if isinstance(T, torch.Tensor):
        if T.numel() == 1:
            T = T.item()  # a single temperature: the fast scalar path
        else:
            check_tensor(T, "T")
            T = T.to(device=device, dtype=torch.float64)
            if not bool((T > 0).all()):
                raise ValueError("T must be > 0 everywhere")
            try:
                return torch.broadcast_to(T, batch_shape).clone()
            except RuntimeError as exc:
                raise ValueError(
                    f"T of shape {tuple(T.shape)} does not broadcast to the batch shape "
                    f"{tuple(batch_shape)} of spins"
                ) from exc
    if isinstance(T, bool) or not isinstance(T, Real):
        raise TypeError(f"T must be a positive number or a tensor, got {type(T).__name__}")
    T = float(T)
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"T must be a finite number > 0, got {T}")
    return T


def _as_float_tensor(T: Any, name: str = "T") -> torch.Tensor:
    if isinstance(T, np.ndarray):
        T = torch.as_tensor(T)
    if isinstance(T, torch.Tensor):
        check_tensor(T, name)
        return T if T.is_floating_point() else T.to(torch.float64)
    if isinstance(T, bool) or not isinstance(T, (Real, list, tuple)):
        raise TypeError(f"{name} must be a number, a sequence or a tensor, got {type(T).__name__}")
    return torch.as_tensor(T, dtype=torch.float64)


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def critical_temperature(J: float = 1.0) -> float:
    """Onsager's critical temperature of the square-lattice Ising model.

    .. math:: T_c = \\frac{2J}{\\ln(1 + \\sqrt 2)} \\approx 2.26919\\,J

    (chapter 1, eq. (1.9)); temperatures are in units with Boltzmann's constant ``k_B = 1``.

    Parameters
    ----------
    J : float
        Coupling, > 0 (ferromagnet).

    Returns
    -------
    float
        ``T_c``.
    """
    J = _check_real(J, "J")
    if J <= 0:
        raise ValueError(f"J must be > 0 for a ferromagnetic transition, got {J}")
    return 2.0 * J / math.log1p(math.sqrt(2.0))


def _ellipk_complement(kp: torch.Tensor) -> torch.Tensor:
    """``K(k)`` from the complementary modulus ``k' = sqrt(1 - k^2)``, by the AGM.

    ``K(k) = pi / (2 AGM(1, k'))``; passing ``k'`` directly keeps full precision near ``k = 1``.
    """
    a = torch.ones_like(kp)
    b = kp.abs()
    for _ in range(60):
        a, b = 0.5 * (a + b), torch.sqrt(a * b)
    return math.pi / (2.0 * a)


def onsager_energy(T: Any, J: float = 1.0) -> torch.Tensor:
    """Exact energy per spin of the infinite square lattice at zero field (Onsager 1944).

    .. math::

        u(T) = -J \\coth(2K)\\left[1 + \\frac{2}{\\pi}\\left(2\\tanh^2(2K) - 1\\right)
        \\mathcal K(\\kappa)\\right],\\quad K = \\frac{J}{T},\\quad
        \\kappa = \\frac{2\\sinh 2K}{\\cosh^2 2K},

    with :math:`\\mathcal K` the complete elliptic integral of the first kind (chapter 1,
    eq. (1.10)). At ``T_c`` the logarithmic singularity of :math:`\\mathcal K` is multiplied by
    zero and ``u(T_c) = -\\sqrt 2 J``.

    Parameters
    ----------
    T : float, sequence or tensor
        Temperatures, > 0.
    J : float
        Coupling, > 0.

    Returns
    -------
    torch.Tensor
        Energy per spin, same shape as ``T`` (float64 unless ``T`` is a floating tensor).
    """
    t = _as_float_tensor(T)
    J = _check_real(J, "J")
    if J <= 0:
        raise ValueError(f"J must be > 0, got {J}")
    if not bool((t > 0).all()):
        raise ValueError("T must be > 0 everywhere")
    x = t.to(torch.float64)
    K2 = 2.0 * J / x
    # The complementary modulus of kappa is |2 tanh^2(2K) - 1| (exact identity), which is
    # also the prefactor of the elliptic integral: their product vanishes at T_c.
    factor = 2.0 * torch.tanh(K2) ** 2 - 1.0
    ek = _ellipk_complement(factor)
    term = torch.where(factor == 0, torch.zeros_like(x), factor * ek)
    u = -J / torch.tanh(K2) * (1.0 + (2.0 / math.pi) * term)
    return u.to(t.dtype)


def onsager_magnetization(T: Any, J: float = 1.0) -> torch.Tensor:
    """Spontaneous magnetization per spin of the infinite lattice (Onsager, Yang 1952).

    .. math:: m(T) = \\left(1 - \\sinh^{-4}(2J/T)\\right)^{1/8} \\text{ for } T < T_c,
        \\qquad m(T) = 0 \\text{ for } T \\ge T_c

    (chapter 1, eq. (1.11)).

    Parameters
    ----------
    T : float, sequence or tensor
        Temperatures, > 0.
    J : float
        Coupling, > 0.

    Returns
    -------
    torch.Tensor
        ``m(T)``, same shape as ``T``.
    """
    t = _as_float_tensor(T)
    J = _check_real(J, "J")
    if J <= 0:
        raise ValueError(f"J must be > 0, got {J}")
    if not bool((t > 0).all()):
        raise ValueError("T must be > 0 everywhere")
    x = t.to(torch.float64)
    inner = 1.0 - torch.sinh(2.0 * J / x) ** -4
    m = torch.where(inner > 0, torch.clamp(inner, min=0.0) ** 0.125, torch.zeros_like(x))
    return m.to(t.dtype)


# --------------------------------------------------------------------------------------------
# Exact enumeration of tiny lattices
# --------------------------------------------------------------------------------------------


def _all_states(L: int, device: torch.device | None = None) -> torch.Tensor:
    n = L * L
    idx = torch.arange(2**n, device=device)
    bits = (idx[:, None] >> torch.arange(n, device=device)) & 1
    return (2 * bits - 1).to(torch.float64).reshape(2**n, L, L)


def state_index(spins: torch.Tensor) -> torch.Tensor:
    """Integer label of each lattice configuration, as used by :func:`exact_enumeration`.

    Site ``(i, j)`` (row-major position ``k = i L + j``) contributes ``2**k`` when its spin is
    ``+1``.

    Parameters
    ----------
    spins : tensor, shape ``[..., L, L]`` with ``L <= 4``
        ``+-1`` spins.

    Returns
    -------
    torch.Tensor
        ``int64`` labels of shape ``[...]``.
    """
    check_tensor(spins, "spins", min_ndim=2)
    L = spins.shape[-1]
    if spins.shape[-2] != L or L > MAX_EXACT_L:
        raise ValueError(f"spins must have shape [..., L, L] with L <= {MAX_EXACT_L}")
    check_pm1(spins, "spins")
    bits = (spins > 0).reshape(*spins.shape[:-2], L * L).to(torch.int64)
    weights = 2 ** torch.arange(L * L, device=spins.device, dtype=torch.int64)
    return (bits * weights).sum(-1)


@dataclass
class ExactIsing:
    """Exact Boltzmann statistics of a tiny lattice (see :func:`exact_enumeration`).

    Attributes
    ----------
    states : tensor ``[2**(L*L), L, L]``
        Every configuration, labelled as in :func:`state_index`.
    energies : tensor ``[2**(L*L)]``
        Total energies ``E(s)``.
    probabilities : tensor ``[2**(L*L)]``
        Boltzmann probabilities ``exp(-E/T) / Z``.
    log_partition : float
        ``log Z``.
    energy_per_spin, abs_magnetization, magnetization_sq, magnetization_4 : float
        Exact averages of ``E/N``, ``|m|``, ``m**2`` and ``m**4`` with ``m`` the magnetization
        per spin.
    """

    L: int
    T: float
    J: float
    h: float
    states: torch.Tensor
    energies: torch.Tensor
    probabilities: torch.Tensor
    log_partition: float
    energy_per_spin: float
    abs_magnetization: float
    magnetization_sq: float
    magnetization_4: float


def exact_enumeration(L: int, T: float, J: float = 1.0, h: float = 0.0) -> ExactIsing:
    """Enumerate all ``2**(L*L)`` states of a periodic ``L x L`` lattice.

    .. math:: p(s) = \\frac{e^{-E(s)/T}}{Z},\\qquad Z = \\sum_s e^{-E(s)/T}

    (chapter 1, eq. (1.2)), computed in float64 with ``torch.logsumexp``.

    Parameters
    ----------
    L : int
        Side length, 2 to 4.
    T : float
        Temperature, > 0.
    J, h : float
        Coupling and field.

    Returns
    -------
    ExactIsing
        States, energies, probabilities, ``log Z`` and exact averages.
    """
    L = check_int(L, "L", minimum=2)
    if L > MAX_EXACT_L:
        raise ValueError(f"L must be <= {MAX_EXACT_L} for exact enumeration, got {L}")
    T = _check_temperature(T, torch.Size([]), torch.device("cpu"))
    if isinstance(T, torch.Tensor):
        raise ValueError("T must be a scalar for exact enumeration")
    model = IsingModel(L, J=J, h=h)
    states = _all_states(L)
    n = L * L
    energies = model.energy(states) * n
    logits = -energies / T
    log_z = torch.logsumexp(logits, 0)
    probs = torch.exp(logits - log_z)
    m = states.mean((-2, -1))
    return ExactIsing(
        L=L,
        T=T,
        J=model.J,
        h=model.h,
        states=states,
        energies=energies,
        probabilities=probs,
        log_partition=float(log_z),
        energy_per_spin=float((probs * energies).sum() / n),
        abs_magnetization=float((probs * m.abs()).sum()),
        magnetization_sq=float((probs * m**2).sum()),
        magnetization_4=float((probs * m**4).sum()),
    )


def _colour_masks(L: int, device: torch.device | None = None) -> list[torch.Tensor]:
    """Boolean masks of the independent sets updated together (2 colours, 3 for odd L)."""
    i = torch.arange(L, device=device)
    if L % 2 == 0:
        c = (i[:, None] + i[None, :]) % 2
        return [c == k for k in range(2)]
    a = i % 2
    a[-1] = 2  # a proper 3-colouring of the odd cycle C_L
    c = (a[:, None] + a[None, :]) % 3
    return [c == k for k in range(3)]


def transition_matrix(
    L: int,
    T: float,
    J: float = 1.0,
    h: float = 0.0,
    rule: str = "heat_bath",
    colour: int | None = None,
) -> torch.Tensor:
    """Exact transition matrix of one colour update (or one full sweep) on a tiny lattice.

    For the colour ``c`` the kernel is a product of single-site kernels, one per site of that
    colour, because those sites do not interact (chapter 1, eq. (1.8)). With ``colour=None``
    the kernel of a full sweep (all colours in order) is returned.

    Parameters
    ----------
    L : int
        Side length, 2 or 3 (``2**(L*L)`` states).
    T : float
        Temperature, > 0.
    J, h : float
        Coupling and field.
    rule : {"heat_bath", "metropolis"}
        Single-site rule.
    colour : int, optional
        Which colour (0 or 1; 0 to 2 for odd ``L``); ``None`` for a full sweep.

    Returns
    -------
    torch.Tensor
        Row-stochastic float64 matrix ``K[x, y]`` with states labelled as in
        :func:`state_index`.
    """
    L = check_int(L, "L", minimum=2)
    if L > 3:
        raise ValueError(f"L must be 2 or 3 for an explicit transition matrix, got {L}")
    check_choice(rule, "rule", _RULES)
    model = IsingModel(L, J=J, h=h)
    T = _check_temperature(T, torch.Size([]), torch.device("cpu"))
    masks = _colour_masks(L)
    if colour is None:
        K = None
        for c in range(len(masks)):
            Kc = transition_matrix(L, T, J, h, rule, c)
            K = Kc if K is None else K @ Kc
        return K
    colour = check_int(colour, "colour", minimum=0)
    if colour >= len(masks):
        raise ValueError(f"colour must be < {len(masks)} for L = {L}, got {colour}")
    states = _all_states(L)  # [S, L, L]
    field = model.J * _neighbour_sum(states) + model.h
    dE = 2.0 * states * field
    p_flip = _flip_probability(dE, T, rule)  # [S, L, L]
    mask = masks[colour].reshape(-1)
    x = states.reshape(len(states), -1)  # [S, N]
    p = p_flip.reshape(len(states), -1)
    differ = x[:, None, :] != x[None, :, :]  # [S, S, N]
    allowed = ~(differ & ~mask).any(-1)
    site_prob = torch.where(differ, p[:, None, :], 1.0 - p[:, None, :])
    site_prob = torch.where(mask, site_prob, torch.ones_like(site_prob))
    return site_prob.prod(-1) * allowed


# --------------------------------------------------------------------------------------------
# Plain (reference) sampler
# --------------------------------------------------------------------------------------------


def _neighbour_sum(s: torch.Tensor) -> torch.Tensor:
    return (
        torch.roll(s, 1, -1) + torch.roll(s, -1, -1) + torch.roll(s, 1, -2) + torch.roll(s, -1, -2)
    )


def _flip_probability(dE: torch.Tensor, T: Any, rule: str) -> torch.Tensor:
    x = -dE / T
    if rule == "metropolis":
        return torch.exp(torch.clamp(x, max=0.0))
    return torch.sigmoid(x)


def _plain_sweeps(
    s: torch.Tensor, T: Any, J: float, h: float, sweeps: int, rule: str, gen: Any
) -> torch.Tensor:
    L = s.shape[-1]
    masks = _colour_masks(L, s.device)
    if isinstance(T, torch.Tensor):
        T = T.to(s.dtype)[..., None, None]
    for _ in range(sweeps):
        for mask in masks:
            field = J * _neighbour_sum(s) + h
            p = _flip_probability(2.0 * s * field, T, rule)
            u = torch.rand(s.shape, generator=gen, device=s.device, dtype=s.dtype)
            s = torch.where((u < p) & mask, -s, s)
    return s


# --------------------------------------------------------------------------------------------
# Multi-spin coded sampler
# --------------------------------------------------------------------------------------------


def _word_bits(L: int) -> int:
    """Bits used per int64 word: the largest divisor of L/2 that is at most 64."""
    half = L // 2
    for nb in range(min(64, half), 0, -1):
        if half % nb == 0:
            return nb
    return 1  # pragma: no cover


class _Packed:
    """A batch of lattices in the colour-major quarter-lattice, bit-packed layout.

    The lattice splits into four quarter lattices ``s[2m + a, 2n + b]`` (``m, n < L/2``). The
    quarter ``(a, b)`` has colour ``c = (a + b) mod 2`` and is stored as ``q[..., c, a, :, :]``,
    so that the two quarters of one colour are one contiguous block. Along ``n`` the spins are
    packed into int64 words: ``n = j W + k`` is bit ``j`` of word ``k`` (``W = L / (2 nb)``
    words of ``nb`` bits per row; bit 1 means spin up). ``q`` has shape ``[..., 2, 2, L/2, W]``.
    """

    def __init__(self, spins: torch.Tensor):
        L = spins.shape[-1]
        self.L = L
        self.nb = _word_bits(L)
        self.W = L // 2 // self.nb
        self.mask = -1 if self.nb == 64 else (1 << self.nb) - 1
        batch = spins.shape[:-2]
        half, nb, W = L // 2, self.nb, self.W
        up = (spins > 0).to(torch.uint8).reshape(*batch, half, 2, half, 2)  # [..., m, a, n, b]
        # colour-major quarters: cm[c, a] = quarter (a, (a + c) mod 2), as [..., 2, 2, m, n]
        cm = torch.empty((*batch, 2, 2, half, half), dtype=torch.uint8, device=spins.device)
        for c in (0, 1):
            for a in (0, 1):
                cm[..., c, a, :, :] = up[..., :, a, :, (a + c) % 2]
        bits = cm.reshape(*batch, 2, 2, half, nb, W)
        if nb % 8 == 0:
            # gather the nb bits of each word, pack them 8 to a byte, then view 8 bytes as int64
            per_word = bits.transpose(-1, -2).reshape(*batch, 2, 2, half, W, nb // 8, 8)
            weights = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)
            bytes_ = (per_word * weights.to(spins.device)).sum(-1, dtype=torch.uint8)
            if nb < 64:
                pad = torch.zeros(
                    (*bytes_.shape[:-1], 8 - nb // 8), dtype=torch.uint8, device=spins.device
                )
                bytes_ = torch.cat([bytes_, pad], -1)
            self.q = bytes_.contiguous().view(torch.int64).squeeze(-1)
            if not _LITTLE_ENDIAN:  # pragma: no cover - torch views bytes in native order
                self.q = self._from_bits(bits)
        else:
            self.q = self._from_bits(bits)

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        shifts = torch.arange(self.nb, device=bits.device, dtype=torch.int64)
        weights = torch.ones(self.nb, dtype=torch.int64, device=bits.device) << shifts
        return (bits.to(torch.int64) * weights[:, None]).sum(-2).contiguous()

    def unpack(self, dtype: torch.dtype) -> torch.Tensor:
        L, nb, W = self.L, self.nb, self.W
        half = L // 2
        batch = self.q.shape[:-4]
        if nb % 8 == 0 and _LITTLE_ENDIAN:
            bytes_ = self.q.unsqueeze(-1).view(torch.uint8)[..., : nb // 8]  # [..., W, nb/8]
            shifts = torch.arange(8, device=self.q.device, dtype=torch.uint8)
            bits = (bytes_.unsqueeze(-1) >> shifts) & 1  # [..., 2, 2, m, W, nb/8, 8]
            bits = bits.reshape(*batch, 2, 2, half, W, nb).transpose(-1, -2)
        else:
            shifts = torch.arange(nb, device=self.q.device, dtype=torch.int64)
            bits = ((self.q.unsqueeze(-2) >> shifts[:, None]) & 1).to(torch.uint8)
        cm = bits.reshape(*batch, 2, 2, half, half)
        full = torch.empty((*batch, half, 2, half, 2), dtype=torch.uint8, device=self.q.device)
        for c in (0, 1):
            for a in (0, 1):
                full[..., :, a, :, (a + c) % 2] = cm[..., c, a, :, :]
        full = full.reshape(*batch, L, L)
        if dtype.is_floating_point or dtype.is_signed:
            return (2 * full.to(dtype) - 1) if dtype != torch.int8 else (2 * full - 1).to(dtype)
        raise TypeError(f"spins must have a signed dtype, got {dtype}")  # pragma: no cover

    def _rotl(self, x: torch.Tensor) -> torch.Tensor:
        nb = self.nb
        if nb == 1:
            return x
        y = (x << 1) | ((x >> (nb - 1)) & 1)
        return y if nb == 64 else y & self.mask

    def _rotr(self, x: torch.Tensor) -> torch.Tensor:
        nb = self.nb
        if nb == 1:
            return x
        return ((x >> 1) & ((1 << (nb - 1)) - 1)) | ((x & 1) << (nb - 1))

    def _shift_cols(self, x: torch.Tensor, out: torch.Tensor, direction: int) -> None:
        """Write into ``out`` the spin at compressed column ``n + direction`` (periodic)."""
        if direction < 0:
            out[..., 1:] = x[..., :-1]
            out[..., 0] = self._rotl(x[..., -1])
        else:
            out[..., :-1] = x[..., 1:]
            out[..., -1] = self._rotr(x[..., 0])

    def neighbours(
        self, c: int, bufs: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The four neighbour words of every spin of colour ``c``, each ``[..., 2, L/2, W]``.

        ``bufs`` (optional) holds output buffers reused across calls.
        """
        other = self.q[..., 1 - c, :, :, :]  # [..., 2(a), L/2, W]
        bufs = {} if bufs is None else bufs
        up, down, side = (_buffer(bufs, name, other) for name in ("up", "down", "side"))
        # Vertical: quarter (a, b) sees rows m (and m - 1 for a = 0, m + 1 for a = 1) of the
        # quarter (1 - a, b), which has the other colour and row parity 1 - a.
        up[..., 0, :, :] = other[..., 1, :, :]
        up[..., 1, :, :] = other[..., 0, :, :]
        down[..., 0, 1:, :] = other[..., 1, :-1, :]
        down[..., 0, 0, :] = other[..., 1, -1, :]
        down[..., 1, :-1, :] = other[..., 0, 1:, :]
        down[..., 1, -1, :] = other[..., 0, 0, :]
        # Horizontal: quarter (a, b) sees columns n and n - 1 (b = 0) or n + 1 (b = 1) of the
        # quarter (a, 1 - b): the other colour with the same row parity a.
        for a in (0, 1):
            b = (a + c) % 2
            self._shift_cols(other[..., a, :, :], side[..., a, :, :], -1 if b == 0 else 1)
        return up, down, other, side


def _buffer(bufs: dict[str, torch.Tensor], name: str, like: torch.Tensor) -> torch.Tensor:
    """A work buffer shaped like ``like``, allocated once and reused (no page faults per op)."""
    buf = bufs.get(name)
    if buf is None or buf.shape != like.shape:
        buf = bufs[name] = torch.empty_like(like, memory_format=torch.contiguous_format)
    return buf


def _class_probabilities(rule: str, T: Any, J: float, h: float) -> list[tuple[int, int, Any]]:
    """Flip probabilities of the ten classes (spin bit ``s``, anti-aligned neighbours ``k``).

    A spin with ``k`` of its four neighbours anti-aligned has ``s_i sum_j s_j = 4 - 2k``, so
    flipping it costs ``dE = 2 J (4 - 2k) + 2 h s_i``.
    """
    out = []
    for s in (0, 1):
        spm = 1.0 if s == 1 else -1.0
        for k in range(5):
            dE = 2.0 * J * (4 - 2 * k) + 2.0 * h * spm
            if isinstance(T, torch.Tensor):
                x = torch.as_tensor(-dE, dtype=torch.float64, device=T.device) / T
                p = torch.exp(torch.clamp(x, max=0.0)) if rule == "metropolis" else torch.sigmoid(x)
            else:
                x = -dE / T
                if rule == "metropolis":
                    p = math.exp(min(x, 0.0))
                else:
                    p = 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0
            out.append((s, k, p))
    return out


def _thresholds(p: Any) -> Any:
    """Round a probability to ``ACCEPT_BITS`` bits: an integer in ``[0, 2**ACCEPT_BITS]``."""
    scale = 1 << ACCEPT_BITS
    if isinstance(p, torch.Tensor):
        return torch.round(p * scale).to(torch.int64)
    return int(round(p * scale))


_LAZY_WORDS = 4096
_LO, _HI = -(2**63), 2**63 - 1  # random_ bounds giving (practically) 64 uniform bits


def _compare_scalar(
    cmasks: list[torch.Tensor],
    thr: list[int],
    rmask: torch.Tensor,
    gen: Any,
    lazy: bool,
    bufs: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Bits where a fresh ``ACCEPT_BITS``-bit uniform integer ``u`` is below the threshold.

    The threshold of a bit is ``thr[j]`` when the bit lies in ``cmasks[j]``; only the bits of
    ``rmask`` (the union of the class masks) are compared. The comparison runs from the most
    significant bit plane down: a bit is decided at the first plane where ``u`` differs from
    the threshold (``u < t`` if that threshold bit is 1). A random plane ``v = u xor t`` is
    uniform whatever ``t`` is, so it is drawn directly. With ``lazy`` the words that are fully
    decided after 8 and 16 planes are dropped, so on average about 10 instead of 24 random
    planes are drawn (this needs a host synchronisation, so it is used on the CPU only).
    ``bufs`` holds work buffers reused across calls.
    """
    m = ACCEPT_BITS
    shape = rmask.shape
    n_words = rmask.numel()
    if "v" not in bufs or bufs["v"].numel() < m * n_words:
        bufs["v"] = torch.empty(m * n_words, dtype=torch.int64, device=rmask.device)
        bufs["d"] = torch.empty(n_words, dtype=torch.int64, device=rmask.device)
        bufs["t"] = torch.empty(n_words, dtype=torch.int64, device=rmask.device)
    undecided = bufs["und"] = _buffer(bufs, "und", rmask.reshape(-1))
    undecided.copy_(rmask.reshape(-1))
    result = _buffer(bufs, "res", undecided).zero_()
    cms = [c.reshape(-1) for c in cmasks]
    gidx = None
    plane = m - 1
    stages = (8, 8, m - 16) if lazy else (m,)
    for st, n_planes in enumerate(stages):
        if st > 0:
            sel = torch.nonzero(undecided).squeeze(1)
            if sel.numel() == 0:
                break
            undecided = undecided[sel]
            cms = [c[sel] for c in cms]
            gidx = sel if gidx is None else gidx[sel]
        res = result if gidx is None else torch.zeros_like(undecided)
        n = undecided.numel()
        v = bufs["v"][: n_planes * n].view(n_planes, n)
        v.random_(_LO, _HI, generator=gen)
        cache: dict[tuple[bool, ...], torch.Tensor | None] = {}
        d, tmp = bufs["d"][:n], bufs["t"][:n]
        for j in range(n_planes):
            key = tuple(bool((t >> plane) & 1) for t in thr)
            if key not in cache:
                sel_masks = [c for c, on in zip(cms, key, strict=True) if on]
                b = None
                if sel_masks:
                    b = sel_masks[0].clone() if gidx is not None else _buffer(bufs, str(key), d)
                    b.copy_(sel_masks[0])
                    for c in sel_masks[1:]:
                        b |= c
                cache[key] = b
            b = cache[key]
            torch.bitwise_and(undecided, v[j], out=d)  # decided at this plane
            if b is not None:
                torch.bitwise_and(d, b, out=tmp)  # ... with u < t
                res |= tmp
            undecided ^= d
            plane -= 1
        if gidx is not None:
            result[gidx] |= res
    return result.reshape(shape)


def _compare_tensor(
    cmasks: list[torch.Tensor], planes: list[list[torch.Tensor]], rmask: torch.Tensor, gen: Any
) -> torch.Tensor:
    """As :func:`_compare_scalar`, with per-lattice thresholds given as bit-plane masks."""
    m = ACCEPT_BITS
    undecided = rmask.clone()
    result = torch.zeros_like(rmask)
    v = torch.empty((m, *rmask.shape), dtype=torch.int64, device=rmask.device)
    v.random_(_LO, _HI, generator=gen)
    for j, plane in enumerate(range(m - 1, -1, -1)):
        b = torch.zeros_like(rmask)
        for c, bit in zip(cmasks, planes[plane], strict=True):
            b |= c & bit
        d = undecided & v[j]
        result |= d & b
        undecided ^= d
    return result


def _multispin_sweeps(
    spins: torch.Tensor, T: Any, J: float, h: float, sweeps: int, rule: str, gen: Any
) -> torch.Tensor:
    packed = _Packed(spins)
    _run_packed(packed, T, J, h, sweeps, rule, gen)
    return packed.unpack(spins.dtype)


def _run_packed(packed: _Packed, T: Any, J: float, h: float, sweeps: int, rule: str, gen: Any):
    if sweeps == 0:
        return
    full = 1 << ACCEPT_BITS
    classes = _class_probabilities(rule, T, J, h)
    use_spin = h != 0.0
    if not use_spin:  # the classes of s = 0 and s = 1 coincide; keep one copy
        classes = [c for c in classes if c[0] == 1]
    tensor_T = isinstance(T, torch.Tensor)
    thr = [(s, k, _thresholds(p)) for s, k, p in classes]
    q = packed.q
    if tensor_T:
        # Per-lattice masks, all ones (-1) or zeros, broadcasting over [2, L/2, W].
        def bm(x: torch.Tensor) -> torch.Tensor:
            return (-x.to(torch.int64)).reshape(*T.shape, 1, 1, 1)

        always = [(s, k, bm(t >= full)) for s, k, t in thr]
        rand = [(s, k, bm((t > 0) & (t < full)), t) for s, k, t in thr]
        planes = [[bm((t >> i) & 1) for (_, _, _, t) in rand] for i in range(ACCEPT_BITS)]
    else:
        always = [(s, k, None) for s, k, t in thr if t >= full]
        rand = [(s, k, None, t) for s, k, t in thr if 0 < t < full]
    # Dropping decided words pays off only when random numbers, not per-op overhead, dominate.
    lazy = (not tensor_T) and q.device.type == "cpu" and q[..., 0, :, :, :].numel() >= _LAZY_WORDS
    bufs: dict[str, torch.Tensor] = {}
    for _ in range(sweeps):
        for c in (0, 1):
            s = q[..., c, :, :, :]  # [..., 2, L/2, W], a view: updated in place
            n1, n2, n3, n4 = packed.neighbours(c, bufs)
            buf = functools.partial(_buffer, bufs, like=s)
            xor, and_, not_ = torch.bitwise_xor, torch.bitwise_and, torch.bitwise_not
            # anti-aligned neighbour bits
            a1, a2 = xor(s, n1, out=buf("a1")), xor(s, n2, out=buf("a2"))
            a3, a4 = xor(s, n3, out=buf("a3")), xor(s, n4, out=buf("a4"))
            # k = a1 + a2 + a3 + a4 in binary (bit2 bit1 bit0), with a small adder.
            x1, c1 = xor(a1, a2, out=buf("x1")), and_(a1, a2, out=buf("c1"))
            x2, c2 = xor(a3, a4, out=buf("x2")), and_(a3, a4, out=buf("c2"))
            bit0 = xor(x1, x2, out=buf("bit0"))
            bit1 = xor(c1, c2, out=buf("bit1"))
            bit1 ^= and_(x1, x2, out=buf("tmp"))
            bit2 = and_(c1, c2, out=buf("bit2"))
            nb0, nb1 = not_(bit0, out=buf("nb0")), not_(bit1, out=buf("nb1"))
            k0 = and_(nb0, nb1, out=buf("k0"))
            k0 &= not_(bit2, out=buf("tmp"))
            kmask = [
                k0,
                and_(bit0, nb1, out=buf("k1")),
                and_(bit1, nb0, out=buf("k2")),
                and_(bit1, bit0, out=buf("k3")),
                bit2,
            ]
            ns = ~s if use_spin else None

            def cls(sb: int, k: int, s=s, ns=ns, kmask=kmask) -> torch.Tensor:
                if not use_spin:
                    return kmask[k]
                return kmask[k] & (s if sb == 1 else ns)

            flip = buf("flip").zero_()
            for sb, k, am in always:
                flip |= cls(sb, k) if am is None else cls(sb, k) & am
            if rand:
                cmasks = [cls(sb, k) for sb, k, _, _ in rand]
                rmask = buf("rmask").zero_()
                for cm, (_, _, rm, _) in zip(cmasks, rand, strict=True):
                    rmask |= cm if rm is None else cm & rm
                if tensor_T:
                    flip |= _compare_tensor(cmasks, planes, rmask, gen)
                else:
                    flip |= _compare_scalar(cmasks, [r[3] for r in rand], rmask, gen, lazy, bufs)
            if packed.nb < 64:
                flip &= packed.mask
            s ^= flip


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class IsingModel:
    """Ising model on a periodic ``L x L`` square lattice (chapter 1).

    .. math:: E(s) = -J \\sum_{\\langle ij \\rangle} s_i s_j - h \\sum_i s_i

    (chapter 1, eq. (1.1)). States are ``+-1`` tensors of shape ``[..., L, L]``; leading
    dimensions are a batch of independent lattices.

    Parameters
    ----------
    L : int
        Side length, >= 2. Even ``L`` uses the two-colour checkerboard update; odd ``L`` (not
        bipartite under periodic boundaries) uses three colours and the plain sampler.
    J : float
        Nearest-neighbour coupling (``J > 0``: ferromagnet).
    h : float
        External field.
    device : torch.device or str, optional
        Device of the states made by :meth:`random_state` (default CPU).
    """

    def __init__(
        self, L: int, J: float = 1.0, h: float = 0.0, device: torch.device | str | None = None
    ):
        self.L = check_int(L, "L", minimum=2)
        self.J = _check_real(J, "J")
        self.h = _check_real(h, "h")
        try:
            self.device = torch.device(device) if device is not None else torch.device("cpu")
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device must name a torch device, got {device!r}") from exc

    @property
    def n_spins(self) -> int:
        """Number of spins ``N = L**2``."""
        return self.L * self.L

    def __repr__(self) -> str:
        return f"IsingModel(L={self.L}, J={self.J}, h={self.h}, device={self.device})"

    # -- states ---------------------------------------------------------------------------

    def _check_spins(self, spins: Any) -> torch.Tensor:
        check_tensor(spins, "spins", min_ndim=2)
        if tuple(spins.shape[-2:]) != (self.L, self.L):
            raise ValueError(
                f"spins must have shape [..., {self.L}, {self.L}], got {tuple(spins.shape)}"
            )
        if spins.dtype == torch.bool:
            raise TypeError("spins must hold +-1 numbers, got a bool tensor")
        check_pm1(spins, "spins")
        return spins

    def random_state(
        self,
        batch: int | tuple[int, ...] = (),
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Independent uniformly random spins (the ``T = infinity`` state).

        Parameters
        ----------
        batch : int or tuple of int
            Batch shape; the result has shape ``[*batch, L, L]``.
        generator : torch.Generator, optional
            Source of randomness, on the model's device.
        dtype : torch.dtype
            Dtype of the result (floating or signed integer).

        Returns
        -------
        torch.Tensor
            ``+-1`` spins on the model's device.
        """
        if isinstance(batch, int) and not isinstance(batch, bool):
            batch = (batch,)
        if not isinstance(batch, (tuple, list)):
            raise TypeError(f"batch must be an int or a tuple of ints, got {type(batch).__name__}")
        batch = tuple(check_int(b, "batch", minimum=1) for b in batch)
        check_generator(generator, device=self.device)
        bits = torch.randint(
            0, 2, (*batch, self.L, self.L), generator=generator, device=self.device
        )
        return (2 * bits - 1).to(dtype)

    def ordered_state(
        self, batch: int | tuple[int, ...] = (), sign: int = 1, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """All spins equal to ``sign`` (a ground state for ``J > 0``, ``h = 0``)."""
        if isinstance(batch, int) and not isinstance(batch, bool):
            batch = (batch,)
        batch = tuple(check_int(b, "batch", minimum=1) for b in batch)
        check_choice(sign, "sign", (1, -1))
        return torch.full((*batch, self.L, self.L), float(sign), device=self.device, dtype=dtype)

    # -- observables ----------------------------------------------------------------------

    def energy(self, spins: torch.Tensor) -> torch.Tensor:
        """Energy **per spin** ``E(s) / N`` of each lattice in the batch.

        .. math:: \\frac{E(s)}{N} = -\\frac{1}{N}\\Big(J \\sum_{i} s_i
            (s_{i+\\hat x} + s_{i+\\hat y}) + h \\sum_i s_i\\Big)

        (chapter 1, eq. (1.1)), each bond counted once. Multiply by :attr:`n_spins` for the
        total.

        Parameters
        ----------
        spins : tensor, shape ``[..., L, L]``
            ``+-1`` spins.

        Returns
        -------
        torch.Tensor
            Shape ``[...]``; the dtype of ``spins`` if floating, else float32.
        """
        s = self._check_spins(spins)
        s = s if s.is_floating_point() else s.to(torch.float32)
        bonds = s * (torch.roll(s, -1, -1) + torch.roll(s, -1, -2))
        return -(self.J * bonds.sum((-2, -1)) + self.h * s.sum((-2, -1))) / self.n_spins

    def magnetization(self, spins: torch.Tensor) -> torch.Tensor:
        """Magnetization **per spin** ``m = (1/N) sum_i s_i`` (signed), chapter 1 eq. (1.3).

        Parameters
        ----------
        spins : tensor, shape ``[..., L, L]``
            ``+-1`` spins.

        Returns
        -------
        torch.Tensor
            Shape ``[...]``, in ``[-1, 1]``.
        """
        s = self._check_spins(spins)
        s = s if s.is_floating_point() else s.to(torch.float32)
        return s.mean((-2, -1))

    # -- dynamics -------------------------------------------------------------------------

    def _prepare(self, spins, T, sweeps, generator, method):
        s = self._check_spins(spins)
        sweeps = check_int(sweeps, "sweeps", minimum=0)
        check_choice(method, "method", _METHODS)
        T = _check_temperature(T, s.shape[:-2], s.device)
        check_generator(generator, device=s.device)
        if method == "auto":
            # Packing pays off once a word holds at least 8 spins (L = 16, 24, 32, ...).
            method = "multispin" if self.L % 2 == 0 and _word_bits(self.L) >= 8 else "plain"
        if method == "multispin" and self.L % 2 == 1:
            raise ValueError(f"method='multispin' needs an even L, got L = {self.L}")
        return s, T, sweeps, method

    def _sweep(self, rule, spins, T, sweeps, generator, method):
        s, T, sweeps, method = self._prepare(spins, T, sweeps, generator, method)
        if sweeps == 0:
            return s.clone()
        if method == "multispin":
            return _multispin_sweeps(s, T, self.J, self.h, sweeps, rule, generator)
        work = s if s.is_floating_point() else s.to(torch.float32)
        out = _plain_sweeps(work, T, self.J, self.h, sweeps, rule, generator)
        return out.to(s.dtype)

    def metropolis(
        self,
        spins: torch.Tensor,
        T: float | torch.Tensor,
        sweeps: int = 1,
        generator: torch.Generator | None = None,
        method: str = "auto",
    ) -> torch.Tensor:
        """Metropolis sweeps with the checkerboard update.

        Each sweep updates the sites of one colour at once, then the other. A site with energy
        change :math:`\\Delta E = 2 s_i (J \\sum_{j \\sim i} s_j + h)` is flipped with
        probability :math:`\\min(1, e^{-\\Delta E / T})` (chapter 1, eqs. (1.5) and (1.8)).

        Parameters
        ----------
        spins : tensor, shape ``[..., L, L]``
            ``+-1`` spins; not modified.
        T : float or tensor
            Temperature(s) > 0; a tensor broadcasts over the batch shape ``[...]``.
        sweeps : int
            Number of sweeps (each site is offered one update per sweep).
        generator : torch.Generator, optional
            Source of randomness, on the device of ``spins``.
        method : {"auto", "multispin", "plain"}
            Implementation (see the module docstring); ``"auto"`` picks ``"multispin"`` for
            even ``L`` whose half ``L/2`` has a divisor between 8 and 64 (so a word holds at
            least 8 spins), ``"plain"`` otherwise.

        Returns
        -------
        torch.Tensor
            The new spins, same shape, dtype and device as ``spins``.
        """
        return self._sweep("metropolis", spins, T, sweeps, generator, method)

    def heat_bath(
        self,
        spins: torch.Tensor,
        T: float | torch.Tensor,
        sweeps: int = 1,
        generator: torch.Generator | None = None,
        method: str = "auto",
    ) -> torch.Tensor:
        """Heat-bath (Glauber) sweeps with the checkerboard update.

        Each site of the colour being updated is set to ``+1`` with probability
        :math:`1 / (1 + e^{-2 (J \\sum_{j\\sim i} s_j + h)/T})`, i.e. flipped with probability
        :math:`1/(1 + e^{\\Delta E/T})` (chapter 1, eq. (1.6)). Arguments and result as in
        :meth:`metropolis`.
        """
        return self._sweep("heat_bath", spins, T, sweeps, generator, method)

    def sample(
        self,
        spins: torch.Tensor,
        T: float | torch.Tensor,
        n_samples: int,
        thin: int = 1,
        burn_in: int = 0,
        rule: str = "metropolis",
        generator: torch.Generator | None = None,
        method: str = "auto",
    ) -> dict[str, torch.Tensor]:
        """Run a chain and record energy and magnetization per spin every ``thin`` sweeps.

        Parameters
        ----------
        spins : tensor, shape ``[..., L, L]``
            Initial ``+-1`` spins.
        T : float or tensor
            Temperature(s), broadcast over the batch.
        n_samples : int
            Number of recorded measurements.
        thin : int
            Sweeps between measurements.
        burn_in : int
            Sweeps before the first measurement.
        rule : {"metropolis", "heat_bath"}
            Update rule.
        generator : torch.Generator, optional
            Source of randomness.
        method : {"auto", "multispin", "plain"}
            Implementation.

        Returns
        -------
        dict
            ``"energy"`` and ``"magnetization"`` of shape ``[n_samples, ...]`` (per spin) and
            ``"spins"``, the final state.
        """
        check_choice(rule, "rule", _RULES)
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        thin = check_int(thin, "thin", minimum=1)
        burn_in = check_int(burn_in, "burn_in", minimum=0)
        s, Tc, _, method = self._prepare(spins, T, 1, generator, method)
        energies, mags = [], []
        if method == "multispin":
            packed = _Packed(s)
            _run_packed(packed, Tc, self.J, self.h, burn_in, rule, generator)
            for _ in range(n_samples):
                _run_packed(packed, Tc, self.J, self.h, thin, rule, generator)
                cur = packed.unpack(torch.float32)
                energies.append(self.energy(cur))
                mags.append(self.magnetization(cur))
            final = packed.unpack(s.dtype)
        else:
            sweep = getattr(self, rule)
            cur = sweep(s, T, burn_in, generator, method)
            for _ in range(n_samples):
                cur = sweep(cur, T, thin, generator, method)
                energies.append(self.energy(cur))
                mags.append(self.magnetization(cur))
            final = cur
        return {
            "energy": torch.stack(energies),
            "magnetization": torch.stack(mags),
            "spins": final,
        }

    def trajectory(
        self,
        spins: torch.Tensor,
        T: float | torch.Tensor,
        n_frames: int,
        sweeps_per_frame: int = 1,
        rule: str = "metropolis",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Snapshots of a chain: frame 0 is ``spins``, frame ``k`` follows ``k`` blocks of sweeps.

        Returns
        -------
        torch.Tensor
            Shape ``[n_frames, ..., L, L]``.
        """
        check_choice(rule, "rule", _RULES)
        n_frames = check_int(n_frames, "n_frames", minimum=1)
        sweeps_per_frame = check_int(sweeps_per_frame, "sweeps_per_frame", minimum=1)
        sweep = getattr(self, rule)
        frames = [self._check_spins(spins).clone()]
        for _ in range(n_frames - 1):
            frames.append(sweep(frames[-1], T, sweeps_per_frame, generator))
        return torch.stack(frames)


# --------------------------------------------------------------------------------------------
# Estimators and the demo
# --------------------------------------------------------------------------------------------


def binder_cumulant(m: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Binder cumulant ``U = 1 - <m^4> / (3 <m^2>^2)`` of magnetization samples (eq. (1.13)).

    ``U`` tends to 2/3 in the ordered phase and to 0 in the disordered phase; curves for
    different ``L`` cross near ``T_c``.

    Parameters
    ----------
    m : tensor
        Magnetization samples; averages are taken over ``dim``.
    dim : int
        Sample dimension.
    """
    check_tensor(m, "m", floating=True)
    m2 = (m**2).mean(dim)
    m4 = (m**4).mean(dim)
    if bool((m2 == 0).any()):
        raise ValueError("m must not be identically zero along dim (<m^2> = 0)")
    return 1.0 - m4 / (3.0 * m2**2)


def susceptibility(m: torch.Tensor, T: Any, n_spins: int, dim: int = 0) -> torch.Tensor:
    """Finite-lattice susceptibility ``chi = N (<m^2> - <|m|>^2) / T`` (chapter 1, eq. (1.12)).

    Parameters
    ----------
    m : tensor
        Magnetization-per-spin samples; averages over ``dim``.
    T : float or tensor
        Temperature(s), broadcast against the averaged shape.
    n_spins : int
        Number of spins ``N``.
    """
    check_tensor(m, "m", floating=True)
    n_spins = check_int(n_spins, "n_spins", minimum=1)
    t = _as_float_tensor(T).to(m.device, m.dtype)
    if not bool((t > 0).all()):
        raise ValueError("T must be > 0 everywhere")
    return n_spins * ((m**2).mean(dim) - m.abs().mean(dim) ** 2) / t


def draw_ising(
    T: float = 2.27,
    L: int = 64,
    sweeps: int = 200,
    seed: int = 0,
    rule: str = "metropolis",
    ax: Any = None,
):
    """Demo: a lattice after ``sweeps`` sweeps at temperature ``T`` from a random start.

    Parameters
    ----------
    T : float
        Temperature.
    L : int
        Side length.
    sweeps : int
        Sweeps from the random (infinite-temperature) start.
    seed : int
        Seed of the chain.
    rule : {"metropolis", "heat_bath"}
        Update rule.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    import matplotlib.pyplot as plt

    check_choice(rule, "rule", _RULES)
    model = IsingModel(L)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    s = model.random_state(generator=gen)
    s = getattr(model, rule)(s, T, sweeps, gen)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3.4))
    ax.imshow(s.numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    e, m = float(model.energy(s)), float(model.magnetization(s))
    ax.set_title(f"T = {T:.2f}: E/N = {e:.2f}, m = {m:+.2f}", fontsize=9)
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    return ax
