"""Tests of ebmlib.attention (chapter 5): attention is a modern-Hopfield update."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ebmlib import modern
from ebmlib.attention import (
    Hopfield,
    HopfieldLayer,
    HopfieldPooling,
    MILClassifier,
    RecallModel,
    accuracy,
    draw_winner_take_all,
    energy,
    hopfield_attention,
    hopfield_trajectory,
    make_mil_bags,
    make_recall_task,
    mil_log_likelihood_ratio,
    recall_targets,
    train_classifier,
)

F64 = torch.float64


def _randn(*shape, g, dtype=F64, device="cpu"):
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


def _reference(q, k, v, beta, mask=None):
    """Explicit softmax-matmul attention (eq. (5.4)) with an additive mask."""
    s = beta * q @ k.transpose(-2, -1)
    if mask is not None:
        s = s + mask
    return torch.softmax(s, -1) @ v


# --------------------------------------------------------------------------------------------
# the functional form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 8), (3, 5, 8), (2, 3, 5, 8)])
def test_one_step_is_sdpa_and_softmax_matmul(shape, gen):
    """Checks eq. (5.4): one Hopfield step equals SDPA with scale=beta and the explicit form."""
    q = _randn(*shape, g=gen)
    k = _randn(*shape[:-2], 7, shape[-1], g=gen)
    v = _randn(*shape[:-2], 7, 3, g=gen)
    for beta in (None, 0.3, 4.0):
        out = hopfield_attention(q, k, v, beta=beta)
        b = 1 / math.sqrt(shape[-1]) if beta is None else beta
        sdpa = F.scaled_dot_product_attention(q, k, v, scale=b)
        torch.testing.assert_close(out, sdpa, rtol=0, atol=1e-13)
        torch.testing.assert_close(out, _reference(q, k, v, b), rtol=0, atol=1e-13)


def test_single_state_matches_modern_update(gen):
    """Checks eq. (5.1): a single state [d] is updated like ebmlib.modern.update."""
    x, xi = _randn(7, 5, g=gen), _randn(5, g=gen)
    out = hopfield_attention(xi, x, beta=1.7, steps=2)
    assert out.shape == (5,)
    ref = modern.update(modern.update(xi, x, 1.7), x, 1.7)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13)
    e = energy(xi, x, beta=1.7)
    assert e.shape == ()
    torch.testing.assert_close(e, modern.energy(xi, x, 1.7), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5), (2, 3, 4, 5), (2, 3, 2, 4, 5)])
def test_masked_step_any_rank(shape, gen):
    """Checks eq. (5.4) with a broadcast bool mask for every rank of the inputs."""
    q = _randn(*shape, g=gen)
    k = _randn(*shape[:-2], 6, shape[-1], g=gen)
    v = _randn(*shape[:-2], 6, 3, g=gen)
    mshape = {2: (4, 6), 3: (1, 4, 6), 4: (3, 4, 6), 5: (3, 1, 4, 6)}[len(shape)]
    mask = torch.rand(mshape, generator=gen) < 0.4
    mask[..., 0] = False
    add = torch.zeros(mask.shape, dtype=F64).masked_fill(mask, float("-inf"))
    out = hopfield_attention(q, k, v, beta=0.9, attn_mask=mask)
    torch.testing.assert_close(out, _reference(q, k, v, 0.9, add), rtol=0, atol=1e-13)
    out = hopfield_attention(q, k, beta=0.9, steps=3, attn_mask=mask)
    ref = q
    for _ in range(3):
        ref = _reference(ref, k, k, 0.9, add)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_default_beta_is_inverse_sqrt_dk(gen):
    """Checks eq. (5.4): beta defaults to 1/sqrt(d_k), the Transformer's scale."""
    q, k = _randn(4, 9, g=gen), _randn(6, 9, g=gen)
    torch.testing.assert_close(
        hopfield_attention(q, k), hopfield_attention(q, k, beta=1 / 3), rtol=0, atol=0
    )


