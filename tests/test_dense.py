"""Tests for ebmlib.dense (chapter 3: dense associative memory)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import dense, hopfield, modern
from ebmlib.dense import DenseAssociativeMemory

KINDS = [("poly", 2, 1.0), ("poly", 3, 1.0), ("poly", 4, 1.0), ("rectified", 3, 1.0)]
KINDS += [("exp", 1, 0.37), ("exp", 1, 2.0)]


def _pm1(shape, g, dtype=torch.float64):
    return torch.randint(0, 2, shape, generator=g).to(dtype) * 2 - 1


def _explicit_energy(s, x, F, n, beta):
    """The energy eq-dense-energy written out pattern by pattern."""
    total = torch.zeros(s.shape[0], dtype=torch.float64)
    for mu in range(x.shape[0]):
        z = s @ x[mu]
        if F == "poly":
            total += z**n
        elif F == "rectified":
            total += z.clamp(min=0) ** n
        else:
            total += torch.exp(beta * z)
    return -total


def _all_states(d):
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)


# ------------------------------------------------------------------------------ checks
# Independent references and checks shared with test_wrong_variants_part1.py (each raises
# AssertionError on failure).


def _label(s: torch.Tensor) -> torch.Tensor:
    """Row index of each state in ``_all_states`` (first unit most significant)."""
    d = s.shape[-1]
    return ((s > 0).long() * (2 ** torch.arange(d - 1, -1, -1))).sum(-1)


def _ref_gibbs_kernel(x, F, n, beta, T, units) -> torch.Tensor:
    """Exact kernel of heat-bath updates of ``units`` in that order (eq-dense-gibbs), from the
    explicit energy: unit i becomes +1 with probability 1 / (1 + exp((E(+) - E(-)) / T))."""
    d = x.shape[1]
    states = _all_states(d)
    S = len(states)
    K = torch.eye(S, dtype=torch.float64)
    for i in units:
        plus, minus = states.clone(), states.clone()
        plus[:, i], minus[:, i] = 1.0, -1.0
        e_plus = _explicit_energy(plus, x, F, n, beta)
        e_minus = _explicit_energy(minus, x, F, n, beta)
        p_plus = 1.0 / (1.0 + torch.exp((e_plus - e_minus) / T))
        Ki = torch.zeros(S, S, dtype=torch.float64)
        rows = torch.arange(S)
        Ki[rows, _label(plus)] += p_plus
        Ki[rows, _label(minus)] += 1 - p_plus
        K = K @ Ki
    return K


def _tv_tol(p: torch.Tensor, n: int, delta: float = 1e-6) -> float:
    """As in test_ising: 0.5 sum sqrt(p (1 - p) / n) + sqrt(log(1 / delta) / (2 n))."""
    return 0.5 * float(torch.sqrt(p * (1 - p) / n).sum()) + math.sqrt(math.log(1 / delta) / (2 * n))


def _dense_case(F: str, n: int, beta: float, d: int, seed: int = 5):
    x = _pm1((3, d), torch.Generator().manual_seed(seed))
    return x, DenseAssociativeMemory(x, F=F, n=n, beta=beta)


def check_dense_gibbs_one_sweep(F: str, n: int, beta: float, T: float, units=None) -> None:
    """eq-dense-gibbs: from fixed starts, one sweep (units in the given order, default
    0, ..., d-1) lands on y with the probability of the exact kernel built from the explicit
    energy (d = 5). TV tolerance, Bonferroni over the 4 starts."""
    d, m = 5, 20000
    units = torch.arange(d) if units is None else torch.as_tensor(units)
    x, dam = _dense_case(F, n, beta, d)
    K = _ref_gibbs_kernel(x, F, n, beta, T, units.tolist())
    states = _all_states(d)
    g = torch.Generator().manual_seed(11)
    for start in (0, 9, 22, 31):
        out = dam.gibbs(states[start].expand(m, d).clone(), T, 1, order=units, generator=g)
        emp = torch.bincount(_label(out), minlength=2**d).double() / m
        assert 0.5 * float((emp - K[start]).abs().sum()) <= _tv_tol(K[start], m, 1e-6 / 4)


def check_dense_gibbs_stays_exact(F: str, n: int, beta: float, T: float, order: str) -> None:
    """eq-dense-gibbs: exact samples of exp(-E/T)/Z (d = 7, all states enumerated with the
    explicit energy) stay exact after 3 sweeps: TV of the state law and the mean energy
    (5 standard deviations of the exact energy law over sqrt(n))."""
    d, m = 7, 20000
    x, dam = _dense_case(F, n, beta, d)
    states = _all_states(d)
    e = _explicit_energy(states, x, F, n, beta)
    probs = torch.softmax(-e / T, 0)
    g = torch.Generator().manual_seed(5)
    s0 = states[torch.multinomial(probs, m, replacement=True, generator=g)]
    out = dam.gibbs(s0, T, sweeps=3, order=order, generator=g)
    emp = torch.bincount(_label(out), minlength=2**d).double() / m
    assert 0.5 * float((emp - probs).abs().sum()) <= _tv_tol(probs, m, 0.5e-6)
    mu = float((probs * e).sum())
    sd = math.sqrt(float((probs * (e - mu) ** 2).sum()))
    got = float(_explicit_energy(out, x, F, n, beta).mean())
    assert abs(got - mu) <= 5 * sd / math.sqrt(m), (got, mu)


def _binomial_moment(m: int, f) -> float:
    """E[f(c)] for c a sum of m fair +-1 signs, by the exact binomial sum (log-gamma weights)."""
    total = 0.0
    for k in range(m + 1):
        w = math.exp(
            math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) - m * math.log(2)
        )
        total += w * f(2 * k - m)
    return total


def check_poly_crosstalk(n: int, d: int = 21, N: int = 40, samples: int = 4000) -> None:
    """eq-dense-snr by Monte Carlo: for F(x) = x^n, a stored pattern x_1 and a unit i, the
    stabilising gap x_1i g_i (from the explicit energies) has mean S = d^n - (d - 2)^n and
    variance (N - 1) E[D(c)^2], D(c) = (c + 1)^n - (c - 1)^n, c a sum of d - 1 signs (exact
    binomial sum here). Tolerances: 5 standard errors (the variance's from the sample fourth
    moment)."""
    g = torch.Generator().manual_seed(n)
    x = _pm1((samples, N, d), g)  # an independent network per sample; pattern 0 is probed
    unit = torch.randint(0, d, (samples,), generator=g)
    xi = x[:, 0, :]  # [samples, d]
    h = (x * xi[:, None, :]).sum(-1)  # overlaps x_nu . xi, [samples, N]
    x_i = x[torch.arange(samples), :, unit]  # [samples, N]: x_nu,i
    h_flipped = h - 2 * x_i * xi[torch.arange(samples), unit][:, None]
    v = (h**n).sum(-1) - (h_flipped**n).sum(-1)  # E(xi flipped at i) - E(xi) = x_1i g_i
    S = d**n - (d - 2) ** n
    var = (N - 1) * _binomial_moment(d - 1, lambda c: ((c + 1) ** n - (c - 1) ** n) ** 2)
    assert abs(float(v.mean()) - S) <= 5 * math.sqrt(var / len(v))
    centred = v - v.mean()
    se_var = math.sqrt(float((centred**4).mean() - (centred**2).mean() ** 2) / len(v))
    assert abs(float(centred.pow(2).mean()) - var) <= 5 * se_var


def check_poly_capacity_leading_order(n: int) -> None:
    """eq-dense-poly-capacity from the signal-to-noise argument, evaluated independently: with
    the exact finite-d signal S(d) and noise variance per pattern V(d) = E[D(c)^2] (binomial
    sums here), the no-error condition SNR^2 = S^2 / (N V) = 2 ln d gives
    N*(d) = S^2 / (2 ln d V). ``poly_capacity`` must equal N*(d) to leading order: the ratio
    tends to 1 like 1/d (checked at d = 2001 and 8001: error below 3 n^2 / d)."""
    for d in (2001, 8001):
        S = d**n - (d - 2) ** n
        V = _binomial_moment(d - 1, lambda c: ((c + 1) ** n - (c - 1) ** n) ** 2)
        ratio = dense.poly_capacity(float(d), n) / (S**2 / (2 * math.log(d) * V))
        assert abs(ratio - 1) < 3 * n**2 / d, (d, ratio)


def check_exp_capacity_rate(rho: float) -> None:
    """eq-dense-exp-rate: the rate function I(x) inside alpha = I(1 - 2 rho) / 2 is the
    large-deviation rate of a sum of d fair signs, -(1/d) ln P(sum >= x d) -> I(x): checked
    against the exact binomial tail at d = 4000 (the correction is below ln(d) / d), and
    alpha(0) is Demircigil et al.'s ln(2) / 2 (N = 2^(d/2))."""
    d = 4000
    x = 1 - 2 * rho
    k0 = math.ceil((x * d + d) / 2)  # sum = 2k - d >= x d
    logs = [
        math.lgamma(d + 1) - math.lgamma(k + 1) - math.lgamma(d - k + 1) - d * math.log(2)
        for k in range(k0, d + 1)
    ]
    top = max(logs)
    log_tail = top + math.log(sum(math.exp(v - top) for v in logs))
    rate = -log_tail / d
    assert abs(dense.exp_capacity_rate(rho) - rate / 2) <= math.log(d) / d / 2
    assert dense.exp_capacity_rate(0.0) == pytest.approx(math.log(2) / 2, rel=1e-12)


