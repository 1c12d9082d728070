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

from ebmlib.attention import (
    Hopfield,
    HopfieldLayer,
    HopfieldPooling,
    draw_winner_take_all,
    energy,
    hopfield_attention,
    hopfield_trajectory,
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


def _explicit_update(xi, x, beta, steps=1):
    """Chapter 4's update xi <- X softmax(beta X^T xi) (eq. (4.4)), written out, ``steps`` times."""
    for _ in range(steps):
        xi = torch.softmax(beta * xi @ x.transpose(-2, -1), -1) @ x
    return xi


def _explicit_energy(xi, x, beta):
    """Chapter 4's energy (eq. (4.2)) written out term by term, for rows xi and keys x."""
    n = x.shape[-2]
    m2 = (x * x).sum(-1).amax(-1, keepdim=True)
    return (
        -torch.logsumexp(beta * xi @ x.transpose(-2, -1), -1) / beta
        + 0.5 * (xi * xi).sum(-1)
        + math.log(n) / beta
        + 0.5 * m2
    )


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


def test_square_keys_and_separate_values(gen):
    """Checks eq. (5.4) with S = d_k (keys as columns would not fail on shapes) and values that
    differ from the keys, for one and two heads' worth of batch dimensions."""
    q, k, v = _randn(3, 5, 6, g=gen), _randn(3, 6, 6, g=gen), _randn(3, 6, 6, g=gen)
    for beta in (0.2, 1.0, 5.0):
        out = hopfield_attention(q, k, v, beta=beta)
        torch.testing.assert_close(out, _reference(q, k, v, beta), rtol=0, atol=1e-13)
        out = hopfield_attention(q, k, beta=beta, steps=2)
        torch.testing.assert_close(out, _explicit_update(q, k, beta, 2), rtol=0, atol=1e-13)


def test_single_state_is_the_hopfield_update(gen):
    """Checks eq. (5.1): a single state [d] follows xi <- X softmax(beta X^T xi) (eq. (4.4))."""
    x, xi = _randn(7, 5, g=gen), _randn(5, g=gen)
    out = hopfield_attention(xi, x, beta=1.7, steps=2)
    assert out.shape == (5,)
    ref = _explicit_update(xi[None], x, 1.7, steps=2)[0]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-13)
    e = energy(xi, x, beta=1.7)
    assert e.shape == ()
    torch.testing.assert_close(e, _explicit_energy(xi[None], x, 1.7)[0], rtol=1e-12, atol=1e-12)


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


def test_values_default_to_keys_and_steps_are_hopfield_updates(gen):
    """Checks eq. (5.6): T steps with values = keys are T updates xi <- X softmax(beta X^T xi)."""
    x = _randn(10, 6, g=gen)
    xi = x[:4] + 0.5 * _randn(4, 6, g=gen)
    for beta in (0.2, 1.0, 8.0):
        for steps in (1, 2, 5):
            ref = _explicit_update(xi, x, beta, steps)
            out = hopfield_attention(xi, x, beta=beta, steps=steps)
            torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
            traj = hopfield_trajectory(xi, x, beta=beta, steps=steps)
            assert traj.shape == (steps + 1, 4, 6)
            torch.testing.assert_close(traj[-1], out, rtol=0, atol=1e-12)


def test_energy_is_the_modern_hopfield_energy(gen):
    """Checks eq. (5.7) without a mask against chapter 4's eq. (4.2) written out."""
    x = _randn(2, 9, 5, g=gen)
    xi = _randn(2, 4, 5, g=gen)
    for beta in (0.1, 1.0, 30.0):
        torch.testing.assert_close(
            energy(xi, x, beta=beta), _explicit_energy(xi, x, beta), rtol=1e-12, atol=1e-12
        )
    # and the two constants make it the bounded-below form (eq. (4.3)): E >= 0
    assert bool((energy(xi, x, beta=0.3) >= 0).all())


def test_masked_energy_equals_energy_of_visible_keys(gen):
    """Checks eq. (5.7): a bool mask removes the masked keys from the sum, N and M."""
    x = _randn(9, 5, g=gen) * torch.linspace(0.5, 2, 9, dtype=F64)[:, None]
    xi = _randn(3, 5, g=gen)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[:, -3:] = True  # the largest keys are masked out
    got = energy(xi, x, beta=2.0, attn_mask=mask)
    torch.testing.assert_close(got, _explicit_energy(xi, x[:-3], 2.0), rtol=1e-12, atol=1e-12)
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


