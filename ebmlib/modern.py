r"""Continuous modern Hopfield networks: the log-sum-exp energy and its softmax update.

This module implements chapter 4 of the book. Stored patterns are the **rows** of ``patterns``
(shape ``[N, d]``); a state is a vector of shape ``[d]`` or a batch ``[B, d]`` (any number of
leading batch dimensions is accepted and kept). The book writes ``X = (x_1, ..., x_N)`` as a
``d x N`` matrix, so the book's ``X^T xi`` is ``states @ patterns.T`` in code. ``beta`` is always
the raw inverse temperature: nothing is rescaled behind the reader's back.

The central objects are

* the energy :math:numref:`eq-modern-energy`
  ``E(xi) = -lse(beta, X^T xi) + xi^T xi / 2 + log(N) / beta + M^2 / 2``,
  with ``lse(beta, z) = beta^{-1} log sum_i exp(beta z_i)`` (:math:numref:`eq-modern-lse`) and
  ``M = max_i ||x_i||``;
* the update :math:numref:`eq-modern-update` ``xi <- X softmax(beta X^T xi)``, which never
  raises ``E`` (:math:numref:`eq-modern-descent`).

Numerics. In ``float16`` and ``bfloat16`` the scores ``beta X^T xi``, the softmax and the
weighted sum of patterns are formed in ``float32`` and only the result is rounded back, as
:func:`torch.nn.functional.scaled_dot_product_attention` does; a half-precision score matrix
would overflow to ``inf`` (and the softmax to NaN) as soon as ``beta |x_i . xi|`` passes 65504.

Checks. Every public function checks shapes, dtypes and devices. :func:`update` and
:func:`energy` also scan their inputs for NaN and infinite entries unless ``validate=False``;
the scan reads a value back from the device, so a GPU loop that has checked its data once can
switch it off. While :func:`torch.compile` traces a function the scan is skipped, so
``torch.compile(update, fullgraph=True)`` compiles to one graph. :func:`retrieve` scans once
and then iterates the private kernel.

Large pattern sets: :func:`energy`, :func:`update`, :func:`retrieve` and
:func:`softmax_mass_count` take a ``chunk_size`` keyword. With it, the ``[B, N]`` score matrix
is never formed: patterns are visited ``chunk_size`` at a time and a streaming ("online")
softmax keeps a running maximum, a running normaliser and a running weighted sum of patterns,
so memory is ``O(B * chunk_size)`` on top of the patterns themselves. The same three partial
statistics combine across processes in :mod:`ebmlib.distributed`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ._optional import require
from ._validation import (
    check_finite,
    check_int,
    check_positive,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .utils import Result

__all__ = [
    "lse",
    "energy",
    "update",
    "retrieve",
    "Retrieval",
    "separation",
    "softmax_mass_count",
    "one_step_error_bound",
    "storage_constant",
    "storage_capacity",
    "clustered_patterns",
    "masked_glyphs",
    "draw_retrieval",
    "update_method",
]

_HALF = (torch.float16, torch.bfloat16)
_METHODS = ("auto", "matmul", "sdpa")


# ---------------------------------------------------------------------------------------------
# validation helpers (private)
# ---------------------------------------------------------------------------------------------


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the scores and sums are formed in: float32 for half precision, else ``dtype``."""
    return torch.float32 if dtype in _HALF else dtype


def _check_finite_lean(x: torch.Tensor, name: str) -> None:
    # min and max propagate NaN and expose +-inf, and unlike isfinite they allocate no
    # temporary the size of x (which matters for a million stored patterns)
    lo, hi = torch.aminmax(x)
    if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
        check_finite(x, name)  # raises with the shared message


def _values_checked(validate: bool) -> bool:
    """Whether to scan values: ``validate``, except while torch.compile traces the code."""
    if not isinstance(validate, bool):
        raise TypeError(f"validate must be a bool, got {type(validate).__name__}")
    return validate and not torch.compiler.is_compiling()


def _as_floating(x: torch.Tensor, dtype: torch.dtype, name: str) -> torch.Tensor:
    if x.is_floating_point():
        return x
    if x.is_complex():
        raise TypeError(f"{name} must be real (floating, integer or bool), got {x.dtype}")
    return x.to(dtype)  # integer or bool entries, converted by the dtype policy


