"""Tests of ebmlib.boltzmann (chapter 6): exact enumeration, Gibbs sampling, learning, annealing.

Equation numbers refer to chapter 6 (labels in ``book/part3/boltzmann.ipynb``):
(6.1) ``eq-boltzmann-energy``, (6.2) ``eq-boltzmann-distribution``, (6.3)
``eq-boltzmann-conditional``, (6.4) ``eq-boltzmann-detailed-balance``, (6.5)
``eq-boltzmann-stationary``, (6.6) ``eq-boltzmann-ising``, (6.7) ``eq-boltzmann-loglik``,
(6.8) ``eq-boltzmann-rule``.

Statistical tests use fixed seeds and tolerances derived from the sample size:

* a mean of ``N`` independent 0/1 draws with success probability ``m`` has standard deviation
  ``sqrt(m (1 - m) / N)``; we allow 5 standard deviations (two-sided normal tail 6e-7);
* the total-variation distance ``TV`` between the empirical distribution of ``N`` independent
  samples and their true distribution ``p`` has mean at most
  ``1/2 sum_x sqrt(p(x) (1 - p(x)) / N)`` (Jensen), and changing one sample moves it by at most
  ``1/N``, so by McDiarmid's inequality ``P(TV > mean + t) <= exp(-2 N t^2)``; we take
  ``t = sqrt(log(1e6) / (2N))``, a false-alarm probability of 1e-6.
"""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib.boltzmann import (
    AnnealResult,
    BoltzmannMachine,
    all_states,
    anneal,
    demo_machine,
    draw_distribution,
    empirical_distribution,
    geometric_schedule,
    kl_divergence,
    spin_glass,
    state_index,
)

F64 = torch.float64


def _random_machine(nv: int, nh: int, seed: int, scale: float = 1.0) -> BoltzmannMachine:
    g = torch.Generator().manual_seed(seed)
    bm = BoltzmannMachine(nv, nh, init_std=scale, generator=g, dtype=F64)
    with torch.no_grad():
        bm.bias.copy_(torch.randn(nv + nh, generator=g, dtype=F64) * scale)
    return bm


def _brute_energy(bm: BoltzmannMachine, s: tuple[int, ...]) -> float:
    """E(s) = -sum_{i<j} w_ij s_i s_j - sum_i b_i s_i, written as an explicit double loop."""
    W = bm.W.detach()
    b = bm.bias.detach()
    n = len(s)
    e = 0.0
    for i in range(n):
        e -= float(b[i]) * s[i]
        for j in range(i + 1, n):
            e -= float(W[i, j]) * s[i] * s[j]
    return e + float(bm.energy_offset)


def _tv_bound(p: torch.Tensor, n_samples: int, delta: float = 1e-6) -> float:
    """Upper tolerance for TV(empirical, p) from n_samples draws (see module docstring)."""
    mean_bound = 0.5 * float(torch.sqrt(p * (1 - p) / n_samples).sum())
    return mean_bound + math.sqrt(math.log(1 / delta) / (2 * n_samples))


# ------------------------------------------------------------------------------------------------
# Enumeration and the energy
# ------------------------------------------------------------------------------------------------
def test_all_states_and_index_are_inverse():
    """Enumeration order used by eq. (6.2): state k has unit i equal to bit n-1-i of k."""
    s = all_states(5, dtype=F64)
    assert s.shape == (32, 5)
    assert torch.equal(state_index(s), torch.arange(32))
    assert s[1].tolist() == [0, 0, 0, 0, 1]
    assert s[16].tolist() == [1, 0, 0, 0, 0]
    part = all_states(5, start=3, stop=9, dtype=F64)
    assert torch.equal(part, s[3:9])


