"""Bad input for the classical models of chapters 1-3: Ising, Hopfield, dense memories.

``ebmlib.ising``, ``ebmlib.hopfield`` and ``ebmlib.dense``: every public callable gets each
family of bad input of ``tests/_bad_inputs.py``. Results are checked against independent
numpy formulas: the Ising energy per spin :math:numref:`eq-ising-energy` (periodic bonds counted
once), the flip probabilities :math:numref:`eq-ising-metropolis` /
:math:numref:`eq-ising-heatbath`, the Hebbian rule :math:numref:`eq-hopfield-hebb`, the Hopfield
energy :math:numref:`eq-hopfield-energy`, overlaps :math:numref:`eq-hopfield-overlap` and the
dense energy and gaps :math:numref:`eq-dense-energy`, :math:numref:`eq-dense-gap`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from _bad_inputs import Spec, gen, make_tests, normal, pm1

import ebmlib.dense as DN
import ebmlib.hopfield as H
import ebmlib.ising as I

F64 = torch.float64

# Known findings in modules whose owner is still changing them (strict xfails flip when fixed).
ISING = "finding for ebmlib/ising.py: "
HOPFIELD = "finding for ebmlib/hopfield.py: "
DENSE = "finding for ebmlib/dense.py: "


def _np(x):
    return np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, float)


def close(got, want, rtol=1e-6, atol=1e-8, what="result"):
    got = _np(got)
    want = np.asarray(want, float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True), (
        f"{what} differs from the independent formula by "
        f"{float(np.nanmax(np.abs(got - want))) if want.size else 0:.3g}"
    )


def pm1_only(kw, res, obj=None):
    r = _np(res)
    assert set(np.unique(r)) <= {-1.0, 1.0}, "states must stay +-1"


# ----------------------------------------------------------------------------- Ising

L = 4


def ising():
    return I.IsingModel(L, J=1.0, h=0.2)


def spins(*batch, seed=0):
    return pm1(*batch, L, L, seed=seed)


def ising_energy_np(s, J=1.0, h=0.2):
    s = _np(s)
    bonds = s * np.roll(s, -1, -1) + s * np.roll(s, -1, -2)
    d = s.shape[-1] * s.shape[-2]
    return -(J * bonds.sum((-1, -2)) + h * s.sum((-1, -2))) / d


def ref_ising_energy(kw, res, m):
    close(res, ising_energy_np(kw["spins"]), rtol=1e-6)


def ref_ising_mag(kw, res, m):
    close(res, _np(kw["spins"]).mean((-1, -2)))


def ref_flip(kw, res):
    de, T = _np(kw["dE"]), float(kw["T"])
    if kw.get("rule", "metropolis") == "metropolis":
        with np.errstate(over="ignore"):
            want = np.where(de < 0, 1.0, np.where(de == 0, 0.5, np.exp(-de / T)))
    else:
        with np.errstate(over="ignore"):
            want = 1 / (1 + np.exp(de / T))
    close(res, want)


def ref_binder(kw, res):
    m = _np(kw["m"])
    close(res, 1 - (m**4).mean(0) / (3 * (m**2).mean(0) ** 2))


def ref_chi(kw, res):
    m = _np(kw["m"])
    close(res, kw["n_spins"] * ((m**2).mean(0) - np.abs(m).mean(0) ** 2) / float(kw["T"]))


def ref_state_index(kw, res):
    s = _np(kw["spins"])
    flat = s.reshape(*s.shape[:-2], -1)
    close(res, ((flat > 0) * 2 ** np.arange(flat.shape[-1])).sum(-1))


def ref_critical(kw, res):
    assert math.isclose(res, 2 * kw["J"] / math.log(1 + math.sqrt(2)), rel_tol=1e-12)


def ref_onsager_m(kw, res):
    T, J = _np(kw["T"]), kw.get("J", 1.0)
    tc = 2 * J / math.log(1 + math.sqrt(2))
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(T < tc, np.clip(1 - np.sinh(2 * J / T) ** -4, 0, None) ** 0.125, 0.0)
    close(res, want)


def ref_exact_enum(kw, res):
    n = kw["L"] ** 2
    T = kw["T"]
    s = np.array([[1.0 if (k >> j) & 1 else -1.0 for j in range(n)] for k in range(2**n)])
    e = ising_energy_np(s.reshape(-1, kw["L"], kw["L"]), kw.get("J", 1.0), kw.get("h", 0.0))
    a = -e * n / T
    log_z = np.max(a) + np.log(np.exp(a - np.max(a)).sum())
    assert math.isclose(res.log_partition, log_z, rel_tol=1e-9, abs_tol=1e-9)


def ref_stochastic(kw, res, m=None):
    pm1_only(kw, res)


ISING_SPECS = [
    Spec("ebmlib.ising.IsingModel", lambda: dict(L=4, J=1.0, h=0.0)),
    Spec(
        "ebmlib.ising.IsingModel.random_state",
        lambda: dict(batch=3, generator=gen()),
        obj=ising,
        ref=ref_stochastic,
    ),
    Spec(
        "ebmlib.ising.IsingModel.ordered_state",
        lambda: dict(batch=(2, 3), sign=-1),
        obj=ising,
        ref=ref_stochastic,
    ),
    Spec(
        "ebmlib.ising.IsingModel.energy",
        lambda: dict(spins=spins(3)),
        obj=ising,
        ref=ref_ising_energy,
        discrete={"spins"},
    ),
    Spec(
        "ebmlib.ising.IsingModel.magnetization",
        lambda: dict(spins=spins(3)),
        obj=ising,
        ref=ref_ising_mag,
        discrete={"spins"},
    ),
    Spec(
        "ebmlib.ising.IsingModel.metropolis",
        lambda: dict(spins=spins(3), T=2.0, sweeps=2, generator=gen()),
        obj=ising,
        ref=ref_stochastic,
        discrete={"spins"},
        big={"sweeps": 30},
    ),
    Spec(
        "ebmlib.ising.IsingModel.metropolis",
        lambda: dict(
            spins=spins(3),
            T=torch.tensor([1.0, 2.0, 3.0], dtype=F64),
            sweeps=1,
            generator=gen(),
            method="plain",
        ),
        obj=ising,
        ref=ref_stochastic,
        discrete={"spins"},
        key="T-tensor",
        scalar_like={"T"},
    ),
    Spec(
        "ebmlib.ising.IsingModel.heat_bath",
        lambda: dict(spins=spins(3), T=2.0, sweeps=2, generator=gen()),
        obj=ising,
        ref=ref_stochastic,
        discrete={"spins"},
        big={"sweeps": 30},
    ),
    Spec(
        "ebmlib.ising.IsingModel.sample",
        lambda: dict(spins=spins(2), T=2.0, n_samples=3, thin=1, burn_in=1, generator=gen()),
        obj=ising,
        discrete={"spins"},
        big={"n_samples": 30, "thin": 10, "burn_in": 30},
    ),
    Spec(
        "ebmlib.ising.IsingModel.trajectory",
        lambda: dict(spins=spins(2), T=2.0, n_frames=3, sweeps_per_frame=1, generator=gen()),
        obj=ising,
        ref=ref_stochastic,
        discrete={"spins"},
        big={"n_frames": 30, "sweeps_per_frame": 10},
    ),
    Spec("ebmlib.ising.critical_temperature", lambda: dict(J=1.5), ref=ref_critical),
    Spec("ebmlib.ising.onsager_energy", lambda: dict(T=torch.tensor([1.0, 2.5, 4.0]), J=1.0)),
    Spec(
        "ebmlib.ising.onsager_magnetization",
        lambda: dict(T=torch.tensor([1.0, 2.0, 2.5], dtype=F64), J=1.0),
        ref=ref_onsager_m,
    ),
    Spec(
        "ebmlib.ising.exact_enumeration",
        lambda: dict(L=2, T=2.0, J=1.0, h=0.3),
        ref=ref_exact_enum,
        big={"L": 9},
    ),
    Spec(
        "ebmlib.ising.state_index",
        lambda: dict(spins=spins(3)),
        ref=ref_state_index,
        discrete={"spins"},
    ),
    Spec("ebmlib.ising.colour_masks", lambda: dict(L=4)),
    Spec(
        "ebmlib.ising.flip_probability",
        lambda: dict(dE=torch.tensor([-4.0, 0.0, 4.0, 8.0], dtype=F64), T=2.0),
        ref=ref_flip,
    ),
    Spec(
        "ebmlib.ising.flip_probability",
        lambda: dict(dE=torch.tensor([-4.0, 0.0, 4.0, 8.0], dtype=F64), T=2.0, rule="heat_bath"),
        ref=ref_flip,
        key="heat_bath",
    ),
    Spec(
        "ebmlib.ising.reference_sweeps",
        lambda: dict(spins=spins(2), T=2.0, J=1.0, h=0.0, sweeps=1, generator=gen()),
        ref=ref_stochastic,
        discrete={"spins"},
        big={"sweeps": 20},
    ),
    Spec("ebmlib.ising.transition_matrix", lambda: dict(L=2, T=2.0, J=1.0, h=0.1), big={"L": 9}),
    Spec(
        "ebmlib.ising.propagate",
        lambda: dict(p=torch.full((16,), 1 / 16, dtype=F64), L=2, T=2.0, sweeps=2),
        big={"L": 9, "sweeps": 20},
    ),
    Spec("ebmlib.ising.binder_cumulant", lambda: dict(m=normal(20, 2) * 0.3), ref=ref_binder),
    Spec(
        "ebmlib.ising.susceptibility",
        lambda: dict(m=normal(20, 2) * 0.3, T=2.0, n_spins=16),
        ref=ref_chi,
    ),
    Spec(
        "ebmlib.ising.draw_ising",
        lambda: dict(T=2.27, L=8, sweeps=3, seed=0),
        big={"L": 100, "sweeps": 50},
    ),
]

# ----------------------------------------------------------------------------- Hopfield

N, D = 3, 8


def ref_hebbian(kw, res):
    x = _np(kw["patterns"])
    w = x.T @ x / x.shape[1]
    np.fill_diagonal(w, 0.0)
    close(res, w)


def ref_storkey(kw, res):
    """Storkey's rule, pattern by pattern with explicit loops (eq-hopfield-storkey)."""
    x = _np(kw["patterns"])
    d = x.shape[1]
    w = np.zeros((d, d))
    for p in x:
        a = np.array(
            [
                [sum(w[j, l] * p[l] for l in range(d) if l not in (j, k)) for k in range(d)]
                for j in range(d)
            ]
        )
        dw = (np.outer(p, p) - p[:, None] * a.T - a * p[None, :]) / d
        w = w + dw
        np.fill_diagonal(w, 0.0)
    close(res, w, rtol=1e-6, atol=1e-9)


