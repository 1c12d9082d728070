"""Attention Boltzmann machine (chapter 8): the library's Gibbs sampler and EM against plain code.

``attention_bm_gibbs``: ``AttentionBM.gibbs`` against the five-line plain-torch step of the
chapter (softmax, multinomial, Gaussian draw), run for the same number of steps on the same
chains with the same seed; the results are checked equal bit for bit. The library validates its
input once per call and then runs the same kernels, so the ratio measures its overhead and
should be close to 1.

``bernoulli_mixture_em``: :func:`ebmlib.attention_bm.bernoulli_mixture_em` against a direct
numpy transcription of the same EM iteration (E-step by log-sum-exp, M-step with the same
pseudo-count), from the same start, on binary data of the digits' size; the fitted
log-likelihoods are checked equal.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ebmlib.attention_bm import AttentionBM, bernoulli_mixture_em

from .harness import Row, register, timeit

_STEPS = 10  # Gibbs steps per timed call
_ITERS = 50  # EM iterations per timed call


def _plain_gibbs(xi, x, beta, steps, gen):
    for _ in range(steps):
        p = torch.softmax(beta * (xi @ x.T), dim=-1)
        i = torch.multinomial(p, 1, generator=gen)[:, 0]
        eps = torch.randn(xi.shape, generator=gen, dtype=xi.dtype)
        xi = x[i] + eps / math.sqrt(beta)
    return xi


@register("attention_bm_gibbs")
def run_gibbs(quick: bool) -> list[Row]:
    rows = []
    sizes = [(64, 64, 1000)] if quick else [(64, 64, 1000), (1024, 128, 4096)]
    for n_pat, d, b in sizes:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n_pat, d, generator=g, dtype=torch.float64)
        x0 = torch.randn(b, d, generator=g, dtype=torch.float64)
        bm = AttentionBM(x, beta=0.5)

        def ours(bm=bm, x0=x0):
            return bm.gibbs(x0, steps=_STEPS, generator=torch.Generator().manual_seed(1)).states

        def peer(x=x, x0=x0):
            return _plain_gibbs(x0, x, 0.5, _STEPS, torch.Generator().manual_seed(1))

        assert torch.equal(ours(), peer())
        t_ours = timeit(ours, repeat=5, min_time=0.05)
        t_peer = timeit(peer, repeat=5, min_time=0.05)
        case = f"N={n_pat}, d={d}, B={b}, {_STEPS} steps"
        rows.append(Row("attention_bm_gibbs", case, t_ours, t_peer, "plain torch loop"))
    return rows


def _numpy_em(v: np.ndarray, theta: np.ndarray, iterations: int, a: float) -> np.ndarray:
    n, _ = v.shape
    k = theta.shape[0]
    log_w = np.full(k, -np.log(k))
    for _ in range(iterations):
        comp = v @ np.log(theta).T + (1 - v) @ np.log1p(-theta).T + log_w
        top = comp.max(1, keepdims=True)
        ll = top + np.log(np.exp(comp - top).sum(1, keepdims=True))
        r = np.exp(comp - ll)
        nk = r.sum(0)
        log_w = np.log(nk / n)
        theta = (r.T @ v + a) / (nk[:, None] + 2 * a)
    return ll.mean()


@register("bernoulli_mixture_em")
def run_em(quick: bool) -> list[Row]:
    rows = []
    sizes = [(1437, 64, 16)] if quick else [(1437, 64, 16), (1437, 64, 64), (20000, 256, 64)]
    for n, d, k in sizes:
        g = torch.Generator().manual_seed(0)
        v = (torch.rand(n, d, generator=g, dtype=torch.float64) < 0.3).double()
        start = torch.randperm(n, generator=torch.Generator().manual_seed(2))[:k]
        theta0 = (0.25 + 0.5 * v[start]).numpy()
        vn = v.numpy()

        def ours(v=v, k=k):
            return bernoulli_mixture_em(
                v, k, iterations=_ITERS, generator=torch.Generator().manual_seed(2)
            )

        def peer(vn=vn, theta0=theta0):
            return _numpy_em(vn, theta0, _ITERS, 0.1)

        assert abs(ours().log_likelihood[-1] - peer()) < 1e-9
        t_ours = timeit(ours, repeat=3, min_time=0.05)
        t_peer = timeit(peer, repeat=3, min_time=0.05)
        case = f"n={n}, d={d}, {k} components, {_ITERS} iterations"
        rows.append(Row("bernoulli_mixture_em", case, t_ours, t_peer, "numpy EM"))
    return rows
