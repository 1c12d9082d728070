"""The two-dimensional Ising model: energies, samplers, exact enumeration and Onsager's solution.

See chapter 1 (:ref:`chapter-ising`). Spins :math:`\\xi_j \\in \\{-1, +1\\}` live on a periodic
``L x L`` square lattice and are stored as ``+-1`` tensors of shape ``[..., L, L]``: any leading
dimensions form a batch of independent lattices that are updated together. The energy is

.. math::

    E(\\xi) = -J \\sum_{\\langle jk \\rangle} \\xi_j \\xi_k - h \\sum_j \\xi_j

(:math:numref:`eq-ising-energy`), where the first sum runs over the ``2 L^2`` nearest-neighbour
bonds.

Two single-site rules are provided, Metropolis and heat bath (Glauber), both applied with the
checkerboard update: the sites of one colour have no neighbour of their own colour, so a whole
colour is updated at once (:math:numref:`eq-ising-checkerboard`). A flip that leaves the energy
unchanged is accepted with probability 1/2 by the Metropolis rule; with probability 1 the
sweep would cycle deterministically through some states at ``h = 0`` and never leave them
(chapter 1, theorem ``thm-ising-ergodic``). There are two implementations of the same chain:

* ``method="plain"``, the **reference**: :func:`reference_sweeps`, about twenty readable lines
  (neighbour sums with ``torch.roll``, one ``torch.rand`` per colour update). It handles every
  ``L``, including odd ``L``, where the periodic lattice is not bipartite and three colours are
  needed (:func:`colour_masks`).
* ``method="multispin"`` (the default for even ``L`` whose half has a divisor from 8 to 64,
  which includes every even ``L`` from 16 to 128 and every multiple of 128): the bit-packed
  engine of the private module ``ebmlib._multispin``, which stores up to 64 spins in the bits
  of one ``int64`` word. It has the same transition kernel, with acceptance probabilities
  rounded to ``ACCEPT_BITS`` bits, and uses the random numbers differently, so the two
  agree in distribution rather than sample by sample.

Both run unchanged on CUDA.

Temperatures
------------
A temperature ``T`` is a parameter of the sampler, not data. This is the one exception to the
library's mixed-dtype rule, and it is the rule of :mod:`ebmlib.boltzmann` and :mod:`ebmlib.rbm`
too, which turn their (scalar) ``T`` into a Python float: here a scalar, or a tensor of
temperatures of any real dtype (one per lattice of the batch), is converted explicitly to
float64, the precision in which the samplers compute ``dE`` and the acceptance probabilities.
The spins keep their own dtype (``+-1`` is exact in every dtype), so the result does not depend
on the dtype of ``T``. A tensor of several temperatures must live on the device of the spins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch

from . import _multispin
from ._multispin import ACCEPT_BITS
from ._optional import require
from ._states import binary_states
from ._states import state_index as _state_number
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_pm1,
    check_same_device,
    check_tensor,
)
from .utils import Result

__all__ = [
    "IsingModel",
    "critical_temperature",
    "onsager_energy",
    "onsager_magnetization",
    "exact_enumeration",
    "ExactIsing",
    "IsingSamples",
    "state_index",
    "colour_masks",
    "flip_probability",
    "reference_sweeps",
    "transition_matrix",
    "propagate",
    "binder_cumulant",
    "susceptibility",
    "draw_ising",
    "MAX_EXACT_L",
    "ACCEPT_BITS",
]

MAX_EXACT_L = 4
"""Largest side length :func:`exact_enumeration` and :func:`propagate` accept (``2**16``
states)."""

MAX_MATRIX_L = 3
"""Largest side length for which :func:`transition_matrix` builds the dense ``2**9 x 2**9``
kernel; use :func:`propagate` for ``L = 4``."""

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
    """Return ``T`` as a python float or as a float64 tensor of shape ``batch_shape``.

    The temperature policy of this module (see the module docstring): a temperature is a
    parameter of the sampler, not data, so a scalar or a tensor of any real dtype is converted
    explicitly to float64, the precision of the acceptance probabilities, whatever the dtype of
    the spins. A tensor of several temperatures must live on the device of the spins.
    """
    if isinstance(T, np.ndarray):
        T = torch.as_tensor(T)
    if isinstance(T, torch.Tensor):
        if T.dtype == torch.bool or T.is_complex():
            raise TypeError(f"T must hold real temperatures, got a tensor of dtype {T.dtype}")
        if T.numel() == 1:
            T = T.item()  # a single temperature: the fast scalar path
        else:
            if T.device != device:
                raise ValueError(
                    f"T must be on the device of the spins ({device}), got a tensor on {T.device}"
                )
            check_tensor(T, "T")
            T = T.to(dtype=torch.float64)
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

    (:math:numref:`eq-ising-tc`); temperatures are in units with Boltzmann's constant ``k_B = 1``.

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

    with :math:`\\mathcal K` the complete elliptic integral of the first kind
    (:math:numref:`eq-ising-onsager-energy`). At ``T_c`` the logarithmic singularity of
    :math:`\\mathcal K` is multiplied by zero and ``u(T_c) = -\\sqrt 2 J``.

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
    if not bool(torch.isfinite(t).all()):
        raise ValueError("T must be finite")
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

    (:math:numref:`eq-ising-onsager-m`).

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
    if not bool(torch.isfinite(t).all()):
        raise ValueError("T must be finite")
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
    """Every configuration of an ``L x L`` lattice, ``[2**(L*L), L, L]`` float64, numbered as in
    :func:`state_index` (the library's one enumeration, ``ebmlib._states``)."""
    return binary_states(L * L, spins=True, device=device).reshape(-1, L, L)


def state_index(spins: torch.Tensor) -> torch.Tensor:
    """Integer label of each lattice configuration, as used by :func:`exact_enumeration`.

    Site ``(i, j)`` (row-major position ``k = i L + j``) contributes ``2**k`` when its spin is
    ``+1``: the least-significant-bit-first order of ``ebmlib._states`` applied to the
    row-major flattened lattice.

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
        raise ValueError(
            f"spins must have shape [..., L, L] with L <= {MAX_EXACT_L}, got {tuple(spins.shape)}"
        )
    check_pm1(spins, "spins")
    return _state_number(spins.reshape(*spins.shape[:-2], L * L), spins=True)


@dataclass(frozen=True)
class ExactIsing(Result):
    """Exact Boltzmann statistics of a tiny lattice (see :func:`exact_enumeration`).

    Attributes
    ----------
    L, T, J, h
        Side length, temperature, coupling and field.
    states : tensor ``[2**(L*L), L, L]``
        Every configuration, labelled as in :func:`state_index`.
    energies : tensor ``[2**(L*L)]``
        Total energies ``E(xi)``.
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


def _check_small_L(L: Any, largest: int, what: str) -> int:
    L = check_int(L, "L", minimum=2)
    if L > largest:
        raise ValueError(f"L must be <= {largest} for {what}, got {L}")
    return L


def _scalar_temperature(T: Any) -> float:
    T = _check_temperature(T, torch.Size([]), torch.device("cpu"))
    if isinstance(T, torch.Tensor):
        raise ValueError(f"T must be a single temperature here, got a tensor of shape {T.shape}")
    return T


def exact_enumeration(L: int, T: float, J: float = 1.0, h: float = 0.0) -> ExactIsing:
    """Enumerate all ``2**(L*L)`` states of a periodic ``L x L`` lattice.

    .. math:: p(\\xi) = \\frac{e^{-E(\\xi)/T}}{Z},\\qquad Z = \\sum_\\xi e^{-E(\\xi)/T}

    (:math:numref:`eq-ising-boltzmann`), computed in float64 with ``torch.logsumexp``.

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
    L = _check_small_L(L, MAX_EXACT_L, "exact enumeration")
    T = _scalar_temperature(T)
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


# --------------------------------------------------------------------------------------------
# The chain: colours, the single-site rule, the reference sampler and its exact kernel
# --------------------------------------------------------------------------------------------


def colour_masks(L: int, device: torch.device | str | None = None) -> list[torch.Tensor]:
    """Boolean ``[L, L]`` masks of the colours of the checkerboard update, in sweep order.

    A site ``(i, j)`` lies on the diagonal ``d = (i + j) mod L``; its four neighbours lie on
    the diagonals ``d - 1`` and ``d + 1`` (two on each). For even ``L`` the colour is
    ``d mod 2``, the chequerboard. For odd ``L`` the diagonals form an odd cycle, so the
    diagonal ``d = L - 1`` gets a third colour and the others keep ``d mod 2``. Then no
    neighbours share a colour, and every site of colour 1 has at least as many neighbours of
    colour 0 as of colour 2 (those of the diagonal ``L - 2`` have two of each, all others four
    of colour 0 and none of colour 2): the property the ergodicity proof of chapter 1
    (theorem ``thm-ising-ergodic``) needs. For ``L = 3`` the colour is ``(i + j) mod 3``.

    Parameters
    ----------
    L : int
        Side length, >= 2.
    device : torch.device or str, optional
        Device of the masks.

    Returns
    -------
    list of torch.Tensor
        Two masks for even ``L``, three for odd ``L``; each site is in exactly one.
    """
    L = check_int(L, "L", minimum=2)
    i = torch.arange(L, device=device)
    d = (i[:, None] + i[None, :]) % L
    colour = d % 2
    if L % 2 == 1:
        colour[d == L - 1] = 2
    return [colour == c for c in range(2 + L % 2)]


def _neighbour_sum(s: torch.Tensor) -> torch.Tensor:
    """Sum of the four nearest neighbours of every site (periodic), shape of ``s``."""
    return s.roll(1, -1) + s.roll(-1, -1) + s.roll(1, -2) + s.roll(-1, -2)


def _flip_probability(dE: torch.Tensor, T: Any, rule: str) -> torch.Tensor:
    if rule == "metropolis":
        return torch.where(dE < 0, 1.0, torch.where(dE == 0, 0.5, torch.exp(-dE / T)))
    return torch.sigmoid(-dE / T)


def flip_probability(dE: torch.Tensor, T: Any, rule: str = "metropolis") -> torch.Tensor:
    """Probability ``A(dE)`` that a single-site update flips a spin whose flip costs ``dE``.

    Metropolis (:math:numref:`eq-ising-metropolis`)::

        A(dE) = 1            if dE < 0
                1/2          if dE = 0
                exp(-dE/T)   if dE > 0

    Heat bath (:math:numref:`eq-ising-heatbath`): ``A(dE) = 1 / (1 + exp(dE/T))``, computed as
    ``sigmoid(-dE/T)``. Both satisfy ``A(dE) = exp(-dE/T) A(-dE)``, detailed balance
    (:math:numref:`eq-ising-detailed-balance`). The value 1/2 at ``dE = 0`` (instead of the
    textbook ``min(1, exp(0)) = 1``) keeps detailed balance and makes the checkerboard chain
    ergodic (chapter 1, theorem ``thm-ising-ergodic``). Ties are exact: ``dE == 0`` in the
    arithmetic of ``dE``.

    Parameters
    ----------
    dE : tensor
        Energy changes (any shape, floating).
    T : float or tensor
        Temperature(s) > 0, broadcasting against ``dE``; a tensor of any real dtype is
        converted to the dtype of ``dE`` (it must live on the device of ``dE``).
    rule : {"metropolis", "heat_bath"}
        Single-site rule.

    Returns
    -------
    torch.Tensor
        Probabilities in ``[0, 1]``, dtype of ``dE``, shape of ``dE`` broadcast with ``T``.
    """
    check_tensor(dE, "dE", floating=True, nonempty=False)
    check_choice(rule, "rule", _RULES)
    if isinstance(T, torch.Tensor):
        if T.dtype == torch.bool or T.is_complex():
            raise TypeError(f"T must hold real temperatures, got a tensor of dtype {T.dtype}")
        check_same_device(dE=dE, T=T)
        check_tensor(T, "T")
        try:
            torch.broadcast_shapes(dE.shape, T.shape)
        except RuntimeError as exc:
            raise ValueError(
                f"T of shape {tuple(T.shape)} does not broadcast against dE of shape "
                f"{tuple(dE.shape)}"
            ) from exc
        T = T.to(dE.dtype)  # a temperature is a parameter: converted to the dtype of dE
        if not bool((T > 0).all()):
            raise ValueError("T must be > 0 everywhere")
    else:
        T = _scalar_temperature(T)
    return _flip_probability(dE, T, rule)


def _reference_sweeps(
    spins: torch.Tensor, T: Any, J: float, h: float, sweeps: int, rule: str, gen: Any
) -> torch.Tensor:
    """The body of :func:`reference_sweeps`, without input checks (``T`` already checked)."""
    s = spins.to(torch.float64, copy=True)
    if isinstance(T, torch.Tensor):
        T = T[..., None]  # one temperature per lattice, against [..., n_c]
    masks = colour_masks(s.shape[-1], s.device)
    for _ in range(sweeps):
        for mask in masks:
            xi = s[..., mask]  # [..., n_c]: the spins of this colour, row-major order
            n = _neighbour_sum(s)[..., mask]  # their neighbour sums
            dE = 2 * xi * (J * n + h)  # eq-ising-delta
            u = torch.rand(xi.shape, generator=gen, dtype=torch.float64, device=s.device)
            s[..., mask] = torch.where(u < _flip_probability(dE, T, rule), -xi, xi)
    return s.to(spins.dtype)


def reference_sweeps(
    spins: torch.Tensor,
    T: float | torch.Tensor,
    J: float = 1.0,
    h: float = 0.0,
    sweeps: int = 1,
    rule: str = "metropolis",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Checkerboard sweeps by the readable reference sampler (``method="plain"``).

    One sweep updates the colours of :func:`colour_masks` in order. For one colour, with
    ``xi`` its spins (``[..., n_c]``, row-major order) and ``n`` their neighbour sums:

    1. ``dE = 2 * xi * (J * n + h)`` (:math:numref:`eq-ising-delta`), in float64;
    2. ``u = torch.rand(xi.shape, generator=generator, dtype=torch.float64)``: **one** call per
       colour update, nothing else draws random numbers;
    3. a spin flips where ``u < A(dE)``, with ``A`` of :func:`flip_probability`.

    This is the kernel of :math:numref:`eq-ising-checkerboard`; chapter 1 rebuilds it from
    scratch and reproduces its output bit for bit.

    Parameters
    ----------
    spins : tensor, shape ``[..., L, L]``
        ``+-1`` spins, any ``L >= 2``; not modified.
    T : float or tensor
        Temperature(s) > 0; a tensor broadcasts over the batch shape ``[...]``.
    J, h : float
        Coupling and field.
    sweeps : int
        Number of sweeps.
    rule : {"metropolis", "heat_bath"}
        Single-site rule.
    generator : torch.Generator, optional
        Source of randomness (``None``: torch's global generator).

    Returns
    -------
    torch.Tensor
        New spins, same shape, dtype and device as ``spins``.
    """
    check_tensor(spins, "spins", min_ndim=2)
    check_choice(rule, "rule", _RULES)
    if spins.shape[-1] != spins.shape[-2]:
        raise ValueError(
            f"spins must have shape [..., L, L] (a square lattice), got {tuple(spins.shape)}"
        )
    L = spins.shape[-1]
    return IsingModel(L, J=J, h=h)._sweep(rule, spins, T, sweeps, generator, "plain")


def _site_flip_probabilities(L: int, T: float, J: float, h: float, rule: str) -> torch.Tensor:
    """``A_j(x)`` for every site ``j`` (row-major) and state ``x``: float64 ``[L*L, 2**(L*L)]``."""
    states = _all_states(L)  # [S, L, L]
    dE = 2 * states * (J * _neighbour_sum(states) + h)
    return _flip_probability(dE, T, rule).reshape(len(states), L * L).T.contiguous()


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
    colour, because those sites do not interact (:math:numref:`eq-ising-checkerboard`):
    ``K_c(x, y) = prod_{j in c} [A_j(x) if y_j != x_j else 1 - A_j(x)]`` when ``y`` agrees with
    ``x`` off the colour ``c``, and 0 otherwise. With ``colour=None`` the kernel of a full sweep
    (all colours in order) is returned. For ``L = 4`` use :func:`propagate`.

    Parameters
    ----------
    L : int
        Side length, 2 or 3 (``2**(L*L)`` states).
    T : float
        Temperature, > 0.
    J, h : float
        Coupling and field.
    rule : {"heat_bath", "metropolis"}
        Single-site rule (:func:`flip_probability`).
    colour : int, optional
        Which colour (0 or 1; 0 to 2 for odd ``L``); ``None`` for a full sweep.

    Returns
    -------
    torch.Tensor
        Row-stochastic float64 matrix ``K[x, y]`` with states labelled as in
        :func:`state_index`.
    """
    L = _check_small_L(L, MAX_MATRIX_L, "an explicit transition matrix (use propagate)")
    check_choice(rule, "rule", _RULES)
    J, h = _check_real(J, "J"), _check_real(h, "h")
    T = _scalar_temperature(T)
    masks = colour_masks(L)
    if colour is None:
        K = transition_matrix(L, T, J, h, rule, 0)
        for c in range(1, len(masks)):
            K = K @ transition_matrix(L, T, J, h, rule, c)
        return K
    colour = check_int(colour, "colour", minimum=0)
    if colour >= len(masks):
        raise ValueError(f"colour must be < {len(masks)} for L = {L}, got {colour}")
    A = _site_flip_probabilities(L, T, J, h, rule).T  # [S, N]
    x = _all_states(L).reshape(-1, L * L)  # [S, N]
    mask = masks[colour].reshape(-1)
    differ = x[:, None, :] != x[None, :, :]  # [S, S, N]
    allowed = ~(differ & ~mask).any(-1)
    site_prob = torch.where(differ, A[:, None, :], 1.0 - A[:, None, :])
    site_prob = torch.where(mask, site_prob, torch.ones_like(site_prob))
    return site_prob.prod(-1) * allowed


def propagate(
    p: torch.Tensor,
    L: int,
    T: float,
    J: float = 1.0,
    h: float = 0.0,
    rule: str = "metropolis",
    sweeps: int = 1,
) -> torch.Tensor:
    """Exact law after ``sweeps`` sweeps: the row vector(s) ``p K_sweep^sweeps``, for ``L <= 4``.

    Without building the ``2**(L*L) x 2**(L*L)`` matrix: a colour update is applied as its
    single-site kernels one after the other (they commute,
    :math:numref:`eq-ising-checkerboard`); site ``j`` moves the mass ``p(x) A_j(x)`` from ``x``
    to ``x`` with spin ``j`` flipped. For ``L = 4`` (65 536 states) a sweep costs a few
    milliseconds, so eigenvalues of the sweep kernel can be found with an iterative
    eigensolver. ``p`` may be any real vector (a signed measure), which is what an eigensolver
    needs; for a probability vector the result is the distribution of the chain after
    ``sweeps`` sweeps.

    Parameters
    ----------
    p : tensor, shape ``[..., 2**(L*L)]``
        Row vector(s) indexed as in :func:`state_index`.
    L : int
        Side length, 2 to 4.
    T : float
        Temperature, > 0.
    J, h : float
        Coupling and field.
    rule : {"metropolis", "heat_bath"}
        Single-site rule.
    sweeps : int
        Number of sweeps, >= 0.

    Returns
    -------
    torch.Tensor
        ``p K^sweeps``, float64, shape of ``p``.
    """
    L = _check_small_L(L, MAX_EXACT_L, "propagate")
    check_choice(rule, "rule", _RULES)
    J, h = _check_real(J, "J"), _check_real(h, "h")
    T = _scalar_temperature(T)
    sweeps = check_int(sweeps, "sweeps", minimum=0)
    check_tensor(p, "p", min_ndim=1, floating=True)
    S = 2 ** (L * L)
    if p.shape[-1] != S:
        raise ValueError(f"p must have last dimension 2**(L*L) = {S}, got {tuple(p.shape)}")
    A = _site_flip_probabilities(L, T, J, h, rule).to(p.device)  # [N, S]
    out = p.to(torch.float64, copy=True)
    # One axis of length 2 per site (the last axis is site 0): flipping spin j of every state
    # is reversing the axis of bit j.
    cube = (*p.shape[:-1], *([2] * (L * L)))
    for _ in range(sweeps):
        for mask in colour_masks(L):
            for j in torch.nonzero(mask.reshape(-1)).reshape(-1).tolist():
                moved = out * A[j]  # mass leaving each state by flipping spin j
                out = out - moved + moved.reshape(cube).flip(-(j + 1)).reshape(out.shape)
    return out


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class IsingModel:
    """Ising model on a periodic ``L x L`` square lattice (chapter 1).

    .. math:: E(\\xi) = -J \\sum_{\\langle jk \\rangle} \\xi_j \\xi_k - h \\sum_j \\xi_j

    (:math:numref:`eq-ising-energy`). States are ``+-1`` tensors of shape ``[..., L, L]``; leading
    dimensions are a batch of independent lattices.

    Parameters
    ----------
    L : int
        Side length, >= 2. Even ``L`` uses the two-colour checkerboard update; odd ``L`` (not
        bipartite under periodic boundaries) uses three colours (:func:`colour_masks`) and the
        reference sampler.
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
        """Number of spins ``d = L**2``."""
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
        if spins.dtype == torch.bool or not (spins.is_floating_point() or spins.is_signed()):
            raise TypeError(
                f"spins must be a floating or signed integer tensor of +-1, got {spins.dtype}"
            )
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
        if (
            not isinstance(dtype, torch.dtype)
            or dtype == torch.bool
            or not (dtype.is_floating_point or dtype.is_signed)
        ):
            raise TypeError(f"dtype must be a floating or signed integer dtype, got {dtype!r}")
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
        if isinstance(sign, torch.Tensor):
            if sign.numel() != 1:
                raise TypeError(f"sign must be 1 or -1, got a tensor of shape {tuple(sign.shape)}")
            sign = sign.item()
        check_choice(sign, "sign", (1, -1))
        return torch.full((*batch, self.L, self.L), float(sign), device=self.device, dtype=dtype)

    # -- observables ----------------------------------------------------------------------

    def energy(self, spins: torch.Tensor) -> torch.Tensor:
        """Energy **per spin** ``E(xi) / d`` of each lattice in the batch (``d = L**2``).

        .. math:: \\frac{E(\\xi)}{d} = -\\frac{1}{d}\\Big(J \\sum_{j} \\xi_j
            (\\xi_{j+\\hat x} + \\xi_{j+\\hat y}) + h \\sum_j \\xi_j\\Big)

        (:math:numref:`eq-ising-energy`), each bond counted once. Multiply by
        :attr:`n_spins` for the total.

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
        """Magnetization **per spin** ``m = (1/N) sum_j xi_j`` (signed),
        :math:numref:`eq-ising-magnetization`.

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
            packs = self.L % 2 == 0 and _multispin.word_bits(self.L) >= 8
            method = "multispin" if packs else "plain"
        if method == "multispin" and self.L % 2 == 1:
            raise ValueError(f"method='multispin' needs an even L, got L = {self.L}")
        return s, T, sweeps, method

    def _sweep(self, rule, spins, T, sweeps, generator, method):
        s, T, sweeps, method = self._prepare(spins, T, sweeps, generator, method)
        if sweeps == 0:
            return s.clone()
        if method == "multispin":
            probs = self._class_probabilities(rule, T)
            return _multispin.multispin_sweeps(s, probs, sweeps, generator)
        return _reference_sweeps(s, T, self.J, self.h, sweeps, rule, generator)

    def _class_probabilities(self, rule: str, T: Any) -> list[tuple[int, int, Any]]:
        """Flip probabilities of the ten (spin, anti-aligned neighbours) classes of the engine,
        from the same float64 ``dE`` and :func:`flip_probability` as the reference sampler."""
        out = []
        device = T.device if isinstance(T, torch.Tensor) else None
        for sbit, k, dE in _multispin.class_energy_changes(self.J, self.h):
            p = _flip_probability(torch.tensor(dE, dtype=torch.float64, device=device), T, rule)
            out.append((sbit, k, p if isinstance(T, torch.Tensor) else float(p)))
        return out

    def metropolis(
        self,
        spins: torch.Tensor,
        T: float | torch.Tensor,
        sweeps: int = 1,
        generator: torch.Generator | None = None,
        method: str = "auto",
    ) -> torch.Tensor:
        """Metropolis sweeps with the checkerboard update.

        Each sweep updates the sites of one colour at once, then the next
        (:math:numref:`eq-ising-checkerboard`). A site whose flip changes the energy by
        :math:`\\Delta E = 2 \\xi_j (J \\sum_{k \\sim j} \\xi_k + h)`
        (:math:numref:`eq-ising-delta`) is flipped with probability
        :math:`\\min(1, e^{-\\Delta E / T})` if :math:`\\Delta E \\ne 0` and 1/2 if
        :math:`\\Delta E = 0` (:math:numref:`eq-ising-metropolis`, :func:`flip_probability`),
        which makes the chain ergodic (chapter 1, theorem ``thm-ising-ergodic``).

        Parameters
        ----------
        spins : tensor, shape ``[..., L, L]``
            ``+-1`` spins; not modified.
        T : float or tensor
            Temperature(s) > 0; a tensor broadcasts over the batch shape ``[...]``.
        sweeps : int
            Number of sweeps (each site is offered one update per sweep).
        generator : torch.Generator, optional
            Source of randomness, on the device of ``spins`` (``None``: torch's global
            generator).
        method : {"auto", "multispin", "plain"}
            Implementation (see the module docstring; ``"plain"`` is
            :func:`reference_sweeps`); ``"auto"`` picks ``"multispin"`` for
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
        :math:`1 / (1 + e^{-2 (J \\sum_{k\\sim j} \\xi_k + h)/T})`, i.e. flipped with probability
        :math:`1/(1 + e^{\\Delta E/T})` (:math:numref:`eq-ising-heatbath`). Arguments and
        result as in
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
    ) -> IsingSamples:
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
        IsingSamples
            ``energy`` and ``magnetization`` of shape ``[n_samples, ...]`` (per spin) and
            ``spins``, the final state (also readable as ``res["energy"]``).
        """
        check_choice(rule, "rule", _RULES)
        n_samples = check_int(n_samples, "n_samples", minimum=1)
        thin = check_int(thin, "thin", minimum=1)
        burn_in = check_int(burn_in, "burn_in", minimum=0)
        s, Tc, _, method = self._prepare(spins, T, 1, generator, method)
        energies, mags = [], []
        if method == "multispin":
            packed = _multispin.Packed(s)
            probs = self._class_probabilities(rule, Tc)
            _multispin.run_packed(packed, probs, burn_in, generator)
            for _ in range(n_samples):
                _multispin.run_packed(packed, probs, thin, generator)
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
        return IsingSamples(
            energy=torch.stack(energies), magnetization=torch.stack(mags), spins=final
        )

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


@dataclass(frozen=True)
class IsingSamples(Result):
    """Measurements of a chain (see :meth:`IsingModel.sample`).

    Attributes
    ----------
    energy, magnetization : tensor ``[n_samples, ...]``
        Energy and signed magnetization per spin at each measurement.
    spins : tensor ``[..., L, L]``
        The final state.
    """

    energy: torch.Tensor
    magnetization: torch.Tensor
    spins: torch.Tensor


# --------------------------------------------------------------------------------------------
# Estimators and the demo
# --------------------------------------------------------------------------------------------


def binder_cumulant(m: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Binder cumulant ``U = 1 - <m^4> / (3 <m^2>^2)`` of magnetization samples.

    See :math:numref:`eq-ising-binder`.

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
    """Finite-lattice susceptibility ``chi = d (<m^2> - <|m|>^2) / T``, ``d = L**2`` spins.

    See :math:numref:`eq-ising-chi`.

    Parameters
    ----------
    m : tensor
        Magnetization-per-spin samples; averages over ``dim``.
    T : float or tensor
        Temperature(s), broadcast against the averaged shape; converted to the dtype and
        device of ``m``.
    n_spins : int
        Number of spins ``d``.
    """
    check_tensor(m, "m", floating=True)
    n_spins = check_int(n_spins, "n_spins", minimum=1)
    t = _as_float_tensor(T).to(m.device, m.dtype)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"T must be finite, got {T}")
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
    plt = require("matplotlib.pyplot", "viz", feature="ising.draw_ising")
    check_choice(rule, "rule", _RULES)
    model = IsingModel(L)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    s = model.random_state(generator=gen)
    s = getattr(model, rule)(s, T, sweeps, gen)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3.4))
    ax.imshow(s.numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    e, m = float(model.energy(s)), float(model.magnetization(s))
    ax.set_title(f"T = {T:.2f}: E/d = {e:.2f}, m = {m:+.2f}", fontsize=9)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return ax