def test_values_default_to_keys_and_steps_equal_modern_update(gen):
    """Checks eq. (5.6): T steps with values = keys equal T applications of modern.update."""
    x = _randn(10, 6, g=gen)
    xi = x[:4] + 0.5 * _randn(4, 6, g=gen)
    for beta in (0.2, 1.0, 8.0):
        for steps in (1, 2, 5):
            ref = xi
            for _ in range(steps):
                ref = modern.update(ref, x, beta)
            out = hopfield_attention(xi, x, beta=beta, steps=steps)
            torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
            traj = hopfield_trajectory(xi, x, beta=beta, steps=steps)
            assert traj.shape == (steps + 1, 4, 6)
            torch.testing.assert_close(traj[-1], out, rtol=0, atol=1e-12)


def test_energy_matches_modern_energy(gen):
    """Checks eq. (5.7) without a mask against chapter 4's eq. (4.2) (ebmlib.modern.energy)."""
    x = _randn(9, 5, g=gen)
    xi = _randn(4, 5, g=gen)
    for beta in (0.1, 1.0, 30.0):
        torch.testing.assert_close(
            energy(xi, x, beta=beta), modern.energy(xi, x, beta), rtol=1e-12, atol=1e-12
        )


def test_masked_energy_equals_energy_of_visible_keys(gen):
    """Checks eq. (5.7): a bool mask removes the masked keys from the sum, N and M."""
    x = _randn(9, 5, g=gen) * torch.linspace(0.5, 2, 9, dtype=F64)[:, None]
    xi = _randn(3, 5, g=gen)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[:, -3:] = True  # the largest keys are masked out
    got = energy(xi, x, beta=2.0, attn_mask=mask)
    torch.testing.assert_close(got, modern.energy(xi, x[:-3], 2.0), rtol=1e-12, atol=1e-12)
    out = hopfield_attention(xi, x, beta=2.0, steps=3, attn_mask=mask)
    ref = hopfield_attention(xi, x[:-3], beta=2.0, steps=3)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 12),
    d=st.integers(1, 8),
    log_beta=st.floats(-3, 3),
    masked=st.booleans(),
)
def test_energy_never_rises_along_the_updates(seed, n, d, log_beta, masked):
    """Checks eq. (5.7) and chapter 4's descent theorem: E(xi_{t+1}) <= E(xi_t) for every step."""
    g = torch.Generator().manual_seed(seed)
    beta = 10.0**log_beta
    keys = _randn(2, n, d, g=g)
    xi = 2 * _randn(2, 3, d, g=g)
    mask = None
    if masked:
        mask = torch.rand(2, 3, n, generator=g) < 0.4
        mask[..., 0] = False  # every query keeps one key
    traj = hopfield_trajectory(xi, keys, beta=beta, steps=6, attn_mask=mask)
    e = torch.stack([energy(t, keys, beta=beta, attn_mask=mask) for t in traj])
    assert bool((e >= -1e-9).all())  # bounded below by 0 (chapter 4, eq. (4.3))
    scale = 1e-10 * (1 + e.abs().amax())
    assert bool((e[1:] <= e[:-1] + scale).all())


def test_float_mask_is_added_to_scores(gen):
    """Checks eq. (5.4) with an additive mask m: softmax(beta Q K^T + m) V."""
    q, k, v = _randn(2, 4, 5, g=gen), _randn(2, 6, 5, g=gen), _randn(2, 6, 3, g=gen)
    m = _randn(4, 6, g=gen)
    out = hopfield_attention(q, k, v, beta=0.7, attn_mask=m)
    torch.testing.assert_close(out, _reference(q, k, v, 0.7, m), rtol=0, atol=1e-13)


