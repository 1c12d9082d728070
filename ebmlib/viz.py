"""Plotting helpers, kernel-free animations and interactive demos.

A demo in the book has three faces:

1. a pure function ``draw(ax=None, **params)`` that draws one figure for given parameters
   (tested like any other function);
2. :func:`interactive`, which wraps it in ``ipywidgets`` sliders when a live kernel with a
   front end is attached, and otherwise (under ``CI``, ``EBMLIB_STATIC`` or a plain script)
   calls it once with its defaults;
3. for the static page, :func:`demo_grid` (the same function over a few representative
   parameter values) or :func:`animate` (a matplotlib animation rendered to HTML/JavaScript
   with its own play and scrub controls, which needs no kernel).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ._optional import require
from ._validation import _as_real, check_int, check_positive

__all__ = [
    "plot_patterns",
    "animate",
    "JSAnimation",
    "interactive",
    "is_static",
    "demo_grid",
    "draw_overlaps",
]


def _pyplot(feature: str) -> Any:
    """``matplotlib.pyplot``, or an ImportError that names the ``viz`` extra."""
    return require("matplotlib.pyplot", "viz", feature=feature)


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` (tensor, array or nested list of real numbers) as a finite float64 array."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a {x.dtype} tensor")
        arr = x.detach().to("cpu", torch.float64).numpy()
    else:
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be a tensor or array of numbers, got a string")
        try:
            raw = np.asarray(x)
        except ValueError as err:  # ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of numbers: {err}") from None
        if raw.dtype.kind == "c":
            raise TypeError(f"{name} must be real, got a complex array ({raw.dtype})")
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got an array of dtype {raw.dtype}")
        arr = raw.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "infinite"
        raise ValueError(f"{name} must contain only finite values, found {bad} entries")
    return arr


def plot_patterns(
    patterns: torch.Tensor | np.ndarray,
    shape: tuple[int, int] | None = None,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    cmap: str = "gray_r",
    vmin: float | None = None,
    vmax: float | None = None,
    panel_size: float = 1.3,
    axes: Sequence[Any] | None = None,
    suptitle: str | None = None,
):
    """Show each row of ``patterns`` as a small image.

    Parameters
    ----------
    patterns : tensor or array, shape ``[N, d]`` or ``[d]``
        Rows to show; ``+-1`` and ``{0, 1}`` patterns both display with ink dark.
    shape : (int, int), optional
        Image shape of one row; default ``(sqrt(d), sqrt(d))`` (``d`` must then be a square).
    ncols : int, optional
        Panels per row (default ``min(N, 10)``).
    titles : sequence of str, optional
        One title per panel.
    cmap, vmin, vmax :
        Passed to ``imshow``; ``vmin``/``vmax`` default to the data range.
    panel_size : float
        Size of one panel in inches (> 0).
    axes : sequence of Axes, optional
        Draw into these axes instead of a new figure (at least ``N`` of them).
    suptitle : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.

    Raises
    ------
    ValueError
        If ``patterns`` holds NaN or infinite values or has the wrong shape, ``vmin``/``vmax``
        are not finite or ``vmin > vmax``, or ``panel_size <= 0``.
    TypeError
        If ``patterns`` is complex or not numeric, or a number is given as another type.
    """
    plt = _pyplot("ebmlib.viz.plot_patterns")

    arr = _to_numpy(patterns, "patterns")
    panel_size = check_positive(panel_size, "panel_size")
    vmin = None if vmin is None else _as_real(vmin, "vmin")
    vmax = None if vmax is None else _as_real(vmax, "vmax")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"patterns must have shape [N, d] or [d] with N >= 1, got {arr.shape}")
    n, d = arr.shape
    if shape is None:
        side = int(round(math.sqrt(d)))
        if side * side != d:
            raise ValueError(f"shape must be given when d = {d} is not a perfect square")
        shape = (side, side)
    if shape[0] * shape[1] != d:
        raise ValueError(f"shape {shape} does not hold d = {d} values")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have {n} entries, got {len(titles)}")
    if axes is None:
        ncols = min(n, 10) if ncols is None else check_int(ncols, "ncols", minimum=1)
        nrows = math.ceil(n / ncols)
        fig, ax_grid = plt.subplots(
            nrows,
            ncols,
            figsize=(panel_size * ncols, panel_size * nrows + 0.3),
            squeeze=False,
            layout="constrained",
        )
        flat = list(ax_grid.ravel())
    else:
        flat = list(np.ravel(axes))
        if len(flat) < n:
            raise ValueError(f"axes must hold at least {n} axes, got {len(flat)}")
        fig = flat[0].figure
    lo = arr.min() if vmin is None else vmin
    hi = arr.max() if vmax is None else vmax
    if lo > hi:
        raise ValueError(f"vmin must be <= vmax, got vmin = {lo:g} and vmax = {hi:g}")
    for i, ax in enumerate(flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(arr[i].reshape(shape), cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


class JSAnimation:
    """A rendered animation that displays with play/scrub controls and no kernel.

    Holds the HTML produced by :meth:`matplotlib.animation.Animation.to_jshtml`; Jupyter and
    the built book both show it through ``_repr_html_``.
    """

    def __init__(self, html: str, n_frames: int):
        if not isinstance(html, str):
            raise TypeError(f"html must be a str, got {type(html).__name__}")
        self.html = html
        self.n_frames = check_int(n_frames, "n_frames", minimum=1)

    def _repr_html_(self) -> str:
        return self.html

    def to_html(self) -> str:
        """Return the self-contained HTML/JavaScript of the animation."""
        return self.html

    def __repr__(self) -> str:
        return f"JSAnimation(n_frames={self.n_frames}, {len(self.html)} bytes of HTML)"


def animate(
    frames_fn: Callable[[int, Any], Any],
    n_frames: int,
    *,
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] = (5.0, 4.0),
    interval: int = 150,
    repeat: bool = True,
    default_mode: str = "loop",
    title: Callable[[int], str] | None = None,
) -> JSAnimation:
    """Render an animation that plays in notebooks and in the static HTML book.

    Parameters
    ----------
    frames_fn : callable ``(i, axes) -> None``
        Draws frame ``i`` into ``axes`` (one ``Axes`` when ``nrows == ncols == 1``, else an
        array of them). The axes are cleared before each frame.
    n_frames : int
        Number of frames (1 to 500).
    nrows, ncols : int
        Subplot layout.
    figsize : (float, float)
        Figure size in inches.
    interval : int
        Milliseconds between frames.
    repeat : bool
        Whether playback loops.
    default_mode : {"loop", "once", "reflect"}
        Initial playback mode of the controls.
    title : callable ``i -> str``, optional
        Figure title for frame ``i``.

    Returns
    -------
    JSAnimation
        Displays as HTML with play, pause and a frame slider.
    """
    plt = _pyplot("ebmlib.viz.animate")
    animation = require("matplotlib.animation", "viz", feature="ebmlib.viz.animate")

    if not callable(frames_fn):
        raise TypeError(f"frames_fn must be callable, got {type(frames_fn).__name__}")
    n_frames = check_int(n_frames, "n_frames", minimum=1)
    if n_frames > 500:
        raise ValueError(f"n_frames must be <= 500 to keep the page small, got {n_frames}")
    check_int(interval, "interval", minimum=1)
    if default_mode not in ("loop", "once", "reflect"):
        raise ValueError(f"default_mode must be 'loop', 'once' or 'reflect', got {default_mode!r}")
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=True)
    flat = np.ravel(axes) if isinstance(axes, np.ndarray) else [axes]

    def _draw(i: int):
        for ax in flat:
            ax.clear()
        frames_fn(i, axes)
        if title is not None:
            fig.suptitle(title(i))
        return list(flat)

    anim = animation.FuncAnimation(
        fig, _draw, frames=n_frames, interval=interval, repeat=repeat, blit=False
    )
    with plt.rc_context({"animation.embed_limit": 60.0}):
        html = anim.to_jshtml(default_mode=default_mode)
    plt.close(fig)
    return JSAnimation(_offline_controls(html), n_frames)


# matplotlib's player draws its buttons with Font Awesome icons loaded from a CDN; offline they
# would be blank. Plain characters that every font has replace them (the buttons keep their
# titles and aria-labels).
_ICON_TEXT = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "|\u25c0\ufe0e\u25c0\ufe0e",
    "fa fa-step-backward": "|\u25c0\ufe0e",
    "fa fa-play fa-flip-horizontal": "\u25c0\ufe0e",
    "fa fa-pause": "\u275a\u275a",
    "fa fa-play": "\u25b6\ufe0e",
    "fa fa-step-forward": "\u25b6\ufe0e|",
    "fa fa-fast-forward": "\u25b6\ufe0e\u25b6\ufe0e|",
    "fa fa-plus": "+",
}
_CDN_LINK = re.compile(r"<link[^>]*href=\"https?://[^\"]*font-awesome[^\"]*\"[^>]*>\s*")


def _offline_controls(html: str) -> str:
    """The animation's HTML with no request to the network (icons as plain characters)."""
    html = _CDN_LINK.sub("", html)
    for cls, text in _ICON_TEXT.items():
        html = html.replace(f'<i class="{cls}"></i>', f'<span class="ebm-anim-icon">{text}</span>')
    return html


