"""Dense associative memory: ebmlib's vectorised energy gaps versus the per-unit rule in numpy.

The peer is the direct transcription of the Krotov-Hopfield update: for every unit ``i``, form
the overlaps without unit ``i`` and sum ``F(c + x_i) - F(c - x_i)`` over the patterns (a loop
over the ``d`` units). ebmlib computes all ``d`` gaps with two matrix products (chapter 3,
eq. (3.4)). Both take one synchronous step on the same data and the results are checked equal.
The same computation is the inner loop of the capacity measurements (is every stored pattern a
fixed point?).
"""

from __future__ import annotations

import numpy as np
import torch

from ebmlib.dense import DenseAssociativeMemory

from .harness import Row, register, timeit


def _ipow(a: np.ndarray, n: int) -> np.ndarray:
    # repeated multiplication: much faster than numpy's generic float power
    out = a
    for _ in range(n - 1):
        out = out * a
    return out


def _numpy_sync_step(s: np.ndarray, x: np.ndarray, kind: str, n: int, beta: float) -> np.ndarray:
    h = s @ x.T  # [B, N]
    out = s.copy()
    for i in range(x.shape[1]):
        c = h - s[:, i : i + 1] * x[:, i][None, :]
        if kind == "poly":
            gap = (_ipow(c + x[:, i], n) - _ipow(c - x[:, i], n)).sum(1)
        else:
            a = beta * c
            m = a.max(1, keepdims=True)
            gap = (x[:, i] * np.exp(a - m)).sum(1)  # same sign as the gap
        out[:, i] = np.where(gap > 0, 1.0, np.where(gap < 0, -1.0, s[:, i]))
    return out


@register("dense_sync_update")
def run(quick: bool) -> list[Row]:
    rows = []
    sizes = [(200, 64, 128)] if quick else [(200, 64, 128), (1000, 128, 256)]
    for kind, n in (("poly", 3), ("exp", 1)):
        for n_pat, d, b in sizes:
            g = torch.Generator().manual_seed(0)
            x = torch.randint(0, 2, (n_pat, d), generator=g).double() * 2 - 1
            s = torch.randint(0, 2, (b, d), generator=g).double() * 2 - 1
            dam = DenseAssociativeMemory(x, F=kind, n=n, beta=0.2)
            xn, sn = x.numpy(), s.numpy()

            def ours(dam=dam, s=s):
                return dam.update(s, mode="sync")

            def peer(sn=sn, xn=xn, kind=kind, n=n):
                return _numpy_sync_step(sn, xn, kind, n, 0.2)

            assert np.array_equal(ours().numpy(), peer())
            t_ours = timeit(ours, repeat=5, min_time=0.05)
            t_peer = timeit(peer, repeat=3, min_time=0.05)
            case = f"F={kind}, N={n_pat}, d={d}, B={b}"
            rows.append(Row("dense_sync_update", case, t_ours, t_peer, "numpy per-unit loop"))
    return rows