@pytest.mark.parametrize("nv,nh,seed", [(3, 0, 0), (4, 2, 1), (2, 3, 2)])
def test_energy_matches_double_sum(nv, nh, seed):
    """Checks eq. (6.1): -1/2 s^T W s - b^T s equals the sum over pairs i < j and units."""
    bm = _random_machine(nv, nh, seed)
    states = list(itertools.product([0, 1], repeat=nv + nh))
    e = bm.energy(torch.tensor(states, dtype=F64)).detach()
    want = torch.tensor([_brute_energy(bm, s) for s in states], dtype=F64)
    torch.testing.assert_close(e, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("nv,nh,seed", [(5, 0, 3), (3, 3, 4), (1, 4, 5)])
def test_log_partition_matches_enumeration(nv, nh, seed):
    """Checks eq. (6.2): log Z = log sum_s exp(-E(s)/T) against an explicit loop over states."""
    bm = _random_machine(nv, nh, seed, scale=1.5)
    for T in (0.5, 1.0, 3.0):
        terms = [
            math.exp(-_brute_energy(bm, s) / T) for s in itertools.product([0, 1], repeat=nv + nh)
        ]
        want = math.log(math.fsum(terms))
        assert float(bm.log_partition_exact(T)) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_log_partition_closed_form_independent_units():
    """Checks eq. (6.2) in closed form: with W = 0, Z = prod_i (1 + exp(b_i / T))."""
    bm = BoltzmannMachine(7, 3, init_std=0.0, dtype=F64)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        bm.bias.copy_(torch.randn(10, generator=g, dtype=F64) * 2)
    T = 0.7
    want = torch.log1p(torch.exp(bm.bias.detach() / T)).sum()
    torch.testing.assert_close(bm.log_partition_exact(T).detach(), want, rtol=1e-13, atol=1e-13)


def test_log_partition_chunked_large_machine():
    """Checks eq. (6.2) across enumeration chunks (2^17 states): closed form for W = 0."""
    bm = BoltzmannMachine(17, dtype=F64)
    with torch.no_grad():
        bm.bias.copy_(torch.linspace(-2, 2, 17, dtype=F64))
    want = torch.log1p(torch.exp(bm.bias.detach())).sum()
    torch.testing.assert_close(bm.log_partition_exact().detach(), want, rtol=1e-12, atol=1e-12)


def test_probabilities_joint_and_visible_marginal():
    """Checks eq. (6.2): p sums to one, the visible marginal sums p over hidden states, and
    exp(log_prob_exact(v)) = p(v) = exp(-F(v)) / Z."""
    bm = _random_machine(3, 2, seed=8)
    p = bm.probabilities_exact().detach()
    assert p.shape == (32,)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-14)
    pv = bm.probabilities_exact(over="visible").detach()
    assert pv.shape == (8,)
    torch.testing.assert_close(pv, p.reshape(8, 4).sum(1), rtol=0, atol=1e-15)
    torch.testing.assert_close(bm.visible_probabilities_exact().detach(), pv)
    v = all_states(3, dtype=F64)
    torch.testing.assert_close(bm.log_prob_exact(v).exp().detach(), pv, rtol=1e-12, atol=0)
    # Without hidden units the free energy is the energy.
    bm0 = _random_machine(4, 0, seed=9)
    s = all_states(4, dtype=F64)
    torch.testing.assert_close(bm0.free_energy(s), bm0.energy(s))


def test_hidden_posterior_is_conditional_of_joint():
    """Checks eq. (6.2): p(h | v) = p(v, h) / p(v), from the exact joint."""
    bm = _random_machine(3, 3, seed=10)
    joint = bm.probabilities_exact().detach().reshape(8, 8)
    post = bm.hidden_posterior_exact(all_states(3, dtype=F64)).detach()
    torch.testing.assert_close(post, joint / joint.sum(1, keepdim=True), rtol=1e-12, atol=0)


def test_ground_states_exact():
    """Checks eq. (6.1): the enumerated ground states attain the minimum of all energies."""
    bm = _random_machine(6, 0, seed=11)
    e = bm.energies_exact().detach()
    emin, gs = bm.ground_states_exact()
    assert float(emin) == float(e.min())
    torch.testing.assert_close(bm.energy(gs).detach(), emin.detach().expand(gs.shape[0]))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 6),
    seed=st.integers(0, 10_000),
    i=st.integers(0, 5),
)
def test_local_field_is_energy_difference(n, seed, i):
    """Checks eq. (6.3): h_i = E(s with s_i = 0) - E(s with s_i = 1), so that
    p(s_i = 1 | rest) = sigmoid(h_i / T)."""
    i = i % n
    bm = _random_machine(n, 0, seed)
    g = torch.Generator().manual_seed(seed + 1)
    s = bm.random_state(4, generator=g)
    s0, s1 = s.clone(), s.clone()
    s0[:, i], s1[:, i] = 0, 1
    dE = (bm.energy(s0) - bm.energy(s1)).detach()
    torch.testing.assert_close(bm.local_field(s)[:, i].detach(), dE, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 7),
    seed=st.integers(0, 10_000),
    log10_T=st.floats(-3.0, 3.0),
)
def test_exact_quantities_finite_and_bounded_over_temperatures(n, seed, log10_T):
    """Checks eq. (6.2) for T from 1e-3 to 1e3: -E_min/T <= log Z_T <= -E_min/T + n log 2, the
    probabilities are finite and sum to one, and Gibbs output stays binary."""
    T = 10.0**log10_T
    bm = _random_machine(n, 0, seed, scale=2.0)
    e_min = float(bm.energies_exact().min())
    log_z = float(bm.log_partition_exact(T))
    assert -e_min / T - 1e-9 * (1 + abs(e_min / T)) <= log_z
    assert log_z <= -e_min / T + n * math.log(2) + 1e-9 * (1 + abs(e_min / T))
    p = bm.probabilities_exact(T)
    assert bool(torch.isfinite(p).all())
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    s = bm.gibbs(bm.random_state(3, generator=torch.Generator().manual_seed(seed)), T=T)
    assert bool(((s == 0) | (s == 1)).all())


