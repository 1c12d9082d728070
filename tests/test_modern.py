"""Tests for ebmlib.modern (chapter 4: continuous modern Hopfield networks)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import modern

DTYPES = [torch.float32, torch.float64]


def _explicit_energy(s: torch.Tensor, x: torch.Tensor, beta: float) -> torch.Tensor:
    """Eq. (4.2) written out term by term (float64 inputs)."""
    n = x.shape[0]
    m = x.norm(dim=-1).max()
    return (
        -torch.logsumexp(beta * s @ x.T, dim=-1) / beta
        + 0.5 * (s * s).sum(-1)
        + math.log(n) / beta
        + 0.5 * m * m
    )


def _draw(seed: int, n: int, d: int, b: int, scale: float, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    s = scale * torch.randn(b, d, generator=g, dtype=torch.float64)
    return s.to(dtype), x.to(dtype)


# ------------------------------------------------------------------------------------ lse


def test_lse_closed_forms():
    """Checks eq. (4.1): lse of N equal values z is z + log(N)/beta.

    Also the sandwich max z <= lse <= max z + log(N)/beta.
    """
    z = torch.full((5,), 0.7, dtype=torch.float64)
    for beta in (1e-3, 0.5, 2.0, 1e3):
        assert modern.lse(beta, z).item() == pytest.approx(0.7 + math.log(5) / beta, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 30, generator=g, dtype=torch.float64)
    for beta in (1e-3, 0.1, 1.0, 10.0, 1e3):
        v = modern.lse(beta, z)
        assert v.shape == (4,)
        zmax = z.max(-1).values
        assert bool((v >= zmax - 1e-12).all())
        assert bool((v <= zmax + math.log(30) / beta + 1e-12).all())


def test_lse_dim_and_bad_inputs():
    """Checks eq. (4.1) along another dimension, and that bad arguments are named."""
    z = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    want = torch.log(torch.exp(2 * z).sum(0)) / 2
    assert torch.allclose(modern.lse(2.0, z, dim=0), want)
    with pytest.raises(ValueError, match="beta"):
        modern.lse(0.0, z)
    with pytest.raises(TypeError, match="z"):
        modern.lse(1.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="z"):
        modern.lse(1.0, torch.tensor([1, 2]))


# --------------------------------------------------------------------------------- energy


@pytest.mark.parametrize("beta", [1e-3, 0.1, 1.0, 8.0, 1e3])
def test_energy_matches_explicit_formula(beta):
    """Checks eq. (4.2) against a term-by-term evaluation, for [B, d], [d] and chunked."""
    s, x = _draw(1, 40, 6, 5, 1.0)
    want = _explicit_energy(s, x, beta)
    # the explicit form cancels two terms of size log(N)/beta: its own error is ~eps*log(N)/beta
    tol = 1e-13 * (1 + math.log(40) / beta)
    assert torch.allclose(modern.energy(s, x, beta), want, atol=tol, rtol=0)
    assert torch.allclose(modern.energy(s, x, beta, chunk_size=7), want, atol=tol, rtol=0)
    e0 = modern.energy(s[0], x, beta)
    assert e0.shape == () and abs(e0.item() - want[0].item()) <= tol


def test_energy_single_pattern_closed_form():
    """Checks eq. (4.2) for N = 1: E = ||xi - x||^2 / 2 exactly (lse of one value is the value)."""
    s, x = _draw(2, 1, 5, 3, 1.0)
    want = 0.5 * ((s - x) ** 2).sum(-1)
    assert torch.allclose(modern.energy(s, x, 3.0), want, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 20),
    d=st.integers(1, 8),
    log_beta=st.floats(-3, 3),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    dtype=st.sampled_from(DTYPES),
)
def test_energy_nonnegative(seed, n, d, log_beta, scale, dtype):
    """Checks eq. (4.3): with the constants log(N)/beta and M^2/2 the energy is >= 0."""
    beta = 10.0**log_beta
    s, x = _draw(seed, n, d, 4, scale, dtype)
    e = modern.energy(s, x, beta)
    assert bool(torch.isfinite(e).all())
    # -lse + log N / beta >= -max z exactly in our formula; the rest is (|xi| - M)^2 / 2 >= 0
    # up to the round-off of sums of size (|xi| + M)^2
    mag = (s.norm(dim=-1) + x.norm(dim=-1).max()) ** 2
    assert bool((e >= -32 * torch.finfo(dtype).eps * mag).all())


# --------------------------------------------------------------------------------- update


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1e-3, 0.125, 1.0, 30.0, 1e3])
def test_update_equals_formula_and_sdpa(dtype, beta):
    """Checks eq. (4.4): update = X softmax(beta X^T xi) = SDPA(states, X, X, scale=beta)."""
    s, x = _draw(3, 64, 16, 9, 1.0, dtype)
    want = torch.softmax(beta * (s.double() @ x.double().T), -1) @ x.double()
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    sdpa = F.scaled_dot_product_attention(s, x, x, scale=beta)
    for method in ("auto", "matmul", "sdpa"):
        got = modern.update(s, x, beta, method=method)
        assert got.dtype == dtype and got.shape == s.shape
        assert torch.allclose(got.double(), want, atol=tol * (1 + beta), rtol=0)
    assert torch.allclose(modern.update(s, x, beta).double(), sdpa.double(), atol=tol * (1 + beta))
    # a single state [d] and extra leading dimensions keep their shape
    assert torch.allclose(modern.update(s[0], x, beta), modern.update(s, x, beta)[0])
    s3 = s.reshape(3, 3, 16)
    assert torch.allclose(modern.update(s3, x, beta).reshape(9, 16), modern.update(s, x, beta))


@pytest.mark.parametrize("beta", [0.05, 1.0, 20.0])
def test_update_square_memory(beta):
    """Checks eq. (4.4) with as many patterns as dimensions (N = d = 12), where patterns as
    columns instead of rows would not fail on shapes; also the updated states differ from one
    another (a softmax over the wrong axis mixes the states)."""
    s, x = _draw(23, 12, 12, 7, 1.0)
    want = torch.softmax(beta * s @ x.T, -1) @ x
    for chunk in (None, 5):
        got = modern.update(s, x, beta, chunk_size=chunk)
        assert torch.allclose(got, want, atol=1e-12, rtol=0)
    e = modern.energy(s, x, beta)
    assert torch.allclose(e, _explicit_energy(s, x, beta), atol=1e-12, rtol=0)


def test_update_is_differentiable():
    """Checks eq. (4.4) under autograd: gradients match those of the explicit expression."""
    s, x = _draw(4, 10, 4, 3, 1.0)
    s1 = s.clone().requires_grad_(True)
    s2 = s.clone().requires_grad_(True)
    modern.update(s1, x, 2.0).pow(2).sum().backward()
    (torch.softmax(2.0 * s2 @ x.T, -1) @ x).pow(2).sum().backward()
    assert torch.allclose(s1.grad, s2.grad, atol=1e-12)


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 24),
    d=st.integers(1, 10),
    b=st.integers(1, 4),
    log_beta=st.floats(-3, 3),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
    dtype=st.sampled_from(DTYPES),
    chunk=st.sampled_from([None, 1, 5]),
)
def test_energy_never_rises(seed, n, d, b, log_beta, scale, dtype, chunk):
    """Checks the descent theorem (eq. (4.5)): E(update(xi)) <= E(xi), beta in [1e-3, 1e3].

    The theorem is exact; in floating point every energy is a sum of terms of size at most
    (||xi|| + M)^2 (the overlap max z <= ||xi|| M, the norms ||xi||^2/2 and M^2/2), each formed
    with a relative error of a few machine epsilons, and the new state itself is off by about
    eps * M. So we allow 32 eps (||xi|| + M)^2 of round-off, which scales with the magnitudes
    and with the dtype.
    """
    beta = 10.0**log_beta
    s, x = _draw(seed, n, d, b, scale, dtype)
    new = modern.update(s, x, beta, chunk_size=chunk)
    assert bool(torch.isfinite(new).all())
    e_old = modern.energy(s, x, beta)
    e_new = modern.energy(new, x, beta)
    assert bool(torch.isfinite(e_old).all()) and bool(torch.isfinite(e_new).all())
    mag = (s.norm(dim=-1) + x.norm(dim=-1).max()) ** 2
    assert bool((e_new <= e_old + 32 * torch.finfo(dtype).eps * mag).all())


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 24),
    d=st.integers(1, 10),
    log_beta=st.floats(-3, 3),
)
def test_energy_descent_margin(seed, n, d, log_beta):
    """Checks eq. (4.5) in its sharp form: E(new) <= E(xi) - ||new - xi||^2 / 2 (float64).

    The convex part xi^T xi / 2 is a quadratic, so the concave-convex step gains at least half
    the squared step length; round-off allowance as in the descent test.
    """
    beta = 10.0**log_beta
    s, x = _draw(seed, n, d, 3, 1.0)
    new = modern.update(s, x, beta)
    gain = modern.energy(s, x, beta) - modern.energy(new, x, beta)
    mag = (s.norm(dim=-1) + x.norm(dim=-1).max()) ** 2
    half_sq = 0.5 * ((new - s) ** 2).sum(-1)
    assert bool((gain >= half_sq - 32 * torch.finfo(torch.float64).eps * mag).all())


def test_energy_descent_along_a_trajectory():
    """Checks eq. (4.5) over many steps: the energy sequence is non-increasing and converges."""
    s, x = _draw(5, 30, 5, 6, 1.0)
    es = [modern.energy(s, x, 2.0)]
    for _ in range(30):
        s = modern.update(s, x, 2.0)
        es.append(modern.energy(s, x, 2.0))
    e = torch.stack(es)
    assert bool((e[1:] <= e[:-1] + 1e-12).all())
    assert bool(((e[-1] - e[-2]).abs() < 1e-10).all())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 40),
    chunk=st.integers(1, 45),
    log_beta=st.floats(-3, 3),
)
def test_chunked_paths_agree(seed, n, chunk, log_beta):
    """Checks that the streaming (online-softmax) forms of eqs. (4.2), (4.4), (4.6), (4.8) agree."""
    beta = 10.0**log_beta
    s, x = _draw(seed, n, 6, 3, 1.0)
    assert torch.allclose(
        modern.update(s, x, beta, chunk_size=chunk), modern.update(s, x, beta), atol=1e-12
    )
    assert torch.allclose(
        modern.energy(s, x, beta, chunk_size=chunk), modern.energy(s, x, beta), atol=1e-11
    )
    # different GEMM blockings round differently: agreement to float64 round-off
    assert torch.allclose(modern.separation(x, chunk_size=chunk), modern.separation(x), atol=1e-12)
    assert torch.equal(
        modern.softmax_mass_count(s, x, beta, chunk_size=chunk),
        modern.softmax_mass_count(s, x, beta),
    )


def test_chunked_float32_large_n():
    """Checks eq. (4.4) streaming in float32 against float64 at N = 20000 (a chunk of 1024)."""
    s, x = _draw(6, 20_000, 16, 4, 0.5, torch.float32)
    want = torch.softmax(4.0 * s.double() @ x.double().T, -1) @ x.double()
    got = modern.update(s, x, 4.0, chunk_size=1024)
    assert torch.allclose(got.double(), want, atol=1e-5)


def _largest_allocation(fn) -> int:
    """Largest single CPU allocation (bytes) made by any torch op inside ``fn``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max(e.cpu_memory_usage for e in prof.events())


