"""Dense associative memory: Hopfield networks with a steep interaction function (chapter 3).

A dense associative memory stores ``N`` bipolar patterns ``x_i`` (rows of ``patterns``, shape
``[N, d]``) and gives a bipolar state ``xi`` the energy

.. math::

    E(\\xi) = -\\sum_{i=1}^{N} \\phi(x_i^\\top \\xi),

with an interaction (separation) function ``phi``, chosen by the argument ``F`` (chapter 3,
:math:numref:`eq-dense-energy`). ``phi(x) = x^2`` gives back the classical Hopfield network
(up to an additive constant and a positive scale, see :meth:`DenseAssociativeMemory.energy`);
the polynomials ``phi(x) = x^n`` and ``phi(x) = max(x, 0)^n`` are the models of Krotov and
Hopfield (2016), the exponential ``phi(x) = exp(beta x)`` the model of Demircigil et al. (2017).

Everything rests on one quantity, the *energy gap* of unit ``j``,

.. math::

    g_j(\\xi) = E(\\xi^{(j-)}) - E(\\xi^{(j+)})
             = \\sum_i \\big[\\phi(c_{ij} + x_{ij}) - \\phi(c_{ij} - x_{ij})\\big],
    \\qquad c_{ij} = \\sum_{k \\ne j} x_{ik} \\xi_k ,

where ``xi^(j+-)`` is ``xi`` with unit ``j`` set to ``+-1`` (:math:numref:`eq-dense-gap`). The
asynchronous update sets ``xi_j = sign(g_j)`` (and keeps ``xi_j`` when ``g_j = 0``), so it never
raises the energy; heat-bath sampling sets ``xi_j = +1`` with probability ``sigma(g_j / T)``,
``sigma`` the logistic function.

Indices: ``i`` numbers the patterns, ``j`` and ``k`` the units, so ``x_ij`` is unit ``j`` of
pattern ``i`` (``patterns[i, j]``).

Code convention: patterns are rows, so the book's ``X^T xi`` is ``states @ patterns.T``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._optional import require
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_pm1,
    check_positive,
    check_probability,
    check_same_device,
    check_tensor,
)

__all__ = [
    "DenseAssociativeMemory",
    "separation_function",
    "double_factorial",
    "poly_capacity",
    "poly_capacity_gaussian",
    "capacity_bisect",
    "exp_capacity_rate",
    "exp_capacity_pairs",
    "stable_fraction",
    "first_unstable_count",
    "draw_recall",
]

_KINDS = ("poly", "rectified", "exp")


def separation_function(x: torch.Tensor, F: str = "poly", n: int = 3, beta: float = 1.0):
    """Evaluate the interaction (separation) function ``phi`` elementwise (chapter 3,
    :math:numref:`eq-dense-energy`).

    ``F="poly"``: ``phi(x) = x^n``; ``F="rectified"``: ``phi(x) = max(x, 0)^n``;
    ``F="exp"``: ``phi(x) = exp(beta x)``.

    Parameters
    ----------
    x : torch.Tensor
        Any shape, floating.
    F : {"poly", "rectified", "exp"}
        Which interaction function.
    n : int
        Power of the polynomial kinds (>= 1); ignored for ``"exp"``.
    beta : float
        Inverse temperature of ``"exp"`` (> 0); ignored for the polynomials.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``.
    """
    check_tensor(x, "x", floating=True, nonempty=False)
    check_choice(F, "F", _KINDS)
    n = check_int(n, "n", minimum=1)
    beta = check_positive(beta, "beta")
    if F == "poly":
        return x**n
    if F == "rectified":
        return x.clamp(min=0) ** n
    return torch.exp(beta * x)


def _real_dtype(t: torch.Tensor) -> torch.dtype:
    # energies and fields of integer-valued states are returned in float64
    return t.dtype if t.is_floating_point() else torch.float64


def _reject_bool(t: torch.Tensor, name: str) -> None:
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(
            f"{name} must hold +-1 as a real (floating or integer) tensor, got {t.dtype}"
        )


def _log_two_sinh(beta: float) -> float:
    # log(2 sinh(beta)) = beta + log(1 - exp(-2 beta)), finite for any beta > 0
    return beta + math.log(-math.expm1(-2.0 * beta))


class DenseAssociativeMemory:
    """Dense associative memory on bipolar states (chapter 3).

    Energy (:math:numref:`eq-dense-energy`), with patterns as rows of ``patterns`` (``[N, d]``):

    .. math:: E(\\xi) = -\\sum_i \\phi(x_i^\\top \\xi)

    Parameters
    ----------
    patterns : torch.Tensor
        Stored patterns, shape ``[N, d]`` (or ``[d]`` for one pattern), entries +-1 (floating
        or integer dtype).
    F : {"poly", "rectified", "exp"}
        Interaction (separation) function ``phi``: ``x^n`` (Krotov and Hopfield 2016),
        ``max(x, 0)^n``, or ``exp(beta x)`` (Demircigil et al. 2017).
    n : int
        Power of the polynomial kinds (>= 1; ``n = 2`` is the classical Hopfield network).
        Ignored for ``"exp"``.
    beta : float
        Inverse temperature inside ``phi(x) = exp(beta x)`` (> 0). The polynomial kinds do not use
        it (their decisions do not depend on a scale).

    Notes
    -----
    All arithmetic runs in float64 on the device of ``patterns``; states come back in the dtype
    they were passed in, energies and fields in that dtype (float64 for integer states). For the
    polynomial kinds every intermediate value is an integer, so energies and update decisions
    are exact as long as ``d^n < 2^53``. For
    ``"exp"`` the update and sampling decisions are taken in the log domain and stay exact for
    any ``beta * d``; :meth:`energy` itself overflows to ``-inf`` once ``beta * d`` exceeds about
    709, use :meth:`log_neg_energy` there.

    Examples
    --------
    >>> x = torch.tensor([[1.0, -1, 1, -1], [1, 1, -1, -1]])
    >>> dam = DenseAssociativeMemory(x, F="poly", n=3)
    >>> dam.energy(x)
    tensor([-64., -64.])
    """

    def __init__(
        self, patterns: torch.Tensor, F: str = "poly", n: int = 3, beta: float = 1.0
    ) -> None:
        check_tensor(patterns, "patterns", ndim=(1, 2))
        _reject_bool(patterns, "patterns")
        check_pm1(patterns, "patterns")
        if patterns.dim() == 1:
            patterns = patterns[None, :]
        self.F = check_choice(F, "F", _KINDS)
        self.n = check_int(n, "n", minimum=1)
        self.beta = check_positive(beta, "beta")
        self.patterns = patterns
        self._x = patterns.to(torch.float64)  # [N, d]

    # ------------------------------------------------------------------ basic properties
    @property
    def N(self) -> int:
        """Number of stored patterns."""
        return self._x.shape[0]

    @property
    def d(self) -> int:
        """Number of units (pattern dimension)."""
        return self._x.shape[1]

    @property
    def device(self) -> torch.device:
        return self._x.device

    def __repr__(self) -> str:
        extra = f"n={self.n}" if self.F != "exp" else f"beta={self.beta}"
        return f"DenseAssociativeMemory(N={self.N}, d={self.d}, F={self.F!r}, {extra})"

    # ------------------------------------------------------------------ validation
    def _check_states(self, states: Any, name: str = "states") -> tuple[torch.Tensor, bool]:
        check_tensor(states, name, ndim=(1, 2))
        _reject_bool(states, name)
        if states.shape[-1] != self.d:
            raise ValueError(
                f"{name} must have last dimension {self.d} to match patterns, "
                f"got shape {tuple(states.shape)}"
            )
        check_pm1(states, name)
        check_same_device(**{name: states, "patterns": self._x})
        single = states.dim() == 1
        s = states.to(torch.float64)
        return (s[None, :] if single else s), single

    def _F(self, z: torch.Tensor) -> torch.Tensor:
        if self.F == "poly":
            return z**self.n
        if self.F == "rectified":
            return z.clamp(min=0) ** self.n
        return torch.exp(self.beta * z)

    # ------------------------------------------------------------------ energy
    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """Energy ``E(xi) = -sum_i phi(x_i^T xi)`` (chapter 3, :math:numref:`eq-dense-energy`).

        For ``F = "poly"`` with ``n = 2`` this is ``2 d E_H(xi) - N d`` where
        ``E_H = -xi^T W xi / 2`` is the classical energy with Hebbian weights
        ``W = X X^T / d`` and zero diagonal (:math:numref:`eq-dense-classical`). For ``"exp"`` it
        is computed as
        ``-exp(logsumexp(beta X^T xi))``.

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.

        Returns
        -------
        torch.Tensor
            Shape ``[B]`` (or a scalar for one state), dtype of ``states``.
        """
        s, single = self._check_states(states)
        h = s @ self._x.T  # [B, N]: the book's X^T xi
        if self.F == "exp":
            e = -torch.exp(torch.logsumexp(self.beta * h, dim=1))
        else:
            e = -self._F(h).sum(dim=1)
        e = e.to(_real_dtype(states))
        return e[0] if single else e

    def log_neg_energy(self, states: torch.Tensor) -> torch.Tensor:
        """``log(-E(xi)) = logsumexp_i(beta x_i^T xi)`` for ``F = "exp"``
        (:math:numref:`eq-dense-energy`).

        Finite for any ``beta * d``; only defined for the exponential kind (the polynomial
        energies can be zero or positive).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.

        Returns
        -------
        torch.Tensor
            Shape ``[B]`` or scalar.
        """
        if self.F != "exp":
            raise ValueError(f"log_neg_energy needs F='exp', this memory has F={self.F!r}")
        s, single = self._check_states(states)
        out = torch.logsumexp(self.beta * (s @ self._x.T), dim=1).to(_real_dtype(states))
        return out[0] if single else out

    # ------------------------------------------------------------------ energy gaps
    def _gap_parts(self, c: torch.Tensor, xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy gap of one unit as ``exp(log_scale) * core``.

        ``c`` is ``[B, N]`` (overlaps without unit j), ``xi`` is ``[N]`` (column j of the
        patterns, the values ``x_ij``). The sign of ``core`` is the sign of the gap.
        """
        if self.F == "exp":
            # phi(c + x) - phi(c - x) = 2 sinh(beta x) e^{beta c} = x 2 sinh(beta) e^{beta c}
            a = self.beta * c  # [B, N]
            m = a.max(dim=1).values  # [B]
            core = (xi[None, :] * torch.exp(a - m[:, None])).sum(dim=1)
            return m + _log_two_sinh(self.beta), core
        core = (self._F(c + xi[None, :]) - self._F(c - xi[None, :])).sum(dim=1)
        return torch.zeros_like(core), core

    def _gaps_all(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy gaps of all units at once as ``exp(log_scale)[:, None] * core``.

        With ``h = X^T xi`` and ``c_ij = h_i - xi_j x_ij``, the gap splits by whether
        ``x_ij`` agrees with ``xi_j`` (then ``c_ij = h_i - 1``) or not (``c_ij = h_i + 1``):
        ``g_j = sum_i x_ij [A_i (agree) or B_i (disagree)]`` with
        ``A = phi(h) - phi(h - 2)`` and ``B = phi(h + 2) - phi(h)``, i.e.
        ``g = ((A + B) / 2) X + xi * sum_i (A - B) / 2`` (two matrix products, no loop).
        """
        h = s @ self._x.T  # [B, N]
        if self.F == "exp" and self.beta > 300.0:
            # sigmoid(-2 beta) would underflow below: one unit at a time in the log domain
            log_scale = torch.empty_like(s)
            core = torch.empty_like(s)
            for i in range(self.d):
                xi = self._x[:, i]
                c = h - s[:, i : i + 1] * xi[None, :]
                log_scale[:, i], core[:, i] = self._gap_parts(c, xi)
            return log_scale, core
        if self.F == "exp":
            # A = 2 sinh(beta) e^{beta (h - 1)}, B = 2 sinh(beta) e^{beta (h + 1)}; scale out
            # 2 sinh(beta) 2 cosh(beta) e^{max beta h} and weight by sigmoid(-+2 beta).
            a_h = self.beta * h
            m = a_h.max(dim=1).values  # [B]
            e = torch.exp(a_h - m[:, None])  # [B, N]
            xp = (self._x > 0).to(e.dtype)  # [N, d]
            u = e @ xp  # sum over patterns with x_ij = +1
            v = e @ (1.0 - xp)  # sum over patterns with x_ij = -1
            w_agree = 1.0 / (1.0 + math.exp(2.0 * self.beta))  # sigmoid(-2 beta)
            w_dis = 1.0 / (1.0 + math.exp(-2.0 * self.beta))  # sigmoid(2 beta)
            core = torch.where(s > 0, w_agree * u - w_dis * v, w_dis * u - w_agree * v)
            log_two_cosh = self.beta + math.log1p(math.exp(-2.0 * self.beta))
            log_scale = m + _log_two_sinh(self.beta) + log_two_cosh
            return log_scale[:, None], core
        f_h = self._F(h)
        a = f_h - self._F(h - 2.0)  # [B, N]
        b = self._F(h + 2.0) - f_h
        core = 0.5 * ((a + b) @ self._x + s * (a - b).sum(dim=1, keepdim=True))
        return torch.zeros(s.shape[0], 1, dtype=s.dtype, device=s.device), core

    def energy_gaps(self, states: torch.Tensor) -> torch.Tensor:
        """Energy gaps ``g_j = E(xi with xi_j=-1) - E(xi with xi_j=+1)`` (chapter 3,
        :math:numref:`eq-dense-gap`).

        ``g_j = sum_i [phi(c_ij + x_ij) - phi(c_ij - x_ij)]`` with
        ``c_ij = sum_{k != j} x_ik xi_k``; ``g_j > 0`` means that ``xi_j = +1`` has the lower
        energy. For ``n = 2`` it equals ``4 d (W xi)_j`` with the Hebbian ``W``.

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.

        Returns
        -------
        torch.Tensor
            Shape ``[B, d]`` (or ``[d]``), dtype of ``states``. For ``"exp"`` entries can
            overflow to ``+-inf`` when ``beta * d`` is beyond about 709 (their signs stay right).
        """
        s, single = self._check_states(states)
        log_scale, core = self._gaps_all(s)
        out = core * torch.exp(log_scale) if self.F == "exp" else core
        out = out.to(_real_dtype(states))
        return out[0] if single else out

    def is_fixed_point(self, states: torch.Tensor) -> torch.Tensor:
        """Whether no unit of ``xi`` would change under an update (:math:numref:`eq-dense-update`).

        A unit is stable when ``xi_j g_j >= 0`` (ties keep the current value).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``.

        Returns
        -------
        torch.Tensor
            Bool, shape ``[B]`` (or a scalar).
        """
        s, single = self._check_states(states)
        _, core = self._gaps_all(s)
        ok = (s * core >= 0).all(dim=1)
        return ok[0] if single else ok

    # ------------------------------------------------------------------ dynamics
    def _check_order(self, order: Any) -> Any:
        if isinstance(order, torch.Tensor):
            check_tensor(order, "order", ndim=1)
            if order.is_floating_point() or order.numel() == 0:
                raise TypeError("order must be 'sequential', 'random' or a 1-D integer tensor")
            if bool(((order < 0) | (order >= self.d)).any()):
                raise ValueError(f"order must hold unit indices in [0, {self.d}), got {order}")
            return order
        return check_choice(order, "order", ("sequential", "random"))

    def _order(self, order: Any, generator, device) -> torch.Tensor:
        if isinstance(order, torch.Tensor):
            return order.cpu()
        if order == "sequential":
            return torch.arange(self.d)
        return torch.randperm(self.d, generator=generator, device=device).cpu()

    def update(
        self,
        states: torch.Tensor,
        mode: str = "async",
        sweeps: int = 1,
        order: str | torch.Tensor = "sequential",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Deterministic update ``xi_j <- sign(g_j(xi))`` (chapter 3,
        :math:numref:`eq-dense-update`).

        This is the rule of Krotov and Hopfield (2016),
        ``xi_j <- sign(sum_i [phi(x_ij + c_ij) - phi(-x_ij + c_ij)])``; a unit whose gap is
        exactly zero keeps its value. Asynchronously (one unit at a time) every step picks the
        lower of two energies, so the energy never rises (chapter 3, descent theorem).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.
        mode : {"async", "sync"}
            ``"async"``: units one after another, each seeing the current values of the
            others. ``"sync"``: all units at once from the old state (may oscillate).
        sweeps : int
            Number of passes over all ``d`` units (>= 1).
        order : {"sequential", "random"} or 1-D integer tensor
            Unit order within an asynchronous sweep: ``0, ..., d-1``, a fresh random
            permutation per sweep (shared by the batch), or an explicit sequence of units.
        generator : torch.Generator, optional
            Randomness for ``order="random"``.

        Returns
        -------
        torch.Tensor
            Updated states, same shape and dtype as ``states``.
        """
        s, single = self._check_states(states)
        check_choice(mode, "mode", ("async", "sync"))
        self._check_order(order)
        sweeps = check_int(sweeps, "sweeps", minimum=1)
        check_generator(generator, device=s.device)
        s = s.clone()
        for _ in range(sweeps):
            if mode == "sync":
                s = self._sync_step(s)
            else:
                s = self._async_sweep(s, self._order(order, generator, s.device), T=None)
        s = s.to(states.dtype)
        return s[0] if single else s

    def _sync_step(self, s: torch.Tensor) -> torch.Tensor:
        _, core = self._gaps_all(s)
        return torch.where(core > 0, 1.0, torch.where(core < 0, -1.0, s)).to(s.dtype)

    def _async_sweep(
        self,
        s: torch.Tensor,
        units: torch.Tensor,
        T: float | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One pass over ``units``; deterministic when ``T`` is None, heat bath otherwise."""
        h = s @ self._x.T  # [B, N], kept in sync with s (exact integer arithmetic)
        log_t = None if T is None else math.log(T)
        for i in units.tolist():
            xi = self._x[:, i]  # [N]
            si = s[:, i]  # [B]
            c = h - si[:, None] * xi[None, :]
            log_scale, core = self._gap_parts(c, xi)
            if T is None:
                new = torch.where(core > 0, 1.0, torch.where(core < 0, -1.0, si))
            else:
                # g / T = sign(core) exp(log_scale + log|core| - log T): no overflow to NaN
                if self.F == "exp":
                    z = torch.sign(core) * torch.exp(log_scale + torch.log(core.abs()) - log_t)
                else:
                    z = core / T
                p_plus = torch.sigmoid(z)
                u = torch.rand(s.shape[0], generator=generator, dtype=s.dtype, device=s.device)
                new = torch.where(u < p_plus, 1.0, -1.0).to(s.dtype)
            h = h + (new - si)[:, None] * xi[None, :]
            s[:, i] = new
        return s

    def recall(
        self,
        cues: torch.Tensor,
        max_sweeps: int = 100,
        order: str | torch.Tensor = "sequential",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Asynchronous sweeps from ``cues`` until no unit changes (a fixed point of
        :math:numref:`eq-dense-update`).

        Converges in finitely many sweeps because the energy strictly decreases at every flip
        and there are finitely many states; ``max_sweeps`` is a safety cap.

        Parameters
        ----------
        cues : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.
        max_sweeps : int
            Largest number of sweeps (>= 1).
        order : {"sequential", "random"} or 1-D integer tensor
            Unit order within a sweep (see :meth:`update`).
        generator : torch.Generator, optional
            Randomness for ``order="random"``.

        Returns
        -------
        torch.Tensor
            Final states, same shape and dtype as ``cues``.
        """
        s, single = self._check_states(cues, "cues")
        max_sweeps = check_int(max_sweeps, "max_sweeps", minimum=1)
        self._check_order(order)
        check_generator(generator, device=s.device)
        s = s.clone()
        for _ in range(max_sweeps):
            old = s.clone()
            s = self._async_sweep(s, self._order(order, generator, s.device), T=None)
            if torch.equal(old, s):
                break
        s = s.to(cues.dtype)
        return s[0] if single else s

    def gibbs(
        self,
        states: torch.Tensor,
        T: float,
        sweeps: int = 1,
        order: str | torch.Tensor = "sequential",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Heat-bath (Glauber) sampling of ``p(xi) = exp(-E(xi)/T) / Z`` (chapter 3,
        :math:numref:`eq-dense-gibbs`).

        Each visited unit is set to +1 with probability
        ``sigma(-(E(xi^(j+)) - E(xi^(j-))) / T) = sigma(g_j / T)`` (``sigma`` the logistic
        function), the exact conditional
        of the Boltzmann distribution, so the chain leaves ``exp(-E/T)/Z`` invariant. As
        ``T -> 0`` it becomes :meth:`update` (except at exact ties ``g_j = 0``, where the
        sampler tosses a fair coin).

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1 (``B`` independent chains).
        T : float
            Temperature (> 0), in units of the energy.
        sweeps : int
            Passes over all units (>= 1).
        order : {"sequential", "random"} or 1-D integer tensor
            Unit order within a sweep (a random permutation per sweep, shared by the batch, or
            an explicit sequence of units).
        generator : torch.Generator, optional
            Source of randomness, on the device of ``states``.

        Returns
        -------
        torch.Tensor
            New states, same shape and dtype as ``states``.
        """
        s, single = self._check_states(states)
        T = check_positive(T, "T")
        sweeps = check_int(sweeps, "sweeps", minimum=1)
        self._check_order(order)
        check_generator(generator, device=s.device)
        s = s.clone()
        for _ in range(sweeps):
            s = self._async_sweep(s, self._order(order, generator, s.device), T, generator)
        s = s.to(states.dtype)
        return s[0] if single else s

    # ------------------------------------------------------------------ attention form
    def attention_field(self, states: torch.Tensor) -> torch.Tensor:
        """Leave-one-out attention read-out ``[X softmax(beta X^T xi^(j0))]_j``
        (:math:numref:`eq-dense-attention`).

        ``xi^(j0)`` is ``xi`` with unit ``j`` set to zero. For ``F = "exp"`` the energy gap is
        ``g_j = 2 sinh(beta) sum_i exp(beta x_i^T xi^(j0)) * [X softmax(...)]_j`` with a
        positive prefactor, so ``sign`` of this field is exactly the update of unit ``j``.

        Parameters
        ----------
        states : torch.Tensor
            Shape ``[B, d]`` or ``[d]``, entries +-1.

        Returns
        -------
        torch.Tensor
            Shape ``[B, d]`` (or ``[d]``), values in ``[-1, 1]``.
        """
        s, single = self._check_states(states)
        h = s @ self._x.T  # [B, N]
        out = torch.empty_like(s)
        for i in range(self.d):
            c = h - s[:, i : i + 1] * self._x[:, i][None, :]  # X^T xi^(j0) for unit j = i
            p = torch.softmax(self.beta * c, dim=1)  # [B, N]
            out[:, i] = p @ self._x[:, i]
        out = out.to(_real_dtype(states))
        return out[0] if single else out


# ---------------------------------------------------------------------- capacity theory
_EXACT_DOUBLE_FACTORIAL = 299
"""Largest ``k`` whose ``k!!`` :func:`poly_capacity` uses as a float (``299!!`` < 1e308)."""


def _log_double_factorial(k: int) -> float:
    """``log(k!!)`` for odd ``k >= 1``: ``k!! = k! / (2^((k-1)/2) ((k-1)/2)!)``."""
    h = (k - 1) // 2
    return math.lgamma(k + 1) - h * math.log(2.0) - math.lgamma(h + 1)


def _real_array(d: Any, name: str) -> Any:
    """``d`` as a float numpy array of finite numbers, or a named ``TypeError``/``ValueError``."""
    import numpy as np

    if isinstance(d, (str, bytes, bool)) or (
        isinstance(d, np.ndarray) and d.dtype.kind not in "iuf"
    ):
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {d!r}")
    try:
        arr = np.asarray(d, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a real number or an array of real numbers") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {d}")
    return arr


def double_factorial(k: int) -> int:
    """``k!! = k (k-2) (k-4) ...`` with ``(-1)!! = 0!! = 1``."""
    k = check_int(k, "k", minimum=-1)
    out = 1
    while k > 1:
        out *= k
        k -= 2
    return out


def poly_capacity(d: Any, n: int) -> Any:
    """No-error capacity of ``phi(x) = x^n``: ``d^(n-1) / (2 (2n-3)!! ln d)``
    (:math:numref:`eq-dense-poly-capacity`).

    The number of patterns at which a stored pattern is still a fixed point with high
    probability, to leading order in ``d`` (Krotov and Hopfield 2016); ``n = 2`` gives the
    classical ``d / (2 ln d)``.

    Parameters
    ----------
    d : float, array or tensor
        Number of units (> 1).
    n : int
        Power (>= 2).

    Returns
    -------
    Same type as ``d``.
    """
    n = check_int(n, "n", minimum=2)
    if isinstance(d, torch.Tensor):
        check_tensor(d, "d", floating=True)
        if not bool((d > 1).all()):
            raise ValueError("d must be > 1")
        if 2 * n - 3 <= _EXACT_DOUBLE_FACTORIAL:
            return d ** (n - 1) / (2 * double_factorial(2 * n - 3) * torch.log(d))
        log_c = (n - 1) * torch.log(d) - math.log(2.0) - _log_double_factorial(2 * n - 3)
        return torch.exp(log_c - torch.log(torch.log(d)))
    import numpy as np

    d_arr = _real_array(d, "d")
    if np.any(d_arr <= 1):
        raise ValueError("d must be > 1")
    if 2 * n - 3 <= _EXACT_DOUBLE_FACTORIAL:
        out = d_arr ** (n - 1) / (2 * double_factorial(2 * n - 3) * np.log(d_arr))
    else:  # (2n-3)!! beyond float64: the same formula in the log domain (it may underflow to 0)
        log_c = (n - 1) * np.log(d_arr) - math.log(2.0) - _log_double_factorial(2 * n - 3)
        out = np.exp(log_c - np.log(np.log(d_arr)))
    return float(out) if out.ndim == 0 else out


def exp_capacity_rate(rho: float = 0.0) -> float:
    """Rate ``alpha = I(1 - 2 rho) / 2`` of Demircigil et al. (2017)
    (:math:numref:`eq-dense-exp-rate`).

    ``I(x) = ((1 + x) ln(1 + x) + (1 - x) ln(1 - x)) / 2``; ``N = exp(alpha d)`` patterns are
    stored with retrieval from a fraction ``rho`` of flipped bits when ``alpha`` is below this
    rate. At ``rho = 0`` it is ``ln(2) / 2``, i.e. ``N ~ 2^(d/2)``.
    """
    rho = check_probability(rho, "rho")
    if rho >= 0.5:
        raise ValueError(f"rho must be < 0.5, got {rho}")
    x = 1.0 - 2.0 * rho

    def xlogx(t: float) -> float:
        return 0.0 if t == 0 else t * math.log(t)

    return 0.5 * (xlogx(1 + x) + xlogx(1 - x)) / 2.0


def exp_capacity_pairs(d: Any, p_ok: float = 0.5) -> Any:
    """Finite-``d`` estimate of the exponential model's capacity from close pairs
    (:math:numref:`eq-dense-pairs`).

    Two stored patterns at Hamming distance 1 cannot both be fixed points, and at large
    ``beta d`` nothing else matters to leading order. The number of such pairs among ``N``
    random patterns is close to Poisson with mean ``N (N - 1) d / 2^(d+1)``, so all patterns
    are fixed points with probability ``p_ok`` when
    ``N (N - 1) / 2 = 2^d ln(1 / p_ok) / d``.

    Parameters
    ----------
    d : float or array
        Number of units.
    p_ok : float
        Target probability that all patterns are fixed points, in (0, 1).

    Returns
    -------
    float or array
        The ``N`` solving the equation above (real-valued).
    """
    import numpy as np

    p_ok = check_probability(p_ok, "p_ok", open_left=True)
    if p_ok >= 1:
        raise ValueError("p_ok must be < 1")
    d_arr = _real_array(d, "d")
    if np.any(d_arr < 1):
        raise ValueError(f"d must be finite and >= 1, got {d}")
    pairs = 2.0**d_arr * math.log(1.0 / p_ok) / d_arr  # N (N - 1) / 2
    out = 0.5 + np.sqrt(0.25 + 2.0 * pairs)
    return float(out) if out.ndim == 0 else out


def poly_capacity_gaussian(d: int, n: int, level: float = 0.5) -> float:
    """Finite-``d`` capacity of ``phi(x) = x^n`` in the Gaussian signal-to-noise picture
    (:math:numref:`eq-dense-snr`).

    For a stored pattern ``x_i`` and unit ``j``, ``x_ij g_j = S + sum_{i' != i} eps_i' D(c_i'j)``
    with the signal ``S = d^n - (d - 2)^n``, independent random signs ``eps_i'`` and
    ``D(c) = (c + 1)^n - (c - 1)^n``, each ``c_i'j`` a sum of ``d - 1`` random signs. Treating
    the noise as Gaussian with the exact variance ``(N - 1) E[D(c)^2]`` and the ``d`` units as
    independent, a pattern is a fixed point with probability
    ``(1 - Phi(-S / sqrt((N - 1) E[D^2])))^d``; this returns the (real) ``N`` at which that
    probability equals ``level``.

    Parameters
    ----------
    d : int
        Number of units (>= 2).
    n : int
        Power (>= 1).
    level : float
        Target probability in (0, 1).

    Returns
    -------
    float
    """
    d = check_int(d, "d", minimum=2)
    n = check_int(n, "n", minimum=1)
    level = check_probability(level, "level", open_left=True)
    if level >= 1:
        raise ValueError("level must be < 1")
    m = d - 1
    k = torch.arange(m + 1, dtype=torch.float64)
    log_pmf = (
        torch.lgamma(torch.tensor(m + 1.0, dtype=torch.float64))
        - torch.lgamma(k + 1)
        - torch.lgamma(m - k + 1)
        - m * math.log(2.0)
    )
    c = 2 * k - m
    var_d = float((torch.exp(log_pmf) * ((c + 1) ** n - (c - 1) ** n) ** 2).sum())
    signal = float(d**n - (d - 2) ** n)
    # per-unit error p with (1 - p)^d = level
    p = -math.expm1(math.log(level) / d)
    # Phi(-z) = p  ->  z from the inverse normal tail (bisection on erfc, monotone)
    lo, hi = 0.0, 40.0
    for _ in range(200):
        z = 0.5 * (lo + hi)
        if 0.5 * math.erfc(z / math.sqrt(2.0)) > p:
            lo = z
        else:
            hi = z
    z = 0.5 * (lo + hi)
    return 1.0 + signal**2 / (z**2 * var_d)


# ---------------------------------------------------------------------- capacity experiments
def stable_fraction(
    N: int,
    d: int,
    F: str = "poly",
    n: int = 3,
    beta: float = 1.0,
    trials: int = 4,
    probes: int = 200,
    generator: torch.Generator | None = None,
) -> float:
    """Fraction of stored patterns that are fixed points, for random +-1 patterns (sec. 3.4).

    Draws ``trials`` independent sets of ``N`` patterns of dimension ``d``; in each, tests up
    to ``probes`` of the stored patterns with :meth:`DenseAssociativeMemory.is_fixed_point`.

    Returns
    -------
    float
        Estimated probability that a stored pattern is a fixed point.
    """
    N = check_int(N, "N", minimum=1)
    d = check_int(d, "d", minimum=1)
    trials = check_int(trials, "trials", minimum=1)
    probes = check_int(probes, "probes", minimum=1)
    check_generator(generator, device="cpu")
    ok = 0
    total = 0
    for _ in range(trials):
        x = torch.randint(0, 2, (N, d), generator=generator).to(torch.float64) * 2 - 1
        dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
        k = min(probes, N)
        ok += int(dam.is_fixed_point(x[:k]).sum())
        total += k
    return ok / total


def capacity_bisect(
    d: int,
    F: str = "poly",
    n: int = 3,
    beta: float = 1.0,
    level: float = 0.5,
    trials: int = 4,
    probes: int = 200,
    seed: int = 0,
) -> int:
    """Measured capacity: largest ``N`` whose stable fraction is at least ``level`` (sec. 3.4).

    Evaluates :func:`stable_fraction` with the same seed at every ``N`` (common random
    numbers, so the estimate is smooth in ``N``), doubles ``N`` until the fraction drops below
    ``level`` and bisects.

    Returns
    -------
    int
        The estimated ``N_max(d)``.
    """
    level = check_probability(level, "level", open_left=True)
    seed = check_int(seed, "seed")

    def frac(N: int) -> float:
        g = torch.Generator().manual_seed(seed)
        return stable_fraction(N, d, F=F, n=n, beta=beta, trials=trials, probes=probes, generator=g)

    lo, hi = 1, 2
    while frac(hi) >= level:
        lo, hi = hi, 2 * hi
        if hi > 1 << 20:
            raise ValueError("capacity above 2^20 patterns: choose a smaller d")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if frac(mid) >= level:
            lo = mid
        else:
            hi = mid
    return lo


def first_unstable_count(
    d: int,
    beta: float = 1.0,
    n_max: int = 1 << 16,
    generator: torch.Generator | None = None,
) -> int:
    """Smallest ``N`` at which not all of the first ``N`` patterns are fixed points (sec. 3.5).

    Draws one random sequence of +-1 patterns and stores its first ``N`` in an exponential
    memory (``F = "exp"``); returns the first ``N`` (found by doubling and bisection) for which
    some stored pattern is not a fixed point. Over many sequences its median estimates the
    ``N`` at which all patterns are fixed points with probability 1/2.

    Parameters
    ----------
    d : int
        Number of units.
    beta : float
        Inverse temperature of ``phi(x) = exp(beta x)``.
    n_max : int
        Cap on ``N`` (returned when no failure is found below it).
    generator : torch.Generator, optional

    Returns
    -------
    int
    """
    d = check_int(d, "d", minimum=1)
    n_max = check_int(n_max, "n_max", minimum=2)
    check_generator(generator, device="cpu")
    pool = torch.randint(0, 2, (n_max, d), generator=generator).to(torch.float64) * 2 - 1

    def all_ok(k: int) -> bool:
        x = pool[:k]
        return bool(DenseAssociativeMemory(x, F="exp", beta=beta).is_fixed_point(x).all())

    lo, hi = 1, 2  # all_ok(lo) is True (one pattern is always a fixed point)
    while hi < n_max and all_ok(hi):
        lo, hi = hi, min(2 * hi, n_max)
    if hi == n_max and all_ok(hi):
        return n_max
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if all_ok(mid):
            lo = mid
        else:
            hi = mid
    return hi


# ---------------------------------------------------------------------- demo
def draw_recall(
    F: str = "exp",
    n: int = 3,
    corruption: float = 0.3,
    letters: str = "ABCDEFGHIJKLMNOP",
    target: int = 0,
    size: int = 12,
    beta: float = 1.0,
    seed: int = 0,
    ax=None,
):
    """Demo: recall a letter from a corrupted cue in a dense memory of letters (chapter 3).

    Stores the glyphs of ``letters`` (``size x size`` pixels, +-1), flips a fraction
    ``corruption`` of the pixels of letter ``target`` and runs
    :meth:`DenseAssociativeMemory.recall`. Draws, side by side, the cue, the recalled state
    and the stored letter, with the overlap ``m = xi^T x / d`` of the result in the title.

    Parameters
    ----------
    F : {"poly", "rectified", "exp"}
    n : int
        Power for the polynomial kinds.
    corruption : float
        Fraction of flipped pixels, in [0, 1].
    letters : str
        Letters to store.
    target : int
        Index of the letter to corrupt.
    size : int
        Glyph side in pixels.
    beta : float
        Inverse temperature for ``"exp"``.
    seed : int
        Seed of the corruption.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .data import glyphs

    plt = require("matplotlib.pyplot", "viz", feature="dense.draw_recall")
    check_choice(F, "F", _KINDS)
    corruption = check_probability(corruption, "corruption")
    target = check_int(target, "target", minimum=0)
    if target >= len(letters):
        raise ValueError(f"target must be < len(letters) = {len(letters)}, got {target}")
    x = glyphs(letters, size=size, dtype=torch.float64)
    d = x.shape[1]
    g = torch.Generator().manual_seed(check_int(seed, "seed"))
    flip = torch.rand(d, generator=g) < corruption
    cue = torch.where(flip, -x[target], x[target])
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    out = dam.recall(cue, max_sweeps=50)
    m = float(out @ x[target]) / d
    gap = torch.ones(size, 1, dtype=torch.float64) * 0.0
    img = torch.cat(
        [cue.view(size, size), gap, out.view(size, size), gap, x[target].view(size, size)], dim=1
    )
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 1.9))
    ax.imshow(img.numpy(), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([size / 2 - 0.5, 1.5 * size + 0.5, 2.5 * size + 1.5])
    ax.set_xticklabels(["cue", "recalled", "stored"])
    ax.set_yticks([])
    kind = f"exp, beta={beta:g}" if F == "exp" else f"{F}, n={n}"
    ax.set_title(f"{kind}; {corruption:.0%} flipped; m = {m:.2f}", fontsize=9)
    return ax