def check_close_pairs(d: int = 10, sets: int = 3000) -> None:
    """eq-dense-pairs: two independent uniform patterns are at Hamming distance 1 with
    probability d / 2^d, so N patterns hold N (N - 1) d / 2^(d+1) such pairs on average
    (Monte Carlo, 5 standard errors), and ``exp_capacity_pairs`` returns the N at which that
    mean is ln(1 / p_ok)."""
    N = round(dense.exp_capacity_pairs(d, 0.5))
    g = torch.Generator().manual_seed(13)
    counts = []
    for _ in range(sets):
        x = _pm1((N, d), g)
        dist = (d - x @ x.T) / 2
        counts.append(float((dist == 1).double().triu(1).sum()))
    c = torch.tensor(counts, dtype=torch.float64)
    mean = N * (N - 1) / 2 * d / 2**d
    assert abs(float(c.mean()) - mean) <= 5 * float(c.std()) / math.sqrt(sets)
    for p_ok in (0.2, 0.5, 0.9):
        Nr = dense.exp_capacity_pairs(d, p_ok)
        assert Nr * (Nr - 1) / 2 * d / 2**d == pytest.approx(math.log(1 / p_ok), rel=1e-12)


# ------------------------------------------------------------------------------ energy, gaps


@pytest.mark.parametrize("F,n,beta", KINDS)
def test_energy_matches_definition(F, n, beta, gen):
    """Checks eq-dense-energy: E(xi) = -sum_mu F(x_mu^T xi), for one state and a batch."""
    x = _pm1((7, 12), gen)
    s = _pm1((9, 12), gen)
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    want = _explicit_energy(s, x, F, n, beta)
    if F == "exp":
        assert torch.allclose(dam.energy(s), want, rtol=1e-13, atol=0)
        assert torch.allclose(dam.log_neg_energy(s), torch.log(-want), rtol=1e-13)
    else:
        assert torch.equal(dam.energy(s), want)
    assert dam.energy(s[0]).shape == ()
    assert dam.energy(s[0]).item() == pytest.approx(want[0].item(), rel=1e-13)


