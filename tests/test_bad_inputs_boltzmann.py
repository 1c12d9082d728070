"""Bad input for the Boltzmann machines of chapters 6-8.

``ebmlib.boltzmann``, ``ebmlib.rbm`` and ``ebmlib.attention_bm``: every public callable gets
each family of bad input of ``tests/_bad_inputs.py``. Results are checked against independent
numpy enumerations of the tiny machines used here (5 units, 32 states): the energy
:math:numref:`eq-boltzmann-energy`, the distribution :math:numref:`eq-boltzmann-distribution`,
the RBM energy and free energy :math:numref:`eq-rbm-energy`, :math:numref:`eq-rbm-free-energy`,
and the attention machine's joint model :math:numref:`eq-abm-joint` and mixture
:math:numref:`eq-abm-mixture`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from _bad_inputs import Spec, bits, gen, make_tests, normal, pm1, simplex

import ebmlib.attention_bm as ABM
import ebmlib.boltzmann as BM
import ebmlib.rbm as R

F64 = torch.float64


def _np(x):
    return np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, float)


def close(got, want, rtol=1e-6, atol=1e-8, what="result"):
    got = _np(got)
    want = np.asarray(want, float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.allclose(got, want, rtol=rtol, atol=atol), (
        f"{what} differs from the independent formula by "
        f"{float(np.nanmax(np.abs(got - want))) if want.size else 0:.3g}"
    )


def all_bits(n):
    """All 2^n binary rows, unit j = bit j of the row number (LSB first)."""
    return np.array([[(k >> j) & 1 for j in range(n)] for k in range(2**n)], float)


def logsumexp(a, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    out = m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
    return out.squeeze() if axis is None else out.squeeze(axis)


# ----------------------------------------------------------------------------- Boltzmann machine

NV, NH = 3, 2


def machine():
    return BM.BoltzmannMachine(NV, NH, init_std=0.7, generator=gen(3), dtype=F64)


def bm_params(m):
    return _np(m.W), _np(m.bias)


def bm_energy_np(m, s):
    w, b = bm_params(m)
    s = _np(s)
    return -0.5 * np.einsum("...i,ij,...j->...", s, w, s) - s @ b + float(m.energy_offset)


def ref_bm_energy(kw, res, m):
    close(res, bm_energy_np(m, kw["states"]))


def ref_bm_local_field(kw, res, m):
    w, b = bm_params(m)
    close(res, _np(kw["states"]) @ w.T + b)


def ref_bm_logz(kw, res, m):
    T = kw.get("T", 1.0)
    e = bm_energy_np(m, all_bits(NV + NH))
    close(res, logsumexp(-e / T), rtol=1e-6)


def ref_bm_probs(kw, res, m):
    T = kw.get("T", 1.0)
    e = bm_energy_np(m, all_bits(NV + NH))
    p = np.exp(-e / T - logsumexp(-e / T))
    if kw.get("over", "joint") == "visible":
        p = p.reshape(2**NH, 2**NV).sum(0)
    close(res, p, atol=1e-10)


def ref_bm_visible_probs(kw, res, m):
    ref_bm_probs(dict(kw, over="visible"), res, m)


def joint_rows(v):
    """Every completion of the visible rows ``v`` [B, NV] by the 2^NH hidden states."""
    h = all_bits(NH)
    v = _np(v).reshape(-1, NV)
    return np.concatenate(
        [np.repeat(v[:, None], len(h), 1), np.repeat(h[None], len(v), 0)], -1
    )  # [B, 2^NH, n]


def ref_bm_free_energy(kw, res, m):
    T = kw.get("T", 1.0)
    e = bm_energy_np(m, joint_rows(kw["visible"]))
    want = -T * logsumexp(-e / T, axis=-1)
    close(res, want.reshape(_np(kw["visible"]).shape[:-1]))


def ref_bm_log_prob(kw, res, m):
    T = kw.get("T", 1.0)
    e_all = bm_energy_np(m, all_bits(NV + NH))
    e = bm_energy_np(m, joint_rows(kw["visible"]))
    want = logsumexp(-e / T, axis=-1) - logsumexp(-e_all / T)
    close(res, want.reshape(_np(kw["visible"]).shape[:-1]))


def ref_bm_hidden_post(kw, res, m):
    T = kw.get("T", 1.0)
    e = bm_energy_np(m, joint_rows(kw["visible"]))
    p = np.exp(-e / T - logsumexp(-e / T, axis=-1)[..., None])
    close(res, p.reshape(*_np(kw["visible"]).shape[:-1], 2**NH), atol=1e-10)


def ref_bm_loglik(kw, res, m):
    e_all = bm_energy_np(m, all_bits(NV + NH))
    e = bm_energy_np(m, joint_rows(kw["data"]))
    close(res, np.mean(logsumexp(-e, axis=-1) - logsumexp(-e_all)))


def ref_gibbs_binary(kw, res, m=None):
    r = _np(res)
    assert set(np.unique(r)) <= {0.0, 1.0}, "Gibbs states must stay binary"


def ref_kl(kw, res):
    p, q = _np(kw["p"]), _np(kw["q"])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    close(res, terms.sum(-1))


def ref_state_index(kw, res):
    s = _np(kw["states"])
    close(res, (s * 2 ** np.arange(s.shape[-1])).sum(-1))


def ref_empirical(kw, res):
    s = _np(kw["states"])
    idx = (s * 2 ** np.arange(s.shape[-1])).sum(-1).astype(int)
    want = np.bincount(idx, minlength=2 ** s.shape[-1]) / len(idx)
    close(res, want)


def ref_geometric(kw, res):
    a, b, n = kw["T_start"], kw["T_end"], kw["n_steps"]
    k = np.arange(n)
    close(res, a * (b / a) ** (k / max(n - 1, 1)), rtol=1e-6)


def ref_spin_glass(kw, res):
    j = _np(res)
    n = kw["n"]
    assert np.allclose(j, j.T) and np.all(np.diag(j) == 0)
    off = j[~np.eye(n, dtype=bool)]
    assert np.allclose(np.abs(off), 1 / math.sqrt(n))


def sym(n, seed=0):
    w = normal(n, n, seed=seed)
    w = (w + w.T) / 2
    return w - torch.diag(torch.diag(w))


BOLTZMANN = [
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine",
        lambda: dict(n_visible=3, n_hidden=2, init_std=0.5, generator=gen(), dtype=F64),
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.from_weights",
        lambda: dict(weights=sym(4), bias=normal(4, seed=1), n_visible=3),
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.from_ising", lambda: dict(J=sym(4), h=normal(4, seed=1))
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.energy",
        lambda: dict(states=bits(4, 5)),
        obj=machine,
        ref=ref_bm_energy,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.local_field",
        lambda: dict(states=bits(4, 5)),
        obj=machine,
        ref=ref_bm_local_field,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.random_state",
        lambda: dict(batch=4, generator=gen()),
        obj=machine,
        ref=ref_gibbs_binary,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.gibbs",
        lambda: dict(states=bits(4, 5), T=1.0, sweeps=2, generator=gen()),
        obj=machine,
        ref=ref_gibbs_binary,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.gibbs",
        lambda: dict(
            states=bits(4, 5),
            T=1.0,
            sweeps=1,
            generator=gen(),
            units=torch.tensor([0, 2]),
            order="random",
        ),
        obj=machine,
        ref=ref_gibbs_binary,
        discrete={"states"},
        key="units",
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.sample",
        lambda: dict(n_samples=6, T=1.0, sweeps=3, generator=gen()),
        obj=machine,
        ref=ref_gibbs_binary,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.log_partition_exact",
        lambda: dict(T=1.0),
        obj=machine,
        ref=ref_bm_logz,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.probabilities_exact",
        lambda: dict(T=1.0, over="visible"),
        obj=machine,
        ref=ref_bm_probs,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.visible_probabilities_exact",
        lambda: dict(T=1.0),
        obj=machine,
        ref=ref_bm_visible_probs,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.free_energy",
        lambda: dict(visible=bits(4, 3), T=1.0),
        obj=machine,
        ref=ref_bm_free_energy,
        discrete={"visible"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.hidden_posterior_exact",
        lambda: dict(visible=bits(4, 3), T=1.0),
        obj=machine,
        ref=ref_bm_hidden_post,
        discrete={"visible"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.log_prob_exact",
        lambda: dict(visible=bits(4, 3), T=1.0),
        obj=machine,
        ref=ref_bm_log_prob,
        discrete={"visible"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.log_likelihood",
        lambda: dict(data=bits(6, 3)),
        obj=machine,
        ref=ref_bm_loglik,
        discrete={"data"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.kl_from_data",
        lambda: dict(data=bits(6, 3)),
        obj=machine,
        discrete={"data"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.model_statistics",
        lambda: dict(T=1.0, method="exact"),
        obj=machine,
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.model_statistics",
        lambda: dict(T=1.0, method="gibbs", states=bits(8, 5), sweeps=2, generator=gen()),
        obj=machine,
        key="gibbs",
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.data_statistics",
        lambda: dict(data=bits(6, 3), method="exact"),
        obj=machine,
        discrete={"data"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.data_statistics",
        lambda: dict(data=bits(6, 3), method="gibbs", sweeps=2, generator=gen()),
        obj=machine,
        discrete={"data"},
        key="gibbs",
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.gradient",
        lambda: dict(data=bits(6, 3), method="exact"),
        obj=machine,
        discrete={"data"},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.fit",
        lambda: dict(
            data=bits(6, 3), epochs=2, lr=0.1, method="exact", generator=gen(), progress_bar=False
        ),
        obj=machine,
        discrete={"data"},
        big={"epochs": 3},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.fit",
        lambda: dict(
            data=bits(6, 3),
            epochs=2,
            lr=0.1,
            method="gibbs",
            batch_size=3,
            n_chains=8,
            sweeps=1,
            clamped_sweeps=2,
            generator=gen(),
            progress_bar=False,
        ),
        obj=machine,
        discrete={"data"},
        key="gibbs",
        big={"epochs": 3, "n_chains": 50, "sweeps": 3, "clamped_sweeps": 3},
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.transition_matrix",
        lambda: dict(T=1.0, kind="sweep"),
        obj=lambda: BM.BoltzmannMachine(3, 0, init_std=0.7, generator=gen(3), dtype=F64),
    ),
    Spec(
        "ebmlib.boltzmann.BoltzmannMachine.distribution_after_sweeps",
        lambda: dict(p0=simplex(8), T=1.0, sweeps=2),
        obj=lambda: BM.BoltzmannMachine(3, 0, init_std=0.7, generator=gen(3), dtype=F64),
    ),
    Spec("ebmlib.boltzmann.BoltzmannMachine.energies_exact", obj=machine),
    Spec("ebmlib.boltzmann.BoltzmannMachine.ground_states_exact", obj=machine),
    Spec(
        "ebmlib.boltzmann.anneal",
        lambda: dict(
            machine=BM.BoltzmannMachine.from_weights(sym(4)),
            T_start=3.0,
            T_end=0.1,
            n_steps=5,
            n_chains=4,
            sweeps_per_step=1,
            generator=gen(),
        ),
        big={"n_steps": 50, "n_chains": 50, "sweeps_per_step": 5},
    ),
    Spec(
        "ebmlib.boltzmann.anneal",
        lambda: dict(
            machine=sym(4),
            schedule=torch.tensor([2.0, 1.0, 0.5], dtype=F64),
            n_chains=4,
            generator=gen(),
        ),
        key="couplings",
        big={"n_chains": 50},
        aliases={"machine": ("weights",)},  # couplings given as a tensor are the weights
        scalar_like={"schedule"},
    ),  # temperatures, not data: any floating dtype
    Spec(
        "ebmlib.boltzmann.geometric_schedule",
        lambda: dict(T_start=5.0, T_end=0.05, n_steps=6),
        ref=ref_geometric,
    ),
    Spec(
        "ebmlib.boltzmann.state_index",
        lambda: dict(states=bits(5, 4)),
        ref=ref_state_index,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.empirical_distribution",
        lambda: dict(states=bits(7, 3)),
        ref=ref_empirical,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.boltzmann.kl_divergence",
        lambda: dict(p=simplex(8, seed=1), q=simplex(8)),
        ref=ref_kl,
    ),
    Spec("ebmlib.boltzmann.spin_glass", lambda: dict(n=5, generator=gen()), ref=ref_spin_glass),
    Spec("ebmlib.boltzmann.demo_machine", lambda: dict(n=4, seed=0, scale=1.5)),
    Spec(
        "ebmlib.boltzmann.draw_distribution",
        lambda: dict(T=1.0, n_chains=50, sweeps=2, seed=0),
        big={"n_chains": 200, "sweeps": 3},
    ),
]

# ----------------------------------------------------------------------------- RBM


def rbm():
    return R.RBM(4, 3, init_std=0.5, generator=gen(5), dtype=F64)


def rbm_np(m):
    return _np(m.W), _np(m.b), _np(m.c)


def softplus(x):
    return np.logaddexp(0.0, x)


def ref_rbm_energy(kw, res, m):
    w, b, c = rbm_np(m)
    v, h = _np(kw["v"]), _np(kw["h"])
    close(res, -(v @ b) - (h @ c) - ((v @ w) * h).sum(-1))


def ref_rbm_free(kw, res, m):
    w, b, c = rbm_np(m)
    v = _np(kw["v"])
    close(res, -(v @ b) - softplus(c + v @ w).sum(-1))


def ref_rbm_hfree(kw, res, m):
    w, b, c = rbm_np(m)
    h = _np(kw["h"])
    close(res, -(h @ c) - softplus(b + h @ w.T).sum(-1))


def ref_rbm_sample_h(kw, res, m):
    w, b, c = rbm_np(m)
    T = kw.get("T", 1.0)
    with np.errstate(over="ignore"):
        want = 1 / (1 + np.exp(-(c + _np(kw["v"]) @ w) / T))
    close(res[0], want, what="p(h=1|v)")
    assert set(np.unique(_np(res[1]))) <= {0.0, 1.0}


def ref_rbm_sample_v(kw, res, m):
    w, b, c = rbm_np(m)
    T = kw.get("T", 1.0)
    with np.errstate(over="ignore"):
        want = 1 / (1 + np.exp(-(b + _np(kw["h"]) @ w.T) / T))
    close(res[0], want, what="p(v=1|h)")
    assert set(np.unique(_np(res[1]))) <= {0.0, 1.0}


def rbm_logz_np(m):
    w, b, c = rbm_np(m)
    v = all_bits(w.shape[0])
    return logsumexp(v @ b + softplus(c + v @ w).sum(-1))


def ref_rbm_logz(kw, res, m):
    close(res, rbm_logz_np(m))


def ref_rbm_probs(kw, res, m):
    w, b, c = rbm_np(m)
    v = all_bits(w.shape[0])
    a = v @ b + softplus(c + v @ w).sum(-1)
    close(res, np.exp(a - logsumexp(a)), atol=1e-12)


def ref_rbm_loglik(kw, res, m):
    w, b, c = rbm_np(m)
    v = _np(kw["data"])
    log_z = rbm_logz_np(m) if kw.get("log_z") is None else float(kw["log_z"])
    ll = v @ b + softplus(c + v @ w).sum(-1) - log_z
    red = kw.get("reduction", "mean")
    close(res, ll.mean() if red == "mean" else ll.sum() if red == "sum" else ll)


def ref_rbm_pl(kw, res, m):
    """Pseudo-likelihood: sum_j log p(v_j | v_-j), by flipping each unit (eq-rbm-pl)."""
    w, b, c = rbm_np(m)
    v = _np(kw["data"])

    def fe(x):
        return -(x @ b) - softplus(c + x @ w).sum(-1)

    total = np.zeros(len(v))
    for j in range(v.shape[1]):
        f = v.copy()
        f[:, j] = 1 - f[:, j]
        total += -np.logaddexp(0.0, fe(v) - fe(f))
    red = kw.get("reduction", "mean")
    close(res, total.mean() if red == "mean" else total.sum() if red == "sum" else total, rtol=1e-6)


def ref_independent(kw, res):
    tr, te = _np(kw["train"]), _np(kw["test"])
    a = kw.get("pseudocount", 1.0)
    mu = (tr.sum(0) + a) / (len(tr) + 2 * a)
    with np.errstate(divide="ignore"):
        want = np.mean((te * np.log(mu) + (1 - te) * np.log1p(-mu)).sum(-1))
    close(res, want)


RBM_SPECS = [
    Spec(
        "ebmlib.rbm.RBM",
        lambda: dict(n_visible=4, n_hidden=3, init_std=0.01, generator=gen(), dtype=F64),
    ),
    Spec(
        "ebmlib.rbm.RBM.energy",
        lambda: dict(v=bits(5, 4), h=bits(5, 3, seed=1)),
        obj=rbm,
        ref=ref_rbm_energy,
    ),
    Spec("ebmlib.rbm.RBM.free_energy", lambda: dict(v=bits(5, 4)), obj=rbm, ref=ref_rbm_free),
    Spec(
        "ebmlib.rbm.RBM.hidden_free_energy", lambda: dict(h=bits(5, 3)), obj=rbm, ref=ref_rbm_hfree
    ),
    Spec(
        "ebmlib.rbm.RBM.sample_h",
        lambda: dict(v=bits(5, 4), generator=gen(), T=1.0),
        obj=rbm,
        ref=ref_rbm_sample_h,
    ),
    Spec(
        "ebmlib.rbm.RBM.sample_v",
        lambda: dict(h=bits(5, 3), generator=gen(), T=1.0),
        obj=rbm,
        ref=ref_rbm_sample_v,
    ),
    Spec(
        "ebmlib.rbm.RBM.gibbs",
        lambda: dict(v=bits(5, 4), k=2, generator=gen(), T=1.0),
        obj=rbm,
        ref=ref_gibbs_binary,
    ),
    Spec(
        "ebmlib.rbm.RBM.log_partition_exact", lambda: dict(chunk_size=4), obj=rbm, ref=ref_rbm_logz
    ),
    Spec("ebmlib.rbm.RBM.model_expectations_exact", lambda: dict(chunk_size=4), obj=rbm),
    Spec("ebmlib.rbm.RBM.probabilities_exact", obj=rbm, ref=ref_rbm_probs),
    Spec(
        "ebmlib.rbm.RBM.log_likelihood",
        lambda: dict(data=bits(6, 4), reduction="none"),
        obj=rbm,
        ref=ref_rbm_loglik,
    ),
    Spec(
        "ebmlib.rbm.RBM.log_likelihood",
        lambda: dict(data=bits(6, 4), log_z=torch.tensor(3.0, dtype=F64), reduction="sum"),
        obj=rbm,
        ref=ref_rbm_loglik,
        key="log_z",
    ),
    Spec(
        "ebmlib.rbm.RBM.pseudo_likelihood",
        lambda: dict(data=bits(6, 4), reduction="mean", chunk_elements=8),
        obj=rbm,
        ref=ref_rbm_pl,
    ),
    Spec(
        "ebmlib.rbm.RBM.ais_log_weights",
        lambda: dict(n_chains=5, n_betas=20, generator=gen(), base_data=bits(6, 4)),
        obj=rbm,
        big={"n_betas": 200, "n_chains": 100},
    ),
    Spec(
        "ebmlib.rbm.RBM.log_partition_ais",
        lambda: dict(
            n_chains=5, n_betas=20, generator=gen(), betas=torch.linspace(0, 1, 20, dtype=F64)
        ),
        obj=rbm,
        big={"n_betas": 200, "n_chains": 100},
    ),
    Spec(
        "ebmlib.rbm.RBM.log_likelihood_gradient",
        lambda: dict(data=bits(6, 4), method="exact"),
        obj=rbm,
    ),
    Spec(
        "ebmlib.rbm.RBM.log_likelihood_gradient",
        lambda: dict(data=bits(6, 4), method="cd", k=1, generator=gen()),
        obj=rbm,
        key="cd",
        big={"k": 20},
    ),
    Spec("ebmlib.rbm.RBM.init_visible_bias", lambda: dict(data=bits(6, 4)), obj=rbm),
    Spec(
        "ebmlib.rbm.RBM.fit",
        lambda: dict(
            data=bits(8, 4),
            method="pcd",
            k=1,
            epochs=2,
            lr=0.05,
            batch_size=4,
            momentum=0.5,
            generator=gen(),
            progress_bar=False,
            monitor=bits(3, 4),
            track_error=True,
        ),
        obj=rbm,
        big={"epochs": 3, "k": 5, "batch_size": 100, "monitor_every": 5},
    ),
    Spec(
        "ebmlib.rbm.independent_log_likelihood",
        lambda: dict(train=bits(8, 4), test=bits(3, 4, seed=1), pseudocount=1.0),
        ref=ref_independent,
    ),
    Spec(
        "ebmlib.rbm.draw_gibbs_chain",
        lambda: dict(rbm=rbm(), k=2, n_chains=2, seed=0, shape=(2, 2)),
        big={"k": 20, "n_chains": 20},
    ),
]

# ----------------------------------------------------------------------------- attention BM

D, NP = 3, 4


def abm(beta=1.5):
    return lambda: ABM.AttentionBM(normal(NP, D, seed=7), beta)


def abm_np(m):
    return _np(m.patterns), float(m.beta)


def ref_joint(kw, res, m):
    x, beta = abm_np(m)
    s, i = _np(kw["states"]), _np(kw["indices"]).astype(int)
    close(res, 0.5 * (s * s).sum(-1) - (x[i] * s).sum(-1))


def log_w(x, beta):
    a = 0.5 * beta * (x * x).sum(-1)
    return a - logsumexp(a)


def ref_abm_log_density(kw, res, m):
    """log p(xi) of the Gaussian mixture with weights w_i ∝ exp(beta |x_i|^2 / 2)."""
    x, beta = abm_np(m)
    s = _np(kw["states"])
    d2 = ((s[:, None, :] - x[None]) ** 2).sum(-1)
    comp = -0.5 * beta * d2 + 0.5 * D * math.log(beta / (2 * math.pi))
    close(res, logsumexp(log_w(x, beta)[None] + comp, axis=-1))


def ref_abm_posterior(kw, res, m):
    x, beta = abm_np(m)
    a = beta * _np(kw["states"]) @ x.T
    close(res, np.exp(a - logsumexp(a, axis=-1)[:, None]))


def ref_abm_mean_field(kw, res, m):
    x, beta = abm_np(m)
    a = beta * _np(kw["states"]) @ x.T
    close(res, np.exp(a - logsumexp(a, axis=-1)[:, None]) @ x)


def ref_abm_energy(kw, res, m):
    x, beta = abm_np(m)
    s = _np(kw["states"])
    z = s @ x.T
    want = (
        -logsumexp(beta * z, axis=-1) / beta
        + 0.5 * (s * s).sum(-1)
        + math.log(len(x)) / beta
        + 0.5 * np.sqrt((x * x).sum(-1)).max() ** 2
    )
    close(res, want)


def ref_abm_log_z(kw, res, m):
    x, beta = abm_np(m)
    close(res, 0.5 * D * math.log(2 * math.pi / beta) + logsumexp(0.5 * beta * (x * x).sum(-1)))


def ref_abm_log_w(kw, res, m):
    x, beta = abm_np(m)
    close(res, log_w(x, beta))


def phi(z):
    from math import erf

    return 0.5 * (1 + np.vectorize(erf)(z / math.sqrt(2)))


def ref_abm_binary(kw, res, m):
    x, beta = abm_np(m)
    v = _np(kw["v"])
    sb = math.sqrt(beta)

    def cell(bv):
        return phi(sb * (bv + 0.5 - x)) - phi(sb * (bv - 0.5 - x))  # [N, d]

    c0, c1 = cell(0.0), cell(1.0)
    w = np.exp(log_w(x, beta))
    num = np.array([(w * np.prod(np.where(row[None] > 0.5, c1, c0), -1)).sum() for row in v])
    den = (w * np.prod(c0 + c1, -1)).sum()
    close(res, np.log(num / den), rtol=1e-6)


def ref_hopfield_logz(kw, res):
    x = _np(kw["patterns"])
    n, d = x.shape
    beta = kw["beta"]
    s = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    a = beta / (2 * d) * ((s @ x.T) ** 2).sum(-1) - beta * n / 2
    close(res, logsumexp(a), rtol=1e-9)


def ref_mixture_log_prob(kw, res, mix):
    w = _np(mix.log_weights)
    p1, p0 = _np(mix.log_p1), _np(mix.log_p0)
    v = _np(kw["v"])
    comp = w[None] + v @ p1.T + (1 - v) @ p0.T
    close(res, logsumexp(comp, axis=-1))


def mixture():
    return ABM.BernoulliMixture.from_probs(
        simplex(3, seed=2), torch.rand(3, 4, generator=gen(), dtype=F64) * 0.8 + 0.1
    )


def binary_data():
    return bits(8, 4, seed=3)


ATTENTION_BM = [
    Spec("ebmlib.attention_bm.AttentionBM", lambda: dict(patterns=normal(NP, D), beta=1.0)),
    Spec(
        "ebmlib.attention_bm.AttentionBM.joint_energy",
        lambda: dict(states=normal(5, D), indices=torch.tensor([0, 1, 2, 3, 0])),
        obj=abm(),
        ref=ref_joint,
        big={},
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.energy",
        lambda: dict(states=normal(5, D)),
        obj=abm(),
        ref=ref_abm_energy,
    ),
    Spec("ebmlib.attention_bm.AttentionBM.log_mixture_weights", obj=abm(), ref=ref_abm_log_w),
    Spec("ebmlib.attention_bm.AttentionBM.log_partition", obj=abm(), ref=ref_abm_log_z),
    Spec(
        "ebmlib.attention_bm.AttentionBM.log_density",
        lambda: dict(states=normal(5, D)),
        obj=abm(),
        ref=ref_abm_log_density,
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.index_posterior",
        lambda: dict(states=normal(5, D)),
        obj=abm(),
        ref=ref_abm_posterior,
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.sample_indices",
        lambda: dict(states=normal(5, D), generator=gen()),
        obj=abm(),
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.sample_states",
        lambda: dict(indices=torch.tensor([0, 3, 1]), generator=gen()),
        obj=abm(),
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.gibbs",
        lambda: dict(states=normal(5, D), steps=2, generator=gen(), return_trace=True),
        obj=abm(),
        big={"steps": 50},
    ),
    Spec("ebmlib.attention_bm.AttentionBM.sample", lambda: dict(n=5, generator=gen()), obj=abm()),
    Spec(
        "ebmlib.attention_bm.AttentionBM.mean_field_step",
        lambda: dict(states=normal(5, D)),
        obj=abm(),
        ref=ref_abm_mean_field,
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.index_transition_matrix",
        lambda: dict(spacing=0.5),  # exact for patterns in a plane
        obj=lambda: ABM.AttentionBM(
            torch.cat([normal(NP, 2, seed=7), torch.zeros(NP, 1, dtype=F64)], 1), 1.5
        ),
    ),
    Spec("ebmlib.attention_bm.AttentionBM.norm_curvature", obj=abm()),
    Spec(
        "ebmlib.attention_bm.AttentionBM.log_prob_binary",
        lambda: dict(v=bits(5, D)),
        obj=abm(),
        ref=ref_abm_binary,
        discrete={"v"},
    ),
    Spec("ebmlib.attention_bm.AttentionBM.quantised_mixture", obj=abm()),
    Spec(
        "ebmlib.attention_bm.AttentionBM.sample_binary",
        lambda: dict(n=5, generator=gen()),
        obj=abm(),
    ),
    Spec("ebmlib.attention_bm.AttentionBM.ml_gradient", lambda: dict(data=normal(6, D)), obj=abm()),
    Spec(
        "ebmlib.attention_bm.AttentionBM.cd_gradient",
        lambda: dict(data=normal(6, D), k=1, generator=gen()),
        obj=abm(),
        big={"k": 20},
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.fit",
        lambda: dict(
            data=normal(6, D),
            method="cd",
            epochs=2,
            lr=0.1,
            batch_size=3,
            k=1,
            generator=gen(),
            progress_bar=False,
        ),
        obj=abm(),
        big={"epochs": 3, "k": 5},
    ),
    Spec(
        "ebmlib.attention_bm.AttentionBM.fit_binary",
        lambda: dict(data=bits(6, D), epochs=2, lr=0.05, progress_bar=False),
        obj=abm(),
        discrete={"data"},
        big={"epochs": 3},
    ),
    Spec("ebmlib.attention_bm.AttentionBM.get_extra_state", obj=abm()),
    Spec(
        "ebmlib.attention_bm.AttentionBM.set_extra_state",
        lambda: dict(state={"beta": 2.0}),
        obj=abm(),
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture",
        lambda: dict(
            log_weights=torch.log(simplex(3)),
            log_p1=torch.log(simplex(3, 4) * 0.9),
            log_p0=torch.log1p(-simplex(3, 4) * 0.9),
        ),
        # -inf is a log-probability of 0, which a mixture may hold
        inf_signs={"log_weights": (1.0,), "log_p1": (1.0,), "log_p0": (1.0,)},
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture.from_probs",
        lambda: dict(weights=simplex(3), probs=simplex(3, 4, seed=1)),
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture.component_log_prob",
        lambda: dict(v=binary_data()),
        obj=mixture,
        discrete={"v"},
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture.log_prob",
        lambda: dict(v=binary_data()),
        obj=mixture,
        ref=ref_mixture_log_prob,
        discrete={"v"},
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture.posterior",
        lambda: dict(v=binary_data()),
        obj=mixture,
        discrete={"v"},
    ),
    Spec(
        "ebmlib.attention_bm.BernoulliMixture.sample",
        lambda: dict(n=5, generator=gen()),
        obj=mixture,
    ),
    Spec("ebmlib.attention_bm.BernoulliMixture.n_parameters", obj=mixture),
    Spec(
        "ebmlib.attention_bm.bernoulli_mixture_em",
        lambda: dict(
            data=binary_data(),
            n_components=2,
            iterations=3,
            pseudo_count=0.1,
            generator=gen(),
            progress_bar=False,
        ),
        discrete={"data"},
        big={"iterations": 5},
    ),
    Spec(
        "ebmlib.attention_bm.hopfield_log_partition",
        lambda: dict(patterns=pm1(2, 5), beta=1.0),
        ref=ref_hopfield_logz,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.attention_bm.hubbard_stratonovich_log_partition",
        lambda: dict(patterns=pm1(2, 5), beta=1.0),
        ref=lambda kw, res: ref_hopfield_logz(kw, res) if kw["beta"] < 50 else None,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.attention_bm.draw_annealing",
        lambda: dict(beta=1.0, n_samples=30, steps=3, seed=0),
        big={"n_samples": 300, "steps": 30},
    ),
]

SPECS = BOLTZMANN + RBM_SPECS + ATTENTION_BM

test_bad_input, test_bad_input_drawn = make_tests(SPECS)
