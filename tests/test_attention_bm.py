"""Tests for ebmlib.attention_bm: the Boltzmann machine behind attention (chapter 8)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import modern
from ebmlib.attention_bm import (
    AttentionBM,
    draw_annealing,
    hopfield_log_partition,
    hubbard_stratonovich_log_partition,
)

D64 = torch.float64


def _machine(N=4, d=3, beta=1.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return AttentionBM(torch.randn(N, d, generator=g, dtype=D64), beta)


def _log_joint(bm, xi, i):
    """log p(xi, i) straight from the definition, eq. (8.1), with the closed-form Z of (8.3)."""
    x = bm.patterns[i]
    return -bm.beta * (0.5 * xi @ xi - x @ xi) - bm.log_partition()


def test_index_posterior_is_the_joint_conditional():
    """Checks eq. (8.2): p(i | xi) = p(xi, i) / sum_j p(xi, j) = softmax(beta X^T xi)."""
    bm = _machine()
    xi = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=D64)
    post = bm.index_posterior(xi)
    for b in range(5):
        logs = torch.stack([_log_joint(bm, xi[b], i) for i in range(bm.n_patterns)])
        assert torch.allclose(post[b], torch.softmax(logs, 0), atol=1e-13)
    assert torch.allclose(post.sum(-1), torch.ones(5, dtype=D64))


def test_state_conditional_is_gaussian():
    """Checks eq. (8.2): p(xi | i) = p(xi, i) / p(i) = N(x_i, I / beta), p(i) = w_i of (8.5)."""
    bm = _machine()
    xi = torch.randn(3, generator=torch.Generator().manual_seed(2), dtype=D64)
    log_w = bm.log_mixture_weights()
    for i in range(bm.n_patterns):
        lhs = _log_joint(bm, xi, i) - log_w[i]
        diff = xi - bm.patterns[i]
        gauss = -0.5 * bm.beta * diff @ diff + 1.5 * math.log(bm.beta / (2 * math.pi))
        assert torch.allclose(lhs, gauss, atol=1e-12)


def test_marginal_is_the_modern_hopfield_density():
    """Checks eqs. (8.4)-(8.5): log p(xi) = logsumexp_i log p(xi, i) = -beta E(xi) - log Z_E.

    Z_E = Z / (N exp(beta M^2 / 2)) because E carries the constants log(N)/beta and M^2/2.
    """
    bm = _machine(N=5, d=2, beta=0.8)
    xi = torch.randn(7, 2, generator=torch.Generator().manual_seed(3), dtype=D64)
    direct = torch.stack(
        [torch.logsumexp(torch.stack([_log_joint(bm, x, i) for i in range(5)]), 0) for x in xi]
    )
    assert torch.allclose(bm.log_density(xi), direct, atol=1e-12)
    m = bm.patterns.norm(dim=1).max()
    log_ze = bm.log_partition() - math.log(5) - bm.beta * m**2 / 2
    via_e = -bm.beta * modern.energy(xi, bm.patterns, bm.beta) - log_ze
    assert torch.allclose(bm.log_density(xi), via_e, atol=1e-10)
    assert torch.allclose(bm.energy(xi), modern.energy(xi, bm.patterns, bm.beta))


def test_log_density_integrates_to_one_1d():
    """Checks the normaliser (8.3) by trapezoidal quadrature in d = 1."""
    bm = AttentionBM(torch.tensor([[-2.0], [0.5], [3.0]], dtype=D64), beta=1.7)
    grid = torch.linspace(-12, 14, 20001, dtype=D64)
    dens = bm.log_density(grid[:, None]).exp()
    assert abs(torch.trapezoid(dens, grid).item() - 1.0) < 1e-8


def test_log_density_integrates_to_one_2d():
    """Checks the normaliser (8.3) by quadrature on a 2-D grid."""
    bm = AttentionBM(torch.tensor([[2.0, 0.0], [-1.0, 1.5], [0.0, -2.5]], dtype=D64), beta=2.0)
    g = torch.linspace(-9, 9, 801, dtype=D64)
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    dens = bm.log_density(torch.stack([gx.ravel(), gy.ravel()], 1)).exp().reshape(801, 801)
    total = torch.trapezoid(torch.trapezoid(dens, g, dim=1), g)
    assert abs(total.item() - 1.0) < 1e-6


def _mixture_bin_probs(bm, edges):
    """Exact probability of each bin for d = 1: sum_i w_i [Phi(.) - Phi(.)]."""
    w = bm.log_mixture_weights().exp()
    s = math.sqrt(bm.beta)
    cdf = torch.special.ndtr(s * (edges[None, :] - bm.patterns[:, 0:1]))  # [N, bins+1]
    return (w[:, None] * (cdf[:, 1:] - cdf[:, :-1])).sum(0)


@pytest.mark.parametrize("start", ["point", "exact"])
def test_gibbs_marginal_matches_exact_density(start):
    """Checks the Gibbs-sampling theorem: the chain's state marginal is exp(-beta E)/Z_E.

    n independent chains; each bin count is Binomial(n, p_bin), so every bin frequency must lie
    within 5 standard deviations sqrt(p (1 - p) / n) of the exact bin probability.
    """
    bm = AttentionBM(torch.tensor([[-1.5], [0.5], [2.0]], dtype=D64), beta=1.0)
    gen = torch.Generator().manual_seed(11)
    n = 40000
    if start == "point":
        x0 = torch.zeros(n, 1, dtype=D64)
    else:
        x0 = bm.sample(n, generator=gen).states
    states = bm.gibbs(x0, steps=40, generator=gen).states[:, 0]
    edges = torch.linspace(-6, 7, 27, dtype=D64)
    p = _mixture_bin_probs(bm, edges)
    counts = torch.histc(states, bins=26, min=-6, max=7).to(D64)
    freq = counts / n
    tol = 5 * torch.sqrt(p * (1 - p) / n) + 1e-4
    assert bool((torch.abs(freq - p) < tol).all()), (freq - p).abs().max()


def test_gibbs_shapes_trace_and_reproducibility():
    bm = _machine()
    x0 = torch.zeros(6, 3, dtype=D64)
    a = bm.gibbs(x0, steps=3, generator=torch.Generator().manual_seed(0), return_trace=True)
    b = bm.gibbs(x0, steps=3, generator=torch.Generator().manual_seed(0))
    assert a.states.shape == (6, 3) and a.indices.shape == (6,) and a.trace.shape == (3, 6, 3)
    assert torch.equal(a.states, b.states) and torch.equal(a.indices, b.indices)
    assert torch.equal(a.trace[-1], a.states)


@given(
    beta=st.floats(1e-3, 1e3),
    seed=st.integers(0, 10_000),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
@settings(max_examples=40, deadline=None)
def test_mean_field_step_is_the_hopfield_update_bit_for_bit(beta, seed, dtype):
    """Checks eq. (8.7): the mean-field step equals ebmlib.modern.update exactly."""
    g = torch.Generator().manual_seed(seed)
    bm = AttentionBM(torch.randn(6, 4, generator=g, dtype=dtype), beta)
    xi = torch.randn(5, 4, generator=g, dtype=dtype)
    with torch.no_grad():
        assert torch.equal(bm.mean_field_step(xi), modern.update(xi, bm.patterns, beta))


def test_mean_field_is_posterior_mean_of_the_pattern():
    """Checks eq. (8.7): E[x_i | xi] = sum_i p(i | xi) x_i = X softmax(beta X^T xi)."""
    bm = _machine()
    xi = torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=D64)
    with torch.no_grad():
        assert torch.allclose(
            bm.mean_field_step(xi), bm.index_posterior(xi) @ bm.patterns, atol=1e-13
        )


def test_ml_gradient_equals_autograd():
    """Checks eq. (8.9): beta (E_data[p(i|xi) xi] - w_i x_i) is the gradient of mean log p."""
    bm = _machine(N=5, d=3, beta=0.9)
    data = torch.randn(50, 3, generator=torch.Generator().manual_seed(6), dtype=D64)
    bm.zero_grad()
    bm.log_density(data).mean().backward()
    assert torch.allclose(bm.ml_gradient(data), bm.patterns.grad, atol=1e-12)


def test_cd_gradient_is_unbiased_at_the_model():
    """Checks eq. (8.10): with data drawn from the model the CD model term equals w_i x_i in
    expectation (the chain starts in its stationary law), so CD matches the exact gradient.

    Each entry is a mean over n samples of terms bounded by beta * |xi| (about 5 here); five
    standard errors 5 * 5 / sqrt(n) bound the difference.
    """
    bm = _machine(N=3, d=2, beta=1.0, seed=7)
    gen = torch.Generator().manual_seed(8)
    n = 60000
    data = bm.sample(n, generator=gen).states
    diff = bm.cd_gradient(data, k=2, generator=gen) - bm.ml_gradient(data)
    assert diff.abs().max().item() < 25 / math.sqrt(n)


def test_ml_fit_recovers_equal_norm_mixture_means():
    """Checks the learning theorem: for equal-norm patterns ML is an equal-weight Gaussian
    mixture fit, so fitting data from such a mixture recovers its means.

    The MLE of each mean has standard deviation about sqrt(N / (beta n)) per coordinate;
    the tolerance is six of them.
    """
    gen = torch.Generator().manual_seed(9)
    angles = torch.tensor([0.2, 2.3, 4.4], dtype=D64)
    true = 3.0 * torch.stack([angles.cos(), angles.sin()], 1)
    beta, n = 1.0, 6000
    teacher = AttentionBM(true, beta)
    data = teacher.sample(n, generator=gen).states
    student = AttentionBM(true + 0.8 * torch.randn(3, 2, generator=gen, dtype=D64), beta)
    hist = student.fit(data, method="ml", epochs=80, lr=1.0)
    err = (student.patterns.detach() - true).norm(dim=1).max().item()
    assert err < 6 * math.sqrt(3 / (beta * n)) * math.sqrt(2)
    ll = hist["log_likelihood"]
    assert all(b >= a - 1e-12 for a, b in zip(ll, ll[1:], strict=False))  # step halving
    assert ll[-1] >= teacher.log_density(data).mean().item() - 1e-3  # at least the truth


def test_cd_fit_also_recovers_the_means():
    """CD-1 (eq. (8.10)) reaches the same means within a looser, sampling-noise tolerance."""
    gen = torch.Generator().manual_seed(10)
    angles = torch.tensor([0.5, 2.6, 4.7], dtype=D64)
    true = 3.0 * torch.stack([angles.cos(), angles.sin()], 1)
    data = AttentionBM(true, 1.0).sample(6000, generator=gen).states
    student = AttentionBM(true + 0.5 * torch.randn(3, 2, generator=gen, dtype=D64), 1.0)
    student.fit(data, method="cd", epochs=80, lr=0.3, k=1, generator=gen)
    assert (student.patterns.detach() - true).norm(dim=1).max().item() < 0.25


@pytest.mark.parametrize("N, d, beta", [(1, 6, 0.5), (2, 8, 0.7), (3, 7, 1.2)])
def test_hubbard_stratonovich_partition_functions_agree(N, d, beta):
    """Checks eqs. (8.12)-(8.13): Hebbian Hopfield Z by enumeration equals the Gaussian-hidden
    RBM Z by quadrature (Gauss-Hermite is exact to round-off for these smooth integrands)."""
    g = torch.Generator().manual_seed(N * 100 + d)
    x = torch.randint(0, 2, (N, d), generator=g).to(D64) * 2 - 1
    exact = hopfield_log_partition(x, beta)
    hs = hubbard_stratonovich_log_partition(x, beta, n_quadrature=60)
    assert abs(exact.item() - hs.item()) < 1e-9


def test_hopfield_log_partition_matches_hopfield_module_energy():
    """Checks eq. (8.12) against the energy of chapter 2 when that module is available."""
    hop = pytest.importorskip("ebmlib.hopfield")
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 2, (2, 6), generator=g).to(D64) * 2 - 1
    w = hop.hebbian(x).to(D64)
    codes = torch.arange(2**6)
    states = ((codes[:, None] >> torch.arange(6)) & 1).to(D64) * 2 - 1
    e = hop.energy(w, states)
    assert torch.allclose(torch.logsumexp(-0.9 * e, 0), hopfield_log_partition(x, 0.9))


def test_log_prob_binary_is_normalised():
    """Checks eq. (8.14): the quantised probabilities sum to 1 over all of {0, 1}^d."""
    bm = _machine(N=4, d=6, beta=2.5)
    codes = torch.arange(2**6)
    v = ((codes[:, None] >> torch.arange(6)) & 1).to(D64)
    total = torch.logsumexp(bm.log_prob_binary(v), 0)
    assert abs(total.item()) < 1e-10


def test_log_prob_binary_single_gaussian_closed_form():
    """Checks eq. (8.14) for N = 1: P(v) = prod_j c_j(v_j) / prod_j (c_j(0) + c_j(1))."""
    x = torch.tensor([[0.2, 0.9, 0.5]], dtype=D64)
    bm = AttentionBM(x, 3.0)
    s = math.sqrt(3.0)
    phi = torch.special.ndtr

    def c(b, xj):
        return phi(s * (b + 0.5 - xj)) - phi(s * (b - 0.5 - xj))

    v = torch.tensor([[1.0, 0.0, 1.0]], dtype=D64)
    expected = sum(
        math.log(c(v[0, j], x[0, j]) / (c(0.0, x[0, j]) + c(1.0, x[0, j]))) for j in range(3)
    )
    assert abs(bm.log_prob_binary(v).item() - expected) < 1e-12


def test_state_dict_round_trip():
    bm = _machine()
    other = AttentionBM(torch.zeros(4, 3, dtype=D64), 1.3)
    other.load_state_dict(bm.state_dict())
    xi = torch.randn(2, 3, dtype=D64)
    assert torch.equal(other.log_density(xi), bm.log_density(xi))


@pytest.mark.parametrize(
    "make, exc, text",
    [
        (lambda: AttentionBM(torch.zeros(3), 1.0), ValueError, "patterns"),
        (lambda: AttentionBM(torch.zeros(3, 2, dtype=torch.int64), 1.0), TypeError, "patterns"),
        (lambda: AttentionBM(torch.zeros(3, 2), 0.0), ValueError, "beta"),
        (lambda: AttentionBM(torch.zeros(3, 2), -1.0), ValueError, "beta"),
        (lambda: AttentionBM(torch.full((3, 2), math.nan), 1.0), ValueError, "patterns"),
        (lambda: _machine().log_density(torch.zeros(2, 5, dtype=D64)), ValueError, "states"),
        (lambda: _machine().log_density(torch.zeros(2, 3)), TypeError, "states"),
        (lambda: _machine().sample_states(torch.tensor([7])), ValueError, "indices"),
        (lambda: _machine().sample_states(torch.tensor([0.5])), TypeError, "indices"),
        (lambda: _machine().gibbs(torch.zeros(2, 3, dtype=D64), steps=0), ValueError, "steps"),
        (lambda: _machine().sample(0), ValueError, "n"),
        (
            lambda: _machine(d=2).log_prob_binary(torch.full((1, 2), 0.5, dtype=D64)),
            ValueError,
            "v",
        ),
        (
            lambda: _machine().fit(torch.zeros(4, 3, dtype=D64), method="em"),
            ValueError,
            "method",
        ),
        (
            lambda: hopfield_log_partition(torch.zeros(2, 4, dtype=D64), 1.0),
            ValueError,
            "patterns",
        ),
        (
            lambda: hubbard_stratonovich_log_partition(torch.ones(5, 4, dtype=D64), 1.0),
            ValueError,
            "N <= 4",
        ),
    ],
)
def test_bad_input(make, exc, text):
    with pytest.raises(exc, match=text):
        make()


def test_draw_annealing_labels():
    fig = draw_annealing(beta=4.0, n_samples=50, steps=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


@pytest.mark.cuda
def test_cuda_gibbs_and_mean_field():
    bm = _machine().to("cuda")
    x0 = torch.zeros(100, 3, dtype=D64, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    res = bm.gibbs(x0, steps=5, generator=g)
    assert res.states.device.type == "cuda"
    with torch.no_grad():
        assert torch.equal(bm.mean_field_step(x0), modern.update(x0, bm.patterns, bm.beta))


def test_fit_binary_raises_the_exact_discrete_likelihood():
    """fit_binary ascends eq. (8.14); the quantised model stays normalised after training."""
    g = torch.Generator().manual_seed(12)
    data = (torch.rand(200, 6, generator=g, dtype=D64) < 0.3).to(D64)
    data[:100, :3] = 1.0  # a correlated block the mixture can pick up
    bm = AttentionBM(0.5 + 0.1 * torch.randn(4, 6, generator=g, dtype=D64), beta=4.0)
    hist = bm.fit_binary(data, epochs=60, lr=0.05)
    assert hist["log_likelihood"][-1] > hist["log_likelihood"][0] + 0.5
    codes = torch.arange(2**6)
    v = ((codes[:, None] >> torch.arange(6)) & 1).to(D64)
    with torch.no_grad():
        assert abs(torch.logsumexp(bm.log_prob_binary(v), 0).item()) < 1e-10
    with pytest.raises(ValueError, match="v must contain only 0 and 1"):
        bm.fit_binary(data + 0.5)
