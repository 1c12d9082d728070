"""Tests of ``ebmlib.rbm`` against exact answers on models small enough to enumerate (chapter 7).

Equation labels (``book/part3/rbm.ipynb``): ``eq-rbm-energy`` (7.1), ``eq-rbm-free-energy``
(7.3), ``eq-rbm-hidden-free-energy`` (7.4), ``eq-rbm-conditionals`` (7.5), ``eq-rbm-loglik``
(7.6), ``eq-rbm-logz-exact`` (7.7), ``eq-rbm-gradient`` (7.9), ``eq-rbm-cd`` (7.10),
``eq-rbm-pcd`` (7.11), ``eq-rbm-ais-path`` / ``-weight`` / ``-estimate`` (7.12-7.14),
``eq-rbm-pl`` (7.15).

The reference answers are computed here from the energy (7.1) by listing every joint state
``(v, h)`` with ``itertools.product``; nothing below uses the library's exact routines to judge
the library. At temperature ``T`` the joint law is ``p_T(v, h) ~ exp(-E(v, h) / T)``.
Statistical checks follow ``tests/test_boltzmann.py``: Pearson chi-square tests of ``N``
independent samples (failure when the p-value is below 1e-6) and means within 5 standard
errors, the standard error exact (from an enumerated variance) or estimated from the samples.
The ``check_*`` functions are reused by ``tests/test_wrong_variants_part3.py``.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_boltzmann import ALPHA, all_states, assert_close_se, chi2_pvalue, state_number

import ebmlib
from ebmlib import rbm as rbm_module
from ebmlib.rbm import (
    RBM,
    RBMHistory,
    binary_states,
    draw_gibbs_chain,
    independent_log_likelihood,
)
from ebmlib.utils import Result

F64 = torch.float64
TEMPERATURES = (0.5, 1.0, 2.5)  # beta = 2, 1, 0.4


# ------------------------------------------------------------------------------------------------
# Independent exact reference
# ------------------------------------------------------------------------------------------------
def random_rbm(nv: int, nh: int, seed: int = 0, scale: float = 1.0) -> RBM:
    """A float64 RBM with Gaussian weights and biases of standard deviation ``scale``."""
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(nv, nh, init_std=scale, generator=g, dtype=F64)
    with torch.no_grad():
        rbm.b.copy_(torch.randn(nv, generator=g, dtype=F64) * scale)
        rbm.c.copy_(torch.randn(nh, generator=g, dtype=F64) * scale)
    return rbm


def params(rbm: RBM):
    return tuple(t.detach().to(F64).cpu().clone() for t in (rbm.W, rbm.b, rbm.c))


def joint_table(rbm: RBM, W=None, b=None, c=None) -> torch.Tensor:
    """E[v, h] = -v^T b - h^T c - v^T W h over all_states(n_v) x all_states(n_h) (7.1)."""
    if W is None:
        W, b, c = params(rbm)
    V, H = all_states(W.shape[0]), all_states(W.shape[1])
    return -(V @ b)[:, None] - (H @ c)[None, :] - V @ W @ H.T


def joint_probs(rbm: RBM, T: float = 1.0) -> torch.Tensor:
    """p_T(v, h) as a [2^n_v, 2^n_h] table (itertools order on both axes)."""
    E = joint_table(rbm)
    return torch.softmax(-E.flatten() / T, 0).reshape(E.shape)


def log_likelihood(W, b, c, data: torch.Tensor) -> torch.Tensor:
    """Mean exact log p(v) of the rows of data, eq-rbm-loglik, by full enumeration."""
    E = joint_table(None, W, b, c)
    log_pv = torch.logsumexp(-E, 1) - torch.logsumexp(-E.flatten(), 0)
    return log_pv[state_number(data)].mean()


def exact_samples(p: torch.Tensor, n: int, N: int, gen: torch.Generator) -> torch.Tensor:
    return all_states(n)[torch.multinomial(p.flatten(), N, replacement=True, generator=gen)]


def visible_kernel(rbm: RBM, T: float = 1.0) -> torch.Tensor:
    """One block-Gibbs step v -> h -> v' as a [2^n_v, 2^n_v] matrix (7.5), by enumeration."""
    P = joint_probs(rbm, T)
    h_given_v = P / P.sum(1, keepdim=True)
    v_given_h = (P / P.sum(0, keepdim=True)).T
    return h_given_v @ v_given_h


def assert_fits(index: torch.Tensor, p: torch.Tensor, what: str) -> None:
    pval = chi2_pvalue(index, p.flatten())
    assert pval > ALPHA, f"{what}: chi-square p-value {pval:.2e} < {ALPHA:g}"


# ------------------------------------------------------------------------------------------------
# Checks (used here and by tests/test_wrong_variants_part3.py)
# ------------------------------------------------------------------------------------------------
def check_free_energies() -> None:
    """eq-rbm-free-energy and eq-rbm-hidden-free-energy: F(v) = -log sum_h exp(-E(v, h)) and
    F(h) = -log sum_v exp(-E(v, h)) for every state of a 5 x 4 model, and eq-rbm-energy for
    every pair (v, h)."""
    rbm = random_rbm(5, 4, seed=1, scale=1.5)
    E = joint_table(rbm)
    V, H = all_states(5), all_states(4)
    torch.testing.assert_close(rbm.free_energy(V).detach(), -torch.logsumexp(-E, 1))
    torch.testing.assert_close(rbm.hidden_free_energy(H).detach(), -torch.logsumexp(-E, 0))
    vv = V.repeat_interleave(16, 0)  # every (v, h) pair, v-major like the table
    hh = H.repeat(32, 1)
    torch.testing.assert_close(rbm.energy(vv, hh).detach(), E.flatten())


def check_log_partition() -> None:
    """eq-rbm-logz-exact: log Z by enumerating either layer (and in small chunks) equals the
    log-sum over all joint states; probabilities_exact is p(v) in the library's order."""
    for nv, nh in ((7, 3), (3, 7)):
        rbm = random_rbm(nv, nh, seed=nv * 10 + nh, scale=1.5)
        want = torch.logsumexp(-joint_table(rbm).flatten(), 0)
        torch.testing.assert_close(rbm.log_partition_exact(), want, rtol=0, atol=1e-10)
        torch.testing.assert_close(rbm.log_partition_exact(chunk_size=3), want, rtol=0, atol=1e-10)
    rbm = random_rbm(6, 4, seed=3)
    pv = joint_probs(rbm).sum(1)
    V = binary_states(6)
    torch.testing.assert_close(rbm.probabilities_exact(), pv[state_number(V)], rtol=1e-10, atol=0)


