"""Tests for ebmlib.device: device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import ebmlib
from ebmlib.device import default_device, describe_device, seed_everything


def test_default_device_follows_availability(monkeypatch):
    """Without an override the order is CUDA, then MPS, then CPU."""
    monkeypatch.delenv("EBMLIB_DEVICE", raising=False)
    dev = default_device()
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    elif torch.backends.mps.is_available():
        assert dev.type == "mps"
    else:
        assert dev == torch.device("cpu")


def test_env_override(monkeypatch):
    monkeypatch.setenv("EBMLIB_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")


def test_env_override_rejects_garbage(monkeypatch):
    monkeypatch.setenv("EBMLIB_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="EBMLIB_DEVICE"):
        default_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_env_override_unavailable_cuda(monkeypatch):
    monkeypatch.setenv("EBMLIB_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        default_device()


def test_seed_everything_reproducible():
    g1 = seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3), torch.rand(3, generator=g1))  # noqa: NPY002
    g2 = seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3), torch.rand(3, generator=g2))  # noqa: NPY002
    assert a[0] == b[0] and a[1] == b[1]
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    assert isinstance(g1, torch.Generator)


def test_seed_everything_different_seeds_differ():
    a = torch.rand(5, generator=seed_everything(1))
    b = torch.rand(5, generator=seed_everything(2))
    assert not torch.equal(a, b)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_seed_everything_bad_seed(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        seed_everything(bad)


def test_describe_device_cpu():
    assert describe_device("cpu").startswith("cpu")


@pytest.mark.parametrize(
    ("device", "exc", "match"),
    [("no-such-device", ValueError, "device must name"), (3, TypeError, "device must be")],
)
def test_describe_device_bad_device(device, exc, match):
    with pytest.raises(exc, match=match):
        describe_device(device)


def test_describe_device_without_cuda_says_why(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda' asks for CUDA"):
        describe_device("cuda")


@pytest.mark.cuda
def test_seed_everything_cuda_generator():
    g = seed_everything(0, device="cuda")
    assert g.device.type == "cuda"
    x = torch.rand(4, device="cuda", generator=g)
    assert x.device.type == "cuda"


def test_seed_everything_without_cuda_says_why(monkeypatch):
    """A CUDA generator asked for on a machine without CUDA: a ValueError that says so."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = torch.get_rng_state()
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="CUDA generator.*default_device"):
            seed_everything(0, device=device)
    # the error comes before any global state is touched
    assert torch.equal(state, torch.get_rng_state())


def test_seed_everything_without_mps_says_why(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS"):
        seed_everything(0, device="mps")


@pytest.mark.parametrize(
    ("device", "exc"), [("gpu", ValueError), ("", ValueError), (3, TypeError), (1.0, TypeError)]
)
def test_seed_everything_bad_device(device, exc):
    with pytest.raises(exc, match="device"):
        seed_everything(0, device=device)


def test_seed_everything_default_device_always_works():
    """The call the book recommends works on every machine."""
    g = seed_everything(0, device=default_device())
    x = torch.rand(3, device=default_device(), generator=g)
    assert x.device.type == default_device().type


def test_top_level_exports():
    assert isinstance(ebmlib.__version__, str) and ebmlib.__version__.count(".") == 2
    assert ebmlib.default_device is default_device