def test_pure_layer_is_repeated_hopfield_update(gen):
    """Checks eq. (5.6): Hopfield.pure(beta, steps) is `steps` updates of eq. (4.4)."""
    x = _randn(3, 12, 10, g=gen)  # three batches of stored patterns
    xi = x[:, :4] + 0.3 * _randn(3, 4, 10, g=gen)
    for steps in (1, 3):
        layer = Hopfield.pure(2.5, steps, d_model=10)
        assert len(list(layer.parameters())) == 0
        out = layer(xi, x)
        for b in range(3):
            ref = _explicit_update(xi[b], x[b], 2.5, steps)
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
    torch.testing.assert_close(e[0, 0, 1], _explicit_energy(q[0, 1], k[0, 1], 2.0))
    torch.testing.assert_close(e[0, 1, 0], _explicit_energy(q[1, 0], k[1, 0, 3:], 2.0))


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
    torch.testing.assert_close(
        mem(x)[1], _explicit_update(x[1], mem.stored, 3.0), rtol=0, atol=1e-13
    )
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
        hopfield_attention(torch.ones(3, 4, dtype=torch.complex64), k)
    with pytest.raises(TypeError, match="validate"):
        hopfield_attention(q, k, validate="yes")
    with pytest.raises(ValueError, match="same device"):
        hopfield_attention(q, k.to("meta"))
    with pytest.raises(ValueError, match="states"):
        energy(q * float("nan"), k)
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
    with pytest.raises(TypeError, match="dtype"):
        layer(x.float())
    with pytest.raises(TypeError, match="stored_patterns"):
        layer(x, x.float())
    with pytest.raises(TypeError, match="key_padding_mask"):
        layer(x, key_padding_mask=torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="validate"):
        Hopfield(8, validate=1)
    with pytest.raises(TypeError, match="generator"):
        Hopfield(8, generator=0)
    with pytest.raises(ValueError, match="device"):
        Hopfield(8, device="nope")
    with pytest.raises(TypeError, match="dtype"):
        Hopfield(8, dtype=torch.long)
    with pytest.raises(TypeError, match="mha"):
        Hopfield.from_multihead_attention(layer)
    with pytest.raises(ValueError, match="add_bias_kv"):
        Hopfield.from_multihead_attention(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="num_queries"):
        HopfieldPooling(8, num_queries=0)
    with pytest.raises(ValueError, match="num_stored"):
        HopfieldLayer(8, num_stored=0)


def test_value_checks_only_in_debug_mode(gen):
    """Checks that eq. (5.5)'s layer scans values only when built with validate=True.

    Without it ``forward`` checks shapes, dtypes and devices only: a NaN input passes through
    (as in torch's own layers), and a query whose keys are all masked out retrieves zeros, the
    convention of the CPU attention kernel (its weights are zero too). With ``validate=True``
    each of these raises an error naming the argument. The functions keep their checks on by
    default.
    """
    x = _randn(2, 5, 8, g=gen)
    all_masked = torch.ones(2, 5, dtype=torch.bool)
    nan_mask = torch.zeros(5, 5, dtype=F64)
    nan_mask[0, 0] = float("nan")
    torch.manual_seed(0)
    lean = Hopfield(8, num_heads=2, dtype=F64)
    torch.manual_seed(0)
    debug = Hopfield(8, num_heads=2, dtype=F64, validate=True)
    assert not lean.validate and debug.validate
    bad = x.clone()
    bad[0, 1, 2] = float("nan")
    assert bool(torch.isnan(lean(bad)[0]).any())  # passes through, no scan
    with pytest.raises(ValueError, match="state_patterns"):
        debug(bad)
    with pytest.raises(ValueError, match="stored_patterns"):
        debug(x, bad)
    with pytest.raises(ValueError, match="pattern_projections"):
        debug(x, x, bad)
    with pytest.raises(ValueError, match="masked"):
        debug(x, key_padding_mask=all_masked)
    with pytest.raises(ValueError, match="attn_mask"):
        debug(x, attn_mask=nan_mask)
    kpm = all_masked.clone()
    kpm[1] = False  # the second batch entry keeps its keys
    out, w = lean(x, key_padding_mask=kpm, need_weights=True)
    assert bool((w[0] == 0).all()) and bool(torch.isfinite(out).all())
    bias = lean.out_proj.bias
    torch.testing.assert_close(out[0], bias.expand(5, 8), rtol=0, atol=0)
    torch.testing.assert_close(lean(x, key_padding_mask=kpm), out, rtol=0, atol=1e-13)
    torch.testing.assert_close(out[1], debug(x)[1], rtol=0, atol=1e-13)
    # switching the debug mode on an existing layer
    lean.validate = True
    with pytest.raises(ValueError, match="state_patterns"):
        lean(bad)
    pool = HopfieldPooling(8, validate=True, dtype=F64)
    with pytest.raises(ValueError, match="stored_patterns"):
        pool(bad)
    assert bool(torch.isnan(HopfieldPooling(8, dtype=F64)(bad)).any())


