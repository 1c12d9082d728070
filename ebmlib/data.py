"""Small, offline data sets used throughout the book.

Nothing here downloads anything: patterns are generated, the 8x8 digits come from the copy that
scikit-learn ships inside its package, and glyphs are rendered with matplotlib's bundled font.
All functions return ``torch.Tensor`` objects with patterns as **rows** (shape ``[N, d]``).
:func:`digits` and :func:`glyphs` need the ``data`` extra (``pip install "ebmlib[data]"``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._optional import require
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_probability,
)

__all__ = ["random_patterns", "bars_and_stripes", "digits", "glyphs"]


def _check_dtype(dtype: object, values: str) -> torch.dtype:
    """Check the ``dtype`` argument of a data set whose entries are ``values``.

    ``values`` is ``"01"`` (any real dtype holds 0 and 1, bool included), ``"pm1"`` (+-1: a
    floating or signed integer dtype) or ``"real"`` (grey values: a floating dtype).
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    if dtype.is_complex:
        raise TypeError(f"dtype must be a real torch.dtype, got the complex {dtype}")
    if dtype.is_floating_point:
        return dtype
    if values == "real":
        raise TypeError(f"dtype must be a floating torch.dtype for grey values, got {dtype}")
    if values == "pm1" and (dtype == torch.bool or not dtype.is_signed):
        raise TypeError(
            f"dtype must hold -1 and +1 (a floating or signed integer dtype), got {dtype}"
        )
    return dtype


