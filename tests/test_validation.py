"""Tests for the private validation helpers: every error names the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ebmlib import _validation as v


def test_check_tensor_accepts_good_input():
    x = torch.zeros(2, 3)
    assert v.check_tensor(x, "x", ndim=2, floating=True, shape=(2, None)) is x


@pytest.mark.parametrize(
    "value, kwargs, exc, text",
    [
        ([1.0, 2.0], {}, TypeError, "states must be a torch.Tensor"),
        (torch.zeros(3), {"ndim": 2}, ValueError, "states must have 2 dimensions"),
        (torch.zeros(3), {"ndim": (2, 3)}, ValueError, "2 or 3 dimensions"),
        (torch.zeros(3), {"min_ndim": 2}, ValueError, "at least 2"),
        (torch.zeros(0, 3), {}, ValueError, "must not be empty"),
        (torch.zeros(3, dtype=torch.int64), {"floating": True}, TypeError, "floating-point"),
        (torch.tensor([1.0, math.nan]), {}, ValueError, "NaN"),
        (torch.tensor([1.0, math.inf]), {}, ValueError, "infinite"),
        (torch.zeros(2, 3), {"shape": (2, 4)}, ValueError, r"shape \[2, 4\]"),
    ],
)
def test_check_tensor_errors_name_argument(value, kwargs, exc, text):
    with pytest.raises(exc, match=text) as info:
        v.check_tensor(value, "states", **kwargs)
    assert "states" in str(info.value)


def test_check_pm1_and_binary():
    v.check_pm1(torch.tensor([1.0, -1.0]), "patterns")
    with pytest.raises(ValueError, match="patterns must contain only -1 and \\+1"):
        v.check_pm1(torch.tensor([1.0, 0.0]), "patterns")
    v.check_binary(torch.tensor([1.0, 0.0]), "data")
    with pytest.raises(ValueError, match="data must contain only 0 and 1"):
        v.check_binary(torch.tensor([1.0, -1.0]), "data")


@given(st.floats(min_value=1e-300, max_value=1e300))
def test_check_positive_accepts_positive_floats(x):
    assert v.check_positive(x, "beta") == x


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, -math.inf])
def test_check_positive_rejects(bad):
    with pytest.raises(ValueError, match="beta"):
        v.check_positive(bad, "beta")


@pytest.mark.parametrize("bad", ["1", None, True, [1.0], torch.ones(2)])
def test_check_positive_type_errors(bad):
    with pytest.raises((TypeError, ValueError), match="beta"):
        v.check_positive(bad, "beta")


def test_check_positive_accepts_scalar_tensor():
    assert v.check_positive(torch.tensor(2.0), "beta") == 2.0


def test_check_nonnegative_and_probability():
    assert v.check_nonnegative(0, "lr") == 0.0
    with pytest.raises(ValueError, match="lr must be >= 0"):
        v.check_nonnegative(-0.1, "lr")
    assert v.check_probability(1.0, "p") == 1.0
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        v.check_probability(1.5, "p")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        v.check_probability(0.0, "p", open_left=True)


def test_check_int():
    assert v.check_int(3, "N", minimum=1) == 3
    assert v.check_int(np.int64(4), "N") == 4
    assert v.check_int(torch.tensor(5), "N") == 5
    with pytest.raises(TypeError, match="N must be an integer"):
        v.check_int(2.0, "N")
    with pytest.raises(TypeError, match="N must be an integer"):
        v.check_int(True, "N")
    with pytest.raises(ValueError, match="N must be >= 1"):
        v.check_int(0, "N", minimum=1)


def test_check_choice():
    assert v.check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'"):
        v.check_choice("c", "mode", ("a", "b"))


def test_check_same_device_and_last_dim():
    a, b = torch.zeros(2), torch.zeros(3)
    assert v.check_same_device(a=a, b=b) == torch.device("cpu")
    with pytest.raises(ValueError, match="states must have last dimension 4 to match patterns"):
        v.check_last_dim(torch.zeros(2, 3), "states", 4, "patterns")


@pytest.mark.cuda
def test_check_same_device_mismatch():
    with pytest.raises(ValueError, match="same device"):
        v.check_same_device(a=torch.zeros(1), b=torch.zeros(1, device="cuda"))


def test_check_generator():
    assert v.check_generator(None) is None
    g = torch.Generator()
    assert v.check_generator(g) is g
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        v.check_generator(0)
    with pytest.raises(ValueError, match="generator is on cpu"):
        v.check_generator(g, device="meta")