def ref_pinv(kw, res):
    x = _np(kw["patterns"])
    p = x.T @ np.linalg.pinv(x @ x.T) @ x
    np.fill_diagonal(p, 0.0)
    close(res, p, atol=1e-9)


def ref_h_energy(kw, res):
    w, s = _np(kw["weights"]), _np(kw["states"])
    close(res, -0.5 * np.einsum("...i,ij,...j->...", s, w, s))


def ref_h_field(kw, res):
    close(res, _np(kw["states"]) @ _np(kw["weights"]).T)


def ref_overlap(kw, res):
    a, b = _np(kw["a"]), _np(kw["b"])
    close(res, (a * b).sum(-1) / a.shape[-1])


def ref_overlaps(kw, res):
    s, x = _np(kw["states"]), _np(kw["patterns"])
    close(res, s @ x.T / x.shape[-1])


def ref_corrupt(kw, res):
    x, r = _np(kw["patterns"]), _np(res)
    assert set(np.unique(r)) <= {-1.0, 1.0}
    if kw.get("exact", True):
        flips = (x != r).sum(-1)
        assert np.all(flips == round(kw["fraction"] * x.shape[-1]))


def ref_mixture(kw, res):
    close(res, np.sign(_np(kw["patterns"]).sum(0)))


def ref_perror(kw, res):
    a = float(kw["alpha"])
    assert math.isclose(res, 0.5 * math.erfc(1 / math.sqrt(2 * a)), rel_tol=1e-9)


