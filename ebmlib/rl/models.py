r"""Langevin and Hamiltonian Monte Carlo, and two deep energy models (chapters 11 and 12).

* :func:`langevin_sample`: unadjusted Langevin dynamics (ULA) or its Metropolis-adjusted
  version (MALA) for a density :math:`p(x) \propto e^{-E(x)}` given by an energy function,
  optionally restricted to a box (chapter 11, :math:numref:`eq-energy-policies-ula`,
  :math:numref:`eq-energy-policies-mala`);
* :func:`hmc_sample`: Hamiltonian (hybrid) Monte Carlo with leapfrog steps (chapter 12,
  :math:numref:`eq-hopfield-q-leapfrog`);
* :class:`DeepEnergyModel`: the deep energy model of Ngiam et al. (2011): deterministic
  feed-forward layers topped by a layer of stochastic binary units that are summed out (a
  softplus free energy), plus a Gaussian term on the visible vector, trained by maximum
  likelihood with Hamiltonian Monte Carlo negatives (:math:numref:`eq-hopfield-q-dem`);
* :class:`MLPEnergy`: a generic MLP energy trained with persistent Langevin negatives and an
  energy-magnitude penalty, after Du & Mordatch (2019);
* :func:`ring_mixture`: a 2-D toy density (Gaussians on a circle) with an exact log density,
  and :func:`grid` for the quadrature of :math:`\log Z` in two dimensions
  (:math:numref:`eq-hopfield-q-gridz`).

See chapters 11 (:ref:`chapter-energy-policies`) and 12 (:ref:`chapter-hopfield-q`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as nnf

from .._validation import (
    check_finite,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_tensor,
)
from ..utils import progress

__all__ = [
    "langevin_sample",
    "hmc_sample",
    "DeepEnergyModel",
    "MLPEnergy",
    "ring_mixture",
    "ring_mixture_log_density",
    "grid",
]

EnergyFn = Callable[[torch.Tensor], torch.Tensor]


def _check_bounds(bounds, d: int, like: torch.Tensor):
    if bounds is None:
        return None
    lo, hi = bounds
    lo = torch.as_tensor(lo, dtype=like.dtype, device=like.device).expand(d)
    hi = torch.as_tensor(hi, dtype=like.dtype, device=like.device).expand(d)
    if not bool((hi > lo).all()):
        raise ValueError("bounds must be (low, high) with high > low in every coordinate")
    return lo, hi


def _energy_and_grad(energy_fn: EnergyFn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy_fn(x)
        if e.shape != x.shape[:1]:
            raise ValueError(f"energy_fn must map [B, d] to [B], got shape {tuple(e.shape)}")
        (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), g.detach()


def langevin_sample(
    energy_fn: EnergyFn,
    x0: torch.Tensor,
    step_size: float,
    n_steps: int,
    generator: torch.Generator | None = None,
    bounds: tuple | None = None,
    *,
    metropolis: bool = False,
    return_acceptance: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, float]:
    r"""Langevin dynamics for :math:`p(x) \propto e^{-E(x)}` (chapter 11,
    :math:numref:`eq-energy-policies-ula`).

    Each step proposes

    .. math::

        x' = x - \Delta t\, \nabla E(x) + \sqrt{2\Delta t}\, \chi, \qquad \chi \sim N(0, I).

    Without ``metropolis`` (ULA) the proposal is always taken and, with ``bounds``, clipped to
    the box; its stationary law is :math:`p` only as :math:`\Delta t \to 0`. With
    ``metropolis`` (MALA) the proposal is accepted with probability
    :math:`\min(1, e^{-E(x') + E(x)} q(x \mid x') / q(x' \mid x))`, where
    :math:`q(x' \mid x) = N(x'; x - \Delta t\,\nabla E(x), 2\Delta t\, I)`
    (:math:numref:`eq-energy-policies-mala`); the chain then
    leaves :math:`p` exactly invariant for every step size. With ``bounds`` a proposal outside
    the box is rejected, which makes the target :math:`p` restricted to the box.

    Parameters
    ----------
    energy_fn : callable
        Maps ``[B, d]`` to energies ``[B]`` (differentiable).
    x0 : torch.Tensor
        Initial points, ``[B, d]``.
    step_size : float
        :math:`\Delta t > 0`.
    n_steps : int
        Number of steps, >= 0.
    generator : torch.Generator, optional
        Source of the noise (and of the acceptance draws).
    bounds : (low, high), optional
        Box bounds (floats or ``[d]`` tensors).
    metropolis : bool
        Metropolis-adjusted (MALA) instead of unadjusted (ULA).
    return_acceptance : bool
        Also return the mean acceptance rate (1.0 for ULA).

    Returns
    -------
    torch.Tensor
        Final points ``[B, d]`` (and the acceptance rate when asked).

    Raises
    ------
    ValueError
        If ``energy_fn`` returns a NaN or infinite energy or gradient at ``x0`` or along the
        chain, or a NaN (or :math:`-\infty`) at a MALA proposal (checked at the start and once
        at the end; :math:`+\infty` at a proposal is a zero density and simply rejected).
    """
    if not callable(energy_fn):
        raise TypeError("energy_fn must be callable")
    x0 = check_tensor(x0, "x0", ndim=2, floating=True)
    check_finite(x0, "x0")
    step_size = check_positive(step_size, "step_size")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    check_generator(generator, device=x0.device)
    box = _check_bounds(bounds, x0.shape[1], x0)
    x = x0.detach().clone()
    if box is not None:
        x = torch.minimum(torch.maximum(x, box[0]), box[1])
    scale = math.sqrt(2.0 * step_size)
    e, g = _energy_and_grad(energy_fn, x)
    _check_energies(e, g, "at x0")
    accepted = 0.0
    bad = torch.zeros((), dtype=torch.bool, device=x.device)  # non-finite energy seen (no sync)
    for _ in range(n_steps):
        prop = x - step_size * g + scale * _standard_normal(x, generator)
        if not metropolis:
            if box is not None:
                prop = torch.minimum(torch.maximum(prop, box[0]), box[1])
            x = prop
            e, g = _energy_and_grad(energy_fn, x)
            accepted += 1.0
            continue
        inside = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        if box is not None:
            inside = ((prop >= box[0]) & (prop <= box[1])).all(-1)
            prop = torch.where(inside[:, None], prop, x)  # keep energies finite
        e_p, g_p = _energy_and_grad(energy_fn, prop)
        # +inf is a legitimate "forbidden" energy (rejected); NaN or -inf is a broken one
        finite = torch.isfinite(e_p)
        broken = torch.isnan(e_p) | (e_p == -math.inf) | (finite & ~torch.isfinite(g_p).all(-1))
        bad |= broken.any()
        # log q(x | x') - log q(x' | x), both Gaussians with variance 2 eps
        fwd = ((prop - x + step_size * g) ** 2).sum(-1)
        bwd = ((x - prop + step_size * g_p) ** 2).sum(-1)
        log_a = -(e_p - e) - (bwd - fwd) / (4.0 * step_size)
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        take = (torch.log(u) < log_a) & inside
        x = torch.where(take[:, None], prop, x)
        e = torch.where(take, e_p, e)
        g = torch.where(take[:, None], g_p, g)
        accepted += float(take.to(x.dtype).mean())
    if bool(bad):
        raise ValueError("energy_fn returned a NaN energy (or gradient) or -inf at a proposal")
    _check_energies(e, g, "along the chain")
    rate = accepted / n_steps if n_steps else 1.0
    return (x, rate) if return_acceptance else x


def _standard_normal(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Noise ``z ~ N(0, I)`` shaped like ``x`` (the Langevin noise; its scale is applied by the
    caller)."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _check_energies(e: torch.Tensor, g: torch.Tensor, where: str) -> None:
    """Raise if ``energy_fn`` gave a NaN/inf energy or gradient (checked once, not per step)."""
    if not bool(torch.isfinite(e).all() & torch.isfinite(g).all()):
        raise ValueError(f"energy_fn returned a NaN or infinite energy or gradient {where}")


def hmc_sample(
    energy_fn: EnergyFn,
    x0: torch.Tensor,
    step_size: float,
    n_leapfrog: int,
    n_steps: int = 1,
    generator: torch.Generator | None = None,
    *,
    return_acceptance: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, float]:
    r"""Hamiltonian (hybrid) Monte Carlo for :math:`p(x) \propto e^{-E(x)}` (chapter 12,
    :math:numref:`eq-hopfield-q-leapfrog`).

    Each of the ``n_steps`` steps draws a momentum :math:`\chi \sim N(0, I)`, follows the
    Hamiltonian :math:`H(x, \chi) = E(x) + \tfrac12\lVert\chi\rVert^2` for ``n_leapfrog``
    leapfrog steps of size :math:`\Delta t`,

    .. math::

        \chi \leftarrow \chi - \tfrac{\Delta t}2 \nabla E(x),\quad
        x \leftarrow x + \Delta t\, \chi,\quad
        \chi \leftarrow \chi - \tfrac{\Delta t}2 \nabla E(x),

    and accepts the end point with probability :math:`\min(1, e^{H_0 - H_1})`. Leapfrog is
    volume-preserving and reversible (with the momentum flipped), so the chain leaves :math:`p`
    exactly invariant for every step size (Duane et al. 1987; Neal 2011).

    Random numbers, per step: ``torch.randn(x.shape)`` for the momentum, then
    ``torch.rand(B)`` for the acceptance (chapter 12's from-scratch cell draws them in the
    same order).

    Parameters
    ----------
    energy_fn : callable
        Maps ``[B, d]`` to energies ``[B]`` (differentiable).
    x0 : torch.Tensor
        Initial points ``[B, d]``.
    step_size : float
        Leapfrog step :math:`\Delta t > 0`.
    n_leapfrog : int
        Leapfrog steps per proposal, >= 1.
    n_steps : int
        Proposals (momentum refreshments), >= 0.
    generator : torch.Generator, optional
    return_acceptance : bool
        Also return the mean acceptance rate.

    Returns
    -------
    torch.Tensor
        Final points ``[B, d]`` (and the acceptance rate when asked).

    Raises
    ------
    ValueError
        If ``energy_fn`` returns a NaN or infinite energy or gradient at ``x0`` or at an
        accepted point (a non-finite energy at a proposal is rejected).
    """
    if not callable(energy_fn):
        raise TypeError("energy_fn must be callable")
    x0 = check_tensor(x0, "x0", ndim=2, floating=True)
    check_finite(x0, "x0")
    eps = check_positive(step_size, "step_size")
    n_leapfrog = check_int(n_leapfrog, "n_leapfrog", minimum=1)
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    check_generator(generator, device=x0.device)
    x = x0.detach().clone()
    e, g = _energy_and_grad(energy_fn, x)
    _check_energies(e, g, "at x0")
    accepted = 0.0
    for _ in range(n_steps):
        chi = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        h0 = e + 0.5 * (chi * chi).sum(-1)
        y, e_y, g_y = x, e, g
        for _ in range(n_leapfrog):
            chi = chi - 0.5 * eps * g_y
            y = y + eps * chi
            e_y, g_y = _energy_and_grad(energy_fn, y)
            chi = chi - 0.5 * eps * g_y
        h1 = e_y + 0.5 * (chi * chi).sum(-1)
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        ok = torch.isfinite(h1) & torch.isfinite(g_y).all(-1)
        take = (torch.log(u) < torch.where(ok, h0 - h1, torch.full_like(h1, -math.inf))) & ok
        x = torch.where(take[:, None], y, x)
        e = torch.where(take, e_y, e)
        g = torch.where(take[:, None], g_y, g)
        accepted += float(take.to(x.dtype).mean())
    _check_energies(e, g, "along the chain")
    rate = accepted / n_steps if n_steps else 1.0
    return (x, rate) if return_acceptance else x


# ---------------------------------------------------------------------------------------------
def ring_mixture(
    n: int,
    *,
    n_modes: int = 8,
    radius: float = 2.0,
    sigma: float = 0.25,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` samples from an equal-weight mixture of ``n_modes`` Gaussians on a circle.

    Returns ``[n, 2]``. See :func:`ring_mixture_log_density` for the exact density.
    """
    n = check_int(n, "n", minimum=1)
    n_modes = check_int(n_modes, "n_modes", minimum=1)
    radius = check_positive(radius, "radius")
    sigma = check_positive(sigma, "sigma")
    check_generator(generator)
    k = torch.randint(n_modes, (n,), generator=generator)
    ang = 2 * math.pi * k.to(dtype) / n_modes
    centres = radius * torch.stack([torch.cos(ang), torch.sin(ang)], -1)
    return centres + sigma * torch.randn(n, 2, generator=generator, dtype=dtype)


