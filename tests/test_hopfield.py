"""Tests of ``ebmlib.hopfield`` against the equations of chapter 2 (Classical Hopfield networks).

Each docstring names the equations of chapter 2 it checks by their labels in the book
(eq-hopfield-hebb, eq-hopfield-update, ...).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ebmlib
from ebmlib import hopfield as H
from ebmlib.hopfield import HopfieldNetwork

RULES = ["hebbian", "storkey", "pseudoinverse"]


def _pm1(shape, g, dtype=torch.float64):
    return (torch.randint(0, 2, shape, generator=g) * 2 - 1).to(dtype)


def _hadamard(k: int) -> torch.Tensor:
    h = torch.ones(1, 1, dtype=torch.float64)
    for _ in range(k):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


# ---------------------------------------------------------------------------------------------
# Independent references and checks shared with test_wrong_variants_part1.py (each raises
# AssertionError on failure)
# ---------------------------------------------------------------------------------------------
def _phi(z: float) -> float:
    """Standard normal distribution function, written out (independent of ebmlib)."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _storkey_reference(x: torch.Tensor) -> torch.Tensor:
    """Storkey (1997) written with explicit loops over units, straight from
    eq-hopfield-storkey."""
    n, d = x.shape
    w = torch.zeros(d, d, dtype=torch.float64)
    for mu in range(n):
        xi = x[mu]
        new = w.clone()
        for i in range(d):
            for j in range(d):
                if i == j:
                    continue
                h_ij = sum(w[i, k] * xi[k] for k in range(d) if k not in (i, j))
                h_ji = sum(w[j, k] * xi[k] for k in range(d) if k not in (i, j))
                new[i, j] = w[i, j] + (xi[i] * xi[j] - xi[i] * h_ji - h_ij * xi[j]) / d
        w = new
    return w


def check_hebbian() -> None:
    """eq-hopfield-hebb: a case worked by hand, and the definition summed term by term.

    Hand case: x_1 = (1, 1, -1), x_2 = (1, -1, 1) on d = 3 units. The sum of the two outer
    products is [[2, 0, 0], [0, 2, -2], [0, -2, 2]]; clearing the diagonal and dividing by
    d = 3 leaves W_23 = W_32 = -2/3 and zeros elsewhere.
    """
    x = torch.tensor([[1.0, 1, -1], [1, -1, 1]], dtype=torch.float64)
    want = torch.zeros(3, 3, dtype=torch.float64)
    want[1, 2] = want[2, 1] = -2 / 3
    torch.testing.assert_close(H.hebbian(x), want, rtol=0, atol=1e-15)
    g = torch.Generator().manual_seed(1)
    x = _pm1((5, 9), g)
    w = H.hebbian(x)
    n, d = x.shape
    ref = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d):
        for j in range(d):
            if i != j:
                ref[i, j] = sum(x[mu, i] * x[mu, j] for mu in range(n)) / d
    torch.testing.assert_close(w, ref, rtol=0, atol=1e-15)


def check_storkey() -> None:
    """eq-hopfield-storkey: a case worked by hand, and the definition evaluated unit by unit.

    Hand case: x_1 = (1, 1, 1), x_2 = (1, -1, 1), d = 3. After x_1 (W = 0, so h = 0) every
    W_ij = 1/3. For x_2, the field leaving out i and j is the single remaining term:
    h_12 = h_21 = W_13 x_3 = 1/3, h_13 = h_31 = W_12 x_2 = -1/3, h_23 = h_32 = W_21 x_1 = 1/3.
    So dW_12 = (-1 - 1/3 + 1/3)/3 = -1/3, dW_13 = (1 + 1/3 + 1/3)/3 = 5/9,
    dW_23 = (-1 + 1/3 - 1/3)/3 = -1/3, and W = [[0, 0, 8/9], [0, 0, 0], [8/9, 0, 0]].
    """
    x = torch.tensor([[1.0, 1, 1], [1, -1, 1]], dtype=torch.float64)
    want = torch.zeros(3, 3, dtype=torch.float64)
    want[0, 2] = want[2, 0] = 8 / 9
    torch.testing.assert_close(H.storkey(x), want, rtol=0, atol=1e-12)
    g = torch.Generator().manual_seed(2)
    x = _pm1((4, 7), g)
    torch.testing.assert_close(H.storkey(x), _storkey_reference(x), rtol=1e-12, atol=1e-12)


def check_pseudoinverse() -> None:
    """eq-hopfield-pinv and thm-hopfield-pinv, against independent answers.

    (1) For orthogonal patterns (rows of a Hadamard matrix) X X^T = d I, so the projector is
    X^T X / d and W is the Hebbian matrix (X^T X - N I) / d. (2) For strongly correlated
    random patterns (full rank), W + diag(P) equals X^T (X X^T)^{-1} X formed with an ordinary
    inverse; every stored pattern has the field (1 - P_ii) x_i exactly and is a fixed point.
    """
    x = _hadamard(5)[1:9]  # N = 8 orthogonal patterns, d = 32
    want = (x.T @ x - 8 * torch.eye(32, dtype=torch.float64)) / 32
    torch.testing.assert_close(H.pseudoinverse(x), want, rtol=0, atol=1e-12)
    g = torch.Generator().manual_seed(3)
    x = ebmlib.random_patterns(30, 100, correlation=0.8, generator=g, dtype=torch.float64)
    p = x.T @ torch.linalg.inv(x @ x.T) @ x
    w = H.pseudoinverse(x)
    torch.testing.assert_close(w + torch.diag(torch.diagonal(p)), p, rtol=0, atol=1e-10)
    torch.testing.assert_close(w, w.T, rtol=0, atol=0)
    field = x @ w  # rows: W x for each pattern (W symmetric)
    torch.testing.assert_close(field, x * (1 - torch.diagonal(p)), rtol=0, atol=1e-10)
    net = HopfieldNetwork(100, rule="pseudoinverse", dtype=torch.float64).store(x)
    assert bool(net.is_fixed_point(x).all())


