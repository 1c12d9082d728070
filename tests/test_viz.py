"""Tests for ebmlib.viz and ebmlib.utils: figures, animations, static-safe demos, progress."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import torch

from ebmlib import utils, viz


def test_plot_patterns_panels():
    x = torch.randn(5, 16)
    fig = viz.plot_patterns(x, ncols=3, titles=list("abcde"))
    assert len(fig.axes) == 6  # 2 rows x 3 columns, one left empty
    assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde")


def test_plot_patterns_errors():
    with pytest.raises(ValueError, match="shape must be given"):
        viz.plot_patterns(torch.zeros(2, 15))
    with pytest.raises(ValueError, match="titles must have 2"):
        viz.plot_patterns(torch.zeros(2, 16), titles=["a"])
    with pytest.raises(ValueError, match="patterns must have shape"):
        viz.plot_patterns(torch.zeros(2, 2, 2))


@pytest.mark.parametrize("to", [lambda x: x, lambda x: x.numpy(), lambda x: x.tolist()])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_plot_patterns_refuses_values_it_cannot_draw(to, bad):
    """A NaN or inf pixel would be drawn blank (or stretch the colour scale) without a word."""
    x = torch.ones(2, 4)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="patterns must contain only finite"):
        viz.plot_patterns(to(x))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"patterns": torch.ones(1, 4, dtype=torch.complex64)}, TypeError, "patterns must be real"),
        ({"patterns": "spam"}, TypeError, "patterns"),
        ({"patterns": [["a", "b"]]}, TypeError, "patterns must hold real numbers"),
        ({"vmin": "0"}, TypeError, "vmin"),
        ({"vmax": float("nan")}, ValueError, "vmax"),
        ({"vmin": torch.zeros(2)}, ValueError, "vmin"),
        ({"vmin": 1.0, "vmax": 0.0}, ValueError, "vmin must be <= vmax"),
        ({"panel_size": 0.0}, ValueError, "panel_size"),
        ({"panel_size": "1"}, TypeError, "panel_size"),
    ],
)
def test_plot_patterns_names_bad_arguments(kwargs, exc, match):
    args = {"patterns": torch.ones(2, 4)} | kwargs
    with pytest.raises(exc, match=match):
        viz.plot_patterns(**args)


def test_plot_patterns_scalar_tensor_limits_are_numbers():
    fig = viz.plot_patterns(torch.ones(1, 4), vmin=torch.tensor(-1.0), vmax=torch.tensor(1.0))
    assert fig.axes[0].images[0].get_clim() == (-1.0, 1.0)


def test_animate_renders_all_frames_to_html():
    seen = []

    def draw(i, ax):
        seen.append(i)
        ax.plot([0, 1], [0, i])

    anim = viz.animate(draw, 4, figsize=(2, 2))
    html = anim._repr_html_()
    assert "<script" in html and anim.n_frames == 4
    assert sorted(set(seen)) == [0, 1, 2, 3]


def test_animate_needs_no_network():
    """The player's HTML loads nothing from the network; its nine buttons keep a visible label."""
    import re

    html = viz.animate(lambda i, ax: ax.plot([0, i]), 3, figsize=(2, 2)).to_html()
    urls = set(re.findall(r"""(?:src|href)\s*=\s*["']?(https?://[^"' >]+)""", html))
    assert not urls, f"the animation loads {urls}"
    assert "font-awesome" not in html and 'class="fa ' not in html
    labels = re.findall(r'<span class="ebm-anim-icon">([^<]+)</span>', html)
    assert len(labels) == 9 and all(label.strip() for label in labels)
    assert "Play" in html and "Pause" in html  # titles and aria-labels stay


def test_animate_bad_input():
    with pytest.raises(TypeError, match="frames_fn"):
        viz.animate(5, 3)
    with pytest.raises(ValueError, match="n_frames"):
        viz.animate(lambda i, ax: None, 0)
    with pytest.raises(ValueError, match="default_mode"):
        viz.animate(lambda i, ax: None, 2, default_mode="bounce")


def test_interactive_static_calls_once_with_defaults(monkeypatch):
    monkeypatch.setenv("EBMLIB_STATIC", "1")
    calls = []

    def draw(beta=2.0, n=3, ax=None):
        calls.append((beta, n))
        return beta * n

    assert viz.interactive(draw, beta=(0.1, 5.0, 0.1), n=(1, 10)) == 6.0
    assert calls == [(2.0, 3)]