def test_winner_take_all_limits(gen):
    """Checks eq. (5.8): large beta retrieves the best-matching key, small beta the mean."""
    x = _randn(6, 4, g=gen)
    xi = x[2:3] + 0.1 * _randn(1, 4, g=gen)
    hi = hopfield_attention(xi, x, beta=1e4)
    torch.testing.assert_close(hi[0], x[int((xi @ x.T).argmax())], rtol=0, atol=1e-10)
    lo = hopfield_attention(xi, x, beta=1e-9)
    torch.testing.assert_close(lo[0], x.mean(0), rtol=0, atol=1e-7)


# --------------------------------------------------------------------------------------------
# the Hopfield layer against nn.MultiheadAttention
# --------------------------------------------------------------------------------------------


def _masks(kind, b, h, L, S, g):
    am = kpm = None
    if kind in ("attn_bool", "both"):
        am = torch.rand(L, S, generator=g) < 0.3
        am[:, 0] = False
    if kind == "attn_float":
        am = torch.randn(L, S, generator=g, dtype=F64)
    if kind == "attn_3d":
        am = torch.rand(b * h, L, S, generator=g) < 0.3
        am[..., 1] = False
    if kind in ("padding", "both"):
        kpm = torch.zeros(b, S, dtype=torch.bool)
        kpm[0, S // 2 + 1 :] = True
    return am, kpm


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("mask", ["none", "attn_bool", "attn_float", "attn_3d", "padding", "both"])
def test_hopfield_equals_multihead_attention(num_heads, batch, mask, gen):
    """Checks eq. (5.5): a Hopfield layer with MHA's weights computes MHA (float64 round-off)."""
    torch.manual_seed(num_heads * 10 + batch)
    d, L, S = 8, 5, 7
    mha = nn.MultiheadAttention(d, num_heads, batch_first=True, dtype=F64)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    hop = Hopfield.from_multihead_attention(mha)
    assert hop.beta == pytest.approx(1 / math.sqrt(d // num_heads))
    x, y, v = _randn(batch, L, d, g=gen), _randn(batch, S, d, g=gen), _randn(batch, S, d, g=gen)
    am, kpm = _masks(mask, batch, num_heads, L, S, gen)
    ref, ref_w = mha(x, y, v, attn_mask=am, key_padding_mask=kpm, average_attn_weights=False)
    out, w = hop(x, y, v, attn_mask=am, key_padding_mask=kpm, need_weights=True)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13)
    torch.testing.assert_close(w, ref_w, rtol=0, atol=1e-13)
    # the fast path (no weights) and self-attention agree as well
    torch.testing.assert_close(
        hop(x, y, v, attn_mask=am, key_padding_mask=kpm), ref, rtol=0, atol=1e-13
    )
    if mask == "none":
        torch.testing.assert_close(hop(x), mha(x, x, x)[0], rtol=0, atol=1e-13)


def test_hopfield_equals_mha_seq_first_unbatched_and_kdim(gen):
    """Checks eq. (5.5) for batch_first=False, unbatched inputs and kdim/vdim != embed_dim."""
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(6, 3, kdim=4, vdim=5, batch_first=False, dtype=F64)
    hop = Hopfield.from_multihead_attention(mha)
    x, y, v = _randn(5, 2, 6, g=gen), _randn(7, 2, 4, g=gen), _randn(7, 2, 5, g=gen)
    torch.testing.assert_close(hop(x, y, v), mha(x, y, v)[0], rtol=0, atol=1e-13)
    torch.testing.assert_close(
        hop(x[:, 0], y[:, 0], v[:, 0]), mha(x[:, 0], y[:, 0], v[:, 0])[0], rtol=0, atol=1e-13
    )


def test_hopfield_without_bias_equals_mha(gen):
    """Checks eq. (5.5) with bias=False on both sides."""
    torch.manual_seed(2)
    mha = nn.MultiheadAttention(8, 2, bias=False, batch_first=True, dtype=F64)
    hop = Hopfield.from_multihead_attention(mha)
    assert hop.q_proj.bias is None
    x = _randn(2, 4, 8, g=gen)
    torch.testing.assert_close(hop(x), mha(x, x, x)[0], rtol=0, atol=1e-13)


def test_pure_layer_is_repeated_modern_update(gen):
    """Checks eq. (5.6): Hopfield.pure(beta, steps) equals `steps` modern.update calls."""
    x = _randn(3, 12, 10, g=gen)  # three batches of stored patterns
    xi = x[:, :4] + 0.3 * _randn(3, 4, 10, g=gen)
    for steps in (1, 3):
        layer = Hopfield.pure(2.5, steps, d_model=10)
        assert len(list(layer.parameters())) == 0
        out = layer(xi, x)
        for b in range(3):
            ref = xi[b]
            for _ in range(steps):
                ref = modern.update(ref, x[b], 2.5)
            torch.testing.assert_close(out[b], ref, rtol=0, atol=1e-12)


def test_pure_multihead_splits_features(gen):
    """Checks eq. (5.5) without projections: each head updates its own block of features."""
    x, xi = _randn(2, 9, 8, g=gen), _randn(2, 3, 8, g=gen)
    out = Hopfield.pure(beta=1.5, steps=2, num_heads=2)(xi, x)
    ref = torch.cat(
        [
            hopfield_attention(xi[..., :4], x[..., :4], beta=1.5, steps=2),
            hopfield_attention(xi[..., 4:], x[..., 4:], beta=1.5, steps=2),
        ],
        -1,
    )
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13)


def test_multistep_layer_iterates_in_key_space(gen):
    """Checks eq. (5.6): T-1 key-space updates of the projected queries, then read out V."""
    torch.manual_seed(3)
    layer = Hopfield(8, num_heads=2, steps=3, dtype=F64)
    x, y = _randn(2, 4, 8, g=gen), _randn(2, 6, 8, g=gen)
    q, k, v = layer.project(x, y)
    xi = hopfield_attention(q, k, beta=layer.beta, steps=2)
    heads = _reference(xi, k, v, layer.beta)  # [B, H, L, dv]
    ref = layer.out_proj(heads.transpose(1, 2).reshape(2, 4, 8))
    torch.testing.assert_close(layer(x, y), ref, rtol=0, atol=1e-13)


def test_layer_energy_never_rises(gen):
    """Checks eq. (5.7): the key-space energy a layer descends never rises over its steps."""
    torch.manual_seed(4)
    layer = Hopfield(8, num_heads=2, steps=8, beta=2.0, dtype=F64)
    x, y = _randn(3, 4, 8, g=gen), _randn(3, 6, 8, g=gen)
    kpm = torch.zeros(3, 6, dtype=torch.bool)
    kpm[1, :3] = True
    e = layer.energy(x, y, key_padding_mask=kpm)
    assert e.shape == (9, 3, 2, 4)
    assert bool((e[1:] <= e[:-1] + 1e-12).all())
    q, k, _ = layer.project(x, y)
    torch.testing.assert_close(e[0, 0, 1], modern.energy(q[0, 1], k[0, 1], 2.0))
    torch.testing.assert_close(e[0, 1, 0], modern.energy(q[1, 0], k[1, 0, 3:], 2.0))


def test_gradcheck_tiny_layer(gen):
    """Checks that gradients of eq. (5.5)-(5.6) flow: gradcheck in float64, two steps, masks."""
    torch.manual_seed(5)
    layer = Hopfield(4, num_heads=2, steps=2, normalize=True, dtype=F64)
    x = _randn(2, 3, 4, g=gen).requires_grad_()
    y = _randn(2, 5, 4, g=gen).requires_grad_()
    kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
    assert torch.autograd.gradcheck(lambda a, b: layer(a, b, key_padding_mask=kpm), (x, y))
    # the default layer (packed projections, self-association) and a pooling layer
    plain = Hopfield(4, num_heads=2, dtype=F64)
    assert torch.autograd.gradcheck(lambda a: plain(a), (x,))
    pool = HopfieldPooling(4, num_heads=2, num_queries=2, steps=2, dtype=F64)
    assert torch.autograd.gradcheck(lambda b: pool(b), (y,))
    out = layer(x, y).sum()
    out.backward()
    assert all(
        p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in layer.parameters()
    )


def test_state_dict_round_trip(gen):
    """Checks that save/load reproduces eq. (5.5) exactly for the three layer classes."""
    x = _randn(2, 5, 8, g=gen).float()
    for make in (
        lambda: Hopfield(8, num_heads=2, steps=2, normalize=True),
        lambda: HopfieldPooling(8, num_heads=2, num_queries=3),
        lambda: HopfieldLayer(8, num_stored=6, num_heads=4, learn_values=True),
    ):
        torch.manual_seed(6)
        a = make()
        buf = io.BytesIO()
        torch.save(a.state_dict(), buf)
        torch.manual_seed(7)
        b = make()
        buf.seek(0)
        b.load_state_dict(torch.load(buf))
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_pooling_and_layer_shapes_and_meaning(gen):
    """Checks eq. (5.5) for HopfieldPooling (learned query) and HopfieldLayer (learned keys)."""
    torch.manual_seed(8)
    pool = HopfieldPooling(6, num_heads=2, num_queries=3, dtype=F64)
    bags = _randn(4, 7, 6, g=gen)
    out = pool(bags)
    assert out.shape == (4, 3, 6)
    ref = pool.hopfield(pool.query.expand(4, 3, 6), bags)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    # padding: a padded set pools like the set without the padded members
    kpm = torch.zeros(4, 7, dtype=torch.bool)
    kpm[:, 5:] = True
    torch.testing.assert_close(
        pool(bags, key_padding_mask=kpm), pool(bags[:, :5]), rtol=0, atol=1e-13
    )
    mem = HopfieldLayer(6, num_stored=5, projections=False, beta=3.0, dtype=F64)
    x = _randn(2, 4, 6, g=gen)
    torch.testing.assert_close(mem(x)[1], modern.update(x[1], mem.stored, 3.0), rtol=0, atol=1e-13)
    assert mem.energy(x, steps=3).shape == (4, 2, 1, 4)


def test_dropout_only_in_training(gen):
    """Checks that dropout acts on the weights of eq. (5.4) in training and never in eval."""
    torch.manual_seed(9)
    layer = Hopfield(8, num_heads=2, dropout=0.5, dtype=F64)
    x = _randn(2, 5, 8, g=gen)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))