def check_network_stores_with(rule: str) -> None:
    """``HopfieldNetwork(rule=...).store`` holds the weights of the independent reference of
    that rule (hand-checked above) and its fields are W s."""
    g = torch.Generator().manual_seed(4)
    x = _pm1((4, 7), g)
    s = _pm1((6, 7), g)
    if rule == "hebbian":
        ref = (x.T @ x - 4 * torch.eye(7, dtype=torch.float64)) / 7
    elif rule == "storkey":
        ref = _storkey_reference(x)
    else:
        p = x.T @ torch.linalg.inv(x @ x.T) @ x
        ref = p - torch.diag(torch.diagonal(p))
    net = HopfieldNetwork(7, rule=rule, dtype=torch.float64).store(x)
    torch.testing.assert_close(net.weights, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(net.local_field(s), s @ ref, rtol=0, atol=1e-12)


def _async_reference(w: torch.Tensor, s: torch.Tensor, order) -> torch.Tensor:
    """One asynchronous sweep in a given order, unit by unit (eq-hopfield-update)."""
    s = s.clone()
    for i in order:
        h = float(w[i] @ s)
        if h != 0:
            s[i] = 1.0 if h > 0 else -1.0
    return s


def check_async_order_is_uniform(n: int = 24000, seed: int = 6) -> None:
    """eq-hopfield-update with random orders: on d = 4 units, from a state whose sweep outcome
    depends on the order, the law of the outcome of one sweep of ``n`` copies (one call) equals
    the exact law, the average over all 24 orders of the reference sweep (TV tolerance as in
    test_ising: 0.5 sum sqrt(p (1-p) / n) + sqrt(log(1e6) / (2 n)))."""
    w = torch.tensor(
        [[0, 1.0, -2.0, 0.5], [1.0, 0, 1.5, -1.0], [-2.0, 1.5, 0, 1.0], [0.5, -1.0, 1.0, 0]],
        dtype=torch.float64,
    )
    start = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    code = 2 ** torch.arange(4)
    p = torch.zeros(16, dtype=torch.float64)
    for order in itertools.permutations(range(4)):
        out = _async_reference(w, start, order)
        p[int(((out > 0).long() * code).sum())] += 1 / 24
    assert (p > 0).sum() >= 3  # the outcome really depends on the order
    net = HopfieldNetwork(4, dtype=torch.float64).set_weights(w)
    gen = torch.Generator().manual_seed(seed)
    got = net.update(start.expand(n, 4).clone(), sweeps=1, generator=gen)
    labels = ((got > 0).long() * code).sum(1)
    emp = torch.bincount(labels, minlength=16).double() / n
    tol = 0.5 * float(torch.sqrt(p * (1 - p) / n).sum()) + math.sqrt(math.log(1e6) / (2 * n))
    assert 0.5 * float((emp - p).abs().sum()) <= tol


def check_zero_field_keeps_unit() -> None:
    """eq-hopfield-update: at h_i = 0 the unit keeps its value, in the synchronous update, in
    one asynchronous step, and for Hebbian fields k/d that are not exact in floating point."""
    net = HopfieldNetwork(3).store(torch.ones(1, 3))
    s = torch.tensor([[1.0, 1.0, -1.0], [-1.0, 1.0, -1.0]])
    h = net.local_field(s)  # h_i = (sum of the other two units) / 3
    assert h[0, 0] == 0 and h[0, 1] == 0 and h[1, 0] == 0 and h[1, 2] == 0
    assert bool((net.update(s, mode="sync") == torch.tensor([[1.0, 1, 1], [-1, -1, -1]])).all())
    one = net.step(s, torch.tensor([0, 2]))
    assert bool((one == s).all())
    g = torch.Generator().manual_seed(5)
    x = _pm1((3, 10), g, dtype=torch.float32)
    net = HopfieldNetwork(10).store(x)
    s = _pm1((200, 10), g, dtype=torch.float32)
    exact = s.double() @ (x.double().T @ x.double() - 3 * torch.eye(10, dtype=torch.float64))
    new = net.update(s, mode="sync")
    assert bool((new[exact == 0] == s[exact == 0]).all())
    assert bool((new[exact != 0] == torch.sign(exact[exact != 0]).float()).all())


def check_one_step_error_against_phi(alpha: float = 0.25, d: int = 1000, trials: int = 120):
    """eq-hopfield-perror: Monte Carlo one-step error rate against Phi(-1/sqrt(alpha)) (written
    out here with math.erfc), and ``one_step_error_theory`` against the same number.

    Unit i of pattern i in independent networks (n = trials * N nearly independent units):
    the count is Binomial(n, p_d) with p_d the finite-d error of eq-hopfield-perror-exact;
    tolerance 5 binomial standard deviations plus |p_d - Phi(-1/sqrt(alpha))|, with p_d from
    the normal approximation (with continuity correction) of that binomial tail."""
    g = torch.Generator().manual_seed(2024)
    n = round(alpha * d)
    idx = torch.arange(n)
    wrong = 0
    for _ in range(trials):
        x = ebmlib.random_patterns(n, d, generator=g)
        y = HopfieldNetwork(d, matrix_free=True).store(x).update(x, mode="sync")
        wrong += int((y[idx, idx] != x[idx, idx]).sum())
    total = n * trials
    p = _phi(-1 / math.sqrt(alpha))
    m_terms = (n - 1) * (d - 1)  # crosstalk: a sum of m_terms fair signs; error if < -(d-1)
    k_max = math.ceil((m_terms - d + 1) / 2) - 1
    p_d = _phi((k_max + 0.5 - m_terms / 2) / math.sqrt(m_terms / 4))
    shift = abs(p_d - p)
    sd = math.sqrt(total * p * (1 - p))
    assert abs(wrong - total * p) <= 5 * sd + total * shift, (wrong / total, p)
    assert H.one_step_error_theory(alpha) == pytest.approx(p, rel=1e-12)


def _ags_retrieval_overlap(alpha: float, iters: int = 8000) -> float:
    """The T = 0 replica-symmetric AGS equations iterated as written (Amit, Gutfreund and
    Sompolinsky 1987): m = erf(m / sqrt(2 alpha r)), C = sqrt(2 / (pi alpha r))
    exp(-m^2 / (2 alpha r)), r = 1 / (1 - C)^2, from m = 1, C = 0. Returns the overlap it
    settles at (0 when the retrieval solution does not exist)."""
    m, c = 1.0, 0.0
    for _ in range(iters):
        r = 1.0 / (1.0 - c) ** 2
        y = m / math.sqrt(2 * alpha * r)
        m = math.erf(y)
        c = math.sqrt(2 / (math.pi * alpha * r)) * math.exp(-y * y)
        if c >= 1:
            return 0.0
    return m


def check_ags_capacity() -> None:
    """eq-hopfield-ags solved numerically here, independently of ebmlib: the retrieval solution
    disappears at alpha_c = 0.1379 (bisection on its existence), the published 0.138, with
    m(alpha_c) = 0.967; ``ags_critical_alpha`` and ``ags_overlap`` agree with it."""
    lo, hi = 0.10, 0.20
    for _ in range(25):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _ags_retrieval_overlap(mid) > 0.5 else (lo, mid)
    assert abs(lo - 0.138) < 5e-4
    assert abs(H.ags_critical_alpha() - lo) < 1e-5
    # published to three digits; m rises like sqrt(alpha_c - alpha), by 3e-4 at 1e-6 below
    assert _ags_retrieval_overlap(lo - 1e-6) == pytest.approx(0.967, abs=1e-3)
    for alpha in (0.02, 0.08, 0.13):
        assert H.ags_overlap(alpha) == pytest.approx(_ags_retrieval_overlap(alpha), abs=1e-9)
    assert math.isnan(H.ags_overlap(lo + 1e-4))


# ---------------------------------------------------------------------------------------------
# storage rules
# ---------------------------------------------------------------------------------------------
def test_hebbian_matches_definition():
    """Checks eq-hopfield-hebb: a hand-worked case and the term-by-term definition."""
    check_hebbian()


def test_hebbian_integer_input_and_float32(gen):
    """Checks eq-hopfield-hebb: integer patterns are converted, float32 is kept, W symmetric."""
    xi = torch.randint(0, 2, (4, 7), generator=gen) * 2 - 1
    w = H.hebbian(xi)
    assert w.dtype == torch.get_default_dtype()
    w32 = H.hebbian(xi.float())
    assert w32.dtype == torch.float32
    torch.testing.assert_close(w32, w32.T)
    assert bool((torch.diagonal(w32) == 0).all())


def test_storkey_matches_hand_case_and_loop_definition():
    """Checks eq-hopfield-storkey: a hand-worked case and the unit-by-unit definition."""
    check_storkey()


def test_pseudoinverse_against_independent_answers():
    """Checks eq-hopfield-pinv and thm-hopfield-pinv (see check_pseudoinverse)."""
    check_pseudoinverse()


@pytest.mark.parametrize("rule", RULES)
def test_network_stores_with_its_rule(rule):
    """Checks eq-hopfield-hebb, eq-hopfield-storkey and eq-hopfield-pinv through
    HopfieldNetwork.store: its weights and fields are those of the independent references."""
    check_network_stores_with(rule)


def test_storkey_differs_from_hebb_and_depends_on_order(gen):
    """Checks eq-hopfield-storkey: from the second pattern on, the correction terms change the
    weights (Storkey is not Hebb) and the result depends on the order of the patterns."""
    x = _pm1((3, 9), gen)
    assert (H.storkey(x) - H.hebbian(x)).abs().max() > 1e-3
    assert (H.storkey(x) - H.storkey(x.flip(0))).abs().max() > 1e-3


def test_storkey_first_pattern_is_hebbian(gen):
    """Checks eq-hopfield-storkey: from W = 0 the first Storkey increment is the Hebbian term
    eq-hopfield-hebb."""
    x = _pm1((1, 12), gen)
    torch.testing.assert_close(H.storkey(x), H.hebbian(x))


def test_pseudoinverse_is_projector_without_diagonal(gen):
    """Checks eq-hopfield-pinv: W + diag(P) = X^T (X X^T)^{-1} X, symmetric, zero diagonal."""
    x = _pm1((6, 20), gen)
    w = H.pseudoinverse(x)
    p = x.T @ torch.linalg.inv(x @ x.T) @ x
    torch.testing.assert_close(w + torch.diag(torch.diagonal(p)), p, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, w.T, rtol=0, atol=0)
    assert bool((torch.diagonal(w) == 0).all())


def test_pseudoinverse_stores_correlated_patterns(gen):
    """Checks eq-hopfield-pinv: every pattern is a fixed point, even strongly correlated ones."""
    x = ebmlib.random_patterns(30, 100, correlation=0.8, generator=gen, dtype=torch.float64)
    net = HopfieldNetwork(100, rule="pseudoinverse", dtype=torch.float64).store(x)
    assert bool(net.is_fixed_point(x).all())
    heb = HopfieldNetwork(100, rule="hebbian", dtype=torch.float64).store(x)
    assert not bool(heb.is_fixed_point(x).all())  # Hebbian interference (section on correlation)


def test_pseudoinverse_rank_deficient():
    """Checks eq-hopfield-pinv: a repeated pattern leaves the projector (and W) unchanged."""
    x = _hadamard(3)[1:4]
    w1 = H.pseudoinverse(x)
    w2 = H.pseudoinverse(torch.cat([x, x[:1]]))
    torch.testing.assert_close(w1, w2, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_rules_symmetric_zero_diagonal(rule, gen):
    """Checks eq-hopfield-hebb, eq-hopfield-storkey, eq-hopfield-pinv: every rule gives symmetric
    [d, d] weights, W_ii = 0."""
    x = _pm1((8, 30), gen)
    w = getattr(H, rule)(x)
    assert w.shape == (30, 30)
    torch.testing.assert_close(w, w.T, rtol=0, atol=1e-12)
    assert bool((torch.diagonal(w) == 0).all())


# ---------------------------------------------------------------------------------------------
# energy and dynamics
# ---------------------------------------------------------------------------------------------
def test_energy_double_sum(gen):
    """Checks eq-hopfield-energy: E = -1/2 sum_{i != j} W_ij s_i s_j, for one state and a batch."""
    x = _pm1((3, 8), gen)
    w = H.hebbian(x)
    s = _pm1((5, 8), gen)
    e = H.energy(w, s)
    for b in range(5):
        ref = -0.5 * sum(w[i, j] * s[b, i] * s[b, j] for i in range(8) for j in range(8) if i != j)
        assert abs(float(e[b]) - float(ref)) < 1e-12
        assert abs(float(H.energy(w, s[b])) - float(ref)) < 1e-12
    assert H.energy(w, s[0]).shape == ()


def test_energy_descent_enumerated():
    """Checks eq-hopfield-update and eq-hopfield-descent: every single-unit update of every state of
    a tiny net changes the energy by exactly -2|h_i| (if the unit flips) or 0, never upward."""
    g = torch.Generator().manual_seed(3)
    d = 6
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    w = (a + a.T) / 2
    w.fill_diagonal_(0)
    net = HopfieldNetwork(d, dtype=torch.float64).set_weights(w)
    states = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)
    for i in range(d):
        new = net.step(states, i)
        de = net.energy(new) - net.energy(states)
        h = states @ w[:, i]
        flipped = new[:, i] != states[:, i]
        torch.testing.assert_close(de[flipped], -2 * h[flipped].abs(), rtol=0, atol=1e-12)
        assert bool((de[~flipped] == 0).all())
        assert bool((de <= 1e-12).all())


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(2, 24),
    b=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    diag=st.booleans(),
)
def test_async_never_raises_energy(d, b, seed, diag):
    """Checks theorem thm-hopfield-descent, eq-hopfield-descent: along asynchronous dynamics with
    random symmetric weights (zero or non-negative diagonal) the energy never rises, step by
    step."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    w = (a + a.T) / 2
    w.fill_diagonal_(0)
    if diag:
        w += torch.diag(torch.rand(d, generator=g, dtype=torch.float64))
    net = HopfieldNetwork(d, dtype=torch.float64).set_weights(w)
    s = _pm1((b, d), g)
    e = net.energy(s)
    tol = 1e-12 * (1 + w.abs().sum())
    for _ in range(2):
        order = torch.rand(b, d, generator=g).argsort(1)
        for t in range(d):
            s = net.step(s, order[:, t])
            e_new = net.energy(s)
            assert bool((e_new <= e + tol).all())
            e = e_new
    s2 = net.update(s, sweeps=3, generator=g)
    assert bool((net.energy(s2) <= e + tol).all())


def test_async_sweep_equals_unit_by_unit_definition(gen):
    """Checks eq-hopfield-update: the batched sweep (which jumps from flip to flip) reproduces the
    one-unit-at-a-time definition with the same random orders, for each rule and matrix-free."""
    d, n, b = 40, 6, 5
    x = _pm1((n, d), gen)
    cues = H.corrupt(x[:b], 0.3, generator=gen)
    nets = [HopfieldNetwork(d, rule=r, dtype=torch.float64).store(x) for r in RULES]
    nets.append(HopfieldNetwork(d, matrix_free=True, dtype=torch.float64).store(x))
    for net in nets:
        g1 = torch.Generator().manual_seed(7)
        g2 = torch.Generator().manual_seed(7)
        fast = net.update(cues, sweeps=2, generator=g1)
        s = cues.clone()
        for _ in range(2):
            order = torch.rand(b, d, generator=g2).argsort(1)
            for t in range(d):
                s = net.step(s, order[:, t])
        torch.testing.assert_close(fast, s, rtol=0, atol=0)


def test_zero_field_keeps_unit():
    """Checks eq-hopfield-update: at h_i = 0 the unit keeps its value (the tie convention)."""
    check_zero_field_keeps_unit()


def test_async_order_is_uniform():
    """Checks eq-hopfield-update: every state of a batch visits its units in its own uniformly
    random order (outcome law of one sweep against the average over all 24 orders)."""
    check_async_order_is_uniform()


def test_orthogonal_patterns_are_fixed_points():
    """Checks eq-hopfield-hebb, eq-hopfield-crosstalk: for orthogonal patterns the crosstalk
    vanishes and h = (1 - N/d) x, so every stored pattern is an exact fixed point for N < d."""
    x = _hadamard(6)[1:40]  # d = 64, N = 39: far beyond 0.138 d, yet no crosstalk
    net = HopfieldNetwork(64, dtype=torch.float64).store(x)
    torch.testing.assert_close(net.local_field(x), (1 - 39 / 64) * x)
    res = net.recall(x)
    assert bool(res.converged.all()) and bool((res.sweeps == 0).all())
    assert bool((res.states == x).all())


@pytest.mark.parametrize("rule", RULES)
def test_patterns_fixed_points_below_capacity(rule):
    """Checks eq-hopfield-perror-exact at alpha = 0.02: P(error) < 1e-12 per unit, so all stored
    random patterns (and their reverses, E(-s) = E(s)) are fixed points and recall keeps them."""
    g = torch.Generator().manual_seed(11)
    d, n = 500, 10
    assert H.one_step_error_exact(n, d) < 1e-12
    x = ebmlib.random_patterns(n, d, generator=g, dtype=torch.float64)
    net = HopfieldNetwork(d, rule=rule, dtype=torch.float64).store(x)
    assert bool(net.is_fixed_point(x).all())
    assert bool(net.is_fixed_point(-x).all())
    res = net.recall(x, max_sweeps=5, generator=g)
    assert bool((res.states == x).all()) and bool(res.converged.all())
    assert bool((res.sweeps == 0).all())
    torch.testing.assert_close(net.energy(-x), net.energy(x))


def test_single_pattern_recalled_from_any_minority_corruption(gen):
    """Checks eq-hopfield-hebb to eq-hopfield-update: with one stored pattern the field is x_i (m d
    - x_i s_i)/d, so one asynchronous sweep restores the pattern from any cue with overlap m >
    1/d."""
    d = 101
    x = _pm1((1, d), gen)
    net = HopfieldNetwork(d, dtype=torch.float64).store(x)
    cues = torch.stack([H.corrupt(x[0], f, generator=gen) for f in (0.1, 0.3, 0.45, 0.49)])
    res = net.recall(cues, generator=gen)
    assert bool((res.states == x).all())
    assert bool((res.sweeps == 1).all())
    assert bool(res.converged.all())
    rev = net.recall(-cues, generator=gen)  # majority corrupted: ends in the reversed pattern
    assert bool((rev.states == -x).all())


def test_mixture_state_exact_overlaps():
    """Checks eq-hopfield-mixture: on d = 8k units holding every sign combination of three patterns
    equally often, sign(x1 + x2 + x3) has overlap exactly 1/2 with each, and it is a fixed point
    of the Hebbian net at low load."""
    combos = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)), dtype=torch.float64)
    x3 = combos.T.repeat(1, 25)  # [3, 200]
    mix = H.mixture_state(x3)
    torch.testing.assert_close(H.overlap(mix, x3), torch.full((3,), 0.5, dtype=torch.float64))
    g = torch.Generator().manual_seed(2)
    net = HopfieldNetwork(1000, dtype=torch.float64)
    x = ebmlib.random_patterns(10, 1000, generator=g, dtype=torch.float64)
    net.store(x)
    m = H.mixture_state(x[:3])
    assert bool(net.is_fixed_point(m))
    # its energy lies above the stored patterns' (E ~ -d/2 vs -d/2 * (3/4)... see chapter)
    assert float(net.energy(m)) > float(net.energy(x[:3]).max())


def test_sync_two_cycle_reported_not_converged():
    """Checks eq-hopfield-update: synchronous dynamics can cycle; recall reports it as not
    converged, while asynchronous dynamics on the same weights reaches a fixed point (theorem)."""
    w = torch.tensor([[0.0, -1.0], [-1.0, 0.0]])
    net = HopfieldNetwork(2).set_weights(w)
    s = torch.tensor([[1.0, 1.0]])
    res = net.recall(s, max_sweeps=10, mode="sync")
    assert not bool(res.converged[0]) and int(res.sweeps[0]) == 10
    res = net.recall(s, max_sweeps=10, generator=torch.Generator().manual_seed(0))
    assert bool(res.converged[0]) and int(res.sweeps[0]) == 1
    assert float(res.states[0].prod()) == -1.0


# ---------------------------------------------------------------------------------------------
# matrix-free path
# ---------------------------------------------------------------------------------------------
def test_matrix_free_equals_dense(gen):
    """Checks eq-hopfield-matrixfree: (X^T s) X / d - (N/d) s equals W s, and energies, sync and
    async trajectories and recall agree exactly with the dense Hebbian network."""
    d, n = 300, 40
    x = _pm1((n, d), gen, dtype=torch.float32)
    dense = HopfieldNetwork(d, matrix_free=False).store(x)
    free = HopfieldNetwork(d, matrix_free=True).store(x)
    assert free.matrix_free and not dense.matrix_free
    assert free.weights.numel() == 0
    s = H.corrupt(x[:8], 0.25, generator=gen)
    torch.testing.assert_close(free.local_field(s), dense.local_field(s))
    torch.testing.assert_close(free.energy(s), dense.energy(s))
    torch.testing.assert_close(free.dense_weights(), dense.weights)
    assert bool((free.update(s, mode="sync", sweeps=3) == dense.update(s, "sync", 3)).all())
    r1 = free.recall(s, generator=torch.Generator().manual_seed(1))
    r2 = dense.recall(s, generator=torch.Generator().manual_seed(1))
    assert bool((r1.states == r2.states).all()) and bool((r1.sweeps == r2.sweeps).all())


def test_matrix_free_automatic_above_threshold(gen, monkeypatch):
    """Checks eq-hopfield-matrixfree: above MATRIX_FREE_THRESHOLD the Hebbian network keeps the
    patterns."""
    monkeypatch.setattr(H, "MATRIX_FREE_THRESHOLD", 50)
    x = _pm1((5, 60), gen, dtype=torch.float32)
    assert HopfieldNetwork(60).store(x).matrix_free
    assert not HopfieldNetwork(60, rule="storkey").store(x).matrix_free
    assert not HopfieldNetwork(40).store(x[:, :40]).matrix_free


# ---------------------------------------------------------------------------------------------
# capacity
# ---------------------------------------------------------------------------------------------
def test_one_step_error_exact_by_enumeration():
    """Checks eq-hopfield-perror-exact: the binomial formula equals the error probability of unit 0
    of pattern 0 averaged over every set of N = 3 patterns on d = 4 units (2^12 sets)."""
    n, d = 3, 4
    errors = 0
    total = 0
    for bits in itertools.product([-1.0, 1.0], repeat=n * d):
        x = torch.tensor(bits).view(n, d)
        h = (H.hebbian(x.double()) @ x[0].double())[0]
        errors += int(h * x[0, 0] < 0)
        total += 1
    assert errors / total == pytest.approx(H.one_step_error_exact(n, d), abs=1e-15)


def test_one_step_error_limits():
    """Checks eq-hopfield-perror-exact to eq-hopfield-perror: the exact error tends to
    Phi(-1/sqrt(alpha)) at large d, and Phi(-1/sqrt(alpha)) has the closed-form values Phi(-1) =
    0.158655 and Phi(-2) = 0.022750."""
    assert H.one_step_error_theory(1.0) == pytest.approx(0.1586553, abs=1e-7)
    assert H.one_step_error_theory(0.25) == pytest.approx(0.0227501, abs=1e-7)
    t = H.one_step_error_theory(torch.tensor([1.0, 0.25], dtype=torch.float64))
    torch.testing.assert_close(t, torch.tensor([0.1586553, 0.0227501], dtype=torch.float64))
    for alpha in (0.1, 0.2, 0.5):
        d = 100_000
        exact = H.one_step_error_exact(int(alpha * d), d)
        # Normal approximation of the binomial, with (d-1)/(N-1) in place of 1/alpha
        approx = 0.5 * math.erfc(math.sqrt((d - 1) / (alpha * d - 1)) / math.sqrt(2))
        assert exact == pytest.approx(approx, rel=0.02)
        assert exact == pytest.approx(H.one_step_error_theory(alpha), rel=0.03)
    assert H.one_step_error_exact(1, 50) == 0.0


def test_one_step_error_rate_matches_theory():
    """Checks eq-hopfield-perror at d = 1000, alpha = 0.25 by Monte Carlo against
    Phi(-1/sqrt(alpha)) (see check_one_step_error_against_phi)."""
    check_one_step_error_against_phi()


def test_ags_capacity_solved_independently():
    """Checks eq-hopfield-ags: alpha_c = 0.138 and m(alpha_c) = 0.967 from an independent
    numerical solution of the AGS equations (see check_ags_capacity)."""
    check_ags_capacity()


def test_ags_critical_alpha_and_overlap():
    """Checks eq-hopfield-ags: alpha_c = 0.138 (Amit, Gutfreund and Sompolinsky 1987) and the
    retrieval overlap m(alpha_c) = 0.967; m(alpha) solves the T = 0 saddle-point equations
    m = erf(m / sqrt(2 alpha r)), C = sqrt(2/(pi alpha r)) exp(-m^2/(2 alpha r)),
    r = 1/(1 - C)^2."""
    ac = H.ags_critical_alpha()
    assert round(ac, 3) == 0.138
    assert H.ags_overlap(ac - 1e-9) == pytest.approx(0.967, abs=1e-3)
    assert math.isnan(H.ags_overlap(0.14))
    assert H.ags_overlap(0.0) == 1.0
    for alpha in (0.02, 0.08, 0.13):
        m = H.ags_overlap(alpha)
        # solve C, r by fixed-point iteration at this m and check the first equation
        c = 0.0
        for _ in range(500):
            r = 1 / (1 - c) ** 2
            c = math.sqrt(2 / (math.pi * alpha * r)) * math.exp(-(m**2) / (2 * alpha * r))
        r = 1 / (1 - c) ** 2
        assert m == pytest.approx(math.erf(m / math.sqrt(2 * alpha * r)), abs=1e-9)


def test_recall_overlap_collapses_beyond_capacity():
    """Checks eq-hopfield-ags at d = 1000, as in the chapter: asynchronous recall started at the
    stored patterns keeps m > 0.9 for every cue at alpha = 0.1 (AGS: m = 0.998, and the
    one-step error is 7e-4) and loses most patterns at alpha = 0.2, well above
    alpha_c = 0.138 (AGS: no retrieval state); so the measured capacity lies in between.

    Tolerance: at alpha = 0.2 we allow up to 10 of the 40 recalls (25%) to succeed; the chapter
    measures 3% at this load, and finite-size theory gives no exact value to test against.
    """
    g = torch.Generator().manual_seed(8)
    d = 1000
    low = H.recall_experiment(d, 100, n_cues=20, trials=2, generator=g)
    high = H.recall_experiment(d, 200, n_cues=20, trials=2, generator=g)
    assert bool(low["converged"].all()) and bool(high["converged"].all())
    f_low = float((low["overlap"] > 0.9).double().mean())
    f_high = float((high["overlap"] > 0.9).double().mean())
    assert f_low == 1.0
    assert f_high <= 0.25
    assert float(low["overlap"].mean()) > 0.99
    assert 0.1 < H.estimate_capacity([0.1, 0.2], [f_low, f_high]) < 0.2


def test_estimate_capacity_interpolates():
    """Checks the capacity estimate of section Capacity: the linear interpolation of the
    first crossing of the level, nan without a crossing."""
    assert H.estimate_capacity([0.1, 0.2, 0.3], [1.0, 0.6, 0.2]) == pytest.approx(0.225)
    assert H.estimate_capacity([0.1, 0.2], [1.0, 0.0], level=0.25) == pytest.approx(0.175)
    assert math.isnan(H.estimate_capacity([0.1, 0.2], [1.0, 0.9]))
    with pytest.raises(ValueError, match="increasing"):
        H.estimate_capacity([0.2, 0.1], [1.0, 0.0])


def test_one_step_error_rate_helper():
    """Checks eq-hopfield-perror-exact through the chapter's helper: at alpha = 0.3, d = 400 the
    rate over 8 networks (384000 units) lies within 5 standard errors of the exact value, where the
    standard error comes from the spread between the networks (the errors of one network are
    correlated, so a binomial error would be too small here)."""
    g = torch.Generator().manual_seed(4)
    r = H.one_step_error_rate(400, 120, trials=8, generator=g)
    assert r["units"] == 8 * 120 * 400 and r["alpha"] == pytest.approx(0.3)
    assert abs(r["rate"] - H.one_step_error_exact(120, 400)) < 5 * r["sem"] + 1e-12


def test_recall_experiment_outputs(gen):
    """Checks eq-hopfield-update through the experiment helper: shapes, and perfect recall of a
    single pattern with correlation 0 (whose prototype is the pattern itself)."""
    out = H.recall_experiment(64, 1, corruption=0.2, n_cues=5, trials=3, generator=gen)
    assert set(out.keys()) == {"overlap", "prototype", "stable", "converged", "sweeps"}
    assert out["overlap"].shape == (3,)
    assert bool((out["overlap"] == 1).all()) and bool((out["prototype"] == 1).all())
    assert bool(out["stable"].all())


def test_classify_states():
    """Checks eq-hopfield-mixture and the spurious-state classes: patterns, reversed patterns, the
    3-mixture and a random state are recognised."""
    combos = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)), dtype=torch.float64)
    x = combos.T.repeat(1, 10)  # 4 patterns, d = 160, exactly balanced
    mix = H.mixture_state(x[:3])
    other = torch.ones(160, dtype=torch.float64)
    states = torch.stack([x[1], -x[2], mix, other])
    labels = H.classify_states(states, x)
    assert [H.STATE_CLASSES[k] for k in labels] == ["pattern", "reversed", "3-mixture", "other"]


# ---------------------------------------------------------------------------------------------
# helpers, module behaviour, demo
# ---------------------------------------------------------------------------------------------
def test_overlap_and_overlaps(gen):
    """Checks eq-hopfield-overlap: m = a.b/d = 1 - 2 Hamming/d, paired and all-pairs forms."""
    x = _pm1((4, 50), gen)
    y = H.corrupt(x, 0.2, generator=gen)
    torch.testing.assert_close(H.overlap(x, y), torch.full((4,), 0.6, dtype=torch.float64))
    torch.testing.assert_close(H.overlaps(y, x).diagonal(), H.overlap(x, y))
    assert H.overlaps(y, x).shape == (4, 4)
    assert float(H.overlap(x[0], -x[0])) == -1.0


def test_recall_result_shapes(gen):
    """Checks eq-hopfield-update: recall of one state returns scalars, of a batch returns [B]
    tensors."""
    x = _pm1((3, 30), gen, dtype=torch.float32)
    net = HopfieldNetwork(30).store(x)
    r = net.recall(x[0])
    assert r.states.shape == (30,) and r.converged.shape == () and r.sweeps.dtype == torch.int64
    r = net.recall(x)
    assert r.states.shape == (3, 30) and r.converged.shape == (3,)
    assert bool(r.converged.all()) and bool((r.sweeps == 0).all())


def test_results_are_result_dataclasses(gen):
    """Checks the result types of eq-hopfield-update's recall and the chapter's experiment
    helpers: ``ebmlib.utils.Result`` dataclasses, read by attribute or key; unpacking and
    positional indexing of a RecallResult (the named tuple of earlier versions) still work but
    warn."""
    from ebmlib.utils import Result

    x = _pm1((3, 30), gen, dtype=torch.float32)
    r = HopfieldNetwork(30).store(x).recall(x)
    assert isinstance(r, Result) and list(r.keys()) == ["states", "converged", "sweeps"]
    assert r["states"] is r.states
    with pytest.warns(DeprecationWarning, match="unpacking"):
        states, converged, sweeps = r
    assert states is r.states and converged is r.converged and sweeps is r.sweeps
    with pytest.warns(DeprecationWarning, match="position"):
        assert r[1] is r.converged
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.states = x
    one = H.one_step_error_rate(40, 4, trials=2, generator=gen)
    exp = H.recall_experiment(40, 4, n_cues=2, generator=gen)
    assert isinstance(one, H.OneStepErrorRate) and isinstance(exp, H.RecallExperiment)
    assert one["rate"] == one.rate and exp["overlap"] is exp.overlap
    assert dict(one) == {"alpha": 0.1, "rate": one.rate, "sem": one.sem, "units": 320}


def test_state_dict_round_trip(gen):
    """Checks eq-hopfield-hebb: saved and reloaded networks give identical fields and energies."""
    x = _pm1((5, 20), gen, dtype=torch.float32)
    for kwargs in ({"rule": "storkey"}, {"matrix_free": True}, {}):
        net = HopfieldNetwork(20, **kwargs).store(x)
        other = HopfieldNetwork(20, **kwargs)
        other.load_state_dict(net.state_dict())
        assert other.matrix_free == net.matrix_free
        s = H.corrupt(x, 0.2, generator=gen)
        assert bool((other.local_field(s) == net.local_field(s)).all())
        assert bool((other.update(s, "sync") == net.update(s, "sync")).all())


def test_draw_recall_demo():
    """Checks eq-hopfield-hebb to eq-hopfield-update: the demo recalls a glyph perfectly with one
    stored pattern and returns the axes it drew into, in a grid too."""
    ax = H.draw_recall(n_patterns=1, corruption=0.3)
    assert ax.recall_overlap == 1.0
    ax = H.draw_recall(n_patterns=10, corruption=0.3, rule="pseudoinverse")
    assert -1.0 <= ax.recall_overlap <= 1.0
    fig = ebmlib.viz.demo_grid(
        H.draw_recall, rows=("n_patterns", [1, 3]), cols=("corruption", [0.1, 0.4])
    )
    assert len(fig.axes) == 4


def test_bad_inputs(gen):
    """Checks the validation contract: bad input raises errors that name the argument."""
    with pytest.raises(ValueError, match="patterns"):
        H.hebbian(torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="patterns"):
        H.storkey(torch.ones(3))
    with pytest.raises(ValueError, match="patterns"):
        H.pseudoinverse(torch.ones(0, 4))
    with pytest.raises(TypeError, match="patterns"):
        H.hebbian([[1, -1]])
    with pytest.raises(ValueError, match="weights"):
        H.energy(torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="weights"):
        H.energy(torch.tensor([[0.0, float("nan")], [1.0, 0.0]]), torch.ones(2))
    with pytest.raises(ValueError, match="states"):
        H.energy(torch.zeros(3, 3), torch.ones(4))
    with pytest.raises(TypeError, match="weights"):
        H.energy(torch.zeros(3, 3, dtype=torch.float64), torch.ones(3))
    with pytest.raises(TypeError, match="states"):
        H.local_field(torch.zeros(3, 3, dtype=torch.float64), torch.ones(3))
    with pytest.raises(ValueError, match="rule"):
        HopfieldNetwork(4, rule="oja")
    with pytest.raises(ValueError, match="d"):
        HopfieldNetwork(0)
    with pytest.raises(TypeError, match="d"):
        HopfieldNetwork(2.5)
    with pytest.raises(ValueError, match="matrix_free"):
        HopfieldNetwork(4, rule="storkey", matrix_free=True)
    net = HopfieldNetwork(4).store(torch.tensor([[1.0, -1, 1, -1]]))
    with pytest.raises(ValueError, match="patterns"):
        net.store(torch.ones(2, 5))
    with pytest.raises(ValueError, match="states"):
        net.update(torch.ones(2, 5))
    with pytest.raises(ValueError, match="states"):
        net.update(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="mode"):
        net.update(torch.ones(4), mode="parallel")
    with pytest.raises(ValueError, match="sweeps"):
        net.update(torch.ones(4), sweeps=-1)
    with pytest.raises(TypeError, match="generator"):
        net.update(torch.ones(4), generator=0)
    with pytest.raises(ValueError, match="cues"):
        net.recall(torch.ones(3, 3))
    with pytest.raises(ValueError, match="max_sweeps"):
        net.recall(torch.ones(4), max_sweeps=-2)
    with pytest.raises(ValueError, match="units"):
        net.step(torch.ones(4), 4)
    with pytest.raises(ValueError, match="symmetric"):
        net.set_weights(torch.triu(torch.ones(4, 4), 1))
    with pytest.raises(ValueError, match="diagonal"):
        net.set_weights(-torch.eye(4))
    with pytest.raises(ValueError, match="fraction"):
        H.corrupt(torch.ones(4), 1.5)
    with pytest.raises(ValueError, match="odd"):
        H.mixture_state(torch.ones(2, 4))
    with pytest.raises(ValueError, match="alpha"):
        H.one_step_error_theory(0.0)
    with pytest.raises(ValueError, match="alpha"):
        H.ags_overlap(-0.1)
    with pytest.raises(ValueError, match="same last dimension"):
        H.overlap(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="n_patterns"):
        H.draw_recall(n_patterns=11)


@settings(max_examples=25, deadline=None)
@given(
    bad=st.sampled_from([0.0, 2.0, -3.0, 0.5, float("nan")]),
    pos=st.integers(0, 11),
)
def test_non_pm1_patterns_rejected(bad, pos):
    """Checks eq-hopfield-hebb preconditions: any entry other than +-1 is rejected by every rule."""
    x = torch.ones(3, 4)
    x.view(-1)[pos] = bad
    for rule in RULES:
        with pytest.raises(ValueError, match="patterns"):
            getattr(H, rule)(x)


# ---------------------------------------------------------------------------------------------
# CUDA
# ---------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("rule", RULES)
def test_cuda_rules_match_cpu(rule):
    """Checks eq-hopfield-hebb, eq-hopfield-storkey, eq-hopfield-pinv on CUDA: same weights as on
    the CPU, on the device."""
    x = ebmlib.random_patterns(20, 200, generator=torch.Generator().manual_seed(0))
    w = getattr(H, rule)(x.cuda())
    assert w.device.type == "cuda"
    torch.testing.assert_close(w.cpu(), getattr(H, rule)(x), rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
def test_cuda_energy_descent_and_recall():
    """Checks eq-hopfield-descent and recall on CUDA: energy never rises over sweeps, patterns are
    fixed points below capacity, matrix-free equals dense."""
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    x = ebmlib.random_patterns(10, 500, generator=torch.Generator().manual_seed(1), device=dev)
    net = HopfieldNetwork(500, device=dev).store(x)
    free = HopfieldNetwork(500, matrix_free=True, device=dev).store(x)
    assert bool(net.is_fixed_point(x).all())
    s = H.corrupt(x, 0.3, generator=g)
    e = net.energy(s)
    for _ in range(3):
        s = net.update(s, generator=g)
        e_new = net.energy(s)
        assert bool((e_new <= e + 1e-4).all())
        e = e_new
    assert s.device.type == "cuda"
    torch.testing.assert_close(free.local_field(s), net.local_field(s))


@pytest.mark.cuda
def test_cuda_one_step_error_rate():
    """Checks eq-hopfield-perror-exact to eq-hopfield-perror on CUDA, with the same binomial
    tolerance as on the CPU."""
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(2024)
    d, n, trials = 1000, 250, 120
    idx = torch.arange(n, device=dev)
    wrong = 0
    for _ in range(trials):
        x = ebmlib.random_patterns(n, d, generator=g, device=dev)
        y = HopfieldNetwork(d, device=dev).store(x).update(x, mode="sync")
        wrong += int((y[idx, idx] != x[idx, idx]).sum())
    total = n * trials
    p = H.one_step_error_theory(n / d)
    assert abs(wrong - total * p) < 4 * math.sqrt(total * p * (1 - p))
