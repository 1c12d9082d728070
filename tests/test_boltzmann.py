"""Tests of ebmlib.boltzmann (chapter 6): exact enumeration, Gibbs sampling, learning, annealing.

Equation labels (``book/part3/boltzmann.ipynb``): ``eq-boltzmann-energy`` (6.1),
``eq-boltzmann-distribution`` (6.2), ``eq-boltzmann-conditional`` (6.3),
``eq-boltzmann-detailed-balance`` (6.4), ``eq-boltzmann-stationary`` (6.5),
``eq-boltzmann-ising`` (6.6), ``eq-boltzmann-loglik`` (6.7), ``eq-boltzmann-rule`` (6.8).

The reference answers are computed here, from the definitions, without the library's exact
routines: states are listed with ``itertools.product`` (in its own order, unit 0 the leading
digit), energies summed from ``W`` and ``b``, Markov kernels built state by state.

Statistical checks use fixed seeds and tolerances derived from the sample size:

* distributions: Pearson's chi-square statistic of the counts of ``N`` independent samples
  against the exact probabilities (cells with an expected count below 5 pooled), compared with
  the chi-square law; a check fails when its p-value is below ``1e-6``;
* means: ``|mean - exact| <= 5 standard errors``, the standard error estimated from the
  samples themselves (``std / sqrt(N)``) or, where stated, from the spread of independent
  group means.

The ``check_*`` functions are the checks themselves; the tests call them and
``tests/test_wrong_variants_part3.py`` calls the same functions on deliberately wrong
implementations, each of which must make a check fail.
"""

from __future__ import annotations

import io
import itertools
import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from ebmlib import boltzmann as bz
from ebmlib.boltzmann import (
    AnnealResult,
    BoltzmannHistory,
    BoltzmannMachine,
    anneal,
    binary_states,
    demo_machine,
    draw_distribution,
    empirical_distribution,
    geometric_schedule,
    kl_divergence,
    spin_glass,
    state_index,
)
from ebmlib.utils import Result

F64 = torch.float64
ALPHA = 1e-6  # false-alarm probability of one distributional check
Z = 5.0  # standard errors allowed for a mean
TEMPERATURES = (0.5, 1.0, 2.5)  # beta = 2, 1, 0.4


# ------------------------------------------------------------------------------------------------
# Independent exact reference (from the definitions, not from the library)
# ------------------------------------------------------------------------------------------------
def all_states(n: int) -> torch.Tensor:
    """Every state of n binary units, in itertools order (unit 0 is the leading digit)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=F64).reshape(-1, n)


def state_number(s: torch.Tensor) -> torch.Tensor:
    """Row number of each state in :func:`all_states`."""
    n = s.shape[-1]
    return (s.round().long() * (2 ** torch.arange(n - 1, -1, -1))).sum(-1)


def energies(W: torch.Tensor, b: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """E(s) = -sum_{i<j} W_ij s_i s_j - sum_i b_i s_i, eq-boltzmann-energy."""
    n = S.shape[1]
    iu = torch.triu_indices(n, n, 1)
    pairs = S[:, iu[0]] * S[:, iu[1]]
    return -(pairs @ W[iu[0], iu[1]]) - S @ b


def params(bm: BoltzmannMachine) -> tuple[torch.Tensor, torch.Tensor]:
    return bm.W.detach().to(F64).cpu(), bm.bias.detach().to(F64).cpu().clone()


def exact_probs(bm: BoltzmannMachine, T: float = 1.0) -> torch.Tensor:
    """p_T over all_states(n), eq-boltzmann-distribution."""
    W, b = params(bm)
    e = energies(W, b, all_states(bm.n_units)) + float(bm.energy_offset)
    return torch.softmax(-e / T, 0)


def exact_moments(p: torch.Tensor, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return p @ S, (S * p[:, None]).T @ S


def exact_samples(p: torch.Tensor, n: int, N: int, gen: torch.Generator) -> torch.Tensor:
    """N independent exact draws from p over all_states(n)."""
    return all_states(n)[torch.multinomial(p, N, replacement=True, generator=gen)]


def site_kernel(W: torch.Tensor, b: torch.Tensor, i: int, T: float, S: torch.Tensor):
    """Heat-bath update of unit i over the states S (rows), built state by state."""
    K = S.shape[0]
    P = torch.zeros(K, K, dtype=F64)
    q = torch.sigmoid((S @ W[:, i] + b[i]) / T)  # eq-boltzmann-conditional
    for a in range(K):
        on, off = S[a].clone(), S[a].clone()
        on[i], off[i] = 1.0, 0.0
        P[a, int(state_number(on[None])[0])] += q[a]
        P[a, int(state_number(off[None])[0])] += 1 - q[a]
    return P


def sweep_kernel(bm: BoltzmannMachine, T: float, order: str = "sequential") -> torch.Tensor:
    """Exact kernel of one sweep: P_0 P_1 ... P_{n-1}, or its average over all visiting orders."""
    W, b = params(bm)
    n = bm.n_units
    S = all_states(n)
    kernels = [site_kernel(W, b, i, T, S) for i in range(n)]
    orders = [range(n)] if order == "sequential" else itertools.permutations(range(n))
    total, count = torch.zeros(2**n, 2**n, dtype=F64), 0
    for perm in orders:
        P = torch.eye(2**n, dtype=F64)
        for i in perm:
            P = P @ kernels[i]
        total, count = total + P, count + 1
    return total / count


def log_likelihood(W: torch.Tensor, b: torch.Tensor, nv: int, data: torch.Tensor) -> torch.Tensor:
    """Mean exact log p(v) of the rows of data, eq-boltzmann-loglik (differentiable)."""
    n = b.shape[0]
    S = all_states(n)
    logp = torch.log_softmax(-energies(W, b, S), 0)
    vis = state_number(S[:, :nv])  # visible part of each joint state
    log_pv = torch.stack([torch.logsumexp(logp[vis == k], 0) for k in range(2**nv)])
    return log_pv[state_number(data)].mean()


def machine(nv: int, nh: int, seed: int, scale: float = 1.0) -> BoltzmannMachine:
    g = torch.Generator().manual_seed(seed)
    bm = BoltzmannMachine(nv, nh, init_std=scale, generator=g, dtype=F64)
    with torch.no_grad():
        bm.bias.copy_(torch.randn(nv + nh, generator=g, dtype=F64) * scale)
    return bm


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------
def chi2_pvalue(index: torch.Tensor, p: torch.Tensor) -> float:
    """p-value of Pearson's chi-square test of the sample (state numbers) against p."""
    N = index.numel()
    counts = torch.bincount(index.reshape(-1).cpu(), minlength=p.numel()).to(F64)
    expected = N * p.cpu()
    small = expected < 5
    obs = torch.cat([counts[~small], counts[small].sum()[None]])
    exp = torch.cat([expected[~small], expected[small].sum()[None]])
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    if bool((counts[expected == 0] > 0).any()):
        return 0.0  # a state of probability zero was sampled
    stat = float(((obs - exp) ** 2 / exp).sum())
    return float(sps.chi2.sf(stat, obs.numel() - 1))


