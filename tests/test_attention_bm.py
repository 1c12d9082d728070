"""Tests for ebmlib.attention_bm: the Boltzmann machine behind attention (chapter 8).

Every expected value here is computed independently of the code under test: from the
definition of the joint model (eq-abm-joint) with plain Python and scipy, by quadrature, by
enumeration of binary states, or by autograd. Statistical tests use fixed seeds and a tolerance
of five standard errors computed from the sample size (binomial for frequencies, the sample
standard deviation for means); with a one-count floor so that empty tail bins do not count.

The functions named ``check_*`` are the sampler and learning-rule checks; the parametrised
``test_*`` functions run them, and ``tests/test_wrong_variants_abm.py`` runs them again against
deliberately wrong implementations, each of which must make at least one of them fail.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import norm as scipy_norm

import ebmlib.attention_bm as abm
from ebmlib import modern
from ebmlib.attention_bm import AttentionBM, BernoulliMixture, FitHistory, GibbsResult

D64 = torch.float64
X1 = torch.tensor([[-1.5], [0.5], [2.0]], dtype=D64)  # 1-D patterns with unequal norms
X2 = torch.tensor([[2.0, 0.3], [-1.2, 1.6], [0.2, -2.4], [-1.0, -0.8]], dtype=D64)


# ---------------------------------------------------------------------------------------------
# independent reference formulas (plain Python / scipy, never the module under test)
# ---------------------------------------------------------------------------------------------


def ref_weights(x: torch.Tensor, beta: float) -> list[float]:
    """w_i = exp(beta |x_i|^2 / 2) / sum_j exp(beta |x_j|^2 / 2), eq-abm-mixture."""
    a = [0.5 * beta * sum(float(v) ** 2 for v in row) for row in x]
    top = max(a)
    e = [math.exp(t - top) for t in a]
    return [t / sum(e) for t in e]


def ref_softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(t - top) for t in z]
    return [t / sum(e) for t in e]


def ref_log_z(x: torch.Tensor, beta: float) -> float:
    """log Z = d/2 log(2 pi / beta) + log sum_i exp(beta |x_i|^2 / 2), eq-abm-partition."""
    d = x.shape[1]
    a = [0.5 * beta * sum(float(v) ** 2 for v in row) for row in x]
    top = max(a)
    return (
        0.5 * d * math.log(2 * math.pi / beta) + top + math.log(sum(math.exp(t - top) for t in a))
    )


def ref_bin_probs_1d(means: list[float], weights: list[float], beta: float, edges) -> torch.Tensor:
    """Probability of each bin under sum_i weights_i N(means_i, 1 / beta), by scipy's cdf."""
    s = 1 / math.sqrt(beta)
    pairs = list(zip(means, weights, strict=True))
    cdf = [sum(w * scipy_norm.cdf(e, m, s) for m, w in pairs) for e in edges]
    return torch.tensor([b - a for a, b in zip(cdf[:-1], cdf[1:], strict=True)], dtype=D64)


def ref_index_kernel_1d(x: list[float], beta: float) -> torch.Tensor:
    """P_ab = E_{xi ~ N(x_a, 1/beta)} softmax(beta x xi)_b by adaptive quadrature (scipy)."""
    n = len(x)
    s = 1 / math.sqrt(beta)
    out = torch.zeros(n, n, dtype=D64)
    for a in range(n):
        for b in range(n):

            def f(t, a=a, b=b):
                return scipy_norm.pdf(t, x[a], s) * ref_softmax([beta * xi * t for xi in x])[b]

            pts = sorted({0.0, *(0.5 * (u + v) for u in x for v in x)})
            out[a, b] = integrate.quad(f, x[a] - 14 * s, x[a] + 14 * s, points=pts, limit=400)[0]
    return out


def exact_samples(x: torch.Tensor, beta: float, n: int, gen: torch.Generator):
    """Exact draws (xi, i) of the joint model, with the test's own weights."""
    w = torch.tensor(ref_weights(x, beta), dtype=D64)
    idx = torch.multinomial(w, n, replacement=True, generator=gen)
    xi = x[idx] + torch.randn(n, x.shape[1], generator=gen, dtype=D64) / math.sqrt(beta)
    return xi, idx


def assert_frequencies(counts: torch.Tensor, probs: torch.Tensor, n: int, what: str) -> None:
    """Every frequency within 5 binomial standard errors of its probability (one-count floor)."""
    freq = counts.to(D64) / n
    se = torch.sqrt(torch.clamp(probs, min=1.0 / n) * (1 - probs).clamp(min=0) / n)
    z = (freq - probs).abs() / se
    assert bool((z < 5).all()), f"{what}: largest deviation {z.max():.1f} standard errors"


def histogram_1d(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    idx = torch.bucketize(values, edges, right=True) - 1
    inside = (idx >= 0) & (idx < len(edges) - 1)
    return torch.bincount(idx[inside], minlength=len(edges) - 1)


def two_d_cell_probs(x: torch.Tensor, weights: list[float], beta: float, edges) -> torch.Tensor:
    """Cell probabilities of a 2-D isotropic mixture: each component factorises, via scipy."""
    s = 1 / math.sqrt(beta)
    out = torch.zeros(len(edges) - 1, len(edges) - 1, dtype=D64)
    for (mx, my), w in zip(x.tolist(), weights, strict=True):
        px = torch.tensor(scipy_norm.cdf(edges.numpy(), mx, s), dtype=D64).diff()
        py = torch.tensor(scipy_norm.cdf(edges.numpy(), my, s), dtype=D64).diff()
        out += w * px[:, None] * py[None, :]
    return out


def _log_joint(x, beta, xi, i):
    """log p(xi, i) from the definition (eq-abm-joint), with the closed-form Z."""
    return -beta * (0.5 * float(xi @ xi) - float(x[i] @ xi)) - ref_log_z(x, beta)


# ---------------------------------------------------------------------------------------------
# the joint model, its conditionals and its marginal
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.3, 1.3, 7.0])
def test_index_posterior_is_the_joint_conditional(beta):
    """Checks eq-abm-conditionals: p(i | xi) = p(xi, i) / sum_j p(xi, j) = softmax(beta X^T xi)."""
    bm = AttentionBM(X2, beta)
    xi = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=D64)
    with torch.no_grad():
        post = bm.index_posterior(xi)
    for b in range(5):
        ref = ref_softmax([_log_joint(X2, beta, xi[b], i) for i in range(4)])
        assert torch.allclose(post[b], torch.tensor(ref, dtype=D64), atol=1e-13)


@pytest.mark.parametrize("beta", [0.3, 1.3, 7.0])
def test_state_conditional_and_mixture_weights(beta):
    """Checks eq-abm-conditionals and eq-abm-mixture: p(xi | i) = p(xi, i) / w_i = N(x_i, I/beta)
    with w_i the reference weights, and log_mixture_weights, log_partition equal the closed forms.
    """
    bm = AttentionBM(X2, beta)
    w = ref_weights(X2, beta)
    with torch.no_grad():
        assert torch.allclose(bm.log_mixture_weights().exp(), torch.tensor(w, dtype=D64))
        assert abs(bm.log_partition().item() - ref_log_z(X2, beta)) < 1e-12
    xi = torch.tensor([0.4, -0.7], dtype=D64)
    for i in range(4):
        diff = xi - X2[i]
        gauss = -0.5 * beta * float(diff @ diff) + math.log(beta / (2 * math.pi))
        assert abs(_log_joint(X2, beta, xi, i) - math.log(w[i]) - gauss) < 1e-12


