"""Wrong implementations that the checks of Part I-II must catch (chapters 1-3).

Each case below replaces one piece of ``ebmlib`` by a plausible mistake (a missing
temperature, a wrong sign, a forgotten factor, the textbook tie rule, a diagonal left in the
weights, ...) and runs one of the ``check_*`` functions that the ordinary tests run on the
real implementation (``test_ising.py``, ``test_hopfield.py``, ``test_dense.py``). The test
passes only if that check FAILS, i.e. raises ``AssertionError``: a check that a wrong
implementation also passes proves nothing. The real implementation passes the same checks, with the
same arguments and seeds, in the ordinary tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import test_dense as TD
import test_hopfield as TH
import test_ising as TI
import torch

from ebmlib import _multispin, dense, hopfield, ising

# The originals, for variants that change only part of a function's behaviour.
_FLIP = ising._flip_probability
_COLOURS = ising.colour_masks
_CLASS_ENERGIES = _multispin.class_energy_changes
_THRESHOLDS = _multispin._thresholds
_HEBB = hopfield.hebbian
_PINV = hopfield.pseudoinverse
_POLY_CAP = dense.poly_capacity
_EXP_RATE = dense.exp_capacity_rate

# --------------------------------------------------------------------------------------------
# Chapter 1: wrong Ising samplers
# --------------------------------------------------------------------------------------------


def _flip_textbook_tie(dE, T, rule):
    """Metropolis as min(1, exp(-dE/T)): a tie is accepted surely."""
    if rule == "metropolis":
        return torch.where(dE <= 0, 1.0, torch.exp(-dE / T))
    return torch.sigmoid(-dE / T)


def _flip_scaled(scale: float, metropolis: bool = True, heat_bath: bool = True):
    """The rule evaluated at scale * dE / T (a wrong temperature scaling or missing factor)."""

    def f(dE, T, rule):
        if rule == "metropolis" and metropolis:
            x = scale * dE
            return torch.where(x < 0, 1.0, torch.where(x == 0, 0.5, torch.exp(-x / T)))
        if rule == "heat_bath" and heat_bath:
            return torch.sigmoid(-scale * dE / T)
        return _FLIP(dE, T, rule)

    return f


def _flip_without_T(dE, T, rule):
    """The temperature forgotten: exp(-dE) and sigmoid(-dE)."""
    if rule == "metropolis":
        return torch.where(dE < 0, 1.0, torch.where(dE == 0, 0.5, torch.exp(-dE)))
    return torch.sigmoid(-dE)


def _flip_wrong_sign(dE, T, rule):
    """The sign of dE flipped: uphill moves favoured (samples exp(+E/T))."""
    if rule == "metropolis":
        return torch.where(dE > 0, 1.0, torch.where(dE == 0, 0.5, torch.exp(dE / T)))
    return torch.sigmoid(dE / T)


def _flip_always_metropolis_coin(dE, T, rule):
    """Heat bath replaced by 'flip with probability 1/2 unless downhill' (no T at all)."""
    if rule == "heat_bath":
        return torch.where(dE < 0, 1.0, torch.full_like(dE, 0.5))
    return _FLIP(dE, T, rule)


def _reference_variant(
    *,
    field_sign: float = 1.0,
    factor: float = 2.0,
    shared_u: bool = False,
    two_neighbours: bool = False,
):
    """A copy of the reference sampler with one mistake."""

    def sweeps_fn(spins, T, J, h, sweeps, rule, gen):
        s = spins.to(torch.float64, copy=True)
        if isinstance(T, torch.Tensor):
            T = T[..., None]
        masks = ising.colour_masks(s.shape[-1], s.device)
        for _ in range(sweeps):
            u_shared = None
            for mask in masks:
                xi = s[..., mask]
                nb = s.roll(1, -1) + s.roll(-1, -1)
                if not two_neighbours:
                    nb = nb + s.roll(1, -2) + s.roll(-1, -2)
                n = nb[..., mask]
                dE = factor * xi * (J * n + field_sign * h)
                if shared_u and u_shared is not None and u_shared.shape == xi.shape:
                    u = u_shared
                else:
                    u = torch.rand(xi.shape, generator=gen, dtype=torch.float64)
                    u_shared = u
                p = ising._flip_probability(dE, T, rule)
                s[..., mask] = torch.where(u < p, -xi, xi)
        return s.to(spins.dtype)

    return sweeps_fn


def _checkerboard_for_odd_L(L, device=None):
    """Two colours for every L: at odd L neighbours across the seam share a colour."""
    i = torch.arange(L, device=device)
    c = (i[:, None] + i[None, :]) % 2
    return [c == k for k in range(2)]


def _only_first_colour(L, device=None):
    return _COLOURS(L, device)[:1]


def _class_energies_wrong_field(J, h):
    """The bit-packed engine with the field's sign flipped (spin bit read the wrong way)."""
    return [(s, k, dE) for (s, k, dE) in _CLASS_ENERGIES(J, -h)]