def assert_fits(states: torch.Tensor, p: torch.Tensor, what: str) -> None:
    pval = chi2_pvalue(state_number(states.to(F64).cpu()), p)
    assert pval > ALPHA, f"{what}: chi-square p-value {pval:.2e} < {ALPHA:g}"


def assert_close_se(est: torch.Tensor, exact: torch.Tensor, se: torch.Tensor, what: str):
    """|est - exact| <= Z se, entrywise (an entry with se = 0 must be exact)."""
    err = (est.to(F64).cpu() - exact.to(F64).cpu()).abs()
    tol = Z * se.to(F64).cpu() + 1e-12
    worst = float((err / tol).max())
    assert bool((err <= tol).all()), f"{what}: error up to {worst:.2f} x {Z:g} standard errors"


# ------------------------------------------------------------------------------------------------
# Checks (used by the tests below and by tests/test_wrong_variants_part3.py)
# ------------------------------------------------------------------------------------------------
def check_gibbs_stationary(T: float, order: str = "sequential", seed: int = 0) -> None:
    """eq-boltzmann-stationary: chains started from exact samples of p_T stay exactly p_T-
    distributed after each sweep (3 visible + 2 hidden units, 20 000 chains)."""
    bm = machine(3, 2, seed=10 + seed)
    p = exact_probs(bm, T)
    g = torch.Generator().manual_seed(100 + seed)
    s = exact_samples(p, 5, 20_000, g)
    for k in (1, 2):
        s = bm.gibbs(s, T=T, sweeps=1, generator=g, order=order)
        assert_fits(s, p, f"Gibbs ({order}) at T={T}, sweep {k} from p_T")


def check_gibbs_transient(T: float, order: str = "sequential") -> None:
    """eq-boltzmann-conditional: from one start state, the law after 1 and 2 sweeps is the
    exact p_0 P^k of the sweep kernel built state by state here.

    With ``order="random"`` one visiting order is drawn per sweep and shared by the whole batch,
    so the chains of one call follow the kernel of that order: the sample of one sweep must fit
    the kernel of one of the 4! orders (the best p-value over the 24 orders must pass; the
    Bonferroni factor 24 is kept in the threshold)."""
    bm = machine(4, 0, seed=20, scale=1.2)
    g = torch.Generator().manual_seed(21)
    N = 20_000
    s = torch.zeros(N, 4, dtype=F64)
    p = torch.zeros(16, dtype=F64)
    p[0] = 1.0
    if order == "sequential":
        P = sweep_kernel(bm, T)
        for k in (1, 2):
            s = bm.gibbs(s, T=T, sweeps=1, generator=g)
            p = p @ P
            assert_fits(s, p, f"Gibbs (sequential) at T={T}, {k} sweeps from all-off")
        return
    W, b = params(bm)
    S = all_states(4)
    kernels = [site_kernel(W, b, i, T, S) for i in range(4)]
    for k in (1, 2):
        s_new = bm.gibbs(s, T=T, sweeps=1, generator=g, order="random")
        best = 0.0
        for perm in itertools.permutations(range(4)):
            P = torch.eye(16, dtype=F64)
            for i in perm:
                P = P @ kernels[i]
            q = torch.zeros(16, dtype=F64)  # law after this sweep, given the states before it
            for a, cnt in enumerate(torch.bincount(state_number(s), minlength=16).tolist()):
                q += cnt / N * P[a]
            best = max(best, chi2_pvalue(state_number(s_new), q))
        assert best > ALPHA / 24, f"Gibbs (random) at T={T}, sweep {k}: no order fits ({best:.1e})"
        s = s_new


def check_gibbs_clamped(T: float) -> None:
    """eq-boltzmann-conditional with clamped units: sweeping only the hidden units keeps the
    visible ones and leaves the exact posterior p_T(h | v) invariant."""
    bm = machine(2, 3, seed=30)
    p = exact_probs(bm, T).reshape(4, 8)  # [v, h] in itertools order (visible digits first)
    v = torch.tensor([1.0, 0.0], dtype=F64)
    post = p[int(state_number(v[None])[0])]
    post = post / post.sum()
    g = torch.Generator().manual_seed(31)
    N = 20_000
    h = exact_samples(post, 3, N, g)
    s = torch.cat([v.expand(N, 2), h], 1)
    out = bm.gibbs(s, T=T, sweeps=2, generator=g, units=[2, 3, 4])
    assert torch.equal(out[:, :2], s[:, :2]), "clamped units changed"
    assert_fits(out[:, 2:], post, f"clamped Gibbs at T={T}")


def check_anneal_constant(T: float, callable_energy: bool = False) -> None:
    """anneal at a constant schedule is Gibbs sampling at that T: from exact samples of p_T the
    final states are p_T-distributed (the machine, or the same energy given as a callable)."""
    bm = machine(4, 0, seed=40)
    p = exact_probs(bm, T)
    g = torch.Generator().manual_seed(41)
    s = exact_samples(p, 4, 10_000, g)
    target = (lambda x: bm.energy(x)) if callable_energy else bm
    res = bz.anneal(target, [T, T], states=s, generator=g)
    assert_fits(res.states, p, f"anneal at constant T={T} (callable={callable_energy})")
    torch.testing.assert_close(res.energies, bm.energy(res.states))


def check_anneal_ground_state() -> None:
    """Annealing minimises eq-boltzmann-energy: on a 12-spin SK glass a slow schedule reaches the
    exact ground energy, and the best state of each chain is the lowest one it visited."""
    g = torch.Generator().manual_seed(50)
    bm = BoltzmannMachine.from_ising(spin_glass(12, generator=g))
    W, b = params(bm)
    e_min = float(energies(W, b, all_states(12)).min()) + float(bm.energy_offset)
    start = bm.random_state(16, generator=g)
    res = bz.anneal(bm, geometric_schedule(3.0, 0.05, 200), states=start, keep_energies=True,
                 generator=g)  # fmt: skip
    assert float(res.best_energies.min()) == pytest.approx(e_min, abs=1e-9)
    seen = torch.cat([bm.energy(start)[None], res.trace["energies"]]).min(0).values
    torch.testing.assert_close(res.best_energies, seen)
    torch.testing.assert_close(bm.energy(res.best_states), res.best_energies)
    assert bool((res.energies >= e_min - 1e-9).all())