@pytest.mark.parametrize("beta", [0.05, 0.8, 12.0])
def test_marginal_is_the_modern_hopfield_density(beta):
    """Checks eq-abm-marginal: log p(xi) = logsumexp_i log p(xi, i) = -beta E(xi) - log Z_E with E
    the energy of chapter 4 (ebmlib.modern, a separate implementation) and
    Z_E = Z / (N exp(beta M^2 / 2)); and AttentionBM.energy equals the formula of E written out.
    """
    bm = AttentionBM(X2, beta)
    xi = torch.randn(7, 2, generator=torch.Generator().manual_seed(3), dtype=D64)
    direct = [
        torch.logsumexp(torch.tensor([_log_joint(X2, beta, x, i) for i in range(4)]), 0).item()
        for x in xi
    ]
    with torch.no_grad():
        assert torch.allclose(bm.log_density(xi), torch.tensor(direct, dtype=D64), atol=1e-11)
        m_sq = max(float(r @ r) for r in X2)
        log_ze = ref_log_z(X2, beta) - math.log(4) - beta * m_sq / 2
        via_e = -beta * modern.energy(xi, X2, beta) - log_ze
        assert torch.allclose(bm.log_density(xi), via_e, atol=1e-9)
        for b in range(7):
            z = [beta * float(X2[i] @ xi[b]) for i in range(4)]
            top = max(z)
            lse = (top + math.log(sum(math.exp(t - top) for t in z))) / beta
            e_ref = -lse + 0.5 * float(xi[b] @ xi[b]) + math.log(4) / beta + 0.5 * m_sq
            assert abs(bm.energy(xi[b]).item() - e_ref) < 1e-10 * max(1.0, abs(e_ref))


@pytest.mark.parametrize("beta", [0.2, 1.7, 9.0])
def test_log_density_integrates_to_one_1d(beta):
    """Checks the normaliser eq-abm-partition by adaptive quadrature (scipy) in d = 1."""
    bm = AttentionBM(X1, beta)

    def f(t):
        with torch.no_grad():
            return bm.log_density(torch.tensor([[t]], dtype=D64)).exp().item()

    total = integrate.quad(f, -40, 40, points=[-1.5, 0.5, 2.0], limit=200)[0]
    assert abs(total - 1.0) < 1e-8


@pytest.mark.parametrize("beta", [0.4, 2.0])
def test_log_density_integrates_to_one_2d(beta):
    """Checks the normaliser eq-abm-partition by the trapezoidal rule on a 2-D grid."""
    bm = AttentionBM(X2, beta)
    g = torch.linspace(-14, 14, 1201, dtype=D64)
    gx, gy = torch.meshgrid(g, g, indexing="ij")
    with torch.no_grad():
        dens = bm.log_density(torch.stack([gx.ravel(), gy.ravel()], 1)).exp().reshape(1201, 1201)
    total = torch.trapezoid(torch.trapezoid(dens, g, dim=1), g)
    assert abs(total.item() - 1.0) < 1e-8


# ---------------------------------------------------------------------------------------------
# the Gibbs sampler (checks shared with tests/test_wrong_variants_abm.py)
# ---------------------------------------------------------------------------------------------


def check_one_gibbs_step(beta: float, start: float, n: int = 40_000, seed: int = 0) -> None:
    """Checks eq-abm-gibbs from a fixed start: after one step the index has law
    softmax(beta X^T xi0) and the state has law sum_i softmax(.)_i N(x_i, 1/beta) (no mixing
    needed, any beta)."""
    bm = AttentionBM(X1, beta)
    gen = torch.Generator().manual_seed(seed)
    res = bm.gibbs(torch.full((n, 1), start, dtype=D64), steps=1, generator=gen)
    p_idx = ref_softmax([beta * float(x) * start for x in X1[:, 0]])
    counts = torch.bincount(res.indices, minlength=3)
    assert_frequencies(counts, torch.tensor(p_idx, dtype=D64), n, "index after one step")
    edges = torch.linspace(-6, 7, 53, dtype=D64)
    probs = ref_bin_probs_1d(X1[:, 0].tolist(), p_idx, beta, edges.tolist())
    assert_frequencies(histogram_1d(res.states[:, 0], edges), probs, n, "state after one step")


def check_gibbs_stationary_1d(beta: float, start: str, steps: int, n: int = 40_000) -> None:
    """Checks the theorem thm-abm-gibbs: the chain's state marginal is exp(-beta E)/Z_E
    (eq-abm-marginal), bin by bin, and its index marginal is w (eq-abm-mixture)."""
    bm = AttentionBM(X1, beta)
    gen = torch.Generator().manual_seed(11)
    if start == "exact":
        x0, _ = exact_samples(X1, beta, n, gen)
    else:
        x0 = torch.zeros(n, 1, dtype=D64)
    res = bm.gibbs(x0, steps=steps, generator=gen)
    w = ref_weights(X1, beta)
    edges = torch.linspace(-7, 8, 61, dtype=D64)
    probs = ref_bin_probs_1d(X1[:, 0].tolist(), w, beta, edges.tolist())
    assert_frequencies(histogram_1d(res.states[:, 0], edges), probs, n, "stationary state")
    counts = torch.bincount(res.indices, minlength=3)
    assert_frequencies(counts, torch.tensor(w, dtype=D64), n, "stationary index")


def check_gibbs_stationary_2d(beta: float, n: int = 40_000) -> None:
    """Checks thm-abm-gibbs in d = 2 with four patterns of unequal norms: cell frequencies of
    chains started from exact samples against the exact cell probabilities of eq-abm-mixture."""
    bm = AttentionBM(X2, beta)
    gen = torch.Generator().manual_seed(5)
    x0, _ = exact_samples(X2, beta, n, gen)
    s = bm.gibbs(x0, steps=6, generator=gen).states
    edges = torch.linspace(-5, 5, 17, dtype=D64)
    probs = two_d_cell_probs(X2, ref_weights(X2, beta), beta, edges)
    ix = torch.bucketize(s, edges, right=True) - 1
    inside = ((ix >= 0) & (ix < 16)).all(1)
    counts = torch.bincount(ix[inside, 0] * 16 + ix[inside, 1], minlength=256).reshape(16, 16)
    assert_frequencies(counts, probs, n, "2-D cells")


def check_index_chain(beta: float, n: int = 60_000) -> None:
    """Checks eq-abm-index-kernel: from exact joint samples (xi, a), one Gibbs step gives the pair
    (a, b) with probability w_a P_ab, P computed by adaptive quadrature (scipy)."""
    bm = AttentionBM(X1, beta)
    gen = torch.Generator().manual_seed(21)
    x0, i0 = exact_samples(X1, beta, n, gen)
    i1 = bm.gibbs(x0, steps=1, generator=gen).indices
    k = ref_index_kernel_1d(X1[:, 0].tolist(), beta)
    pair = torch.tensor(ref_weights(X1, beta), dtype=D64)[:, None] * k
    counts = torch.bincount(i0 * 3 + i1, minlength=9).reshape(3, 3)
    assert_frequencies(counts, pair, n, "index pairs")