# --------------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------------


def test_bad_inputs_functional(gen):
    """Checks that eq. (5.4) rejects bad arguments with errors naming them."""
    q, k = _randn(3, 4, g=gen), _randn(5, 4, g=gen)
    with pytest.raises(TypeError, match="queries"):
        hopfield_attention([[1.0]], k)
    with pytest.raises(TypeError, match="queries"):
        hopfield_attention(torch.ones(3, 4, dtype=torch.long), k)
    with pytest.raises(ValueError, match="keys"):
        hopfield_attention(q, _randn(5, 3, g=gen))
    with pytest.raises(ValueError, match="values"):
        hopfield_attention(q, k, _randn(6, 2, g=gen))
    with pytest.raises(ValueError, match="beta"):
        hopfield_attention(q, k, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        hopfield_attention(q, k, beta=float("nan"))
    with pytest.raises(ValueError, match="steps"):
        hopfield_attention(q, k, steps=0)
    with pytest.raises(TypeError, match="steps"):
        hopfield_attention(q, k, steps=1.5)
    with pytest.raises(ValueError, match="queries"):
        hopfield_attention(q * float("nan"), k)
    with pytest.raises(ValueError, match="attn_mask"):
        hopfield_attention(q, k, attn_mask=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="attn_mask"):
        hopfield_attention(q, k, attn_mask=torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="masked"):
        hopfield_attention(q, k, attn_mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="dtype"):
        hopfield_attention(q, k.float())
    with pytest.raises(ValueError, match="attn_mask"):
        hopfield_attention(q, k, attn_mask=torch.full((3, 5), float("inf"), dtype=F64))
    with pytest.raises(ValueError, match="leading"):
        hopfield_attention(_randn(2, 3, 4, g=gen), _randn(3, 5, 4, g=gen))


@settings(max_examples=30, deadline=None)
@given(
    beta=st.one_of(st.floats(max_value=0.0), st.just(float("inf")), st.just(float("nan"))),
    d_q=st.integers(1, 6),
    d_k=st.integers(1, 6),
)
def test_bad_beta_and_shapes_property(beta, d_q, d_k):
    """Checks that eq. (5.4) rejects every beta <= 0 or non-finite and every d_q != d_k."""
    q = torch.ones(2, d_q, dtype=F64)
    with pytest.raises(ValueError, match="beta"):
        hopfield_attention(q, torch.ones(3, d_q, dtype=F64), beta=beta)
    with pytest.raises(ValueError, match="beta"):
        Hopfield(4, beta=beta)
    if d_q != d_k:
        with pytest.raises(ValueError, match="keys"):
            hopfield_attention(q, torch.ones(3, d_k, dtype=F64))


def test_bad_inputs_layers(gen):
    """Checks that the layers of eq. (5.5) reject bad arguments with errors naming them."""
    with pytest.raises(ValueError, match="num_heads"):
        Hopfield(8, num_heads=3)
    with pytest.raises(ValueError, match="num_heads"):
        Hopfield(8, num_heads=0)
    with pytest.raises(ValueError, match="beta"):
        Hopfield(8, beta=-1.0)
    with pytest.raises(ValueError, match="dropout"):
        Hopfield(8, dropout=1.5)
    with pytest.raises(TypeError, match="projections"):
        Hopfield(8, projections="yes")
    with pytest.raises(ValueError, match="stored_dim"):
        Hopfield(8, stored_dim=4, projections=False)
    with pytest.raises(ValueError, match="beta"):
        Hopfield.pure(beta=0)
    with pytest.raises(ValueError, match="stored_patterns"):
        Hopfield.pure(1.0)(_randn(2, 3, 4, g=gen), _randn(2, 5, 6, g=gen))
    with pytest.raises(ValueError, match="state_patterns"):
        Hopfield.pure(1.0, num_heads=3)(_randn(2, 3, 4, g=gen), _randn(2, 5, 4, g=gen))
    with pytest.raises(ValueError, match="state_patterns"):
        Hopfield.pure(1.0, d_model=5)(_randn(2, 3, 4, g=gen), _randn(2, 5, 4, g=gen))
    layer = Hopfield(8, num_heads=2, dtype=F64)
    x = _randn(2, 5, 8, g=gen)
    with pytest.raises(ValueError, match="state_patterns"):
        layer(_randn(2, 5, 7, g=gen))
    with pytest.raises(ValueError, match="state_patterns"):
        layer(_randn(5, g=gen))
    with pytest.raises(ValueError, match="stored_patterns"):
        layer(x, _randn(3, 4, 8, g=gen))
    with pytest.raises(ValueError, match="pattern_projections"):
        layer(x, x, _randn(2, 4, 8, g=gen))
    with pytest.raises(ValueError, match="key_padding_mask"):
        layer(x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        layer(x, attn_mask=torch.zeros(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="masked"):
        layer(x, key_padding_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="dtype"):
        layer(x.float())
    with pytest.raises(TypeError, match="mha"):
        Hopfield.from_multihead_attention(layer)
    with pytest.raises(ValueError, match="add_bias_kv"):
        Hopfield.from_multihead_attention(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="num_queries"):
        HopfieldPooling(8, num_queries=0)
    with pytest.raises(ValueError, match="num_stored"):
        HopfieldLayer(8, num_stored=0)


# --------------------------------------------------------------------------------------------
# demo and learning tasks
# --------------------------------------------------------------------------------------------


def test_draw_winner_take_all():
    """Checks the demo of eq. (5.8): the bars are softmax(beta * scores) and sum to one."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    draw_winner_take_all(beta=3.0, scores=[1.0, 0.0, -1.0], ax=ax)
    heights = torch.tensor([p.get_height() for p in ax.patches], dtype=F64)
    torch.testing.assert_close(
        heights, torch.softmax(3.0 * torch.tensor([1.0, 0, -1], dtype=F64), 0)
    )
    assert ax.get_xlabel() and ax.get_ylabel()
    assert draw_winner_take_all() is not None
    with pytest.raises(ValueError, match="beta"):
        draw_winner_take_all(beta=0)


def test_mil_bags_and_bayes_score(gen):
    """Checks eq. (5.9): the log-likelihood ratio equals the explicit Gaussian density ratio."""
    bags, labels = make_mil_bags(200, bag_size=5, dim=3, signal_shift=2.0, generator=gen, dtype=F64)
    assert bags.shape == (200, 5, 3) and set(labels.tolist()) <= {0, 1}
    mu = torch.tensor([2.0, 0, 0], dtype=F64)
    # p(bag | pos) / p(bag | neg) = mean_i N(x_i; mu, I) / N(x_i; 0, I)
    ratio = torch.exp(-0.5 * ((bags - mu) ** 2).sum(-1) + 0.5 * (bags**2).sum(-1)).mean(-1)
    torch.testing.assert_close(mil_log_likelihood_ratio(bags, 2.0), ratio.log())
    # exactly one shifted instance in a positive bag: its first coordinate carries the shift
    with pytest.raises(ValueError, match="signal_shift"):
        make_mil_bags(5, signal_shift=0)


def test_hopfield_pooling_solves_mil_and_beats_mean_pooling():
    """Checks the chapter's MIL numbers (same seeds and sizes as the notebook) against eq. (5.9).

    Bags of 16 instances in d = 16, signal shift 5.5, 2000 training and 4000 test bags, 10
    epochs. Hopfield pooling must reach >= 95% test accuracy and cannot beat the Bayes rule
    (eq. (5.9)) by more than sampling noise; mean pooling cannot beat the linear-rule ceiling
    Phi(5.5 / (2 sqrt(16))) = 0.754 by more than sampling noise. With 4000 test bags the
    standard error of an accuracy is at most sqrt(0.25 / 4000) = 0.008; we allow 3 of them.
    """
    shift, n_inst, dim = 5.5, 16, 16
    g = torch.Generator().manual_seed(2)
    xtr, ytr = make_mil_bags(2000, n_inst, dim, shift, generator=g)
    xte, yte = make_mil_bags(4000, n_inst, dim, shift, generator=g)
    noise = 3 * math.sqrt(0.25 / 4000)
    bayes = float(((mil_log_likelihood_ratio(xte, shift) > 0).long() == yte).double().mean())
    limit = 0.5 * (1 + math.erf(shift / (2 * math.sqrt(n_inst)) / math.sqrt(2)))
    acc = {}
    for pooling in ("hopfield", "mean"):
        torch.manual_seed(2)
        model = MILClassifier(dim, pooling=pooling)
        hist = train_classifier(
            model, xtr, ytr, epochs=10, lr=1e-2, batch_size=50, test=(xte, yte), generator=g
        )
        acc[pooling] = hist["test_accuracy"][-1]
        assert acc[pooling] == pytest.approx(accuracy(model, xte, yte))
    assert acc["hopfield"] >= 0.95
    assert acc["hopfield"] <= bayes + noise
    assert acc["mean"] <= limit + noise


def test_recall_task_is_learned_by_one_attention_layer():
    """Checks the chapter's recall numbers (notebook seeds and sizes) with eq. (5.8)'s statistic.

    One Hopfield layer (eq. (5.5)) with 4 heads learns key-value recall (chance 1/16); every
    head moves from mixtures (mean softmax-mass count above 4 of 8 pairs at initialisation) to
    the single-pattern regime (count 1 for at least 40% of 400 test queries).
    """
    g = torch.Generator().manual_seed(1)
    tr = make_recall_task(4000, 8, 16, generator=g)
    te = make_recall_task(1000, 8, 16, generator=g)
    assert bool((recall_targets(tr[1], tr[2]) == tr[1][torch.arange(4000), tr[2]]).all())
    assert all(len(set(row.tolist())) == 8 for row in tr[0][:50])  # distinct keys
    torch.manual_seed(1)
    model = RecallModel(16, 32, 4)

    def counts():
        with torch.no_grad():
            q, items = model.inputs(*(t[:400] for t in te))
            c = model.attention.softmax_mass_count(q, items)  # [400, 4, 1]
            # the layer's statistic is chapter 4's, head by head
            qq, kk, _ = model.attention.project(q, items)
            ref = modern.softmax_mass_count(qq[7, 2], kk[7, 2], model.attention.beta)
            assert int(c[7, 2, 0]) == int(ref[0])
            return c[:, :, 0].double()

    before = counts()
    hist = train_classifier(
        model,
        tr,
        recall_targets(tr[1], tr[2]),
        epochs=4,
        lr=1e-2,
        batch_size=64,
        test=(te, recall_targets(te[1], te[2])),
        generator=g,
    )
    after = counts()
    assert hist["test_accuracy"][-1] >= 0.99
    assert bool((before.mean(0) > 4).all())
    assert bool(((after == 1).double().mean(0) >= 0.4).all())
    assert bool((after.mean(0) < before.mean(0)).all())


# --------------------------------------------------------------------------------------------
# CUDA
# --------------------------------------------------------------------------------------------


@pytest.mark.cuda
def test_cuda_layer_matches_cpu_and_mha():
    """Checks eq. (5.5) on CUDA: same output as on the CPU and as MHA on CUDA (float64)."""
    torch.manual_seed(10)
    mha = nn.MultiheadAttention(16, 4, batch_first=True, dtype=F64)
    hop = Hopfield.from_multihead_attention(mha)
    x = torch.randn(3, 9, 16, dtype=F64)
    kpm = torch.zeros(3, 9, dtype=torch.bool)
    kpm[0, 5:] = True
    cpu = hop(x, key_padding_mask=kpm)
    hop_c, mha_c = hop.cuda(), mha.cuda()
    out = hop_c(x.cuda(), key_padding_mask=kpm.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), cpu, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        out, mha_c(x.cuda(), x.cuda(), x.cuda(), key_padding_mask=kpm.cuda())[0], rtol=0, atol=1e-12
    )


@pytest.mark.cuda
def test_cuda_functional_and_energy_descent():
    """Checks eq. (5.6)-(5.7) on CUDA: steps equal modern.update, energy never rises."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(20, 8, generator=g, dtype=F64).cuda()
    xi = torch.randn(5, 8, generator=g, dtype=F64).cuda()
    traj = hopfield_trajectory(xi, x, beta=3.0, steps=5)
    ref = xi
    for _ in range(5):
        ref = modern.update(ref, x, 3.0)
    torch.testing.assert_close(traj[-1], ref, rtol=0, atol=1e-12)
    e = torch.stack([energy(t, x, beta=3.0) for t in traj])
    assert e.device.type == "cuda"
    assert bool((e[1:] <= e[:-1] + 1e-12).all())


@pytest.mark.cuda
def test_cuda_float16_sdpa_path():
    """Checks eq. (5.4) in float16 on CUDA against float64 (tolerance of half precision)."""
    g = torch.Generator().manual_seed(12)
    q, k, v = (torch.randn(2, 4, 64, 32, generator=g) for _ in range(3))
    ref = hopfield_attention(q.double(), k.double(), v.double())
    out = hopfield_attention(q.half().cuda(), k.half().cuda(), v.half().cuda())
    torch.testing.assert_close(out.double().cpu(), ref, rtol=0, atol=5e-3)