def check_model_statistics_sampled(T: float) -> None:
    """eq-boltzmann-rule, free phase by sampling: one sweep of chains that start from exact
    samples gives unbiased <s_i> and <s_i s_j> (standard errors from the samples)."""
    bm = machine(4, 1, seed=60)
    p = exact_probs(bm, T)
    m_ex, c_ex = exact_moments(p, all_states(5))
    g = torch.Generator().manual_seed(61)
    N = 20_000
    s0 = exact_samples(p, 5, N, g)
    m, c = bm.model_statistics(T, method="gibbs", states=s0, sweeps=1, generator=g)
    sd = torch.sqrt(c_ex * (1 - c_ex))  # per-chain s_i s_j is 0/1 with mean c_ex
    assert_close_se(c, c_ex, sd / math.sqrt(N), f"sampled <s_i s_j> at T={T}")
    assert_close_se(m, m_ex, torch.sqrt(m_ex * (1 - m_ex) / N), f"sampled <s_i> at T={T}")


def _hidden_law_after_sweeps(bm: BoltzmannMachine, v: torch.Tensor, sweeps: int):
    """Exact law of the hidden units after `sweeps` clamped sweeps from a uniform start."""
    W, b = params(bm)
    nv, nh = bm.n_visible, bm.n_hidden
    H = all_states(nh)
    S = torch.cat([v.expand(2**nh, nv), H], 1)
    q = torch.full((2**nh,), 1 / 2**nh, dtype=F64)
    for _ in range(sweeps):
        for i in range(nv, nv + nh):  # the kernel of unit i restricted to this v
            on = torch.sigmoid(S @ W[:, i] + b[i])
            new = torch.zeros_like(q)
            for a in range(2**nh):
                h1, h0 = H[a].clone(), H[a].clone()
                h1[i - nv], h0[i - nv] = 1.0, 0.0
                new[int(state_number(h1[None])[0])] += q[a] * on[a]
                new[int(state_number(h0[None])[0])] += q[a] * (1 - on[a])
            q = new
    return q, S


def check_data_statistics_sampled() -> None:
    """eq-boltzmann-rule, clamped phase by sampling: the estimate averages to its exact
    expectation (hidden chains from a uniform start, 3 sweeps, law computed state by state);
    the standard error is the spread of 40 independent group estimates."""
    bm = machine(2, 2, seed=70, scale=1.5)
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=F64)
    data = rows.repeat(300, 1)  # 900 rows per group
    sweeps = 3
    mean_ex = torch.zeros(4, dtype=F64)
    corr_ex = torch.zeros(4, 4, dtype=F64)
    for v in rows:
        q, S = _hidden_law_after_sweeps(bm, v, sweeps)
        m, c = exact_moments(q, S)
        mean_ex += m / 3
        corr_ex += c / 3
    g = torch.Generator().manual_seed(71)
    groups = [bm.data_statistics(data, method="gibbs", sweeps=sweeps, generator=g)
              for _ in range(40)]  # fmt: skip
    means = torch.stack([m for m, _ in groups])
    corrs = torch.stack([c for _, c in groups])
    se_m = means.std(0) / math.sqrt(40)
    se_c = corrs.std(0) / math.sqrt(40)
    assert_close_se(means.mean(0), mean_ex, se_m, "sampled clamped <s_i>")
    assert_close_se(corrs.mean(0), corr_ex, se_c, "sampled clamped <s_i s_j>")


def check_gradient_finite_differences(nv: int, nh: int) -> None:
    """eq-boltzmann-rule is the gradient of eq-boltzmann-loglik: against central finite
    differences of the log-likelihood computed here by enumeration (float64)."""
    bm = machine(nv, nh, seed=80 + nh, scale=0.7)
    g = torch.Generator().manual_seed(81)
    data = (torch.rand(40, nv, generator=g) < 0.4).to(F64)
    dW, db = bm.gradient(data)
    W, b = params(bm)
    n, eps = nv + nh, 1e-5
    for i, j in itertools.combinations(range(n), 2):
        E = torch.zeros(n, n, dtype=F64)
        E[i, j] = E[j, i] = eps
        fd = (log_likelihood(W + E, b, nv, data) - log_likelihood(W - E, b, nv, data)) / (2 * eps)
        assert float(dW[i, j]) == pytest.approx(float(fd), abs=1e-7), f"coupling {i},{j}"
        assert float(dW[j, i]) == float(dW[i, j])
    for i in range(n):
        e = torch.zeros(n, dtype=F64)
        e[i] = eps
        fd = (log_likelihood(W, b + e, nv, data) - log_likelihood(W, b - e, nv, data)) / (2 * eps)
        assert float(db[i]) == pytest.approx(float(fd), abs=1e-7), f"bias {i}"
    assert bool((torch.diagonal(dW) == 0).all())


def _fit_data() -> torch.Tensor:
    """60 rows on 4 units containing every state (the optimum is then finite)."""
    g = torch.Generator().manual_seed(90)
    extra = exact_samples(exact_probs(machine(4, 0, seed=91)), 4, 44, g)
    return torch.cat([all_states(4), extra])