def check_conditionals(T: float) -> None:
    """eq-rbm-conditionals at temperature T: the probabilities returned by sample_h and
    sample_v are the exact conditionals of p_T(v, h), and the samples are Bernoulli draws of
    them (means of 20 000 draws within 5 exact binomial standard errors)."""
    rbm = random_rbm(4, 3, seed=5)
    P = joint_probs(rbm, T)
    V, H = all_states(4), all_states(3)
    ph_exact = (P / P.sum(1, keepdim=True)) @ H  # p_T(h_j = 1 | v), [16, 3]
    pv_exact = (P / P.sum(0, keepdim=True)).T @ V  # p_T(v_i = 1 | h), [8, 4]
    ph, _ = rbm.sample_h(V, T=T)
    pv, _ = rbm.sample_v(H, T=T)
    torch.testing.assert_close(ph, ph_exact, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(pv, pv_exact, rtol=1e-10, atol=1e-12)
    N = 20_000
    g = torch.Generator().manual_seed(6)
    v, h = V[[3, 12]], H[[1, 6]]
    _, hs = rbm.sample_h(v.repeat_interleave(N, 0), generator=g, T=T)
    _, vs = rbm.sample_v(h.repeat_interleave(N, 0), generator=g, T=T)
    for name, samples, p in (("h", hs, ph_exact[[3, 12]]), ("v", vs, pv_exact[[1, 6]])):
        assert set(samples.unique().tolist()) <= {0.0, 1.0}
        means = samples.reshape(2, N, -1).mean(1)
        assert_close_se(means, p, torch.sqrt(p * (1 - p) / N), f"sample_{name} means at T={T}")


def check_gibbs_stationary(T: float) -> None:
    """eq-rbm-conditionals: block Gibbs at T leaves p_T invariant. From exact samples of p_T(v),
    two steps keep p_T(v); a half step from exact v (or exact h) gives the exact joint."""
    rbm = random_rbm(4, 3, seed=21)
    P = joint_probs(rbm, T)
    N = 20_000
    g = torch.Generator().manual_seed(22)
    v = exact_samples(P.sum(1), 4, N, g)
    out = rbm.gibbs(v, k=2, generator=g, T=T)
    assert_fits(state_number(out), P.sum(1), f"gibbs at T={T} from p_T(v)")
    _, h = rbm.sample_h(v, generator=g, T=T)
    assert_fits(state_number(v) * 8 + state_number(h), P, f"(v, sample_h(v)) at T={T}")
    h = exact_samples(P.sum(0), 3, N, g)
    _, v = rbm.sample_v(h, generator=g, T=T)
    assert_fits(state_number(v) * 8 + state_number(h), P, f"(sample_v(h), h) at T={T}")


def check_gibbs_transient(T: float) -> None:
    """eq-rbm-conditionals: from one start state, the law of the chain after 1 and 3 steps is
    the row of the k-th power of the one-step kernel built here."""
    rbm = random_rbm(4, 3, seed=23, scale=1.3)
    K = visible_kernel(rbm, T)
    N = 20_000
    v0 = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64)
    for k in (1, 3):
        out = rbm.gibbs(v0.expand(N, 4), k=k, generator=torch.Generator().manual_seed(k), T=T)
        law = torch.linalg.matrix_power(K, k)[int(state_number(v0[None])[0])]
        assert_fits(state_number(out), law, f"gibbs at T={T}, {k} steps from one state")


def check_ais(base: bool) -> None:
    """eq-rbm-ais-weight and eq-rbm-ais-estimate against the exact Z of a 6 x 4 model.

    1. Importance weights are unbiased, E[w] Z_A = Z (Neal 2001), for any schedule: with a
       short one (10 temperatures) the weights vary enough to expose a wrong start or a wrong
       transition; the mean of w Z_A / Z over 4000 runs must be 1 within 5 standard errors
       estimated from the weights.
    2. With 500 temperatures and 3000 runs, log Z lies within 5 of the estimator's own
       standard errors (the delta-method value, about 0.001 nats here) of the exact value; the
       Jensen bias of log-mean-weights, about se^2 / 2, is negligible."""
    rbm = random_rbm(6, 4, seed=31, scale=0.8)
    log_z = float(torch.logsumexp(-joint_table(rbm).flatten(), 0))
    data = (torch.rand(50, 6, generator=torch.Generator().manual_seed(32)) < 0.3).to(F64)
    base_data = data if base else None
    log_w, log_z_a = rbm.ais_log_weights(4000, 10, torch.Generator().manual_seed(33), base_data)
    r = torch.exp(log_w + log_z_a - log_z)  # w Z_A / Z, mean 1
    se = r.std() / math.sqrt(r.numel())
    assert abs(float(r.mean()) - 1.0) <= 5 * float(se), (float(r.mean()), float(se))
    est, se = rbm.log_partition_ais(3000, 500, torch.Generator().manual_seed(34), base_data)
    assert 0 < float(se) < 0.005
    assert abs(float(est) - log_z) <= 5 * float(se), (float(est) - log_z, float(se))


def check_exact_gradient() -> None:
    """eq-rbm-gradient: log_likelihood_gradient(method="exact") against central finite
    differences of the log-likelihood enumerated here (float64, step 1e-5)."""
    rbm = random_rbm(4, 3, seed=41, scale=0.8)
    data = all_states(4)[[1, 6, 7, 11, 15]]
    grad = rbm.log_likelihood_gradient(data, method="exact")
    theta = list(params(rbm))
    eps = 1e-5
    for k, name in enumerate(("W", "b", "c")):
        fd = torch.zeros_like(theta[k])
        for idx in np.ndindex(*theta[k].shape):
            up = [t.clone() for t in theta]
            dn = [t.clone() for t in theta]
            up[k][idx] += eps
            dn[k][idx] -= eps
            fd[idx] = (log_likelihood(*up, data) - log_likelihood(*dn, data)) / (2 * eps)
        torch.testing.assert_close(grad[name], fd, rtol=0, atol=1e-8, msg=f"gradient {name}")


