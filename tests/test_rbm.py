"""Tests of ``ebmlib.rbm`` against exact answers on models small enough to enumerate (chapter 7).

Equation numbers refer to chapter 7 (``book/part3/rbm.ipynb``):
(7.1) energy, (7.3) free energy, (7.4) hidden free energy, (7.5) conditionals,
(7.6) log-likelihood, (7.7) log Z by enumerating the smaller layer, (7.9) gradient,
(7.10) CD-k, (7.11) PCD, (7.12)-(7.14) AIS, (7.15) pseudo-likelihood.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ebmlib
from ebmlib.rbm import RBM, draw_gibbs_chain, enumerate_states, independent_log_likelihood


def random_rbm(nv: int, nh: int, seed: int = 0, scale: float = 1.0) -> RBM:
    """A float64 RBM with Gaussian weights and biases of standard deviation ``scale``."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(nv, nh, init_std=scale, generator=g, dtype=torch.float64)
    with torch.no_grad():
        rbm.b.copy_(torch.randn(nv, generator=g, dtype=torch.float64) * scale)
        rbm.c.copy_(torch.randn(nh, generator=g, dtype=torch.float64) * scale)
    return rbm


def joint_energies(rbm: RBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All visible states, all hidden states, and the energy table E[v, h] (eq. (7.1))."""
    V = enumerate_states(rbm.n_visible)
    H = enumerate_states(rbm.n_hidden)
    vv = V[:, None, :].expand(-1, H.shape[0], -1).reshape(-1, rbm.n_visible)
    hh = H[None, :, :].expand(V.shape[0], -1, -1).reshape(-1, rbm.n_hidden)
    E = rbm.energy(vv, hh).detach().reshape(V.shape[0], H.shape[0])
    return V, H, E


def brute_marginal(rbm: RBM) -> torch.Tensor:
    """Exact p(v) over all visible states from the full joint table."""
    V, H, E = joint_energies(rbm)
    logp = torch.logsumexp(-E, 1) - torch.logsumexp(-E.flatten(), 0)
    return logp.exp()


# ----------------------------------------------------------------------------- exact identities
@settings(max_examples=25, deadline=None)
@given(
    nv=st.integers(1, 6),
    nh=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 3.0),
)
def test_free_energy_is_brute_force_marginal(nv, nh, seed, scale):
    """Checks eq. (7.3): F(v) = -log sum_h exp(-E(v, h)), and eq. (7.4) for the hidden side."""
    rbm = random_rbm(nv, nh, seed, scale)
    V, H, E = joint_energies(rbm)
    torch.testing.assert_close(
        rbm.free_energy(V).detach(), -torch.logsumexp(-E, 1), rtol=0, atol=1e-10
    )
    torch.testing.assert_close(
        rbm.hidden_free_energy(H).detach(), -torch.logsumexp(-E, 0), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("nv,nh", [(7, 3), (3, 7), (5, 5), (1, 9), (9, 1)])
def test_log_partition_exact_matches_full_enumeration(nv, nh):
    """Checks eq. (7.7): summing the larger layer out analytically gives log Z of all (v, h)."""
    rbm = random_rbm(nv, nh, seed=nv * 10 + nh, scale=1.5)
    _, _, E = joint_energies(rbm)
    expected = torch.logsumexp(-E.flatten(), 0)
    got = rbm.log_partition_exact()
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    # chunked evaluation gives the same number
    torch.testing.assert_close(rbm.log_partition_exact(chunk_size=3), expected, rtol=0, atol=1e-10)


def test_log_likelihood_and_probabilities_normalised():
    """Checks eq. (7.6): p(v) = exp(-F(v) - log Z) sums to one and matches the joint table."""
    rbm = random_rbm(6, 4, seed=3)
    p = rbm.probabilities_exact()
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(p, brute_marginal(rbm), rtol=1e-10, atol=1e-14)
    V = enumerate_states(6)
    ll = rbm.log_likelihood(V, reduction="none")
    torch.testing.assert_close(ll.exp(), p, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(rbm.log_likelihood(V), ll.mean())
    torch.testing.assert_close(rbm.log_likelihood(V, reduction="sum"), ll.sum())
    # an explicit log Z (tensor or float) gives the same result
    lz = rbm.log_partition_exact()
    torch.testing.assert_close(rbm.log_likelihood(V, lz), ll.mean())
    torch.testing.assert_close(rbm.log_likelihood(V, float(lz)), ll.mean())
    # the (estimate, stderr) pair of log_partition_ais is accepted as log_z
    torch.testing.assert_close(rbm.log_likelihood(V, (lz, torch.tensor(0.1))), ll.mean())


def test_conditionals_match_joint():
    """Checks eq. (7.5): p(h_j = 1 | v) and p(v_i = 1 | h) equal the exact conditionals."""
    rbm = random_rbm(4, 3, seed=5)
    V, H, E = joint_energies(rbm)
    p_h_given_v = torch.softmax(-E, 1)  # [16, 8]
    p_v_given_h = torch.softmax(-E, 0)  # [16, 8]
    ph, hs = rbm.sample_h(V)
    torch.testing.assert_close(ph, p_h_given_v @ H, rtol=1e-10, atol=1e-12)
    pv, vs = rbm.sample_v(H)
    torch.testing.assert_close(pv, p_v_given_h.T @ V, rtol=1e-10, atol=1e-12)
    assert set(hs.unique().tolist()) <= {0.0, 1.0} and hs.shape == ph.shape
    assert set(vs.unique().tolist()) <= {0.0, 1.0} and vs.shape == pv.shape


def test_pseudo_likelihood_exact_over_all_bits():
    """Checks eq. (7.15): log PL = sum_i log p(v_i | v_-i) with p from the joint table."""
    rbm = random_rbm(5, 4, seed=11, scale=1.2)
    p = brute_marginal(rbm)  # [32]
    V = enumerate_states(5)
    codes = torch.arange(32)
    expected = torch.zeros(32, dtype=torch.float64)
    for i in range(5):
        flipped = codes ^ (1 << i)
        expected += torch.log(p / (p + p[flipped]))
    torch.testing.assert_close(rbm.pseudo_likelihood(V, reduction="none"), expected)
    # small chunks give the same values, and the mean is the default reduction
    torch.testing.assert_close(
        rbm.pseudo_likelihood(V, reduction="none", chunk_elements=7), expected
    )
    torch.testing.assert_close(rbm.pseudo_likelihood(V), expected.mean())
    # pseudo-likelihood is not likelihood
    assert abs(float(rbm.pseudo_likelihood(V)) - float(rbm.log_likelihood(V))) > 0.1


def test_exact_gradient_is_autograd_of_exact_log_likelihood():
    """Checks eq. (7.9): data minus model statistics is the gradient of the exact average LL."""
    rbm = random_rbm(5, 3, seed=2)
    data = enumerate_states(5)[[1, 6, 7, 20, 31]]
    V = enumerate_states(5)
    log_z = torch.logsumexp(-rbm.free_energy(V), 0)  # differentiable brute-force log Z
    ll = (-rbm.free_energy(data) - log_z).mean()
    ll.backward()
    g = rbm.log_likelihood_gradient(data, method="exact")
    torch.testing.assert_close(g["W"], rbm.W.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g["b"], rbm.b.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g["c"], rbm.c.grad, rtol=1e-9, atol=1e-12)


def test_model_expectations_both_enumeration_sides_agree():
    """Checks eq. (7.9)'s model term: enumerating v (n_v < n_h) or h (n_h <= n_v) agree."""
    rbm = random_rbm(4, 6, seed=8)
    V, H, E = joint_energies(rbm)
    P = torch.softmax(-E.flatten(), 0).reshape(E.shape)  # joint p(v, h)
    evh, ev, eh = rbm.model_expectations_exact()
    torch.testing.assert_close(evh, V.T @ P @ H)
    torch.testing.assert_close(ev, P.sum(1) @ V)
    torch.testing.assert_close(eh, P.sum(0) @ H)
    rbm_t = random_rbm(6, 4, seed=8)  # the other branch
    V, H, E = joint_energies(rbm_t)
    P = torch.softmax(-E.flatten(), 0).reshape(E.shape)
    evh, ev, eh = rbm_t.model_expectations_exact()
    torch.testing.assert_close(evh, V.T @ P @ H)
    torch.testing.assert_close(ev, P.sum(1) @ V)
    torch.testing.assert_close(eh, P.sum(0) @ H)


def test_independent_baseline_equals_zero_weight_rbm():
    """Checks eq. (7.6) for W = 0: the independent-pixel model is the RBM with log-odds biases."""
    X, _ = ebmlib.digits()
    train, test = X[:1000], X[1000:1300]
    rbm = RBM(64, 1, init_std=0.0, dtype=torch.float64).init_visible_bias(train)
    # one hidden unit with W = 0 and c = 0 only adds log 2 to both F and log Z
    expected = float(rbm.log_likelihood(test))
    assert float(independent_log_likelihood(train, test)) == pytest.approx(expected, abs=1e-9)


# ----------------------------------------------------------------------------- sampling
def test_gibbs_marginals_match_exact_probabilities():
    """Checks eq. (7.5): block Gibbs leaves p(v) invariant; chain histograms match p(v).

    20 000 independent chains run 30 steps; each state's frequency is a binomial proportion,
    so it must lie within 5 standard errors sqrt(p (1 - p) / N) of the exact p(v).
    """
    rbm = random_rbm(4, 3, seed=21, scale=1.0)
    p = brute_marginal(rbm)
    n = 20_000
    g = torch.Generator().manual_seed(0)
    v0 = (torch.rand(n, 4, generator=g) < 0.5).double()
    v = rbm.gibbs(v0, k=30, generator=g)
    codes = (v * (2 ** torch.arange(4))).sum(1).long()
    freq = torch.bincount(codes, minlength=16).double() / n
    se = torch.sqrt(p * (1 - p) / n)
    assert torch.all((freq - p).abs() <= 5 * se), (freq - p).abs() / se


def test_gibbs_is_reproducible_and_k0_is_identity():
    """Checks eq. (7.5) sampling plumbing: same generator seed, same chain; k = 0 returns v."""
    rbm = random_rbm(6, 4, seed=1)
    v = enumerate_states(6)[:10]
    a = rbm.gibbs(v, 5, generator=torch.Generator().manual_seed(3))
    b = rbm.gibbs(v, 5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(rbm.gibbs(v, 0), v)


def _cd1_exact_moments(rbm: RBM, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact mean and variance of the CD-1 negative statistic v1 p(h | v1)^T given v0."""
    V = enumerate_states(rbm.n_visible)
    H = enumerate_states(rbm.n_hidden)
    W, b, c = rbm.W.detach(), rbm.b.detach(), rbm.c.detach()
    ph0 = torch.sigmoid(v0 @ W + c)
    p_h0 = torch.prod(H * ph0 + (1 - H) * (1 - ph0), 1)  # [2^nh] p(h0 | v0)
    pv = torch.sigmoid(H @ W.T + b)  # [2^nh, nv]
    p_v1_given_h = torch.prod(V[None] * pv[:, None] + (1 - V[None]) * (1 - pv[:, None]), 2)
    p_v1 = p_h0 @ p_v1_given_h  # [2^nv]
    stat = V[:, :, None] * torch.sigmoid(V @ W + c)[:, None, :]  # [2^nv, nv, nh]
    mean = torch.einsum("s,sij->ij", p_v1, stat)
    var = torch.einsum("s,sij->ij", p_v1, stat**2) - mean**2
    return mean, var


def test_cd1_estimator_expectation_is_exact_cd1_expectation():
    """Checks eq. (7.10): the CD-1 estimator averages to its exact expectation.

    The expectation of the CD-1 negative statistic is a finite sum over h0 and v1 weighted by
    the transition probabilities p(h0 | v0) p(v1 | h0), computed by enumeration. The estimator
    is averaged over N = 40 000 independent copies of one data row; each entry must lie within
    5 exact standard errors sqrt(var / N).
    """
    rbm = random_rbm(4, 3, seed=4)
    v0 = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    n = 40_000
    g = rbm.log_likelihood_gradient(
        v0.expand(n, -1), method="cd", k=1, generator=torch.Generator().manual_seed(1)
    )
    mean, var = _cd1_exact_moments(rbm, v0)
    pos = v0[:, None] * torch.sigmoid(v0 @ rbm.W.detach() + rbm.c.detach())[None, :]
    expected_grad = pos - mean
    se = torch.sqrt(var / n)
    assert torch.all((g["W"] - expected_grad).abs() <= 5 * se + 1e-12)
    # and CD-1 is biased: its expectation differs from the exact gradient of this one row
    exact = rbm.log_likelihood_gradient(v0[None], method="exact")
    assert (expected_grad - exact["W"]).abs().max() > 20 * se.max()


def test_cd_with_many_steps_matches_exact_gradient():
    """Checks eqs. (7.9)-(7.10): CD-k with k -> infinity is unbiased for the exact gradient.

    On a 4 x 3 model with weights of scale 0.7 the chain mixes in a few steps, so with k = 40
    the bias is negligible. The data (three rows repeated 15 000 times) give an average of
    N = 45 000 independent estimates; each entry must lie within 5 standard errors, the
    standard error bounded by 0.5 / sqrt(N) (every statistic lies in [0, 1]).
    """
    rbm = random_rbm(4, 3, seed=9, scale=0.7)
    rows = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=torch.float64)
    n = 15_000
    data = rows.repeat(n, 1)
    g = rbm.log_likelihood_gradient(data, "cd", k=40, generator=torch.Generator().manual_seed(2))
    exact = rbm.log_likelihood_gradient(rows, "exact")
    tol = 5 * 0.5 / math.sqrt(3 * n)
    for key in ("W", "b", "c"):
        assert torch.all((g[key] - exact[key]).abs() <= tol), key


def test_fit_cd_update_is_lr_times_cd_gradient():
    """Checks eq. (7.10) in fit: one full-batch CD-2 update without momentum is lr * gradient."""
    rbm = random_rbm(6, 4, seed=12, scale=0.5)
    data = enumerate_states(6)[torch.tensor([3, 12, 40, 63, 17])]
    before = {k: v.detach().clone() for k, v in rbm.named_parameters()}
    grad = rbm.log_likelihood_gradient(data, "cd", k=2, generator=torch.Generator().manual_seed(7))
    rbm.fit(
        data,
        method="cd",
        k=2,
        epochs=1,
        lr=0.3,
        batch_size=5,
        shuffle=False,
        init_visible_bias=False,
        track_error=False,
        generator=torch.Generator().manual_seed(7),
    )
    for name in ("W", "b", "c"):
        torch.testing.assert_close(
            getattr(rbm, name).detach() - before[name], 0.3 * grad[name], rtol=1e-9, atol=1e-12
        )


def test_fit_exact_update_is_lr_times_exact_gradient():
    """Checks eq. (7.9) in fit: one full-batch exact update is lr * exact gradient."""
    rbm = random_rbm(5, 3, seed=13, scale=0.5)
    data = enumerate_states(5)[torch.tensor([0, 5, 9, 30])]
    grad = rbm.log_likelihood_gradient(data, "exact")
    before = rbm.W.detach().clone()
    rbm.fit(data, method="exact", epochs=1, lr=0.2, batch_size=4, init_visible_bias=False)
    torch.testing.assert_close(rbm.W.detach() - before, 0.2 * grad["W"], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- AIS
@pytest.mark.parametrize("nv,nh,base", [(8, 6, False), (10, 12, True)])
def test_ais_within_error_bar_of_exact(nv, nh, base):
    """Checks eqs. (7.13)-(7.14): AIS log Z lies within 4 of its standard errors of exact log Z.

    The standard error is the delta-method value of the estimator itself (not tuned); the
    bias of log-mean-weights is of order se^2 / 2, far below the tolerance here.
    """
    rbm = random_rbm(nv, nh, seed=nv + nh, scale=0.6)
    exact = float(rbm.log_partition_exact())
    base_data = (torch.rand(50, nv, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    est, se = rbm.log_partition_ais(
        n_chains=400,
        n_betas=500,
        generator=torch.Generator().manual_seed(1),
        base_data=base_data if base else None,
    )
    assert 0 < float(se) < 0.05
    assert abs(float(est) - exact) <= 4 * float(se)


def test_ais_on_trained_digits_model_within_0_1_nats():
    """Checks eq. (7.14) at the chapter's scale: a 64 x 16 digits RBM, AIS within 0.1 nats.

    The chapter's claim: on models small enough to enumerate, AIS agrees with the exact
    log Z within 0.1 nats (and within its own error bar).
    """
    X, _ = ebmlib.digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    train = X[perm[:1437]]
    rbm = RBM(64, 16, init_std=0.3, generator=torch.Generator().manual_seed(0))
    rbm.fit(train, k=1, epochs=5, lr=0.5, batch_size=100, momentum=0.5,
            generator=torch.Generator().manual_seed(1))  # fmt: skip
    exact = float(rbm.log_partition_exact())
    est, se = rbm.log_partition_ais(
        n_chains=100, n_betas=2000, generator=torch.Generator().manual_seed(2), base_data=train
    )
    assert abs(float(est) - exact) < 0.1
    assert abs(float(est) - exact) <= 4 * float(se) + 1e-3


def test_ais_custom_schedule_and_reproducible():
    """Checks eqs. (7.12)-(7.13): a user schedule works and a seeded run is reproducible."""
    rbm = random_rbm(6, 5, seed=3, scale=0.5)
    betas = torch.linspace(0, 1, 300, dtype=torch.float64) ** 2
    a = rbm.log_partition_ais(50, betas=betas, generator=torch.Generator().manual_seed(4))
    b = rbm.log_partition_ais(50, betas=betas, generator=torch.Generator().manual_seed(4))
    assert float(a[0]) == float(b[0]) and float(a[1]) == float(b[1])
    assert abs(float(a[0]) - float(rbm.log_partition_exact())) <= 4 * float(a[1])


# ----------------------------------------------------------------------------- training results
def test_bars_and_stripes_exact_training_reaches_optimum_and_cd10_beats_cd1():
    """Checks the chapter's bars-and-stripes numbers against the optimum -log 14 (eq. (7.6)).

    Exact-gradient training reaches an average log-likelihood of at least -2.66 (the best
    possible is -log 14 = -2.639), and with the same budget CD-10 beats CD-1.
    """
    data = ebmlib.bars_and_stripes(3)
    assert data.shape == (14, 9)
    best = -math.log(14)
    results = {}
    for method, k in (("exact", 1), ("cd", 1), ("cd", 10)):
        rbm = RBM(9, 16, init_std=0.1, generator=torch.Generator().manual_seed(0))
        if method == "exact":
            rbm.fit(data, method="exact", epochs=1500, lr=0.1, batch_size=14, momentum=0.9,
                    generator=torch.Generator().manual_seed(1))  # fmt: skip
        else:
            rbm.fit(data, method="cd", k=k, epochs=2000, lr=0.3, batch_size=14, momentum=0.5,
                    lr_schedule="linear", generator=torch.Generator().manual_seed(1))  # fmt: skip
        results[(method, k)] = float(rbm.log_likelihood(data))
    assert best >= results[("exact", 1)] >= -2.66
    # measured gap is about 0.5 nats over four seeds; require a clear margin
    assert results[("cd", 10)] > results[("cd", 1)] + 0.2


def test_digits_beats_sklearn_default_and_independent_pixels():
    """Checks the chapter's digits claim with exact test log-likelihoods (eqs. (7.6)-(7.7)).

    ebmlib's 64 x 16 RBM (CD-1, momentum, 10 epochs) against scikit-learn's BernoulliRBM with
    16 components and otherwise default settings, both scored exactly on held-out digits, and
    against independent pixels.
    """
    sklearn_rbm = pytest.importorskip("sklearn.neural_network")
    X, _ = ebmlib.digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    train, test = X[perm[:1437]], X[perm[1437:]]
    sk = sklearn_rbm.BernoulliRBM(n_components=16, random_state=0).fit(train.double().numpy())
    peer = RBM(64, 16, dtype=torch.float64)
    with torch.no_grad():
        peer.W.copy_(torch.from_numpy(sk.components_.T))
        peer.b.copy_(torch.from_numpy(sk.intercept_visible_))
        peer.c.copy_(torch.from_numpy(sk.intercept_hidden_))
    ours = RBM(64, 16, init_std=0.3, generator=torch.Generator().manual_seed(0))
    ours.fit(train, k=1, epochs=10, lr=0.5, batch_size=100, momentum=0.5,
             lr_schedule="linear", generator=torch.Generator().manual_seed(1))  # fmt: skip
    ll_ours = float(ours.log_likelihood(test))
    ll_peer = float(peer.log_likelihood(test))
    ll_indep = float(independent_log_likelihood(train, test))
    assert ll_ours >= ll_peer
    assert ll_ours > ll_indep


# ----------------------------------------------------------------------------- plumbing
def test_state_dict_round_trip():
    """Checks eq. (7.3) after save/load: the restored model has identical free energies."""
    rbm = random_rbm(7, 5, seed=6)
    buf = io.BytesIO()
    torch.save(rbm.state_dict(), buf)
    buf.seek(0)
    other = RBM(7, 5, dtype=torch.float64)
    other.load_state_dict(torch.load(buf))
    V = enumerate_states(7)
    assert torch.equal(rbm.free_energy(V), other.free_energy(V))
    assert set(rbm.state_dict()) == {"W", "b", "c"}
    assert rbm.W.shape == (7, 5) and rbm.b.shape == (7,) and rbm.c.shape == (5,)


def test_dtype_follows_input_and_int_input_accepted():
    """Checks eq. (7.3): float32 model, float64 input gives a float64 result; ints accepted."""
    rbm = RBM(4, 3, generator=torch.Generator().manual_seed(0))
    v = enumerate_states(4)
    assert rbm.free_energy(v).dtype == torch.float64
    torch.testing.assert_close(rbm.free_energy(v.long()), rbm.free_energy(v.float()))


def test_fit_history_and_pcd_runs():
    """Checks fit's contract (eq. (7.11) for PCD): history lists, finite values, LL improves."""
    data = ebmlib.bars_and_stripes(3)
    rbm = RBM(9, 8, init_std=0.1, generator=torch.Generator().manual_seed(0))
    start = float(RBM(9, 8).init_visible_bias(data).log_likelihood(data))
    hist = rbm.fit(data, method="pcd", k=1, epochs=200, lr=0.05, batch_size=14, momentum=0.5,
                   n_chains=50, monitor=data, monitor_every=50,
                   callback=lambda m, e: {"norm": float(m.W.norm())},
                   generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert len(hist["epoch"]) == 200 and len(hist["norm"]) == 200
    assert all(np.isfinite(hist["reconstruction_error"]))
    lls = [x for x in hist["log_likelihood"] if not math.isnan(x)]
    assert len(lls) == 4 and lls[-1] > start
    assert hist["time"] == sorted(hist["time"])


def test_pcd_high_constant_lr_is_worse_than_decayed():
    """Checks the PCD pitfall of the chapter on bars-and-stripes (eq. (7.11)).

    With a high constant learning rate the persistent chains cannot keep up with the moving
    model and the exact log-likelihood ends lower than with a linearly decayed rate.
    """
    data = ebmlib.bars_and_stripes(3)
    out = {}
    for sched in ("constant", "linear"):
        rbm = RBM(9, 16, init_std=0.1, generator=torch.Generator().manual_seed(0))
        rbm.fit(data, method="pcd", epochs=1500, lr=0.3, batch_size=14, n_chains=14,
                lr_schedule=sched, generator=torch.Generator().manual_seed(1))  # fmt: skip
        out[sched] = float(rbm.log_likelihood(data))
    assert out["constant"] < out["linear"] - 0.5


def test_draw_gibbs_chain_returns_axes():
    """Checks the chapter-7 demo: draws k-step chain means (k = 0 shows the start states)."""
    import matplotlib

    matplotlib.use("Agg")
    rbm = random_rbm(9, 4, seed=0)
    ax = draw_gibbs_chain(rbm, k=3, n_chains=4)
    assert "k = 3" in ax.get_title()
    start = enumerate_states(9)[:4]
    ax0 = draw_gibbs_chain(rbm, k=0, start=start)
    img = ax0.images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img[:3, :3]), start[0].reshape(3, 3).numpy())
    with pytest.raises(ValueError, match="shape"):
        draw_gibbs_chain(random_rbm(5, 2), k=1)


def test_enumerate_states():
    """Checks the enumeration behind eq. (7.7): all 2^n distinct binary rows, LSB first."""
    s = enumerate_states(3)
    assert s.shape == (8, 3)
    assert torch.equal(s[5], torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert len({tuple(r.tolist()) for r in s}) == 8
    torch.testing.assert_close(enumerate_states(4, 3, 6), enumerate_states(4)[3:6])


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs():
    """Checks argument validation: errors name the argument (no bare torch errors)."""
    rbm = RBM(4, 3)
    with pytest.raises(ValueError, match="n_visible"):
        RBM(0, 3)
    with pytest.raises(TypeError, match="n_hidden"):
        RBM(3, 2.5)
    with pytest.raises(ValueError, match="v"):
        rbm.free_energy(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="v"):
        rbm.free_energy([[0, 1, 0, 1]])
    with pytest.raises(ValueError, match="finite"):
        rbm.free_energy(torch.tensor([[0.0, float("nan"), 0, 1]]))
    with pytest.raises(ValueError, match="h"):
        rbm.sample_v(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="k"):
        rbm.gibbs(torch.zeros(2, 4), k=-1)
    with pytest.raises(TypeError, match="generator"):
        rbm.sample_h(torch.zeros(2, 4), generator=0)
    data = torch.tensor([[0.0, 1, 1, 0], [1, 1, 0, 0]])
    with pytest.raises(ValueError, match="data"):
        rbm.fit(data * 0.5)
    with pytest.raises(ValueError, match="method"):
        rbm.fit(data, method="sgd")
    with pytest.raises(ValueError, match="lr"):
        rbm.fit(data, lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        rbm.fit(data, momentum=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        rbm.fit(data, batch_size=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        rbm.fit(data, lr_schedule="cosine")
    with pytest.raises(ValueError, match="data"):
        rbm.log_likelihood(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="log_z"):
        rbm.log_likelihood(data, torch.zeros(2))
    with pytest.raises(ValueError, match="reduction"):
        rbm.pseudo_likelihood(data, reduction="max")
    with pytest.raises(ValueError, match="betas"):
        rbm.log_partition_ais(10, betas=torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="n_betas"):
        rbm.log_partition_ais(10, n_betas=1)
    big = RBM(30, 26)
    with pytest.raises(ValueError, match="log_partition_ais"):
        big.log_partition_exact()
    with pytest.raises(ValueError, match="exact"):
        big.fit(torch.zeros(2, 30), method="exact")


@settings(max_examples=20, deadline=None)
@given(
    value=st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(
        lambda x: x not in (0.0, 1.0)
    ),
    row=st.integers(0, 2),
    col=st.integers(0, 3),
)
def test_non_binary_data_rejected(value, row, col):
    """Checks that eqs. (7.6), (7.9) and (7.15) refuse data outside {0, 1}, naming the argument."""
    rbm = RBM(4, 3)
    data = torch.tensor([[0.0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
    data[row, col] = value
    for call in (
        lambda: rbm.fit(data, epochs=1),
        lambda: rbm.log_likelihood(data),
        lambda: rbm.pseudo_likelihood(data),
    ):
        with pytest.raises(ValueError, match="data"):
            call()


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
def test_cuda_matches_cpu():
    """Checks eqs. (7.3), (7.7) on CUDA: same free energies and log Z as on the CPU."""
    rbm = random_rbm(8, 6, seed=1)
    V = enumerate_states(8)
    cuda = RBM(8, 6, dtype=torch.float64, device="cuda")
    cuda.load_state_dict(rbm.state_dict())
    torch.testing.assert_close(cuda.free_energy(V.cuda()).cpu(), rbm.free_energy(V))
    torch.testing.assert_close(cuda.log_partition_exact().cpu(), rbm.log_partition_exact())
    torch.testing.assert_close(cuda.pseudo_likelihood(V.cuda()).cpu(), rbm.pseudo_likelihood(V))


@pytest.mark.cuda
def test_cuda_fit_and_ais():
    """Checks eqs. (7.10), (7.14) on CUDA: training stays on the device, AIS agrees with exact."""
    g = torch.Generator(device="cuda").manual_seed(0)
    data = ebmlib.bars_and_stripes(3).cuda()
    rbm = RBM(9, 8, init_std=0.1, device="cuda")
    hist = rbm.fit(data, method="pcd", epochs=50, lr=0.05, batch_size=14, generator=g)
    assert rbm.W.is_cuda and len(hist["epoch"]) == 50
    est, se = rbm.log_partition_ais(200, 500, generator=g)
    assert abs(float(est) - float(rbm.log_partition_exact())) <= 4 * float(se) + 1e-3
    v = rbm.gibbs(data, 2, generator=g)
    assert v.is_cuda and v.shape == data.shape


def test_free_energy_and_log_z_stable_for_large_weights():
    """Checks eqs. (7.3) and (7.7) far from the origin: no overflow with weights of scale 300."""
    rbm = random_rbm(5, 4, seed=7, scale=300.0)
    V, H, E = joint_energies(rbm)
    f = rbm.free_energy(V).detach()
    assert torch.isfinite(f).all()
    torch.testing.assert_close(f, -torch.logsumexp(-E, 1), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(
        rbm.log_partition_exact(), torch.logsumexp(-E.flatten(), 0), rtol=1e-12, atol=1e-9
    )