def test_from_ising_reproduces_spin_energy():
    """Checks eq. (6.6): with W = 4J, b = 2h - 2J1 and the offset, E(s) = E_Ising(2s - 1)."""
    g = torch.Generator().manual_seed(12)
    J = spin_glass(7, generator=g)
    h = torch.randn(7, generator=g, dtype=F64)
    bm = BoltzmannMachine.from_ising(J, h)
    s = all_states(7, dtype=F64)
    sigma = 2 * s - 1
    e_ising = -0.5 * ((sigma @ J) * sigma).sum(-1) - sigma @ h
    torch.testing.assert_close(bm.energy(s).detach(), e_ising, rtol=1e-12, atol=1e-12)
    assert torch.equal(J, J.T) and bool((torch.diagonal(J) == 0).all())
    assert set(torch.unique(J.abs() * math.sqrt(7)).tolist()) == {0.0, 1.0}


def test_weights_are_symmetric_with_zero_diagonal():
    """Checks the assumptions of eq. (6.1): the weights used are symmetric, zero diagonal, even
    when the raw parameter is not."""
    bm = BoltzmannMachine(4, 1, dtype=F64)
    with torch.no_grad():
        bm.weight.copy_(torch.arange(25, dtype=F64).reshape(5, 5))
    W = bm.W.detach()
    assert torch.equal(W, W.T)
    assert bool((torch.diagonal(W) == 0).all())


# ------------------------------------------------------------------------------------------------
# Markov kernels: detailed balance, stationarity, convergence
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nv,nh,seed", [(3, 0, 13), (2, 2, 14)])
def test_detailed_balance_exact(nv, nh, seed):
    """Checks eq. (6.4): pi(a) P(a, b) = pi(b) P(b, a) for each single-site heat-bath kernel and
    for the random-site kernel, exactly in float64 (T = 0.8)."""
    bm = _random_machine(nv, nh, seed, scale=1.5)
    T = 0.8
    pi = bm.probabilities_exact(T).detach()
    kernels = [bm.transition_matrix(T, kind="site", site=i) for i in range(nv + nh)]
    kernels.append(bm.transition_matrix(T, kind="random"))
    for P in kernels:
        torch.testing.assert_close(P.sum(1), torch.ones_like(pi), rtol=0, atol=1e-14)
        flow = pi[:, None] * P
        torch.testing.assert_close(flow, flow.T, rtol=0, atol=1e-15)
        assert bool((P >= 0).all())


def test_sweep_kernel_stationary_but_not_reversible():
    """Checks eq. (6.5): the sequential sweep leaves pi invariant (pi P = pi) although it does
    not satisfy detailed balance itself."""
    bm = _random_machine(4, 0, seed=15, scale=1.5)
    pi = bm.probabilities_exact().detach()
    P = bm.transition_matrix(kind="sweep")
    torch.testing.assert_close(pi @ P, pi, rtol=0, atol=1e-14)
    flow = pi[:, None] * P
    assert float((flow - flow.T).abs().max()) > 1e-3


def test_kl_to_stationary_never_increases():
    """Checks eq. (6.5): KL(p_k || pi) with p_{k+1} = p_k P is non-increasing in k (data
    processing inequality) and tends to zero."""
    bm = demo_machine(6, seed=1)
    pi = bm.probabilities_exact().detach()
    P = bm.transition_matrix(kind="sweep")
    p = torch.zeros_like(pi)
    p[0] = 1.0  # all units off
    kls = []
    for _ in range(60):
        p = p @ P
        kls.append(float(kl_divergence(p, pi)))
    assert all(b <= a + 1e-14 for a, b in zip(kls, kls[1:], strict=False))
    assert kls[-1] < 1e-6 < kls[0]


def test_distribution_after_sweeps_equals_matrix_power():
    """Checks eq. (6.5): the pairwise mass-splitting recursion gives p_0 P^k for the sweep
    kernel, and converges to pi."""
    bm = _random_machine(3, 2, seed=34, scale=1.2)
    T = 0.9
    P = bm.transition_matrix(T, kind="sweep")
    g = torch.Generator().manual_seed(35)
    p0 = torch.rand(32, generator=g, dtype=F64)
    p0 = p0 / p0.sum()
    ps = bm.distribution_after_sweeps(p0, T=T, sweeps=6)
    assert ps.shape == (7, 32)
    for k in range(7):
        want = p0 @ torch.linalg.matrix_power(P, k)
        torch.testing.assert_close(ps[k], want, rtol=0, atol=1e-14)
    far = bm.distribution_after_sweeps(p0, T=T, sweeps=200)[-1]
    torch.testing.assert_close(far, bm.probabilities_exact(T), rtol=0, atol=1e-10)


def test_gibbs_sweep_distribution_matches_exact_kernel():
    """Checks eq. (6.5): after k sweeps from one start state, the empirical distribution of
    independent chains matches p_0 P^k computed exactly (TV tolerance from the sample size)."""
    bm = demo_machine(5, seed=2)
    P = bm.transition_matrix(kind="sweep")
    g = torch.Generator().manual_seed(16)
    N = 40_000
    start = torch.zeros(N, 5, dtype=F64)
    p = torch.zeros(32, dtype=F64)
    p[0] = 1.0
    s = start
    for k in (1, 2, 3):
        s = bm.gibbs(s, sweeps=1, generator=g)
        p = p @ P
        tv = 0.5 * float((empirical_distribution(s) - p).abs().sum())
        assert tv < _tv_bound(p, N), f"sweep {k}: TV {tv:.4f}"