def hopfield_net(rule="hebbian", matrix_free=False):
    def build():
        net = H.HopfieldNetwork(D, rule=rule, matrix_free=matrix_free, dtype=F64)
        return net.store(pm1(N, D, seed=4))

    return build


def ref_net_energy(kw, res, net):
    w = ref_weights(net)
    s = _np(kw["states"])
    close(res, -0.5 * np.einsum("...i,ij,...j->...", s, w, s))


def ref_weights(net):
    x = _np(pm1(N, D, seed=4))
    w = x.T @ x / D
    np.fill_diagonal(w, 0.0)
    return w


def ref_net_field(kw, res, net):
    close(res, _np(kw["states"]) @ ref_weights(net).T)


def ref_fixed(kw, res, net):
    s = _np(kw["states"])
    h = s @ ref_weights(net).T
    want = np.all((h * s > 0) | (h == 0), axis=-1)
    assert _np(res).astype(bool).tolist() == want.tolist()


HOPFIELD_SPECS = [
    Spec(
        "ebmlib.hopfield.hebbian",
        lambda: dict(patterns=pm1(N, D)),
        ref=ref_hebbian,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.hopfield.storkey",
        lambda: dict(patterns=pm1(N, D)),
        ref=ref_storkey,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.hopfield.pseudoinverse",
        lambda: dict(patterns=pm1(N, D)),
        ref=ref_pinv,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.hopfield.energy",
        lambda: dict(weights=H.hebbian(pm1(N, D)), states=pm1(4, D, seed=1)),
        ref=ref_h_energy,
    ),
    Spec(
        "ebmlib.hopfield.local_field",
        lambda: dict(weights=H.hebbian(pm1(N, D)), states=pm1(4, D, seed=1)),
        ref=ref_h_field,
    ),
    Spec(
        "ebmlib.hopfield.overlap",
        lambda: dict(a=pm1(4, D), b=pm1(4, D, seed=1)),
        ref=ref_overlap,
    ),
    Spec(
        "ebmlib.hopfield.overlaps",
        lambda: dict(states=pm1(4, D), patterns=pm1(N, D, seed=1)),
        ref=ref_overlaps,
    ),
    Spec(
        "ebmlib.hopfield.corrupt",
        lambda: dict(patterns=pm1(4, D), fraction=0.25, generator=gen()),
        ref=ref_corrupt,
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.hopfield.mixture_state",
        lambda: dict(patterns=pm1(3, D)),
        ref=ref_mixture,
        discrete={"patterns"},
    ),
    Spec("ebmlib.hopfield.HopfieldNetwork", lambda: dict(d=D, rule="storkey", matrix_free=False)),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.store",
        lambda: dict(patterns=pm1(N, D)),
        obj=lambda: H.HopfieldNetwork(D, dtype=F64),
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.set_weights",
        lambda: dict(weights=H.hebbian(pm1(N, D))),
        obj=lambda: H.HopfieldNetwork(D, dtype=F64),
    ),
    Spec("ebmlib.hopfield.HopfieldNetwork.dense_weights", obj=hopfield_net(matrix_free=True)),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.local_field",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=hopfield_net(),
        ref=ref_net_field,
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.energy",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=hopfield_net(),
        ref=ref_net_energy,
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.energy",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=hopfield_net(matrix_free=True),
        ref=ref_net_energy,
        key="matrix_free",
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.is_fixed_point",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=hopfield_net(),
        ref=ref_fixed,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.update",
        lambda: dict(states=pm1(4, D, seed=1), mode="async", sweeps=2, generator=gen()),
        obj=hopfield_net(),
        ref=pm1_only,
        discrete={"states"},
        big={"sweeps": 30},
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.update",
        lambda: dict(states=pm1(4, D, seed=1), mode="sync", sweeps=1),
        obj=hopfield_net(matrix_free=True),
        ref=pm1_only,
        discrete={"states"},
        key="sync",
        big={"sweeps": 30},
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.step",
        lambda: dict(states=pm1(4, D, seed=1), units=torch.tensor([0, 3, 5, 7])),
        obj=hopfield_net(),
        ref=pm1_only,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.hopfield.HopfieldNetwork.recall",
        lambda: dict(cues=pm1(4, D, seed=1), max_sweeps=5, mode="async", generator=gen()),
        obj=hopfield_net(),
        discrete={"cues"},
        big={"max_sweeps": 50},
    ),
    Spec("ebmlib.hopfield.one_step_error_theory", lambda: dict(alpha=0.138), ref=ref_perror),
    Spec("ebmlib.hopfield.one_step_error_exact", lambda: dict(N=5, d=20), big={"N": 200}),
    Spec("ebmlib.hopfield.ags_overlap", lambda: dict(alpha=0.1)),
    Spec(
        "ebmlib.hopfield.one_step_error_rate",
        lambda: dict(d=16, n_patterns=3, trials=2, generator=gen()),
        big={"d": 64, "n_patterns": 50, "trials": 5},
    ),
    Spec(
        "ebmlib.hopfield.recall_experiment",
        lambda: dict(
            d=16,
            n_patterns=2,
            rule="hebbian",
            corruption=0.1,
            correlation=0.0,
            n_cues=3,
            trials=1,
            max_sweeps=5,
            generator=gen(),
        ),
        big={"d": 64, "n_patterns": 50, "n_cues": 10, "trials": 3, "max_sweeps": 20},
    ),
    Spec(
        "ebmlib.hopfield.estimate_capacity",
        lambda: dict(
            alphas=torch.tensor([0.05, 0.1, 0.15, 0.2], dtype=F64),
            retrieved=torch.tensor([1.0, 0.9, 0.3, 0.0], dtype=F64),
            level=0.5,
        ),
        ref=lambda kw, res: close(res, 0.1 + 0.05 * 0.4 / 0.6),
    ),
    Spec(
        "ebmlib.hopfield.classify_states",
        lambda: dict(states=pm1(4, D, seed=1), patterns=pm1(N, D), tol=0.15),
    ),
    Spec(
        "ebmlib.hopfield.draw_recall",
        lambda: dict(n_patterns=2, corruption=0.2, rule="hebbian", seed=0, size=8),
        big={"n_patterns": 20, "size": 40},
    ),
]

