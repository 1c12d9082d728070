"""Tests of ``ebmlib.ising`` (chapter 1: the Ising model).

Every sampler is checked against answers computed here, independently of the library: the
transition kernel of a sweep is rebuilt in numpy from the single-site rule
(:func:`ref_kernel`, :func:`ref_propagate`), and equilibrium comes from exact enumeration or
Onsager's solution. The checks are functions (``check_*``) so that
``test_wrong_variants_part1.py`` can run the same checks against deliberately wrong samplers
and assert that they fail.

Tolerances, all derived from the number ``n`` of independent samples (false-alarm probability
``delta``, 1e-6 per check unless said otherwise, split evenly when one check makes several
comparisons):

* means of a statistic with exact standard deviation ``sigma``: ``5 sigma / sqrt(n)`` (central
  limit theorem, two-sided tail 6e-7);
* means of a statistic bounded in an interval of width ``w``: Hoeffding's inequality,
  ``w sqrt(log(2 / delta) / (2 n))``, used where ``n`` is too small for the normal tail;
* distributions: the total-variation distance between an ``n``-sample histogram and the exact
  probabilities ``p`` obeys ``E[TV] <= 0.5 sum_i sqrt(p_i (1 - p_i) / n)`` (Jensen), and TV
  moves by at most ``1/n`` when one sample changes, so by McDiarmid's inequality
  ``P(TV > E[TV] + t) <= exp(-2 n t^2)``; we use ``t = sqrt(log(1 / delta) / (2 n))``;
* where a chain has run ``t`` sweeps from a fixed start, its law differs from the stationary one
  by at most ``eps_t = TV(delta_x K^t, pi)``, computed exactly with the reference kernel; the
  tolerance of a mean of a statistic ``f`` then grows by ``2 max|f| eps_t`` (and a TV
  tolerance by ``eps_t``).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import ising
from ebmlib.ising import (
    IsingModel,
    binder_cumulant,
    critical_temperature,
    exact_enumeration,
    onsager_energy,
    onsager_magnetization,
    state_index,
    susceptibility,
    transition_matrix,
)

RULES = ("metropolis", "heat_bath")
METHODS = ("multispin", "plain")


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def tv_tolerance(p: torch.Tensor | np.ndarray, n: int, delta: float = 1e-6) -> float:
    """Bound on the TV distance of an ``n``-sample histogram from ``p`` (module docstring)."""
    p = torch.as_tensor(p, dtype=torch.float64)
    mean_bound = 0.5 * float(torch.sqrt(p * (1 - p) / n).sum())
    return mean_bound + math.sqrt(math.log(1 / delta) / (2 * n))


def tv_distance(labels: torch.Tensor, p: torch.Tensor | np.ndarray) -> float:
    p = torch.as_tensor(p, dtype=torch.float64)
    counts = torch.bincount(labels.reshape(-1).cpu(), minlength=len(p)).to(torch.float64)
    return 0.5 * float((counts / counts.sum() - p).abs().sum())


def hoeffding(width: float, n: int, delta: float) -> float:
    """Half-width ``t`` with ``P(|mean - mu| >= t) <= delta`` for ``n`` samples in an interval
    of width ``width`` (Hoeffding)."""
    return width * math.sqrt(math.log(2 / delta) / (2 * n))


def check_mean(samples: torch.Tensor, probs, values, slack: float = 0.0) -> None:
    """``|mean(samples) - E_p[values]| <= 5 sd / sqrt(n) + slack`` (module docstring)."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    values = torch.as_tensor(values, dtype=torch.float64)
    mu = float((probs * values).sum())
    sd = math.sqrt(float((probs * (values - mu) ** 2).sum()))
    n = samples.numel()
    got = float(samples.double().mean())
    assert abs(got - mu) <= 5 * sd / math.sqrt(n) + slack + 1e-12, (got, mu)


#: Two-sided 1e-6 quantiles of Student's t with ``df`` degrees of freedom
#: (``scipy.stats.t.isf(5e-7, df)``), for means over ``df + 1`` independent chains whose
#: standard error is estimated from their spread.
T_QUANTILE = {15: 7.90, 31: 6.07, 63: 5.42}