@pytest.mark.parametrize("F,n,beta", KINDS + [("exp", 1, 400.0)])
def test_energy_gaps_are_energy_differences(F, n, beta, gen):
    """Checks eq-dense-gap: g_i = E(xi with xi_i=-1) - E(xi with xi_i=+1), every unit, exactly."""
    d = 10
    x = _pm1((6, d), gen)
    s = _pm1((5, d), gen)
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    gaps = dam.energy_gaps(s)
    for i in range(d):
        plus, minus = s.clone(), s.clone()
        plus[:, i], minus[:, i] = 1.0, -1.0
        if F == "exp" and beta > 300:
            # energies overflow here; compare log(-E) differences through the sign only
            la, lb = dam.log_neg_energy(minus), dam.log_neg_energy(plus)
            assert torch.equal(torch.sign(gaps[:, i]), torch.sign(lb - la))
            continue
        want = _explicit_energy(minus, x, F, n, beta) - _explicit_energy(plus, x, F, n, beta)
        if F == "exp":
            assert torch.allclose(gaps[:, i], want, rtol=1e-9, atol=1e-9 * want.abs().max())
        else:
            assert torch.equal(gaps[:, i], want)


def test_exp_large_beta_is_finite(gen):
    """Checks eq-dense-update for F = exp at beta * d far beyond float64: decisions stay finite."""
    x = _pm1((20, 64), gen)
    dam = DenseAssociativeMemory(x, F="exp", beta=50.0)  # beta * d = 3200
    assert bool(dam.is_fixed_point(x).all())
    cue = x[:3].clone()
    cue[:, :5] *= -1
    assert torch.equal(dam.recall(cue), x[:3])
    assert bool(torch.isfinite(dam.log_neg_energy(x)).all())