def test_interactive_live_controls_only_the_named_parameters(monkeypatch):
    """In a live kernel: one control per named slider; ``ax`` and the other defaults stay fixed.

    (Without the fixed values ipywidgets turns every default into a widget and fails on
    ``ax=None``; this is what a reader running the notebook in JupyterLab would hit.)
    """
    widgets = pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(viz, "is_static", lambda: False)
    calls = []

    def draw(beta=2.0, n=3, seed=0, ax=None):
        calls.append((beta, n, seed, ax))
        fig, _ = plt.subplots()
        return fig

    live = viz.interactive(draw, beta=(0.5, 4.0, 0.5), n=(1, 5))
    controls = [c for c in live.widget.children if isinstance(c, widgets.ValueWidget)]
    assert sorted(c.description for c in controls) == ["beta", "n"]
    assert calls == [(2.0, 3, 0, None)]
    beta = next(c for c in controls if c.description == "beta")
    assert beta.continuous_update is False
    beta.value = 3.5
    assert calls[-1] == (3.5, 3, 0, None)
    assert plt.get_fignums() == []  # each returned figure was shown once and closed


def test_interactive_errors(monkeypatch):
    monkeypatch.setenv("EBMLIB_STATIC", "1")

    def draw(beta, ax=None):
        return beta

    with pytest.raises(ValueError, match="needs a default"):
        viz.interactive(draw, beta=(0.1, 1.0))

    def draw2(beta=1.0, n=None, *, k, ax=None):
        return beta

    with pytest.raises(ValueError, match="'k' of draw2 has no default value and no slider"):
        viz.interactive(draw2, beta=(0.1, 1.0))
    with pytest.raises(ValueError, match="not a parameter"):
        viz.interactive(draw, gamma=(0.1, 1.0))
    with pytest.raises(TypeError, match="fn must be callable"):
        viz.interactive(3)


def test_is_static_outside_kernel(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("EBMLIB_STATIC", raising=False)
    assert viz.is_static()  # plain Python, no Jupyter kernel
    monkeypatch.setenv("EBMLIB_STATIC", "0")
    assert viz.is_static()


def test_demo_grid_draws_every_combination():
    seen = []

    def draw(a=0, b=0, ax=None):
        seen.append((a, b))
        ax.plot([a, b])

    fig = viz.demo_grid(draw, rows=("a", [1, 2]), cols=("b", [3, 4, 5]))
    assert len(fig.axes) == 6
    assert sorted(seen) == [(1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5)]


def test_demo_grid_errors():
    with pytest.raises(ValueError, match="rows="):
        viz.demo_grid(lambda ax=None: None)
    with pytest.raises(ValueError, match="'ax' keyword"):
        viz.demo_grid(lambda a=0: None, rows=("a", [1]))
    with pytest.raises(TypeError, match="fn must be callable"):
        viz.demo_grid(42, rows=("a", [1]))


@pytest.mark.parametrize(("n_frames", "exc"), [("2", TypeError), (2.5, TypeError), (0, ValueError)])
def test_js_animation_checks_n_frames(n_frames, exc):
    with pytest.raises(exc, match="n_frames"):
        viz.JSAnimation("<div></div>", n_frames)


def test_draw_overlaps_names_a_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        viz.draw_overlaps(N=4, d=8, seed=0.5)


def test_draw_overlaps_marks_expected_value():
    fig = viz.draw_overlaps(correlation=0.5, kind="binary", N=20, d=64)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel()
    xs = [line.get_xdata()[0] for line in ax.get_lines()]
    assert pytest.approx(0.25) in xs  # expected binary overlap is correlation**2


def test_progress_disabled_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert utils.progress_disabled()
    bar = utils.progress(range(3))
    assert list(bar) == [0, 1, 2]


def test_benchmark_harness_lists_and_runs():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=pathlib.Path(__file__).resolve().parents[1],
    )
    assert "hebbian_outer_product" in out.stdout


def test_benchmark_row_ratio_and_table():
    from benchmarks.harness import Row, markdown_table

    slow_peer = Row("b", "c", ours=1.0, peer=2.0, peer_name="p")
    assert slow_peer.ratio == 2.0
    throughput = Row("b", "c", ours=3.0, peer=1.5, peer_name="p", higher_is_better=True, target=1)
    assert throughput.ratio == 2.0
    table = markdown_table([slow_peer, throughput])
    assert "| b | c |" in table and "1x met" in table