def _cd_k_moments(rbm: RBM, rows: torch.Tensor, k: int):
    """Exact mean and variance of the CD-k model statistics (v_k p(h | v_k)^T, v_k, p(h | v_k))
    for one chain started at each row (eq-rbm-cd), from the k-step kernel built here."""
    W, b, c = params(rbm)
    V = all_states(rbm.n_visible)
    law = torch.linalg.matrix_power(visible_kernel(rbm), k)[state_number(rows)]  # [R, 2^nv]
    ph = torch.sigmoid(V @ W + c)
    stats = {"W": V[:, :, None] * ph[:, None, :], "b": V, "c": ph}
    out = {}
    for name, s in stats.items():
        flat = s.reshape(s.shape[0], -1)
        mean = law @ flat
        var = law @ flat**2 - mean**2
        out[name] = (mean.reshape(-1, *s.shape[1:]), var.reshape(-1, *s.shape[1:]))
    return out


def check_cd_expectation(k: int) -> None:
    """eq-rbm-cd: the CD-k estimate averages to its exact expectation, data term minus the
    exact expected model statistics of chains started at the data. Three rows, each copied
    n = 15 000 times; the standard error is exact, sqrt(sum_r var_r / (R^2 n))."""
    rbm = random_rbm(4, 3, seed=42)
    rows = torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 0], [1, 1, 0, 0]], dtype=F64)
    n = 15_000
    est = rbm.log_likelihood_gradient(rows.repeat_interleave(n, 0), "cd", k=k,
                                      generator=torch.Generator().manual_seed(43))  # fmt: skip
    W, b, c = params(rbm)
    ph0 = torch.sigmoid(rows @ W + c)
    data = {"W": rows.T @ ph0 / 3, "b": rows.mean(0), "c": ph0.mean(0)}
    for name, (mean, var) in _cd_k_moments(rbm, rows, k).items():
        se = torch.sqrt(var.sum(0) / (9 * n))
        assert_close_se(est[name], data[name] - mean.mean(0), se, f"CD-{k} gradient {name}")


def check_cd_unbiased_at_model(k: int) -> None:
    """eq-rbm-cd at the model distribution: with the data drawn exactly from the model, the
    chains start in their stationary law, so the CD-k model term is unbiased for the exact
    model term. CD gradient minus exact gradient on the same rows is zero on average; the
    standard error is estimated from the spread of 50 independent groups of 2000 rows."""
    rbm = random_rbm(4, 3, seed=44)
    g = torch.Generator().manual_seed(45)
    P = joint_probs(rbm)
    diffs = {name: [] for name in ("W", "b", "c")}
    for _ in range(50):
        data = exact_samples(P.sum(1), 4, 2000, g)
        cd = rbm.log_likelihood_gradient(data, "cd", k=k, generator=g)
        exact = rbm.log_likelihood_gradient(data, "exact")
        for name in diffs:
            diffs[name].append(cd[name] - exact[name])
    for name, d in diffs.items():
        d = torch.stack(d)
        se = d.std(0) / math.sqrt(d.shape[0])
        assert_close_se(d.mean(0), torch.zeros_like(se), se, f"CD-{k} at the model, {name}")


def check_pcd_model_term() -> None:
    """eq-rbm-pcd: persistent chains whose hidden state is an exact sample of p(h) give an
    unbiased model term after each of two PCD-1 steps (the chains keep their law), and the
    returned chain state is again p(h)-distributed (chi-square)."""
    rbm = random_rbm(4, 3, seed=46)
    P = joint_probs(rbm)
    V = all_states(4)
    W, b, c = params(rbm)
    ph = torch.sigmoid(V @ W + c)
    exact = {"W": V.T @ (P.sum(1)[:, None] * ph), "b": P.sum(1) @ V, "c": P.sum(1) @ ph}
    N = 20_000
    g = torch.Generator().manual_seed(47)
    chains = exact_samples(P.sum(0), 3, N, g)
    v0 = V[[2, 9]].repeat(5, 1)  # any data: the model term does not depend on it
    for step in (1, 2):
        stats = rbm._cd_statistics(v0, 1, g, chains=chains)
        model = {"W": stats.vk.T @ stats.phk / N, "b": stats.vk.mean(0), "c": stats.phk.mean(0)}
        per_chain = {"W": stats.vk[:, :, None] * stats.phk[:, None, :], "b": stats.vk,
                     "c": stats.phk}  # fmt: skip
        for name, s in per_chain.items():
            se = s.std(0) / math.sqrt(N)
            assert_close_se(model[name], exact[name], se, f"PCD model term {name}, step {step}")
        chains = stats.chains
        assert_fits(state_number(chains), P.sum(0), f"PCD chain state after step {step}")