def _thresholds_halved(p):
    """The engine's 24-bit acceptance thresholds off by one bit (p / 2). Halving every flip
    probability keeps detailed balance (a lazier chain with the same stationary law), so only
    the exact one-sweep kernel can see it."""
    return _THRESHOLDS(p) // 2


@dataclass
class Variant:
    name: str
    patches: list[tuple[Any, str, Any]]
    check: Callable[[], None]
    marks: list[Any] = field(default_factory=list)


ISING = [
    # the textbook tie rule: non-ergodic at h = 0
    Variant(
        "ising-tie-accepted-surely/spectrum",
        [(ising, "_flip_probability", _flip_textbook_tie)],
        lambda: TI.check_single_unit_eigenvalue(3, 2.5, 0.0, "metropolis"),
    ),
    Variant(
        "ising-tie-accepted-surely/every-start",
        [(ising, "_flip_probability", _flip_textbook_tie)],
        lambda: TI.check_every_start_reaches(3, 0.8, 0.0, "metropolis", "plain", 20, 200),
    ),
    Variant(
        "ising-tie-accepted-surely/trapped-L4-multispin",
        [(ising, "_flip_probability", _flip_textbook_tie)],
        lambda: TI.check_trapped_starts_L4(2.5, "metropolis", "multispin"),
    ),
    Variant(
        "ising-tie-accepted-surely/stripe-L32",
        [(ising, "_flip_probability", _flip_textbook_tie)],
        lambda: TI.check_stripe_relaxes("metropolis", "multispin"),
    ),
    # temperature errors, at beta > 1 and beta < 1
    Variant(
        "ising-metropolis-missing-T/one-sweep",
        [(ising, "_flip_probability", _flip_without_T)],
        lambda: TI.check_one_sweep_law(2, 3.0, -0.5, "metropolis", "plain"),
    ),
    Variant(
        "ising-heat-bath-missing-T/stays-exact-multispin",
        [(ising, "_flip_probability", _flip_without_T)],
        lambda: TI.check_stays_exact(4, 2.6, 0.0, "heat_bath", "multispin"),
    ),
    Variant(
        "ising-metropolis-dE-over-2T/stays-exact",
        [(ising, "_flip_probability", _flip_scaled(0.5))],
        lambda: TI.check_stays_exact(3, 0.7, 0.0, "metropolis", "plain"),
    ),
    Variant(
        "ising-heat-bath-2dE-over-T/stays-exact",
        [(ising, "_flip_probability", _flip_scaled(2.0))],
        lambda: TI.check_stays_exact(4, 2.6, 0.0, "heat_bath", "plain"),
    ),
    Variant(
        "ising-metropolis-wrong-sign/stays-exact-multispin",
        [(ising, "_flip_probability", _flip_wrong_sign)],
        lambda: TI.check_stays_exact(4, 1.6, 0.4, "metropolis", "multispin"),
    ),
    Variant(
        "ising-heat-bath-wrong-sign/one-sweep",
        [(ising, "_flip_probability", _flip_wrong_sign)],
        lambda: TI.check_one_sweep_law(2, 0.8, 0.0, "heat_bath", "plain"),
    ),
    Variant(
        "ising-heat-bath-as-coin/stays-exact",
        [(ising, "_flip_probability", _flip_always_metropolis_coin)],
        lambda: TI.check_stays_exact(3, 2.2, 0.2, "heat_bath", "plain"),
    ),
    # errors in the reference sampler's body
    Variant(
        "ising-reference-field-sign/stays-exact",
        [(ising, "_reference_sweeps", _reference_variant(field_sign=-1.0))],
        lambda: TI.check_stays_exact(3, 2.2, 0.2, "metropolis", "plain"),
    ),
    Variant(
        "ising-reference-dE-without-factor-2/one-sweep",
        [(ising, "_reference_sweeps", _reference_variant(factor=1.0))],
        lambda: TI.check_one_sweep_law(2, 1.5, 0.3, "heat_bath", "plain"),
    ),
    Variant(
        "ising-reference-two-neighbours/stays-exact",
        [(ising, "_reference_sweeps", _reference_variant(two_neighbours=True))],
        lambda: TI.check_stays_exact(4, 2.6, 0.0, "metropolis", "plain"),
    ),
    Variant(
        "ising-reference-one-uniform-per-sweep/one-sweep",
        [(ising, "_reference_sweeps", _reference_variant(shared_u=True))],
        lambda: TI.check_one_sweep_law(2, 3.0, -0.5, "heat_bath", "plain"),
    ),
    Variant(
        "ising-odd-L-two-colours/stays-exact",
        [(ising, "colour_masks", _checkerboard_for_odd_L)],
        lambda: TI.check_stays_exact(3, 2.2, 0.2, "heat_bath", "plain"),
    ),
    Variant(
        "ising-sweep-skips-a-colour/one-sweep",
        [(ising, "colour_masks", _only_first_colour)],
        lambda: TI.check_one_sweep_law(2, 1.5, 0.3, "heat_bath", "plain"),
    ),
    # errors in the bit-packed engine
    Variant(
        "ising-multispin-field-sign/stays-exact",
        [(_multispin, "class_energy_changes", _class_energies_wrong_field)],
        lambda: TI.check_stays_exact(4, 1.6, 0.4, "heat_bath", "multispin"),
    ),
    Variant(
        "ising-multispin-threshold-halved/one-sweep",
        [(_multispin, "_thresholds", _thresholds_halved)],
        lambda: TI.check_one_sweep_law(2, 3.0, -0.5, "metropolis", "multispin"),
    ),
]


