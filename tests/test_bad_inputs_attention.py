"""Bad input for the modern Hopfield memory and the attention layers (chapters 4-5).

``ebmlib.modern``, ``ebmlib.attention``, ``ebmlib.tasks`` and ``ebmlib.distributed``: every
public callable gets each family of bad input described in ``tests/_bad_inputs.py`` (wrong
shapes and dtypes, NaN/inf, empty, numpy, non-contiguous, a second device, mixed dtypes,
extreme beta, zero and negative sizes). Where a result comes back it is compared with an
independent float64 formula written here (numpy, not the library's kernels): the energy
:math:numref:`eq-modern-energy`, the update :math:numref:`eq-modern-update` and attention
:math:numref:`eq-attention-hopfield`.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
from _bad_inputs import Spec, gen, make_tests, normal

import ebmlib.attention as A
import ebmlib.modern as M
import ebmlib.tasks as T

# ---------------------------------------------------------------- independent float64 formulas


def _np(x):
    return np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, float)


def np_lse(beta, z, axis=-1):
    """beta^-1 log sum exp(beta z), shifted by the maximum (eq-modern-lse)."""
    z = _np(z)
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(beta * (z - m)).sum(axis=axis, keepdims=True)) / beta).squeeze(axis)


def np_softmax(a, axis=-1):
    a = a - a.max(axis=axis, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=axis, keepdims=True)


def np_energy(states, patterns, beta):
    """E = -lse(beta, X^T xi) + xi.xi/2 + log(N)/beta + M^2/2 (eq-modern-energy), in the
    form -(1/beta) log mean exp(beta (z - z_max)) - z_max that does not cancel at small beta."""
    s, x = _np(states), _np(patterns)
    z = s @ x.T
    m = z.max(-1, keepdims=True)
    lme = np.log(np.mean(np.exp(beta * (z - m)), axis=-1)) / beta
    big_m = np.sqrt((x * x).sum(-1)).max()
    return -lme - m[..., 0] + 0.5 * (s * s).sum(-1) + 0.5 * big_m**2


def np_update(states, patterns, beta):
    """X softmax(beta X^T xi) (eq-modern-update)."""
    s, x = _np(states), _np(patterns)
    return np_softmax(beta * (s @ x.T)) @ x


def close(got, want, rtol=1e-4, atol=1e-5, what="result"):
    got = _np(got)
    want = np.asarray(want, float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    assert np.allclose(got, want, rtol=rtol, atol=atol * scale), (
        f"{what} differs from the independent formula by "
        f"{float(np.abs(got - want).max()) if want.size else 0:.3g}"
    )


def tol_for(*tensors):
    return (
        1e-3
        if any(
            t.dtype in (torch.float16, torch.float32)
            for t in tensors
            if isinstance(t, torch.Tensor)
        )
        else 1e-8
    )


# ----------------------------------------------------------------------------- modern memory


def st_pat(d=6, n=3, N=5, dtype=torch.float64):
    return dict(
        states=normal(n, d, seed=1, dtype=dtype), patterns=normal(N, d, seed=2, dtype=dtype)
    )


def ref_lse(kw, res):
    close(res, np_lse(kw["beta"], kw["z"], kw.get("dim", -1)), rtol=tol_for(kw["z"]))


def ref_energy(kw, res):
    close(
        res,
        np_energy(kw["states"], kw["patterns"], kw["beta"]),
        rtol=tol_for(kw["states"]),
        atol=tol_for(kw["states"]),
    )


def ref_update(kw, res):
    close(
        res,
        np_update(kw["states"], kw["patterns"], kw["beta"]),
        rtol=tol_for(kw["states"]),
        atol=tol_for(kw["states"]),
    )


def ref_retrieve(kw, res):
    s = _np(kw["states"])
    x = _np(kw["patterns"])
    for _ in range(res.steps):
        s = np_update(s, x, kw["beta"])
    close(res.states, s, rtol=1e-6, atol=1e-6, what="retrieved states")
    if res.converged:
        step = np_update(_np(res.states), x, kw["beta"])
        assert np.abs(step - _np(res.states)).max() <= 10 * kw.get("tol", 1e-6) + 1e-9


def ref_separation(kw, res):
    x = _np(kw["patterns"])
    g = x @ x.T
    want = np.array(
        [g[i, i] - max(g[i, j] for j in range(len(x)) if j != i) for i in range(len(x))]
    )
    close(res, want, rtol=1e-6)


def ref_mass(kw, res):
    p = np_softmax(kw["beta"] * (_np(kw["states"]) @ _np(kw["patterns"]).T))
    mass = kw.get("mass", 0.9)
    want = []
    for row in p:
        c = np.cumsum(np.sort(row)[::-1])
        want.append(int(np.searchsorted(c, mass * (1 - 1e-12)) + 1))
    assert res.tolist() == want, f"counts {res.tolist()} != {want}"


def ref_bound(kw, res):
    x = _np(kw["patterns"])
    g = x @ x.T
    n = len(x)
    delta = np.array([g[i, i] - max(g[i, j] for j in range(n) if j != i) for i in range(n)])
    m = np.sqrt(np.diag(g)).max()
    r = float(kw.get("radius", 0.0))
    with np.errstate(over="ignore"):
        want = 2 * m * (n - 1) * np.exp(-kw["beta"] * (delta - 2 * m * r))
    close(res, want, rtol=1e-6)


def ref_storage_constant(kw, res):
    """c solves c = b / W0(exp(a) b), i.e. c = b exp(a - ... ): check ln c + c... by the W0
    identity W e^W = z: with w = b / c, w e^w must equal exp(a + ln b)."""
    beta, K, d, p = kw["beta"], kw["K"], kw["d"], kw["p"]
    a = 2.0 / (d - 1) * (1.0 + math.log(2.0 * beta * K * K * p * (d - 1)))
    b = 2.0 * K * K * beta / 5.0
    w = b / res
    assert math.isclose(math.log(w) + w, a + math.log(b), rel_tol=1e-9, abs_tol=1e-9)


def ref_clustered(kw, res):
    n = kw["n_clusters"] * kw["per_cluster"]
    assert res.shape == (n, kw["d"])
    assert torch.allclose(res.double().norm(dim=-1), torch.ones(n, dtype=torch.float64), atol=1e-5)


MODERN = [
    Spec("ebmlib.modern.lse", lambda: dict(beta=1.0, z=normal(3, 5)), ref=ref_lse),
    Spec("ebmlib.modern.energy", lambda: dict(**st_pat(), beta=1.0), ref=ref_energy),
    Spec(
        "ebmlib.modern.energy",
        lambda: dict(**st_pat(), beta=1.0, chunk_size=2),
        ref=ref_energy,
        key="chunked",
    ),
    Spec(
        "ebmlib.modern.energy",
        lambda: dict(**st_pat(dtype=torch.float32), beta=1.0, validate=False),
        ref=ref_energy,
        key="lean",
        skip={"nan": "validate=False skips value scans", "inf": "validate=False skips value scans"},
    ),
    Spec("ebmlib.modern.update", lambda: dict(**st_pat(), beta=1.0), ref=ref_update),
    Spec(
        "ebmlib.modern.update",
        lambda: dict(**st_pat(), beta=1.0, chunk_size=2),
        ref=ref_update,
        key="chunked",
    ),
    Spec(
        "ebmlib.modern.update",
        lambda: dict(**st_pat(dtype=torch.float32), beta=1.0, method="sdpa"),
        ref=ref_update,
        key="sdpa",
    ),
    Spec(
        "ebmlib.modern.retrieve",
        lambda: dict(**st_pat(), beta=2.0, max_steps=20, tol=1e-6),
        ref=ref_retrieve,
    ),
    Spec("ebmlib.modern.separation", lambda: dict(patterns=normal(5, 4)), ref=ref_separation),
    Spec(
        "ebmlib.modern.separation",
        lambda: dict(patterns=normal(5, 4), chunk_size=2),
        ref=ref_separation,
        key="chunked",
    ),
    Spec(
        "ebmlib.modern.softmax_mass_count",
        lambda: dict(**st_pat(), beta=1.0, mass=0.9),
        ref=ref_mass,
    ),
    Spec(
        "ebmlib.modern.softmax_mass_count",
        lambda: dict(**st_pat(), beta=1.0, mass=0.9, chunk_size=2),
        ref=ref_mass,
        key="chunked",
    ),
    Spec(
        "ebmlib.modern.one_step_error_bound",
        lambda: dict(patterns=normal(4, 6), beta=0.5, radius=0.1),
        ref=ref_bound,
        allow_inf=False,
    ),
    Spec(
        "ebmlib.modern.storage_constant",
        lambda: dict(beta=1.0, K=1.0, d=10, p=0.01),
        ref=ref_storage_constant,
    ),
    Spec(
        "ebmlib.modern.storage_capacity",
        lambda: dict(beta=2.0, K=2.0, d=40, p=0.01),
        skip={
            "extreme": "beta = 1e-3 is outside the theorem's range: a ValueError says that "
            "c is below (2/sqrt(p))^(4/(d-1)); storage_constant covers the range"
        },
    ),
    Spec(
        "ebmlib.modern.clustered_patterns",
        lambda: dict(n_clusters=2, per_cluster=3, d=5, noise=0.3, generator=gen()),
        ref=ref_clustered,
    ),
    Spec("ebmlib.modern.masked_glyphs", lambda: dict(text="AB", size=8, pixel=0.25)),
    Spec(
        "ebmlib.modern.draw_retrieval", lambda: dict(beta=1.0, text="AWU", size=8, shown=2, steps=1)
    ),
    Spec("ebmlib.modern.update_method", lambda: dict(device="cpu", dtype=torch.float32)),
]

# ----------------------------------------------------------------------------- attention


def qkv(dtype=torch.float64):
    return dict(
        queries=normal(2, 3, 4, seed=1, dtype=dtype),
        keys=normal(2, 5, 4, seed=2, dtype=dtype),
        values=normal(2, 5, 3, seed=3, dtype=dtype),
    )


def np_attention(q, k, v, beta, steps=1, mask=None):
    q, k = _np(q), _np(k)
    v = k if v is None else _np(v)
    if mask is None:
        bias = 0.0
    elif mask.dtype == torch.bool:  # True = the key is masked out
        bias = np.where(_np(mask) > 0.5, -np.inf, 0.0)
    else:
        bias = _np(mask)
    for _ in range(steps - 1):
        q = np_softmax(beta * q @ np.swapaxes(k, -1, -2) + bias) @ k
    return np_softmax(beta * q @ np.swapaxes(k, -1, -2) + bias) @ v


def ref_attention(kw, res):
    beta = kw.get("beta") or 1 / math.sqrt(kw["queries"].shape[-1])
    want = np_attention(
        kw["queries"], kw["keys"], kw.get("values"), beta, kw.get("steps", 1), kw.get("attn_mask")
    )
    close(res, want, rtol=tol_for(kw["queries"]), atol=tol_for(kw["queries"]))


def ref_trajectory(kw, res):
    beta = kw.get("beta") or 1 / math.sqrt(kw["queries"].shape[-1])
    q = _np(kw["queries"])
    for t in range(kw.get("steps", 1)):
        q = np_attention(q, kw["keys"], None, beta, 1, kw.get("attn_mask"))
        close(
            res[..., t + 1, :, :] if res.dim() > q.ndim else res[t + 1],
            q,
            rtol=tol_for(kw["queries"]),
            what=f"step {t + 1}",
        )


def ref_att_energy(kw, res):
    beta = kw.get("beta") or 1 / math.sqrt(kw["states"].shape[-1])
    s, k = _np(kw["states"]), _np(kw["keys"])
    z = s @ np.swapaxes(k, -1, -2)
    m = z.max(-1, keepdims=True)
    lme = np.log(np.mean(np.exp(beta * (z - m)), axis=-1)) / beta
    big_m = np.sqrt((k * k).sum(-1)).max(-1)[..., None]
    want = -lme - m[..., 0] + 0.5 * (s * s).sum(-1) + 0.5 * big_m**2
    close(res, want, rtol=tol_for(kw["states"]), atol=tol_for(kw["states"]))


def layer(cls=A.Hopfield, **kw):
    def build():
        return cls(**{"generator": gen(), **kw})

    return build


def hop(**kw):
    return layer(A.Hopfield, d_model=4, num_heads=2, validate=True, dtype=torch.float64, **kw)


LEAN = {
    "nan": "layers scan values only with validate=True (policy: no sync in forward)",
    "inf": "layers scan values only with validate=True (policy: no sync in forward)",
}


def x3(*shape, seed=1):
    return normal(*shape, seed=seed)


ATTENTION = [
    Spec(
        "ebmlib.attention.hopfield_attention",
        lambda: dict(**qkv(), beta=0.7, steps=2),
        ref=ref_attention,
    ),
    Spec(
        "ebmlib.attention.hopfield_attention",
        lambda: dict(
            queries=normal(3, 4, seed=1),
            keys=normal(5, 4, seed=2),
            beta=0.7,
            attn_mask=torch.tensor([[True, False, True, True, True]] * 3),
        ),
        ref=ref_attention,
        key="mask",
    ),
    Spec(
        "ebmlib.attention.hopfield_attention",
        lambda: dict(**qkv(torch.float32), beta=0.7, validate=False),
        ref=ref_attention,
        key="lean",
        skip=LEAN,
    ),
    Spec(
        "ebmlib.attention.hopfield_trajectory",
        lambda: dict(queries=normal(3, 4, seed=1), keys=normal(5, 4, seed=2), beta=0.7, steps=2),
        ref=ref_trajectory,
    ),
    Spec(
        "ebmlib.attention.energy",
        lambda: dict(states=normal(3, 4, seed=1), keys=normal(5, 4, seed=2), beta=0.7),
        ref=ref_att_energy,
    ),
    Spec(
        "ebmlib.attention.Hopfield",
        lambda: dict(d_model=4, num_heads=2, beta=0.5, steps=1, dropout=0.0, generator=gen()),
    ),
    Spec(
        "ebmlib.attention.Hopfield.forward",
        lambda: dict(state_patterns=x3(2, 3, 4), stored_patterns=x3(2, 5, 4, seed=2)),
        obj=hop(),
    ),
    Spec(
        "ebmlib.attention.Hopfield.forward",
        lambda: dict(
            state_patterns=x3(2, 3, 4),
            stored_patterns=x3(2, 5, 4, seed=2),
            key_padding_mask=torch.tensor([[False] * 4 + [True]] * 2),
            need_weights=True,
        ),
        obj=hop(),
        key="padding",
    ),
    Spec(
        "ebmlib.attention.Hopfield.forward",
        lambda: dict(
            state_patterns=x3(2, 3, 4).float(), stored_patterns=x3(2, 5, 4, seed=2).float()
        ),
        obj=layer(A.Hopfield, d_model=4, num_heads=2),
        key="lean",
        skip=LEAN,
    ),
    Spec(
        "ebmlib.attention.Hopfield.project",
        lambda: dict(state_patterns=x3(2, 3, 4), stored_patterns=x3(2, 5, 4, seed=2)),
        obj=hop(),
    ),
    Spec(
        "ebmlib.attention.Hopfield.energy",
        lambda: dict(state_patterns=x3(2, 3, 4), stored_patterns=x3(2, 5, 4, seed=2)),
        obj=hop(),
    ),
    Spec(
        "ebmlib.attention.Hopfield.softmax_mass_count",
        lambda: dict(state_patterns=x3(2, 3, 4), stored_patterns=x3(2, 5, 4, seed=2), mass=0.9),
        obj=hop(),
    ),
    Spec("ebmlib.attention.Hopfield.pure", lambda: dict(beta=0.5, steps=2, d_model=4)),
    Spec(
        "ebmlib.attention.Hopfield.from_multihead_attention",
        lambda: dict(mha=torch.nn.MultiheadAttention(4, 2, batch_first=True), steps=1),
    ),
    Spec(
        "ebmlib.attention.Hopfield.load_multihead_attention",
        lambda: dict(mha=torch.nn.MultiheadAttention(4, 2, batch_first=True, dtype=torch.float64)),
        obj=hop(),
    ),
    Spec(
        "ebmlib.attention.HopfieldPooling",
        lambda: dict(d_model=4, num_heads=2, num_queries=2, generator=gen()),
    ),
    Spec(
        "ebmlib.attention.HopfieldPooling.forward",
        lambda: dict(stored_patterns=x3(2, 5, 4)),
        obj=layer(
            A.HopfieldPooling,
            d_model=4,
            num_heads=2,
            num_queries=2,
            validate=True,
            dtype=torch.float64,
        ),
    ),
    Spec(
        "ebmlib.attention.HopfieldPooling.energy",
        lambda: dict(stored_patterns=x3(2, 5, 4)),
        obj=layer(
            A.HopfieldPooling,
            d_model=4,
            num_heads=2,
            num_queries=2,
            validate=True,
            dtype=torch.float64,
        ),
    ),
    Spec(
        "ebmlib.attention.HopfieldLayer",
        lambda: dict(d_model=4, num_stored=6, num_heads=2, generator=gen()),
    ),
    Spec(
        "ebmlib.attention.HopfieldLayer.forward",
        lambda: dict(state_patterns=x3(2, 3, 4)),
        obj=layer(
            A.HopfieldLayer,
            d_model=4,
            num_stored=6,
            num_heads=2,
            validate=True,
            dtype=torch.float64,
        ),
    ),
    Spec(
        "ebmlib.attention.HopfieldLayer.energy",
        lambda: dict(state_patterns=x3(2, 3, 4)),
        obj=layer(
            A.HopfieldLayer,
            d_model=4,
            num_stored=6,
            num_heads=2,
            validate=True,
            dtype=torch.float64,
        ),
    ),
    Spec(
        "ebmlib.attention.draw_winner_take_all",
        lambda: dict(beta=1.0, scores=torch.tensor([1.0, 0.5, -0.2])),
    ),
]

# ----------------------------------------------------------------------------- tasks


def bags():
    return T.make_mil_bags(6, bag_size=4, dim=3, generator=gen(), dtype=torch.float64)


def recall():
    return T.make_recall_task(4, n_items=3, n_symbols=5, generator=gen())


def ref_llr(kw, res):
    """log p(bag | positive) / p(bag | negative) for the MIL model (one shifted instance)."""
    b = _np(kw["bags"])
    mu = kw.get("signal_shift", 5.0)
    # positive: one uniformly chosen instance has its first coordinate shifted by mu
    with np.errstate(over="ignore"):
        want = np.log(np.mean(np.exp(mu * b[..., 0] - mu**2 / 2), axis=-1))
    close(res, want, rtol=1e-6, atol=1e-6)


def ref_recall_targets(kw, res):
    v, q = kw["values"], kw["query"]
    want = [int(v[i, int(q[i])]) for i in range(len(q))] if q.dim() == 1 else None
    if want is not None:
        assert res.tolist() == want


TASKS = [
    Spec(
        "ebmlib.tasks.make_mil_bags",
        lambda: dict(n_bags=4, bag_size=3, dim=2, signal_shift=2.0, generator=gen()),
    ),
    Spec(
        "ebmlib.tasks.mil_log_likelihood_ratio",
        lambda: dict(bags=bags()[0], signal_shift=5.0),
        ref=ref_llr,
    ),
    Spec(
        "ebmlib.tasks.MILClassifier",
        lambda: dict(dim=3, pooling="hopfield", num_heads=1, beta=0.5, generator=gen()),
    ),
    Spec(
        "ebmlib.tasks.MILClassifier.forward",
        lambda: dict(bags=bags()[0].float()),
        obj=lambda: T.MILClassifier(3, generator=gen()),
        skip=LEAN,
    ),
    Spec(
        "ebmlib.tasks.make_recall_task",
        lambda: dict(n_seqs=3, n_items=3, n_symbols=5, generator=gen()),
    ),
    Spec("ebmlib.tasks.recall_targets", lambda: dict(values=recall()[1], query=recall()[2])),
    Spec(
        "ebmlib.tasks.RecallModel",
        lambda: dict(n_symbols=5, d_model=8, num_heads=2, generator=gen()),
    ),
    Spec(
        "ebmlib.tasks.RecallModel.inputs",
        lambda: dict(keys=recall()[0], values=recall()[1], query=recall()[2]),
        obj=lambda: T.RecallModel(5, 8, 2, generator=gen()),
        skip=LEAN,
    ),
    Spec(
        "ebmlib.tasks.RecallModel.forward",
        lambda: dict(batch=recall()),
        obj=lambda: T.RecallModel(5, 8, 2, generator=gen()),
        skip=LEAN,
    ),
    Spec(
        "ebmlib.tasks.train_classifier",
        lambda: dict(
            model=T.MILClassifier(3, generator=gen()),
            inputs=bags()[0].float(),
            targets=bags()[1],
            epochs=1,
            lr=0.01,
            batch_size=3,
            generator=gen(),
        ),
        big={"epochs": 2},
        # shape errors of the inputs come from the model, which names its own argument
        aliases={"inputs": ("bags",)},
    ),
    Spec(
        "ebmlib.tasks.accuracy",
        lambda: dict(
            model=T.MILClassifier(3, generator=gen()), inputs=bags()[0].float(), targets=bags()[1]
        ),
        aliases={"inputs": ("bags",)},
    ),
]

# ----------------------------------------------------------------------------- distributed


@contextlib.contextmanager
def one_process_group():
    """A gloo group of one process (the collective calls then reduce over one rank)."""
    if dist.is_initialized():
        yield
        return
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def in_group(fn, obj, kwargs):
    with one_process_group():
        return fn(**kwargs)


def sharded(**kw):
    def build():
        import ebmlib.distributed as D

        with one_process_group():
            return D.ShardedMemory(normal(5, 6, seed=2), **kw)

    return build


def ref_sharded_update(kw, res):
    ref_update(dict(kw, patterns=normal(5, 6, seed=2)), res)


def ref_sharded_energy(kw, res):
    ref_energy(dict(kw, patterns=normal(5, 6, seed=2)), res)


DISTRIBUTED = [
    Spec("ebmlib.distributed.shard_rows", lambda: dict(n=10, rank=1, world_size=3)),
    Spec(
        "ebmlib.distributed.ShardedMemory", lambda: dict(local_patterns=normal(5, 6)), call=in_group
    ),
    Spec(
        "ebmlib.distributed.ShardedMemory.from_full",
        lambda: dict(patterns=normal(5, 6)),
        call=in_group,
        # the collective constructor checks the rows this process keeps, under that name
        aliases={"patterns": ("local_patterns",)},
    ),
    Spec(
        "ebmlib.distributed.ShardedMemory.update",
        lambda: dict(states=normal(3, 6, seed=1), beta=1.0),
        obj=sharded(),
        call=in_group,
        ref=ref_sharded_update,
    ),
    Spec(
        "ebmlib.distributed.ShardedMemory.energy",
        lambda: dict(states=normal(3, 6, seed=1), beta=1.0),
        obj=sharded(),
        call=in_group,
        ref=ref_sharded_energy,
    ),
    Spec(
        "ebmlib.distributed.ShardedMemory.retrieve",
        lambda: dict(states=normal(3, 6, seed=1), beta=1.0, max_steps=10, tol=1e-6),
        obj=sharded(),
        call=in_group,
    ),
    Spec(
        "ebmlib.distributed.data_parallel",
        lambda: dict(module=torch.nn.Linear(3, 2)),
        call=in_group,
    ),
    Spec(
        "ebmlib.distributed.shard_batch",
        lambda: dict(batch=normal(4, 3)),
        call=in_group,
        complex_ok=True,
        skip={
            "nan": "a slicer: values pass through unchanged (the layer checks them)",
            "inf": "a slicer: values pass through unchanged (the layer checks them)",
        },
    ),
]

SPECS = MODERN + ATTENTION + TASKS + DISTRIBUTED

test_bad_input, test_bad_input_drawn = make_tests(SPECS)


def test_reference_formulas_catch_a_wrong_beta():
    """The float64 references are not vacuous: a missing beta in the update fails them
    (:math:numref:`eq-modern-update`)."""
    kw = dict(**st_pat(), beta=3.0)
    wrong = np_update(kw["states"], kw["patterns"], 1.0)
    with pytest.raises(AssertionError):
        ref_update(kw, torch.from_numpy(wrong))
    ref_update(kw, M.update(**kw))