def check_fit_applies_the_gradient() -> None:
    """eq-rbm-gradient in fit: one full-batch update without momentum moves the parameters by
    lr times the CD-2 estimate of log_likelihood_gradient (same generator state) and by lr
    times the exact gradient; with momentum the second step is lr g_2 + momentum lr g_1."""
    rbm = random_rbm(6, 4, seed=12, scale=0.5)
    data = binary_states(6)[torch.tensor([3, 12, 40, 63, 17])]
    before = [p.detach().clone() for p in (rbm.W, rbm.b, rbm.c)]
    grad = rbm.log_likelihood_gradient(data, "cd", k=2, generator=torch.Generator().manual_seed(7))
    rbm.fit(data, method="cd", k=2, epochs=1, lr=0.3, batch_size=5, shuffle=False,
            init_visible_bias=False, generator=torch.Generator().manual_seed(7))  # fmt: skip
    for name, p0 in zip(("W", "b", "c"), before, strict=True):
        torch.testing.assert_close(getattr(rbm, name).detach() - p0, 0.3 * grad[name],
                                   rtol=1e-9, atol=1e-12)  # fmt: skip
    rbm = random_rbm(5, 3, seed=13, scale=0.5)
    data = binary_states(5)[torch.tensor([0, 5, 9, 30])]
    g1 = rbm.log_likelihood_gradient(data, "exact")
    start = {n: getattr(rbm, n).detach().clone() for n in ("W", "b", "c")}
    rbm.fit(data, method="exact", epochs=1, lr=0.2, batch_size=4, init_visible_bias=False)
    for name in ("W", "b", "c"):
        torch.testing.assert_close(getattr(rbm, name).detach() - start[name], 0.2 * g1[name],
                                   rtol=1e-9, atol=1e-12)  # fmt: skip
    rbm = random_rbm(5, 3, seed=13, scale=0.5)
    g1 = rbm.log_likelihood_gradient(data, "exact")
    with torch.no_grad():
        for name in ("W", "b", "c"):
            getattr(rbm, name).add_(0.2 * g1[name])
    g2 = rbm.log_likelihood_gradient(data, "exact")
    fresh = random_rbm(5, 3, seed=13, scale=0.5)
    fresh.fit(data, method="exact", epochs=2, lr=0.2, batch_size=4, momentum=0.5,
              init_visible_bias=False, shuffle=False)  # fmt: skip
    for name in ("W", "b", "c"):
        want = start[name] + 0.2 * g1[name] + 0.2 * g2[name] + 0.5 * 0.2 * g1[name]
        torch.testing.assert_close(getattr(fresh, name).detach(), want, rtol=1e-9, atol=1e-12)


def check_pcd_fit_carries_chains() -> None:
    """eq-rbm-pcd in fit: two full-batch PCD-1 updates equal the updates computed by hand from
    the same random numbers, the chain state of the first update starting the second."""
    rbm = random_rbm(5, 3, seed=14, scale=0.5)
    twin = random_rbm(5, 3, seed=14, scale=0.5)
    data = binary_states(5)[torch.tensor([1, 6, 12, 25, 30, 17])]
    rbm.fit(data, method="pcd", k=1, epochs=2, lr=0.1, batch_size=6, n_chains=4, shuffle=False,
            init_visible_bias=False, generator=torch.Generator().manual_seed(8))  # fmt: skip
    g = torch.Generator().manual_seed(8)
    rows = torch.randint(6, (4,), generator=g)
    W, b, c = params(twin)
    u = torch.rand(4, 3, generator=g, dtype=F64)
    chains = (u < torch.sigmoid(data[rows] @ W + c)).to(F64)
    for _ in range(2):
        W, b, c = params(twin)
        ph0 = torch.sigmoid(data @ W + c)
        vk = (torch.rand(4, 5, generator=g, dtype=F64) < torch.sigmoid(chains @ W.T + b)).to(F64)
        phk = torch.sigmoid(vk @ W + c)
        chains = (torch.rand(4, 3, generator=g, dtype=F64) < phk).to(F64)
        with torch.no_grad():
            twin.W.add_(0.1 * (data.T @ ph0 / 6 - vk.T @ phk / 4))
            twin.b.add_(0.1 * (data.mean(0) - vk.mean(0)))
            twin.c.add_(0.1 * (ph0.mean(0) - phk.mean(0)))
    for name in ("W", "b", "c"):
        torch.testing.assert_close(getattr(rbm, name), getattr(twin, name), rtol=1e-9, atol=1e-12)


def check_reconstruction_error() -> None:
    """The reconstruction error recorded by fit (CD-1, one full batch) is the mean over rows
    and pixels of (p(v = 1 | h_0) - v_0)^2 with h_0 ~ p(h | v_0), computed here from the same
    random numbers; PCD records it only when asked."""
    rbm = random_rbm(6, 4, seed=15, scale=0.5)
    W, b, c = params(rbm)
    data = binary_states(6)[torch.tensor([3, 12, 40, 63, 17])]
    hist = rbm.fit(data, method="cd", epochs=1, lr=0.1, batch_size=5, shuffle=False,
                   init_visible_bias=False, generator=torch.Generator().manual_seed(9))  # fmt: skip
    g = torch.Generator().manual_seed(9)
    h0 = (torch.rand(5, 4, generator=g, dtype=F64) < torch.sigmoid(data @ W + c)).to(F64)
    want = float(((torch.sigmoid(h0 @ W.T + b) - data) ** 2).mean())
    assert hist.reconstruction_error[0] == pytest.approx(want, rel=1e-12)
    pcd = random_rbm(6, 4, seed=15).fit(data, method="pcd", epochs=3, batch_size=5)
    assert pcd.reconstruction_error == []
    asked = random_rbm(6, 4, seed=15).fit(data, method="pcd", epochs=3, batch_size=5,
                                          track_error=True)  # fmt: skip
    assert len(asked.reconstruction_error) == 3
    assert all(0.0 <= e <= 1.0 for e in asked.reconstruction_error)


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------
def test_free_energies_match_enumeration():
    """Checks eq-rbm-free-energy and eq-rbm-hidden-free-energy on every state."""
    check_free_energies()


def test_log_partition_and_probabilities_match_enumeration():
    """Checks eq-rbm-logz-exact on both enumeration branches and eq-rbm-loglik's p(v)."""
    check_log_partition()


@pytest.mark.parametrize("T", TEMPERATURES)
def test_conditionals_are_exact_at_every_temperature(T):
    """Checks eq-rbm-conditionals at beta = 2, 1, 0.4."""
    check_conditionals(T)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_gibbs_leaves_p_T_invariant(T):
    """Checks eq-rbm-conditionals: block Gibbs from exact samples stays exact."""
    check_gibbs_stationary(T)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_gibbs_follows_the_exact_kernel(T):
    """Checks eq-rbm-conditionals through the exact law after 1 and 3 steps."""
    check_gibbs_transient(T)


@pytest.mark.parametrize("base", [False, True])
def test_ais_weights_are_unbiased(base):
    """Checks eq-rbm-ais-weight and eq-rbm-ais-estimate against the exact Z."""
    check_ais(base)


def test_exact_gradient_matches_finite_differences():
    """Checks eq-rbm-gradient against finite differences of eq-rbm-loglik."""
    check_exact_gradient()


@pytest.mark.parametrize("k", [1, 3])
def test_cd_estimate_has_its_exact_expectation(k):
    """Checks eq-rbm-cd: the estimator's expectation, computed exactly."""
    check_cd_expectation(k)