# --------------------------------------------------------------------------------------------
# Chapter 2: wrong Hopfield learning rules and dynamics
# --------------------------------------------------------------------------------------------


def _hebb_diagonal_kept(patterns):
    x = patterns.to(torch.float64) if not patterns.is_floating_point() else patterns
    return x.T @ x / x.shape[1]


def _hebb_over_N(patterns):
    return _HEBB(patterns) * patterns.shape[1] / patterns.shape[0]


def _hebb_wrong_sign(patterns):
    return -_HEBB(patterns)


def _storkey_variant(mode: str):
    """Storkey's rule with one mistake: "hebb" drops the corrections, "include_j" lets the
    field h_ij include unit j (h = W x), "plus" adds the corrections, "no_1_over_d"."""

    def rule(patterns):
        x = patterns if patterns.is_floating_point() else patterns.to(torch.float64)
        n, d = x.shape
        w = torch.zeros(d, d, dtype=x.dtype)
        for mu in range(n):
            xi = x[mu]
            h = w @ xi  # includes unit j: h_i = sum_{k != i} W_ik x_k
            outer = torch.outer(xi, xi)
            if mode == "hebb":
                dw = outer / d
            elif mode == "include_j":
                dw = (outer - torch.outer(xi, h) - torch.outer(h, xi)) / d
            elif mode == "plus":
                dw = (outer + torch.outer(xi, h) + torch.outer(h, xi) - 2 * w) / d
            else:  # the correct rank-two update without the 1/d
                dw = outer - torch.outer(xi, h) - torch.outer(h, xi) + 2 * w
            w = w + dw
            w.fill_diagonal_(0)
        return w

    return rule


def _pinv_diagonal_kept(patterns):
    x = patterns.to(torch.float64)
    return (torch.linalg.pinv(x) @ x).to(patterns.dtype)


def _pinv_over_d(patterns):
    return _PINV(patterns) / patterns.shape[1]


def _async_variant(mode: str):
    """Asynchronous sweep, unit by unit, with "fixed" (0, 1, ..., d-1 for every state) or
    "shared" (one random order for the whole batch) orders."""

    def sweep(self, s, generator):
        b, d = s.shape
        if mode == "fixed":
            order = torch.arange(d).expand(b, d)
        else:
            order = torch.rand(d, generator=generator).argsort().expand(b, d)
        rows = torch.arange(b)
        for t in range(d):
            u = order[:, t]
            h = (self._scaled_rows(u) * s).sum(-1)
            s[rows, u] = hopfield._sign_keep(h, s[rows, u])
        return s

    return sweep


def _sign_zero_is_plus(field, states):
    return torch.where(field >= 0, 1.0, -1.0).to(states.dtype)


def _matrix_free_diagonal_kept(self, s):
    if not self._dense:
        x = self.patterns
        return (s @ x.T) @ x  # the self-coupling N/d not removed
    return s @ self._field_w