def check_exact_sampler(beta: float, n: int = 40_000) -> None:
    """Checks AttentionBM.sample against eq-abm-mixture: index frequencies equal w and the states
    given the index have mean x_i and variance 1/beta (5 standard errors)."""
    bm = AttentionBM(X2, beta)
    res = bm.sample(n, generator=torch.Generator().manual_seed(4))
    w = torch.tensor(ref_weights(X2, beta), dtype=D64)
    assert_frequencies(torch.bincount(res.indices, minlength=4), w, n, "sample indices")
    for i in range(4):
        s = res.states[res.indices == i]
        if len(s) < 200:
            continue
        m = len(s)
        assert ((s.mean(0) - X2[i]).abs() < 5 / math.sqrt(beta * m)).all()
        # the sample variance of m normals has standard deviation sqrt(2 / (m - 1)) / beta
        assert ((s.var(0) - 1 / beta).abs() < 5 * math.sqrt(2 / (m - 1)) / beta).all()


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0, 12.0])
@pytest.mark.parametrize("start", [-1.0, 0.3])
def test_one_gibbs_step_has_the_exact_kernel(beta, start):
    check_one_gibbs_step(beta, start)


@pytest.mark.parametrize(
    "beta, start, steps",
    [
        (0.3, "point", 20),
        (1.2, "point", 100),
        (0.3, "exact", 5),
        (2.5, "exact", 20),
        (6.0, "exact", 20),
    ],
)
def test_gibbs_marginal_matches_exact_density(beta, start, steps):
    """The relaxation time 1 / (1 - |lambda_2|) of the index chain of these patterns is 1.7 steps
    at beta = 0.3, 7 at 1.2, 43 at 2.5 and 2900 at 6 (eq-abm-escape), so from a point the chain
    is run only where it converges in time (at t = 100 and beta = 1.2 the exact occupation is
    within 1e-7 of w); at larger beta it is started from exact samples."""
    check_gibbs_stationary_1d(beta, start, steps)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_gibbs_marginal_matches_exact_density_2d(beta):
    check_gibbs_stationary_2d(beta)


@pytest.mark.parametrize("beta", [0.5, 2.5])
def test_index_chain_has_the_exact_transition_matrix(beta):
    check_index_chain(beta)


@pytest.mark.parametrize("beta", [0.4, 3.0])
def test_exact_sampler(beta):
    check_exact_sampler(beta)


def check_occupation_from_zero(n: int = 5_000) -> None:
    """Checks the mixing measurement of the chapter (eq-abm-index-kernel): chains started at
    xi = 0 with the patterns -2, 0.5, 3 at beta = 2.5 occupy the memories with probabilities
    p0 K^(t-1) after t steps; at t = 300 about a fifth still sit at the pattern -2, whose
    stationary weight is 0.2%."""
    x = torch.tensor([[-2.0], [0.5], [3.0]], dtype=D64)
    beta = 2.5
    bm = AttentionBM(x, beta)
    gen = torch.Generator().manual_seed(2)
    res = bm.gibbs(torch.zeros(n, 1, dtype=D64), steps=300, generator=gen)
    k = ref_index_kernel_1d([-2.0, 0.5, 3.0], beta)
    p = torch.full((3,), 1 / 3, dtype=D64) @ torch.linalg.matrix_power(k, 299)
    assert_frequencies(torch.bincount(res.indices, minlength=3), p, n, "occupation at t = 300")
    assert p[0] > 0.15 and ref_weights(x, beta)[0] < 0.003


def test_occupation_follows_the_index_chain_not_the_stationary_law():
    check_occupation_from_zero()


def test_gibbs_shapes_trace_and_reproducibility():
    bm = AttentionBM(X2, 1.3)
    x0 = torch.zeros(6, 2, dtype=D64)
    a = bm.gibbs(x0, steps=3, generator=torch.Generator().manual_seed(0), return_trace=True)
    b = bm.gibbs(x0, steps=3, generator=torch.Generator().manual_seed(0))
    assert isinstance(a, GibbsResult)
    assert a.states.shape == (6, 2) and a.indices.shape == (6,) and a.trace.shape == (3, 6, 2)
    assert torch.equal(a.states, b.states) and torch.equal(a.indices, b.indices)
    assert torch.equal(a.trace[-1], a.states) and a["states"] is a.states
    assert dict(a)["indices"] is a.indices  # a read-only mapping of its fields
    with pytest.warns(DeprecationWarning, match="unpacking"):
        s, i, t = a  # the named tuple of earlier versions
    assert s is a.states and i is a.indices and t is a.trace
    torch.manual_seed(5)  # generator=None means torch's global generator
    c = bm.gibbs(x0, steps=2).states
    torch.manual_seed(5)
    assert torch.equal(c, bm.gibbs(x0, steps=2).states)


# ---------------------------------------------------------------------------------------------
# mixing: the index chain and the escape bound
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.5, 2.5, 20.0])
def test_index_transition_matrix_matches_quadrature(beta):
    """Checks eq-abm-index-kernel: index_transition_matrix equals adaptive quadrature (scipy)."""
    bm = AttentionBM(X1, beta)
    k = bm.index_transition_matrix()
    ref = ref_index_kernel_1d(X1[:, 0].tolist(), beta)
    assert torch.allclose(k, ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_index_transition_matrix_is_reversible_2d(beta):
    """Checks eq-abm-index-kernel in d = 3 with patterns spanning a plane: rows sum to 1 and
    the chain is reversible with respect to w, w_a P_ab = w_b P_ba (both sides are
    E_p[p(a|xi) p(b|xi)])."""
    x = torch.tensor([[1.0, 0.5, 0.0], [-0.8, 1.1, 0.0], [0.3, -1.4, 0.0]], dtype=D64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=D64))
    x = x @ q.T  # rotate the plane out of the coordinate axes
    k = AttentionBM(x, beta).index_transition_matrix()
    w = torch.tensor(ref_weights(x, beta), dtype=D64)
    assert torch.allclose(k.sum(1), torch.ones(3, dtype=D64), atol=1e-12)
    flow = w[:, None] * k
    assert torch.allclose(flow, flow.T, atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 2.0, 8.0])
def test_escape_bound(beta):
    """Checks the escape theorem (eq-abm-escape): P_ab <= Phi(-sqrt(beta) D_ab / |x_a - x_b|)
    + (w_b / w_a) Phi(-sqrt(beta) D_ba / |x_a - x_b|) with D_ab = x_a.x_a - x_a.x_b; and for
    equal norms 1 - P_aa <= sum_b exp(-beta D_ab / 4)."""
    g = torch.Generator().manual_seed(7)
    for equal in (False, True):
        x = torch.randn(3, 2, generator=g, dtype=D64) * 1.5
        if equal:
            x = 1.8 * x / x.norm(dim=1, keepdim=True)
        k = AttentionBM(x, beta).index_transition_matrix()
        w = ref_weights(x, beta)
        for a in range(3):
            leave = 0.0
            for b in range(3):
                if a == b:
                    continue
                dist = float((x[a] - x[b]).norm())
                d_ab = float(x[a] @ x[a] - x[a] @ x[b])
                d_ba = float(x[b] @ x[b] - x[a] @ x[b])
                bound = scipy_norm.cdf(-math.sqrt(beta) * d_ab / dist) + w[b] / w[
                    a
                ] * scipy_norm.cdf(-math.sqrt(beta) * d_ba / dist)
                assert k[a, b] <= bound + 1e-12
                leave += math.exp(-beta * d_ab / 4)
            if equal:
                assert 1 - k[a, a] <= leave + 1e-12