# ------------------------------------------------------------------------------ descent


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n_pat=st.integers(1, 12),
    d=st.integers(2, 14),
    seed=st.integers(0, 2**31 - 1),
)
def test_async_update_never_raises_energy(kind, n_pat, d, seed):
    """Checks the descent theorem of chapter 3 (eq-dense-update): no single-unit step raises E."""
    F, n, beta = kind
    g = torch.Generator().manual_seed(seed)
    x = _pm1((n_pat, d), g)
    s = _pm1((6, d), g)
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    e = dam.energy(s)
    for i in torch.randint(0, d, (3 * d,), generator=g).tolist():
        s = dam.update(s, order=torch.tensor([i]))
        e_new = dam.energy(s)
        if F == "exp":
            assert bool((e_new <= e + 1e-12 * e.abs()).all())
        else:
            assert bool((e_new <= e).all())  # exact integer arithmetic
        e = e_new
    # recall ends at a fixed point, with an energy no higher than the cue's
    out = dam.recall(s)
    assert bool(dam.is_fixed_point(out).all())
    assert bool((dam.energy(out) <= e + 1e-12 * e.abs()).all())


def test_update_modes_and_shapes(gen):
    """Checks eq-dense-update: sync applies sign(g) to all units; shapes and dtypes are kept."""
    x = _pm1((5, 16), gen)
    s = _pm1((4, 16), gen, dtype=torch.float32)
    dam = DenseAssociativeMemory(x, F="poly", n=3)
    g = dam.energy_gaps(s.double())
    want = torch.where(g > 0, 1.0, torch.where(g < 0, -1.0, s.double()))
    out = dam.update(s, mode="sync")
    assert out.dtype == torch.float32 and out.shape == s.shape
    assert torch.equal(out.double(), want)
    one = dam.update(s[0], sweeps=2, order="random", generator=gen)
    assert one.shape == (16,)
    assert torch.equal(dam.update(x), x.double()) or not bool(dam.is_fixed_point(x).all())


def test_stored_patterns_are_recalled(gen):
    """Checks eq-dense-update far below capacity: stored patterns are fixed points and attract
    cues."""
    d = 64
    x = _pm1((8, d), gen)
    for F, n in (("poly", 3), ("rectified", 3), ("exp", 1)):
        dam = DenseAssociativeMemory(x, F=F, n=n, beta=1.0)
        assert bool(dam.is_fixed_point(x).all())
        cue = x.clone()
        cue[:, :10] *= -1  # 10 of 64 bits flipped
        assert torch.equal(dam.recall(cue), x)


# ------------------------------------------------------------------------------ n = 2


def test_n2_equals_classical_hopfield(gen):
    """Checks eq-dense-n2: for F(x)=x^2, E = 2 d E_H - N d and g_i = 4 d (W xi)_i exactly.

    d is a power of two, so W = X^T X / d is exact in float64 and the equalities are exact.
    """
    d, n_pat = 32, 9
    x = _pm1((n_pat, d), gen)
    s = _pm1((50, d), gen)
    w = hopfield.hebbian(x)
    assert torch.equal(torch.diagonal(w), torch.zeros(d, dtype=torch.float64))
    dam = DenseAssociativeMemory(x, F="poly", n=2)
    assert torch.equal(dam.energy(s), 2 * d * hopfield.energy(w, s) - n_pat * d)
    assert torch.equal(dam.energy_gaps(s), 4 * d * hopfield.local_field(w, s))


def test_n2_same_update_decisions_as_classical():
    """Checks eq-dense-n2/eq-dense-update: n = 2 makes the classical decision at every step, ties
    included."""
    gen = torch.Generator().manual_seed(1)  # a draw whose fields hit exact zeros (ties)
    d, n_pat = 16, 4
    x = _pm1((n_pat, d), gen)
    s = _pm1((200, d), gen)
    w = hopfield.hebbian(x)
    net = hopfield.HopfieldNetwork(d)
    net.store(x)
    dam = DenseAssociativeMemory(x, F="poly", n=2)
    # synchronous step and fixed points against the classical network
    assert torch.equal(dam.update(s, mode="sync"), net.update(s, mode="sync"))
    assert torch.equal(dam.is_fixed_point(s), net.is_fixed_point(s))
    # asynchronous sweep in a fixed order against the classical rule written out
    order = torch.randperm(d, generator=gen)
    ref = s.clone()
    ties = 0
    for i in order.tolist():
        h = hopfield.local_field(w, ref)[:, i]
        ties += int((h == 0).sum())
        ref[:, i] = torch.where(h > 0, 1.0, torch.where(h < 0, -1.0, ref[:, i]))
    assert ties > 0  # the tie convention is exercised
    assert torch.equal(dam.update(s, order=order), ref)