def _phi_of_minus_sqrt_alpha(alpha):
    return 0.5 * math.erfc(math.sqrt(alpha) / math.sqrt(2.0))


def _ags_alpha_without_half():
    return hopfield._ags_g(hopfield._ags_argmax()) ** 2


HOPFIELD = [
    Variant(
        "hopfield-hebb-diagonal-kept/hand-case",
        [(hopfield, "hebbian", _hebb_diagonal_kept)],
        TH.check_hebbian,
    ),
    Variant(
        "hopfield-hebb-over-N/network-weights",
        [(hopfield, "hebbian", _hebb_over_N)],
        lambda: TH.check_network_stores_with("hebbian"),
    ),
    Variant(
        "hopfield-hebb-wrong-sign/hand-case",
        [(hopfield, "hebbian", _hebb_wrong_sign)],
        TH.check_hebbian,
    ),
    Variant(
        "hopfield-storkey-is-hebb/hand-case",
        [(hopfield, "storkey", _storkey_variant("hebb"))],
        TH.check_storkey,
    ),
    Variant(
        "hopfield-storkey-field-includes-j/hand-case",
        [(hopfield, "storkey", _storkey_variant("include_j"))],
        TH.check_storkey,
    ),
    Variant(
        "hopfield-storkey-corrections-added/network-weights",
        [(hopfield, "storkey", _storkey_variant("plus"))],
        lambda: TH.check_network_stores_with("storkey"),
    ),
    Variant(
        "hopfield-storkey-missing-1-over-d/hand-case",
        [(hopfield, "storkey", _storkey_variant("no_1_over_d"))],
        TH.check_storkey,
    ),
    Variant(
        "hopfield-pinv-is-hebb/pinv-checks",
        [(hopfield, "pseudoinverse", _HEBB)],
        TH.check_pseudoinverse,
    ),
    Variant(
        "hopfield-pinv-diagonal-kept/pinv-checks",
        [(hopfield, "pseudoinverse", _pinv_diagonal_kept)],
        TH.check_pseudoinverse,
    ),
    Variant(
        "hopfield-pinv-over-d/network-weights",
        [(hopfield, "pseudoinverse", _pinv_over_d)],
        lambda: TH.check_network_stores_with("pseudoinverse"),
    ),
    Variant(
        "hopfield-async-fixed-order/order-law",
        [(hopfield.HopfieldNetwork, "_async_sweep", _async_variant("fixed"))],
        TH.check_async_order_is_uniform,
    ),
    Variant(
        "hopfield-async-order-shared-by-batch/order-law",
        [(hopfield.HopfieldNetwork, "_async_sweep", _async_variant("shared"))],
        TH.check_async_order_is_uniform,
    ),
    Variant(
        "hopfield-zero-field-sets-plus/tie-rule",
        [(hopfield, "_sign_keep", _sign_zero_is_plus)],
        TH.check_zero_field_keeps_unit,
    ),
    Variant(
        "hopfield-matrix-free-diagonal-kept/monte-carlo-phi",
        [(hopfield.HopfieldNetwork, "_scaled_field", _matrix_free_diagonal_kept)],
        TH.check_one_step_error_against_phi,
    ),
    Variant(
        "hopfield-phi-of-minus-sqrt-alpha/monte-carlo-phi",
        [(hopfield, "one_step_error_theory", _phi_of_minus_sqrt_alpha)],
        TH.check_one_step_error_against_phi,
    ),
    Variant(
        "hopfield-ags-alpha-without-half/ags",
        [(hopfield, "ags_critical_alpha", _ags_alpha_without_half)],
        TH.check_ags_capacity,
    ),
]

# --------------------------------------------------------------------------------------------
# Chapter 3: wrong dense-memory samplers and capacity formulas
# --------------------------------------------------------------------------------------------


