"""Hebbian storage plus asynchronous recall: ebmlib against a plain numpy implementation.

Both sides store the same random patterns with the Hebbian rule (one matrix product, zero
diagonal) and run asynchronous recall from the same corrupted cues with the same random unit
orders, until every state is a fixed point. The numpy peer is the direct transcription of the
definition: in each sweep it visits the ``d`` units one step at a time, each step vectorised over
the batch. ``ebmlib`` keeps the fields of every state and jumps from one flip to the next, which
gives the same trajectory (the benchmark asserts identical final states) with far fewer steps.
"""

from __future__ import annotations

import numpy as np
import torch

import ebmlib
from ebmlib import hopfield as hf

from .harness import Row, register, timeit


def _numpy_store_and_recall(x: np.ndarray, cues: np.ndarray, seed: int, max_sweeps: int = 100):
    """Plain numpy: W = X^T X (integer scale, zero diagonal), asynchronous sweeps unit by unit.

    The random orders are drawn exactly as ebmlib draws them (one torch generator, one
    ``rand(B_active, d).argsort`` per sweep over the states that are not yet fixed points), so
    both sides follow the same trajectory.
    """
    d = x.shape[1]
    w = x.T @ x  # [d, d]; dividing by d does not change any sign
    np.fill_diagonal(w, 0)
    s = cues.copy()
    g = torch.Generator().manual_seed(seed)

    def fixed(states):
        return ((states @ w) * states >= 0).all(axis=1)

    conv = fixed(s)
    for _ in range(max_sweeps):
        active = np.flatnonzero(~conv)
        if active.size == 0:
            break
        order = torch.rand(active.size, d, generator=g).argsort(dim=1).numpy()
        sa = s[active]
        rows = np.arange(active.size)
        for t in range(d):
            idx = order[:, t]
            h = (w[idx] * sa).sum(axis=1)
            cur = sa[rows, idx]
            sa[rows, idx] = np.where(h > 0, 1.0, np.where(h < 0, -1.0, cur))
        s[active] = sa
        conv[active] = fixed(sa)
    return s


@register("hopfield_store_recall")
def run(quick: bool) -> list[Row]:
    rows = []
    sizes = [(30, 300, 20)] if quick else [(100, 1000, 50), (250, 2000, 50)]
    for n, d, b in sizes:
        g = torch.Generator().manual_seed(0)
        x = ebmlib.random_patterns(n, d, generator=g, dtype=torch.float64)
        cues = hf.corrupt(x[:b], 0.1, generator=g)
        xn, cn = x.numpy(), cues.numpy()

        def ours(x=x, cues=cues, d=d):
            net = hf.HopfieldNetwork(d, dtype=torch.float64).store(x)
            return net.recall(cues, generator=torch.Generator().manual_seed(1)).states

        def peer(xn=xn, cn=cn):
            return _numpy_store_and_recall(xn, cn, seed=1)

        assert np.array_equal(ours().numpy(), peer()), "ebmlib and numpy trajectories differ"
        t_ours = timeit(ours, repeat=3)
        t_peer = timeit(peer, repeat=3)
        rows.append(
            Row(
                "hopfield_store_recall",
                f"N={n}, d={d}, {b} cues (10% flipped)",
                t_ours,
                t_peer,
                "numpy",
            )
        )
    return rows