def _optimum(data: torch.Tensor) -> float:
    """Maximum of the (concave) visible-only log-likelihood, by Newton's method on the
    enumerated log-likelihood."""
    n = data.shape[1]
    iu = torch.triu_indices(n, n, 1)
    theta = torch.zeros(n * (n - 1) // 2 + n, dtype=F64)

    m = iu.shape[1]

    def ll(t):
        W = torch.zeros(n, n, dtype=F64).index_put((iu[0], iu[1]), t[:m])
        return log_likelihood(W + W.T, t[m:], n, data)

    for _ in range(30):
        grad = torch.autograd.functional.jacobian(ll, theta)
        hess = torch.autograd.functional.hessian(ll, theta)
        theta = theta - torch.linalg.solve(hess, grad)
    assert float(torch.autograd.functional.jacobian(ll, theta).abs().max()) < 1e-12
    return float(ll(theta))


def check_fit_reaches_optimum() -> None:
    """eq-boltzmann-rule at its fixed point: a fully visible 4-unit machine trained by `fit`
    (exact statistics) reaches the maximum of eq-boltzmann-loglik found by Newton's method,
    and its model moments equal the data moments.

    The log-likelihood is concave with a Hessian bounded by K/4 (K = 10 statistics), so
    ascent with lr = 8/K = 0.8 never lowers it; 1000 updates converge to round-off (800 do
    here)."""
    data = _fit_data()
    best = _optimum(data)
    bm = BoltzmannMachine(4, dtype=F64)
    hist = bm.fit(data, epochs=1000, lr=0.8, method="exact")
    W, b = params(bm)
    assert float(log_likelihood(W, b, 4, data)) == pytest.approx(best, abs=1e-9)
    ll = hist.log_likelihood
    assert all(y >= x - 1e-12 for x, y in zip(ll, ll[1:], strict=False)), "ascent not monotone"
    m_data, c_data = data.mean(0), data.T @ data / data.shape[0]
    m_model, c_model = exact_moments(exact_probs(bm), all_states(4))
    torch.testing.assert_close(m_model, m_data, rtol=0, atol=1e-6)
    torch.testing.assert_close(c_model, c_data, rtol=0, atol=1e-6)


def _statistics_covariance(bm: BoltzmannMachine) -> torch.Tensor:
    """Covariance of the sufficient statistics (s_i, s_i s_j for i < j) under the model: the
    Fisher information of the fully visible machine."""
    n = bm.n_units
    S = all_states(n)
    iu = torch.triu_indices(n, n, 1)
    stats = torch.cat([S, S[:, iu[0]] * S[:, iu[1]]], 1)
    p = exact_probs(bm)
    mean = p @ stats
    return ((stats - mean) * p[:, None]).T @ (stats - mean)


def check_fit_sampled_near_optimum() -> None:
    """eq-boltzmann-rule with the free phase from 2000 persistent chains: after 400 updates at
    lr = 0.5 the exact log-likelihood is below the enumerated optimum only by the stationary
    noise of stochastic gradient ascent.

    Near the optimum an update is theta += lr (F (theta* - theta) + noise) with the Fisher
    matrix F (the covariance of the statistics) and noise covariance F / n_chains, so along an
    eigenvector of F (eigenvalue lam) the stationary variance is lr / (n_chains (2 - lr lam))
    and the mean excess 1/2 E[delta^T F delta] is sum_lam lr lam / (2 n_chains (2 - lr lam)).
    The excess is a weighted chi-square variable; 10 times its mean bounds it with a tail
    probability far below 1e-6. (The exact rule itself reaches the optimum to 1e-5.)"""
    data = _fit_data()
    best = _optimum(data)
    lr, n_chains = 0.5, 2000
    bm = BoltzmannMachine(4, dtype=F64)
    bm.fit(data, epochs=400, lr=lr, method="gibbs", n_chains=n_chains,
           generator=torch.Generator().manual_seed(92), track=False)  # fmt: skip
    W, b = params(bm)
    excess = best - float(log_likelihood(W, b, 4, data))
    lam = torch.linalg.eigvalsh(_statistics_covariance(bm))
    assert float((lr * lam).max()) < 2.0  # the noisy ascent is stable
    mean_excess = float((lr * lam / (2 * n_chains * (2 - lr * lam))).sum())
    assert 0.0 <= excess < 10 * mean_excess, (excess, mean_excess)


def check_fit_hidden_units() -> None:
    """eq-boltzmann-rule with hidden units on 3-bit parity (no fully visible machine can do
    better than KL = log 2): with lr = 0.25 <= 4/K (K = 15 statistics, |Hessian| <= K/2) each
    exact update raises eq-boltzmann-loglik, and after 1500 updates the KL is below half of
    log 2, which no fully visible machine reaches (0.21 nats here; the chapter's larger rate
    brings it below 0.1, see test_chapter_parity_needs_hidden_units)."""
    S = all_states(3)
    parity = S[S.sum(1) % 2 == 0]
    bm = BoltzmannMachine(3, 2, init_std=1.0, generator=torch.Generator().manual_seed(3),
                          dtype=F64)  # fmt: skip
    hist = bm.fit(parity, epochs=1500, lr=0.25)
    ll = hist.log_likelihood
    assert all(y >= x - 1e-12 for x, y in zip(ll, ll[1:], strict=False)), "ascent not monotone"
    W, b = params(bm)
    final = float(log_likelihood(W, b, 3, parity))
    assert final == pytest.approx(ll[-1], abs=1e-10)
    assert -math.log(4) - final < math.log(2) / 2  # KL to the uniform law on the 4 strings


def check_log_partition(T: float) -> None:
    """eq-boltzmann-distribution: log Z_T and p_T against the enumeration written here."""
    bm = machine(3, 3, seed=95, scale=1.5)
    W, b = params(bm)
    e = energies(W, b, all_states(6))
    assert float(bm.log_partition_exact(T)) == pytest.approx(
        float(torch.logsumexp(-e / T, 0)), rel=1e-12, abs=1e-12
    )
    p = bm.probabilities_exact(T)
    ours = p[state_index(all_states(6))]  # library order -> itertools order
    torch.testing.assert_close(ours, exact_probs(bm, T), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# The tests: samplers
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("order", ["sequential", "random"])
def test_gibbs_leaves_exact_distribution_invariant(T, order):
    """Checks eq-boltzmann-stationary at beta = 2, 1, 0.4 from exact samples (chi-square)."""
    check_gibbs_stationary(T, order)


@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("order", ["sequential", "random"])
def test_gibbs_follows_exact_transient(T, order):
    """Checks eq-boltzmann-conditional through the exact law after 1 and 2 sweeps."""
    check_gibbs_transient(T, order)


@pytest.mark.parametrize("T", [0.5, 2.5])
def test_gibbs_with_clamped_units_samples_the_posterior(T):
    """Checks eq-boltzmann-conditional with clamped visible units (posterior invariant)."""
    check_gibbs_clamped(T)


@pytest.mark.parametrize("T", [0.5, 2.5])
@pytest.mark.parametrize("callable_energy", [False, True])
def test_anneal_at_constant_temperature_samples_p_T(T, callable_energy):
    """Checks anneal's heat-bath steps (eq-boltzmann-conditional) at two temperatures."""
    check_anneal_constant(T, callable_energy)


def test_anneal_reaches_exact_ground_state():
    """Checks annealing against the enumerated minimum of eq-boltzmann-energy."""
    check_anneal_ground_state()


@pytest.mark.parametrize("T", [0.5, 2.5])
def test_sampled_model_statistics_are_unbiased(T):
    """Checks the free phase of eq-boltzmann-rule estimated by Gibbs sampling."""
    check_model_statistics_sampled(T)


def test_sampled_data_statistics_match_their_exact_expectation():
    """Checks the clamped phase of eq-boltzmann-rule estimated by Gibbs sampling."""
    check_data_statistics_sampled()


def test_sample_and_draw_distribution():
    """Checks eq-boltzmann-distribution through sample(): 60 sweeps from uniform starts of a
    5-unit machine are within 1e-9 of p_T in total variation (exact kernel), so the samples
    must pass the chi-square test; the demo draws labelled bars and dots."""
    bm = machine(5, 0, seed=5)
    T = 1.3
    P = sweep_kernel(bm, T)
    p = exact_probs(bm, T)
    p60 = torch.full_like(p, 1 / 32) @ torch.linalg.matrix_power(P, 60)
    assert 0.5 * float((p60 - p).abs().sum()) < 1e-9
    s = bm.sample(20_000, T=T, sweeps=60, generator=torch.Generator().manual_seed(6))
    assert_fits(s, p, "sample()")
    ax = draw_distribution(T=2.0, n_chains=500, sweeps=5)
    assert ax.get_xlabel() and ax.get_ylabel() == "probability"
    assert "T = 2" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 2


def test_gibbs_keeps_shape_dtype_input_and_is_reproducible():
    """Checks the bookkeeping of eq-boltzmann-conditional sampling: outputs are binary with the
    input's shape and dtype, the input is untouched, a seed fixes the run, and
    generator=None draws from torch's global generator (torch.manual_seed reproduces it)."""
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
    s0 = torch.zeros(50, 5, dtype=F64)
    a = bm.gibbs(s0, sweeps=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, bm.gibbs(s0, sweeps=5, generator=torch.Generator().manual_seed(3)))
    torch.manual_seed(4)
    a = bm.gibbs(s0, sweeps=5)
    torch.manual_seed(4)
    assert torch.equal(a, bm.gibbs(s0, sweeps=5))


# ------------------------------------------------------------------------------------------------
# The tests: learning
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nv,nh", [(4, 0), (3, 2)])
def test_learning_rule_is_gradient_of_log_likelihood(nv, nh):
    """Checks eq-boltzmann-rule against finite differences of eq-boltzmann-loglik."""
    check_gradient_finite_differences(nv, nh)


def test_fit_reaches_the_enumerated_optimum():
    """Checks eq-boltzmann-rule: ML fit of a visible-only machine reaches the exact optimum."""
    check_fit_reaches_optimum()


def test_fit_with_hidden_units_learns_parity():
    """Checks eq-boltzmann-rule with hidden units: monotone ascent and the parity fit."""
    check_fit_hidden_units()


def test_fit_gibbs_reaches_the_optimum_within_its_noise():
    """Checks the sampled rule (persistent chains, eq-boltzmann-rule) against the enumerated
    optimum of eq-boltzmann-loglik."""
    check_fit_sampled_near_optimum()


def test_fit_history_is_a_result_and_minibatches_keep_symmetry():
    """Checks the history type and that updates by eq-boltzmann-rule keep W symmetric with a
    zero diagonal (minibatches, weight decay); the KL of the history equals -H(p_data) - L."""
    g = torch.Generator().manual_seed(30)
    data = exact_samples(exact_probs(machine(4, 0, seed=30)), 4, 40, g)
    bm = BoltzmannMachine(4, 1, dtype=F64, generator=g)
    hist = bm.fit(data, epochs=5, lr=0.1, batch_size=8, weight_decay=0.01, generator=g)
    assert isinstance(hist, BoltzmannHistory) and isinstance(hist, Result)
    assert set(hist) == {"epoch", "corr_gap", "log_likelihood", "kl"}
    assert hist.epoch == [1, 2, 3, 4, 5] and hist["kl"] == hist.kl
    assert torch.equal(bm.weight.detach(), bm.weight.detach().T)
    assert bool((torch.diagonal(bm.weight.detach()) == 0).all())
    emp = empirical_distribution(data)
    entropy = -float((emp[emp > 0] * emp[emp > 0].log()).sum())
    assert hist.kl[-1] == pytest.approx(-entropy - hist.log_likelihood[-1], abs=1e-10)
    untracked = BoltzmannMachine(4, dtype=F64).fit(data, epochs=2, track=False)
    assert untracked.log_likelihood == [] and len(untracked.corr_gap) == 2


@pytest.mark.parametrize("lr", [10.0, 1e3, 1e300])
def test_fit_reports_divergence(lr):
    """Checks that eq-boltzmann-rule ascent at a learning rate far too large stops with a clear
    FloatingPointError instead of returning a -inf or NaN log-likelihood."""
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(50, 5, generator=g) < 0.3).to(F64)
    with pytest.raises(FloatingPointError, match="diverged.*lower lr"):
        BoltzmannMachine(5, dtype=F64).fit(data, epochs=30, lr=lr)
    with pytest.raises(FloatingPointError, match="diverged"):
        BoltzmannMachine(18, dtype=F64).fit(torch.ones(4, 18, dtype=F64), epochs=3, lr=1e308,
                                            n_chains=10, generator=g)  # fmt: skip


def test_default_init_uses_the_global_generator():
    """Checks the start of eq-boltzmann-rule: hidden units start from small random symmetric
    weights drawn from torch's global generator (torch.manual_seed reproduces them, another
    seed changes them); visible-only machines start at W = 0 and draw nothing."""
    torch.manual_seed(1)
    a = BoltzmannMachine(3, 2, dtype=F64)
    torch.manual_seed(1)
    b = BoltzmannMachine(3, 2, dtype=F64)
    torch.manual_seed(2)
    c = BoltzmannMachine(3, 2, dtype=F64)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    assert float(a.W.abs().max()) > 0
    state = torch.random.get_rng_state()
    assert float(BoltzmannMachine(4).W.abs().max()) == 0.0
    assert torch.equal(torch.random.get_rng_state(), state)


# ------------------------------------------------------------------------------------------------
# The tests: exact quantities
# ------------------------------------------------------------------------------------------------
def test_binary_states_order_and_deprecated_alias():
    """Checks the one enumeration order behind eq-boltzmann-distribution: unit j is bit j of
    the state number, state_index inverts it, and the deprecated all_states warns and returns
    the same order (which probabilities_exact uses)."""
    s = binary_states(5)
    assert s.shape == (32, 5)
    assert torch.equal(state_index(s), torch.arange(32))
    assert s[1].tolist() == [1, 0, 0, 0, 0] and s[16].tolist() == [0, 0, 0, 0, 1]
    with pytest.warns(DeprecationWarning, match="binary_states"):
        old = bz.all_states(5, start=3, stop=9)
    assert torch.equal(old, s[3:9].float())
    assert bz.MAX_EXACT_UNITS == 24


@pytest.mark.parametrize("T", TEMPERATURES)
def test_log_partition_and_probabilities_match_enumeration(T):
    """Checks eq-boltzmann-distribution against the enumeration written in this file."""
    check_log_partition(T)


@pytest.mark.parametrize("nv,nh,seed", [(3, 0, 0), (4, 2, 1), (2, 3, 2)])
def test_energy_matches_sum_over_pairs(nv, nh, seed):
    """Checks eq-boltzmann-energy: -1/2 s^T W s - b^T s equals the sum over pairs i < j."""
    bm = machine(nv, nh, seed)
    S = all_states(nv + nh)
    W, b = params(bm)
    torch.testing.assert_close(bm.energy(S).detach(), energies(W, b, S), rtol=0, atol=1e-12)


def test_log_partition_closed_form_and_chunks():
    """Checks eq-boltzmann-distribution in closed form: with W = 0, Z = prod_i (1 + e^{b_i/T}),
    also across enumeration chunks (2^17 states)."""
    bm = BoltzmannMachine(7, 3, init_std=0.0, dtype=F64)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        bm.bias.copy_(torch.randn(10, generator=g, dtype=F64) * 2)
    want = torch.log1p(torch.exp(bm.bias.detach() / 0.7)).sum()
    torch.testing.assert_close(bm.log_partition_exact(0.7).detach(), want, rtol=1e-13, atol=1e-13)
    big = BoltzmannMachine(17, dtype=F64)
    with torch.no_grad():
        big.bias.copy_(torch.linspace(-2, 2, 17, dtype=F64))
    want = torch.log1p(torch.exp(big.bias.detach())).sum()
    torch.testing.assert_close(big.log_partition_exact().detach(), want, rtol=1e-12, atol=1e-12)


def check_visible_marginal():
    """Checks eq-boltzmann-distribution: the visible marginal sums the joint over hidden states,
    p(h | v) = p(v, h) / p(v), and exp(log_prob_exact(v)) = p(v), all against the enumeration
    written here, in the library's state order."""
    bm = machine(3, 2, seed=8)
    joint = exact_probs(bm).reshape(8, 4)  # [v, h], itertools order
    V = binary_states(3)
    pv = bm.probabilities_exact(over="visible")
    torch.testing.assert_close(pv, joint.sum(1)[state_number(V)], rtol=1e-12, atol=0)
    torch.testing.assert_close(bm.visible_probabilities_exact(), pv)
    torch.testing.assert_close(bm.log_prob_exact(V).exp(), pv, rtol=1e-12, atol=0)
    post = bm.hidden_posterior_exact(V)  # [v, h] in library order
    want = (joint / joint.sum(1, keepdim=True))[state_number(V)][:, state_number(binary_states(2))]
    torch.testing.assert_close(post, want, rtol=1e-12, atol=0)
    bm0 = machine(4, 0, seed=9)
    S = binary_states(4)
    torch.testing.assert_close(bm0.free_energy(S), bm0.energy(S))


def test_visible_marginal_posterior_and_free_energy():
    """Checks eq-boltzmann-distribution: marginal, posterior, log p(v) (check_visible_marginal)."""
    check_visible_marginal()


def test_ground_states_exact():
    """Checks eq-boltzmann-energy: the enumerated ground states attain the minimum energy."""
    bm = BoltzmannMachine.from_ising(spin_glass(6, generator=torch.Generator().manual_seed(11)))
    W, b = params(bm)
    e = energies(W, b, all_states(6)) + float(bm.energy_offset)
    emin, gs = bm.ground_states_exact()
    assert float(emin) == pytest.approx(float(e.min()), abs=1e-12)
    assert gs.shape[0] == int((e <= e.min() + 1e-9).sum())
    assert gs.shape[0] % 2 == 0  # without fields, flipping every spin keeps the energy
    torch.testing.assert_close(bm.energy(gs), emin.expand(gs.shape[0]))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), i=st.integers(0, 5))