def _dense_sweep_variant(mode: str):
    """DenseAssociativeMemory._async_sweep with one mistake in the heat-bath step."""

    def sweep(self, s, units, T, generator=None):
        h = s @ self._x.T
        log_t = None if T is None else math.log(T)
        for i in units.tolist():
            xi = self._x[:, i]
            si = s[:, i]
            c = h - si[:, None] * xi[None, :]
            log_scale, core = self._gap_parts(c, xi)
            if T is None:
                new = torch.where(core > 0, 1.0, torch.where(core < 0, -1.0, si))
            else:
                if self.F == "exp":
                    scale = 0.0 if mode == "drop_scale" else log_scale
                    z = torch.sign(core) * torch.exp(scale + torch.log(core.abs()) - log_t)
                else:
                    z = core / T
                if mode == "half":
                    z = z / 2
                elif mode == "no_T":
                    z = z * T
                elif mode == "T_squared":
                    z = z / T
                p_plus = torch.sigmoid(-z if mode == "sign" else z)
                u = torch.rand(s.shape[0], generator=generator, dtype=s.dtype, device=s.device)
                new = torch.where(u < p_plus, 1.0, -1.0).to(s.dtype)
            if mode != "stale":
                h = h + (new - si)[:, None] * xi[None, :]
            s[:, i] = new
        return s

    return sweep


def _poly_capacity_wrong_factorial(d, n):
    return _POLY_CAP(d, n) * dense.double_factorial(2 * n - 3) / dense.double_factorial(2 * n - 1)


def _exp_rate_without_half(rho=0.0):
    return 2 * _EXP_RATE(rho)


def _pairs_without_half(d, p_ok=0.5):
    # solves N (N - 1) = 2^d ln(1/p_ok) / d instead of N (N - 1) / 2 = ...
    pairs = 2.0**d * math.log(1.0 / p_ok) / d
    return 0.5 + math.sqrt(0.25 + pairs)


_DAM = dense.DenseAssociativeMemory

DENSE = [
    Variant(
        "dense-gibbs-gap-over-2T/stays-exact",
        [(_DAM, "_async_sweep", _dense_sweep_variant("half"))],
        lambda: TD.check_dense_gibbs_stays_exact("poly", 3, 1.0, 40.0, "sequential"),
    ),
    Variant(
        "dense-gibbs-missing-T/one-sweep",
        [(_DAM, "_async_sweep", _dense_sweep_variant("no_T"))],
        lambda: TD.check_dense_gibbs_one_sweep("poly", 2, 1.0, 5.0, [3, 1, 4, 0, 2]),
    ),
    Variant(
        "dense-gibbs-T-squared/stays-exact-hot",
        [(_DAM, "_async_sweep", _dense_sweep_variant("T_squared"))],
        lambda: TD.check_dense_gibbs_stays_exact("exp", 1, 0.5, 3.0, "sequential"),
    ),
    Variant(
        "dense-gibbs-wrong-sign/one-sweep",
        [(_DAM, "_async_sweep", _dense_sweep_variant("sign"))],
        lambda: TD.check_dense_gibbs_one_sweep("exp", 1, 0.7, 2.5),
    ),
    Variant(
        "dense-gibbs-stale-overlaps/stays-exact",
        [(_DAM, "_async_sweep", _dense_sweep_variant("stale"))],
        lambda: TD.check_dense_gibbs_stays_exact("poly", 2, 1.0, 8.0, "random"),
    ),
    Variant(
        "dense-gibbs-exp-scale-dropped/one-sweep",
        [(_DAM, "_async_sweep", _dense_sweep_variant("drop_scale"))],
        lambda: TD.check_dense_gibbs_one_sweep("exp", 1, 0.7, 0.5, [4, 2, 0, 1, 3]),
    ),
    Variant(
        "dense-poly-capacity-wrong-double-factorial/snr",
        [(dense, "poly_capacity", _poly_capacity_wrong_factorial)],
        lambda: TD.check_poly_capacity_leading_order(3),
    ),
    Variant(
        "dense-exp-rate-without-half/large-deviation",
        [(dense, "exp_capacity_rate", _exp_rate_without_half)],
        lambda: TD.check_exp_capacity_rate(0.1),
    ),
    Variant(
        "dense-pairs-without-half/close-pairs",
        [(dense, "exp_capacity_pairs", _pairs_without_half)],
        TD.check_close_pairs,
    ),
]

VARIANTS = ISING + HOPFIELD + DENSE


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_wrong_variant_is_caught(variant: Variant, monkeypatch):
    """The check named in the case id fails on the wrong implementation."""
    for obj, attr, value in variant.patches:
        monkeypatch.setattr(obj, attr, value)
    with pytest.raises(AssertionError):
        variant.check()


def test_variant_list_covers_every_module():
    """Every module of Part I-II has injected variants."""
    names = [v.name for v in VARIANTS]
    assert len(names) == len(set(names))
    for prefix in ("ising-", "hopfield-", "dense-"):
        assert sum(n.startswith(prefix) for n in names) >= 5, prefix
