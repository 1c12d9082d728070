"""Bad input for the support modules: data sets, devices, plotting helpers and utilities.

``ebmlib.data``, ``ebmlib.device``, ``ebmlib.viz`` and ``ebmlib.utils``: every public callable
gets each family of bad input of ``tests/_bad_inputs.py``. Results are checked where an
independent answer exists: the bars-and-stripes count ``2^(n+1) - 2`` and the +-1 / 0-1 values
of the data sets.
"""

from __future__ import annotations

import numpy as np
import torch
from _bad_inputs import Spec, bits, gen, make_tests, pm1

import ebmlib.viz as V
from ebmlib.utils import Result

F64 = torch.float64


def ref_bars(kw, res):
    n = kw["n"]
    assert res.shape == (2 ** (n + 1) - 2, n * n), res.shape
    assert set(np.unique(res.numpy())) <= {0.0, 1.0}
    assert len({tuple(r) for r in res.tolist()}) == res.shape[0], "rows must be distinct"


def ref_patterns(kw, res):
    assert res.shape == (kw["N"], kw["d"])
    vals = set(np.unique(res.double().numpy()))
    if kw.get("kind", "binary") == "binary":
        assert vals <= {-1.0, 1.0}


def ref_glyphs(kw, res):
    assert res.shape == (len(kw["text"]), kw.get("size", 16) ** 2)
    want = {-1.0, 1.0} if kw.get("bipolar", True) else {0.0, 1.0}
    assert set(np.unique(res.double().numpy())) <= want


def frames(i, ax):
    ax.plot([0, i], [0, i])


def panel(beta=1.0, ax=None):
    import matplotlib.pyplot as plt

    (ax if ax is not None else plt.gca()).plot([0, 1], [0, beta])


DATA = [
    Spec(
        "ebmlib.data.random_patterns",
        lambda: dict(N=4, d=6, kind="binary", correlation=0.2, generator=gen(), dtype=F64),
        ref=ref_patterns,
    ),
    Spec(
        "ebmlib.data.random_patterns",
        lambda: dict(N=4, d=6, kind="gaussian", generator=gen(), dtype=F64),
        ref=ref_patterns,
        key="gaussian",
    ),
    Spec(
        "ebmlib.data.bars_and_stripes",
        lambda: dict(n=3, dtype=F64),
        ref=ref_bars,
        big={"n": 40},
    ),
    Spec(
        "ebmlib.data.digits",
        lambda: dict(binarize=True, threshold=0.5, dtype=F64),
    ),
    Spec(
        "ebmlib.data.glyphs",
        lambda: dict(text="AB", size=8, bipolar=True, dtype=F64),
        ref=ref_glyphs,
    ),
]

DEVICE = [
    Spec("ebmlib.device.seed_everything", lambda: dict(seed=3, device="cpu")),
    Spec(
        "ebmlib.device.describe_device",
        lambda: dict(device="cpu"),
    ),
]

VIZ = [
    Spec(
        "ebmlib.viz.plot_patterns",
        lambda: dict(
            patterns=pm1(3, 16),
            shape=(4, 4),
            ncols=2,
            titles=["a", "b", "c"],
            vmin=-1.0,
            vmax=1.0,
            panel_size=1.0,
        ),
        big={"ncols": 20},
    ),
    Spec(
        "ebmlib.viz.plot_patterns",
        lambda: dict(patterns=bits(2, 9).numpy(), shape=(3, 3)),
        key="numpy",
    ),
    Spec(
        "ebmlib.viz.animate",
        lambda: dict(frames_fn=frames, n_frames=2, interval=100),
        big={"n_frames": 600, "interval": 100},
    ),
    Spec(
        "ebmlib.viz.JSAnimation",
        lambda: dict(html="<div></div>", n_frames=2),
    ),
    Spec("ebmlib.viz.JSAnimation.to_html", obj=lambda: V.JSAnimation("<div></div>", 2)),
    Spec(
        "ebmlib.viz.interactive",
        lambda: dict(beta=[0.5, 1.0, 2.0]),
        call=lambda fn, obj, kw: fn(panel, **kw),
    ),
    Spec(
        "ebmlib.viz.demo_grid",
        lambda: dict(fn=panel, rows=("beta", [0.5, 2.0]), panel_size=(2.0, 2.0)),
    ),
    Spec(
        "ebmlib.viz.draw_overlaps",
        lambda: dict(correlation=0.3, kind="binary", N=8, d=32, seed=0),
        big={"N": 100, "d": 400},
    ),
]


class _Fit(Result):
    pass


UTILS = [
    Spec("ebmlib.utils.renamed_argument", lambda: dict(old="temperature", new="T", since="0.3")),
    Spec(
        "ebmlib.utils.progress",
        lambda: dict(iterable=range(3), desc="x", total=3, disable=True),
        call=lambda fn, obj, kw: list(fn(**kw)),
    ),
]

SPECS = DATA + DEVICE + VIZ + UTILS

test_bad_input, test_bad_input_drawn = make_tests(SPECS)
