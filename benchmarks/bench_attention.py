"""Hopfield layers against torch's attention (chapter 5).

``hopfield_vs_mha``: the :class:`ebmlib.attention.Hopfield` layer built from the weights of an
``nn.MultiheadAttention`` (the equivalent configuration: same projections, heads, biases, one
update step, ``beta = 1/sqrt(d_k)``) against that module, on the same inputs, forward only
(inference mode) and forward plus backward. MHA is called with ``need_weights=False``, the
setting in which it, too, skips forming the attention-weight tensor.

``hopfield_steps``: the cost of one retrieval step of :func:`ebmlib.attention.hopfield_attention`
(through ``scaled_dot_product_attention``) against an explicit softmax-matmul update, for
``steps`` = 1 and 8 (reported per step).

Each side is timed three times, interleaved with the other, and keeps its best median, so that
bursts of load on a shared machine do not decide a ratio.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmlib.attention import Hopfield, hopfield_attention

from .harness import Row, register, timeit


def _paired(ours, peer, dev: torch.device, rounds: int = 3) -> tuple[float, float]:
    """Interleave the two timings ``rounds`` times and keep each side's best median.

    On a shared, loaded machine a burst of load during one side's measurement would otherwise
    decide the ratio; interleaving exposes both sides to the same conditions.
    """
    t_ours, t_peer = float("inf"), float("inf")
    for _ in range(rounds):
        t_peer = min(t_peer, timeit(peer, repeat=5, min_time=0.05, device=dev))
        t_ours = min(t_ours, timeit(ours, repeat=5, min_time=0.05, device=dev))
    return t_ours, t_peer


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _layer_case(b: int, L: int, d: int, h: int, dev: torch.device) -> list[Row]:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(d, h, batch_first=True, device=dev)
    hop = Hopfield.from_multihead_attention(mha)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, L, d, generator=g).to(dev)
    with torch.no_grad():
        diff = (hop(x) - mha(x, x, x, need_weights=False)[0]).abs().max().item()
    if diff > 1e-4:
        raise AssertionError(f"Hopfield and MultiheadAttention differ by {diff}")
    xg = x.clone().requires_grad_()

    def fwd_ours():
        with torch.inference_mode():
            return hop(x)

    def fwd_peer():
        with torch.inference_mode():
            return mha(x, x, x, need_weights=False)[0]

    def bwd_ours():
        hop(xg).sum().backward()

    def bwd_peer():
        mha(xg, xg, xg, need_weights=False)[0].sum().backward()

    case = f"B={b}, L=S={L}, d={d}, heads={h}, {dev.type}"
    rows = []
    for name, ours, peer in (("forward", fwd_ours, fwd_peer), ("fwd+bwd", bwd_ours, bwd_peer)):
        t_ours, t_peer = _paired(ours, peer, dev)
        rows.append(
            Row(
                "hopfield_vs_mha",
                f"{name}, {case}",
                t_ours,
                t_peer,
                "nn.MultiheadAttention",
                target=0.9,
            )
        )
    return rows


@register("hopfield_vs_mha")
def run_layer(quick: bool) -> list[Row]:
    dev = _device()
    sizes = [(8, 64, 128, 4)] if quick else [(8, 64, 128, 4), (16, 128, 256, 8)]
    if dev.type == "cuda" and not quick:
        sizes.append((32, 512, 512, 8))
    return [row for size in sizes for row in _layer_case(*size, dev)]


def _steps_case(n_q: int, n_k: int, d: int, steps: int, dev: torch.device) -> Row:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(n_k, d, generator=g).to(dev)
    q = keys[:n_q] + 0.5 * torch.randn(n_q, d, generator=g).to(dev)
    beta = 4.0 / d**0.5

    def ours():
        return hopfield_attention(q, keys, beta=beta, steps=steps)

    def peer():
        xi = q
        for _ in range(steps):
            xi = torch.softmax(beta * xi @ keys.T, dim=-1) @ keys
        return xi

    torch.testing.assert_close(ours(), peer(), rtol=1e-4, atol=1e-4)
    t_ours, t_peer = _paired(ours, peer, dev)
    t_ours, t_peer = t_ours / steps, t_peer / steps
    case = f"per step, steps={steps}, queries={n_q}, keys={n_k}, d={d}, {dev.type}"
    return Row("hopfield_steps", case, t_ours, t_peer, "softmax-matmul")


@register("hopfield_steps")
def run_steps(quick: bool) -> list[Row]:
    dev = _device()
    sizes = [(256, 1024, 64)] if quick else [(256, 1024, 64), (1024, 4096, 128)]
    return [_steps_case(*size, steps, dev) for size in sizes for steps in (1, 8)]