# ------------------------------------------------------------------------------ attention


@pytest.mark.parametrize("beta", [0.05, 0.37, 1.0, 3.0])
def test_exp_update_is_leave_one_out_attention(beta, gen):
    """Checks eq-dense-attention: g_i = 2 sinh(beta) Z_i [X softmax(beta X^T xi^(i0))]_i, Z_i > 0.

    The read-out is computed with ebmlib.modern.update (chapter 4) on the state with unit i set
    to zero, and its sign equals the dense exponential update of unit i.
    """
    d = 12
    x = _pm1((15, d), gen)
    s = _pm1((7, d), gen)
    dam = DenseAssociativeMemory(x, F="exp", beta=beta)
    field = dam.attention_field(s)
    gaps = dam.energy_gaps(s)
    for i in range(d):
        masked = s.clone()
        masked[:, i] = 0.0
        read = modern.update(masked, x, beta)[:, i]
        assert torch.allclose(field[:, i], read, rtol=1e-12, atol=1e-14)
        z = torch.exp(beta * masked @ x.T).sum(1)
        assert torch.allclose(gaps[:, i], 2 * math.sinh(beta) * z * read, rtol=1e-10, atol=0)
        new = dam.update(s, order=torch.tensor([i]))[:, i]
        assert torch.equal(new, torch.where(read > 0, 1.0, torch.where(read < 0, -1.0, s[:, i])))


# ------------------------------------------------------------------------------ capacity


def test_double_factorial():
    """Checks the (2n - 3)!! of eq-dense-poly-capacity on hand values."""
    assert dense.double_factorial(-1) == 1 and dense.double_factorial(0) == 1
    assert dense.double_factorial(5) == 15 and dense.double_factorial(7) == 105


@pytest.mark.parametrize("n", [2, 3, 4])
def test_poly_crosstalk_by_monte_carlo(n):
    """Checks eq-dense-snr: signal and crosstalk variance of the gap (see check_poly_crosstalk)."""
    check_poly_crosstalk(n)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_poly_capacity_is_the_snr_condition(n):
    """Checks eq-dense-poly-capacity against the SNR condition evaluated with exact sums; at
    n = 2 it is the classical d / (2 ln d) of McEliece et al. (1987)."""
    check_poly_capacity_leading_order(n)
    assert dense.poly_capacity(1e4, 2) == pytest.approx(1e4 / (2 * math.log(1e4)), rel=1e-14)


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.25])
def test_exp_capacity_rate_is_a_large_deviation_rate(rho):
    """Checks eq-dense-exp-rate against exact binomial tails (see check_exp_capacity_rate)."""
    check_exp_capacity_rate(rho)


def test_exp_capacity_pairs_counts_close_pairs():
    """Checks eq-dense-pairs by Monte Carlo (see check_close_pairs)."""
    check_close_pairs()


def test_gaussian_capacity_tends_to_leading_order():
    """Checks eq-dense-snr against eq-dense-poly-capacity: their ratio decreases towards 1 as d
    grows."""
    for n in (2, 3, 4):
        ratios = [
            dense.poly_capacity_gaussian(d, n) / dense.poly_capacity(d, n)
            for d in (100, 10_000, 1_000_000)
        ]
        assert ratios[0] > ratios[1] > ratios[2] > 1.0
        assert ratios[2] < 1.3


def test_stable_fraction_matches_exact_enumeration():
    """Checks eq-dense-update: the Monte Carlo probability that a stored pattern is a fixed point
    matches exact enumeration over all other-pattern configurations (d = 5, N = 3, n = 3).

    By symmetry the probed pattern can be all +1; the other two patterns take all 2^10 values.
    The tolerance is 4 binomial standard errors of the Monte Carlo estimate.
    """
    d, n_pat, n = 5, 3, 3
    others = _all_states(d * (n_pat - 1)).view(-1, n_pat - 1, d)
    ok = 0
    for o in others:
        x = torch.cat([torch.ones(1, d, dtype=torch.float64), o])
        ok += int(DenseAssociativeMemory(x, F="poly", n=n).is_fixed_point(x[0]))
    p_exact = ok / others.shape[0]
    trials = 4000
    p_mc = dense.stable_fraction(
        n_pat, d, F="poly", n=n, trials=trials, probes=1, generator=torch.Generator().manual_seed(3)
    )
    se = math.sqrt(p_exact * (1 - p_exact) / trials)
    assert 0.05 < p_exact < 0.95
    assert abs(p_mc - p_exact) < 4 * se