def test_integer_inputs_follow_the_dtype_policy(gen):
    """Checks eq. (5.4)-(5.5) with integer inputs, converted by the library's dtype policy.

    Integer state patterns become the dtype of the layer's parameters (or of the other
    arguments in the functions), so the results equal those of the converted float inputs.
    """
    xi = torch.randint(-2, 3, (2, 4, 6))
    keys = _randn(2, 7, 6, g=gen)
    out = hopfield_attention(xi, keys, beta=0.5)
    torch.testing.assert_close(out, _reference(xi.double(), keys, keys, 0.5), rtol=0, atol=1e-13)
    torch.manual_seed(1)
    layer = Hopfield(6, num_heads=2, dtype=F64)
    torch.testing.assert_close(layer(xi), layer(xi.double()), rtol=0, atol=0)
    ints = torch.randint(-2, 3, (3, 6))
    pure = Hopfield.pure(beta=0.7)
    torch.testing.assert_close(
        pure(ints, ints.double()), _explicit_update(ints.double(), ints.double(), 0.7)
    )


def _layers_for_compile():
    torch.manual_seed(2)
    return {
        "Hopfield": (Hopfield(8, num_heads=2, steps=2), lambda x: (x,)),
        "Hopfield-cross-masked": (
            Hopfield(8, num_heads=2, stored_dim=6, normalize=True),
            lambda x: (x, x[..., :6]),
        ),
        "Hopfield.pure": (Hopfield.pure(beta=2.0, steps=3), lambda x: (x[:, :3], x)),
        # debug mode: its value checks stand aside while dynamo traces
        "Hopfield validate=True": (Hopfield(8, num_heads=2, validate=True), lambda x: (x,)),
        "HopfieldPooling": (HopfieldPooling(8, num_heads=2, num_queries=2), lambda x: (x,)),
        "HopfieldLayer": (HopfieldLayer(8, num_stored=5, learn_values=True), lambda x: (x,)),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "Hopfield",
        "Hopfield-cross-masked",
        "Hopfield.pure",
        "Hopfield validate=True",
        "HopfieldPooling",
        "HopfieldLayer",
    ],
)
def test_layers_compile_to_one_graph(name, gen):
    """Checks eq. (5.5) under torch.compile(fullgraph=True): no graph break in any layer.

    Dynamo with the "eager" backend raises on the first graph break under fullgraph (a value
    read back from the device, data-dependent control flow), without the cost of generating
    code. The compiled output is compared with the explicit attention of the same projections
    (eq. (5.4) written out, from :meth:`Hopfield.project`), not with the uncompiled layer.
    """
    torch._dynamo.reset()
    layer, args = _layers_for_compile()[name]
    x = _randn(3, 5, 8, g=gen).float()
    kwargs = {}
    if name == "Hopfield-cross-masked":
        kpm = torch.zeros(3, 5, dtype=torch.bool)
        kpm[0, 3:] = True
        kwargs = {"key_padding_mask": kpm}
    compiled = torch.compile(layer, fullgraph=True, backend="eager")
    out = compiled(*args(x), **kwargs)
    # the explicit reference: project, T - 1 key-space updates, read out, merge heads
    hop = layer.hopfield if hasattr(layer, "hopfield") else layer
    if name == "HopfieldPooling":
        state, stored, values = layer.query.expand(3, -1, -1), x, None
    elif name == "HopfieldLayer":
        state, stored, values = x, layer.stored.expand(3, -1, -1), layer.values.expand(3, -1, -1)
    else:
        a = args(x)
        state, stored, values = a[0], a[-1], None
    with torch.no_grad():
        q, k, v = hop.project(state, stored, values)
        mask = None
        if kwargs:
            mask = torch.zeros(3, 1, 1, 5).masked_fill(kpm[:, None, None, :], float("-inf"))
        xi = q
        for _ in range(hop.steps - 1):
            xi = _reference(xi, k, k, hop.beta, mask)
        heads = _reference(xi, k, v, hop.beta, mask)
        ref = heads.transpose(1, 2).reshape(3, heads.shape[2], -1)
        if hop.out_proj is not None:
            ref = hop.out_proj(ref)
    torch.testing.assert_close(out.detach(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_layer_compiles_with_inductor_and_trains(gen):
    """Checks eq. (5.5) through a real inductor compile: forward and backward, as in training.

    The gradients of the compiled layer equal those of the layer run eagerly on the same
    weights (the backward pass is generated code, the eager one is autograd's).
    """
    torch._dynamo.reset()
    torch.manual_seed(3)
    layer = Hopfield(8, num_heads=2, steps=2)
    x = _randn(2, 5, 8, g=gen).float()
    compiled = torch.compile(layer, fullgraph=True)
    compiled(x).square().sum().backward()
    got = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    layer(x).square().sum().backward()
    for a, b in zip(got, (p.grad for p in layer.parameters()), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_pooling_and_layer_take_or_build_a_hopfield(gen):
    """Checks eq. (5.5) for HopfieldPooling/HopfieldLayer built around a given Hopfield layer.

    A given layer is used as is (same object, its beta and steps); the keyword form builds the
    same layer from the same seed; mixing both forms, or a pure layer without d_model, is
    refused with an error naming the arguments.
    """
    torch.manual_seed(4)
    inner = Hopfield(6, num_heads=2, beta=0.8, steps=2, stored_dim=4, dtype=F64)
    pool = HopfieldPooling(hopfield=inner, num_queries=3)
    assert pool.hopfield is inner and pool.query.shape == (3, 6) and pool.query.dtype == F64
    bags = _randn(2, 7, 4, g=gen)  # set members of another dimension than the queries
    out = pool(bags)
    torch.testing.assert_close(out, inner(pool.query.expand(2, 3, 6), bags), rtol=0, atol=0)
    torch.manual_seed(5)
    a = HopfieldPooling(6, num_heads=2, beta=0.8, steps=2, dtype=F64)
    torch.manual_seed(5)
    b = HopfieldPooling(
        hopfield=Hopfield(6, num_heads=2, beta=0.8, steps=2, dtype=F64), num_queries=1
    )
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    mem = HopfieldLayer(num_stored=5, hopfield=Hopfield.pure(beta=3.0), d_model=6)
    assert mem.stored.shape == (5, 6)
    x = _randn(2, 4, 6, g=gen).float()
    torch.testing.assert_close(mem(x)[0], _explicit_update(x[0], mem.stored, 3.0))
    with pytest.raises(TypeError, match="beta"):
        HopfieldPooling(hopfield=inner, beta=2.0)
    with pytest.raises(TypeError, match="num_heads"):
        HopfieldLayer(num_stored=3, hopfield=inner, num_heads=2)
    with pytest.raises(TypeError, match="d_model"):
        HopfieldPooling(hopfield=Hopfield.pure(beta=1.0))
    with pytest.raises(ValueError, match="d_model"):
        HopfieldPooling(5, hopfield=inner)
    with pytest.raises(TypeError, match="hopfield"):
        HopfieldPooling(hopfield=nn.Linear(2, 2))
    with pytest.raises(TypeError, match="num_stored"):
        HopfieldLayer(6)
    with pytest.raises(TypeError, match="d_model"):
        HopfieldPooling()


def test_initialisation_follows_the_randomness_policy():
    """Checks that the layers of eq. (5.5) draw their initial weights as the policy says.

    ``generator=None`` means torch's global generator: ``torch.manual_seed`` reproduces the
    weights and two seeds differ. An explicit generator reproduces them without touching the
    global generator. The projections are Xavier-uniform (bound sqrt(6 / (fan_in +
    fan_out))), the output projection and biases as ``nn.Linear``/``MultiheadAttention``.
    """

    def weights(make):
        return torch.cat([p.detach().flatten() for p in make().parameters()])

    makers = [
        lambda **kw: Hopfield(8, num_heads=2, **kw),
        lambda **kw: HopfieldPooling(8, num_queries=2, **kw),
        lambda **kw: HopfieldLayer(8, num_stored=3, learn_values=True, **kw),
    ]
    for make in makers:
        torch.manual_seed(0)
        a = weights(make)
        torch.manual_seed(0)
        b = weights(make)
        torch.manual_seed(1)
        c = weights(make)
        assert torch.equal(a, b) and not torch.equal(a, c)
        state = torch.get_rng_state()
        g1 = weights(lambda make=make: make(generator=torch.Generator().manual_seed(9)))
        g2 = weights(lambda make=make: make(generator=torch.Generator().manual_seed(9)))
        assert torch.equal(g1, g2)
        assert torch.equal(torch.get_rng_state(), state)  # the global generator is untouched
    layer = Hopfield(8, num_heads=2, generator=torch.Generator().manual_seed(3))
    bound = math.sqrt(6 / (8 + 8))
    for lin in (layer.q_proj, layer.k_proj, layer.v_proj):
        w = lin.weight.detach()
        assert float(w.abs().max()) <= bound and float(w.std()) > bound / 3
        assert bool((lin.bias == 0).all())
    assert bool((layer.out_proj.bias == 0).all())


# --------------------------------------------------------------------------------------------
# the demo
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
    """Checks eq. (5.6)-(5.7) on CUDA: steps are updates of eq. (4.4), energy never rises."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(20, 8, generator=g, dtype=F64).cuda()
    xi = torch.randn(5, 8, generator=g, dtype=F64).cuda()
    traj = hopfield_trajectory(xi, x, beta=3.0, steps=5)
    ref = _explicit_update(xi, x, 3.0, 5)
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


def _sync_free_cases():
    """Every layer of eq. (5.5) in the configurations a model uses, with its inputs."""
    kpm = torch.zeros(4, 12, dtype=torch.bool)
    kpm[0, 8:] = True
    am = torch.zeros(6, 12, dtype=torch.bool)
    am[:, 11] = True
    return {
        "Hopfield self": (lambda: Hopfield(32, num_heads=4, steps=2), lambda x, y: (x,), {}),
        "Hopfield cross, masks, normalize": (
            lambda: Hopfield(32, num_heads=4, stored_dim=16, normalize=True),
            lambda x, y: (x, y),
            {"key_padding_mask": kpm, "attn_mask": am},
        ),
        "Hopfield need_weights": (
            lambda: Hopfield(32, num_heads=4),
            lambda x, y: (x,),
            {"need_weights": True, "attn_mask": am[:, :6]},
        ),
        "Hopfield.pure": (lambda: Hopfield.pure(beta=2.0, steps=3), lambda x, y: (x, x), {}),
        "HopfieldPooling": (
            lambda: HopfieldPooling(16, num_heads=2, num_queries=3),
            lambda x, y: (y,),
            {"key_padding_mask": kpm},
        ),
        "HopfieldLayer": (
            lambda: HopfieldLayer(32, num_stored=10, learn_values=True),
            lambda x, y: (x,),
            {},
        ),
    }


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize(
    "case",
    [
        "Hopfield self",
        "Hopfield cross, masks, normalize",
        "Hopfield need_weights",
        "Hopfield.pure",
        "HopfieldPooling",
        "HopfieldLayer",
    ],
)
def test_cuda_layers_forward_never_sync(case, dtype):
    """Checks that no layer of eq. (5.5) reads a value back from the GPU in its forward pass.

    ``torch.cuda.set_sync_debug_mode("error")`` turns every synchronising operation (a
    ``bool(tensor)``, ``.item()``, a data-dependent shape) into an error. One warm-up call
    outside the check lets CUDA set up its handles; the checked call must then run through.
    The functional form with ``validate=False`` is held to the same rule.
    """
    make, args, kwargs = _sync_free_cases()[case]
    torch.manual_seed(13)
    layer = make().to("cuda", dtype)
    x = torch.randn(4, 6, 32, device="cuda", dtype=dtype)
    y = torch.randn(4, 12, 16, device="cuda", dtype=dtype)
    kwargs = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    layer(*args(x, y), **kwargs)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = layer(*args(x, y), **kwargs)
        fn = hopfield_attention(x, x, steps=2, validate=False)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    out = out[0] if isinstance(out, tuple) else out
    assert out.device.type == "cuda" and bool(torch.isfinite(out).all())
    assert bool(torch.isfinite(fn).all())