def test_gibbs_samples_match_exact_probabilities():
    """Checks eq. (6.2) and eq. (6.3): Gibbs samples from 20 000 independent chains reproduce
    the exact distribution (TV bound) and the exact marginals (5 standard deviations).

    The chains start uniformly at random and run 40 sweeps; the exact kernel shows that the
    distribution after 40 sweeps is within 1e-9 of pi, far below the sampling tolerance."""
    bm = _random_machine(4, 2, seed=17, scale=1.0)
    T = 1.3
    pi = bm.probabilities_exact(T).detach()
    P = bm.transition_matrix(T, kind="sweep")
    p40 = torch.full_like(pi, 1 / pi.numel()) @ torch.linalg.matrix_power(P, 40)
    assert 0.5 * float((p40 - pi).abs().sum()) < 1e-9
    N = 20_000
    g = torch.Generator().manual_seed(18)
    s = bm.sample(N, T=T, sweeps=40, generator=g)
    emp = empirical_distribution(s)
    assert 0.5 * float((emp - pi).abs().sum()) < _tv_bound(pi, N)
    m_exact = pi @ all_states(6, dtype=F64)
    m_hat = s.mean(0)
    sd = torch.sqrt(m_exact * (1 - m_exact) / N)
    assert bool(((m_hat - m_exact).abs() < 5 * sd).all())
    # The visible marginal (hidden units summed out) too.
    pv = bm.probabilities_exact(T, over="visible").detach()
    emp_v = empirical_distribution(s[:, :4])
    assert 0.5 * float((emp_v - pv).abs().sum()) < _tv_bound(pv, N)


def test_gibbs_random_order_and_clamping():
    """Checks eq. (6.3): with the visible units clamped, Gibbs over the hidden units samples
    p(h | v) (TV bound), and clamped units never change; random visiting order also converges."""
    bm = _random_machine(3, 3, seed=19)
    v = torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    post = bm.hidden_posterior_exact(v[None]).detach()[0]
    N = 20_000
    g = torch.Generator().manual_seed(20)
    h0 = bm.random_state(N, generator=g)[:, 3:]
    s = torch.cat([v.expand(N, 3), h0], 1)
    out = bm.gibbs(s, sweeps=30, generator=g, units=[3, 4, 5], order="random")
    assert torch.equal(out[:, :3], s[:, :3])
    emp = empirical_distribution(out[:, 3:])
    assert 0.5 * float((emp - post).abs().sum()) < _tv_bound(post, N)


def test_gibbs_keeps_shape_dtype_and_input():
    """Checks eq. (6.3) bookkeeping: outputs are binary, keep shape and dtype, input untouched."""
    bm = demo_machine(5)
    g = torch.Generator().manual_seed(21)
    s = torch.zeros(5, dtype=torch.bool)
    out = bm.gibbs(s, sweeps=3, generator=g)
    assert out.shape == (5,) and out.dtype == torch.bool
    assert not bool(s.any())
    s3 = torch.zeros(2, 3, 5)
    out3 = bm.gibbs(s3, T=2.0, sweeps=2, generator=g)
    assert out3.shape == (2, 3, 5) and out3.dtype == torch.float32
    assert bool(((out3 == 0) | (out3 == 1)).all())
    assert torch.equal(bm.gibbs(s3, sweeps=0), s3)