def _check_pair(states: torch.Tensor, patterns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape, dtype and device checks (no value scan); returns floating ``states, patterns``."""
    check_tensor(patterns, "patterns", ndim=2, finite=False)
    check_tensor(states, "states", min_ndim=1, finite=False)
    check_same_device(states=states, patterns=patterns)
    dtype = check_same_dtype(states=states, patterns=patterns)
    states = _as_floating(states, dtype, "states")
    patterns = _as_floating(patterns, dtype, "patterns")
    if states.shape[-1] != patterns.shape[-1]:
        raise ValueError(
            f"states must have last dimension d = {patterns.shape[-1]} to match patterns "
            f"[N, d], got shape {tuple(states.shape)}"
        )
    return states, patterns


def _check_chunk(chunk_size: int | None) -> int | None:
    if chunk_size is None:
        return None
    return check_int(chunk_size, "chunk_size", minimum=1)


def _max_norm(patterns: torch.Tensor) -> torch.Tensor:
    """M = max_i ||x_i||, a 0-dim tensor."""
    return torch.linalg.vector_norm(patterns, dim=-1).max()


# ---------------------------------------------------------------------------------------------
# log-sum-exp and the energy
# ---------------------------------------------------------------------------------------------


def lse(beta: float, z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Log-sum-exp at inverse temperature ``beta``: ``beta^{-1} log sum_i exp(beta z_i)``.

    .. math:: \mathrm{lse}(\beta, z) = \beta^{-1} \log \sum_{i=1}^N e^{\beta z_i}

    (:math:numref:`eq-modern-lse`). It is a smooth maximum:
    ``max z <= lse <= max z + log(N) / beta``.

    Parameters
    ----------
    beta : float
        Inverse temperature, > 0.
    z : torch.Tensor
        Values, any shape with at least one dimension; reduced over ``dim``.
    dim : int
        Dimension to reduce (default the last).

    Returns
    -------
    torch.Tensor
        ``z`` with ``dim`` removed, same dtype and device.
    """
    beta = check_positive(beta, "beta")
    check_tensor(z, "z", min_ndim=1, floating=True)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    zw = z.to(_work_dtype(z.dtype))
    return (torch.logsumexp(beta * zw, dim=dim) / beta).to(z.dtype)


def _exp_sums(z: torch.Tensor, zmax: torch.Tensor, beta: float) -> tuple[torch.Tensor, ...]:
    """``sum_i expm1(u_i)`` and ``sum_i exp(u_i)`` with ``u_i = beta (z_i - zmax) <= 0``."""
    u = beta * (z - zmax[:, None])  # [B, c]
    return torch.expm1(u).sum(dim=-1), torch.exp(u).sum(dim=-1)


def _max_overlap(s: torch.Tensor, x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``max_i x_i . s`` for every state, visiting ``chunk_size`` patterns at a time: ``[B]``."""
    zmax = torch.full((s.shape[0],), -math.inf, dtype=s.dtype, device=s.device)
    for start in range(0, x.shape[0], chunk_size):
        zmax = torch.maximum(zmax, (s @ x[start : start + chunk_size].T).amax(dim=-1))
    return zmax


def _chunked_exp_sums(
    s: torch.Tensor, x: torch.Tensor, beta: float, zmax: torch.Tensor, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``_exp_sums`` accumulated over chunks of patterns (second pass of the energy)."""
    sum_m1 = torch.zeros_like(zmax)
    sum_e = torch.zeros_like(zmax)
    for start in range(0, x.shape[0], chunk_size):
        m1, e = _exp_sums(s @ x[start : start + chunk_size].T, zmax, beta)
        sum_m1 = sum_m1 + m1
        sum_e = sum_e + e
    return sum_m1, sum_e


def _energy_head(
    zmax: torch.Tensor, sum_m1: torch.Tensor, sum_e: torch.Tensor, n: int, beta: float
) -> torch.Tensor:
    """``-lse(beta, z) + log(N) / beta`` from the largest overlap and the two exp-sums.

    Writing ``u_i = beta (z_i - max z) <= 0``, the quantity is
    ``-max z - beta^{-1} log(mean_i exp(u_i))``. When the mean is close to 1 (small beta) the
    log is formed as ``log1p(mean(expm1(u)))``, which keeps full relative precision where the
    naive ``logsumexp - log N`` would cancel two numbers of size ``log(N) / beta``.
    """
    m1 = sum_m1 / n  # in [-1, 0]
    log_mean = torch.where(m1 > -0.5, torch.log1p(m1), torch.log(sum_e) - math.log(n))
    return -zmax - log_mean / beta


def _energy_kernel(
    s: torch.Tensor, x: torch.Tensor, beta: float, chunk_size: int | None
) -> torch.Tensor:
    """Energy of the states ``s`` ``[B, d]`` (no checks), in ``s.dtype``."""
    wd = _work_dtype(s.dtype)
    sw, xw = s.to(wd), x.to(wd)
    n = x.shape[0]
    if chunk_size is None or chunk_size >= n:
        z = sw @ xw.T  # [B, N]
        zmax = z.amax(dim=-1)
        sum_m1, sum_e = _exp_sums(z, zmax, beta)
    else:  # pass 1: the largest overlap of each state; pass 2: sums relative to it
        zmax = _max_overlap(sw, xw, chunk_size)
        sum_m1, sum_e = _chunked_exp_sums(sw, xw, beta, zmax, chunk_size)
    m = _max_norm(xw)  # no [N, d] temporary
    out = _energy_head(zmax, sum_m1, sum_e, n, beta) + 0.5 * (sw * sw).sum(dim=-1) + 0.5 * m * m
    return out.to(s.dtype)


def energy(
    states: torch.Tensor,
    patterns: torch.Tensor,
    beta: float,
    *,
    chunk_size: int | None = None,
    validate: bool = True,
) -> torch.Tensor:
    r"""Energy of the continuous modern Hopfield network (:math:numref:`eq-modern-energy`).

    .. math::

        E(\xi) = -\mathrm{lse}(\beta, X^\top \xi) + \tfrac12 \xi^\top \xi
                 + \beta^{-1}\log N + \tfrac12 M^2, \qquad M = \max_i \|x_i\|.

    With the two constants the energy is bounded below by 0 (:math:numref:`eq-modern-bound`).

    Parameters
    ----------
    states : torch.Tensor
        States ``xi``, shape ``[d]`` or ``[B, d]`` (more leading dimensions are kept).
    patterns : torch.Tensor
        Stored patterns as rows, shape ``[N, d]``; ``X^T xi`` is ``states @ patterns.T``.
    beta : float
        Inverse temperature, > 0.
    chunk_size : int, optional
        Visit the patterns this many at a time, so that at most ``[B, chunk_size]`` scores
        exist at once (two passes over the patterns). Default: all at once.
    validate : bool
        Scan ``states`` and ``patterns`` for NaN and infinite entries (default True; skipped
        while :func:`torch.compile` traces).

    Returns
    -------
    torch.Tensor
        Energies, shape ``states.shape[:-1]`` (a 0-dim tensor for a single state), in the dtype
        of the inputs (formed in float32 for half precision).
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    if _values_checked(validate):
        _check_finite_lean(patterns, "patterns")
        _check_finite_lean(states, "states")
    chunk_size = _check_chunk(chunk_size)
    lead = states.shape[:-1]
    out = _energy_kernel(states.reshape(-1, states.shape[-1]), patterns, beta, chunk_size)
    return out.reshape(lead)


# ---------------------------------------------------------------------------------------------
# the update
# ---------------------------------------------------------------------------------------------


def update_method(device: torch.device | str, dtype: torch.dtype) -> str:
    """The kernel :func:`update` picks with ``method="auto"`` for a device and dtype.

    The rule (measured in ``benchmarks/bench_modern.py``, never at import time):

    * CUDA with ``float16`` or ``bfloat16``: ``"sdpa"``
      (:func:`torch.nn.functional.scaled_dot_product_attention`, whose fused kernels never
      write the ``[B, N]`` score matrix to memory and accumulate in float32);
    * everything else (CPU, and CUDA in ``float32``/``float64``): ``"matmul"``, two matrix
      products with an in-place softmax in between (in float32 for half precision).

    Parameters
    ----------
    device : torch.device or str
        Where the tensors live.
    dtype : torch.dtype
        Their floating dtype.

    Returns
    -------
    str
        ``"sdpa"`` or ``"matmul"``.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be a torch.device or a device string, got {device!r}"
        ) from err
    if not isinstance(dtype, torch.dtype) or dtype.is_complex:
        raise TypeError(f"dtype must be a real torch.dtype, got {dtype!r}")
    if dev.type == "cuda" and dtype in _HALF:
        return "sdpa"
    return "matmul"


def _update_matmul(s: torch.Tensor, patterns: torch.Tensor, beta: float) -> torch.Tensor:
    # The same operations in the same order on both paths, so that the result does not depend
    # on whether autograd is recording (an nn.Parameter gives the same bits as a plain tensor).
    if torch.is_grad_enabled() and (s.requires_grad or patterns.requires_grad):
        scores = torch.mm(s, patterns.T) * beta
        e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        return torch.mm(e, patterns) / e.sum(dim=-1, keepdim=True)
    # in place: scale, subtract the row max and exponentiate, then divide the small [B, d]
    # product by the row sums instead of normalising the large [B, N] matrix
    scores = torch.mm(s, patterns.T).mul_(beta)
    scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
    denom = scores.sum(dim=-1, keepdim=True)
    return torch.mm(scores, patterns).div_(denom)


def _update_sdpa(s: torch.Tensor, patterns: torch.Tensor, beta: float) -> torch.Tensor:
    # 4-D [batch, heads, length, dim] inputs take the fast kernels (2-D/3-D ones may not)
    x = patterns[None, None]
    return F.scaled_dot_product_attention(s[None, None], x, x, scale=beta)[0, 0]


def _block_partial(
    s: torch.Tensor, x: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax statistics of one block of patterns ``x`` ``[c, d]`` for the states ``s``.

    Returns ``(m, l, a)``: ``m = max_i beta x_i.s`` ``[B, 1]``,
    ``l = sum_i exp(beta x_i.s - m)`` ``[B, 1]`` and ``a = sum_i exp(beta x_i.s - m) x_i``
    ``[B, d]``; the update is ``a / l``.
    """
    z = torch.mm(s, x.T) * beta  # [B, c]
    m = z.amax(dim=-1, keepdim=True)
    p = torch.exp(z - m)
    return m, p.sum(dim=-1, keepdim=True), torch.mm(p, x)


def _merge_partials(
    a: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Combine the statistics of two disjoint blocks of patterns (exactly, in exact arithmetic).

    With ``m = max(m_a, m_b)``: ``l = l_a e^{m_a - m} + l_b e^{m_b - m}`` and likewise for the
    weighted sums, because ``e^{z - m} = e^{z - m_a} e^{m_a - m}``.
    """
    m = torch.maximum(a[0], b[0])
    ra, rb = torch.exp(a[0] - m), torch.exp(b[0] - m)
    return m, a[1] * ra + b[1] * rb, a[2] * ra + b[2] * rb


def _softmax_partials(
    s: torch.Tensor, x: torch.Tensor, beta: float, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``_block_partial`` over all patterns, ``chunk_size`` at a time (online softmax)."""
    n = x.shape[0]
    step = n if chunk_size is None else min(chunk_size, n)
    part = _block_partial(s, x[:step], beta)
    for start in range(step, n, step):
        part = _merge_partials(part, _block_partial(s, x[start : start + step], beta))
    return part


def _update_kernel(
    s: torch.Tensor, x: torch.Tensor, beta: float, chunk_size: int | None, method: str
) -> torch.Tensor:
    """One update of ``s`` ``[B, d]`` against ``x`` ``[N, d]``, no checks, in ``s.dtype``.

    ``method`` is ``"matmul"`` or ``"sdpa"`` (already resolved); ``x`` may already be in the
    working dtype (:func:`retrieve` converts it once).
    """
    if chunk_size is None or chunk_size >= x.shape[0]:
        if method == "sdpa":
            return _update_sdpa(s, x.to(s.dtype), beta)
        wd = _work_dtype(s.dtype)
        return _update_matmul(s.to(wd), x.to(wd), beta).to(s.dtype)
    wd = _work_dtype(s.dtype)
    _, l_sum, acc = _softmax_partials(s.to(wd), x.to(wd), beta, chunk_size)
    return (acc / l_sum).to(s.dtype)


def _resolve_method(method: str, like: torch.Tensor) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be one of 'auto', 'matmul', 'sdpa'; got {method!r}")
    return update_method(like.device, like.dtype) if method == "auto" else method


def update(
    states: torch.Tensor,
    patterns: torch.Tensor,
    beta: float,
    *,
    chunk_size: int | None = None,
    method: str = "auto",
    validate: bool = True,
) -> torch.Tensor:
    r"""One synchronous update of a modern Hopfield network (:math:numref:`eq-modern-update`).

    .. math:: \xi^{\text{new}} = X \,\mathrm{softmax}(\beta X^\top \xi)

    In code, with patterns as rows: ``softmax(beta * states @ patterns.T, -1) @ patterns``.
    It is the concave-convex step on :func:`energy`, so the energy never rises; it even falls
    by at least ``||xi_new - xi||^2 / 2`` (:math:numref:`eq-modern-descent`). It equals
    ``F.scaled_dot_product_attention(states, patterns, patterns, scale=beta)``: one attention
    step with queries ``states`` and keys = values = ``patterns``.

    Parameters
    ----------
    states : torch.Tensor
        ``[d]`` or ``[B, d]`` (more leading dimensions are kept).
    patterns : torch.Tensor
        ``[N, d]``, one stored pattern per row.
    beta : float
        Inverse temperature, > 0.
    chunk_size : int, optional
        Stream over the patterns in chunks of this size (online softmax), so that at most
        ``[B, chunk_size]`` scores exist at once. For very large ``N``.
    method : {"auto", "matmul", "sdpa"}
        Kernel for the unchunked path; ``"auto"`` follows :func:`update_method`.
    validate : bool
        Scan ``states`` and ``patterns`` for NaN and infinite entries (default True). The scan
        reads a value back from the device; pass False inside a GPU loop over data that was
        checked once. Skipped while :func:`torch.compile` traces.

    Returns
    -------
    torch.Tensor
        New states, same shape, dtype and device as ``states``. In half precision the scores,
        softmax and weighted sum are formed in float32 and the result is rounded once.
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    if _values_checked(validate):
        _check_finite_lean(patterns, "patterns")
        _check_finite_lean(states, "states")
    chunk_size = _check_chunk(chunk_size)
    method = _resolve_method(method, states)
    shape = states.shape
    out = _update_kernel(states.reshape(-1, shape[-1]), patterns, beta, chunk_size, method)
    return out.reshape(shape)


@dataclasses.dataclass(frozen=True)
class Retrieval(Result):
    """Result of :func:`retrieve`.

    Attributes
    ----------
    states : torch.Tensor
        The (approximate) fixed points, with the shape of the cues.
    steps : int
        The number of updates that moved some state by more than ``tol`` (0 if the cues were
        already fixed points, ``max_steps`` if the iteration did not settle).
    converged : bool
        Whether the last update moved every state by at most ``tol``.

    Notes
    -----
    Unpacking as ``states, steps = retrieve(...)`` (the tuple of earlier versions) still works
    but is deprecated; read the attributes instead.
    """

    states: torch.Tensor
    steps: int
    converged: bool

    def __iter__(self) -> Iterator:  # type: ignore[override]
        warnings.warn(
            "unpacking a Retrieval as (states, steps) is deprecated; use res.states and res.steps",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self.states, self.steps))


def retrieve(
    states: torch.Tensor,
    patterns: torch.Tensor,
    beta: float,
    max_steps: int = 100,
    tol: float = 1e-6,
    *,
    chunk_size: int | None = None,
    method: str = "auto",
) -> Retrieval:
    r"""Iterate :func:`update` to a fixed point (:math:numref:`eq-modern-update`).

    The iteration stops at the first update that moves every state by at most ``tol``
    (Euclidean norm; moves below the dtype's round-off level ``8 eps M`` count as zero); that
    last, confirming update is applied but not counted. So a cue that lands on its fixed
    point in one update reports ``steps == 1``. The inputs are checked once (including the
    scan for NaN and infinite entries); the steps then run the private kernel.

    Parameters
    ----------
    states : torch.Tensor
        Cues, ``[d]`` or ``[B, d]``.
    patterns : torch.Tensor
        ``[N, d]``.
    beta : float
        Inverse temperature, > 0.
    max_steps : int
        Most updates to apply (>= 1).
    tol : float
        Convergence threshold on ``||xi_new - xi||`` (>= 0).
    chunk_size : int, optional
        Passed to :func:`update`.
    method : {"auto", "matmul", "sdpa"}
        Passed to :func:`update`.

    Returns
    -------
    Retrieval
        The final states, the number of updates that moved them, and whether they settled.

    Raises
    ------
    ValueError
        Bad arguments (named), or an update that overflowed the dtype (``beta`` times an
        overlap beyond its range).
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    _check_finite_lean(patterns, "patterns")
    _check_finite_lean(states, "states")
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    tol = float(tol) if isinstance(tol, (int, float)) and not isinstance(tol, bool) else tol
    if not isinstance(tol, float) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    chunk_size = _check_chunk(chunk_size)
    method = _resolve_method(method, states)
    shape = states.shape
    s = states.reshape(-1, shape[-1])
    # convert the patterns to the working dtype once, not at every step
    x = patterns if method == "sdpa" else patterns.to(_work_dtype(patterns.dtype))
    # a move below the round-off level of the dtype also counts as converged, so that a
    # float32 or float16 iteration stops even when tol is below what that dtype can resolve
    floor = 8 * torch.finfo(states.dtype).eps * float(_max_norm(x))
    for t in range(max_steps):
        new = _update_kernel(s, x, beta, chunk_size, method)
        moved = float(torch.linalg.vector_norm((new - s).to(x.dtype), dim=-1).max())
        if not math.isfinite(moved):
            raise ValueError(
                f"the update overflowed in {states.dtype} at beta = {beta:g}: the scores "
                "beta * x_i . xi leave the range of the dtype; use a smaller beta, rescale the "
                "patterns or use a wider dtype"
            )
        s = new
        if moved <= max(tol, floor):
            return Retrieval(s.reshape(shape), t, True)
    return Retrieval(s.reshape(shape), max_steps, False)


# ---------------------------------------------------------------------------------------------
# separation, retrieval bound and fixed-point regimes
# ---------------------------------------------------------------------------------------------


def separation(patterns: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    r"""Separation of each pattern from the others (:math:numref:`eq-modern-separation`).

    .. math:: \Delta_i = x_i^\top x_i - \max_{j \ne i} x_i^\top x_j

    Parameters
    ----------
    patterns : torch.Tensor
        ``[N, d]``.
    chunk_size : int, optional
        Rows of the ``[N, N]`` Gram matrix formed at once.

    Returns
    -------
    torch.Tensor
        ``[N]``; ``+inf`` for every entry when ``N == 1`` (no other pattern).
    """
    check_tensor(patterns, "patterns", ndim=2, floating=True)
    chunk_size = _check_chunk(chunk_size)
    n = patterns.shape[0]
    if n == 1:
        return torch.full((1,), math.inf, dtype=patterns.dtype, device=patterns.device)
    out_dtype = patterns.dtype
    patterns = patterns.to(_work_dtype(out_dtype))  # the Gram matrix in float32 for half
    step = n if chunk_size is None else chunk_size
    out = []
    for start in range(0, n, step):
        rows = patterns[start : start + step]  # [c, d]
        g = rows @ patterns.T  # [c, N]
        idx = torch.arange(start, start + rows.shape[0], device=patterns.device)
        self_ = (rows * rows).sum(dim=-1)
        g[torch.arange(rows.shape[0], device=patterns.device), idx] = -math.inf
        out.append(self_ - g.max(dim=-1).values)
    return torch.cat(out).to(out_dtype)


def one_step_error_bound(
    patterns: torch.Tensor, beta: float, radius: float | torch.Tensor = 0.0
) -> torch.Tensor:
    r"""Bound on the one-step retrieval error of each pattern (:math:numref:`eq-modern-onestep`).

    For a state ``xi`` with ``||xi - x_i|| <= r``,

    .. math:: \|f(\xi) - x_i\| \le 2 M (N-1)\, e^{-\beta(\Delta_i - 2 M r)},

    where ``f`` is :func:`update`, ``M = max_j ||x_j||`` and ``Delta_i`` is
    :func:`separation`. With ``r = 0`` this is ``2 M (N - 1) exp(-beta Delta_i)``.

    Parameters
    ----------
    patterns : torch.Tensor
        ``[N, d]``.
    beta : float
        Inverse temperature, > 0.
    radius : float or torch.Tensor
        Distance ``r >= 0`` of the state from ``x_i``: a number, or a tensor broadcastable
        against ``[N]``.

    Returns
    -------
    torch.Tensor
        ``[N]`` (or the broadcast shape), the bound for each pattern.
    """
    beta = check_positive(beta, "beta")
    check_tensor(patterns, "patterns", ndim=2, floating=True)
    if isinstance(radius, torch.Tensor):
        check_tensor(radius, "radius", floating=True)
        if bool((radius < 0).any()):
            raise ValueError("radius must be >= 0")
        try:
            torch.broadcast_shapes(radius.shape, patterns.shape[:1])
        except RuntimeError as err:
            raise ValueError(
                f"radius must broadcast against the {patterns.shape[0]} patterns, got shape "
                f"{tuple(radius.shape)}"
            ) from err
        r = radius.to(patterns.dtype)
    else:
        if isinstance(radius, bool) or not isinstance(radius, (int, float)):
            raise TypeError(f"radius must be a number or a tensor, got {type(radius).__name__}")
        if not math.isfinite(radius) or radius < 0:
            raise ValueError(f"radius must be a finite number >= 0, got {radius}")
        r = float(radius)
    n = patterns.shape[0]
    m = _max_norm(patterns)
    delta = separation(patterns)
    return 2 * m * (n - 1) * torch.exp(-beta * (delta - 2 * m * r))


# how many of the largest weights the chunked mass count keeps before it falls back to bisection
_MASS_TOPK = 1024


def _log_softmax_chunks(s: torch.Tensor, patterns: torch.Tensor, beta: float, chunk: int):
    """Yield log-softmax values of ``beta s X^T`` chunk by chunk (two passes)."""
    b = s.shape[0]
    m = torch.full((b, 1), -math.inf, dtype=s.dtype, device=s.device)
    for start in range(0, patterns.shape[0], chunk):
        m = torch.maximum(m, (beta * (s @ patterns[start : start + chunk].T)).amax(-1, True))
    total = torch.zeros((b, 1), dtype=s.dtype, device=s.device)
    for start in range(0, patterns.shape[0], chunk):
        total += torch.exp(beta * (s @ patterns[start : start + chunk].T) - m).sum(-1, True)
    log_z = m + torch.log(total)
    for start in range(0, patterns.shape[0], chunk):
        yield beta * (s @ patterns[start : start + chunk].T) - log_z


def softmax_mass_count(
    states: torch.Tensor,
    patterns: torch.Tensor,
    beta: float,
    mass: float = 0.9,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""How many patterns hold a share ``mass`` of the softmax weight.

    The statistic of :math:numref:`eq-modern-mass`: with ``p = softmax(beta X^T xi)`` sorted
    in decreasing order, the count is the smallest ``k`` with ``p_(1) + ... + p_(k) >= mass``.
    It tells the three kinds of fixed point apart: ``k`` close to ``N`` (global average),
    ``k`` about the size of a cluster of similar patterns (metastable state), ``k = 1`` (a
    single pattern is retrieved).

    Parameters
    ----------
    states : torch.Tensor
        ``[d]`` or ``[B, d]``.
    patterns : torch.Tensor
        ``[N, d]``.
    beta : float
        Inverse temperature, > 0.
    mass : float
        Share of the softmax weight, in (0, 1].
    chunk_size : int, optional
        Never form more than ``[B, chunk_size]`` scores. The count is then found by bisection
        on a log-probability threshold (exact up to ties closer than the float spacing).

    Returns
    -------
    torch.Tensor
        Integer counts (``int64``), shape ``states.shape[:-1]``.
    """
    beta = check_positive(beta, "beta")
    states, patterns = _check_pair(states, patterns)
    _check_finite_lean(patterns, "patterns")
    _check_finite_lean(states, "states")
    mass = check_probability(mass, "mass", open_left=True)
    chunk_size = _check_chunk(chunk_size)
    lead = states.shape[:-1]
    wd = _work_dtype(states.dtype)  # scores in float32 for half precision
    s = states.reshape(-1, states.shape[-1]).to(wd)
    patterns = patterns.to(wd)
    n = patterns.shape[0]
    # the cumulative sums are formed in float64 so that a share of exactly 0.9 is not lost to
    # float32 round-off
    if chunk_size is None or chunk_size >= n:
        logp = torch.log_softmax(beta * (s @ patterns.T), dim=-1).double()
        p = logp.exp().sort(dim=-1, descending=True).values
        cum = p.cumsum(dim=-1)
        # a small relative slack absorbs the round-off of the cumulative sum itself
        count = (cum < mass * (1 - 1e-12)).sum(dim=-1) + 1
        return count.clamp_max(n).reshape(lead)
    # chunked, first try: one pass that keeps the normaliser (online log-sum-exp) and the
    # K largest scores of every state. If those K already hold the mass, the count is exact.
    k_top = min(n, _MASS_TOPK)
    m = torch.full((s.shape[0], 1), -math.inf, dtype=s.dtype, device=s.device)
    l_run = torch.zeros((s.shape[0], 1), dtype=s.dtype, device=s.device)
    top = torch.empty((s.shape[0], 0), dtype=s.dtype, device=s.device)
    for start in range(0, n, chunk_size):
        z = beta * (s @ patterns[start : start + chunk_size].T)  # [B, c]
        m_new = torch.maximum(m, z.amax(dim=-1, keepdim=True))
        l_run = l_run * torch.exp(m - m_new) + torch.exp(z - m_new).sum(-1, keepdim=True)
        m = m_new
        both = torch.cat([top, z], dim=-1)
        top = both.topk(min(k_top, both.shape[-1]), dim=-1).values  # sorted, descending
    log_z = (m + torch.log(l_run)).double()
    cum = torch.exp(top.double() - log_z).cumsum(dim=-1)
    target = mass * (1 - 1e-12)
    found = cum[:, -1] >= target
    count_top = (cum < target).sum(dim=-1) + 1
    if bool(found.all()):
        return count_top.clamp(1, n).reshape(lead)
    # otherwise (more than K patterns needed, e.g. a global average over many patterns):
    # bisection on a threshold t of log p; f(t) = sum_{log p_i >= t} p_i decreases in t
    lo = torch.full((s.shape[0],), -800.0, dtype=torch.float64, device=s.device)  # f(lo) = 1
    hi = torch.zeros_like(lo) + 1e-12  # f(hi) = 0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        f = torch.zeros_like(lo)
        for lp in _log_softmax_chunks(s, patterns, beta, chunk_size):
            lp = lp.double()
            f += torch.where(lp >= mid[:, None], lp.exp(), torch.zeros_like(lp)).sum(-1)
        ok = f >= mass * (1 - 1e-12)
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
        if bool(((hi - lo) < 1e-13 * (1 + lo.abs())).all()):
            break
    # v: the smallest log p still above the threshold (the k-th largest value). Entries tied
    # at v are taken one by one, as the sorted cumulative sum of the unchunked path does.
    v = torch.full_like(lo, math.inf)
    for lp in _log_softmax_chunks(s, patterns, beta, chunk_size):
        lp = lp.double()
        inf = torch.full_like(lp, math.inf)
        v = torch.minimum(v, torch.where(lp >= lo[:, None], lp, inf).amin(-1))
    count_gt = torch.zeros(s.shape[0], dtype=torch.int64, device=s.device)
    mass_gt = torch.zeros_like(lo)
    for lp in _log_softmax_chunks(s, patterns, beta, chunk_size):
        lp = lp.double()
        above = lp > v[:, None]
        count_gt += above.sum(-1)
        mass_gt += torch.where(above, lp.exp(), torch.zeros_like(lp)).sum(-1)
    extra = torch.ceil((mass * (1 - 1e-12) - mass_gt) / v.exp()).clamp_min(1).to(torch.int64)
    count = torch.where(found, count_top, count_gt + extra)
    return count.clamp(1, n).reshape(lead)


# ---------------------------------------------------------------------------------------------
# exponential storage capacity (Ramsauer et al. 2021, Theorem 3)
# ---------------------------------------------------------------------------------------------


def storage_constant(beta: float, K: float, d: int, p: float) -> float:
    r"""The constant ``c`` of the exponential storage theorem (:math:numref:`eq-modern-storage`).

    For patterns drawn uniformly on the sphere of radius ``M = K sqrt(d - 1)`` and failure
    probability ``p``,

    .. math::

        a = \tfrac{2}{d-1}\bigl(1 + \ln(2 \beta K^2 p (d-1))\bigr),\quad
        b = \tfrac{2 K^2 \beta}{5},\quad
        c = \frac{b}{W_0(\exp(a + \ln b))},

    with ``W_0`` the principal branch of the Lambert W function.

    Parameters
    ----------
    beta, K : float
        Inverse temperature and radius factor, > 0.
    d : int
        Dimension, >= 2.
    p : float
        Failure probability in (0, 1].

    Returns
    -------
    float
        ``c``.
    """
    lambertw = require("scipy.special", "theory", feature="modern.storage_constant").lambertw

    beta = check_positive(beta, "beta")
    K = check_positive(K, "K")
    d = check_int(d, "d", minimum=2)
    p = check_probability(p, "p", open_left=True)
    a = 2.0 / (d - 1) * (1.0 + math.log(2.0 * beta * K * K * p * (d - 1)))
    b = 2.0 * K * K * beta / 5.0
    w = lambertw(math.exp(a + math.log(b)), 0)
    return float(b / w.real)


def storage_capacity(beta: float, K: float, d: int, p: float) -> float:
    r"""Number of random patterns storable with probability ``1 - p``.

    The exponential storage theorem, :math:numref:`eq-modern-storage`.

    Returns ``sqrt(p) c^{(d-1)/4}`` with ``c`` from :func:`storage_constant`. The theorem
    requires ``c >= (2 / sqrt(p))^{4/(d-1)}``; a ``ValueError`` is raised when it fails.
    """
    c = storage_constant(beta, K, d, p)
    need = (2.0 / math.sqrt(p)) ** (4.0 / (d - 1))
    if c < need:
        raise ValueError(
            f"the storage theorem needs c >= (2/sqrt(p))^(4/(d-1)) = {need:.4g}, got c = {c:.4g}"
        )
    return math.sqrt(p) * c ** ((d - 1) / 4.0)


# ---------------------------------------------------------------------------------------------
# data for the regimes experiment, and the retrieval demo
# ---------------------------------------------------------------------------------------------


def clustered_patterns(
    n_clusters: int,
    per_cluster: int,
    d: int,
    noise: float = 0.3,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unit-norm patterns in clusters: ``normalise(centre + noise * g / sqrt(d))``.

    Centres are uniform on the unit sphere of ``R^d``; each member adds an independent
    standard normal vector ``g`` scaled by ``noise / sqrt(d)`` (so the perturbation has norm
    about ``noise``) and is renormalised. Rows are ordered cluster by cluster.

    Parameters
    ----------
    n_clusters, per_cluster, d : int
        Number of clusters, members per cluster, dimension.
    noise : float
        Size of the perturbation relative to the unit-norm centre (>= 0).
    generator : torch.Generator, optional
        CPU generator.
    dtype, device :
        Of the result (drawn on the CPU in float64, then converted).

    Returns
    -------
    torch.Tensor
        ``[n_clusters * per_cluster, d]`` unit-norm rows.
    """
    from ._validation import check_generator, check_nonnegative

    n_clusters = check_int(n_clusters, "n_clusters", minimum=1)
    per_cluster = check_int(per_cluster, "per_cluster", minimum=1)
    d = check_int(d, "d", minimum=1)
    noise = check_nonnegative(noise, "noise")
    check_generator(generator, device="cpu")
    centres = torch.randn(n_clusters, d, generator=generator, dtype=torch.float64)
    centres = centres / centres.norm(dim=-1, keepdim=True)
    g = torch.randn(n_clusters, per_cluster, d, generator=generator, dtype=torch.float64)
    x = centres[:, None, :] + noise / math.sqrt(d) * g
    x = x / x.norm(dim=-1, keepdim=True)
    return x.reshape(n_clusters * per_cluster, d).to(dtype=dtype, device=device)


def masked_glyphs(
    text: str = "AWURTKYE",
    size: int = 12,
    pixel: float = 0.25,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Glyph patterns and half-masked cues for the retrieval experiment of chapter 4.

    Each character is rendered as a ``size x size`` image with pixels ``+pixel`` (ink) and
    ``-pixel`` (background), flattened to a row. The cue of a glyph keeps its top half and sets
    the bottom half to 0 (unknown). The default letters are chosen so that no two glyphs share
    a top half (then no cue could tell them apart).

    Parameters
    ----------
    text : str
        The stored characters, one pattern each.
    size : int
        Image side in pixels (4 to 64).
    pixel : float
        Magnitude of a pixel, > 0; it sets the pattern norm ``pixel * size`` and with it the
        scale of ``beta``.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    patterns : torch.Tensor
        ``[len(text), size * size]``.
    cues : torch.Tensor
        ``[len(text), size * size]``, the patterns with the bottom half zeroed.
    """
    from .data import glyphs

    pixel = check_positive(pixel, "pixel")
    patterns = glyphs(text, size=size, dtype=dtype) * pixel
    cues = patterns.clone()
    cues[:, (size * size) // 2 :] = 0.0
    return patterns, cues


def draw_retrieval(
    beta: float = 1.0,
    ax=None,
    *,
    text: str = "AWURTKYE",
    size: int = 12,
    pixel: float = 0.25,
    shown: int = 4,
    steps: int = 1,
):
    """Draw half-masked glyph cues and what the network retrieves from them at ``beta``.

    The stored patterns and the cues come from :func:`masked_glyphs`. The panel shows, for the
    first ``shown`` glyphs, three rows: the cues (bottom half unknown, drawn grey), the states
    after ``steps`` updates (:math:numref:`eq-modern-update`), and the stored glyphs. Small ``beta``
    gives a blurred superposition of all glyphs, large ``beta`` the exact glyph.

    Parameters
    ----------
    beta : float
        Inverse temperature, > 0.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.
    text, size, pixel :
        Passed to :func:`masked_glyphs`.
    shown : int
        How many glyphs to show (at most ``len(text)``).
    steps : int
        Number of updates.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.
    """
    plt = require("matplotlib.pyplot", "viz", feature="modern.draw_retrieval")

    beta = check_positive(beta, "beta")
    shown = check_int(shown, "shown", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    if not isinstance(text, str) or len(text) < shown:
        raise ValueError(f"text must be a str of at least shown = {shown} characters")
    x, cues = masked_glyphs(text, size=size, pixel=pixel)
    out = cues[:shown]
    for _ in range(steps):
        out = update(out, x, beta)

    def strip(rows: torch.Tensor) -> torch.Tensor:
        imgs = rows.reshape(shown, size, size)
        pad = torch.full((shown, size, 1), math.nan, dtype=rows.dtype)
        return torch.cat([imgs, pad], dim=2).permute(1, 0, 2).reshape(size, -1)

    gap = torch.full((1, shown * (size + 1)), math.nan, dtype=x.dtype)
    img = torch.cat([strip(cues[:shown]), gap, strip(out), gap, strip(x[:shown])], dim=0)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * shown + 1.2, 3.0))
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(img.numpy(), cmap=cmap, vmin=-pixel, vmax=pixel, interpolation="nearest")
    ax.set_xticks([(size + 1) * k + size / 2 - 0.5 for k in range(shown)])
    ax.set_xticklabels(list(text[:shown]))
    ax.set_yticks([size / 2 - 0.5, 1.5 * size + 0.5, 2.5 * size + 1.5])
    ax.set_yticklabels(["cue", "retrieved", "stored"])
    ax.set_xlabel("stored glyph")
    err = float(((out - x[:shown]).norm(dim=-1) / x[:shown].norm(dim=-1)).max())
    ax.set_title(f"beta = {beta:g}, max rel. error {err:.2f}", fontsize=9)
    return ax