def test_index_transition_matrix_refuses_rank_three():
    bm = AttentionBM(torch.eye(3, dtype=D64), 1.0)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        bm.index_transition_matrix()


# ---------------------------------------------------------------------------------------------
# mean field
# ---------------------------------------------------------------------------------------------


def ref_mean_field(x: torch.Tensor, beta: float, xi: torch.Tensor) -> list[list[float]]:
    """sum_i softmax(beta X^T xi)_i x_i in float64 Python arithmetic, eq-abm-meanfield."""
    out = []
    for row in xi.tolist():
        z = [beta * sum(a * b for a, b in zip(pat, row, strict=True)) for pat in x.tolist()]
        p = ref_softmax(z)
        out.append([sum(p[i] * x[i, j].item() for i in range(len(p))) for j in range(x.shape[1])])
    return out


@given(
    beta=st.floats(1e-3, 1e3),
    seed=st.integers(0, 10_000),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
@settings(max_examples=40, deadline=None)
def test_mean_field_step_is_the_posterior_mean(beta, seed, dtype):
    """Checks eq-abm-meanfield against Python arithmetic for beta in [1e-3, 1e3] and two dtypes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, generator=g, dtype=D64)
    xi = torch.randn(5, 4, generator=g, dtype=D64)
    bm = AttentionBM(x.to(dtype), beta)
    with torch.no_grad():
        got = bm.mean_field_step(xi.to(dtype)).to(D64)
    ref = torch.tensor(ref_mean_field(x.to(dtype).to(D64), beta, xi.to(dtype).to(D64)), dtype=D64)
    eps = torch.finfo(dtype).eps
    # rounding the inputs by eps moves the softmax arguments beta x_i^T xi by eps beta |x_i^T xi|
    # (the conditioning of the problem); the output is a convex combination of the patterns
    z_max = float((x @ xi.T).abs().max())
    tol = 8 * eps * (1 + beta * z_max) * float(x.abs().max())
    assert torch.allclose(got, ref, atol=tol, rtol=0)


@pytest.mark.parametrize("beta", [0.2, 1.0, 5.0])
def test_mean_field_step_is_the_hopfield_update_and_attention(beta):
    """Checks thm-abm-meanfield: the mean-field step equals the update of chapter 4
    (ebmlib.modern.update, a separate implementation) and torch's attention kernel with
    scale = beta and keys = values = the patterns (chapter 5)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 8, generator=g, dtype=D64)
    xi = torch.randn(5, 8, generator=g, dtype=D64)
    bm = AttentionBM(x, beta)
    with torch.no_grad():
        mf = bm.mean_field_step(xi)
        assert torch.allclose(mf, modern.update(xi, x, beta), atol=1e-12)
        sdpa = torch.nn.functional.scaled_dot_product_attention(
            xi[None], x[None], x[None], scale=beta
        )
        assert torch.allclose(mf, sdpa[0], atol=1e-12)


def check_mean_field_is_expected_gibbs_step(beta: float, n: int = 40_000) -> None:
    """Checks thm-abm-meanfield (a): the average of n one-step Gibbs moves from the same state
    is the mean-field step, within 5 standard errors (sample standard deviation / sqrt(n))."""
    bm = AttentionBM(X2, beta)
    xi = torch.tensor([[0.3, -0.2], [1.0, 0.9]], dtype=D64)
    moves = bm.gibbs(xi.repeat(n, 1), steps=1, generator=torch.Generator().manual_seed(8))
    s = moves.states.view(n, 2, 2)
    z = (s.mean(0) - torch.tensor(ref_mean_field(X2, beta, xi), dtype=D64)) / (
        s.std(0) / math.sqrt(n)
    )
    assert bool((z.abs() < 5).all()), f"largest deviation {z.abs().max():.1f} standard errors"
    with torch.no_grad():
        mf = bm.mean_field_step(xi)
    assert torch.allclose(mf, torch.tensor(ref_mean_field(X2, beta, xi), dtype=D64), atol=1e-12)


@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_mean_field_is_the_expected_gibbs_step(beta):
    check_mean_field_is_expected_gibbs_step(beta)


@pytest.mark.parametrize("beta", [0.3, 1.5, 8.0])
def test_mean_field_iteration_is_em_and_variational(beta):
    """Checks eq-abm-mf-variational: with q(i) = softmax(beta X^T m) and q(xi) = N(m, I/beta),
    the naive mean-field bound ELBO = E_q[log p(xi, i)] + H(q), written out term by term, equals
    log p(m) + d/2 log(2 pi / beta) and is <= 0; iterating the mean-field step never lowers it
    (nor log p: mean-shift is EM) and ends at a stationary point of log p."""
    bm = AttentionBM(X2, beta)
    d = 2
    log_z = ref_log_z(X2, beta)

    def elbo(m):
        q = ref_softmax([beta * float(x @ m) for x in X2])
        e_sq = float(m @ m) + d / beta  # E|xi|^2 under N(m, I / beta)
        e_log_joint = (
            sum(qi * (-beta * (0.5 * e_sq - float(X2[i] @ m))) for i, qi in enumerate(q)) - log_z
        )
        h_index = -sum(qi * math.log(qi) for qi in q if qi > 0)
        h_state = 0.5 * d * (1 + math.log(2 * math.pi / beta))
        return e_log_joint + h_index + h_state

    m = torch.tensor([[0.4, 0.1]], dtype=D64)
    shift = 0.5 * d * math.log(2 * math.pi / beta)
    with torch.no_grad():
        lp, bound = bm.log_density(m).item(), elbo(m[0])
        for _ in range(300):
            assert abs(bound - (lp + shift)) < 1e-10 and bound <= 1e-12
            m_new = bm.mean_field_step(m)
            lp_new, bound_new = bm.log_density(m_new).item(), elbo(m_new[0])
            assert lp_new >= lp - 1e-12 and bound_new >= bound - 1e-12
            m, lp, bound = m_new, lp_new, bound_new
    m = m.clone().requires_grad_(True)
    bm.log_density(m).sum().backward()
    assert m.grad.abs().max() < 1e-6


# ---------------------------------------------------------------------------------------------
# learning: the ML gradient, its decomposition, the curvature, fits
# ---------------------------------------------------------------------------------------------


