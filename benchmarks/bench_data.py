"""Hebbian outer-product weights of random patterns: ebmlib/torch versus a numpy reference.

This first comparison exercises the harness. The ebmlib side draws patterns with
:func:`ebmlib.random_patterns` and forms ``W = X^T X / d`` with one matrix product; the peer does
the same product in numpy on the same data.
"""

from __future__ import annotations

import numpy as np
import torch

import ebmlib

from .harness import Row, register, timeit


@register("hebbian_outer_product")
def run(quick: bool) -> list[Row]:
    rows = []
    sizes = [(100, 500)] if quick else [(100, 1000), (500, 4000)]
    for n, d in sizes:
        x = ebmlib.random_patterns(n, d, generator=torch.Generator().manual_seed(0))
        xn = x.numpy()

        def ours(x=x, d=d):
            w = x.T @ x / d
            w.fill_diagonal_(0)
            return w

        def peer(xn=xn, d=d):
            w = xn.T @ xn / d
            np.fill_diagonal(w, 0)
            return w

        assert np.allclose(ours().numpy(), peer(), atol=1e-5)
        t_ours = timeit(ours, repeat=5, min_time=0.05)
        t_peer = timeit(peer, repeat=5, min_time=0.05)
        rows.append(Row("hebbian_outer_product", f"N={n}, d={d}", t_ours, t_peer, "numpy"))
    return rows