# ----------------------------------------------------------------------------- dense


def dense(F="poly", n=3, beta=1.0):
    return lambda: DN.DenseAssociativeMemory(pm1(N, D, seed=4), F=F, n=n, beta=beta)


def phi_np(x, F, n, beta):
    if F == "poly":
        return x**n
    if F == "rectified":
        return np.maximum(x, 0) ** n
    return np.exp(beta * x)


def ref_dense_energy(kw, res, m):
    x = _np(m.patterns)
    s = _np(kw["states"])
    close(res, -phi_np(s @ x.T, m.F, m.n, m.beta).sum(-1), rtol=1e-9)


def ref_dense_gaps(kw, res, m):
    x = _np(m.patterns)
    s = _np(kw["states"])
    out = np.zeros_like(s)
    for j in range(s.shape[-1]):
        up, down = s.copy(), s.copy()
        up[..., j], down[..., j] = 1, -1
        e_up = -phi_np(up @ x.T, m.F, m.n, m.beta).sum(-1)
        e_down = -phi_np(down @ x.T, m.F, m.n, m.beta).sum(-1)
        out[..., j] = e_down - e_up
    close(res, out, rtol=1e-9, atol=1e-9)


def ref_sep_fn(kw, res):
    close(res, phi_np(_np(kw["x"]), kw.get("F", "poly"), kw.get("n", 3), kw.get("beta", 1.0)))