def test_local_field_is_energy_difference(n, seed, i):
    """Checks eq-boltzmann-conditional: h_i = E(s_i = 0) - E(s_i = 1)."""
    i = i % n
    bm = machine(n, 0, seed)
    s = bm.random_state(4, generator=torch.Generator().manual_seed(seed + 1))
    s0, s1 = s.clone(), s.clone()
    s0[:, i], s1[:, i] = 0, 1
    dE = (bm.energy(s0) - bm.energy(s1)).detach()
    torch.testing.assert_close(bm.local_field(s)[:, i].detach(), dE, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), seed=st.integers(0, 10_000), log10_T=st.floats(-3.0, 3.0))
def test_exact_quantities_finite_and_bounded_over_temperatures(n, seed, log10_T):
    """Checks eq-boltzmann-distribution for T from 1e-3 to 1e3:
    -E_min/T <= log Z_T <= -E_min/T + n log 2, finite probabilities, binary Gibbs output."""
    T = 10.0**log10_T
    bm = machine(n, 0, seed, scale=2.0)
    e_min = float(bm.energies_exact().min())
    log_z = float(bm.log_partition_exact(T))
    assert -e_min / T - 1e-9 * (1 + abs(e_min / T)) <= log_z
    assert log_z <= -e_min / T + n * math.log(2) + 1e-9 * (1 + abs(e_min / T))
    p = bm.probabilities_exact(T)
    assert bool(torch.isfinite(p).all()) and float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    s = bm.gibbs(bm.random_state(3, generator=torch.Generator().manual_seed(seed)), T=T)
    assert bool(((s == 0) | (s == 1)).all())