def test_first_unstable_count_is_exact_on_a_sequence():
    """Checks eq-dense-update for F = exp: the returned N is the first prefix with an unstable
    pattern."""
    g = torch.Generator().manual_seed(11)
    d = 8
    n_first = dense.first_unstable_count(d, n_max=256, generator=g)
    pool = (
        torch.randint(0, 2, (256, d), generator=torch.Generator().manual_seed(11)).double() * 2 - 1
    )
    ok = [
        bool(DenseAssociativeMemory(pool[:k], F="exp").is_fixed_point(pool[:k]).all())
        for k in range(1, n_first + 1)
    ]
    assert not ok[-1]
    assert ok[n_first - 2]  # the prefix before it is stable (bisection brackets one change)


@pytest.mark.parametrize("n,d", [(3, 28), (4, 28)])
def test_measured_poly_capacity_against_theory(n, d):
    """Checks eq-dense-snr and eq-dense-poly-capacity against the measured N_max (chapter 3
    settings).

    The measured capacity (stable fraction >= 1/2, 800 probes, standard error <= 0.018) lies above
    the leading-order formula eq-dense-poly-capacity, which drops factors that grow more slowly than
    a power of d, and within 25 % of the finite-d Gaussian prediction eq-dense-snr, whose remaining
    approximations (independent units, Gaussian tails) are of that order at d = 28.
    """
    measured = dense.capacity_bisect(d, F="poly", n=n, trials=4, probes=200, seed=n)
    gauss = dense.poly_capacity_gaussian(d, n)
    assert measured > dense.poly_capacity(d, n)
    assert 0.8 < measured / gauss < 1.25, (measured, gauss)


def test_measured_exp_capacity_slope():
    """Checks eq-dense-exp-rate and eq-dense-pairs: ln N_max grows linearly in d with the close-pair
    slope.

    N_max(d) is the median over 40 random pattern sequences of the largest N with all patterns
    stable, d = 6, 8, ..., 16. The tolerance is 4 bootstrap standard errors of the fitted slope
    (resampling the 40 sequences). A rate of ln 2 (single-pattern union bound) or ln(2)/4 would lie
    far outside it. The slope is also compared with the asymptotic rate ln(2)/2 of Demircigil et
    al., which finite d approaches from below.
    """
    import numpy as np

    ds = np.arange(6, 18, 2)
    g = torch.Generator().manual_seed(7)
    runs = np.array(
        [[dense.first_unstable_count(int(dv), generator=g) - 1 for _ in range(40)] for dv in ds]
    )
    slope = np.polyfit(ds, np.log(np.median(runs, 1)), 1)[0]
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(300):
        idx = rng.integers(0, runs.shape[1], size=runs.shape)
        med = np.median(np.take_along_axis(runs, idx, 1), 1)
        boot.append(np.polyfit(ds, np.log(med), 1)[0])
    se = float(np.std(boot))
    pairs_slope = np.polyfit(ds, np.log(dense.exp_capacity_pairs(ds)), 1)[0]
    assert pairs_slope < dense.exp_capacity_rate(0.0)
    assert abs(slope - pairs_slope) < 4 * se, (slope, pairs_slope, se)
    assert slope < dense.exp_capacity_rate(0.0) + 4 * se


# ------------------------------------------------------------------------------ Gibbs


def _chi2_check(samples, probs, alpha=1e-4):
    """Pearson chi-square goodness of fit, bins with expected count < 5 merged into one."""
    from scipy.stats import chi2

    n_samp = samples.shape[0]
    d = samples.shape[1]
    idx = ((samples > 0).long() * (2 ** torch.arange(d - 1, -1, -1))).sum(1)
    counts = torch.bincount(idx, minlength=2**d).double()
    expected = probs * n_samp
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum().view(1)])
    exp_ = torch.cat([expected[big], expected[~big].sum().view(1)])
    keep = exp_ > 0
    stat = float(((obs[keep] - exp_[keep]) ** 2 / exp_[keep]).sum())
    dof = int(keep.sum()) - 1
    return stat, float(chi2.isf(alpha, dof))