def ref_double_factorial(kw, res):
    k = kw["k"]
    want = 1
    while k > 1:
        want *= k
        k -= 2
    assert res == want


def ref_poly_capacity(kw, res):
    d, n = float(kw["d"]), kw["n"]
    df = 1
    k = 2 * n - 3
    while k > 1:
        df *= k
        k -= 2
    assert math.isclose(float(res), d ** (n - 1) / (2 * df * math.log(d)), rel_tol=1e-9)


def ref_exp_rate(kw, res):
    x = 1 - 2 * kw.get("rho", 0.0)
    want = 0.5 * (((1 + x) * math.log(1 + x) + ((1 - x) * math.log(1 - x) if x < 1 else 0)) / 2)
    assert math.isclose(res, want, rel_tol=1e-9)


DENSE_SPECS = [
    Spec(
        "ebmlib.dense.DenseAssociativeMemory",
        lambda: dict(patterns=pm1(N, D), F="exp", n=3, beta=0.5),
        discrete={"patterns"},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.energy",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense(),
        ref=ref_dense_energy,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.energy",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense("exp", beta=0.7),
        ref=ref_dense_energy,
        discrete={"states"},
        key="exp",
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.log_neg_energy",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense("exp", beta=0.7),
        ref=lambda kw, res, m: close(
            res,
            np.log(
                -np.array(-phi_np(_np(kw["states"]) @ _np(m.patterns).T, "exp", 3, m.beta).sum(-1))
            ),
        ),
        discrete={"states"},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.energy_gaps",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense("rectified"),
        ref=ref_dense_gaps,
        discrete={"states"},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.is_fixed_point",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense(),
        discrete={"states"},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.update",
        lambda: dict(
            states=pm1(4, D, seed=1), mode="async", sweeps=1, order="random", generator=gen()
        ),
        obj=dense(),
        ref=pm1_only,
        discrete={"states"},
        big={"sweeps": 20},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.recall",
        lambda: dict(cues=pm1(4, D, seed=1), max_sweeps=5, order="sequential", generator=gen()),
        obj=dense(),
        discrete={"cues"},
        big={"max_sweeps": 30},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.gibbs",
        lambda: dict(
            states=pm1(4, D, seed=1), T=1.0, sweeps=1, order="sequential", generator=gen()
        ),
        obj=dense("exp", beta=0.5),
        ref=pm1_only,
        discrete={"states"},
        big={"sweeps": 20},
    ),
    Spec(
        "ebmlib.dense.DenseAssociativeMemory.attention_field",
        lambda: dict(states=pm1(4, D, seed=1)),
        obj=dense("exp", beta=0.5),
        discrete={"states"},
    ),
    Spec(
        "ebmlib.dense.separation_function",
        lambda: dict(x=normal(3, 4), F="rectified", n=3, beta=1.0),
        ref=ref_sep_fn,
    ),
    Spec(
        "ebmlib.dense.separation_function",
        lambda: dict(x=normal(3, 4), F="exp", beta=0.5),
        ref=ref_sep_fn,
        key="exp",
        xfail={
            "extreme": DENSE + "F='exp' at beta = 1e3 returns inf (exp overflows) with no error"
        },
    ),
    Spec(
        "ebmlib.dense.double_factorial", lambda: dict(k=7), ref=ref_double_factorial, big={"k": 60}
    ),
    Spec(
        "ebmlib.dense.poly_capacity",
        lambda: dict(d=100.0, n=3),
        ref=ref_poly_capacity,
    ),
    Spec(
        "ebmlib.dense.poly_capacity_gaussian",
        lambda: dict(d=20, n=3, level=0.5),
        big={"d": 200, "n": 12},
    ),
    Spec(
        "ebmlib.dense.capacity_bisect",
        lambda: dict(d=10, F="poly", n=2, beta=1.0, level=0.5, trials=1, probes=10, seed=0),
        big={"d": 20, "n": 5, "trials": 3, "probes": 30},
    ),
    Spec("ebmlib.dense.exp_capacity_rate", lambda: dict(rho=0.1), ref=ref_exp_rate),
    Spec(
        "ebmlib.dense.exp_capacity_pairs",
        lambda: dict(d=20.0, p_ok=0.5),
    ),
    Spec(
        "ebmlib.dense.stable_fraction",
        lambda: dict(N=4, d=10, F="poly", n=3, beta=1.0, trials=1, probes=10, generator=gen()),
        big={"N": 100, "d": 40, "trials": 3, "probes": 30},
    ),
    Spec(
        "ebmlib.dense.first_unstable_count",
        lambda: dict(d=8, beta=1.0, n_max=64, generator=gen()),
        big={"d": 12, "n_max": 2000},
    ),
    Spec(
        "ebmlib.dense.draw_recall",
        lambda: dict(
            F="exp", n=3, corruption=0.3, letters="ABCD", target=0, size=8, beta=1.0, seed=0
        ),
        big={"size": 40, "target": 1000},
    ),
]

SPECS = ISING_SPECS + HOPFIELD_SPECS + DENSE_SPECS

test_bad_input, test_bad_input_drawn = make_tests(SPECS)