def test_from_ising_reproduces_spin_energy():
    """Checks eq-boltzmann-ising: with W = 4J, b = 2h - 2J1 and the offset, E(s) = E(2s - 1)."""
    g = torch.Generator().manual_seed(12)
    J = spin_glass(7, generator=g)
    h = torch.randn(7, generator=g, dtype=F64)
    bm = BoltzmannMachine.from_ising(J, h)
    s = binary_states(7)
    sigma = 2 * s - 1
    e_ising = -0.5 * ((sigma @ J) * sigma).sum(-1) - sigma @ h
    torch.testing.assert_close(bm.energy(s).detach(), e_ising, rtol=1e-12, atol=1e-12)
    assert torch.equal(J, J.T) and bool((torch.diagonal(J) == 0).all())
    assert set(torch.unique(J.abs() * math.sqrt(7)).tolist()) == {0.0, 1.0}


def test_weights_are_symmetric_with_zero_diagonal():
    """Checks the assumptions of eq-boltzmann-energy for any raw weight parameter."""
    bm = BoltzmannMachine(4, 1, dtype=F64)
    with torch.no_grad():
        bm.weight.copy_(torch.arange(25, dtype=F64).reshape(5, 5))
    W = bm.W.detach()
    assert torch.equal(W, W.T) and bool((torch.diagonal(W) == 0).all())


# ------------------------------------------------------------------------------------------------
# Markov kernels of the library
# ------------------------------------------------------------------------------------------------
def check_library_kernels(T):
    """Checks eq-boltzmann-detailed-balance and eq-boltzmann-stationary: the library's site,
    random-site and sweep kernels equal the ones built state by state here (after mapping the
    state orders), each site kernel is reversible, and the sweep leaves p_T invariant without
    being reversible."""
    bm = machine(2, 2, seed=14, scale=1.5)
    W, b = params(bm)
    S = all_states(4)
    perm = state_index(S)  # itertools row -> library row
    p = exact_probs(bm, T)
    for i in range(4):
        P = bm.transition_matrix(T, kind="site", site=i)[perm][:, perm]
        torch.testing.assert_close(P, site_kernel(W, b, i, T, S), rtol=0, atol=1e-14)
        flow = p[:, None] * P
        torch.testing.assert_close(flow, flow.T, rtol=0, atol=1e-15)
    P = bm.transition_matrix(T, kind="sweep")[perm][:, perm]
    torch.testing.assert_close(P, sweep_kernel(bm, T), rtol=0, atol=1e-14)
    torch.testing.assert_close(p @ P, p, rtol=0, atol=1e-14)
    assert float((p[:, None] * P - (p[:, None] * P).T).abs().max()) > 1e-4
    R = bm.transition_matrix(T, kind="random")[perm][:, perm]
    avg = torch.stack([site_kernel(W, b, i, T, S) for i in range(4)]).mean(0)
    torch.testing.assert_close(R, avg, rtol=0, atol=1e-14)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_library_kernels_equal_kernels_built_here(T):
    """Checks eq-boltzmann-detailed-balance and eq-boltzmann-stationary on the library's
    kernels (check_library_kernels)."""
    check_library_kernels(T)


