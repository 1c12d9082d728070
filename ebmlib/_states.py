"""Enumeration of binary states: one helper, one bit order, one size limit.

Exact answers in this library (partition functions, marginals, transition matrices of tiny
systems) come from listing every state of ``n`` binary units. All modules list them here, in one
order: **state number** ``k`` **has unit** ``j`` **equal to bit** ``j`` **of** ``k`` (least
significant bit first), so row ``k`` of :func:`binary_states` and :func:`state_index` are inverse
to each other. Values are ``{0, 1}`` or, with ``spins=True``, ``{-1, +1}`` (bit 1 is ``+1``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ._validation import check_int, check_tensor

__all__ = ["MAX_EXACT_UNITS", "binary_states", "state_index", "state_chunks"]

#: Largest number of units that any exact enumeration in ``ebmlib`` accepts (2^24 states).
MAX_EXACT_UNITS = 24


def binary_states(
    n: int,
    *,
    start: int = 0,
    stop: int | None = None,
    spins: bool = False,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """All states of ``n`` binary units (or the rows ``start:stop``), one per row.

    Row ``k`` holds the bits of the integer ``k``, unit ``j`` being bit ``j`` (least significant
    first).

    Parameters
    ----------
    n : int
        Number of units, ``0 <= n <= MAX_EXACT_UNITS``.
    start, stop : int
        Range of state numbers, ``0 <= start <= stop <= 2**n`` (default: all).
    spins : bool
        Return ``{-1, +1}`` instead of ``{0, 1}``.
    dtype, device
        Of the result.

    Returns
    -------
    torch.Tensor
        Shape ``[stop - start, n]``.
    """
    n = check_int(n, "n", minimum=0)
    if n > MAX_EXACT_UNITS:
        raise ValueError(
            f"n must be <= {MAX_EXACT_UNITS} for exact enumeration (2^{MAX_EXACT_UNITS} states), "
            f"got {n}"
        )
    start = check_int(start, "start", minimum=0)
    stop = 2**n if stop is None else check_int(stop, "stop", minimum=0)
    if not start <= stop <= 2**n:
        raise ValueError(
            f"need 0 <= start <= stop <= 2**n = {2**n}, got start={start}, stop={stop}"
        )
    codes = torch.arange(start, stop, device=device, dtype=torch.int64)
    bits = (codes[:, None] >> torch.arange(n, device=device, dtype=torch.int64)) & 1
    out = bits.to(dtype)
    return 2 * out - 1 if spins else out


def state_index(states: torch.Tensor, *, spins: bool = False) -> torch.Tensor:
    """State numbers of ``states`` (inverse of :func:`binary_states`).

    Parameters
    ----------
    states : torch.Tensor
        Shape ``[..., n]`` with ``n <= 62``, entries in ``{0, 1}`` (or ``{-1, +1}`` with
        ``spins=True``).
    spins : bool
        Whether the entries are ``{-1, +1}``.

    Returns
    -------
    torch.Tensor
        ``int64`` of shape ``[...]``.
    """
    check_tensor(states, "states", min_ndim=1, nonempty=False)
    n = states.shape[-1]
    if n > 62:
        raise ValueError(f"states must have at most 62 units to be numbered, got {n}")
    ones = states > 0 if spins else states != 0
    weights = 2 ** torch.arange(n, device=states.device, dtype=torch.int64)
    return (ones.to(torch.int64) * weights).sum(-1)


def state_chunks(n: int, chunk: int = 1 << 15) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges covering the ``2**n`` states of ``n`` units, ``chunk`` at a time."""
    n = check_int(n, "n", minimum=0)
    chunk = check_int(chunk, "chunk", minimum=1)
    total = 2**n
    for start in range(0, total, chunk):
        yield start, min(start + chunk, total)