def test_gibbs_is_reproducible_with_generator():
    """Checks that eq. (6.3) sampling depends only on the generator's seed."""
    bm = demo_machine(6)
    s0 = torch.zeros(50, 6, dtype=F64)
    a = bm.gibbs(s0, sweeps=5, generator=torch.Generator().manual_seed(3))
    b = bm.gibbs(s0, sweeps=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------------------
def _data(nv: int, N: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    target = _random_machine(nv, 0, seed, scale=scale)
    g = torch.Generator().manual_seed(seed + 100)
    return target.sample(N, sweeps=30, generator=g)


@pytest.mark.parametrize("nv,nh", [(5, 0), (3, 2)])
def test_learning_rule_is_exact_loglik_gradient(nv, nh):
    """Checks eq. (6.8): <s_i s_j>_data - <s_i s_j>_model and <s_i>_data - <s_i>_model are the
    autograd gradients of the exact mean log-likelihood (6.7) with respect to the pair coupling
    w_ij (= weight_ij + weight_ji in the raw parameter) and the bias b_i."""
    bm = _random_machine(nv, nh, seed=22 + nh, scale=0.7)
    data = _data(nv, 64, seed=23)
    dW, db = bm.gradient(data)
    bm.requires_grad_(True)
    bm.log_likelihood(data).backward()
    g_w = bm.weight.grad
    torch.testing.assert_close(g_w + g_w.T, dW, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(bm.bias.grad, db, rtol=1e-10, atol=1e-12)


def test_fit_exact_matches_data_correlations_visible_only():
    """Checks eq. (6.8) at its fixed point: a visible-only machine trained by the exact rule
    reproduces the data means and pairwise correlations (moment matching).

    The log-likelihood (6.7) of a visible-only machine is concave with a Hessian equal to minus
    the covariance of its K = n + n(n-1)/2 binary statistics, whose largest eigenvalue is at most
    K/4; gradient ascent with lr <= 8/K (here 8/21 > 0.35) therefore never lowers it. Also checks
    KL(p_data || p_model) = -H(p_data) - L."""
    data = _data(6, 300, seed=24, scale=0.5)
    bm = BoltzmannMachine(6, dtype=F64)
    hist = bm.fit(data, epochs=1500, lr=0.35, method="exact")
    md, cd = bm.data_statistics(data)
    mm, cm = bm.model_statistics()
    assert float((cd - cm).abs().max()) < 1e-4
    assert float((md - mm).abs().max()) < 1e-4
    ll = hist["log_likelihood"]
    assert all(b >= a - 1e-12 for a, b in zip(ll, ll[1:], strict=False))
    emp = empirical_distribution(data)
    entropy = -float((emp[emp > 0] * emp[emp > 0].log()).sum())
    assert hist["kl"][-1] == pytest.approx(-entropy - ll[-1], abs=1e-10)
    assert set(hist) == {"epoch", "corr_gap", "log_likelihood", "kl"}
    assert len(hist["kl"]) == 1500


def test_fit_with_hidden_units_raises_likelihood():
    """Checks eq. (6.8) with hidden units: exact clamped/free statistics give monotone-ish ascent
    of (6.7) at a small rate; the final log-likelihood beats the start by a clear margin."""
    data = torch.tensor(
        [[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=F64
    )
    g = torch.Generator().manual_seed(25)
    bm = BoltzmannMachine(4, 2, init_std=0.1, generator=g, dtype=F64)
    hist = bm.fit(data, epochs=300, lr=0.2)
    ll = hist["log_likelihood"]
    assert ll[-1] > ll[0] + 1.0
    # An exact ascent step with a small rate can only raise the likelihood.
    before = float(bm.log_likelihood(data))
    bm.fit(data, epochs=1, lr=1e-3)
    assert float(bm.log_likelihood(data)) >= before


def test_sampled_model_statistics_are_unbiased():
    """Checks eq. (6.8), sampled free phase: Gibbs estimates of <s_i s_j>_model from 20 000
    equilibrated chains agree with the exact ones within 5 standard deviations."""
    bm = _random_machine(5, 0, seed=26)
    g = torch.Generator().manual_seed(27)
    N = 20_000
    s0 = bm.sample(N, sweeps=40, generator=g)
    _, c_hat = bm.model_statistics(method="gibbs", states=s0, sweeps=1, generator=g)
    _, c = bm.model_statistics()
    sd = torch.sqrt(c * (1 - c) / N)
    assert bool(((c_hat - c).abs() <= 5 * sd).all())


def test_fit_gibbs_reduces_kl():
    """Checks eq. (6.8) with sampled statistics (persistent chains): training lowers
    KL(p_data || p_model) to within 0.05 nats of the exact-statistics fit."""
    data = _data(5, 200, seed=28)
    g = torch.Generator().manual_seed(29)
    exact = BoltzmannMachine(5, dtype=F64)
    h_exact = exact.fit(data, epochs=300, lr=0.3, method="exact")
    bm = BoltzmannMachine(5, dtype=F64)
    kl0 = float(bm.kl_from_data(data))
    hist = bm.fit(data, epochs=300, lr=0.3, method="gibbs", n_chains=1000, generator=g)
    assert hist["kl"][-1] < kl0
    assert hist["kl"][-1] < h_exact["kl"][-1] + 0.05


def test_fit_minibatches_and_weight_decay_keep_symmetry():
    """Checks that updates by eq. (6.8) keep W symmetric with zero diagonal."""
    data = _data(4, 40, seed=30)
    g = torch.Generator().manual_seed(31)
    bm = BoltzmannMachine(4, 1, dtype=F64)
    bm.fit(data, epochs=5, lr=0.1, batch_size=8, weight_decay=0.01, generator=g, track=False)
    assert torch.equal(bm.weight.detach(), bm.weight.detach().T)
    assert bool((torch.diagonal(bm.weight.detach()) == 0).all())


def test_default_init_breaks_hidden_symmetry_without_global_rng():
    """Checks the starting point of eq. (6.8): machines with hidden units start from small random
    symmetric weights (identical hidden units would learn identically), drawn from a fixed
    seed, so that the global random state is left untouched."""
    state = torch.random.get_rng_state()
    a, b = BoltzmannMachine(3, 2, dtype=F64), BoltzmannMachine(3, 2, dtype=F64)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.weight, b.weight)
    assert float(a.W.abs().max()) > 0
    assert float(BoltzmannMachine(4).W.abs().max()) == 0.0


def test_state_dict_round_trip():
    """Checks that a saved and reloaded machine gives identical energies and log Z (eq. 6.2)."""
    bm = BoltzmannMachine.from_ising(spin_glass(6, generator=torch.Generator().manual_seed(32)))
    buf = io.BytesIO()
    torch.save(bm.state_dict(), buf)
    buf.seek(0)
    other = BoltzmannMachine(6, dtype=F64)
    other.load_state_dict(torch.load(buf))
    s = all_states(6, dtype=F64)
    assert torch.equal(other.energy(s), bm.energy(s))
    assert torch.equal(other.log_partition_exact(), bm.log_partition_exact())
    assert set(bm.state_dict()) == {"weight", "bias", "energy_offset"}


# ------------------------------------------------------------------------------------------------
# Annealing
# ------------------------------------------------------------------------------------------------
def test_geometric_schedule():
    """Checks the annealing schedule T_k = T_0 (T_end / T_0)^(k / (K - 1))."""
    s = geometric_schedule(4.0, 0.04, 3)
    torch.testing.assert_close(s, torch.tensor([4.0, 0.4, 0.04], dtype=F64))
    assert geometric_schedule(4.0, 0.04, 1).tolist() == [0.04]
    g = torch.Generator().manual_seed(0)
    named = anneal(demo_machine(3), "linear", T_start=2.0, T_end=0.5, n_steps=4, generator=g)
    assert named.trace["T"] == pytest.approx([2.0, 1.5, 1.0, 0.5])
    default = anneal(demo_machine(3), n_chains=2, generator=g)
    torch.testing.assert_close(torch.tensor(default.trace["T"], dtype=F64), geometric_schedule())


def test_anneal_finds_exact_ground_state_of_spin_glass():
    """Checks annealing against eq. (6.1) minimised by enumeration: on a 14-spin SK glass a slow
    schedule reaches the exact ground energy, and no chain ever goes below it."""
    g = torch.Generator().manual_seed(33)
    bm = BoltzmannMachine.from_ising(spin_glass(14, generator=g))
    emin, _ = bm.ground_states_exact()
    res = anneal(bm, geometric_schedule(3.0, 0.05, 300), n_chains=16, generator=g)
    assert isinstance(res, AnnealResult)
    assert float(res.best_energies.min()) == pytest.approx(float(emin), abs=1e-9)
    assert bool((res.energies >= emin - 1e-9).all())
    assert bool((res.best_energies <= res.energies + 1e-12).all())
    torch.testing.assert_close(bm.energy(res.best_states), res.best_energies)
    assert len(res.trace["T"]) == 300 and res.trace["T"][0] == pytest.approx(3.0)


def test_anneal_accepts_weight_matrix_and_callable_energy():
    """Checks the heat-bath rule (6.3) written with energy differences: annealing a weight matrix,
    the machine, or the same energy given as a callable gives identical runs for one seed."""
    bm = _random_machine(8, 0, seed=36)
    with torch.no_grad():
        bm.bias.zero_()
    sched = geometric_schedule(2.0, 0.1, 20)
    start = bm.random_state(10, generator=torch.Generator().manual_seed(39))
    runs = []
    for target in (bm, bm.W.detach(), lambda s: bm.energy(s)):
        g = torch.Generator().manual_seed(37)
        runs.append(anneal(target, sched, states=start, generator=g))
    for r in runs[1:]:
        assert torch.equal(r.states.to(F64), runs[0].states)
        torch.testing.assert_close(r.energies.to(F64), runs[0].energies)


def test_anneal_callable_higher_order_energy_reaches_exact_minimum():
    """Checks annealing with the heat-bath rule (6.3) on a non-quadratic energy (three-unit
    products, which no Boltzmann machine weight matrix can express): the best state found has
    the exact minimum energy, found by enumerating all 2^9 states."""
    g = torch.Generator().manual_seed(38)
    triples = torch.randint(0, 9, (20, 3), generator=g)
    coef = torch.randn(20, generator=g, dtype=F64)

    def energy(s):
        return -(coef * s[:, triples].prod(-1)).sum(-1) + 0.3 * s.sum(-1)

    exact = float(energy(all_states(9, dtype=F64)).min())
    start = torch.zeros(16, 9, dtype=F64)
    res = anneal(energy, geometric_schedule(3.0, 0.02, 200), states=start, generator=g)
    assert float(res.best_energies.min()) == pytest.approx(exact, abs=1e-12)
    assert bool((res.best_energies >= exact - 1e-12).all())


# ------------------------------------------------------------------------------------------------
# The chapter's experiments (same machines, seeds and sizes as book/part3/boltzmann.ipynb)
# ------------------------------------------------------------------------------------------------
def test_chapter_sampler_follows_exact_sweep_distribution():
    """Checks eq. (6.5) on the chapter's 10-unit machine: with 50 000 chains started all-off, the
    empirical distribution after k sweeps matches p_0 P^k within the TV bound, so the measured
    KL curve of the chapter follows the exact one."""
    bm = demo_machine(10, seed=3, scale=1.0)
    pi = bm.probabilities_exact()
    p0 = torch.zeros(1024, dtype=F64)
    p0[0] = 1.0
    p_k = bm.distribution_after_sweeps(p0, sweeps=5)
    kl = torch.stack([kl_divergence(p, pi) for p in p_k])
    assert bool((kl[1:] < kl[:-1]).all())
    N = 50_000
    g = torch.Generator().manual_seed(50)
    s = torch.zeros(N, 10, dtype=F64)
    for k in range(1, 6):
        s = bm.gibbs(s, sweeps=1, generator=g)
        tv = 0.5 * float((empirical_distribution(s) - p_k[k]).abs().sum())
        assert tv < _tv_bound(p_k[k], N), f"sweep {k}: TV {tv:.4f}"


def test_chapter_parity_needs_hidden_units():
    """Checks eqs. (6.7)-(6.8) on the chapter's parity data: a fully visible machine has zero
    gradient at W = 0 and stays at KL = log 2 exactly; with two hidden units (chapter's seed) the
    exact rule brings KL below 0.1 nats in 1500 epochs."""
    v3 = all_states(3, dtype=F64)
    parity = v3[v3.sum(1) % 2 == 0]
    vis = BoltzmannMachine(3, dtype=F64)
    dW, db = vis.gradient(parity)
    assert float(dW.abs().max()) == 0.0 and float(db.abs().max()) == 0.0
    assert float(vis.kl_from_data(parity)) == pytest.approx(math.log(2), abs=1e-14)
    hid = BoltzmannMachine(
        3, 2, init_std=1.0, generator=torch.Generator().manual_seed(3), dtype=F64
    )
    hist = hid.fit(parity, epochs=1500, lr=1.0)
    assert hist["kl"][-1] < 0.1


def test_chapter_bars_and_stripes_fit():
    """Checks eq. (6.8) on the chapter's bars-and-stripes fit (9 visible units, 600 epochs, exact
    statistics): the data correlations are matched to within 0.01 and KL falls below 0.3 nats."""
    from ebmlib.data import bars_and_stripes

    bas = bars_and_stripes(3, dtype=F64)
    bm = BoltzmannMachine(9, dtype=F64)
    hist = bm.fit(bas, epochs=600, lr=0.3, method="exact")
    _, cd = bm.data_statistics(bas)
    _, cm = bm.model_statistics()
    assert float((cd - cm).abs().max()) < 0.01
    assert hist["kl"][-1] < 0.3 < hist["kl"][0]


def test_chapter_spin_glass_annealing_beats_quench():
    """Checks annealing on the chapter's 20-spin SK glass against the exact ground energy found by
    enumerating all 2^20 states: with 300 sweeps, annealing reaches the ground state in more
    chains than a quench at T = 0.05, and no chain goes below it."""
    J = spin_glass(20, generator=torch.Generator().manual_seed(6))
    sk = BoltzmannMachine.from_ising(J)
    e0 = float(sk.energies_exact().min())
    g = torch.Generator().manual_seed(51)
    ann = anneal(sk, geometric_schedule(3.0, 0.05, 300), n_chains=64, generator=g)
    quench = anneal(sk, torch.full((300,), 0.05, dtype=F64), n_chains=64, generator=g)
    hit_a = int((ann.energies <= e0 + 1e-9).sum())
    hit_q = int((quench.energies <= e0 + 1e-9).sum())
    assert float(ann.best_energies.min()) == pytest.approx(e0, abs=1e-9)
    assert bool((ann.energies >= e0 - 1e-9).all()) and bool((quench.energies >= e0 - 1e-9).all())
    assert hit_a > hit_q


# ------------------------------------------------------------------------------------------------
# Demo and bad input
# ------------------------------------------------------------------------------------------------
def test_draw_distribution_labels():
    """Checks the demo of eq. (6.2): it draws exact bars and sampled dots with labelled axes."""
    ax = draw_distribution(T=2.0, n_chains=500, sweeps=5)
    assert ax.get_xlabel() and ax.get_ylabel() == "probability"
    assert "T = 2" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 2


@pytest.mark.parametrize(
    "call,exc,word",
    [
        (lambda: BoltzmannMachine(0), ValueError, "n_visible"),
        (lambda: BoltzmannMachine(2, -1), ValueError, "n_hidden"),
        (lambda: BoltzmannMachine(2.5), TypeError, "n_visible"),
        (lambda: demo_machine(3).energy(torch.tensor([[0.0, 0.5, 1.0]])), ValueError, "states"),
        (lambda: demo_machine(3).energy(torch.zeros(2, 4)), ValueError, "last dimension"),
        (lambda: demo_machine(3).energy([0, 1, 0]), TypeError, "states"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), T=0.0), ValueError, "T"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), T=float("nan")), ValueError, "T"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), sweeps=-1), ValueError, "sweeps"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), generator=3), TypeError, "generator"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), units=[5]), ValueError, "units"),
        (lambda: demo_machine(3).gibbs(torch.zeros(3), order="up"), ValueError, "order"),
        (lambda: demo_machine(3).log_partition_exact(T=-1), ValueError, "T"),
        (lambda: BoltzmannMachine(25).log_partition_exact(), ValueError, "exact"),
        (lambda: demo_machine(3).probabilities_exact(over="hidden"), ValueError, "over"),
        (lambda: demo_machine(3).fit(torch.zeros(4, 2)), ValueError, "data"),
        (lambda: demo_machine(3).fit(torch.full((4, 3), 2.0)), ValueError, "data"),
        (lambda: demo_machine(3).fit(torch.zeros(4, 3, dtype=F64), lr=0), ValueError, "lr"),
        (
            lambda: demo_machine(3).fit(torch.zeros(4, 3, dtype=F64), method="cd"),
            ValueError,
            "method",
        ),
        (lambda: demo_machine(3).transition_matrix(kind="site"), ValueError, "site"),
        (lambda: demo_machine(3).distribution_after_sweeps(torch.ones(8)), ValueError, "p0"),
        (lambda: demo_machine(3).distribution_after_sweeps(torch.ones(4) / 4), ValueError, "p0"),
        (lambda: BoltzmannMachine(15).transition_matrix(), ValueError, "n must be"),
        (lambda: demo_machine(3).hidden_posterior_exact(torch.zeros(1, 3)), ValueError, "hidden"),
        (lambda: BoltzmannMachine.from_weights(torch.ones(3, 3)), ValueError, "diagonal"),
        (
            lambda: BoltzmannMachine.from_weights(torch.triu(torch.ones(3, 3), 1)),
            ValueError,
            "symmetric",
        ),
        (lambda: anneal("machine"), TypeError, "machine"),
        (lambda: anneal(lambda s: s.sum(-1)), ValueError, "n_units"),
        (lambda: anneal(lambda s: s, n_units=3), ValueError, "energy"),
        (lambda: anneal(demo_machine(3), states=torch.zeros(2, 4)), ValueError, "states"),
        (lambda: anneal(demo_machine(3), [1.0, -0.5]), ValueError, "schedule"),
        (lambda: anneal(demo_machine(3), []), ValueError, "schedule"),
        (lambda: anneal(demo_machine(3), "cosine"), ValueError, "schedule"),
        (lambda: anneal(demo_machine(3), "linear", T_end=0), ValueError, "T_end"),
        (lambda: geometric_schedule(0.0, 1.0, 5), ValueError, "T_start"),
        (lambda: kl_divergence(torch.ones(2) / 2, torch.ones(3) / 3), ValueError, "same shape"),
        (lambda: draw_distribution(T=0), ValueError, "T"),
    ],
)
def test_bad_inputs_raise_named_errors(call, exc, word):
    """Checks that bad input to the chapter 6 API raises a clear error naming the argument."""
    with pytest.raises(exc, match=word):
        call()