def check_distribution_after_sweeps():
    """Checks eq-boltzmann-stationary: the mass-splitting recursion gives p_0 P^k for the sweep
    kernel built here, KL(p_k || p_T) never increases, and p_k tends to p_T."""
    bm = machine(3, 2, seed=34, scale=1.2)
    T = 0.9
    P = sweep_kernel(bm, T)
    perm = state_index(all_states(5))
    g = torch.Generator().manual_seed(35)
    p0 = torch.rand(32, generator=g, dtype=F64)
    p0 = p0 / p0.sum()
    ps = bm.distribution_after_sweeps(p0[torch.argsort(perm)], T=T, sweeps=6)  # library order
    for k in range(7):
        want = p0 @ torch.linalg.matrix_power(P, k)
        torch.testing.assert_close(ps[k][perm], want, rtol=0, atol=1e-14)
    pi = bm.probabilities_exact(T)
    kl = [float(kl_divergence(p, pi)) for p in bm.distribution_after_sweeps(ps[0], T, 60)]
    assert all(y <= x + 1e-14 for x, y in zip(kl, kl[1:], strict=False))
    assert kl[-1] < 1e-9 < kl[0]


def test_distribution_after_sweeps_and_kl_decrease():
    """Checks eq-boltzmann-stationary: exact sweep laws (check_distribution_after_sweeps)."""
    check_distribution_after_sweeps()


def test_chapter_sampler_kl_numbers():
    """Checks the numbers the chapter quotes for its 10-unit machine (eq-boltzmann-stationary):
    KL(p_k || p_T) from all-off is 9.54 nats at k = 0, 1.32e-3 after 8 sweeps and 7.4e-4 after
    9, and 50 000 chains follow the exact p_k (chi-square) after 1 to 3 sweeps."""
    bm = demo_machine(10, seed=3, scale=1.0)
    pi = bm.probabilities_exact()
    p0 = torch.zeros(1024, dtype=F64)
    p0[0] = 1.0
    p_k = bm.distribution_after_sweeps(p0, sweeps=9)
    kl = [float(kl_divergence(p, pi)) for p in p_k]
    assert kl[0] == pytest.approx(9.5395, abs=1e-4)
    assert kl[8] == pytest.approx(1.32e-3, abs=5e-6) and kl[9] == pytest.approx(7.4e-4, abs=5e-6)
    g = torch.Generator().manual_seed(50)
    s = torch.zeros(50_000, 10, dtype=F64)
    for k in (1, 2, 3):
        s = bm.gibbs(s, sweeps=1, generator=g)
        pval = chi2_pvalue(state_index(s), p_k[k])
        assert pval > ALPHA, f"sweep {k}: p-value {pval:.1e}"


# ------------------------------------------------------------------------------------------------
# The chapter's other experiments (same machines and seeds as book/part3/boltzmann.ipynb)
# ------------------------------------------------------------------------------------------------
def test_chapter_parity_needs_hidden_units():
    """Checks eq-boltzmann-loglik and eq-boltzmann-rule on the chapter's parity data: a fully
    visible machine has zero gradient at W = 0 and stays at KL = log 2; with two hidden units
    (chapter's seed, lr 1) the exact rule brings KL below 0.1 nats in 1500 epochs."""
    v3 = binary_states(3, dtype=F64)
    parity = v3[v3.sum(1) % 2 == 0]
    vis = BoltzmannMachine(3, dtype=F64)
    dW, db = vis.gradient(parity)
    assert float(dW.abs().max()) == 0.0 and float(db.abs().max()) == 0.0
    assert float(vis.kl_from_data(parity)) == pytest.approx(math.log(2), abs=1e-14)
    hid = BoltzmannMachine(3, 2, init_std=1.0, generator=torch.Generator().manual_seed(3),
                           dtype=F64)  # fmt: skip
    assert hid.fit(parity, epochs=1500, lr=1.0).kl[-1] < 0.1


def test_chapter_bars_and_stripes_fit():
    """Checks eq-boltzmann-rule on the chapter's bars-and-stripes fit (9 visible units, 600
    epochs, exact statistics): correlations matched within 0.01, KL below 0.3 nats."""
    from ebmlib.data import bars_and_stripes

    bas = bars_and_stripes(3, dtype=F64)
    bm = BoltzmannMachine(9, dtype=F64)
    hist = bm.fit(bas, epochs=600, lr=0.3, method="exact")
    _, cd = bm.data_statistics(bas)
    _, cm = bm.model_statistics()
    assert float((cd - cm).abs().max()) < 0.01
    assert hist.kl[-1] < 0.3 < hist.kl[0]


def test_chapter_spin_glass_annealing_beats_quench():
    """Checks annealing on the chapter's 20-spin SK glass against the exact ground energy
    (2^20 states): annealing reaches it in more chains than a quench at T = 0.05."""
    J = spin_glass(20, generator=torch.Generator().manual_seed(6))
    sk = BoltzmannMachine.from_ising(J)
    e0 = float(sk.energies_exact().min())
    g = torch.Generator().manual_seed(51)
    ann = anneal(sk, geometric_schedule(3.0, 0.05, 300), n_chains=64, generator=g)
    quench = anneal(sk, torch.full((300,), 0.05, dtype=F64), n_chains=64, generator=g)
    assert isinstance(ann, AnnealResult) and isinstance(ann, Result)
    hit_a = int((ann.energies <= e0 + 1e-9).sum())
    hit_q = int((quench.energies <= e0 + 1e-9).sum())
    assert float(ann.best_energies.min()) == pytest.approx(e0, abs=1e-9)
    assert bool((ann.energies >= e0 - 1e-9).all()) and bool((quench.energies >= e0 - 1e-9).all())
    assert hit_a > hit_q


def test_anneal_machine_matrix_and_callable_agree_and_schedules():
    """Checks that the three ways to give anneal an energy run the same heat-bath chain
    (eq-boltzmann-conditional) for one seed, and the named schedules."""
    bm = machine(8, 0, seed=36)
    with torch.no_grad():
        bm.bias.zero_()
    sched = geometric_schedule(2.0, 0.1, 20)
    start = bm.random_state(10, generator=torch.Generator().manual_seed(39))
    runs = [anneal(t, sched, states=start, generator=torch.Generator().manual_seed(37))
            for t in (bm, bm.W.detach(), lambda s: bm.energy(s))]  # fmt: skip
    for r in runs[1:]:
        assert torch.equal(r.states.to(F64), runs[0].states)
    torch.testing.assert_close(geometric_schedule(4.0, 0.04, 3), torch.tensor([4.0, 0.4, 0.04],
                               dtype=F64))  # fmt: skip
    assert geometric_schedule(4.0, 0.04, 1).tolist() == [0.04]
    g = torch.Generator().manual_seed(0)
    named = anneal(demo_machine(3), "linear", T_start=2.0, T_end=0.5, n_steps=4, generator=g)
    assert named.trace["T"] == pytest.approx([2.0, 1.5, 1.0, 0.5])