def check_ml_gradient_equals_autograd(beta: float) -> None:
    """Checks eq-abm-ml: beta (E_data[p(i|xi) xi] - w_i x_i) is the gradient of the mean of
    log p, differentiated by autograd through log_density (logsumexp and log Z)."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(5, 3, generator=g, dtype=D64)
    data = torch.randn(50, 3, generator=g, dtype=D64) * 1.5
    xs = x.clone().requires_grad_(True)
    logits = beta * (data @ xs.T - 0.5 * (data * data).sum(-1, keepdim=True))
    log_z = 1.5 * math.log(2 * math.pi / beta) + torch.logsumexp(0.5 * beta * (xs * xs).sum(-1), 0)
    (torch.logsumexp(logits, -1) - log_z).mean().backward()
    bm = AttentionBM(x, beta)
    assert torch.allclose(bm.ml_gradient(data), xs.grad, atol=1e-12)


@pytest.mark.parametrize("beta", [0.3, 0.9, 5.0])
def test_ml_gradient_equals_autograd(beta):
    check_ml_gradient_equals_autograd(beta)


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_ml_gradient_splits_into_mixture_mean_gradient_plus_tie(beta):
    """Checks eq-abm-ml-split: the ML gradient is the gradient of the mixture log-likelihood in
    the means with the weights held at w (autograd, weights detached) plus beta x_i (rbar_i - w_i)
    with rbar_i = mean_m p(i | xi_m)."""
    g = torch.Generator().manual_seed(12)
    x = torch.randn(4, 2, generator=g, dtype=D64) * 1.3
    data = torch.randn(80, 2, generator=g, dtype=D64) * 2
    w = torch.tensor(ref_weights(x, beta), dtype=D64)
    xs = x.clone().requires_grad_(True)
    comp = w.log() - 0.5 * beta * ((data[:, None, :] - xs[None]) ** 2).sum(-1)
    torch.logsumexp(comp, -1).mean().backward()
    rbar = torch.softmax(beta * data @ x.T, -1).mean(0)
    expected = xs.grad + beta * x * (rbar - w)[:, None]
    assert torch.allclose(AttentionBM(x, beta).ml_gradient(data), expected, atol=1e-12)


@pytest.mark.parametrize("beta", [0.7, 3.0])
def test_equal_norms_likelihoods_coincide_tangential_gradients_agree(beta):
    """Checks thm-abm-ml-mixture (c): on equal-norm patterns the machine's log-likelihood equals
    that of the equal-weight mixture (1/N) sum_i N(x_i, I/beta); the two gradients differ by
    beta (rbar_i - 1/N) x_i, which is radial, so their tangential components agree."""
    g = torch.Generator().manual_seed(13)
    x = torch.randn(3, 2, generator=g, dtype=D64)
    x = 2.0 * x / x.norm(dim=1, keepdim=True)
    data = torch.randn(200, 2, generator=g, dtype=D64) * 2 + torch.tensor([1.0, 0.0], dtype=D64)
    xs = x.clone().requires_grad_(True)
    comp = (
        -math.log(3)
        + math.log(beta / (2 * math.pi))
        - 0.5 * beta * ((data[:, None, :] - xs[None]) ** 2).sum(-1)
    )
    ll_eq = torch.logsumexp(comp, -1).mean()
    ll_eq.backward()
    bm = AttentionBM(x, beta)
    with torch.no_grad():
        assert abs(bm.log_density(data).mean().item() - ll_eq.item()) < 1e-12
    diff = bm.ml_gradient(data) - xs.grad
    rbar = torch.softmax(beta * data @ x.T, -1).mean(0)
    assert torch.allclose(diff, beta * (rbar - 1 / 3)[:, None] * x, atol=1e-12)
    radial_unit = x / x.norm(dim=1, keepdim=True)
    tangential = diff - (diff * radial_unit).sum(1, keepdim=True) * radial_unit
    assert tangential.abs().max() < 1e-12
    assert (diff * radial_unit).sum(1).abs().max() > 1e-3  # the radial parts do differ


def _equal_weight_em(data, start, beta, iterations=400):
    """EM for a mixture with fixed equal weights and covariance I/beta (the means only)."""
    m = start.clone()
    for _ in range(iterations):
        r = torch.softmax(-0.5 * beta * ((data[:, None, :] - m[None]) ** 2).sum(-1), -1)
        m = r.T @ data / r.sum(0)[:, None]
    return m


def test_ml_fit_is_not_an_equal_weight_mixture_fit():
    """Checks thm-abm-ml-mixture on unbalanced data (cluster weights 0.6, 0.3, 0.1) from an
    equal-norm teacher (radius 3): the ML fit is stationary, encodes the unequal weights through
    unequal norms (norm of the heaviest minus the lightest > 0.3, while the norm estimates have
    standard errors near 0.05), and the equal-weight EM fit is not a stationary point of the ML
    rule (its radial gradient exceeds 20 standard errors of the gradient's data term)."""
    g = torch.Generator().manual_seed(0)
    ang = torch.tensor([0.2, 2.3, 4.4], dtype=D64)
    mu = 3.0 * torch.stack([ang.cos(), ang.sin()], 1)
    n, beta = 10_000, 1.0
    idx = torch.multinomial(torch.tensor([0.6, 0.3, 0.1], dtype=D64), n, True, generator=g)
    data = mu[idx] + torch.randn(n, 2, generator=g, dtype=D64)
    bm = AttentionBM(mu, beta)
    hist = bm.fit(data, method="ml", epochs=100, lr=1.0)
    assert isinstance(hist, FitHistory)
    ll = hist["log_likelihood"]
    assert all(b >= a - 1e-12 for a, b in zip(ll, ll[1:], strict=False))  # step halving
    assert bm.ml_gradient(data).abs().max() < 1e-3  # its sampling error is about 3e-2
    norms = bm.patterns.detach().norm(dim=1)
    assert norms[0] - norms[2] > 0.3 and norms[0] > norms[1] > norms[2]
    em = _equal_weight_em(data, mu, beta)
    g_em = AttentionBM(em, beta).ml_gradient(data)
    unit = em / em.norm(dim=1, keepdim=True)
    radial = (g_em * unit).sum(1)
    r = torch.softmax(beta * data @ em.T, -1)
    se = (beta * r * (data @ unit.T)).std(0) / math.sqrt(n)  # per-example radial terms
    assert (radial.abs() / se).max() > 20
    with torch.no_grad():
        assert bm.log_density(data).mean() > AttentionBM(em, beta).log_density(data).mean()


@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_norm_curvature_is_the_hessian_of_log_z(beta):
    """Checks eq-abm-curvature against an autograd Hessian of log Z: the block (i, i) is
    beta w_i I + beta^2 w_i (1 - w_i) x_i x_i^T, so along x_i / |x_i| it is
    beta w_i + beta^2 w_i (1 - w_i) |x_i|^2; and the Hessian of -L is no larger there."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, generator=g, dtype=D64)
    data = torch.randn(30, 3, generator=g, dtype=D64)

    def log_z(flat):
        xs = flat.view(4, 3)
        return torch.logsumexp(0.5 * beta * (xs * xs).sum(-1), 0)

    def neg_ll(flat):
        xs = flat.view(4, 3)
        logits = beta * (data @ xs.T)
        return -torch.logsumexp(logits, -1).mean() + log_z(flat)

    h = torch.autograd.functional.hessian(log_z, x.reshape(-1)).view(4, 3, 4, 3)
    h_nll = torch.autograd.functional.hessian(neg_ll, x.reshape(-1)).view(4, 3, 4, 3)
    w = torch.tensor(ref_weights(x, beta), dtype=D64)
    curv = AttentionBM(x, beta).norm_curvature().detach()
    for i in range(4):
        u = x[i] / x[i].norm()
        block = beta * w[i] * torch.eye(3, dtype=D64) + beta**2 * w[i] * (1 - w[i]) * torch.outer(
            x[i], x[i]
        )
        assert torch.allclose(h[i, :, i, :], block, atol=1e-12)
        assert abs(u @ h[i, :, i, :] @ u - curv[i]) < 1e-12
        assert u @ h_nll[i, :, i, :] @ u <= curv[i] + 1e-12


def test_ml_fit_recovers_equal_norm_balanced_mixture_means():
    """Checks thm-abm-ml-mixture: with balanced data from an equal-norm mixture, rbar_i -> 1/N =
    w_i, so the true means are the large-sample stationary point of eq-abm-ml. The MLE of each
    mean has standard deviation about sqrt(N / (beta n)) per coordinate; tolerance 6 of them."""
    gen = torch.Generator().manual_seed(9)
    angles = torch.tensor([0.2, 2.3, 4.4], dtype=D64)
    true = 3.0 * torch.stack([angles.cos(), angles.sin()], 1)
    beta, n = 1.0, 6000
    data, _ = exact_samples(true, beta, n, gen)
    student = AttentionBM(true + 0.8 * torch.randn(3, 2, generator=gen, dtype=D64), beta)
    hist = student.fit(data, method="ml", epochs=80, lr=1.0)
    err = (student.patterns.detach() - true).norm(dim=1).max().item()
    assert err < 6 * math.sqrt(3 / (beta * n)) * math.sqrt(2)
    ll = hist["log_likelihood"]
    assert all(b >= a - 1e-12 for a, b in zip(ll, ll[1:], strict=False))  # step halving
    with torch.no_grad():
        assert ll[-1] >= AttentionBM(true, beta).log_density(data).mean().item() - 1e-9


def check_cd_model_phase(beta: float, k: int, n: int = 40_000) -> None:
    """Checks eq-abm-cd: with data drawn exactly from the model, the states reached by k Gibbs
    steps are again exact samples, so CD - ML = beta (w_i x_i - mean_m p(i|xi~_m) xi~_m) is a mean
    of n independent terms of mean 0; its standard error is estimated from the same statistic
    on the (identically distributed) data. Tolerance 5 standard errors."""
    bm = AttentionBM(X2, beta)
    gen = torch.Generator().manual_seed(17)
    data, _ = exact_samples(X2, beta, n, gen)
    diff = bm.cd_gradient(data, k=k, generator=gen) - bm.ml_gradient(data)
    r = torch.softmax(beta * data @ X2.T, -1)  # [n, N]
    terms = beta * r[:, :, None] * data[:, None, :]  # [n, N, d]
    se = terms.std(0) / math.sqrt(n)
    z = diff.abs() / se
    assert bool((z < 5).all()), f"largest deviation {z.max():.1f} standard errors"


def check_cd_far_from_the_model(n: int = 20_000) -> None:
    """Checks eq-abm-cd away from the model: at beta = 0.5 the chain mixes in a few steps, so
    CD-30 from data of another distribution estimates the exact model phase w_i x_i (5 standard
    errors of the model statistic, whose spread is estimated from exact model samples), while
    CD-1 is still visibly biased."""
    beta = 0.5
    bm = AttentionBM(X2, beta)
    gen = torch.Generator().manual_seed(19)
    data = 3.0 * torch.randn(n, 2, generator=gen, dtype=D64) + 1.0
    diff = bm.cd_gradient(data, k=30, generator=gen) - bm.ml_gradient(data)
    model, _ = exact_samples(X2, beta, n, gen)
    r = torch.softmax(beta * model @ X2.T, -1)
    se = (beta * r[:, :, None] * model[:, None, :]).std(0) / math.sqrt(n)
    assert bool((diff.abs() / se < 5).all())
    bias = bm.cd_gradient(data, k=1, generator=gen) - bm.ml_gradient(data)
    assert (bias.abs() / se).max() > 10


@pytest.mark.parametrize("beta, k", [(0.5, 1), (2.0, 1), (2.0, 3)])
def test_cd_gradient_is_unbiased_at_the_model(beta, k):
    check_cd_model_phase(beta, k)


def test_cd_far_from_the_model():
    check_cd_far_from_the_model()


def test_cd_fit_also_recovers_the_means():
    """CD-1 (eq-abm-cd) reaches the same means within a looser, sampling-noise tolerance."""
    gen = torch.Generator().manual_seed(10)
    angles = torch.tensor([0.5, 2.6, 4.7], dtype=D64)
    true = 3.0 * torch.stack([angles.cos(), angles.sin()], 1)
    data, _ = exact_samples(true, 1.0, 6000, gen)
    student = AttentionBM(true + 0.5 * torch.randn(3, 2, generator=gen, dtype=D64), 1.0)
    hist = student.fit(data, method="cd", epochs=80, lr=0.3, k=1, generator=gen)
    assert (student.patterns.detach() - true).norm(dim=1).max().item() < 0.25
    assert len(hist["epoch"]) == 80 and set(hist.keys()) == {"epoch", "log_likelihood", "lr"}


def test_minibatch_ml_fit_uses_the_global_generator_when_none():
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=D64)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        bm = AttentionBM(X2.clone(), 1.0)
        bm.fit(data, epochs=3, batch_size=16, lr=0.1)
        runs.append(bm.patterns.detach())
    assert torch.equal(runs[0], runs[1])


# ---------------------------------------------------------------------------------------------
# binary data: the quantised model is a Bernoulli mixture
# ---------------------------------------------------------------------------------------------


def _all_binary(d):
    codes = torch.arange(2**d)
    return ((codes[:, None] >> torch.arange(d)) & 1).to(D64)


@pytest.mark.parametrize("beta", [0.5, 2.5, 9.0])
def test_log_prob_binary_is_normalised(beta):
    """Checks eq-abm-quantised: the quantised probabilities sum to 1 over all of {0, 1}^d."""
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=D64)
    with torch.no_grad():
        total = torch.logsumexp(AttentionBM(x, beta).log_prob_binary(_all_binary(6)), 0)
    assert abs(total.item()) < 1e-10


def test_log_prob_binary_single_gaussian_closed_form():
    """Checks eq-abm-quantised for N = 1: p_q(v) = prod_j c_j(v_j) / prod_j (c_j(0) + c_j(1))."""
    x = torch.tensor([[0.2, 0.9, 0.5]], dtype=D64)
    bm = AttentionBM(x, 3.0)
    s = math.sqrt(3.0)

    def c(b, xj):
        return scipy_norm.cdf(s * (b + 0.5 - xj)) - scipy_norm.cdf(s * (b - 0.5 - xj))

    v = torch.tensor([[1.0, 0.0, 1.0]], dtype=D64)
    expected = sum(
        math.log(
            c(v[0, j].item(), x[0, j].item()) / (c(0.0, x[0, j].item()) + c(1.0, x[0, j].item()))
        )
        for j in range(3)
    )
    with torch.no_grad():
        assert abs(bm.log_prob_binary(v).item() - expected) < 1e-12


def test_quantised_probabilities_are_cell_frequencies_of_continuous_samples():
    """Checks eq-abm-quantised by Monte Carlo, independently of its formula: among exact samples
    of the continuous machine that fall in the cube [-1/2, 3/2)^2, the cell of v has frequency
    p_q(v) (5 binomial standard errors)."""
    x = torch.tensor([[0.9, 0.1], [0.0, 1.2], [1.5, 1.4]], dtype=D64)
    beta = 3.0
    xi, _ = exact_samples(x, beta, 400_000, torch.Generator().manual_seed(3))
    inside = ((xi >= -0.5) & (xi < 1.5)).all(1)
    v = torch.floor(xi[inside] + 0.5)
    counts = torch.bincount((v[:, 0] + 2 * v[:, 1]).long(), minlength=4)
    with torch.no_grad():
        probs = AttentionBM(x, beta).log_prob_binary(_all_binary(2)).exp()
    assert_frequencies(counts, probs, int(inside.sum()), "quantised cells")


def check_sample_binary(beta: float = 2.0, n: int = 60_000) -> None:
    """Checks AttentionBM.sample_binary (eq-abm-bernoulli-mixture): the frequencies of the 2^4
    binary vectors equal exp(log_prob_binary) (5 binomial standard errors)."""
    x = torch.tensor([[0.9, 0.1, 0.6, 0.0], [0.1, 1.2, 0.4, 0.8], [1.4, 1.3, -0.2, 0.5]], dtype=D64)
    bm = AttentionBM(x, beta)
    s = bm.sample_binary(n, generator=torch.Generator().manual_seed(5)).samples
    counts = torch.bincount((s * 2 ** torch.arange(4)).sum(1).long(), minlength=16)
    with torch.no_grad():
        probs = bm.log_prob_binary(_all_binary(4)).exp()
    assert_frequencies(counts, probs, n, "quantised samples")


@pytest.mark.parametrize("beta", [0.7, 4.0])
def test_sample_binary_is_exact(beta):
    check_sample_binary(beta)


def test_quantised_mixture_reproduces_log_prob_binary():
    """Checks eq-abm-bernoulli-mixture: the mixture (tilde w, theta) built from the cells gives
    the same probabilities as eq-abm-quantised, and its weights are w_i prod_j (c0 + c1), not w."""
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(2), dtype=D64) * 0.8 + 0.5
    bm = AttentionBM(x, 4.0)
    mix = bm.quantised_mixture()
    v = _all_binary(7)
    with torch.no_grad():
        assert torch.allclose(mix.log_prob(v), bm.log_prob_binary(v), atol=1e-12)
        assert not torch.allclose(mix.weights, bm.log_mixture_weights().exp(), atol=1e-3)
    assert torch.allclose(mix.log_p1.exp() + mix.log_p0.exp(), torch.ones(5, 7, dtype=D64))


def test_bernoulli_mixture_sample_and_normalisation():
    """A Bernoulli mixture (eq-abm-bernoulli-mixture) sums to 1 over {0,1}^d and its sampler hits
    every vector with that probability (5 binomial standard errors)."""
    mix = BernoulliMixture.from_probs(
        torch.tensor([0.2, 0.5, 0.3], dtype=D64),
        torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.7], [0.0, 1.0, 0.3]], dtype=D64),
    )
    v = _all_binary(3)
    p = mix.log_prob(v).exp()
    assert abs(p.sum().item() - 1) < 1e-12
    # by hand for one vector: v = (1, 0, 1)
    hand = 0.2 * 0.9 * 0.9 * 0.5 + 0.5 * 0.2 * 0.2 * 0.7 + 0.3 * 0.0
    assert abs(p[5].item() - hand) < 1e-12
    n = 50_000
    s = mix.sample(n, generator=torch.Generator().manual_seed(0)).samples
    assert_frequencies(
        torch.bincount((s * 2 ** torch.arange(3)).sum(1).long(), minlength=8), p, n, ""
    )


def test_bernoulli_mixture_em_is_monotone_and_recovers_components():
    """EM (bernoulli_mixture_em) never lowers its objective, and with pseudo_count = 0 on 20 000
    rows from two well-separated components it recovers the weights and pixel probabilities
    within 5 standard errors (binomial, with the component sizes)."""
    g = torch.Generator().manual_seed(1)
    probs = torch.tensor([[0.9] * 4 + [0.1] * 4, [0.15] * 4 + [0.85] * 4], dtype=D64)
    n = 20_000
    comp = (torch.rand(n, generator=g, dtype=D64) < 0.3).long()
    data = (torch.rand(n, 8, generator=g, dtype=D64) < probs[comp]).to(D64)
    res = abm.bernoulli_mixture_em(data, 2, iterations=60, pseudo_count=0.0, generator=g)
    obj = res["objective"]
    assert all(b >= a - 1e-12 for a, b in zip(obj, obj[1:], strict=False))
    order = res.mixture.probs[:, 0].argsort(descending=True)
    est_p, est_w = res.mixture.probs[order], res.mixture.weights[order]
    true_w = torch.tensor([0.7, 0.3], dtype=D64)
    assert ((est_w - true_w).abs() < 5 * torch.sqrt(true_w * (1 - true_w) / n)).all()
    se = torch.sqrt(probs * (1 - probs) / (true_w[:, None] * n))
    assert ((est_p - probs).abs() < 5 * se).all()
    assert abs(torch.logsumexp(res.mixture.log_prob(_all_binary(8)), 0).item()) < 1e-12


def test_fit_binary_reaches_the_known_optimum_for_one_pattern():
    """For N = 1 the quantised machine is independent pixels with theta_j a monotone function of
    x_j, whose maximum-likelihood solution is theta_j = the pixel means (eq-abm-bernoulli-mixture);
    fit_binary must reach it (theta within 1e-3, log-likelihood within 1e-6 nats)."""
    g = torch.Generator().manual_seed(12)
    data = (torch.rand(300, 6, generator=g, dtype=D64) < torch.linspace(0.1, 0.9, 6, dtype=D64)).to(
        D64
    )
    bm = AttentionBM(torch.full((1, 6), 0.5, dtype=D64), beta=4.0)
    hist = bm.fit_binary(data, epochs=300, lr=0.05)
    vbar = data.mean(0)
    assert (bm.quantised_mixture().probs[0] - vbar).abs().max() < 1e-3
    best = (data * vbar.log() + (1 - data) * (1 - vbar).log()).sum(1).mean().item()
    with torch.no_grad():
        assert abs(bm.log_prob_binary(data).mean().item() - best) < 1e-6
    assert hist["log_likelihood"][-1] <= best + 1e-12


# ---------------------------------------------------------------------------------------------
# Hubbard-Stratonovich: the Hebbian Hopfield network as an RBM with Gaussian hidden units
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1e-3, 0.1, 1.0, 10.0, 20.0, 100.0, 1e3])
@pytest.mark.parametrize("N, d", [(1, 8), (2, 10), (2, 6), (3, 7)])
def test_hubbard_stratonovich_partition_functions_agree(N, d, beta):
    """Checks eqs. eq-abm-hopfield-z and eq-abm-hs: the Hebbian Hopfield log Z by enumeration
    equals the Gaussian-hidden RBM log Z by quadrature, to round-off (1e-12 relative), for beta
    from 1e-3 to 1e3 (N = 3 up to the grid limit, beyond which a clear error is raised)."""
    g = torch.Generator().manual_seed(N * 100 + d)
    x = torch.randint(0, 2, (N, d), generator=g).to(D64) * 2 - 1
    exact = abm.hopfield_log_partition(x, beta).item()
    try:
        hs = abm.hubbard_stratonovich_log_partition(x, beta).item()
    except ValueError as err:
        assert N == 3 and beta >= 100 and "grid" in str(err)
        return
    assert abs(exact - hs) < 1e-12 * max(1.0, abs(exact)) + 1e-12


def test_hopfield_log_partition_matches_hopfield_module_energy():
    """Checks eq-abm-hopfield-z against the energy of chapter 2."""
    hop = pytest.importorskip("ebmlib.hopfield")
    x = torch.randint(0, 2, (2, 6), generator=torch.Generator().manual_seed(3)).to(D64) * 2 - 1
    w = hop.hebbian(x).to(D64)
    e = hop.energy(w, _all_binary(6) * 2 - 1)
    assert torch.allclose(torch.logsumexp(-0.9 * e, 0), abm.hopfield_log_partition(x, 0.9))


def test_hubbard_stratonovich_deprecated_argument_and_limits():
    x = torch.ones(2, 4, dtype=D64)
    with pytest.warns(DeprecationWarning, match="n_quadrature"):
        abm.hubbard_stratonovich_log_partition(x, 1.0, n_quadrature=40)
    with pytest.raises(ValueError, match="grid"):
        abm.hubbard_stratonovich_log_partition(torch.ones(4, 20, dtype=D64), 1e3)


# ---------------------------------------------------------------------------------------------
# state_dict, dtype and device policies, bad input
# ---------------------------------------------------------------------------------------------


def test_state_dict_round_trip_includes_beta():
    bm = AttentionBM(X2, 1.3)
    sd = bm.state_dict()
    assert sd["_extra_state"] == {"beta": 1.3}
    other = AttentionBM(torch.zeros(4, 2, dtype=D64), 7.0)
    other.load_state_dict(sd)
    assert other.beta == 1.3
    xi = torch.randn(2, 2, dtype=D64)
    with torch.no_grad():
        assert torch.equal(other.log_density(xi), bm.log_density(xi))
    import io

    buf = io.BytesIO()
    torch.save(bm.state_dict(), buf)
    buf.seek(0)
    third = AttentionBM(torch.zeros(4, 2, dtype=D64), 2.0)
    third.load_state_dict(torch.load(buf, weights_only=True))
    assert third.beta == 1.3 and torch.equal(third.patterns, bm.patterns)
    assert abs(bm.T - 1 / 1.3) < 1e-15


def test_integer_states_are_converted_and_float_mismatch_raises():
    bm = AttentionBM(X2, 1.0)
    with torch.no_grad():
        a = bm.log_density(torch.tensor([[1, 0]]))
        b = bm.log_density(torch.tensor([[1.0, 0.0]], dtype=D64))
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="states"):
        bm.log_density(torch.zeros(1, 2, dtype=torch.float32))
    with torch.no_grad():
        assert torch.equal(
            bm.log_prob_binary(torch.tensor([[1, 0]])),
            bm.log_prob_binary(torch.tensor([[True, False]])),
        )


@pytest.mark.parametrize(
    "make, exc, text",
    [
        (lambda: AttentionBM(torch.zeros(3), 1.0), ValueError, "patterns"),
        (lambda: AttentionBM(torch.zeros(0, 2), 1.0), ValueError, "patterns"),
        (lambda: AttentionBM(torch.zeros(3, 2, dtype=torch.int64), 1.0), TypeError, "patterns"),
        (lambda: AttentionBM(torch.zeros(3, 2), 0.0), ValueError, "beta"),
        (lambda: AttentionBM(torch.zeros(3, 2), -1.0), ValueError, "beta"),
        (lambda: AttentionBM(torch.zeros(3, 2), math.inf), ValueError, "beta"),
        (lambda: AttentionBM(torch.zeros(3, 2), "1"), TypeError, "beta"),
        (lambda: AttentionBM(torch.full((3, 2), math.nan), 1.0), ValueError, "patterns"),
        (lambda: setattr(AttentionBM(X2, 1.0), "beta", -2.0), ValueError, "beta"),
        (
            lambda: AttentionBM(X2, 1.0).log_density(torch.zeros(2, 5, dtype=D64)),
            ValueError,
            "states",
        ),
        (lambda: AttentionBM(X2, 1.0).log_density([[0.0, 0.0]]), TypeError, "states"),
        (
            lambda: AttentionBM(X2, 1.0).log_density(torch.full((1, 2), math.nan, dtype=D64)),
            ValueError,
            "states",
        ),
        (lambda: AttentionBM(X2, 1.0).sample_states(torch.tensor([7])), ValueError, "indices"),
        (lambda: AttentionBM(X2, 1.0).sample_states(torch.tensor([0.5])), TypeError, "indices"),
        (
            lambda: AttentionBM(X2, 1.0).gibbs(torch.zeros(2, 2, dtype=D64), steps=0),
            ValueError,
            "steps",
        ),
        (lambda: AttentionBM(X2, 1.0).gibbs(torch.zeros(2, dtype=D64)), ValueError, "states"),
        (
            lambda: AttentionBM(X2, 1.0).gibbs(torch.zeros(2, 2, dtype=D64), generator=3),
            TypeError,
            "generator",
        ),
        (lambda: AttentionBM(X2, 1.0).sample(0), ValueError, "n"),
        (
            lambda: AttentionBM(X2, 1.0).log_prob_binary(torch.full((1, 2), 0.5, dtype=D64)),
            ValueError,
            "v",
        ),
        (
            lambda: AttentionBM(X2, 1.0).fit(torch.zeros(4, 2, dtype=D64), method="em"),
            ValueError,
            "method",
        ),
        (lambda: AttentionBM(X2, 1.0).fit(torch.zeros(4, 2, dtype=D64), lr=0), ValueError, "lr"),
        (
            lambda: AttentionBM(X2, 1.0).fit(torch.zeros(4, 2, dtype=D64), batch_size=0),
            ValueError,
            "batch_size",
        ),
        (
            lambda: AttentionBM(X2, 1.0).fit_binary(torch.full((4, 2), 0.5, dtype=D64)),
            ValueError,
            "data",
        ),
        (
            lambda: AttentionBM(X2, 1.0).load_state_dict({"patterns": X2, "_extra_state": 3}),
            ValueError,
            "beta",
        ),
        (
            lambda: abm.hopfield_log_partition(torch.zeros(2, 4, dtype=D64), 1.0),
            ValueError,
            "patterns",
        ),
        (
            lambda: abm.hopfield_log_partition(torch.ones(2, 30, dtype=D64), 1.0),
            ValueError,
            "d <= 24",
        ),
        (lambda: abm.bernoulli_mixture_em(torch.full((4, 2), 0.5), 2), ValueError, "data"),
        (lambda: abm.bernoulli_mixture_em(torch.ones(4, 2), 5), ValueError, "n_components"),
        (
            lambda: abm.bernoulli_mixture_em(torch.ones(4, 2), 2, pseudo_count=-1),
            ValueError,
            "pseudo_count",
        ),
        (
            lambda: BernoulliMixture.from_probs(torch.tensor([0.5, 0.6]), torch.ones(2, 3) / 2),
            ValueError,
            "weights",
        ),
    ],
)
def test_bad_input(make, exc, text):
    with pytest.raises(exc, match=text):
        make()


def test_fit_raises_when_the_likelihood_is_not_finite():
    bm = AttentionBM(X2, 1.0)
    data = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=D64) * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FloatingPointError, match="lower lr"):
            bm.fit(data, method="cd", epochs=50, lr=1e6, batch_size=10)


def test_draw_annealing_labels():
    fig = abm.draw_annealing(beta=4.0, n_samples=50, steps=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


@pytest.mark.cuda
def test_cuda_gibbs_mean_field_and_fit():
    bm = AttentionBM(X2, 1.5).to("cuda")
    x0 = torch.zeros(100, 2, dtype=D64, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    res = bm.gibbs(x0, steps=5, generator=g)
    assert res.states.device.type == "cuda" and res.indices.device.type == "cuda"
    with torch.no_grad():
        assert torch.allclose(
            bm.mean_field_step(x0).cpu(), AttentionBM(X2, 1.5).mean_field_step(x0.cpu())
        )
    bm.fit(res.states, method="cd", epochs=2, batch_size=20, generator=g)
    assert bm.index_transition_matrix().device.type == "cuda"