def exact_samples(ex, n: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.multinomial(ex.probabilities, n, replacement=True, generator=gen)
    return ex.states[idx].to(torch.float32)


# --------------------------------------------------------------------------------------------
# An independent reference: the sweep kernel rebuilt in numpy from the single-site rule
# --------------------------------------------------------------------------------------------


def ref_colours(L: int) -> list[np.ndarray]:
    """Row-major site numbers of each colour, in sweep order (the colouring of chapter 1:
    diagonal ``d = (i + j) mod L`` has colour ``d mod 2``, and ``2`` for ``d = L - 1`` when L
    is odd)."""
    out = [[], [], []]
    for i, j in itertools.product(range(L), range(L)):
        d = (i + j) % L
        c = 2 if (L % 2 == 1 and d == L - 1) else d % 2
        out[c].append(i * L + j)
    return [np.array(c) for c in out if c]


def ref_neighbours(L: int) -> list[list[int]]:
    return [
        [((i + a) % L) * L + (j + b) % L for a, b in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        for i in range(L)
        for j in range(L)
    ]


def ref_states(L: int) -> np.ndarray:
    """``[2**(L*L), L*L]`` spins; state ``x`` has spin ``+1`` at site ``k`` iff bit ``k`` of
    ``x`` is set (the numbering of ``state_index``)."""
    n = L * L
    x = np.arange(2**n)
    return 2.0 * ((x[:, None] >> np.arange(n)) & 1) - 1.0


def ref_flip(dE: np.ndarray, T: float, rule: str) -> np.ndarray:
    """The single-site rules of chapter 1, written out case by case."""
    if rule == "metropolis":
        out = np.empty_like(dE)
        out[dE < 0] = 1.0
        out[dE == 0] = 0.5
        pos = dE > 0
        out[pos] = np.exp(-dE[pos] / T)
        return out
    return 1.0 / (1.0 + np.exp(dE / T))


def ref_site_probabilities(L: int, T: float, J: float, h: float, rule: str) -> np.ndarray:
    """``A[k, x]``: probability that the update of site ``k`` flips it in state ``x``."""
    x = ref_states(L)
    nb = ref_neighbours(L)
    A = np.empty((L * L, len(x)))
    for k in range(L * L):
        field = J * x[:, nb[k]].sum(1) + h
        A[k] = ref_flip(2.0 * x[:, k] * field, T, rule)
    return A


def ref_kernel(L: int, T: float, J: float = 1.0, h: float = 0.0, rule: str = "metropolis"):
    """Dense sweep kernel ``K[x, y]`` (L <= 3): the product, site by site and colour by colour,
    of the single-site kernels ``K_k = diag(1 - A_k) + diag(A_k) P_k`` (``P_k`` flips k)."""
    A = ref_site_probabilities(L, T, J, h, rule)
    S = A.shape[1]
    K = np.eye(S)
    idx = np.arange(S)
    for sites in ref_colours(L):
        for k in sites:
            # (K K_k)[x, y] = K[x, y] (1 - A_k(y)) + K[x, y ^ k] A_k(y ^ k)
            flipped = idx ^ (1 << int(k))
            K = K * (1 - A[k])[None, :] + (K * A[k][None, :])[:, flipped]
    return K


def ref_propagate(P: np.ndarray, L: int, T: float, J: float, h: float, rule: str, sweeps: int):
    """Rows ``P K^sweeps`` without forming ``K`` (used for L = 4). A row is viewed as an array
    with one axis of length 2 per site (the last axis is site 0), so flipping site ``k`` is
    reversing axis ``-(k + 1)``."""
    A = ref_site_probabilities(L, T, J, h, rule)
    n = L * L
    P = np.array(P, dtype=np.float64, copy=True)
    batch = P.shape[:-1]
    cube = (*batch, *([2] * n))
    for _ in range(sweeps):
        for sites in ref_colours(L):
            for k in sites:
                moved = (P * A[k]).reshape(cube)
                P = P - moved.reshape(P.shape) + np.flip(moved, axis=-(int(k) + 1)).reshape(P.shape)
    return P


def ref_boltzmann(L: int, T: float, J: float = 1.0, h: float = 0.0):
    """Exact ``pi``, energy per spin and magnetization per spin of every state (numpy)."""
    x = ref_states(L)
    nb = ref_neighbours(L)
    right_down = np.array([[n[0], n[2]] for n in nb])  # each bond once
    e = -(J * (x[:, :, None] * x[:, right_down]).sum((1, 2)) + h * x.sum(1))
    w = np.exp(-(e - e.min()) / T)
    return w / w.sum(), e / (L * L), x.mean(1)


@functools.cache
def old_rule_trapped_states(L: int) -> list[int]:
    """States the textbook rule (flip with probability 1 when dE = 0) never leaves at h = 0.

    Under that rule a colour update is deterministic exactly when every site of the colour has
    ``dE <= 0``; a state is trapped when it lies on a cycle of the deterministic sweep map.
    Computed from the reference site rule, independently of the library.
    """
    x = ref_states(L)
    nb = ref_neighbours(L)
    S = len(x)
    state = np.arange(S)
    alive = np.ones(S, dtype=bool)
    for sites in ref_colours(L):
        cur = x[state]
        dE = np.stack([2 * cur[:, k] * cur[:, nb[k]].sum(1) for k in sites], 1)
        alive &= (dE <= 0).all(1)
        state = state ^ int(sum(1 << int(k) for k in sites))
    step = np.where(alive, state, -1)  # the deterministic sweep map, -1 where random
    trapped = []
    for start in np.nonzero(alive)[0]:
        cur = int(step[start])
        for _ in range(S):
            if cur in (-1, start):
                break
            cur = int(step[cur])
        if cur == start:
            trapped.append(int(start))
    return trapped


def stripes(L: int) -> torch.Tensor:
    """Columns of alternating sign: every spin has two aligned and two anti-aligned
    neighbours, so every flip costs dE = 0 at h = 0."""
    j = torch.arange(L)
    return (1 - 2 * (j % 2)).float().expand(L, L).clone()


# --------------------------------------------------------------------------------------------
# Checks shared with test_wrong_variants_part1.py (each raises AssertionError on failure)
# --------------------------------------------------------------------------------------------


def check_kernel_matches_definition(L: int, T: float, h: float, rule: str) -> None:
    """``transition_matrix`` (L <= 3) or ``propagate`` (L = 4) equals the reference kernel."""
    if L <= 3:
        for c in range(len(ref_colours(L))):
            got = transition_matrix(L, T, h=h, rule=rule, colour=c).numpy()
            assert np.allclose(got.sum(1), 1.0, atol=1e-12)
        got = transition_matrix(L, T, h=h, rule=rule).numpy()
        want = ref_kernel(L, T, 1.0, h, rule)
        assert np.abs(got - want).max() <= 1e-12
        return
    rng = np.random.default_rng(0)
    P = rng.random((3, 2 ** (L * L)))
    got = ising.propagate(torch.from_numpy(P), L, T, h=h, rule=rule, sweeps=2).numpy()
    assert np.abs(got - ref_propagate(P, L, T, 1.0, h, rule, 2)).max() <= 1e-12


def check_single_unit_eigenvalue(L: int, T: float, h: float, rule: str) -> None:
    """The exact sweep kernel has exactly one eigenvalue of modulus 1 (irreducible and
    aperiodic), and ``pi K = pi`` for the Boltzmann ``pi``."""
    pi = exact_enumeration(L, T, h=h).probabilities.numpy()
    if L <= 3:
        K = transition_matrix(L, T, h=h, rule=rule).numpy()
        assert np.abs(pi @ K - pi).max() <= 1e-13
        moduli = np.sort(np.abs(np.linalg.eigvals(K)))[::-1]
        assert abs(moduli[0] - 1) <= 1e-10
        assert moduli[1] < 1 - 1e-9, moduli[:4]
        return
    spla = pytest.importorskip("scipy.sparse.linalg")
    S = 2 ** (L * L)

    def rmatvec(v: np.ndarray) -> np.ndarray:  # v -> K^T v, i.e. the row vector v K
        return ising.propagate(torch.from_numpy(np.ascontiguousarray(v)), L, T, h=h, rule=rule)

    op = spla.LinearOperator((S, S), matvec=lambda v: rmatvec(v).numpy(), dtype=np.float64)
    assert np.abs(rmatvec(pi).numpy() - pi).max() <= 1e-13
    vals = spla.eigs(op, k=6, which="LM", tol=1e-10, return_eigenvectors=False, maxiter=5000)
    moduli = np.sort(np.abs(vals))[::-1]
    assert abs(moduli[0] - 1) <= 1e-8
    assert moduli[1] < 1 - 1e-6, moduli


def check_one_sweep_law(L: int, T: float, h: float, rule: str, method: str, seed: int = 7):
    """From fixed starts, one sweep of the sampler lands on ``y`` with probability
    ``K(x, y)`` of the reference kernel (TV tolerance, Bonferroni over the starts)."""
    n = 20000
    K = ref_kernel(L, T, 1.0, h, rule)
    S = len(K)
    starts = [0, 5, 9, S - 1] if L == 2 else [0, 1, 77, 300, S - 1]
    model = IsingModel(L, h=h)
    states = exact_enumeration(L, T, h=h).states.float()
    gen = torch.Generator().manual_seed(seed)
    for x in starts:
        start = states[x].expand(n, L, L).clone()
        out = getattr(model, rule)(start, T, 1, gen, method=method)
        got = tv_distance(state_index(out), K[x])
        assert got <= tv_tolerance(K[x], n, 1e-6 / len(starts)), (x, got)


def check_stays_exact(L: int, T: float, h: float, rule: str, method: str, seed: int = 3):
    """Exact samples stay exact: after sweeps the law of the state (L <= 3) or of (E, M)
    (L = 4), the mean energy and the mean magnetization are those of enumeration."""
    n, sweeps = 40000, 3
    ex = exact_enumeration(L, T, h=h)
    pi, e, m = ref_boltzmann(L, T, 1.0, h)
    model = IsingModel(L, h=h)
    gen = torch.Generator().manual_seed(seed)
    out = getattr(model, rule)(exact_samples(ex, n, gen), T, sweeps, gen, method=method)
    if L <= 3:
        assert tv_distance(state_index(out), pi) <= tv_tolerance(pi, n, 1e-6 / 3)
    else:
        labels, p = _energy_magnetization_law(L, out, pi)
        assert tv_distance(labels, p) <= tv_tolerance(p, n, 1e-6 / 3)
    check_mean(model.energy(out), pi, e)
    check_mean(model.magnetization(out), pi, m)


def _energy_magnetization_law(L, out, pi):
    """Labels of the observed (bond energy, M) classes and the exact law of those classes."""
    n = L * L
    _, e, m = ref_boltzmann(L, 1.0, 1.0, 0.0)  # energies without the field: integers / n
    key = np.round(e * n).astype(np.int64) * (2 * n + 1) + np.round(m * n).astype(np.int64)
    classes, inverse = np.unique(key, return_inverse=True)
    p = np.bincount(inverse, weights=pi)
    model = IsingModel(L)
    eo = torch.round(model.energy(out).double() * n).long()
    mo = torch.round(model.magnetization(out).double() * n).long()
    ko = (eo * (2 * n + 1) + mo).numpy()
    pos = np.searchsorted(classes, ko)
    assert (classes[np.minimum(pos, len(classes) - 1)] == ko).all(), "impossible (E, M)"
    return torch.from_numpy(pos), p


def check_every_start_reaches(
    L: int, T: float, h: float, rule: str, method: str, sweeps: int, n: int, seed: int = 5
) -> None:
    """Chains started from EVERY state reach the exact distribution.

    For each start ``x``, ``n`` chains run ``sweeps`` sweeps; the mean energy per spin (and the
    mean |m| at h = 0, m otherwise) must lie within the Hoeffding half-width (Bonferroni over
    all starts and both statistics) plus ``2 max|f| eps(x)`` of the exact value, where
    ``eps(x) = TV(delta_x K^sweeps, pi)`` of the reference kernel. At h = 0 only statistics
    invariant under the global flip are used, and eps is the TV distance of their laws, because
    below T_c the two ordered phases exchange only over very many sweeps while (E, |m|) mixes
    fast. The pooled law of the state over all starts is also checked.
    """
    pi, e, m = ref_boltzmann(L, T, 1.0, h)
    Kt = np.linalg.matrix_power(ref_kernel(L, T, 1.0, h, rule), sweeps)
    S = len(pi)
    f2 = np.abs(m) if h == 0 else m
    if h == 0:  # law of (E, |m|) classes
        key = np.round(e * L * L).astype(np.int64) * 100 + np.round(np.abs(m) * L * L).astype(
            np.int64
        )
        _, cls = np.unique(key, return_inverse=True)
        proj = np.zeros((S, cls.max() + 1))
        proj[np.arange(S), cls] = 1
        eps = 0.5 * np.abs(Kt @ proj - pi @ proj).sum(1)
    else:
        eps = 0.5 * np.abs(Kt - pi).sum(1)
    model = IsingModel(L, h=h)
    gen = torch.Generator().manual_seed(seed)
    starts = torch.from_numpy(ref_states(L)).float().reshape(S, 1, L, L)
    out = getattr(model, rule)(starts.expand(S, n, L, L).clone(), T, sweeps, gen, method=method)
    delta = 1e-6 / (2 * S)
    for f_model, f_exact, width in (
        (model.energy(out), e, 4.0 + 2 * abs(h)),
        (model.magnetization(out).abs() if h == 0 else model.magnetization(out), f2, 2.0),
    ):
        exact = float(pi @ f_exact)
        got = f_model.double().mean(1).numpy()  # [S]
        bound = hoeffding(width, n, delta) + 2 * np.abs(f_exact).max() * eps
        bad = np.nonzero(np.abs(got - exact) > bound)[0]
        assert len(bad) == 0, f"starts {bad[:8].tolist()}: {got[bad[:8]]} vs {exact}"
    pooled = Kt.mean(0)  # exact law of the pooled final states
    labels = state_index(out)
    assert tv_distance(labels, pooled) <= tv_tolerance(pooled, S * n)
    if h != 0:
        assert tv_distance(labels, pi) <= tv_tolerance(pi, S * n) + float(eps.mean())


def _colour_preserving_images(x: np.ndarray, L: int) -> list[int]:
    """State numbers of the images of the spin array ``x`` ([L*L]) under the symmetries of the
    h = 0 sweep: translations by (a, b) with a + b even and the transposition (both keep every
    site's colour, so they commute with the colour-by-colour sweep) and the global flip."""
    grid = x.reshape(L, L)
    out = []
    for a, b in itertools.product(range(L), range(L)):
        if (a + b) % 2:
            continue
        for g in (grid, grid.T):
            for sign in (1, -1):
                y = sign * np.roll(g, (a, b), (0, 1)).reshape(-1)
                out.append(int(((y > 0) * (1 << np.arange(L * L))).sum()))
    return out


def check_trapped_starts_L4(T: float, rule: str, method: str, seed: int = 11) -> None:
    """On 4 x 4 at h = 0, chains from each of the 36 states that trap the textbook rule reach
    the exact law of (E, |m|): per start, mean E/N and mean |m| of ``n`` chains within the
    Hoeffding half-width plus the exact bias ``2 max|f| eps``, where ``eps`` is the TV distance
    of the law of (E, |m|) after the sweeps from the Boltzmann one, computed with
    :func:`ref_propagate` for one representative of each symmetry class of starts."""
    L, n, sweeps = 4, 400, 12
    trapped = old_rule_trapped_states(L)
    assert len(trapped) == 36
    x = ref_states(L)
    rep = {t: min(_colour_preserving_images(x[t], L)) for t in trapped}
    reps = sorted(set(rep.values()))
    pi, e, m = ref_boltzmann(L, T)
    P0 = np.zeros((len(reps), 2**16))
    P0[np.arange(len(reps)), reps] = 1
    Pt = ref_propagate(P0, L, T, 1.0, 0.0, rule, sweeps)
    key = np.round(e * 16).astype(np.int64) * 100 + np.round(np.abs(m) * 16).astype(np.int64)
    _, cls = np.unique(key, return_inverse=True)
    proj = np.zeros((2**16, cls.max() + 1))
    proj[np.arange(2**16), cls] = 1
    eps_rep = dict(zip(reps, 0.5 * np.abs(Pt @ proj - pi @ proj).sum(1), strict=True))
    eps = np.array([eps_rep[rep[t]] for t in trapped])
    model = IsingModel(L)
    gen = torch.Generator().manual_seed(seed)
    init = torch.from_numpy(x[trapped]).float().reshape(len(trapped), 1, L, L)
    out = getattr(model, rule)(init.expand(-1, n, L, L).clone(), T, sweeps, gen, method=method)
    delta = 1e-6 / (2 * len(trapped))
    for f_model, f_exact, width in (
        (model.energy(out), e, 4.0),
        (model.magnetization(out).abs(), np.abs(m), 1.0),
    ):
        exact = float(pi @ f_exact)
        got = f_model.double().mean(1).numpy()
        bound = hoeffding(width, n, delta) + 2 * np.abs(f_exact).max() * eps
        bad = np.nonzero(np.abs(got - exact) > bound)[0]
        assert len(bad) == 0, f"starts {np.array(trapped)[bad[:8]]}: {got[bad[:8]]} vs {exact}"


def check_stripe_relaxes(rule: str, method: str, T: float = 2.0, seed: int = 1) -> None:
    """The width-1 stripe state of L = 32 (every flip a tie at h = 0) relaxes: 16 chains run
    600 sweeps, then the energy per spin averaged over the next 600 sweeps (every 10th) is
    within ``T_QUANTILE[15]`` standard errors (from the spread of the 16 chain averages) of
    Onsager's -1.74556 at T = 2 (finite-size corrections at L = 32, with a correlation length
    of about one lattice spacing, are far below the error)."""
    L, chains = 32, 16
    model = IsingModel(L)
    gen = torch.Generator().manual_seed(seed)
    s = stripes(L).expand(chains, L, L).clone()
    res = model.sample(s, T, 60, thin=10, burn_in=600, rule=rule, generator=gen, method=method)
    per_chain = res.energy.double().mean(0)
    se = float(per_chain.std()) / math.sqrt(chains)
    target = float(onsager_energy(T))
    got = float(per_chain.mean())
    assert abs(got - target) <= T_QUANTILE[15] * se, (got, se)


def check_reference_recipe(L: int, T: float, h: float, seed: int = 0) -> None:
    """The documented random-number recipe of the reference sampler (one float64
    ``torch.rand`` per colour update, a flip where ``u < A(dE)``), written out here from
    scratch, reproduces ``IsingModel.metropolis(..., method="plain")`` bit for bit."""
    i = torch.arange(L)
    d = (i[:, None] + i[None, :]) % L
    colour = d % 2
    if L % 2:
        colour[d == L - 1] = 2
    s = IsingModel(L).random_state(3, generator=torch.Generator().manual_seed(seed))
    mine = s.double().clone()
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(4):
        for c in range(int(colour.max()) + 1):
            mask = colour == c
            nb = mine.roll(1, -1) + mine.roll(-1, -1) + mine.roll(1, -2) + mine.roll(-1, -2)
            xi = mine[..., mask]
            dE = 2 * xi * (1.0 * nb[..., mask] + h)
            p = torch.where(dE < 0, 1.0, torch.where(dE == 0, 0.5, torch.exp(-dE / T)))
            u = torch.rand(xi.shape, generator=gen, dtype=torch.float64)
            mine[..., mask] = torch.where(u < p, -xi, xi)
    lib = IsingModel(L, h=h).metropolis(s, T, 4, torch.Generator().manual_seed(seed + 1), "plain")
    assert torch.equal(lib.double(), mine)


def check_methods_agree_L32(rule: str, T: float, h: float, seed: int = 9) -> None:
    """Beyond enumeration: multispin and reference chains give the same mean energy and
    magnetization per spin (64 chains each, ``T_QUANTILE[63]`` combined standard errors)."""
    model = IsingModel(32, h=h)
    gen = torch.Generator().manual_seed(seed)
    res = {}
    for method in METHODS:
        s = model.random_state(64, generator=gen)
        out = model.sample(s, T, 20, thin=5, burn_in=150, rule=rule, generator=gen, method=method)
        res[method] = (out.energy.double().mean(0), out.magnetization.double().mean(0))
    for k in range(2):
        a, b = res["multispin"][k], res["plain"][k]
        se = math.hypot(float(a.std()), float(b.std())) / 8
        assert abs(float(a.mean() - b.mean())) <= T_QUANTILE[63] * se + 1e-12


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def test_critical_temperature():
    """Checks eq-ising-tc: T_c = 2 / ln(1 + sqrt 2) = 2.26919, and its scaling with J."""
    assert critical_temperature() == pytest.approx(2.269185314, abs=1e-9)
    assert critical_temperature(2.5) == pytest.approx(2.5 * critical_temperature(), rel=1e-12)


def test_onsager_reference_values():
    """Checks eq-ising-onsager-energy and eq-ising-onsager-m against the reference values
    -1.74556, 0.91132 and -0.81731."""
    assert float(onsager_energy(2.0)) == pytest.approx(-1.74556, abs=5e-6)
    assert float(onsager_magnetization(2.0)) == pytest.approx(0.91132, abs=5e-6)
    assert float(onsager_energy(3.0)) == pytest.approx(-0.81731, abs=5e-6)


def test_onsager_limits_and_critical_point():
    """Checks eq-ising-onsager-energy at T_c (u = -sqrt 2), its continuity there, and
    eq-ising-onsager-m above T_c."""
    tc = critical_temperature()
    assert float(onsager_energy(tc)) == pytest.approx(-math.sqrt(2), abs=1e-12)
    near = onsager_energy(torch.tensor([tc - 1e-7, tc + 1e-7], dtype=torch.float64))
    assert torch.allclose(near, torch.full_like(near, -math.sqrt(2)), atol=1e-5)
    assert float(onsager_energy(0.3)) == pytest.approx(-2.0, abs=1e-9)  # ground state
    assert float(onsager_magnetization(0.3)) == pytest.approx(1.0, abs=1e-9)
    assert torch.all(onsager_magnetization(torch.tensor([tc, 2.5, 10.0], dtype=torch.float64)) == 0)


def test_onsager_energy_is_derivative_of_free_energy():
    """Checks eq-ising-onsager-energy as u = d(beta f)/d(beta), with Onsager's free energy
    integrated numerically (an independent route to the same closed form)."""

    def beta_f(beta: float) -> float:
        # -beta f = ln 2 / 2 + (1 / 2 pi^2) int int ln[cosh^2 2K - sinh 2K (cos a + cos b)]
        k2 = 2.0 * beta
        n = 400
        a = (torch.arange(n, dtype=torch.float64) + 0.5) * math.pi / n
        cos = torch.cos(a)
        arg = math.cosh(k2) ** 2 - math.sinh(k2) * (cos[:, None] + cos[None, :])
        integral = torch.log(arg).mean() * math.pi**2  # midpoint rule on [0, pi]^2
        return -(math.log(2) / 2 + integral.item() / (2 * math.pi**2))

    for T in (1.5, 3.0, 4.0):
        beta, eps = 1 / T, 1e-4
        u = (beta_f(beta + eps) - beta_f(beta - eps)) / (2 * eps)
        assert float(onsager_energy(T)) == pytest.approx(u, abs=1e-6)


def test_onsager_follows_tensor_input():
    """Checks that eq-ising-onsager-energy and eq-ising-onsager-m keep shape and dtype."""
    T = torch.linspace(1.0, 4.0, 7, dtype=torch.float32).reshape(7, 1)
    assert onsager_energy(T).shape == (7, 1) and onsager_energy(T).dtype == torch.float32
    assert onsager_magnetization(T).shape == (7, 1)


# --------------------------------------------------------------------------------------------
# Energy and exact enumeration
# --------------------------------------------------------------------------------------------


def explicit_energy(s: torch.Tensor, J: float, h: float) -> float:
    """eq-ising-energy by an explicit loop over the 2 L^2 bonds."""
    L = s.shape[-1]
    e = 0.0
    for i, j in itertools.product(range(L), range(L)):
        e -= J * s[i, j].item() * (s[(i + 1) % L, j].item() + s[i, (j + 1) % L].item())
        e -= h * s[i, j].item()
    return e


@pytest.mark.parametrize("L", [2, 3, 5, 8])
def test_energy_matches_explicit_bond_sum(L, gen):
    """Checks eq-ising-energy: per-spin energy equals the explicit bond sum divided by N."""
    model = IsingModel(L, J=0.7, h=-0.3)
    s = model.random_state((4,), generator=gen)
    e = model.energy(s)
    for b in range(4):
        assert e[b].item() * L * L == pytest.approx(explicit_energy(s[b], 0.7, -0.3), abs=1e-4)


def test_ground_state_and_checkerboard():
    """Checks eq-ising-energy: E/N = -2J - h for the all-up state and +2J for the Neel state."""
    model = IsingModel(6, J=1.0, h=0.5)
    up = model.ordered_state()
    assert model.energy(up).item() == pytest.approx(-2.5)
    assert model.magnetization(up).item() == 1.0
    i = torch.arange(6)
    neel = (1 - 2 * ((i[:, None] + i[None, :]) % 2)).float()
    assert IsingModel(6).energy(neel).item() == pytest.approx(2.0)


def test_energy_accepts_integer_spins():
    """Checks eq-ising-energy on int8 spins (returned as float32)."""
    model = IsingModel(4)
    s = model.random_state(3, generator=torch.Generator().manual_seed(1), dtype=torch.int8)
    assert model.energy(s).dtype == torch.float32
    assert torch.allclose(model.energy(s), model.energy(s.float()))


def test_exact_enumeration_against_brute_force():
    """Checks eq-ising-boltzmann: Z of a 3 x 3 lattice by a plain Python loop over all 512
    states, and the state numbering (bit k of the label = spin at row-major site k)."""
    T, J, h = 1.7, 1.0, 0.2
    ex = exact_enumeration(3, T, J, h)
    z = 0.0
    for bits in itertools.product((-1.0, 1.0), repeat=9):
        s = torch.tensor(bits).reshape(3, 3)
        z += math.exp(-explicit_energy(s, J, h) / T)
    assert ex.log_partition == pytest.approx(math.log(z), rel=1e-10)
    assert float(ex.probabilities.sum()) == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(state_index(ex.states), torch.arange(512))
    assert np.array_equal(ex.states.reshape(512, 9).numpy(), ref_states(3))
    pi, _, _ = ref_boltzmann(3, T, J, h)
    assert np.abs(ex.probabilities.numpy() - pi).max() < 1e-14
    assert ex["T"] == T and dict(ex)["L"] == 3  # a Result: mapping access
    with pytest.raises(AttributeError):
        ex.T = 2.0  # frozen


def test_exact_enumeration_symmetry_and_limits():
    """Checks eq-ising-boltzmann: <m> = 0 at h = 0, |m| -> 1 as T -> 0 and E/N -> -2."""
    ex = exact_enumeration(4, 0.5)
    m = ex.states.mean((-2, -1))
    assert float((ex.probabilities * m).sum()) == pytest.approx(0.0, abs=1e-12)
    assert ex.abs_magnetization == pytest.approx(1.0, abs=1e-3)
    assert ex.energy_per_spin == pytest.approx(-2.0, abs=1e-3)


# --------------------------------------------------------------------------------------------
# The kernel: colours, the single-site rules, detailed balance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", range(2, 10))
def test_colour_masks_are_a_proper_colouring_with_the_ergodicity_property(L):
    """Checks the colouring behind eq-ising-checkerboard and theorem thm-ising-ergodic: the
    masks partition the lattice, no two neighbours share a colour, and every site of colour 1
    has at least as many neighbours of colour 0 as of colour 2."""
    masks = ising.colour_masks(L)
    assert len(masks) == (2 if L % 2 == 0 else 3)
    colour = sum(c * m.long() for c, m in enumerate(masks))
    assert torch.equal(sum(m.long() for m in masks), torch.ones(L, L, dtype=torch.long))
    for shift, dim in ((1, 0), (1, 1)):
        assert not bool((colour == colour.roll(shift, dim)).any())
    nbrs = [colour.roll(s, d) for s in (1, -1) for d in (0, 1)]
    n0 = sum((n == 0).long() for n in nbrs)
    n2 = sum((n == 2).long() for n in nbrs)
    assert bool((n0 >= n2)[colour == 1].all())
    if L == 3:
        i = torch.arange(3)
        assert torch.equal(colour, (i[:, None] + i[None, :]) % 3)


def test_flip_probability_cases():
    """Checks eq-ising-metropolis (1, 1/2, exp(-dE/T) for dE <, =, > 0) and eq-ising-heatbath,
    and the detailed-balance identity A(dE) = exp(-dE/T) A(-dE) behind
    eq-ising-detailed-balance."""
    dE = torch.tensor([-8.0, -4.0, 0.0, 4.0, 8.0], dtype=torch.float64)
    for T in (0.7, 1.0, 2.5):
        a = ising.flip_probability(dE, T, "metropolis")
        want = torch.tensor(
            [1.0, 1.0, 0.5, math.exp(-4 / T), math.exp(-8 / T)], dtype=torch.float64
        )
        assert torch.allclose(a, want.double(), rtol=1e-15, atol=0)
        for rule in RULES:
            a = ising.flip_probability(dE, T, rule)
            b = ising.flip_probability(-dE, T, rule)
            assert torch.allclose(a, torch.exp(-dE / T) * b, rtol=1e-14, atol=0)
        hb = ising.flip_probability(dE, T, "heat_bath")
        assert torch.allclose(hb, 1 / (1 + torch.exp(dE / T)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("L,T,h", [(2, 0.8, 0.0), (2, 2.5, 0.4), (3, 1.5, 0.0), (3, 0.7, -0.3)])
def test_kernel_matches_reference_and_detailed_balance(rule, L, T, h):
    """Checks eq-ising-checkerboard and eq-ising-detailed-balance: each colour update equals
    the independent reference kernel, satisfies pi(x) K_c(x, y) = pi(y) K_c(y, x), and the
    sweep keeps pi stationary."""
    check_kernel_matches_definition(L, T, h, rule)
    pi = exact_enumeration(L, T, h=h).probabilities
    for c in range(len(ising.colour_masks(L))):
        K = transition_matrix(L, T, h=h, rule=rule, colour=c)
        flow = pi[:, None] * K
        assert torch.allclose(flow, flow.T, atol=1e-15)
    K = transition_matrix(L, T, h=h, rule=rule)
    assert torch.allclose(pi @ K, pi, atol=1e-14)


@pytest.mark.parametrize("rule", RULES)
def test_propagate_matches_reference_at_L4(rule):
    """Checks eq-ising-checkerboard on 4 x 4 (65 536 states): ``propagate`` equals the
    independent reference propagation and keeps the Boltzmann law stationary."""
    check_kernel_matches_definition(4, 1.7, 0.3, rule)
    pi = exact_enumeration(4, 1.7, h=0.3).probabilities
    out = ising.propagate(pi, 4, 1.7, h=0.3, rule=rule, sweeps=3)
    assert torch.allclose(out, pi, atol=1e-15, rtol=0)


def test_heat_bath_single_site_probability():
    """Checks eq-ising-heatbath: the heat-bath kernel sets a spin up with probability
    1 / (1 + exp(-2 (J sum_k xi_k + h) / T)) whatever its current value."""
    T, h = 1.3, 0.25
    K = transition_matrix(2, T, h=h, rule="heat_bath", colour=0)
    states = exact_enumeration(2, T, h=h).states.reshape(16, 4)
    # colour 0 of the 2 x 2 lattice is sites 0 and 3; site 0 has neighbours 1, 1, 2, 2.
    for x in range(16):
        field = 2 * (states[x, 1] + states[x, 2]) + h
        p_up = 1 / (1 + math.exp(-2 * field / T))
        prob_up = sum(float(K[x, y]) for y in range(16) if states[y, 0] > 0)
        assert prob_up == pytest.approx(p_up, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Ergodicity (theorem thm-ising-ergodic)
# --------------------------------------------------------------------------------------------


def test_textbook_rule_traps_the_documented_states():
    """The counterexample of chapter 1: with dE = 0 accepted with probability 1, 8 of the 512
    states of 3 x 3 and 36 of the 65 536 states of 4 x 4 cycle forever at h = 0 (the stripe
    state among them), and the textbook kernel has further eigenvalues of modulus 1."""
    assert len(old_rule_trapped_states(3)) == 8
    trapped4 = old_rule_trapped_states(4)
    assert len(trapped4) == 36
    assert int(state_index(stripes(4))) in trapped4
    A = ref_site_probabilities(3, 2.0, 1.0, 0.0, "metropolis")
    assert (A == 0.5).any()  # ties exist; the textbook rule would flip them surely


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "L,T,h",
    [(2, 0.8, 0.0), (2, 2.5, 0.0), (3, 0.8, 0.0), (3, 2.5, 0.0), (3, 1.5, 0.5), (3, 0.7, -0.2)],
)
def test_sweep_kernel_has_a_single_eigenvalue_of_modulus_one(rule, L, T, h):
    """Checks theorem thm-ising-ergodic on 2 x 2 and 3 x 3: the exact sweep kernel has one
    eigenvalue of modulus 1 (a simple eigenvalue 1, no other on the unit circle) at beta < 1
    and beta > 1, h = 0 and h != 0."""
    check_single_unit_eigenvalue(L, T, h, rule)


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES)
def test_sweep_kernel_spectral_gap_at_L4(rule):
    """Checks theorem thm-ising-ergodic on 4 x 4 (65 536 states) with an iterative eigensolver
    on ``propagate``: one eigenvalue of modulus 1 at T = 2.5, h = 0."""
    check_single_unit_eigenvalue(4, 2.5, 0.0, rule)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "L,T,h,method,sweeps,n",
    [
        (2, 0.8, 0.0, "multispin", 30, 3000),
        (2, 2.5, 0.3, "plain", 40, 3000),
        (2, 1.5, 0.0, "plain", 30, 3000),
        (3, 0.8, 0.0, "plain", 20, 200),
        (3, 2.5, 0.3, "plain", 40, 200),
    ],
)
def test_chains_from_every_state_reach_the_boltzmann_law(rule, L, T, h, method, sweeps, n):
    """Checks theorem thm-ising-ergodic with eq-ising-boltzmann: from every one of the 2^(L^2)
    states, including those that trap the textbook rule, chains reach the exact law."""
    check_every_start_reaches(L, T, h, rule, method, sweeps, n)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("T", [2.5, 1.5])
def test_trapped_starts_of_L4_reach_the_boltzmann_law(T, method):
    """Checks theorem thm-ising-ergodic on 4 x 4 from the 36 states that trap the textbook
    Metropolis rule (the heat bath never trapped them: its flip probability is below 1)."""
    check_trapped_starts_L4(T, "metropolis", method)


@pytest.mark.parametrize("method", METHODS)
def test_stripe_state_relaxes_at_L32(method):
    """Checks theorem thm-ising-ergodic at L = 32 against eq-ising-onsager-energy: the stripe
    state, a fixed cycle of the textbook rule, relaxes to E/N = -1.7456 at T = 2."""
    check_stripe_relaxes("metropolis", method)


# --------------------------------------------------------------------------------------------
# The samplers against the exact kernel and exact enumeration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("T,h", [(0.8, 0.0), (1.5, 0.3), (3.0, -0.5)])
def test_one_sweep_matches_exact_kernel_2x2(rule, method, T, h):
    """Checks eq-ising-checkerboard: from fixed starting states, one sweep of either
    implementation lands on y with the probability K(x, y) of the reference kernel."""
    check_one_sweep_law(2, T, h, rule, method)


@pytest.mark.parametrize("rule", RULES)
def test_one_sweep_matches_exact_kernel_3x3(rule):
    """Checks eq-ising-checkerboard with three colours (3 x 3, reference sampler)."""
    check_one_sweep_law(3, 1.2, 0.2, rule, "plain")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("T,h", [(0.7, 0.0), (2.2, 0.2), (4.0, -0.6)])
def test_reference_sampler_keeps_boltzmann_3x3(rule, T, h):
    """Checks eq-ising-boltzmann with eq-ising-checkerboard on 3 x 3 (three colours): exact
    samples stay exact at beta > 1 and beta < 1, h = 0 and h != 0."""
    check_stays_exact(3, T, h, rule, "plain")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("T,h", [(0.8, 0.0), (2.6, 0.0), (1.6, 0.4)])
def test_samplers_keep_boltzmann_4x4(rule, method, T, h):
    """Checks eq-ising-boltzmann with eq-ising-checkerboard on 4 x 4: the joint law of (E, M),
    the mean energy and the mean magnetization of exact samples after sweeps, for both
    implementations, at beta > 1 and beta < 1, h = 0 and h != 0."""
    check_stays_exact(4, T, h, rule, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rule", RULES)
def test_tensor_temperature_broadcasts_over_batch(rule, method):
    """Checks eq-ising-boltzmann for a batch of 4 x 4 lattices, each at its own temperature
    (exact samples of each temperature stay exact)."""
    Ts = torch.tensor([0.9, 2.4, 4.0])
    n = 6000
    model = IsingModel(4)
    gen = torch.Generator().manual_seed(5)
    exs = [exact_enumeration(4, T) for T in Ts.tolist()]
    start = torch.stack([exact_samples(ex, n, gen) for ex in exs])
    s = getattr(model, rule)(start, Ts[:, None], 5, gen, method=method)
    for i, ex in enumerate(exs):
        check_mean(model.energy(s[i]), ex.probabilities, ex.energies / 16)


@pytest.mark.parametrize("method", METHODS)
def test_temperature_dtype_is_converted_explicitly(method):
    """Checks the temperature policy of eq-ising-metropolis: a temperature is a parameter,
    converted to float64 whatever its dtype, so float32 spins with float16, float32, float64 or
    integer temperature tensors (and the equal Python floats) give the same chain bit for bit;
    flip_probability returns the dtype of dE; a temperature tensor on another device, or of
    bool dtype, is refused with an error naming T."""
    model = IsingModel(8)
    start = model.random_state(3, generator=torch.Generator().manual_seed(0))
    temps = [2.0, 3.0, 4.0]
    runs = [
        model.metropolis(start, T, 4, torch.Generator().manual_seed(1), method=method)
        for T in [torch.tensor(temps, dtype=dt) for dt in (torch.float16, torch.float32)]
        + [torch.tensor(temps, dtype=torch.float64), torch.tensor([2, 3, 4])]
    ]
    for out in runs[1:]:
        assert torch.equal(out, runs[0]) and out.dtype == start.dtype
    g = [torch.Generator().manual_seed(1) for _ in range(2)]
    scalar = model.metropolis(start[0], 2.0, 4, g[0], method=method)
    half = model.metropolis(
        start[0], torch.tensor(2.0, dtype=torch.float16), 4, g[1], method=method
    )
    assert torch.equal(scalar, half)
    dE = torch.tensor([-4.0, 0.0, 4.0, 8.0], dtype=torch.float32)
    p = ising.flip_probability(dE, torch.tensor(2.0, dtype=torch.float64))
    assert p.dtype == torch.float32
    torch.testing.assert_close(
        p, torch.tensor([1.0, 0.5, math.exp(-2.0), math.exp(-4.0)], dtype=torch.float32)
    )
    with pytest.raises(ValueError, match="T must be on the device"):
        model.metropolis(start, torch.tensor(temps, device="meta"), method=method)
    with pytest.raises(TypeError, match="T must hold real"):
        model.metropolis(start, torch.tensor([True, True, True]), method=method)
    with pytest.raises(ValueError, match="same device"):
        ising.flip_probability(dE, torch.ones(4, device="meta"))


@pytest.mark.parametrize("L,T,h", [(4, 2.0, 0.0), (3, 1.3, 0.2), (6, 0.9, -0.4)])
def test_reference_sampler_follows_its_documented_recipe(L, T, h):
    """Checks the reference sampler of eq-ising-checkerboard against the recipe of its
    docstring (and of chapter 1's from-scratch cell), bit for bit."""
    check_reference_recipe(L, T, h)


@pytest.mark.parametrize("rule,T,h", [("heat_bath", 2.5, 0.0), ("metropolis", 2.5, 0.2)])
def test_methods_agree_at_L32(rule, T, h):
    """Checks eq-ising-checkerboard beyond enumeration: both implementations sample the same
    law (mean energy and magnetization of 64 chains each)."""
    check_methods_agree_L32(rule, T, h)


def test_energy_at_L64_matches_onsager():
    """Checks eq-ising-onsager-energy and eq-ising-onsager-m at L = 64: energy per spin at
    T = 2 and T = 3 and |m| at T = 2 within ``T_QUANTILE[15]`` standard errors of 16
    independent chains (the finite-size corrections at L = 64, far from T_c, are exponentially
    small in L over a correlation length of a few spacings)."""
    model = IsingModel(64)
    gen = torch.Generator().manual_seed(2024)
    T = torch.tensor([2.0, 3.0])[:, None]
    out = model.sample(model.ordered_state((2, 16)), T, 100, thin=2, burn_in=200, generator=gen)
    e = out.energy.double().mean(0)  # [2, 16] chain averages
    m = out.magnetization.double().abs().mean(0)
    cases = ((e[0], onsager_energy(2.0)), (e[1], onsager_energy(3.0)))
    for got, want in (*cases, (m[0], onsager_magnetization(2.0))):
        se = float(got.std()) / 4
        assert abs(float(got.mean() - want)) <= T_QUANTILE[15] * se


def test_susceptibility_peak_and_binder_near_tc():
    """Checks eq-ising-chi and eq-ising-binder against eq-ising-tc at L = 16: on a grid of
    spacing 0.1 around T_c the susceptibility peaks within 0.2 of T_c = 2.26919 (finite-size
    scaling puts the peak slightly above T_c), and U_4 is near 2/3 well below T_c and small
    well above it."""
    temps = torch.tensor([1.8, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.7, 3.0, 3.5], dtype=torch.float64)
    model = IsingModel(16)
    gen = torch.Generator().manual_seed(31)
    out = model.sample(
        model.ordered_state((len(temps), 16)),
        temps[:, None],
        100,
        thin=3,
        burn_in=300,
        generator=gen,
    )
    m = out["magnetization"].double().permute(1, 0, 2).reshape(len(temps), -1)
    chi = susceptibility(m, temps, model.n_spins, dim=1)
    assert abs(temps[int(torch.argmax(chi))].item() - critical_temperature()) <= 0.2
    u = binder_cumulant(m, dim=1)
    assert u[0].item() > 0.6 and u[-1].item() < 0.2


# --------------------------------------------------------------------------------------------
# API behaviour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_sweep_returns_new_tensor_and_keeps_dtype(method, gen):
    """Checks the sampler contract of eq-ising-checkerboard: shape, dtype, input unchanged."""
    model = IsingModel(8)
    for dtype in (torch.int8, torch.float64):
        s = model.random_state((2, 3), generator=gen, dtype=dtype)
        before = s.clone()
        out = model.metropolis(s, 2.0, 3, gen, method=method)
        assert out.shape == s.shape and out.dtype == dtype
        assert torch.equal(s, before)
        assert bool(((out == 1) | (out == -1)).all())
        assert torch.equal(model.heat_bath(s, 2.0, 0, gen), s)


@pytest.mark.parametrize("L", [2, 6, 10, 16, 130, 256])
def test_packed_layout_round_trip(L, gen):
    """Checks the quarter-lattice packing of the multispin engine: pack then unpack is the
    identity."""
    from ebmlib import _multispin

    s = IsingModel(L).random_state(2, generator=gen)
    assert torch.equal(_multispin.Packed(s).unpack(torch.float32), s)


def test_seeded_runs_are_reproducible():
    """Checks that sampling depends only on the generator's seed, and that generator=None
    uses torch's global generator (torch.manual_seed reproduces a run)."""
    model = IsingModel(16)
    a = model.metropolis(model.ordered_state(2), 2.3, 5, torch.Generator().manual_seed(4))
    b = model.metropolis(model.ordered_state(2), 2.3, 5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    for method in METHODS:
        torch.manual_seed(3)
        a = model.metropolis(model.ordered_state(2), 2.3, 5, method=method)
        torch.manual_seed(3)
        b = model.metropolis(model.ordered_state(2), 2.3, 5, method=method)
        assert torch.equal(a, b)


def test_trajectory_and_sample_shapes(gen):
    """Checks the chain drivers built on eq-ising-checkerboard: frames, measurements, final
    state, and the result type."""
    model = IsingModel(8)
    s = model.random_state(3, generator=gen)
    frames = model.trajectory(s, 2.0, n_frames=4, sweeps_per_frame=2, generator=gen)
    assert frames.shape == (4, 3, 8, 8) and torch.equal(frames[0], s)
    out = model.sample(s, 2.0, n_samples=5, generator=gen, method="plain")
    assert isinstance(out, ising.IsingSamples)
    assert out["energy"].shape == (5, 3) and out.spins.shape == (3, 8, 8)
    assert set(out.keys()) == {"energy", "magnetization", "spins"}


def test_binder_and_susceptibility():
    """Checks eq-ising-binder and eq-ising-chi on samples with known moments."""
    m = torch.tensor([0.5, -0.5, 0.5, -0.5])
    assert binder_cumulant(m).item() == pytest.approx(2 / 3)
    assert susceptibility(m, 2.0, 100).item() == pytest.approx(0.0)
    m = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    # <m^2> = 1/2, <m^4> = 1/2, <|m|> = 1/2
    assert binder_cumulant(m).item() == pytest.approx(1 - 0.5 / (3 * 0.25))
    assert susceptibility(m, 2.0, 10).item() == pytest.approx(10 * (0.5 - 0.25) / 2)


def test_draw_ising_returns_axes():
    """Checks the demo of chapter 1 draws the lattice after the sweeps."""
    ax = ising.draw_ising(T=3.0, L=16, sweeps=5)
    assert ax.images and "T = 3.00" in ax.get_title()


@settings(max_examples=25, deadline=None)
@given(
    L=st.integers(2, 7),
    seed=st.integers(0, 2**16),
    dx=st.integers(0, 6),
    dy=st.integers(0, 6),
)
def test_energy_symmetries(L, seed, dx, dy):
    """Checks eq-ising-energy: at h = 0 the energy is invariant under a global flip and under
    translations, and lies in [-2J, 2J] per spin."""
    model = IsingModel(L, J=1.3)
    s = model.random_state(generator=torch.Generator().manual_seed(seed))
    e = model.energy(s)
    assert torch.allclose(model.energy(-s), e)
    assert torch.allclose(model.energy(torch.roll(s, (dx, dy), (0, 1))), e, atol=1e-6)
    assert -2.6 - 1e-6 <= e.item() <= 2.6 + 1e-6


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_constructor_arguments():
    """Checks argument validation of the model of eq-ising-energy."""
    with pytest.raises(ValueError, match="L"):
        IsingModel(1)
    with pytest.raises(TypeError, match="L"):
        IsingModel(4.0)
    with pytest.raises(TypeError, match="J"):
        IsingModel(4, J="strong")
    with pytest.raises(ValueError, match="h"):
        IsingModel(4, h=float("nan"))
    with pytest.raises(ValueError, match="J"):
        critical_temperature(-1.0)
    with pytest.raises(ValueError, match="device"):
        IsingModel(4, device="nowhere")


def test_bad_sampler_arguments(gen):
    """Checks argument validation of the samplers of eq-ising-checkerboard."""
    model = IsingModel(4)
    s = model.random_state(2, generator=gen)
    with pytest.raises(ValueError, match="T"):
        model.metropolis(s, 0.0)
    with pytest.raises(ValueError, match="T"):
        model.metropolis(s, float("nan"))
    with pytest.raises(ValueError, match="T"):
        model.metropolis(s, float("inf"))
    with pytest.raises(ValueError, match="T"):
        model.heat_bath(s, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="T"):
        model.heat_bath(s, torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="T"):
        model.heat_bath(s, torch.ones(3))
    with pytest.raises(TypeError, match="T"):
        model.heat_bath(s, "hot")
    with pytest.raises(ValueError, match="spins"):
        model.metropolis(torch.ones(2, 5, 5), 2.0)
    with pytest.raises(ValueError, match="spins"):
        model.metropolis(torch.zeros(4, 4), 2.0)
    with pytest.raises(ValueError, match="spins"):
        model.metropolis(torch.full((4, 4), float("nan")), 2.0)
    with pytest.raises(TypeError, match="spins"):
        model.metropolis(torch.ones(4, 4, dtype=torch.bool), 2.0)
    with pytest.raises(TypeError, match="spins"):
        model.metropolis(torch.ones(4, 4, dtype=torch.uint8), 2.0)  # cannot hold -1
    with pytest.raises(TypeError, match="dtype"):
        model.random_state(2, dtype=torch.bool)
    with pytest.raises(TypeError, match="dtype"):
        model.random_state(2, dtype=torch.uint8)
    with pytest.raises(TypeError, match="spins"):
        model.energy([[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="sweeps"):
        model.metropolis(s, 2.0, sweeps=-1)
    with pytest.raises(TypeError, match="sweeps"):
        model.metropolis(s, 2.0, sweeps=1.5)
    with pytest.raises(TypeError, match="generator"):
        model.metropolis(s, 2.0, generator=0)
    with pytest.raises(ValueError, match="method"):
        model.metropolis(s, 2.0, method="fast")
    with pytest.raises(ValueError, match="multispin"):
        IsingModel(3).metropolis(torch.ones(3, 3), 2.0, method="multispin")
    with pytest.raises(ValueError, match="rule"):
        model.sample(s, 2.0, 3, rule="glauber")
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(s, 2.0, 0)
    with pytest.raises(ValueError, match="rule"):
        ising.reference_sweeps(s, 2.0, rule="glauber")


def test_bad_enumeration_arguments():
    """Checks argument validation of the exact tools of eq-ising-boltzmann."""
    with pytest.raises(ValueError, match="L"):
        exact_enumeration(5, 2.0)
    with pytest.raises(ValueError, match="T"):
        exact_enumeration(3, -1.0)
    with pytest.raises(ValueError, match="T"):
        exact_enumeration(3, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="L"):
        transition_matrix(4, 2.0)
    with pytest.raises(ValueError, match="colour"):
        transition_matrix(2, 2.0, colour=2)
    with pytest.raises(ValueError, match="rule"):
        transition_matrix(2, 2.0, rule="gibbs")
    with pytest.raises(ValueError, match="L"):
        ising.propagate(torch.ones(2**25, dtype=torch.float64), 5, 2.0)
    with pytest.raises(ValueError, match="p"):
        ising.propagate(torch.ones(10, dtype=torch.float64), 2, 2.0)
    with pytest.raises(TypeError, match="p"):
        ising.propagate(torch.ones(16, dtype=torch.long), 2, 2.0)
    with pytest.raises(ValueError, match="p"):
        ising.propagate(torch.full((16,), float("nan"), dtype=torch.float64), 2, 2.0)
    with pytest.raises(ValueError, match="T"):
        ising.flip_probability(torch.zeros(3), 0.0)
    with pytest.raises(TypeError, match="dE"):
        ising.flip_probability([0.0], 1.0)
    with pytest.raises(ValueError, match="spins"):
        state_index(torch.ones(2, 5, 5))
    with pytest.raises(ValueError, match="T"):
        onsager_energy(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="T"):
        onsager_energy(float("inf"))
    with pytest.raises(ValueError, match="T"):
        onsager_magnetization(float("inf"))
    with pytest.raises(ValueError, match="m"):
        binder_cumulant(torch.zeros(5))


# --------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rule", RULES)
def test_cuda_one_sweep_matches_exact_kernel(rule, method):
    """Checks eq-ising-checkerboard on CUDA: one sweep from fixed states follows the reference
    kernel."""
    T, h, n = 1.5, 0.3, 20000
    model = IsingModel(2, h=h, device="cuda")
    K = ref_kernel(2, T, 1.0, h, rule)
    states = exact_enumeration(2, T, h=h).states.float().cuda()
    gen = torch.Generator(device="cuda").manual_seed(7)
    for x in (0, 5, 9, 15):
        start = states[x].expand(n, 2, 2).clone()
        out = getattr(model, rule)(start, T, 1, gen, method=method)
        assert out.device.type == "cuda"
        assert tv_distance(state_index(out), K[x]) <= tv_tolerance(K[x], n, 1e-6 / 4)


@pytest.mark.cuda
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rule", RULES)
def test_cuda_samplers_keep_boltzmann_4x4(rule, method):
    """Checks eq-ising-boltzmann on CUDA: exact 4 x 4 samples stay exact (mean energy)."""
    T, n = 1.6, 20000
    ex = exact_enumeration(4, T, h=0.4)
    model = IsingModel(4, h=0.4, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(3)
    start = exact_samples(ex, n, torch.Generator().manual_seed(1)).cuda()
    out = getattr(model, rule)(start, T, 5, gen, method=method)
    check_mean(model.energy(out).cpu(), ex.probabilities, ex.energies / 16)


@pytest.mark.cuda
def test_cuda_energy_at_L64_matches_onsager():
    """Checks eq-ising-onsager-energy on CUDA at L = 64 (T = 2.0 and 3.0, within 0.01)."""
    model = IsingModel(64, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(2024)
    T = torch.tensor([2.0, 3.0], device="cuda")[:, None]
    out = model.sample(model.ordered_state((2, 8)), T, 100, thin=2, burn_in=200, generator=gen)
    e = out["energy"].mean((0, 2)).cpu()
    assert abs(e[0].item() - float(onsager_energy(2.0))) < 0.01
    assert abs(e[1].item() - float(onsager_energy(3.0))) < 0.01