@pytest.mark.parametrize("k", [1, 2])
def test_cd_is_unbiased_at_the_model_distribution(k):
    """Checks eq-rbm-cd: unbiased when the data come from the model itself."""
    check_cd_unbiased_at_model(k)


def test_pcd_model_term_is_unbiased_from_stationary_chains():
    """Checks eq-rbm-pcd: stationary persistent chains estimate the model term without bias."""
    check_pcd_model_term()


def test_fit_moves_parameters_by_lr_times_gradient():
    """Checks eq-rbm-gradient in fit (CD, exact, momentum)."""
    check_fit_applies_the_gradient()


def test_pcd_fit_carries_its_chains_between_updates():
    """Checks eq-rbm-pcd in fit: the chains persist from one update to the next."""
    check_pcd_fit_carries_chains()


def test_reconstruction_error_is_a_per_pixel_mean():
    """Checks the reconstruction error of fit against its definition."""
    check_reconstruction_error()


def test_cd_with_many_steps_matches_exact_gradient():
    """Checks eq-rbm-gradient and eq-rbm-cd: with k = 40 steps the CD bias is below 1e-12 on
    this model (exact kernel power), so CD-40 estimates the exact gradient; tolerance 5 exact
    standard errors of the average over 45 000 chains."""
    rbm = random_rbm(4, 3, seed=9, scale=0.7)
    rows = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=F64)
    K40 = torch.linalg.matrix_power(visible_kernel(rbm), 40)
    assert float((K40 - joint_probs(rbm).sum(1)).abs().max()) < 1e-12
    n = 15_000
    est = rbm.log_likelihood_gradient(rows.repeat(n, 1), "cd", k=40,
                                      generator=torch.Generator().manual_seed(2))  # fmt: skip
    exact = rbm.log_likelihood_gradient(rows, "exact")
    for name, (_, var) in _cd_k_moments(rbm, rows, 40).items():
        assert_close_se(est[name], exact[name], torch.sqrt(var.sum(0) / (9 * n)), name)


def test_ais_custom_schedule_and_reproducible():
    """Checks eq-rbm-ais-path with a user schedule: a seeded run is reproducible and lies
    within 4 standard errors of the exact log Z."""
    rbm = random_rbm(6, 5, seed=3, scale=0.5)
    betas = torch.linspace(0, 1, 300, dtype=F64) ** 2
    a = rbm.log_partition_ais(50, betas=betas, generator=torch.Generator().manual_seed(4))
    b = rbm.log_partition_ais(50, betas=betas, generator=torch.Generator().manual_seed(4))
    assert float(a[0]) == float(b[0]) and float(a[1]) == float(b[1])
    assert abs(float(a[0]) - float(torch.logsumexp(-joint_table(rbm).flatten(), 0))) <= 4 * float(
        a[1]
    )


def test_ais_on_trained_digits_model_within_0_1_nats():
    """Checks eq-rbm-ais-estimate at the chapter's scale: a 64 x 16 digits RBM, AIS within 0.1
    nats of the exact log Z (and within its own error bar)."""
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


def check_pseudo_likelihood():
    """Checks eq-rbm-pl: log PL = sum_i log p(v_i | v_-i) with p from the joint table here."""
    rbm = random_rbm(5, 4, seed=11, scale=1.2)
    p = joint_probs(rbm).sum(1)  # itertools order
    V = all_states(5)
    codes = torch.arange(32)
    expected = torch.zeros(32, dtype=F64)
    for i in range(5):
        flipped = codes ^ (1 << (4 - i))  # unit i is digit 4 - i in itertools order
        expected += torch.log(p / (p + p[flipped]))
    torch.testing.assert_close(rbm.pseudo_likelihood(V, reduction="none"), expected)
    torch.testing.assert_close(
        rbm.pseudo_likelihood(V, reduction="none", chunk_elements=7), expected
    )
    torch.testing.assert_close(rbm.pseudo_likelihood(V), expected.mean())
    assert abs(float(rbm.pseudo_likelihood(V)) - float(rbm.log_likelihood(V))) > 0.1


def test_pseudo_likelihood_exact_over_all_bits():
    """Checks eq-rbm-pl against the joint table (check_pseudo_likelihood)."""
    check_pseudo_likelihood()


