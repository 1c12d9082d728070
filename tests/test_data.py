"""Tests for ebmlib.data: the offline data sets."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ebmlib import data


@given(N=st.integers(1, 20), d=st.integers(1, 50), kind=st.sampled_from(["binary", "gaussian"]))
@settings(max_examples=30, deadline=None)
def test_random_patterns_shape_and_values(N, d, kind):
    x = data.random_patterns(N, d, kind=kind, generator=torch.Generator().manual_seed(0))
    assert x.shape == (N, d) and x.dtype == torch.float32
    if kind == "binary":
        assert bool(((x == 1) | (x == -1)).all())


def test_random_patterns_sphere_unit_norm():
    x = data.random_patterns(30, 17, kind="sphere", dtype=torch.float64, correlation=0.5)
    assert torch.allclose(x.norm(dim=1), torch.ones(30, dtype=torch.float64), atol=1e-12)


def test_random_patterns_reproducible():
    a = data.random_patterns(4, 9, generator=torch.Generator().manual_seed(3))
    b = data.random_patterns(4, 9, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_binary_correlation_matches_expectation(rho):
    """The mean overlap x_mu . x_nu / d of correlated binary patterns is rho**2.

    Each overlap averages d products with variance at most 1, and the pairs are not
    independent (they share a parent), so the tolerance uses 5 standard errors of the mean over
    the N d entries of one pattern set in the worst case: 5 / sqrt(d).
    """
    N, d = 40, 4000
    x = data.random_patterns(
        N, d, correlation=rho, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    overlaps = (x @ x.T / d)[torch.triu_indices(N, N, 1).unbind()]
    assert abs(overlaps.mean().item() - rho**2) < 5 / math.sqrt(d)


def test_gaussian_correlation_matches_expectation():
    """Cosine of sqrt(rho) c + sqrt(1-rho) z patterns concentrates at rho for large d."""
    N, d, rho = 30, 5000, 0.6
    x = data.random_patterns(
        N,
        d,
        kind="gaussian",
        correlation=rho,
        generator=torch.Generator().manual_seed(2),
        dtype=torch.float64,
    )
    xn = x / x.norm(dim=1, keepdim=True)
    cos = (xn @ xn.T)[torch.triu_indices(N, N, 1).unbind()]
    assert abs(cos.mean().item() - rho) < 5 / math.sqrt(d)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"N": 0, "d": 3}, ValueError, "N"),
        ({"N": 2, "d": 0}, ValueError, "d"),
        ({"N": 2.5, "d": 3}, TypeError, "N"),
        ({"N": 2, "d": 3, "kind": "uniform"}, ValueError, "kind"),
        ({"N": 2, "d": 3, "correlation": 1.5}, ValueError, "correlation"),
        ({"N": 2, "d": 3, "generator": 5}, TypeError, "generator"),
        ({"N": 2, "d": 3, "dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_random_patterns_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        data.random_patterns(**kwargs)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bars_and_stripes_count_and_structure(n):
    """There are 2 * 2**n - 2 distinct images (chapter 7: best log-likelihood -log of it)."""
    x = data.bars_and_stripes(n)
    assert x.shape == (2 * 2**n - 2, n * n)
    assert len({tuple(r.tolist()) for r in x}) == x.shape[0]
    for img in x.view(-1, n, n):
        rows_const = bool((img == img[:, :1]).all())  # every row is all-0 or all-1: stripes
        cols_const = bool((img == img[:1, :]).all())  # every column constant: bars
        assert rows_const or cols_const


def test_bars_and_stripes_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        data.bars_and_stripes(0)
    with pytest.raises(ValueError, match="n must be <= 5"):
        data.bars_and_stripes(6)


def test_digits_offline():
    x, y = data.digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert bool(((x == 0) | (x == 1)).all())
    assert set(y.tolist()) == set(range(10))
    g, _ = data.digits(binarize=False)
    assert 0.0 <= g.min().item() and g.max().item() <= 1.0
    assert torch.equal((g > 0.5).float(), x)


def test_digits_bad_input():
    with pytest.raises(TypeError, match="binarize"):
        data.digits(binarize="yes")
    with pytest.raises(ValueError, match="threshold"):
        data.digits(threshold=2.0)


def test_glyphs_shapes_values_and_distinctness():
    g = data.glyphs("ABC", size=16)
    assert g.shape == (3, 256)
    assert bool(((g == 1) | (g == -1)).all())
    assert not torch.equal(g[0], g[1]) and not torch.equal(g[1], g[2])
    ink = (g == 1).float().mean(dim=1)
    assert bool(((ink > 0.05) & (ink < 0.7)).all())  # real characters, neither blank nor solid
    b = data.glyphs("A", size=16, bipolar=False)
    assert torch.equal(b[0] * 2 - 1, g[0])


def test_glyphs_blank_character():
    assert bool((data.glyphs(" ", size=8) == -1).all())


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"text": ""}, ValueError, "text"),
        ({"text": 5}, TypeError, "text"),
        ({"text": "A", "size": 2}, ValueError, "size"),
        ({"text": "A", "size": 100}, ValueError, "size"),
    ],
)
def test_glyphs_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        data.glyphs(**kwargs)


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (data.bars_and_stripes, {"n": 2}),
        (data.digits, {}),
        (data.glyphs, {"text": "A", "size": 8}),
    ],
)
@pytest.mark.parametrize("bad", [torch.complex64, "float32", None])
def test_data_sets_refuse_a_dtype_that_is_not_a_real_torch_dtype(fn, kwargs, bad):
    with pytest.raises(TypeError, match="dtype"):
        fn(dtype=bad, **kwargs)


def test_data_sets_refuse_a_dtype_that_cannot_hold_their_values():
    """+-1 glyphs need a signed dtype, grey digits a floating one; 0/1 data take any real dtype."""
    with pytest.raises(TypeError, match="dtype must hold -1 and \\+1"):
        data.glyphs("A", size=8, dtype=torch.uint8)
    with pytest.raises(TypeError, match="dtype must hold -1 and \\+1"):
        data.glyphs("A", size=8, dtype=torch.bool)
    with pytest.raises(TypeError, match="dtype must be a floating"):
        data.digits(binarize=False, dtype=torch.int64)
    g = data.glyphs("A", size=8)
    assert torch.equal(data.glyphs("A", size=8, dtype=torch.int8), g.to(torch.int8))
    assert torch.equal(data.glyphs("A", size=8, bipolar=False, dtype=torch.bool), g > 0)
    x, _ = data.digits()
    assert torch.equal(data.digits(dtype=torch.uint8)[0], x.to(torch.uint8))
    b = data.bars_and_stripes(3)
    assert torch.equal(data.bars_and_stripes(3, dtype=torch.bool), b.bool())
    with pytest.raises(TypeError, match="bipolar"):
        data.glyphs("A", bipolar="yes")