def test_float32_machine_follows_its_dtype():
    """Checks eq. (6.1) in float32: energies and probabilities keep the parameter dtype and
    agree with float64 to float32 precision."""
    bm64 = demo_machine(6)
    bm32 = BoltzmannMachine.from_weights(bm64.W.detach().float(), bm64.bias.detach().float())
    s = all_states(6)
    assert bm32.energy(s).dtype == torch.float32
    torch.testing.assert_close(
        bm32.log_partition_exact().double(), bm64.log_partition_exact(), rtol=1e-6, atol=1e-5
    )


# ------------------------------------------------------------------------------------------------
# CUDA variants
# ------------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_exact_matches_cpu():
    """Checks eq. (6.2) on CUDA: log Z and probabilities agree with the CPU in float64."""
    bm = _random_machine(5, 3, seed=40)
    gpu = BoltzmannMachine(5, 3, dtype=F64, device="cuda")
    gpu.load_state_dict(bm.state_dict())
    torch.testing.assert_close(gpu.log_partition_exact().cpu(), bm.log_partition_exact())
    torch.testing.assert_close(gpu.probabilities_exact().cpu(), bm.probabilities_exact())


@pytest.mark.cuda
def test_cuda_gibbs_matches_exact():
    """Checks eqs. (6.2)-(6.3) on CUDA: Gibbs samples on the GPU reproduce the exact
    distribution within the TV bound, and stay on the device."""
    bm = _random_machine(4, 1, seed=41)
    pi = bm.probabilities_exact().detach()
    gpu = BoltzmannMachine(4, 1, dtype=F64, device="cuda")
    gpu.load_state_dict(bm.state_dict())
    g = torch.Generator(device="cuda").manual_seed(42)
    N = 20_000
    s = gpu.sample(N, sweeps=40, generator=g)
    assert s.device.type == "cuda"
    emp = empirical_distribution(s).cpu()
    assert 0.5 * float((emp - pi).abs().sum()) < _tv_bound(pi, N)


@pytest.mark.cuda
def test_cuda_fit_and_anneal_run_on_device():
    """Checks eq. (6.8) on CUDA: one exact fit step equals the CPU step; annealing stays on GPU."""
    data = _data(4, 30, seed=43)
    cpu = BoltzmannMachine(4, 1, dtype=F64)
    gpu = BoltzmannMachine(4, 1, dtype=F64, device="cuda")
    cpu.fit(data, epochs=3, lr=0.1)
    gpu.fit(data.cuda(), epochs=3, lr=0.1)
    torch.testing.assert_close(gpu.weight.detach().cpu(), cpu.weight.detach())
    g = torch.Generator(device="cuda").manual_seed(44)
    res = anneal(gpu, geometric_schedule(2.0, 0.1, 10), n_chains=4, generator=g)
    assert res.states.device.type == "cuda"