def test_chunked_paths_never_form_the_score_matrix():
    """Checks the streaming forms of eqs. (4.2), (4.4), (4.8) allocate O(B * chunk), not O(B * N).

    With B = 64 states, N = 200000 patterns and chunks of 4096, the full score matrix would be
    51.2 MB; the unchunked update does allocate it (which shows the probe sees it), the chunked
    functions allocate no single buffer larger than B * (chunk + 1024) float64 numbers.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 16, generator=g)
    s = torch.randn(64, 16, generator=g)
    full = 64 * 200_000 * 4
    assert _largest_allocation(lambda: modern.update(s, x, 1.0)) >= full
    limit = 64 * (4096 + 1024) * 8
    assert _largest_allocation(lambda: modern.update(s, x, 1.0, chunk_size=4096)) <= limit
    assert _largest_allocation(lambda: modern.energy(s, x, 1.0, chunk_size=4096)) <= limit
    count = lambda: modern.softmax_mass_count(s, x, 20.0, chunk_size=4096)  # noqa: E731
    assert _largest_allocation(count) <= limit


# ------------------------------------------------------------------ retrieval and separation


def test_separation_definition():
    """Checks eq. (4.6) on a hand-made example: Delta_i = x_i.x_i - max_{j != i} x_i.x_j."""
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]], dtype=torch.float64)
    # Gram: [[1, .6, 0], [.6, 1, 1.6], [0, 1.6, 4]]
    want = torch.tensor([1.0 - 0.6, 1.0 - 1.6, 4.0 - 1.6], dtype=torch.float64)
    assert torch.allclose(modern.separation(x), want)
    assert modern.separation(x[:1]).isinf().all()


def test_retrieve_one_step_under_bound():
    """Checks eq. (4.7): well-separated patterns are retrieved in one step, error under the bound.

    Patterns: 20 random unit vectors in d = 64; cues are patterns plus noise of norm 0.05;
    beta = 100. The bound 2 M (N - 1) exp(-beta (Delta_i - 2 M r)) is then below 1e-10, so a
    second update cannot move the state by more than tol = 1e-8.
    """
    g = torch.Generator().manual_seed(7)
    x = torch.randn(20, 64, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    noise = torch.randn(20, 64, generator=g, dtype=torch.float64)
    r = 0.05
    cues = x + r * noise / noise.norm(dim=-1, keepdim=True)
    bound = modern.one_step_error_bound(x, 100.0, radius=r)
    assert bool((bound < 1e-10).all())
    one = modern.update(cues, x, 100.0)
    assert bool(((one - x).norm(dim=-1) <= bound).all())
    res = modern.retrieve(cues, x, 100.0, max_steps=10, tol=1e-8)
    out = res.states
    assert res.steps == 1 and res.converged
    assert bool(((out - x).norm(dim=-1) <= bound).all())


@pytest.mark.parametrize("dtype", DTYPES)
def test_retrieve_one_step_binary_patterns(dtype):
    """Checks eqs. (4.6)-(4.7) on +-1 patterns: Delta_i ~ d/2 makes one step exact in any dtype.

    10 random +-1 patterns in d = 64 at beta = 1. From a stored pattern (r = 0) the bound
    2M(N-1)e^{-beta Delta_i} is below 1e-15 and the error is at round-off level; from cues with
    8 of 64 pixels flipped, retrieval also takes exactly one update (the r-form of the bound is
    loose here because 2 M r > Delta_i, so the error is checked against the pattern norm).
    """
    import ebmlib

    x = ebmlib.random_patterns(10, 64, generator=torch.Generator().manual_seed(3), dtype=dtype)
    eps = torch.finfo(dtype).eps
    bound = modern.one_step_error_bound(x, 1.0)
    assert bool((bound < 1e-15).all())
    err0 = (modern.update(x, x, 1.0) - x).norm(dim=-1)
    assert bool((err0 <= bound + 64 * eps * 8).all())
    cues = x.clone()
    cues[:, :8] *= -1
    res = modern.retrieve(cues, x, 1.0)
    out = res.states
    assert res.steps == 1
    assert bool(((out - x).norm(dim=-1) <= 64 * eps * 8).all())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30), log_beta=st.floats(-1, 2))
def test_one_step_error_bound_holds(seed, n, log_beta):
    """Checks eq. (4.7) from xi = x_i (r = 0): ||f(x_i) - x_i|| <= 2M(N-1)e^{-beta Delta_i}."""
    beta = 10.0**log_beta
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, generator=g, dtype=torch.float64)
    err = (modern.update(x, x, beta) - x).norm(dim=-1)
    bound = modern.one_step_error_bound(x, beta)
    assert bool((err <= bound * (1 + 1e-9) + 1e-12).all())


def test_retrieve_returns_fixed_point_and_counts_steps():
    """Checks eq. (4.4): retrieve stops at a fixed point of the update; steps counts moves."""
    s, x = _draw(8, 15, 5, 4, 1.0)
    res = modern.retrieve(s, x, 1.5, max_steps=500, tol=1e-12)
    out = res.states
    assert 1 <= res.steps < 500 and res.converged
    # a fixed point of the explicit update xi = X softmax(beta X^T xi), not of modern.update
    explicit = torch.softmax(1.5 * out @ x.T, -1) @ x
    assert torch.allclose(explicit, out, atol=1e-11)
    again = modern.retrieve(out, x, 1.5, max_steps=500, tol=1e-10)
    assert again.steps == 0 and torch.allclose(again.states, out, atol=1e-10)
    capped = modern.retrieve(s, x, 1.5, max_steps=1, tol=0.0)
    assert capped.steps == 1 and not capped.converged


# ------------------------------------------------------------------------- mass count


def test_softmax_mass_count_exact_cases():
    """Checks eq. (4.8): uniform weights need ceil(mass * N) patterns; one dominant weight, 1."""
    x = torch.eye(10, dtype=torch.float64)
    zero = torch.zeros(10, dtype=torch.float64)  # all scores equal -> uniform softmax
    assert modern.softmax_mass_count(zero, x, 1.0, mass=0.9).item() == 9
    assert modern.softmax_mass_count(zero, x, 1.0, mass=0.95).item() == 10
    assert modern.softmax_mass_count(zero, x, 1.0, mass=0.31).item() == 4
    assert modern.softmax_mass_count(zero, x, 1.0, mass=1.0).item() == 10
    assert modern.softmax_mass_count(zero, x, 1.0, mass=0.9, chunk_size=3).item() == 9
    # state e_0 at beta = 50: p_0 = 1 / (1 + 9 e^{-50})
    assert modern.softmax_mass_count(x[0], x, 50.0).item() == 1
    # two patterns tied on top, the rest far below: mass 0.9 needs both
    s = torch.zeros(10, dtype=torch.float64)
    s[0] = s[1] = 1.0
    assert modern.softmax_mass_count(s, x, 20.0).item() == 2
    assert modern.softmax_mass_count(s, x, 20.0, chunk_size=4).item() == 2


@pytest.mark.parametrize("seed", range(4))
def test_softmax_mass_count_bisection_path(seed, monkeypatch):
    """Checks eq. (4.8) on the chunked fallback (bisection) by forcing a tiny top-K buffer."""
    monkeypatch.setattr(modern, "_MASS_TOPK", 2)
    s, x = _draw(20 + seed, 60, 5, 5, 1.0)
    for beta in (1e-3, 0.3, 2.0, 50.0):
        for mass in (0.5, 0.9, 0.99):
            want = modern.softmax_mass_count(s, x, beta, mass=mass)
            got = modern.softmax_mass_count(s, x, beta, mass=mass, chunk_size=7)
            assert torch.equal(got, want)
    # uniform weights (exact ties) through the fallback: ceil(0.9 * 10) = 9
    zero = torch.zeros(10, dtype=torch.float64)
    eye = torch.eye(10, dtype=torch.float64)
    assert modern.softmax_mass_count(zero, eye, 1.0, chunk_size=3).item() == 9


def test_softmax_mass_count_against_brute_force():
    """Checks eq. (4.8) by trying every k: the count is the first k whose top-k mass >= 0.9."""
    s, x = _draw(9, 25, 4, 6, 1.0)
    for beta in (0.05, 0.7, 3.0):
        p = torch.softmax(beta * s @ x.T, -1).sort(-1, descending=True).values
        want = [next(k for k in range(1, 26) if p[b, :k].sum() >= 0.9) for b in range(6)]
        assert modern.softmax_mass_count(s, x, beta).tolist() == want


def test_three_regimes_on_clustered_patterns():
    """Checks the three fixed-point regimes of sec. 4.5 (eq. (4.8)) on 32 clusters of 8 in d = 64.

    Unit-norm patterns, cluster noise 0.35 (the chapter's construction). Fixed points are
    reached from each stored pattern. A global average weights all 256 patterns nearly
    equally, so 90% of the mass needs about 0.9 * 256 = 230 of them; a metastable state
    spreads over one cluster (at most 8); a retrieved pattern holds the mass alone (1).
    """
    x = modern.clustered_patterns(
        32, 8, 64, noise=0.35, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    med = {}
    for beta in (1.0, 4.0, 8.0, 16.0, 32.0, 48.0):
        fp = modern.retrieve(x, x, beta, max_steps=1000, tol=1e-9).states
        med[beta] = modern.softmax_mass_count(fp, x, beta).double().median().item()
    assert 215 <= med[1.0] <= 231 and 215 <= med[4.0] <= 231
    for beta in (8.0, 16.0, 32.0):
        assert 5 <= med[beta] <= 8
    assert med[48.0] == 1


# ------------------------------------------------------------------- storage theorem


def test_storage_constants_paper_examples():
    """Checks eq. (4.9) against the two worked examples of Ramsauer et al. (2021), Theorem 3."""
    c1 = modern.storage_constant(1.0, 3.0, 20, 0.001)
    c2 = modern.storage_constant(1.0, 1.0, 75, 0.001)
    # the paper states c >= 3.1546 and c >= 1.3718 (four decimals, truncated)
    assert math.floor(c1 * 1e4) / 1e4 == 3.1546
    assert math.floor(c2 * 1e4) / 1e4 == 1.3718
    # c = b / W0(b e^a): check the defining equation of W0, w e^w = b e^a, without lambertw
    for beta, k, d, p, c in ((1.0, 3.0, 20, 0.001, c1), (1.0, 1.0, 75, 0.001, c2)):
        a = 2 / (d - 1) * (1 + math.log(2 * beta * k * k * p * (d - 1)))
        b = 2 * k * k * beta / 5
        w = b / c
        assert w * math.exp(w) == pytest.approx(b * math.exp(a), rel=1e-12)
    assert modern.storage_capacity(1.0, 3.0, 20, 0.001) == pytest.approx(
        math.sqrt(0.001) * c1 ** (19 / 4), rel=1e-12
    )


def test_storage_capacity_condition():
    """Checks the side condition c >= (2/sqrt(p))^(4/(d-1)) of eq. (4.9) raises when violated."""
    with pytest.raises(ValueError, match="storage theorem"):
        modern.storage_capacity(0.01, 1.0, 10, 0.001)


def test_update_method_rule():
    """Checks the documented kernel rule of eq. (4.4): SDPA only for CUDA half precision."""
    assert modern.update_method("cpu", torch.float32) == "matmul"
    assert modern.update_method("cpu", torch.float16) == "matmul"
    assert modern.update_method("cuda", torch.float32) == "matmul"
    assert modern.update_method("cuda", torch.float16) == "sdpa"
    assert modern.update_method("cuda", torch.bfloat16) == "sdpa"


def test_data_helpers():
    """Checks the data of secs. 4.4-4.5: unit-norm clusters (seeded) and half-masked glyph cues."""
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = modern.clustered_patterns(4, 3, 16, noise=0.35, generator=g1, dtype=torch.float64)
    b = modern.clustered_patterns(4, 3, 16, noise=0.35, generator=g2, dtype=torch.float64)
    assert a.shape == (12, 16) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(12, dtype=torch.float64))
    # members of one cluster are closer to each other than to other clusters' members
    gram = a @ a.T
    same = torch.block_diag(*[torch.ones(3, 3)] * 4).bool()
    assert gram[same].min() > gram[~same].max()
    x, cues = modern.masked_glyphs("AW", size=8, pixel=0.5)
    assert x.shape == cues.shape == (2, 64)
    assert set(x.unique().tolist()) == {-0.5, 0.5}
    assert torch.equal(cues[:, :32], x[:, :32]) and bool((cues[:, 32:] == 0).all())


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_named():
    """Checks that invalid arguments raise ValueError/TypeError naming the argument."""
    s, x = _draw(10, 5, 3, 2, 1.0)
    for fn in (modern.energy, modern.update, modern.softmax_mass_count):
        with pytest.raises(ValueError, match="beta"):
            fn(s, x, 0.0)
        with pytest.raises(ValueError, match="beta"):
            fn(s, x, -1.0)
        with pytest.raises(ValueError, match="beta"):
            fn(s, x, float("nan"))
        with pytest.raises(TypeError, match="beta"):
            fn(s, x, "1")
        with pytest.raises(ValueError, match="states"):
            fn(torch.zeros(2, 4, dtype=torch.float64), x, 1.0)
        with pytest.raises(ValueError, match="patterns"):
            fn(s, x[0], 1.0)
        with pytest.raises(ValueError, match="patterns"):
            fn(s, x[:0], 1.0)
        with pytest.raises(TypeError, match="dtype"):
            fn(s.float(), x, 1.0)
        with pytest.raises(TypeError, match="patterns"):
            fn(s, x.to(torch.complex128), 1.0)
        with pytest.raises(ValueError, match="same device"):
            fn(s, x.to("meta"), 1.0)
        with pytest.raises(ValueError, match="states"):
            bad = s.clone()
            bad[0, 0] = float("nan")
            fn(bad, x, 1.0)
        with pytest.raises(ValueError, match="chunk_size"):
            fn(s, x, 1.0, chunk_size=0)
        with pytest.raises(TypeError, match="states"):
            fn(s.tolist(), x, 1.0)
    with pytest.raises(ValueError, match="method"):
        modern.update(s, x, 1.0, method="fast")
    for fn in (modern.energy, modern.update):
        with pytest.raises(TypeError, match="validate"):
            fn(s, x, 1.0, validate=1)
    with pytest.raises(ValueError, match="mass"):
        modern.softmax_mass_count(s, x, 1.0, mass=0.0)
    with pytest.raises(ValueError, match="mass"):
        modern.softmax_mass_count(s, x, 1.0, mass=1.5)
    with pytest.raises(ValueError, match="max_steps"):
        modern.retrieve(s, x, 1.0, max_steps=0)
    with pytest.raises(ValueError, match="tol"):
        modern.retrieve(s, x, 1.0, tol=-1.0)
    with pytest.raises(ValueError, match="radius"):
        modern.one_step_error_bound(x, 1.0, radius=-0.1)
    with pytest.raises(ValueError, match="p"):
        modern.storage_constant(1.0, 1.0, 10, 0.0)
    with pytest.raises(ValueError, match="d"):
        modern.storage_constant(1.0, 1.0, 1, 0.1)


@settings(max_examples=40, deadline=None)
@given(
    beta=st.one_of(
        st.floats(max_value=0.0, allow_nan=False),
        st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    ),
    fn=st.sampled_from(["energy", "update", "retrieve", "softmax_mass_count"]),
)
def test_bad_beta_property(beta, fn):
    """Checks that every beta <= 0 or non-finite is refused by eqs. (4.2), (4.4), (4.8)."""
    s, x = _draw(14, 4, 3, 2, 1.0)
    with pytest.raises(ValueError, match="beta"):
        getattr(modern, fn)(s, x, beta)
    with pytest.raises(ValueError, match="beta"):
        modern.lse(beta, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1e-3, 1e3])
def test_extreme_beta_finite(dtype, beta):
    """Checks eqs. (4.2), (4.4), (4.8) stay finite at the ends of beta in [1e-3, 1e3]."""
    s, x = _draw(11, 50, 8, 5, 10.0, dtype)
    for chunk in (None, 7):
        assert bool(torch.isfinite(modern.update(s, x, beta, chunk_size=chunk)).all())
        assert bool(torch.isfinite(modern.energy(s, x, beta, chunk_size=chunk)).all())
    c = modern.softmax_mass_count(s, x, beta)
    assert bool(((c >= 1) & (c <= 50)).all())


# ------------------------------------------------------------------------------- demo


def test_draw_retrieval_superposition_and_recall():
    """Checks the demo of eq. (4.4): it draws, small beta blurs, large beta recalls exactly."""
    import matplotlib.pyplot as plt

    ax = modern.draw_retrieval(beta=2.0)
    assert ax.get_title().startswith("beta = 2,")
    _, ax2 = plt.subplots()
    assert modern.draw_retrieval(beta=0.25, ax=ax2) is ax2
    with pytest.raises(ValueError, match="beta"):
        modern.draw_retrieval(beta=0.0)
    # the data behind it: a superposition at beta = 0.25, the exact glyphs at beta = 8
    x, cues = modern.masked_glyphs()
    assert bool((modern.separation(x) > 0).all())
    rel = {
        b: ((modern.update(cues, x, b) - x).norm(dim=-1) / x.norm(dim=-1)).max().item()
        for b in (0.25, 8.0)
    }
    assert rel[0.25] > 0.5
    assert rel[8.0] < 1e-3


# ------------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_update_cuda_matches_cpu(dtype):
    """Checks eq. (4.4) on CUDA (auto picks SDPA in half precision) against float64 on CPU."""
    s, x = _draw(12, 4096, 64, 256, 0.2)
    want = torch.softmax(2.0 * s @ x.T, -1) @ x
    got = modern.update(s.to("cuda", dtype), x.to("cuda", dtype), 2.0)
    assert got.device.type == "cuda" and got.dtype == dtype
    tol = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}[dtype]
    assert torch.allclose(got.double().cpu(), want, atol=tol)
    chunked = modern.update(s.to("cuda"), x.to("cuda"), 2.0, chunk_size=1000)
    assert torch.allclose(chunked.double().cpu(), want, atol=1e-4)


@pytest.mark.cuda
def test_energy_descent_cuda():
    """Checks eq. (4.5) on CUDA in float32."""
    s, x = _draw(13, 512, 32, 64, 1.0, torch.float32)
    s, x = s.cuda(), x.cuda()
    new = modern.update(s, x, 3.0)
    mag = (s.norm(dim=-1) + x.norm(dim=-1).max()) ** 2
    e0, e1 = modern.energy(s, x, 3.0), modern.energy(new, x, 3.0)
    assert bool((e1 <= e0 + 32 * torch.finfo(torch.float32).eps * mag).all())


# ------------------------------------------------------------------- dtype policy, checks


def test_integer_and_bool_inputs_follow_the_dtype_policy():
    """Checks eq. (4.4) and (4.2) with +-1 patterns stored as int8 and 0/1 cues as bool.

    The policy (CONTRIBUTING.md) converts integer and bool tensors to the floating dtype of
    the other argument (or the default dtype), so the results equal the explicit formulas on
    the converted values.
    """
    import ebmlib

    x = ebmlib.random_patterns(6, 10, generator=torch.Generator().manual_seed(2))
    xi8 = x.to(torch.int8)
    s = torch.randn(3, 10, generator=torch.Generator().manual_seed(3))
    want = torch.softmax(0.7 * s.double() @ x.double().T, -1) @ x.double()
    got = modern.update(s, xi8, 0.7)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), want, atol=1e-6)
    e = modern.energy(s.double(), xi8, 0.7)
    assert e.dtype == torch.float64
    assert torch.allclose(e, _explicit_energy(s.double(), x.double(), 0.7), atol=1e-12)
    cues = (x > 0)[:2]  # bool cues against int8 patterns: both become the default dtype
    out = modern.update(cues, xi8, 0.7)
    assert out.dtype == torch.get_default_dtype()
    want = torch.softmax(0.7 * cues.double() @ x.double().T, -1) @ x.double()
    assert torch.allclose(out.double(), want, atol=1e-6)


def test_validate_switch_and_compile_tracing():
    """Checks that eq. (4.4)'s NaN scan runs by default and is skipped with validate=False.

    Skipping is documented behaviour, not an accident: a NaN state then gives a NaN result
    (as torch's own functions do), while the default raises an error naming ``states``.
    """
    s, x = _draw(15, 6, 3, 2, 1.0)
    bad = s.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="states"):
        modern.update(bad, x, 1.0)
    with pytest.raises(ValueError, match="patterns"):
        modern.energy(s, x.clone().fill_(float("inf")), 1.0)
    out = modern.update(bad, x, 1.0, validate=False)
    assert bool(torch.isnan(out[1]).all()) and bool(torch.isfinite(out[0]).all())


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [None, 4])
def test_update_compiles_to_one_graph(chunk):
    """Checks eq. (4.4) under torch.compile(fullgraph=True): no graph break, same values.

    The "eager" backend traces with dynamo (any graph break raises under fullgraph) without
    generating code, which keeps the test cheap; the result is compared with the explicit
    float64 formula, not with the uncompiled function.
    """
    torch._dynamo.reset()
    s, x = _draw(16, 10, 5, 3, 1.0)
    want = torch.softmax(2.0 * s @ x.T, -1) @ x
    f = torch.compile(modern.update, fullgraph=True, backend="eager")
    assert torch.allclose(f(s, x, 2.0, chunk_size=chunk), want, atol=1e-12)
    g = torch.compile(modern.energy, fullgraph=True, backend="eager")
    assert torch.allclose(g(s, x, 2.0, chunk_size=chunk), _explicit_energy(s, x, 2.0), atol=1e-12)


@pytest.mark.slow
def test_update_compiles_with_inductor():
    """Checks eq. (4.4) through a real inductor compile (generated C++ on the CPU)."""
    torch._dynamo.reset()
    s, x = _draw(17, 12, 6, 4, 1.0, torch.float32)
    want = torch.softmax(3.0 * s.double() @ x.double().T, -1) @ x.double()
    f = torch.compile(modern.update, fullgraph=True)
    assert torch.allclose(f(s, x, 3.0).double(), want, atol=1e-5)


def test_retrieve_checks_once_and_runs_the_kernel(monkeypatch):
    """Checks that retrieve (eq. (4.4) iterated) scans each input once, not once per step.

    The public ``update`` is replaced by a function that fails, so retrieve must run the
    private kernel; the value scan is counted. The fixed point is checked against the
    explicit update.
    """
    calls = []
    real = modern._check_finite_lean

    def counting(t, name):
        calls.append(name)
        return real(t, name)

    def forbidden(*args, **kwargs):
        raise AssertionError("retrieve called the public update")

    monkeypatch.setattr(modern, "_check_finite_lean", counting)
    monkeypatch.setattr(modern, "update", forbidden)
    s, x = _draw(18, 12, 4, 5, 1.0)
    res = modern.retrieve(s, x, 2.0, max_steps=200, tol=1e-12)
    assert res.steps > 3
    assert sorted(calls) == ["patterns", "states"]
    explicit = torch.softmax(2.0 * res.states @ x.T, -1) @ x
    assert torch.allclose(explicit, res.states, atol=1e-11)


def test_retrieval_is_a_result_and_old_unpacking_warns():
    """Checks the result type of eq. (4.4) iterated: a Result dataclass; tuple unpacking warns."""
    import dataclasses

    from ebmlib.utils import Result

    s, x = _draw(19, 8, 3, 2, 1.0)
    res = modern.retrieve(s, x, 1.0)
    assert isinstance(res, Result) and dataclasses.is_dataclass(res)
    assert res.keys() == ["states", "steps", "converged"]
    assert res["steps"] == res.steps and dict(res)["states"] is res.states
    with pytest.warns(DeprecationWarning, match="res.states"):
        states, steps = res
    assert states is res.states and steps == res.steps


def test_retrieve_names_an_overflow():
    """Checks that an update whose scores overflow the dtype is reported, not returned as NaN.

    float32 patterns of norm 1e19 give overlaps of 1e38 whose product with beta = 10 leaves
    the float32 range; the error names beta and the dtype instead of blaming the cues.
    """
    x = torch.tensor([[1e19, 0.0], [0.0, 1e19]])
    s = torch.tensor([[1e19, 1.0]])
    with pytest.raises(ValueError, match="overflowed in torch.float32 at beta"):
        modern.retrieve(s, x, 10.0)


# --------------------------------------------------------------------- half precision


HALF = [torch.float16, torch.bfloat16]
HALF_BETAS = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4]


def _half_data(dtype):
    """Cues near 32 of 64 patterns of norm about 2 in d = 16, rounded to ``dtype``."""
    g = torch.Generator().manual_seed(21)
    x = 2 * torch.randn(64, 16, generator=g, dtype=torch.float64) / 4
    s = x[:32] + 0.3 * torch.randn(32, 16, generator=g, dtype=torch.float64) / 4
    return s.to(dtype), x.to(dtype)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("beta", HALF_BETAS)
@pytest.mark.parametrize("chunk", [None, 9])
def test_half_precision_update_is_finite_and_accurate(dtype, beta, chunk):
    """Checks eq. (4.4) in float16/bfloat16 for beta from 1e-3 to 1e4 against float64.

    The reference is the explicit formula in float64 on the same (already rounded) inputs,
    so only the arithmetic is judged. The result is a convex combination of patterns, of norm
    at most M, rounded once to the half dtype: an error of at most eps/2 * M per entry. The
    float32 scores add far less; we allow eps * M. Without float32 accumulation float16 gives
    NaN at beta = 1e4 (scores beyond 65504).
    """
    s, x = _half_data(dtype)
    sd, xd = s.double(), x.double()
    want = torch.softmax(beta * sd @ xd.T, -1) @ xd
    got = modern.update(s, x, beta, chunk_size=chunk)
    assert got.dtype == dtype
    assert bool(torch.isfinite(got).all())
    m = xd.norm(dim=-1).max()
    assert (got.double() - want).abs().max() <= torch.finfo(dtype).eps * m
    # the peer: SDPA on the same half-precision inputs is finite too, and agrees
    sdpa = F.scaled_dot_product_attention(s, x, x, scale=beta)
    assert (got.double() - sdpa.double()).abs().max() <= 2 * torch.finfo(dtype).eps * m


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("beta", HALF_BETAS)
def test_half_precision_energy_and_retrieve(dtype, beta):
    """Checks eq. (4.2) in float16/bfloat16 for beta from 1e-3 to 1e4, and that retrieve runs.

    The energy is formed in float32 and rounded once: error at most eps/2 * |E| plus the
    float32 round-off of terms of size M^2; we allow eps * (|E| + M^2). retrieve must end on
    finite states (it used to blame the cues for NaN of its own making).
    """
    s, x = _half_data(dtype)
    sd, xd = s.double(), x.double()
    want = _explicit_energy(sd, xd, beta)
    got = modern.energy(s, x, beta)
    assert got.dtype == dtype and bool(torch.isfinite(got).all())
    m2 = xd.norm(dim=-1).max() ** 2
    eps = torch.finfo(dtype).eps
    assert bool(((got.double() - want).abs() <= eps * (want.abs() + m2)).all())
    res = modern.retrieve(s, x, beta, max_steps=20)
    assert res.states.dtype == dtype and bool(torch.isfinite(res.states).all())


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("beta", [1e-3, 1.0, 1e3, 1e4])
def test_half_precision_cuda(dtype, beta):
    """Checks eq. (4.4) and (4.2) on CUDA in half precision (SDPA path) up to beta = 1e4."""
    s, x = _half_data(dtype)
    want = torch.softmax(beta * s.double() @ x.double().T, -1) @ x.double()
    m = x.double().norm(dim=-1).max()
    for method in ("auto", "matmul"):
        got = modern.update(s.cuda(), x.cuda(), beta, method=method)
        assert got.device.type == "cuda" and bool(torch.isfinite(got).all())
        assert (got.double().cpu() - want).abs().max() <= 2 * torch.finfo(dtype).eps * m
    e = modern.energy(s.cuda(), x.cuda(), beta)
    assert e.device.type == "cuda" and bool(torch.isfinite(e).all())


@pytest.mark.cuda
def test_update_without_validation_never_syncs():
    """Checks that eq. (4.4) with validate=False reads nothing back from the GPU."""
    s, x = _draw(22, 256, 32, 64, 1.0, torch.float32)
    s, x = s.cuda(), x.cuda()
    for chunk in (None, 100):
        modern.update(s, x, 2.0, chunk_size=chunk, validate=False)  # warm-up outside the check
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            out = modern.update(s, x, 2.0, chunk_size=chunk, validate=False)
            e = modern.energy(s, x, 2.0, chunk_size=chunk, validate=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        want = torch.softmax(2.0 * s.double() @ x.double().T, -1) @ x.double()
        assert torch.allclose(out.double(), want, atol=1e-4)
        assert e.shape == (64,)
