"""Input checks shared by every ``ebmlib`` module.

Each helper raises a :class:`ValueError` or :class:`TypeError` whose message names the
argument and says what was expected, so that bad input never surfaces as a bare shape error
from deep inside torch or as a silent NaN. The helpers return the (possibly converted) value so
they can be used inline::

    states = check_tensor(states, "states", ndim=(1, 2), floating=True)

These are private: the public modules call them, users should not need to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_tensor",
    "check_finite",
    "check_pm1",
    "check_binary",
    "check_positive",
    "check_nonnegative",
    "check_probability",
    "check_int",
    "check_choice",
    "check_same_device",
    "check_same_dtype",
    "check_last_dim",
    "check_generator",
]


def _ndim_text(ndim: int | Sequence[int]) -> str:
    if isinstance(ndim, int):
        return f"{ndim}"
    return " or ".join(str(n) for n in ndim)


def check_tensor(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    floating: bool = False,
    finite: bool = True,
    nonempty: bool = True,
    shape: Sequence[int | None] | None = None,
) -> torch.Tensor:
    """Check that ``x`` is a tensor with the expected rank, dtype class and values.

    Parameters
    ----------
    x : Any
        The value to check. Must already be a :class:`torch.Tensor`.
    name : str
        The argument name used in error messages.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    min_ndim : int, optional
        Minimum number of dimensions.
    floating : bool
        Require a floating-point dtype.
    finite : bool
        Reject NaN and infinite entries (floating tensors only).
    nonempty : bool
        Reject tensors with zero elements.
    shape : sequence of int or None, optional
        Expected shape; ``None`` entries match any size.

    Returns
    -------
    torch.Tensor
        ``x`` unchanged.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():  # every quantity of the library is real
        raise TypeError(f"{name} must be a real tensor, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            raise ValueError(
                f"{name} must have {_ndim_text(ndim)} dimensions, got shape {tuple(x.shape)}"
            )
    if min_ndim is not None and x.dim() < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}"
        )
    if shape is not None:
        ok = len(shape) == x.dim() and all(
            s is None or s == t for s, t in zip(shape, x.shape, strict=True)
        )
        if not ok:
            want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise ValueError(f"{name} must have shape {want}, got {list(x.shape)}")
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if finite and x.is_floating_point():
        check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values."""
    if x.is_floating_point() or x.is_complex():
        if not bool(torch.isfinite(x).all()):
            bad = "NaN" if bool(torch.isnan(x).any()) else "infinite"
            raise ValueError(f"{name} must contain only finite values, found {bad} entries")
    return x


def check_pm1(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` unless every entry of ``x`` is -1 or +1."""
    check_tensor(x, name)
    if not bool(((x == 1) | (x == -1)).all()):
        raise ValueError(f"{name} must contain only -1 and +1 entries (bipolar spins)")
    return x


def check_binary(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` unless every entry of ``x`` is 0 or 1."""
    check_tensor(x, name)
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"{name} must contain only 0 and 1 entries (binary units)")
    return x


def _as_real(value: Any, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite number > 0."""
    v = _as_real(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    return v


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a float, raising unless it is a finite number >= 0."""
    v = _as_real(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def check_probability(value: Any, name: str, *, open_left: bool = False) -> float:
    """Return ``value`` as a float, raising unless it lies in [0, 1] (or (0, 1])."""
    v = _as_real(value, name)
    if not (0.0 <= v <= 1.0) or (open_left and v == 0.0):
        interval = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {v}")
    return v


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, raising unless it is an integer (>= ``minimum``)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value.item())
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def check_same_device(**tensors: torch.Tensor) -> torch.device:
    """Raise ``ValueError`` unless all keyword tensors live on one device; return it."""
    devices = {n: t.device for n, t in tensors.items() if isinstance(t, torch.Tensor)}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"tensors must be on the same device, got {listing}")
    return next(iter(devices.values())) if devices else torch.device("cpu")


def check_same_dtype(**tensors: Any) -> torch.dtype:
    """Apply the library's one policy for mixed dtypes; return the common floating dtype.

    Policy (CONTRIBUTING.md, "Policies"): the floating-point tensor arguments of one call must
    share a dtype, as in torch's own matrix products; a mismatch raises a ``TypeError`` that names
    both arguments and their dtypes (no silent promotion or down-cast). Non-floating tensors (for
    example ``int8`` or ``bool`` spins) are ignored here: the caller converts them to the returned
    dtype. With no floating tensor among the arguments the result is
    ``torch.get_default_dtype()``.

    Examples
    --------
    >>> dtype = check_same_dtype(states=states, patterns=patterns)
    """
    floats = {
        n: t.dtype
        for n, t in tensors.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point()
    }
    if len(set(floats.values())) > 1:
        listing = ", ".join(f"{n} is {d}" for n, d in floats.items())
        raise TypeError(
            f"floating-point arguments must share one dtype, got {listing}; convert one of them "
            "with .to(dtype)"
        )
    return next(iter(floats.values())) if floats else torch.get_default_dtype()


def check_last_dim(x: torch.Tensor, name: str, size: int, other: str) -> torch.Tensor:
    """Raise ``ValueError`` unless ``x.shape[-1] == size``; ``other`` names where size came from."""
    if x.shape[-1] != size:
        raise ValueError(
            f"{name} must have last dimension {size} to match {other}, got shape {tuple(x.shape)}"
        )
    return x


def check_generator(generator: Any, name: str = "generator", device: Any = None) -> Any:
    """Raise ``TypeError`` unless ``generator`` is None or a ``torch.Generator``.

    When ``device`` is given, also check the generator lives on the same device type.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    if device is not None and torch.device(device).type != generator.device.type:
        raise ValueError(
            f"{name} is on {generator.device} but the tensors are on {torch.device(device)}; "
            "create the generator with torch.Generator(device=...)"
        )
    return generator