def ring_mixture_log_density(
    x: torch.Tensor, *, n_modes: int = 8, radius: float = 2.0, sigma: float = 0.25
) -> torch.Tensor:
    """Exact log density of :func:`ring_mixture` at ``x`` (``[B, 2]`` -> ``[B]``)."""
    x = check_tensor(x, "x", ndim=2, floating=True)
    if x.shape[1] != 2:
        raise ValueError(f"x must have shape [B, 2], got {tuple(x.shape)}")
    k = torch.arange(n_modes, dtype=x.dtype, device=x.device)
    ang = 2 * math.pi * k / n_modes
    centres = radius * torch.stack([torch.cos(ang), torch.sin(ang)], -1)  # [K, 2]
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)  # [B, K]
    logn = -d2 / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
    return torch.logsumexp(logn, -1) - math.log(n_modes)


def grid(
    low: float, high: float, n: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, float]:
    """Cell centres of an ``n x n`` grid on ``[low, high]^2`` (``[n*n, 2]``) and the cell area."""
    n = check_int(n, "n", minimum=2)
    if not high > low:
        raise ValueError("grid needs high > low")
    h = (high - low) / n
    c = low + h * (torch.arange(n, dtype=dtype) + 0.5)
    gx, gy = torch.meshgrid(c, c, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1), h * h