def check_log_likelihood():
    """Checks eq-rbm-loglik: reductions, and log Z given as a tensor, a float or an AIS pair."""
    rbm = random_rbm(6, 4, seed=3)
    V = binary_states(6)
    ll = rbm.log_likelihood(V, reduction="none")
    want = torch.log(joint_probs(rbm).sum(1))[state_number(V)]
    torch.testing.assert_close(ll, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(rbm.log_likelihood(V), ll.mean())
    torch.testing.assert_close(rbm.log_likelihood(V, reduction="sum"), ll.sum())
    lz = rbm.log_partition_exact()
    torch.testing.assert_close(rbm.log_likelihood(V, lz), ll.mean())
    torch.testing.assert_close(rbm.log_likelihood(V, float(lz)), ll.mean())
    torch.testing.assert_close(rbm.log_likelihood(V, (lz, torch.tensor(0.1))), ll.mean())


def test_log_likelihood_reductions_and_log_z_forms():
    """Checks eq-rbm-loglik and its reductions (check_log_likelihood)."""
    check_log_likelihood()


def check_model_expectations():
    """Checks eq-rbm-gradient's model term on both enumeration branches against the table."""
    for nv, nh in ((4, 6), (6, 4)):
        rbm = random_rbm(nv, nh, seed=8)
        P = joint_probs(rbm)
        V, H = all_states(nv), all_states(nh)
        evh, ev, eh = rbm.model_expectations_exact()
        torch.testing.assert_close(evh, V.T @ P @ H)
        torch.testing.assert_close(ev, P.sum(1) @ V)
        torch.testing.assert_close(eh, P.sum(0) @ H)


def test_model_expectations_both_enumeration_sides_agree():
    """Checks eq-rbm-gradient's exact model term (check_model_expectations)."""
    check_model_expectations()


def test_independent_baseline_equals_zero_weight_rbm():
    """Checks eq-rbm-loglik for W = 0: the independent-pixel model is the RBM with log-odds
    biases (one hidden unit with W = 0, c = 0 adds log 2 to F and log Z alike)."""
    X, _ = ebmlib.digits()
    train, test = X[:1000], X[1000:1300]
    rbm = RBM(64, 1, init_std=0.0, dtype=F64).init_visible_bias(train)
    expected = float(rbm.log_likelihood(test))
    assert float(independent_log_likelihood(train, test)) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(nv=st.integers(1, 6), nh=st.integers(1, 5), seed=st.integers(0, 10_000),
       scale=st.floats(0.1, 3.0))  # fmt: skip
def test_free_energy_is_brute_force_marginal(nv, nh, seed, scale):
    """Checks eq-rbm-free-energy and eq-rbm-hidden-free-energy over random models."""
    rbm = random_rbm(nv, nh, seed, scale)
    E = joint_table(rbm)
    torch.testing.assert_close(rbm.free_energy(all_states(nv)).detach(), -torch.logsumexp(-E, 1),
                               rtol=0, atol=1e-10)  # fmt: skip
    torch.testing.assert_close(rbm.hidden_free_energy(all_states(nh)).detach(),
                               -torch.logsumexp(-E, 0), rtol=0, atol=1e-10)  # fmt: skip


def test_free_energy_and_log_z_stable_for_large_weights():
    """Checks eq-rbm-free-energy and eq-rbm-logz-exact far from the origin (scale 300)."""
    rbm = random_rbm(5, 4, seed=7, scale=300.0)
    E = joint_table(rbm)
    f = rbm.free_energy(all_states(5)).detach()
    assert torch.isfinite(f).all()
    torch.testing.assert_close(f, -torch.logsumexp(-E, 1), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(
        rbm.log_partition_exact(), torch.logsumexp(-E.flatten(), 0), rtol=1e-12, atol=1e-9
    )


def test_energy_pairs_states_and_follows_dtypes():
    """Checks eq-rbm-energy: batches pair row by row, a single state pairs with every row,
    integer states take the other argument's dtype, and mismatched inputs raise clear errors."""
    rbm = random_rbm(4, 3, seed=5)
    W, b, c = params(rbm)
    V, H = all_states(4), all_states(3)
    E = joint_table(rbm)
    torch.testing.assert_close(rbm.energy(V, H[5].expand(16, 3)), E[:, 5])
    torch.testing.assert_close(rbm.energy(V, H[5]), E[:, 5])
    torch.testing.assert_close(rbm.energy(V[3], H), E[3])
    assert rbm.energy(V.long(), H[5].float()).dtype == torch.float32
    assert rbm.energy(V.long(), H[5].long()).dtype == F64
    with pytest.raises(ValueError, match="same number of states"):
        rbm.energy(V[:3], H[:2])
    with pytest.raises(TypeError, match="dtype"):
        rbm.energy(V.float(), H[5])
    with pytest.raises(ValueError, match="h must have last dimension"):
        rbm.energy(V, torch.zeros(16, 4, dtype=F64))


# ------------------------------------------------------------------------------------------------
# Training results (the chapter's claims)
# ------------------------------------------------------------------------------------------------
def test_bars_and_stripes_exact_training_reaches_optimum_and_cd10_beats_cd1():
    """Checks the chapter's bars-and-stripes numbers against the optimum -log 14 (eq-rbm-loglik):
    exact-gradient training reaches at least -2.66 (optimum -2.639) and, with the same budget,
    CD-10 ends more than 0.2 nats above CD-1 (about 0.5 on four seeds)."""
    data = ebmlib.bars_and_stripes(3)
    assert data.shape == (14, 9)
    results = {}
    for method, k in (("exact", 1), ("cd", 1), ("cd", 10)):
        rbm = RBM(9, 16, init_std=0.1, generator=torch.Generator().manual_seed(0))
        if method == "exact":
            rbm.fit(data, method="exact", epochs=1500, lr=0.1, batch_size=14, momentum=0.9,
                    generator=torch.Generator().manual_seed(1))  # fmt: skip
        else:
            rbm.fit(data, method="cd", k=k, epochs=2000, lr=0.3, batch_size=14, momentum=0.5,
                    lr_schedule="linear", generator=torch.Generator().manual_seed(1))  # fmt: skip
        results[(method, k)] = float(rbm.log_likelihood(data))  # checked elsewhere
    assert -math.log(14) >= results[("exact", 1)] >= -2.66
    assert results[("cd", 10)] > results[("cd", 1)] + 0.2


def test_digits_beats_sklearn_default_and_independent_pixels():
    """Checks the chapter's digits claim with exact test log-likelihoods (eq-rbm-logz-exact):
    ebmlib's 64 x 16 RBM (CD-1, momentum, 10 epochs) against scikit-learn's BernoulliRBM with
    16 components and otherwise default settings, and against independent pixels."""
    sklearn_rbm = pytest.importorskip("sklearn.neural_network")
    X, _ = ebmlib.digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    train, test = X[perm[:1437]], X[perm[1437:]]
    sk = sklearn_rbm.BernoulliRBM(n_components=16, random_state=0).fit(train.double().numpy())
    peer = RBM(64, 16, dtype=F64)
    with torch.no_grad():
        peer.W.copy_(torch.from_numpy(sk.components_.T))
        peer.b.copy_(torch.from_numpy(sk.intercept_visible_))
        peer.c.copy_(torch.from_numpy(sk.intercept_hidden_))
    ours = RBM(64, 16, init_std=0.3, generator=torch.Generator().manual_seed(0))
    ours.fit(train, k=1, epochs=10, lr=0.5, batch_size=100, momentum=0.5,
             lr_schedule="linear", generator=torch.Generator().manual_seed(1))  # fmt: skip
    ll_ours = float(ours.log_likelihood(test))
    assert ll_ours >= float(peer.log_likelihood(test))
    assert ll_ours > float(independent_log_likelihood(train, test))


def test_pcd_high_constant_lr_is_worse_than_decayed():
    """Checks the chapter's PCD pitfall on bars-and-stripes (eq-rbm-pcd): with a high constant
    learning rate the exact log-likelihood ends more than 0.5 nats below a decayed rate."""
    data = ebmlib.bars_and_stripes(3)
    out = {}
    for sched in ("constant", "linear"):
        rbm = RBM(9, 16, init_std=0.1, generator=torch.Generator().manual_seed(0))
        rbm.fit(data, method="pcd", epochs=1500, lr=0.3, batch_size=14, n_chains=14,
                lr_schedule=sched, generator=torch.Generator().manual_seed(1))  # fmt: skip
        out[sched] = float(rbm.log_likelihood(data))
    assert out["constant"] < out["linear"] - 0.5


def test_fit_history_monitor_and_callback():
    """Checks fit's contract: an RBMHistory (a Result) with one entry per epoch, the exact
    monitored log-likelihood every monitor_every epochs (NaN between), callback values in
    extra, cumulative times; the monitored value equals the enumeration here."""
    data = ebmlib.bars_and_stripes(3)
    rbm = RBM(9, 8, init_std=0.1, generator=torch.Generator().manual_seed(0))
    hist = rbm.fit(data, method="pcd", k=1, epochs=200, lr=0.05, batch_size=14, momentum=0.5,
                   n_chains=50, monitor=data, monitor_every=50,
                   callback=lambda m, e: {"norm": float(m.W.detach().norm())},
                   generator=torch.Generator().manual_seed(1))  # fmt: skip
    assert isinstance(hist, RBMHistory) and isinstance(hist, Result)
    assert hist.epoch == list(range(1, 201)) and len(hist.extra["norm"]) == 200
    lls = [x for x in hist["log_likelihood"] if not math.isnan(x)]
    assert len(lls) == 4
    assert lls[-1] == pytest.approx(float(log_likelihood(*params(rbm), data.double())), abs=1e-9)
    assert hist.time == sorted(hist.time) and hist.lr == [0.05] * 200


def test_fit_stops_when_weights_stop_being_finite():
    """Checks that fit never returns a model with non-finite weights: a weight that becomes
    NaN (here planted before training) stops fit after the epoch with a FloatingPointError.
    (With CD the gradient entries lie in [-1, 1] and the conditionals saturate, so even a
    learning rate of 1e38 leaves float32 weights finite; it cannot be used to provoke this.)"""
    data = ebmlib.bars_and_stripes(3)
    rbm = RBM(9, 8, init_std=1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        rbm.W[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match="diverged at epoch 1.*lower lr"):
        rbm.fit(data, method="cd", epochs=5, lr=0.1, batch_size=14,
                generator=torch.Generator().manual_seed(1))  # fmt: skip


def test_generator_none_uses_the_global_generator():
    """Checks the randomness policy: without a generator, weights and samples come from torch's
    global generator, so torch.manual_seed reproduces them and another seed changes them."""

    def run(seed):
        torch.manual_seed(seed)
        rbm = RBM(6, 4)
        v = rbm.gibbs(torch.zeros(20, 6), k=3)
        hist = rbm.fit(torch.ones(10, 6), method="pcd", epochs=2, batch_size=5)
        return rbm.W.detach().clone(), v, hist.lr

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_binary_states_order_and_deprecated_alias():
    """Checks the enumeration behind eq-rbm-logz-exact: all 2^n rows, unit j is bit j, and the
    deprecated enumerate_states warns and returns the same rows; one size limit (24)."""
    s = binary_states(3)
    assert s.shape == (8, 3)
    assert torch.equal(s[5], torch.tensor([1.0, 0.0, 1.0], dtype=F64))
    with pytest.warns(DeprecationWarning, match="binary_states"):
        old = rbm_module.enumerate_states(4, 3, 6)
    torch.testing.assert_close(old, binary_states(4)[3:6])
    assert rbm_module.MAX_EXACT_UNITS == 24
    with pytest.raises(ValueError, match="log_partition_ais"):
        RBM(30, 25).log_partition_exact()


# ------------------------------------------------------------------------------------------------
# Plumbing and bad input
# ------------------------------------------------------------------------------------------------
def test_state_dict_round_trip_and_dtypes():
    """Checks eq-rbm-free-energy after save/load, and that a float32 model follows a float64
    input (integer input is accepted)."""
    rbm = random_rbm(7, 5, seed=6)
    buf = io.BytesIO()
    torch.save(rbm.state_dict(), buf)
    buf.seek(0)
    other = RBM(7, 5, dtype=F64)
    other.load_state_dict(torch.load(buf))
    V = binary_states(7)
    assert torch.equal(rbm.free_energy(V), other.free_energy(V))
    assert set(rbm.state_dict()) == {"W", "b", "c"}
    small = RBM(4, 3, generator=torch.Generator().manual_seed(0))
    v = binary_states(4)
    assert small.free_energy(v).dtype == F64
    torch.testing.assert_close(small.free_energy(v.long()), small.free_energy(v.float()))


def test_gibbs_is_reproducible_and_k0_is_identity():
    """Checks eq-rbm-conditionals sampling plumbing: same seed, same chain; k = 0 returns v."""
    rbm = random_rbm(6, 4, seed=1)
    v = binary_states(6)[:10]
    a = rbm.gibbs(v, 5, generator=torch.Generator().manual_seed(3), T=0.7)
    b = rbm.gibbs(v, 5, generator=torch.Generator().manual_seed(3), T=0.7)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(rbm.gibbs(v, 0), v)


def test_draw_gibbs_chain_returns_axes():
    """Checks the chapter-7 demo: draws k-step chain means (k = 0 shows the start states)."""
    rbm = random_rbm(9, 4, seed=0)
    ax = draw_gibbs_chain(rbm, k=3, n_chains=4)
    assert "k = 3" in ax.get_title()
    start = binary_states(9)[:4]
    ax0 = draw_gibbs_chain(rbm, k=0, start=start)
    img = ax0.images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img[:3, :3]), start[0].reshape(3, 3).numpy())
    with pytest.raises(ValueError, match="shape"):
        draw_gibbs_chain(random_rbm(5, 2), k=1)


def test_bad_inputs():
    """Checks argument validation: errors name the argument (no bare torch errors)."""
    rbm = RBM(4, 3)
    data = torch.tensor([[0.0, 1, 1, 0], [1, 1, 0, 0]])
    cases = [
        (lambda: RBM(0, 3), ValueError, "n_visible"),
        (lambda: RBM(3, 2.5), TypeError, "n_hidden"),
        (lambda: rbm.free_energy(torch.zeros(2, 5)), ValueError, "v"),
        (lambda: rbm.free_energy([[0, 1, 0, 1]]), TypeError, "v"),
        (
            lambda: rbm.free_energy(torch.tensor([[0.0, float("nan"), 0, 1]])),
            ValueError,
            "finite",
        ),  # fmt: skip
        (lambda: rbm.sample_v(torch.zeros(2, 4)), ValueError, "h"),
        (lambda: rbm.sample_h(torch.zeros(2, 4), T=0.0), ValueError, "T"),
        (lambda: rbm.gibbs(torch.zeros(2, 4), T=-1.0), ValueError, "T"),
        (lambda: rbm.gibbs(torch.zeros(2, 4), k=-1), ValueError, "k"),
        (lambda: rbm.sample_h(torch.zeros(2, 4), generator=0), TypeError, "generator"),
        (lambda: rbm.fit(data * 0.5), ValueError, "data"),
        (lambda: rbm.fit(torch.tensor([[0.0, float("nan"), 1, 0]])), ValueError, "data"),
        (lambda: rbm.fit(data, method="sgd"), ValueError, "method"),
        (lambda: rbm.fit(data, lr=0.0), ValueError, "lr"),
        (lambda: rbm.fit(data, momentum=1.0), ValueError, "momentum"),
        (lambda: rbm.fit(data, batch_size=0), ValueError, "batch_size"),
        (lambda: rbm.fit(data, lr_schedule="cosine"), ValueError, "lr_schedule"),
        (lambda: rbm.fit(data, monitor=torch.zeros(2, 3)), ValueError, "monitor"),
        (lambda: rbm.fit(data, callback=3), TypeError, "callback"),
        (lambda: rbm.log_likelihood(torch.full((2, 4), 0.5)), ValueError, "data"),
        (lambda: rbm.log_likelihood(data, torch.zeros(2)), ValueError, "log_z"),
        (lambda: rbm.log_likelihood_gradient(data, method="pcd"), ValueError, "method"),
        (lambda: rbm.log_likelihood_gradient(torch.zeros(2, 5)), ValueError, "data"),
        (lambda: rbm.pseudo_likelihood(data, reduction="max"), ValueError, "reduction"),
        (lambda: rbm.log_partition_ais(10, betas=torch.tensor([0.0, 0.5])), ValueError, "betas"),
        (lambda: rbm.log_partition_ais(10, n_betas=1), ValueError, "n_betas"),
        (lambda: RBM(30, 26).fit(torch.zeros(2, 30), method="exact"), ValueError, "exact"),
    ]
    for call, exc, word in cases:
        with pytest.raises(exc, match=word):
            call()


@settings(max_examples=20, deadline=None)
@given(
    value=st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(
        lambda x: x not in (0.0, 1.0)
    ),
    row=st.integers(0, 2),
    col=st.integers(0, 3),
)
def test_non_binary_data_rejected(value, row, col):
    """Checks that eq-rbm-loglik, eq-rbm-gradient and eq-rbm-pl refuse data outside {0, 1}."""
    rbm = RBM(4, 3)
    data = torch.tensor([[0.0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
    data[row, col] = value
    for call in (
        lambda: rbm.fit(data, epochs=1),
        lambda: rbm.log_likelihood(data),
        lambda: rbm.pseudo_likelihood(data),
        lambda: rbm.log_likelihood_gradient(data),
    ):
        with pytest.raises(ValueError, match="data"):
            call()


def test_no_deprecation_warning_on_the_main_paths():
    """Checks that the library's own paths use the current names (no DeprecationWarning)."""
    rbm = random_rbm(5, 3, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        rbm.log_partition_exact()
        rbm.probabilities_exact()
        rbm.fit(binary_states(5), method="exact", epochs=1, batch_size=32)


# ------------------------------------------------------------------------------------------------
# CUDA
# ------------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_matches_cpu():
    """Checks eq-rbm-free-energy and eq-rbm-logz-exact on CUDA: same values as on the CPU."""
    rbm = random_rbm(8, 6, seed=1)
    V = binary_states(8)
    cuda = RBM(8, 6, dtype=F64, device="cuda")
    cuda.load_state_dict(rbm.state_dict())
    torch.testing.assert_close(cuda.free_energy(V.cuda()).cpu(), rbm.free_energy(V))
    torch.testing.assert_close(cuda.log_partition_exact().cpu(), rbm.log_partition_exact())
    torch.testing.assert_close(cuda.pseudo_likelihood(V.cuda()).cpu(), rbm.pseudo_likelihood(V))


@pytest.mark.cuda
def test_cuda_samplers_fit_and_ais():
    """Checks eq-rbm-conditionals, eq-rbm-pcd and eq-rbm-ais-estimate on CUDA: Gibbs chains on
    the GPU from exact samples stay exact at two temperatures, PCD training stays on the
    device, and AIS agrees with the exact log Z."""
    rbm = random_rbm(4, 3, seed=21)
    cuda = RBM(4, 3, dtype=F64, device="cuda")
    cuda.load_state_dict(rbm.state_dict())
    g = torch.Generator(device="cuda").manual_seed(0)
    for T in (0.5, 2.5):
        P = joint_probs(rbm, T)
        v = exact_samples(P.sum(1), 4, 20_000, torch.Generator().manual_seed(1)).cuda()
        out = cuda.gibbs(v, k=2, generator=g, T=T)
        assert out.is_cuda
        assert_fits(state_number(out.cpu()), P.sum(1), f"CUDA gibbs at T={T}")
    data = ebmlib.bars_and_stripes(3).cuda()
    model = RBM(9, 8, init_std=0.1, device="cuda")
    hist = model.fit(data, method="pcd", epochs=50, lr=0.05, batch_size=14, generator=g)
    assert model.W.is_cuda and len(hist.epoch) == 50
    est, se = model.log_partition_ais(200, 500, generator=g)
    assert abs(float(est) - float(model.log_partition_exact())) <= 4 * float(se) + 1e-3