@pytest.mark.parametrize(
    "F,n,beta,T,order",
    [
        ("poly", 2, 1.0, 0.7, "sequential"),
        ("poly", 2, 1.0, 8.0, "random"),
        ("poly", 3, 1.0, 40.0, "sequential"),
        ("poly", 3, 1.0, 400.0, "random"),
        ("rectified", 3, 1.0, 30.0, "random"),
        ("exp", 1, 0.5, 0.6, "random"),
        ("exp", 1, 0.5, 3.0, "sequential"),
    ],
)
def test_gibbs_leaves_boltzmann_distribution_invariant(F, n, beta, T, order):
    """Checks eq-dense-gibbs: exact samples of exp(-E/T)/Z stay exact, at temperatures below
    and above 1 (and from nearly frozen to nearly uniform in units of the energy gaps), for
    both unit orders (see check_dense_gibbs_stays_exact)."""
    check_dense_gibbs_stays_exact(F, n, beta, T, order)


@pytest.mark.parametrize(
    "F,n,beta,T,units",
    [
        ("poly", 2, 1.0, 0.8, None),
        ("poly", 2, 1.0, 5.0, [3, 1, 4, 0, 2]),
        ("poly", 3, 1.0, 30.0, None),
        ("exp", 1, 0.7, 0.5, [4, 2, 0, 1, 3]),
        ("exp", 1, 0.7, 2.5, None),
    ],
)
def test_gibbs_one_sweep_matches_exact_kernel(F, n, beta, T, units):
    """Checks eq-dense-gibbs: one sweep follows the exact kernel of the heat-bath rule built
    from the explicit energy (see check_dense_gibbs_one_sweep)."""
    check_dense_gibbs_one_sweep(F, n, beta, T, units)


@pytest.mark.parametrize(
    "F,n,beta,T,order",
    [
        ("poly", 2, 1.0, 6.0, "random"),
        ("poly", 3, 1.0, 120.0, "sequential"),
        ("exp", 1, 0.3, 3.0, "random"),
    ],
)
def test_gibbs_converges_to_boltzmann_distribution(F, n, beta, T, order):
    """Checks eq-dense-gibbs: from uniform random starts, 40 sweeps reach exp(-E/T)/Z (d = 7,
    all 2^d states enumerated) at temperatures where the chain mixes fast.

    20000 chains; Pearson chi-square at significance 1e-4 (multinomial sample size).
    """
    d = 7
    g = torch.Generator().manual_seed(5)
    x = _pm1((3, d), g)
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    probs = torch.softmax(-dam.energy(_all_states(d)) / T, 0)
    s0 = _pm1((20000, d), g)
    samples = dam.gibbs(s0, T, sweeps=40, order=order, generator=g)
    stat, crit = _chi2_check(samples, probs)
    assert stat < crit, (stat, crit)


@pytest.mark.parametrize("F,n,beta", [("poly", 2, 1.0), ("poly", 3, 1.0), ("exp", 1, 0.37)])
def test_gibbs_at_tiny_temperature_is_the_update(F, n, beta, gen):
    """Checks eq-dense-gibbs -> eq-dense-update as T -> 0 (d even, N odd: no exact ties for n = 2,
    3)."""
    d = 16
    x = _pm1((5, d), gen)
    s = _pm1((100, d), gen)
    dam = DenseAssociativeMemory(x, F=F, n=n, beta=beta)
    order = torch.randperm(d, generator=gen)
    want = dam.update(s, sweeps=3, order=order)
    got = dam.gibbs(s, 1e-30, sweeps=3, order=order, generator=gen)
    assert torch.equal(got, want)


# ------------------------------------------------------------------------------ demo


def test_draw_recall_returns_axes():
    """Checks the chapter 3 demo: draws cue, recall and stored letter, overlap in the title."""
    ax = dense.draw_recall(F="exp", corruption=0.2, letters="ABC", size=8)
    assert "m = " in ax.get_title()
    assert len(ax.images) == 1
    with pytest.raises(ValueError, match="target"):
        dense.draw_recall(letters="AB", target=5)


# ------------------------------------------------------------------------------ bad inputs