def is_static() -> bool:
    """True when no live widget front end can be assumed.

    That is the case when the environment variable ``CI`` or ``EBMLIB_STATIC`` is set (the book
    build sets ``EBMLIB_STATIC=1``), or when the code does not run inside a Jupyter kernel.
    """
    for var in ("CI", "EBMLIB_STATIC"):
        if os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no"):
            return True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return True
    shell = get_ipython()
    return shell is None or type(shell).__name__ != "ZMQInteractiveShell"


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    sig = inspect.signature(fn)
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if p.default is not inspect.Parameter.empty and k != "ax"
    }


def interactive(fn: Callable[..., Any], /, **sliders: Any) -> Any:
    """Wrap a pure drawing function in widgets, or call it once when no front end is live.

    Parameters
    ----------
    fn : callable
        The demo function; every parameter named in ``sliders`` must have a default value,
        which is used for the single static call.
    **sliders :
        One entry per parameter, in ``ipywidgets.interact`` abbreviation form:
        ``(min, max, step)`` for a slider, a list for a dropdown, a bool for a checkbox, or
        a widget.

    Returns
    -------
    Any
        In a static run, whatever ``fn`` returns for its defaults (usually a figure, which the
        notebook then shows). In a live kernel, the ``ipywidgets`` interactive object.

    Examples
    --------
    >>> def draw(beta=1.0, ax=None):
    ...     return beta
    >>> interactive(draw, beta=(0.1, 10.0, 0.1))  # under CI: calls draw() once
    1.0
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    defaults = _defaults(fn)
    sig = inspect.signature(fn)
    for name in sliders:
        if name not in sig.parameters:
            raise ValueError(f"slider {name!r} is not a parameter of {fn.__name__}")
        if name not in defaults:
            raise ValueError(f"parameter {name!r} of {fn.__name__} needs a default value")
    keywords = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "ax"
    ]
    for p in keywords:
        if p.default is inspect.Parameter.empty and p.name not in sliders:
            raise ValueError(
                f"parameter {p.name!r} of {fn.__name__} has no default value and no slider"
            )
    if is_static():
        return fn(**{k: defaults[k] for k in sliders})
    widgets = require("ipywidgets", "viz", feature="ebmlib.viz.interactive")
    # Only the named parameters get controls; every other one keeps its default (ipywidgets
    # would otherwise try to turn each default, ``ax=None`` included, into a widget).
    controls: dict[str, Any] = {
        p.name: widgets.fixed(p.default) for p in keywords if p.name not in sliders
    }
    if "ax" in sig.parameters:
        controls["ax"] = widgets.fixed(None)
    for name, abbrev in sliders.items():
        control = widgets.interactive.widget_from_abbrev(abbrev, defaults[name])
        if control is None:
            raise ValueError(f"slider {name!r}: {abbrev!r} cannot be turned into a widget")
        if hasattr(control, "continuous_update"):
            control.continuous_update = False  # redraw when the slider is released
        if not getattr(control, "description", ""):
            control.description = name
        controls[name] = control

    @functools.wraps(fn)
    def live(**kwargs: Any) -> Any:
        return _show_once(fn(**kwargs))

    return widgets.interact(live, **controls)


def _show_once(result: Any) -> Any:
    """Display a returned figure once (ipywidgets would show it twice) and close it."""
    figure = sys.modules.get("matplotlib.figure")  # a Figure implies matplotlib is imported
    if figure is not None and isinstance(result, figure.Figure):
        from IPython.display import display

        display(result)
        _pyplot("ebmlib.viz.interactive").close(result)
        return None
    return result


def demo_grid(
    fn: Callable[..., Any],
    *,
    rows: tuple[str, Sequence[Any]] | None = None,
    cols: tuple[str, Sequence[Any]] | None = None,
    fixed: dict[str, Any] | None = None,
    panel_size: tuple[float, float] = (3.0, 2.6),
    sharex: bool = False,
    sharey: bool = False,
    suptitle: str | None = None,
):
    """Draw ``fn`` over a small grid of parameter values: the kernel-free view of a demo.

    Parameters
    ----------
    fn : callable ``(ax=..., **params)``
        The demo function; it must accept an ``ax`` keyword and draw into it.
    rows, cols : (name, values), optional
        Parameter varied down the rows and across the columns (at least one of them).
    fixed : dict, optional
        Other parameters, held fixed.
    panel_size : (float, float)
        Width and height of one panel in inches.
    sharex, sharey : bool
        Share axes between panels.
    suptitle : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot("ebmlib.viz.demo_grid")

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if rows is None and cols is None:
        raise ValueError("demo_grid needs rows=(name, values) or cols=(name, values)")
    if "ax" not in inspect.signature(fn).parameters:
        raise ValueError(f"{fn.__name__} must accept an 'ax' keyword to draw into a grid")
    rname, rvals = rows if rows is not None else (None, [None])
    cname, cvals = cols if cols is not None else (None, [None])
    if len(rvals) == 0 or len(cvals) == 0:
        raise ValueError("rows and cols must list at least one value each")
    w, h = (
        check_positive(panel_size[0], "panel_size[0]"),
        check_positive(panel_size[1], "panel_size[1]"),
    )
    fig, axes = plt.subplots(
        len(rvals),
        len(cvals),
        figsize=(w * len(cvals), h * len(rvals)),
        squeeze=False,
        sharex=sharex,
        sharey=sharey,
        layout="constrained",
    )
    for (i, rv), (j, cv) in itertools.product(enumerate(rvals), enumerate(cvals)):
        kwargs = dict(fixed or {})
        if rname is not None:
            kwargs[rname] = rv
        if cname is not None:
            kwargs[cname] = cv
        fn(ax=axes[i, j], **kwargs)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def draw_overlaps(
    correlation: float = 0.3,
    kind: str = "binary",
    N: int = 60,
    d: int = 256,
    seed: int = 0,
    ax: Any = None,
):
    """Histogram of pairwise overlaps of random patterns, with the expected value marked.

    The demo of the getting-started notebook. For ``kind="binary"`` the overlap of two patterns
    is ``x_mu . x_nu / d`` with expectation ``correlation**2``; for ``"gaussian"`` and
    ``"sphere"`` it is the cosine similarity, with expectation ``correlation`` (see
    :func:`ebmlib.data.random_patterns`).

    Parameters
    ----------
    correlation : float in [0, 1]
        Correlation parameter passed to :func:`ebmlib.data.random_patterns`.
    kind : {"binary", "gaussian", "sphere"}
        Pattern family.
    N, d : int
        Number and dimension of the patterns.
    seed : int
        Seed of the generator.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot("ebmlib.viz.draw_overlaps")

    from .data import random_patterns

    seed = check_int(seed, "seed")

    x = random_patterns(
        N,
        d,
        kind=kind,
        correlation=correlation,
        generator=torch.Generator().manual_seed(seed),
        dtype=torch.float64,
    )
    if kind == "binary":
        sim = x @ x.T / d
        expected = correlation**2
    else:
        xn = x / x.norm(dim=1, keepdim=True)
        sim = xn @ xn.T
        expected = correlation
    iu = torch.triu_indices(N, N, offset=1)
    values = sim[iu[0], iu[1]].numpy()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
    else:
        fig = ax.figure
    ax.hist(values, bins=30, range=(-0.5, 1.0), color="#2a6f97", alpha=0.8, label="measured")
    ax.axvline(expected, color="#d1495b", lw=2, label=f"expected {expected:.2f}")
    ax.set_xlabel("pairwise overlap (cosine similarity)")
    ax.set_ylabel("number of pattern pairs")
    ax.set_title(f"{kind}, correlation = {correlation:g}", fontsize=10)
    ax.legend(fontsize=8)
    return fig