def test_anneal_callable_higher_order_energy_reaches_exact_minimum():
    """Checks annealing with the heat-bath rule on a three-unit-product energy (no weight
    matrix can express it) against its enumerated minimum."""
    g = torch.Generator().manual_seed(38)
    triples = torch.randint(0, 9, (20, 3), generator=g)
    coef = torch.randn(20, generator=g, dtype=F64)

    def energy(s):
        return -(coef * s[:, triples].prod(-1)).sum(-1) + 0.3 * s.sum(-1)

    exact = float(energy(all_states(9)).min())
    res = anneal(energy, geometric_schedule(3.0, 0.02, 200), states=torch.zeros(16, 9, dtype=F64),
                 generator=g)  # fmt: skip
    assert float(res.best_energies.min()) == pytest.approx(exact, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# Bad input, dtypes, persistence
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,exc,word",
    [
        (lambda: BoltzmannMachine(0), ValueError, "n_visible"),
        (lambda: BoltzmannMachine(2, -1), ValueError, "n_hidden"),
        (lambda: BoltzmannMachine(2.5), TypeError, "n_visible"),
        (lambda: BoltzmannMachine(2, dtype=torch.int32), TypeError, "dtype"),
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
        ),  # fmt: skip
        (lambda: demo_machine(3).gradient(torch.zeros(4, 2)), ValueError, "data"),
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
        ),  # fmt: skip
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
        (
            lambda: kl_divergence(torch.tensor([0.5, 0.6]), torch.ones(2) / 2),
            ValueError,
            "p must be a probability vector whose last axis sums to 1",
        ),  # fmt: skip
        (
            lambda: kl_divergence(torch.ones(2) / 2, torch.tensor([2.0, 1.0])),
            ValueError,
            "q must be a probability vector",
        ),  # fmt: skip
        (
            lambda: kl_divergence(torch.tensor([1.5, -0.5]), torch.ones(2) / 2),
            ValueError,
            "negative",
        ),  # fmt: skip
        (
            lambda: kl_divergence(torch.ones(2) / 2, torch.ones(2, dtype=F64) / 2),
            TypeError,
            "dtype",
        ),  # fmt: skip
        (lambda: state_index(torch.tensor([[0.0, 0.5]])), ValueError, "states"),
        (lambda: draw_distribution(T=0), ValueError, "T"),
    ],
)
def test_bad_inputs_raise_named_errors(call, exc, word):
    """Checks that bad input to the chapter 6 API raises a clear error naming the argument."""
    with pytest.raises(exc, match=word):
        call()


def test_kl_divergence_accepts_normalised_vectors_with_round_off():
    """Checks that KL(p || q) accepts probability vectors whose sums carry round-off (a long
    float32 vector) and returns 0 for p = q and inf where q = 0 < p."""
    p = torch.rand(5000, generator=torch.Generator().manual_seed(0))
    p = p / p.sum()
    assert float(kl_divergence(p, p)) == 0.0
    assert math.isinf(float(kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))))


def test_float32_machine_follows_its_dtype_and_state_dict_round_trip():
    """Checks eq-boltzmann-energy in float32 (dtype kept, log Z within float32 precision) and
    that a saved and reloaded machine gives identical energies and log Z."""
    bm64 = demo_machine(6)
    bm32 = BoltzmannMachine.from_weights(bm64.W.detach().float(), bm64.bias.detach().float())
    s = binary_states(6, dtype=torch.float32)
    assert bm32.energy(s).dtype == torch.float32
    torch.testing.assert_close(
        bm32.log_partition_exact().double(), bm64.log_partition_exact(), rtol=1e-6, atol=1e-5
    )
    bm = BoltzmannMachine.from_ising(spin_glass(6, generator=torch.Generator().manual_seed(32)))
    buf = io.BytesIO()
    torch.save(bm.state_dict(), buf)
    buf.seek(0)
    other = BoltzmannMachine(6, dtype=F64)
    other.load_state_dict(torch.load(buf))
    s = binary_states(6)
    assert torch.equal(other.energy(s), bm.energy(s))
    assert torch.equal(other.log_partition_exact(), bm.log_partition_exact())
    assert set(bm.state_dict()) == {"weight", "bias", "energy_offset"}


def test_deprecated_names_still_work():
    """Checks the deprecation alias of the enumeration (all_states) gives the library order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        s = bz.all_states(3, dtype=F64)
    p = demo_machine(3).probabilities_exact()
    torch.testing.assert_close(p, torch.softmax(-demo_machine(3).energy(s), 0))


# ------------------------------------------------------------------------------------------------
# CUDA variants
# ------------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_exact_and_gibbs_match_cpu():
    """Checks eq-boltzmann-distribution and eq-boltzmann-stationary on CUDA: log Z and p agree
    with the CPU, and Gibbs chains on the GPU started from exact samples stay exact."""
    bm = machine(3, 2, seed=40)
    gpu = BoltzmannMachine(3, 2, dtype=F64, device="cuda")
    gpu.load_state_dict(bm.state_dict())
    torch.testing.assert_close(gpu.log_partition_exact().cpu(), bm.log_partition_exact())
    torch.testing.assert_close(gpu.probabilities_exact().cpu(), bm.probabilities_exact())
    for T in (0.5, 2.5):
        p = exact_probs(bm, T)
        s = exact_samples(p, 5, 20_000, torch.Generator().manual_seed(42)).cuda()
        out = gpu.gibbs(s, T=T, sweeps=2, generator=torch.Generator(device="cuda").manual_seed(1))
        assert out.device.type == "cuda"
        assert_fits(out.cpu(), p, f"CUDA Gibbs at T={T}")


@pytest.mark.cuda
def test_cuda_fit_and_anneal_run_on_device():
    """Checks eq-boltzmann-rule on CUDA: exact fits equal the CPU ones; annealing stays on GPU."""
    data = _fit_data()
    cpu = BoltzmannMachine(4, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    gpu = BoltzmannMachine(4, 1, dtype=F64, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    cpu.fit(data, epochs=3, lr=0.1)
    gpu.fit(data.cuda(), epochs=3, lr=0.1)
    torch.testing.assert_close(gpu.weight.detach().cpu(), cpu.weight.detach())
    g = torch.Generator(device="cuda").manual_seed(44)
    res = anneal(gpu, geometric_schedule(2.0, 0.1, 10), n_chains=4, generator=g)
    assert res.states.device.type == "cuda"