class _EnergyModel(torch.nn.Module):
    """Shared behaviour of the two deep energy models: shape checks, grid normaliser, density."""

    dim: int

    def _check_x(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        x = check_tensor(x, name, ndim=2, floating=True)
        if x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape [B, {self.dim}], got {tuple(x.shape)}")
        return x

    def energy(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The energy of ``x`` ``[B, d]`` -> ``[B]`` (:meth:`energy`)."""
        return self.energy(x)

    def log_partition_grid(self, low: float = -4.0, high: float = 4.0, n: int = 200) -> float:
        r""":math:`\log Z = \log\int_{[low, high]^2} e^{-E}` by the midpoint rule on an ``n x n``
        grid (2-D only; :math:numref:`eq-hopfield-q-gridz`).

        The integral is over the box only: the mass of :math:`e^{-E}` outside it is left out, so
        the result is a lower bound on the true :math:`\log Z` up to the quadrature error.
        Compare two boxes to see how much is missing.
        """
        if self.dim != 2:
            raise ValueError("log_partition_grid needs dim == 2")
        pts, area = grid(low, high, n)
        with torch.no_grad():
            e = self.energy(pts.to(next(self.parameters()).dtype)).double()
        return float(torch.logsumexp(-e, 0) + math.log(area))

    def log_density(self, x: torch.Tensor, log_z: float) -> torch.Tensor:
        """Normalised ``log p(x) = -E(x) - log Z`` for a given ``log_z``."""
        with torch.no_grad():
            return -self.energy(x) - log_z


def _uniform_init(layers: list[torch.nn.Module], generator: torch.Generator | None) -> None:
    with torch.no_grad():
        for m in layers:
            if isinstance(m, torch.nn.Linear):
                b = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * b)
                m.bias.zero_()


def _mlp_layers(dim: int, hidden: tuple[int, ...]) -> tuple[list[torch.nn.Module], int]:
    layers: list[torch.nn.Module] = []
    w = dim
    for h in hidden:
        layers += [torch.nn.Linear(w, check_int(h, "hidden", minimum=1)), torch.nn.SiLU()]
        w = h
    return layers, w


class DeepEnergyModel(_EnergyModel):
    r"""The deep energy model of Ngiam et al. (2011) (chapter 12,
    :math:numref:`eq-hopfield-q-dem`).

    Deterministic feed-forward layers :math:`f_\theta(x)` are topped by a layer of :math:`n_h`
    stochastic binary units :math:`h \in \{0, 1\}^{n_h}` with joint energy

    .. math::

        E(x, h) = \frac{\lVert x - b\rVert^2}{2 \varsigma^2} - h^\top (W f_\theta(x) + c).

    Summing the binary units out gives the free energy

    .. math::

        F(x) = -\log\sum_h e^{-E(x, h)}
             = \frac{\lVert x - b\rVert^2}{2 \varsigma^2} - \sum_{k=1}^{n_h}
               \operatorname{softplus}\big(w_k^\top f_\theta(x) + c_k\big),

    and the model density is :math:`p(x) = e^{-F(x)}/Z`. The Gaussian term keeps :math:`Z`
    finite (softplus grows at most linearly, and :math:`f_\theta` with SiLU layers grows at
    most linearly too). :meth:`energy` is :math:`F` (the energy of the visible vector, as a
    sampler sees it). :meth:`fit` is maximum likelihood with negatives from persistent
    Hamiltonian Monte Carlo chains (:func:`hmc_sample`), as Ngiam et al. train it.

    Parameters
    ----------
    dim : int
        Dimension of ``x``.
    hidden : tuple of int
        Widths of the deterministic layers (SiLU activations, smooth for the HMC gradients).
    n_units : int
        Number :math:`n_h` of stochastic binary units of the top layer.
    width : float
        Width :math:`\varsigma > 0` of the Gaussian visible term (its centre :math:`b` is
        learned).
    generator : torch.Generator, optional
        Source of the initial weights.
    confine : float, optional
        Deprecated: the quadratic coefficient of earlier versions; sets
        ``width = confine**-0.5``.
        (The generic MLP energy of earlier versions is :class:`MLPEnergy`.)
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: tuple[int, ...] = (64, 64),
        n_units: int = 32,
        *,
        width: float = 2.0,
        generator: torch.Generator | None = None,
        confine: float | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim", minimum=1)
        if confine is not None:
            warnings.warn(
                "DeepEnergyModel(confine=c) is deprecated: the model is now Ngiam et al.'s "
                "(Gaussian visible term of width c**-0.5); the generic MLP energy of earlier "
                "versions is MLPEnergy",
                DeprecationWarning,
                stacklevel=2,
            )
            width = check_positive(confine, "confine") ** -0.5
        self.width = check_positive(width, "width")
        check_generator(generator)
        layers, w = _mlp_layers(self.dim, tuple(hidden))
        self.features = torch.nn.Sequential(*layers)
        self.top = torch.nn.Linear(w, check_int(n_units, "n_units", minimum=1))
        self.b = torch.nn.Parameter(torch.zeros(self.dim))
        _uniform_init([*layers, self.top], generator)
        self.chains: torch.Tensor | None = None

    def unit_inputs(self, x: torch.Tensor) -> torch.Tensor:
        r"""Inputs :math:`W f_\theta(x) + c` of the binary units, ``[B, d]`` -> ``[B, n_h]``."""
        x = self._check_x(x)
        return self.top(self.features(x.to(self.b.dtype)))

    def unit_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`p(h_k = 1 \mid x) = \sigma(w_k^\top f_\theta(x) + c_k)`, ``[B, n_h]``."""
        with torch.no_grad():
            return torch.sigmoid(self.unit_inputs(x))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        r"""The free energy :math:`F(x)` (:math:numref:`eq-hopfield-q-dem`), ``[B, d]`` ->
        ``[B]``."""
        x = self._check_x(x)
        xx = x.to(self.b.dtype)
        quad = 0.5 * ((xx - self.b) ** 2).sum(-1) / self.width**2
        return (quad - nnf.softplus(self.top(self.features(xx))).sum(-1)).to(x.dtype)

    free_energy = energy

    def joint_energy(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r""":math:`E(x, h)` for ``x`` ``[B, d]`` and binary ``h`` ``[B, n_h]`` -> ``[B]``."""
        x = self._check_x(x)
        xx = x.to(self.b.dtype)
        h = check_tensor(h, "h", ndim=2).to(self.b.dtype)
        quad = 0.5 * ((xx - self.b) ** 2).sum(-1) / self.width**2
        return (quad - (h * self.top(self.features(xx))).sum(-1)).to(x.dtype)

    def fit(
        self,
        data: torch.Tensor,
        *,
        steps: int = 600,
        batch_size: int = 128,
        lr: float = 1e-3,
        n_chains: int = 512,
        leapfrog_steps: int = 5,
        step_size: float = 0.2,
        init_scale: float = 3.0,
        generator: torch.Generator | None = None,
        progress_bar: bool | None = None,
    ) -> dict[str, list[float]]:
        r"""Maximum likelihood with persistent Hamiltonian Monte Carlo negatives
        (:math:numref:`eq-hopfield-q-mlgrad`).

        Each step moves ``n_chains`` persistent chains (started uniformly in
        ``[-init_scale, init_scale]^d``) by one HMC proposal of ``leapfrog_steps`` leapfrog
        steps of size ``step_size``, and takes an Adam step on
        ``mean F(data minibatch) - mean F(chains)``, whose gradient is minus the
        log-likelihood gradient with the model expectation replaced by the chains.

        Returns a history with ``step``, ``gap`` (mean negative minus data free energy) and
        ``acceptance`` (HMC acceptance rate of the step).
        """
        data = self._check_x(data, "data")
        steps = check_int(steps, "steps", minimum=0)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        check_generator(generator)
        dtype = self.b.dtype
        data = data.to(dtype)
        opt = torch.optim.Adam(self.parameters(), lr=check_positive(lr, "lr"))
        if self.chains is None or self.chains.shape != (n_chains, self.dim):
            u = torch.rand(n_chains, self.dim, generator=generator, dtype=dtype)
            self.chains = (u * 2 - 1) * check_positive(init_scale, "init_scale")
        hist: dict[str, list[float]] = {"step": [], "gap": [], "acceptance": []}
        for t in progress(range(steps), desc="DeepEnergyModel", disable=_dis(progress_bar)):
            self.requires_grad_(False)
            try:
                self.chains, acc = hmc_sample(
                    self.energy, self.chains, step_size, leapfrog_steps, 1, generator,
                    return_acceptance=True,
                )  # fmt: skip
            finally:
                self.requires_grad_(True)
            idx = torch.randint(data.shape[0], (batch_size,), generator=generator)
            e_pos = self.energy(data[idx])
            e_neg = self.energy(self.chains)
            loss = e_pos.mean() - e_neg.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            hist["step"].append(t + 1)
            hist["gap"].append(float(-loss.detach()))
            hist["acceptance"].append(float(acc))
        return hist


class MLPEnergy(_EnergyModel):
    r"""A generic MLP energy :math:`E_\theta(x)` on :math:`\R^d`, after Du & Mordatch (2019).

    :math:`E_\theta(x) = \mathrm{MLP}_\theta(x) + \tfrac c2\lVert x\rVert^2` with
    :math:`p_\theta \propto e^{-E_\theta}`: no hidden units and no free energy, just a scalar
    network (the small quadratic keeps :math:`Z` finite). Trained by approximate maximum
    likelihood (:math:numref:`eq-hopfield-q-mlgrad`) with persistent Langevin chains as
    negatives, a fraction of them restarted from noise at every step, and a penalty on the
    squared energies, the recipe of Du & Mordatch. (This was ``DeepEnergyModel`` in earlier
    versions; :class:`DeepEnergyModel` is now the model of Ngiam et al.)

    Parameters
    ----------
    dim : int
        Dimension of ``x``.
    hidden : tuple of int
        Hidden widths (SiLU activations, smooth so that Langevin gradients are well behaved).
    confine : float
        Coefficient :math:`c \ge 0` of the confining quadratic.
    generator : torch.Generator, optional
        Source of the initial weights.
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: tuple[int, ...] = (64, 64),
        *,
        confine: float = 0.05,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_int(dim, "dim", minimum=1)
        self.confine = float(confine)
        if not self.confine >= 0:
            raise ValueError(f"confine must be >= 0, got {confine}")
        check_generator(generator)
        layers, w = _mlp_layers(self.dim, tuple(hidden))
        layers.append(torch.nn.Linear(w, 1))
        self.net = torch.nn.Sequential(*layers)
        _uniform_init(layers, generator)
        self.chains: torch.Tensor | None = None

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`E_\theta(x)`, ``[B, d]`` -> ``[B]``."""
        x = self._check_x(x)
        p = next(self.parameters())
        xx = x.to(p.dtype)
        return (self.net(xx)[:, 0] + 0.5 * self.confine * (xx * xx).sum(-1)).to(x.dtype)

    def fit(
        self,
        data: torch.Tensor,
        *,
        steps: int = 2000,
        batch_size: int = 128,
        lr: float = 1e-3,
        n_chains: int = 512,
        langevin_steps: int = 10,
        step_size: float = 0.01,
        reinit: float = 0.05,
        init_scale: float = 3.0,
        reg: float = 0.1,
        generator: torch.Generator | None = None,
        progress_bar: bool | None = None,
    ) -> dict[str, list[float]]:
        r"""Approximate maximum likelihood with persistent Langevin negatives
        (:math:numref:`eq-hopfield-q-mlgrad`).

        Each step draws a data minibatch, advances the persistent chains by ``langevin_steps``
        ULA steps (a fraction ``reinit`` of them restarted uniformly in
        ``[-init_scale, init_scale]^d``), and takes an Adam step on
        ``mean E(data) - mean E(negatives) + reg * (mean E(data)^2 + mean E(neg)^2)``; the small
        ``reg`` term keeps energies near zero.

        Returns a history with ``step`` and ``gap`` (mean negative minus data energy).
        """
        data = self._check_x(data, "data")
        steps = check_int(steps, "steps", minimum=0)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        langevin_steps = check_int(langevin_steps, "langevin_steps", minimum=1)
        reinit = check_probability(reinit, "reinit")
        check_generator(generator)
        dtype = next(self.parameters()).dtype
        data = data.to(dtype)
        opt = torch.optim.Adam(self.parameters(), lr=check_positive(lr, "lr"))
        if self.chains is None or self.chains.shape != (n_chains, self.dim):
            self.chains = (
                torch.rand(n_chains, self.dim, generator=generator, dtype=dtype) * 2 - 1
            ) * init_scale
        hist: dict[str, list[float]] = {"step": [], "gap": []}
        for t in progress(range(steps), desc="MLPEnergy", disable=_dis(progress_bar)):
            fresh = torch.rand(n_chains, generator=generator) < reinit
            new = torch.rand(n_chains, self.dim, generator=generator, dtype=dtype) * 2 - 1
            self.chains = torch.where(fresh[:, None], new * init_scale, self.chains)
            self.requires_grad_(False)
            try:
                self.chains = langevin_sample(
                    self.energy, self.chains, step_size, langevin_steps, generator
                )
            finally:
                self.requires_grad_(True)
            idx = torch.randint(data.shape[0], (batch_size,), generator=generator)
            e_pos = self.energy(data[idx])
            e_neg = self.energy(self.chains)
            loss = e_pos.mean() - e_neg.mean() + reg * ((e_pos**2).mean() + (e_neg**2).mean())
            opt.zero_grad()
            loss.backward()
            opt.step()
            hist["step"].append(t + 1)
            hist["gap"].append(float((e_neg.mean() - e_pos.mean()).detach()))
        return hist


def _dis(progress_bar: bool | None) -> bool | None:
    return None if progress_bar is None else not progress_bar