def random_patterns(
    N: int,
    d: int,
    kind: str = "binary",
    correlation: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw ``N`` random patterns of dimension ``d``.

    Parameters
    ----------
    N, d : int
        Number of patterns and their dimension (both >= 1).
    kind : {"binary", "gaussian", "sphere"}
        ``"binary"``: independent +-1 entries. ``"gaussian"``: standard normal entries.
        ``"sphere"``: uniform on the unit sphere in R^d.
    correlation : float in [0, 1]
        Pairwise correlation between patterns. Every pattern is built from a shared parent
        pattern ``c`` and its own independent draw ``z_mu``. For ``"binary"`` each entry copies
        the parent with probability ``correlation`` (so the expected overlap
        ``x_mu . x_nu / d`` between two patterns is ``correlation**2``); for ``"gaussian"`` and
        ``"sphere"`` the pattern is ``sqrt(rho) c + sqrt(1 - rho) z_mu`` (normalised for
        ``"sphere"``), so the expected cosine between two patterns is ``correlation``.
    generator : torch.Generator, optional
        Source of randomness (CPU generator).
    dtype : torch.dtype
        Floating dtype of the result.
    device : torch.device or str, optional
        Where to put the result (generated on the CPU, then moved, so the same seed gives the
        same patterns on every device).

    Returns
    -------
    torch.Tensor
        Patterns of shape ``[N, d]``.

    Examples
    --------
    >>> x = random_patterns(5, 100, generator=torch.Generator().manual_seed(0))
    >>> x.shape
    torch.Size([5, 100])
    """
    N = check_int(N, "N", minimum=1)
    d = check_int(d, "d", minimum=1)
    check_choice(kind, "kind", ("binary", "gaussian", "sphere"))
    rho = check_probability(correlation, "correlation")
    check_generator(generator, device="cpu")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    g = generator
    if kind == "binary":
        own = torch.randint(0, 2, (N, d), generator=g).to(torch.float64) * 2 - 1
        if rho > 0:
            parent = torch.randint(0, 2, (1, d), generator=g).to(torch.float64) * 2 - 1
            copy = torch.rand(N, d, generator=g, dtype=torch.float64) < rho
            own = torch.where(copy, parent.expand(N, d), own)
        out = own
    else:
        own = torch.randn(N, d, generator=g, dtype=torch.float64)
        if rho > 0:
            parent = torch.randn(1, d, generator=g, dtype=torch.float64)
            own = math.sqrt(rho) * parent + math.sqrt(1.0 - rho) * own
        out = own
        if kind == "sphere":
            norms = out.norm(dim=1, keepdim=True)
            out = out / norms.clamp_min(torch.finfo(torch.float64).tiny)
    return out.to(dtype=dtype, device=device)


def bars_and_stripes(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """All distinct ``n x n`` bars-and-stripes images as binary {0, 1} rows.

    An image is either a set of filled rows (stripes) or a set of filled columns (bars). The
    all-zero and all-one images are both, so there are ``2 * 2**n - 2`` distinct images
    (14 for ``n = 3``): a model that puts equal mass on each has average log-likelihood
    ``-log(2 * 2**n - 2)``, the best possible (chapter 7).

    Parameters
    ----------
    n : int
        Side length (1 to 5).
    dtype : torch.dtype
        dtype of the result (any real dtype: floating, integer or bool).

    Returns
    -------
    torch.Tensor
        Shape ``[2 * 2**n - 2, n * n]``, each row a flattened image (row-major).
    """
    n = check_int(n, "n", minimum=1)
    dtype = _check_dtype(dtype, "01")
    if n > 5:
        raise ValueError(f"n must be <= 5 (the data set grows as 2**n), got {n}")
    codes = torch.arange(2**n)
    bits = ((codes[:, None] >> torch.arange(n)) & 1).to(torch.float64)  # [2^n, n]
    stripes = bits[:, :, None].expand(-1, n, n)  # row i filled if bit i
    bars = bits[:, None, :].expand(-1, n, n)  # column j filled if bit j
    imgs = torch.cat([stripes, bars]).reshape(-1, n * n)
    imgs = torch.unique(imgs, dim=0)
    return imgs.to(dtype)


@functools.lru_cache(maxsize=4)
def _digits_cached(binarize: bool, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    # bundled with scikit-learn: no download
    datasets = require("sklearn.datasets", "data", feature="ebmlib.data.digits")
    bunch = datasets.load_digits()
    x = bunch.data.astype(np.float64) / 16.0
    if binarize:
        x = (x > threshold).astype(np.float64)
    return x, bunch.target.astype(np.int64)


def digits(
    binarize: bool = True,
    threshold: float = 0.5,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 handwritten digits bundled with scikit-learn (no download).

    Parameters
    ----------
    binarize : bool
        If True, pixels are 1 where the grey value (scaled to [0, 1]) exceeds ``threshold``,
        else 0. If False, grey values in [0, 1] are returned.
    threshold : float in [0, 1]
        Binarisation threshold.
    dtype : torch.dtype
        dtype of the images: a floating dtype, or with ``binarize=True`` also an integer or
        bool dtype.

    Returns
    -------
    images : torch.Tensor
        Shape ``[1797, 64]``, rows are flattened 8x8 images (row-major).
    labels : torch.Tensor
        Shape ``[1797]``, integer class labels 0-9.
    """
    if not isinstance(binarize, bool):
        raise TypeError(f"binarize must be a bool, got {type(binarize).__name__}")
    threshold = check_probability(threshold, "threshold")
    dtype = _check_dtype(dtype, "01" if binarize else "real")
    x, y = _digits_cached(binarize, threshold)
    return torch.tensor(x, dtype=dtype), torch.tensor(y)


@functools.lru_cache(maxsize=256)
def _render_glyph(ch: str, size: int) -> np.ndarray:
    # An off-screen Agg canvas of its own: pyplot and the user's backend are left alone.
    agg = require("matplotlib.backends.backend_agg", "data", feature="ebmlib.data.glyphs")
    Figure = require("matplotlib.figure", "data", feature="ebmlib.data.glyphs").Figure
    FigureCanvasAgg = agg.FigureCanvasAgg

    # Render large, crop to the ink, then resample to size x size.
    px = 96
    fig = Figure(figsize=(1, 1), dpi=px)
    canvas = FigureCanvasAgg(fig)
    fig.text(
        0.5,
        0.5,
        ch,
        ha="center",
        va="center",
        fontsize=60,
        family="DejaVu Sans Mono",
        weight="bold",
    )
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float64) / 255.0
    ink = img < 0.5
    if not ink.any():
        return np.zeros((size, size))
    rows = np.where(ink.any(axis=1))[0]
    cols = np.where(ink.any(axis=0))[0]
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = r1 - r0, c1 - c0
    side = max(h, w) + 4  # square box with a small margin, glyph centred
    box = np.zeros((side, side), dtype=bool)
    rr, cc = (side - h) // 2, (side - w) // 2
    box[rr : rr + h, cc : cc + w] = ink[r0:r1, c0:c1]
    # area-average resample to size x size
    idx = (np.arange(side) * size) // side
    out = np.zeros((size, size))
    cnt = np.zeros((size, size))
    np.add.at(out, (idx[:, None], idx[None, :]), box)
    np.add.at(cnt, (idx[:, None], idx[None, :]), 1)
    return out / cnt


def glyphs(
    text: str,
    size: int = 16,
    bipolar: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Binary images of characters, rendered offline with matplotlib's bundled font.

    Parameters
    ----------
    text : str
        The characters to render, one image each (for example ``"ABCDE"``).
    size : int
        Side of each square image in pixels (4 to 64).
    bipolar : bool
        If True (default) pixels are +1 (ink) and -1 (background), ready to store in a
        Hopfield network; otherwise 1 and 0.
    dtype : torch.dtype
        dtype of the result: floating or integer; with ``bipolar=True`` a signed one (bool
        holds only 0/1 images).

    Returns
    -------
    torch.Tensor
        Shape ``[len(text), size * size]``; reshape a row to ``[size, size]`` to view it.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) == 0:
        raise ValueError("text must contain at least one character")
    size = check_int(size, "size", minimum=4)
    if size > 64:
        raise ValueError(f"size must be <= 64, got {size}")
    if not isinstance(bipolar, bool):
        raise TypeError(f"bipolar must be a bool, got {type(bipolar).__name__}")
    dtype = _check_dtype(dtype, "pm1" if bipolar else "01")
    imgs = np.stack([(_render_glyph(ch, size) >= 0.5).reshape(-1) for ch in text])
    out = torch.tensor(imgs, dtype=torch.float64)
    if bipolar:
        out = out * 2 - 1
    return out.to(dtype)