def test_bad_constructor_inputs():
    """Checks eq-dense-energy's domain: bipolar float patterns, a known F, n >= 1, beta > 0."""
    x = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    with pytest.raises(TypeError, match="patterns"):
        DenseAssociativeMemory([[1, -1]])
    with pytest.raises(ValueError, match="patterns"):
        DenseAssociativeMemory(torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="patterns"):
        DenseAssociativeMemory(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="patterns"):
        DenseAssociativeMemory(torch.empty(0, 3))
    with pytest.raises(ValueError, match="patterns"):
        DenseAssociativeMemory(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="F"):
        DenseAssociativeMemory(x, F="cubic")
    with pytest.raises(ValueError, match="n"):
        DenseAssociativeMemory(x, n=0)
    with pytest.raises(TypeError, match="n"):
        DenseAssociativeMemory(x, n=2.5)


@settings(max_examples=20, deadline=None)
@given(beta=st.one_of(st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf"))))
def test_bad_beta(beta):
    """Checks eq-dense-energy: F = exp(beta x) needs a finite beta > 0."""
    with pytest.raises(ValueError, match="beta"):
        DenseAssociativeMemory(torch.ones(2, 3), F="exp", beta=beta)


def test_bad_state_inputs(gen):
    """Checks eq-dense-update/eq-dense-gibbs arguments: states shape and values, T, sweeps, mode,
    order."""
    x = _pm1((3, 6), gen)
    dam = DenseAssociativeMemory(x)
    s = _pm1((2, 6), gen)
    with pytest.raises(ValueError, match="states"):
        dam.energy(_pm1((2, 5), gen))
    with pytest.raises(ValueError, match="states"):
        dam.update(torch.zeros(2, 6, dtype=torch.float64))
    # integer +-1 tensors are accepted and give the same results
    dam_int = DenseAssociativeMemory(x.long())
    assert torch.equal(dam_int.energy(s.long()), dam.energy(s))
    assert torch.equal(dam_int.update(s.long()), dam.update(s).long())
    with pytest.raises(TypeError, match="states"):
        dam.energy(torch.ones(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="cues"):
        dam.recall(torch.full((6,), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="T"):
        dam.gibbs(s, 0.0)
    with pytest.raises(ValueError, match="T"):
        dam.gibbs(s, -1.0)
    with pytest.raises(ValueError, match="sweeps"):
        dam.update(s, sweeps=0)
    with pytest.raises(ValueError, match="mode"):
        dam.update(s, mode="parallel")
    with pytest.raises(ValueError, match="order"):
        dam.update(s, order="backwards")
    with pytest.raises(ValueError, match="order"):
        dam.update(s, order=torch.tensor([0, 6]))
    with pytest.raises(TypeError, match="generator"):
        dam.gibbs(s, 1.0, generator=0)
    with pytest.raises(ValueError, match="log_neg_energy"):
        dam.log_neg_energy(s)
    with pytest.raises(ValueError, match="rho"):
        dense.exp_capacity_rate(0.5)
    with pytest.raises(ValueError, match="d"):
        dense.poly_capacity(torch.tensor([0.5, 10.0], dtype=torch.float64), 2)
    with pytest.raises(ValueError, match="d"):
        dense.poly_capacity(1.0, 2)
    with pytest.raises(ValueError, match="d"):
        dense.exp_capacity_pairs(0)


# ------------------------------------------------------------------------------ CUDA


@pytest.mark.cuda
def test_cuda_matches_cpu():
    """Checks eq-dense-energy, eq-dense-update and eq-dense-gibbs on CUDA: same energies and updates
    as on the CPU."""
    g = torch.Generator().manual_seed(0)
    x = _pm1((20, 32), g)
    s = _pm1((64, 32), g)
    for F, n in (("poly", 3), ("exp", 1)):
        cpu = DenseAssociativeMemory(x, F=F, n=n)
        gpu = DenseAssociativeMemory(x.cuda(), F=F, n=n)
        assert torch.allclose(gpu.energy(s.cuda()).cpu(), cpu.energy(s), rtol=1e-12)
        assert torch.equal(gpu.update(s.cuda(), sweeps=2).cpu(), cpu.update(s, sweeps=2))
        gc = torch.Generator(device="cuda").manual_seed(1)
        out = gpu.gibbs(s.cuda(), 1.0, sweeps=2, order="random", generator=gc)
        assert out.device.type == "cuda" and out.shape == s.shape
    with pytest.raises(ValueError, match="device"):
        DenseAssociativeMemory(x.cuda()).energy(s)
