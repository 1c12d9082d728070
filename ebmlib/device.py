"""Device choice and reproducible seeding.

Every chapter starts with::

    device = default_device()
    gen = seed_everything(0)

and passes ``generator=gen`` to each function that draws random numbers.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._validation import check_int

__all__ = ["default_device", "seed_everything", "describe_device"]

_ENV = "EBMLIB_DEVICE"


def default_device() -> torch.device:
    """Return the device the book and the library use by default.

    The order is CUDA, then Apple's MPS, then the CPU. Setting the environment variable
    ``EBMLIB_DEVICE`` (for example ``EBMLIB_DEVICE=cpu`` or ``EBMLIB_DEVICE=cuda:1``) overrides
    the choice.

    Returns
    -------
    torch.device
        The chosen device.

    Raises
    ------
    ValueError
        If ``EBMLIB_DEVICE`` names a device that is not a valid torch device string, or names
        a CUDA/MPS device that is not available on this machine.
    """
    override = os.environ.get(_ENV, "").strip()
    if override:
        try:
            dev = torch.device(override)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"{_ENV} must name a torch device such as 'cpu' or 'cuda:0', got {override!r}"
            ) from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{_ENV}={override!r} asks for CUDA, but CUDA is not available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"{_ENV}={override!r} asks for MPS, but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a fresh ``torch.Generator``.

    ``ebmlib`` functions never touch the global random state themselves: they take an explicit
    ``generator``. Seeding the globals here only makes the reader's own code (and third-party
    code such as weight initialisers) reproducible as well.

    Parameters
    ----------
    seed : int
        A non-negative integer seed.
    device : torch.device or str, optional
        Device of the returned generator (default: CPU). Random numbers for CUDA tensors need a
        CUDA generator.

    Returns
    -------
    torch.Generator
        A generator seeded with ``seed``.

    Raises
    ------
    ValueError
        If ``seed`` is negative, ``device`` is not a valid device string, or ``device`` names a
        CUDA or MPS device that this machine (or this build of torch) does not have.
    TypeError
        If ``seed`` is not an integer or ``device`` is neither a string nor a ``torch.device``.
    """
    seed = check_int(seed, "seed", minimum=0)
    dev = _checked_device(device, "a CUDA generator", "an MPS generator", "for a CPU generator")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global state on purpose
    torch.manual_seed(seed)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    return gen


def _checked_device(
    device: torch.device | str | None,
    cuda_what: str = "CUDA",
    mps_what: str = "MPS",
    unset: str = "",
) -> torch.device:
    """Check that ``device`` exists on this machine; say why not in the reader's terms.

    ``cuda_what``/``mps_what`` say what was asked for on that device (``"a CUDA generator"``),
    ``unset`` what leaving ``device`` unset gives; ``None`` means the CPU.
    """
    if device is None:
        return torch.device("cpu")
    unset = f" {unset}" if unset else ""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str or torch.device such as 'cpu' or 'cuda', "
            f"got {type(device).__name__}"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda:0', got {device!r}"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA GPU"
            raise ValueError(
                f"device={device!r} asks for {cuda_what}, but this machine has {build}; "
                "pass device=ebmlib.default_device() (the GPU when there is one, else the CPU) "
                f"or leave device unset{unset}"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} names CUDA device {dev.index}, but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} asks for {mps_what}, but MPS is not available here; "
            f"pass device=ebmlib.default_device() or leave device unset{unset}"
        )
    return dev


def describe_device(device: torch.device | str | None = None) -> str:
    """Return a one-line human description of ``device`` (default: :func:`default_device`).

    Parameters
    ----------
    device : torch.device or str, optional
        The device to describe; default :func:`default_device`.

    Returns
    -------
    str
        For example ``"cuda:0 (NVIDIA H100)"`` or ``"cpu (16 logical cores, 8 torch threads)"``.

    Raises
    ------
    ValueError
        If ``device`` is not a valid device string or names a CUDA/MPS device this machine does
        not have.
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.
    """
    dev = (
        _checked_device(device, "CUDA", "MPS", "for the default device")
        if device is not None
        else default_device()
    )
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        return f"cpu ({os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads)"
    return str(dev)
