r"""Attention as a modern-Hopfield update: functions and layers (chapter 5).

One step of the continuous modern Hopfield network of chapter 4
(:math:numref:`eq-modern-update`),

.. math::

    \xi^{\text{new}} = X \operatorname{softmax}(\beta X^\top \xi),

applied to a whole batch of state patterns (queries) at once, with stored patterns as keys,
is Transformer attention ``softmax(beta Q K^T) V`` with ``V = K``
(:math:numref:`eq-attention-sdpa`); the Transformer's choice is ``beta = 1/sqrt(d_k)``. This
module computes that update (batched, multi-head, several steps, through
:func:`torch.nn.functional.scaled_dot_product_attention`), the energy it descends, and three
``nn.Module`` layers built on it:

* :class:`Hopfield` -- state patterns associate with stored patterns (self- or cross-attention);
  with its default projections it computes exactly what :class:`torch.nn.MultiheadAttention`
  computes, and :meth:`Hopfield.pure` gives the bare retrieval layer with no projections.
* :class:`HopfieldPooling` -- a learned state pattern (query) pools a set, e.g. for
  multiple-instance learning.
* :class:`HopfieldLayer` -- the stored patterns are learned parameters (a learned memory).

Both :class:`HopfieldPooling` and :class:`HopfieldLayer` hold a :class:`Hopfield` layer: pass one
(``hopfield=``) or the keyword arguments that build it. The chapter's learning tasks (bags for
multiple-instance learning, key-value recall, a training loop) live in :mod:`ebmlib.tasks`.

Conventions (chapter 5, section "Notation"): patterns are **rows**. Queries have shape
``[..., L, d_k]``, keys ``[..., S, d_k]``, values ``[..., S, d_v]``; the book's ``X^T xi`` is
``queries @ keys.T``. ``beta`` is the raw inverse temperature and is never hidden: it defaults to
``1/sqrt(d_k)`` (``d_k`` = per-head key dimension) and can always be passed explicitly.

Masks follow :class:`torch.nn.MultiheadAttention`: a boolean mask marks with ``True`` the pairs
that are **masked out**; a floating mask is **added** to the scores ``beta * q . k``.

Checks. The layers' ``forward`` checks shapes, dtypes and devices only, as torch's own layers
do: nothing is read back from the device, so a layer never stalls a GPU and
``torch.compile(layer, fullgraph=True)`` compiles it to one graph. The value checks (NaN or
infinite inputs, NaN or ``+inf`` in a float mask, a query whose keys are all masked out) run in
the layers only when built with ``validate=True`` (a debug mode), and in the functions
:func:`hopfield_attention`, :func:`hopfield_trajectory` and :func:`energy` unless
``validate=False``; while :func:`torch.compile` traces, they are skipped.

What is iterated with several steps
-----------------------------------
With ``steps = T`` the layer works in the (projected) key space. Writing ``xi_0 = Q`` for the
projected queries of one head and ``K`` for its projected keys (rows), it runs
(:math:numref:`eq-attention-steps`)

.. math::

    \xi_{t+1} = \operatorname{softmax}(\beta\, \xi_t K^\top + m)\, K, \qquad t = 0..T-2,

and returns ``softmax(beta xi_{T-1} K^T + m) V``: ``T - 1`` pure Hopfield updates of the state
in key space, then one retrieval step that reads out the values. With ``V = K`` (the pure
configuration) this is exactly ``T`` updates of :func:`ebmlib.modern.update`. Every update
never raises the modern-Hopfield energy in the key space (:math:numref:`eq-attention-energy`),

.. math::

    E(\xi) = -\tfrac1\beta \log \sum_j e^{\beta k_j \cdot \xi + m_j}
             + \tfrac12 \xi\cdot\xi + \tfrac1\beta \log N + \tfrac12 M^2,

see :func:`energy` and :meth:`Hopfield.energy`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._optional import require
from ._validation import (
    check_finite,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .modern import _as_floating, _values_checked

__all__ = [
    "hopfield_attention",
    "hopfield_trajectory",
    "energy",
    "Hopfield",
    "HopfieldPooling",
    "HopfieldLayer",
    "draw_winner_take_all",
]


# ---------------------------------------------------------------------------------------------
# masks, checks and the functional core
# ---------------------------------------------------------------------------------------------


def _check_mask(mask: Any, name: str) -> torch.Tensor | None:
    """Type and dtype of a mask (no value scan)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(
            f"{name} must be a bool tensor (True = masked out) or a float tensor "
            f"(added to the scores), got dtype {mask.dtype}"
        )
    return mask


def _check_mask_values(mask: torch.Tensor | None, name: str) -> None:
    """Value scan of a float mask (reads back from the device)."""
    if mask is not None and mask.is_floating_point():
        if bool((torch.isnan(mask) | torch.isposinf(mask)).any()):
            raise ValueError(f"{name} must not contain NaN or +inf (use -inf to mask a key out)")


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Turn a bool (True = masked out) or float mask into an additive float mask."""
    if mask.dtype == torch.bool:
        out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return out.masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _check_rows_visible(mask: torch.Tensor | None) -> None:
    """Value scan: every query keeps at least one key (reads back from the device)."""
    if mask is not None and bool(torch.isneginf(mask).all(dim=-1).any()):
        raise ValueError(
            "the masks leave a query with no stored pattern to attend to (a fully masked row); "
            "every query needs at least one unmasked key"
        )


def _finite(x: torch.Tensor | None, name: str) -> None:
    """Exact NaN/inf check at the cost of one reduction: a NaN or an infinite entry always
    makes the sum non-finite; only then is the slower element-wise check run (which also
    forgives a sum that merely overflowed)."""
    if x is not None and x.is_floating_point() and not bool(torch.isfinite(x.sum())):
        check_finite(x, name)


def _resolve_beta(beta: Any, d_k: int) -> float:
    if beta is None:
        return 1.0 / math.sqrt(d_k)
    return check_positive(beta, "beta")


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    beta: float,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """One step ``softmax(beta q k^T + mask) v`` through SDPA with ``scale=beta``.

    This is :math:numref:`eq-attention-sdpa`. On the CPU, SDPA measured as fast as or faster
    than two explicit matrix products with a softmax in between (forward) and clearly faster
    in the backward pass; on CUDA it selects fused kernels that never write the
    ``[..., L, S]`` weights to memory. In half precision it accumulates in float32.
    """
    if q.dim() == 4:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=beta
        )
    # SDPA's fused CPU kernel wants [B, H, L, d]; other ranks fall back to a slower path
    # (measured about 3x slower for [L, d] inputs), so bring everything to rank 4 first.
    lead = q.shape[:-2]
    if q.dim() == 2:
        q4, k4, v4 = q[None, None], k[None, None], v[None, None]
        m4 = mask
    elif q.dim() == 3:
        q4, k4, v4 = q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)
        m4 = mask.unsqueeze(-3) if mask is not None and mask.dim() == 3 else mask
    else:
        q4 = q.reshape(-1, lead[-1], *q.shape[-2:])
        k4 = k.reshape(-1, lead[-1], *k.shape[-2:])
        v4 = v.reshape(-1, lead[-1], *v.shape[-2:])
        m4 = None
        if mask is not None:
            m4 = mask.expand(*lead, q.shape[-2], k.shape[-2]).reshape(
                -1, lead[-1], q.shape[-2], k.shape[-2]
            )
    out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=m4, dropout_p=dropout_p, scale=beta)
    return out.reshape(*lead, *out.shape[-2:])


def _core(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor | None,
    beta: float,
    steps: int,
    mask: torch.Tensor | None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """``steps - 1`` key-space updates then one retrieval of ``v`` (``v=None`` means keys)."""
    xi = q
    for _ in range(steps - 1):
        xi = _attend(xi, k, k, mask, beta)
    return _attend(xi, k, k if v is None else v, mask, beta, dropout_p)


def _broadcast_leading(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    lead = [queries.shape[:-2], keys.shape[:-2]]
    if values is not None:
        lead.append(values.shape[:-2])
    try:
        shape = torch.broadcast_shapes(*lead)
    except RuntimeError as exc:
        raise ValueError(
            "queries, keys and values must have broadcastable leading (batch/head) dimensions, "
            f"got {[tuple(s) for s in lead]}"
        ) from exc
    queries = queries.expand(*shape, *queries.shape[-2:])
    keys = keys.expand(*shape, *keys.shape[-2:])
    if values is not None:
        values = values.expand(*shape, *values.shape[-2:])
    return queries, keys, values


def _validate_qkv(
    queries: Any, keys: Any, values: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Shapes, dtypes (the library's policy) and devices; no value scan."""
    check_tensor(queries, "queries", min_ndim=2, finite=False)
    check_tensor(keys, "keys", min_ndim=2, finite=False)
    if values is not None:
        check_tensor(values, "values", min_ndim=2, finite=False)
    check_same_device(queries=queries, keys=keys, values=values)
    dtype = check_same_dtype(queries=queries, keys=keys, values=values)
    queries = _as_floating(queries, dtype, "queries")
    keys = _as_floating(keys, dtype, "keys")
    if values is not None:
        values = _as_floating(values, dtype, "values")
    if keys.shape[-1] != queries.shape[-1]:
        raise ValueError(
            f"keys must have last dimension {queries.shape[-1]} to match queries, "
            f"got shape {tuple(keys.shape)}"
        )
    if values is not None and values.shape[-2] != keys.shape[-2]:
        raise ValueError(
            f"values must hold one row per key ({keys.shape[-2]} rows), got shape "
            f"{tuple(values.shape)}"
        )
    return _broadcast_leading(queries, keys, values)


def _prepare_mask(
    attn_mask: Any, queries: torch.Tensor, keys: torch.Tensor, check_values: bool
) -> torch.Tensor | None:
    attn_mask = _check_mask(attn_mask, "attn_mask")
    if attn_mask is None:
        return None
    want = (queries.shape[-2], keys.shape[-2])
    if attn_mask.dim() < 2 or tuple(attn_mask.shape[-2:]) != want:
        raise ValueError(
            f"attn_mask must end in shape [L, S] = {list(want)}, got {list(attn_mask.shape)}"
        )
    check_same_device(queries=queries, attn_mask=attn_mask)
    if check_values:
        _check_mask_values(attn_mask, "attn_mask")
    m = _additive(attn_mask, queries.dtype)
    scores = torch.Size((*queries.shape[:-1], keys.shape[-2]))
    try:
        fits = torch.broadcast_shapes(m.shape, scores) == scores
    except RuntimeError:
        fits = False
    if not fits:  # a mask with more leading dimensions than the scores does not fit either
        raise ValueError(
            f"attn_mask of shape {list(attn_mask.shape)} does not broadcast to the scores "
            f"[..., L, S] = {list(scores)}"
        )
    if check_values:
        _check_rows_visible(m)
    return m


def _prepare(
    queries: Any, keys: Any, values: Any, beta: Any, attn_mask: Any, validate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float, torch.Tensor | None]:
    """The checks every function of this module runs, in one place."""
    queries, keys, values = _validate_qkv(queries, keys, values)
    check_values = _values_checked(validate)
    if check_values:
        _finite(queries, "queries")
        _finite(keys, "keys")
        _finite(values, "values")
    beta = _resolve_beta(beta, queries.shape[-1])
    mask = _prepare_mask(attn_mask, queries, keys, check_values)
    return queries, keys, values, beta, mask


def hopfield_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None = None,
    beta: float | None = None,
    steps: int = 1,
    attn_mask: torch.Tensor | None = None,
    *,
    validate: bool = True,
) -> torch.Tensor:
    r"""``steps`` modern-Hopfield updates of ``queries`` against the stored ``keys``.

    One step is attention with inverse temperature ``beta`` (:math:numref:`eq-attention-sdpa`),

    .. math::

        \operatorname{softmax}(\beta\, Q K^\top + m)\, V,

    which for ``V = K`` is the update ``xi <- X softmax(beta X^T xi)`` of
    :math:numref:`eq-modern-update`, applied to every row of ``Q``. With ``steps = T`` the
    queries are first updated ``T - 1`` times against the keys
    (``xi <- softmax(beta xi K^T + m) K``) and the last step reads out ``values``
    (:math:numref:`eq-attention-steps`). Each step runs through
    :func:`torch.nn.functional.scaled_dot_product_attention` with ``scale=beta``.

    Parameters
    ----------
    queries : torch.Tensor, shape ``[..., L, d_k]`` or ``[d_k]``
        State patterns as rows (any leading batch/head dimensions); a single state ``[d_k]``
        gives a result of shape ``[d_v]``.
    keys : torch.Tensor, shape ``[..., S, d_k]``
        Stored patterns as rows; leading dimensions broadcast against those of ``queries``.
    values : torch.Tensor, shape ``[..., S, d_v]``, optional
        Read out by the last step; default ``keys`` (the pure Hopfield picture).
    beta : float, optional
        Inverse temperature, > 0. Default ``1/sqrt(d_k)``, the Transformer's choice.
    steps : int
        Number of updates, >= 1.
    attn_mask : torch.Tensor, shape broadcastable to ``[..., L, S]``, optional
        Boolean (``True`` = the key is masked out for that query) or float (added to the
        scores ``beta q.k``), as in :class:`torch.nn.MultiheadAttention`.
    validate : bool
        Scan the inputs for NaN and infinite entries, the float mask for NaN and ``+inf``,
        and the masks for a query with no visible key (default True; these read back from the
        device; skipped while :func:`torch.compile` traces).

    Returns
    -------
    torch.Tensor, shape ``[..., L, d_v]``
        The retrieved patterns.

    Raises
    ------
    TypeError
        Non-tensor or complex inputs, mixed floating dtypes, a mask of the wrong dtype.
    ValueError
        Shapes that do not match, ``beta <= 0``, ``steps < 1``; with ``validate``, NaN
        inputs and a fully masked query row.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(5, 8, generator=g, dtype=torch.float64)  # 5 stored patterns
    >>> out = hopfield_attention(x[:2] + 0.1, x, beta=4.0, steps=3)
    >>> out.shape
    torch.Size([2, 8])
    """
    single = isinstance(queries, torch.Tensor) and queries.dim() == 1
    if single:  # one state [d], as in ebmlib.modern.update
        queries = queries.unsqueeze(0)
    steps = check_int(steps, "steps", minimum=1)
    queries, keys, values, beta, mask = _prepare(queries, keys, values, beta, attn_mask, validate)
    out = _core(queries, keys, values, beta, steps, mask)
    return out.squeeze(-2) if single else out


def hopfield_trajectory(
    queries: torch.Tensor,
    keys: torch.Tensor,
    beta: float | None = None,
    steps: int = 1,
    attn_mask: torch.Tensor | None = None,
    *,
    validate: bool = True,
) -> torch.Tensor:
    """The states ``xi_0 = Q, xi_1, ..., xi_T`` of ``T = steps`` updates against ``keys``.

    ``xi_{t+1} = softmax(beta xi_t K^T + m) K`` (:math:numref:`eq-attention-steps`); ``xi_T``
    equals ``hopfield_attention(queries, keys, beta=beta, steps=steps, attn_mask=attn_mask)``.

    Parameters
    ----------
    queries : torch.Tensor, shape ``[..., L, d]``
    keys : torch.Tensor, shape ``[..., S, d]``
    beta : float, optional
        Inverse temperature (default ``1/sqrt(d)``).
    steps : int
        Number of updates, >= 0.
    attn_mask : torch.Tensor, optional
        As in :func:`hopfield_attention`.
    validate : bool
        As in :func:`hopfield_attention`.

    Returns
    -------
    torch.Tensor, shape ``[steps + 1, ..., L, d]``
    """
    steps = check_int(steps, "steps", minimum=0)
    queries, keys, _, beta, mask = _prepare(queries, keys, None, beta, attn_mask, validate)
    states = [queries]
    for _ in range(steps):
        states.append(_attend(states[-1], keys, keys, mask, beta))
    return torch.stack(states)


def _energy(xi: torch.Tensor, keys: torch.Tensor, beta: float, mask: torch.Tensor | None):
    wd = torch.float32 if xi.dtype in (torch.float16, torch.bfloat16) else xi.dtype
    xi_w, keys_w = xi.to(wd), keys.to(wd)
    scores = beta * (xi_w @ keys_w.transpose(-2, -1))  # [..., L, S]
    norms2 = (keys_w * keys_w).sum(-1)  # [..., S]
    if mask is None:
        n = torch.full(scores.shape[:-1], keys.shape[-2], dtype=wd, device=xi.device)
        m2 = norms2.max(dim=-1, keepdim=True).values.expand(scores.shape[:-1])
    else:
        scores = scores + mask.to(wd)
        visible = torch.isfinite(mask).expand(scores.shape)  # [..., L, S]
        n = visible.sum(-1).to(wd)
        m2 = torch.where(visible, norms2.unsqueeze(-2).expand(scores.shape), 0.0).amax(-1)
    out = (
        -torch.logsumexp(scores, dim=-1) / beta
        + 0.5 * (xi_w * xi_w).sum(-1)
        + torch.log(n) / beta
        + 0.5 * m2
    )
    return out.to(xi.dtype)


def energy(
    states: torch.Tensor,
    keys: torch.Tensor,
    beta: float | None = None,
    attn_mask: torch.Tensor | None = None,
    *,
    validate: bool = True,
) -> torch.Tensor:
    r"""Modern-Hopfield energy of each state (row) against the stored ``keys``.

    :math:numref:`eq-modern-energy`, batched over heads and with an optional mask
    (:math:numref:`eq-attention-energy`):

    .. math::

        E(\xi) = -\tfrac1\beta \log \sum_{j} e^{\beta\, k_j\cdot\xi + m_j}
                 + \tfrac12\, \xi\cdot\xi + \tfrac1\beta \log N + \tfrac12 M^2,

    where the sum, ``N`` (number of keys) and ``M`` (largest key norm) run over the keys that
    are not masked out. Without a mask this is :func:`ebmlib.modern.energy` for every batch
    entry. The updates of :func:`hopfield_attention` with ``values=None`` never raise it.

    Parameters
    ----------
    states : torch.Tensor, shape ``[..., L, d]`` or ``[d]``
    keys : torch.Tensor, shape ``[..., S, d]``
    beta : float, optional
        Inverse temperature (default ``1/sqrt(d)``).
    attn_mask : torch.Tensor, optional
        As in :func:`hopfield_attention`.
    validate : bool
        As in :func:`hopfield_attention`.

    Returns
    -------
    torch.Tensor, shape ``[..., L]`` (a scalar for a single state ``[d]``)
    """
    single = isinstance(states, torch.Tensor) and states.dim() == 1
    if single:  # one state [d]
        states = states.unsqueeze(0)
    try:
        states, keys, _, beta, mask = _prepare(states, keys, None, beta, attn_mask, validate)
    except (TypeError, ValueError) as exc:  # name the argument as this function calls it
        raise type(exc)(str(exc).replace("queries", "states")) from None
    out = _energy(states, keys, beta, mask)
    return out.squeeze(-1) if single else out


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------


def _init_linear(
    in_features: int,
    out_features: int,
    bias: bool,
    generator: torch.Generator | None,
    factory: dict[str, Any],
) -> nn.Linear:
    """An ``nn.Linear`` initialised as torch initialises it, from ``generator``.

    The module is created without initialisation, then filled exactly as
    ``nn.Linear.reset_parameters`` does (Kaiming-uniform weight with ``a = sqrt(5)``, bias
    uniform in ``+-1/sqrt(in_features)``), drawing from ``generator`` (None: the global RNG,
    in the same order as ``nn.Linear`` itself, so seeded results do not change).
    """
    factory = {**factory, "device": factory.get("device") or torch.get_default_device()}
    lin = nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias, **factory)
    with torch.no_grad():
        nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5), generator=generator)
        if lin.bias is not None:
            bound = 1.0 / math.sqrt(in_features)
            nn.init.uniform_(lin.bias, -bound, bound, generator=generator)
    return lin


class Hopfield(nn.Module):
    """Hopfield association of state patterns with stored patterns (chapter 5).

    The forward pass projects the state patterns ``R`` (queries), stored patterns ``Y`` (keys)
    and pattern projections ``P`` (values, default ``Y``) per head,
    ``Q = R W_Q``, ``K = Y W_K``, ``V = P W_V`` (:math:numref:`eq-attention-projections`), runs
    :func:`hopfield_attention` with ``steps`` updates in the key space (``T - 1`` updates
    ``xi <- softmax(beta xi K^T) K``, then one read-out of ``V``), concatenates the heads and
    applies the output projection (:math:numref:`eq-attention-multihead`). With ``steps=1``
    and the defaults it computes exactly what :class:`torch.nn.MultiheadAttention` computes;
    see :meth:`from_multihead_attention`.

    Nothing is hidden: there is no normalisation unless ``normalize=True``, ``beta`` is the
    number you pass (or ``1/sqrt(key_dim / num_heads)``), and :meth:`pure` builds the bare
    retrieval layer (no projections, no normalisation, values = keys) whose output equals
    ``steps`` applications of :func:`ebmlib.modern.update`.

    ``forward`` checks shapes, dtypes and devices only, so it never reads a value back from
    the device and compiles to one graph under ``torch.compile(layer, fullgraph=True)``.
    Build the layer with ``validate=True`` (or set ``layer.validate = True``) to also scan
    every input for NaN and infinite entries and the masks for NaN, ``+inf`` and fully masked
    query rows, at the price of a device-to-host synchronisation per call. Without it, a
    query whose keys are all masked out retrieves zeros on the CPU (the convention of
    :func:`torch.nn.functional.scaled_dot_product_attention`; other kernels may give NaN).

    Parameters
    ----------
    d_model : int
        Feature dimension of the state patterns (and of the output when ``out_projection``).
    num_heads : int
        Number of heads; ``key_dim`` and ``value_dim`` must be divisible by it.
    beta : float, optional
        Inverse temperature; default ``1/sqrt(key_dim / num_heads)``.
    steps : int
        Number of Hopfield updates per forward pass (>= 1).
    key_dim : int, optional
        Total projected key/query dimension over all heads (default ``d_model``). Without
        projections it must equal ``d_model`` and ``stored_dim``.
    value_dim : int, optional
        Total projected value dimension over all heads (default ``d_model``).
    stored_dim : int, optional
        Feature dimension of the stored patterns (like ``kdim`` of MultiheadAttention);
        default ``d_model``.
    pattern_dim : int, optional
        Feature dimension of the pattern projections (like ``vdim``); default ``stored_dim``.
    projections : bool
        Learn the query, key and value projections (default True).
    bias : bool
        Biases in the projections (as ``bias`` of MultiheadAttention).
    normalize : bool
        Apply ``LayerNorm`` to state patterns, stored patterns and pattern projections before
        projecting them (default False).
    dropout : float
        Dropout probability on the attention weights of the read-out step (training only).
    batch_first : bool
        Inputs are ``[B, L, d]`` (True, default) or ``[L, B, d]`` (False).
    out_projection : bool, optional
        Apply an output projection ``value_dim -> d_model``; default: same as ``projections``.
    validate : bool
        Debug mode: value checks in every forward pass (default False; see above).
    generator : torch.Generator, optional
        Draws the initial weights (query, key and value projections Xavier-uniform with zero
        biases, as in MultiheadAttention; the output projection as ``nn.Linear``). Default:
        torch's global generator, so ``torch.manual_seed`` makes the weights reproducible.
    device, dtype :
        Where and in which dtype to create the parameters.

    Examples
    --------
    >>> layer = Hopfield(16, num_heads=4)
    >>> x = torch.randn(2, 5, 16)
    >>> layer(x).shape  # self-association
    torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 1,
        beta: float | None = None,
        steps: int = 1,
        key_dim: int | None = None,
        value_dim: int | None = None,
        stored_dim: int | None = None,
        pattern_dim: int | None = None,
        projections: bool = True,
        bias: bool = True,
        normalize: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        out_projection: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        validate: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        cfg = _layer_config(
            d_model,
            num_heads,
            steps,
            key_dim,
            value_dim,
            stored_dim,
            pattern_dim,
            projections,
            bias,
            normalize,
            batch_first,
            out_projection,
            validate,
            device,
            dtype,
            generator,
        )
        d_model, num_heads, key_dim, value_dim = (
            cfg["d_model"],
            cfg["num_heads"],
            cfg["key_dim"],
            cfg["value_dim"],
        )
        stored_dim, pattern_dim = cfg["stored_dim"], cfg["pattern_dim"]
        steps, out_projection, device = cfg["steps"], cfg["out_projection"], cfg["device"]
        self.d_model = d_model
        self.num_heads = num_heads
        self.steps = steps
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.stored_dim = stored_dim
        self.pattern_dim = pattern_dim
        self.head_key_dim = key_dim // num_heads
        self.head_value_dim = value_dim // num_heads
        self.beta = _resolve_beta(beta, self.head_key_dim)
        self.projections = projections
        self.normalize = normalize
        self.dropout = check_probability(dropout, "dropout")
        self.batch_first = batch_first
        self.out_projection = out_projection
        self.validate = validate
        fk = {"device": device, "dtype": dtype}
        if projections:
            self.q_proj = _init_linear(d_model, key_dim, bias, generator, fk)
            self.k_proj = _init_linear(stored_dim, key_dim, bias, generator, fk)
            self.v_proj = _init_linear(pattern_dim, value_dim, bias, generator, fk)
        else:
            self.q_proj = self.k_proj = self.v_proj = None
        self.out_proj = (
            _init_linear(value_dim, d_model, bias, generator, fk) if out_projection else None
        )
        if normalize:
            self.norm_state = nn.LayerNorm(d_model, **fk)
            self.norm_stored = nn.LayerNorm(stored_dim, **fk)
            self.norm_pattern = nn.LayerNorm(pattern_dim, **fk)
        else:
            self.norm_state = self.norm_stored = self.norm_pattern = None
        if projections:
            self._reset_projections(generator)

    def _reset_projections(self, generator: torch.Generator | None = None) -> None:
        # Same initialisation as nn.MultiheadAttention: Xavier-uniform projections, zero biases.
        with torch.no_grad():
            for lin in (self.q_proj, self.k_proj, self.v_proj):
                nn.init.xavier_uniform_(lin.weight, generator=generator)
                if lin.bias is not None:
                    nn.init.zeros_(lin.bias)
            if self.out_proj is not None and self.out_proj.bias is not None:
                nn.init.zeros_(self.out_proj.bias)

    @property
    def output_dim(self) -> int:
        """Feature dimension of the output (``d_model``, or ``value_dim`` without out_proj)."""
        return self.d_model if self.out_projection else self.value_dim

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, num_heads={self.num_heads}, beta={self.beta:.6g}, "
            f"steps={self.steps}, key_dim={self.key_dim}, value_dim={self.value_dim}, "
            f"projections={self.projections}, normalize={self.normalize}, "
            f"dropout={self.dropout}, batch_first={self.batch_first}, validate={self.validate}"
        )

    # -- construction helpers -----------------------------------------------------------------

    @classmethod
    def pure(
        cls,
        beta: float,
        steps: int = 1,
        *,
        d_model: int | None = None,
        num_heads: int = 1,
        batch_first: bool = True,
        validate: bool = False,
    ) -> Hopfield:
        """The bare retrieval layer: no projections, no normalisation, values = stored patterns.

        Its output for state patterns ``xi`` and stored patterns ``X`` (rows) is ``steps``
        applications of ``xi <- softmax(beta xi X^T) X`` (:math:numref:`eq-modern-update`),
        i.e. of :func:`ebmlib.modern.update`. With several heads the feature dimension is split
        into ``num_heads`` blocks that each retrieve on their own.

        Parameters
        ----------
        beta : float
            Inverse temperature, required (there is no hidden default here).
        steps : int
            Number of updates.
        d_model : int, optional
            Pattern dimension ``d``, checked against the inputs when given; by default any
            dimension is accepted (the state and stored patterns must agree).
        num_heads : int
            Number of independent feature blocks (must divide the pattern dimension).
        batch_first : bool
            Layout of batched inputs.
        validate : bool
            Debug mode, as in :class:`Hopfield`.

        Examples
        --------
        >>> x = torch.randn(2, 10, 6, dtype=torch.float64)  # two sets of 10 stored patterns
        >>> Hopfield.pure(beta=3.0, steps=2)(x[:, :3] + 0.1, x).shape
        torch.Size([2, 3, 6])
        """
        beta = check_positive(beta, "beta")
        free = d_model is None
        layer = cls(
            check_int(num_heads, "num_heads", minimum=1) if free else d_model,
            num_heads=num_heads,
            beta=beta,
            steps=steps,
            projections=False,
            bias=False,
            normalize=False,
            dropout=0.0,
            batch_first=batch_first,
            out_projection=False,
            validate=validate,
        )
        if free:  # dimensions are taken from the inputs
            layer.d_model = layer.key_dim = layer.value_dim = None
            layer.stored_dim = layer.pattern_dim = None
            layer.head_key_dim = layer.head_value_dim = None
        return layer

    @classmethod
    def from_multihead_attention(cls, mha: nn.MultiheadAttention, steps: int = 1) -> Hopfield:
        """Build a :class:`Hopfield` layer holding the weights of ``mha``.

        With ``steps=1`` the layer computes exactly what ``mha`` computes (up to round-off),
        with ``beta = 1/sqrt(embed_dim / num_heads)`` (:math:numref:`eq-attention-multihead`).

        Parameters
        ----------
        mha : torch.nn.MultiheadAttention
            Without ``add_bias_kv`` and ``add_zero_attn``.
        steps : int
            Number of Hopfield updates of the new layer.
        """
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("mha must not use add_bias_kv or add_zero_attn (no Hopfield analogue)")
        w = mha.in_proj_weight if mha.in_proj_weight is not None else mha.q_proj_weight
        layer = cls(
            mha.embed_dim,
            num_heads=mha.num_heads,
            steps=steps,
            stored_dim=mha.kdim,
            pattern_dim=mha.vdim,
            bias=mha.in_proj_bias is not None,
            dropout=mha.dropout,
            batch_first=mha.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        layer.load_multihead_attention(mha)
        return layer

    @torch.no_grad()
    def load_multihead_attention(self, mha: nn.MultiheadAttention) -> None:
        """Copy the projection weights of ``mha`` into this layer (shapes must agree)."""
        _copy_mha_weights(self, mha)

    # -- forward --------------------------------------------------------------------------------

    def _checking(self) -> bool:
        """Whether this call runs the value checks (debug mode, never while compiling)."""
        return _values_checked(self.validate)

    def _reference_parameter(self) -> torch.Tensor | None:
        for mod in (self.q_proj, self.out_proj, self.norm_state):
            if mod is not None:
                return mod.weight
        return None

    def _inputs(self, state_patterns, stored_patterns, pattern_projections):
        """Shape, dtype and device checks; the value scan only in debug mode."""
        return _layer_inputs(self, state_patterns, stored_patterns, pattern_projections)

    def _heads(self, x: torch.Tensor, head_dim: int | None) -> torch.Tensor:
        b, n, _ = x.shape
        if head_dim is None:  # a pure layer that takes its dimensions from the inputs
            head_dim = x.shape[-1] // self.num_heads
        return x.reshape(b, n, self.num_heads, head_dim).transpose(1, 2)  # [B, H, n, head_dim]

    def _project(self, state, stored, pattern, self_assoc=False):
        """Per-head (Q, K, V) with V None when values are the keys themselves."""
        if self.projections and not self.normalize and pattern is None:
            # values come from the stored patterns: one packed matrix product for K and V (and
            # Q too when the states are the stored patterns), as nn.MultiheadAttention does
            lins = (
                (self.q_proj, self.k_proj, self.v_proj)
                if self_assoc
                else (self.k_proj, self.v_proj)
            )
            w = torch.cat([lin.weight for lin in lins])
            b = None if lins[0].bias is None else torch.cat([lin.bias for lin in lins])
            out = F.linear(stored, w, b)
            if self_assoc:
                q, k, v = out.split([self.key_dim, self.key_dim, self.value_dim], dim=-1)
            else:
                q = self.q_proj(state)
                k, v = out.split([self.key_dim, self.value_dim], dim=-1)
            return (
                self._heads(q, self.head_key_dim),
                self._heads(k, self.head_key_dim),
                self._heads(v, self.head_value_dim),
            )
        if self.normalize:
            state = self.norm_state(state)
            pattern = None if pattern is None else self.norm_pattern(pattern)
            stored_n = self.norm_stored(stored)
        else:
            stored_n = stored
        if self.projections:
            q = self.q_proj(state)
            k = self.k_proj(stored_n)
            src = stored_n if pattern is None else pattern
            if pattern is None and self.normalize:
                src = self.norm_pattern(stored)
            v = self.v_proj(src)
            return (
                self._heads(q, self.head_key_dim),
                self._heads(k, self.head_key_dim),
                self._heads(v, self.head_value_dim),
            )
        q = self._heads(state, self.head_key_dim)
        k = self._heads(stored_n, self.head_key_dim)
        v = None if pattern is None else self._heads(pattern, self.head_value_dim)
        return q, k, v

    def _mask(self, attn_mask, key_padding_mask, b, L, S, like):
        return _layer_mask(self, attn_mask, key_padding_mask, b, L, S, like)

    def _prepare(
        self, state_patterns, stored_patterns, pattern_projections, attn_mask, key_padding_mask
    ):
        state, stored, pattern, batched, self_assoc = self._inputs(
            state_patterns, stored_patterns, pattern_projections
        )
        if (
            not batched
            and isinstance(key_padding_mask, torch.Tensor)
            and key_padding_mask.dim() == 1
        ):
            key_padding_mask = key_padding_mask.unsqueeze(0)
        b, L, S = state.shape[0], state.shape[1], stored.shape[1]
        q, k, v = self._project(state, stored, pattern, self_assoc)
        mask = self._mask(attn_mask, key_padding_mask, b, L, S, q)
        return q, k, v, mask, batched

    def forward(
        self,
        state_patterns: torch.Tensor,
        stored_patterns: torch.Tensor | None = None,
        pattern_projections: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Associate the state patterns with the stored patterns.

        Parameters
        ----------
        state_patterns : torch.Tensor, shape ``[B, L, d_model]`` (``[L, d_model]`` unbatched)
            Queries. ``[L, B, d_model]`` when ``batch_first=False``.
        stored_patterns : torch.Tensor, shape ``[B, S, stored_dim]``, optional
            Keys; default ``state_patterns`` (self-association).
        pattern_projections : torch.Tensor, shape ``[B, S, pattern_dim]``, optional
            Values; default ``stored_patterns``.
        attn_mask : torch.Tensor, optional
            ``[L, S]``, ``[B * num_heads, L, S]`` or ``[B, num_heads, L, S]``; bool (``True`` =
            masked out) or float (added to the scores), as in MultiheadAttention.
        key_padding_mask : torch.Tensor, shape ``[B, S]``, optional
            Bool (``True`` = this stored pattern is ignored) or float (added).
        need_weights : bool
            Also return the attention weights of the read-out step, ``[B, num_heads, L, S]``.

        Returns
        -------
        torch.Tensor, shape ``[B, L, output_dim]``
            The retrieved patterns (and the weights when ``need_weights``).
        """
        q, k, v, mask, batched = self._prepare(
            state_patterns, stored_patterns, pattern_projections, attn_mask, key_padding_mask
        )
        p = self.dropout if self.training else 0.0
        if need_weights:
            xi = q
            for _ in range(self.steps - 1):
                xi = _attend(xi, k, k, mask, self.beta)
            scores = self.beta * (xi @ k.transpose(-2, -1))
            if mask is not None:
                scores = scores + mask
            weights = torch.softmax(scores, dim=-1)  # [B, H, L, S]
            if mask is not None:  # a fully masked row weighs nothing (as SDPA on the CPU)
                weights = weights.masked_fill(torch.isneginf(scores).all(-1, keepdim=True), 0.0)
            dropped = F.dropout(weights, p) if p > 0 else weights
            out = dropped @ (k if v is None else v)
        else:
            out = _core(q, k, v, self.beta, self.steps, mask, p)  # [B, H, L, dv]
        b, h, L, dv = out.shape
        out = out.transpose(1, 2).reshape(b, L, h * dv)
        if self.out_proj is not None:
            out = self.out_proj(out)
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if need_weights:
            return out, (weights if batched else weights.squeeze(0))
        return out

    # -- the Hopfield view ----------------------------------------------------------------------

    def project(
        self,
        state_patterns: torch.Tensor,
        stored_patterns: torch.Tensor | None = None,
        pattern_projections: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-head queries, keys and values the association works with.

        Returns
        -------
        (Q, K, V) : tensors of shapes ``[B, H, L, d_k]``, ``[B, H, S, d_k]``, ``[B, H, S, d_v]``
            (leading ``B`` dropped for unbatched input). ``V`` is ``K`` in the pure setting.
        """
        state, stored, pattern, batched, self_assoc = self._inputs(
            state_patterns, stored_patterns, pattern_projections
        )
        q, k, v = self._project(state, stored, pattern, self_assoc)
        v = k if v is None else v
        if not batched:
            return q.squeeze(0), k.squeeze(0), v.squeeze(0)
        return q, k, v

    def energy(
        self,
        state_patterns: torch.Tensor,
        stored_patterns: torch.Tensor | None = None,
        steps: int | None = None,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Energy of the key-space state along the layer's updates.

        For each head the projected queries ``xi_0 = Q`` are updated ``xi <- softmax(beta xi
        K^T + m) K`` and the modern-Hopfield energy :func:`energy` of ``xi_t`` against the
        projected keys ``K`` is recorded (:math:numref:`eq-attention-energy`); by chapter 4's
        descent theorem (:math:numref:`eq-modern-descent`) it never rises.

        Parameters
        ----------
        state_patterns, stored_patterns, attn_mask, key_padding_mask :
            As in :meth:`forward`.
        steps : int, optional
            Number of updates to follow (default ``self.steps``).

        Returns
        -------
        torch.Tensor, shape ``[steps + 1, B, num_heads, L]``
            ``E(xi_0), ..., E(xi_steps)`` (``B`` dropped for unbatched input).
        """
        steps = self.steps if steps is None else check_int(steps, "steps", minimum=0)
        q, k, _, mask, batched = self._prepare(
            state_patterns, stored_patterns, None, attn_mask, key_padding_mask
        )
        xi = q
        energies = [_energy(xi, k, self.beta, mask)]
        for _ in range(steps):
            xi = _attend(xi, k, k, mask, self.beta)
            energies.append(_energy(xi, k, self.beta, mask))
        out = torch.stack(energies)
        return out if batched else out.squeeze(1)

    @torch.no_grad()
    def softmax_mass_count(
        self,
        state_patterns: torch.Tensor,
        stored_patterns: torch.Tensor | None = None,
        mass: float = 0.9,
    ) -> torch.Tensor:
        """Chapter 4's regime statistic for every head and query of this layer.

        For each head, the projected query ``q`` and keys ``K`` give the weights
        ``softmax(beta K q)`` of the first update; the count is the smallest number of stored
        patterns holding a share ``mass`` of them (:func:`ebmlib.modern.softmax_mass_count`,
        :math:numref:`eq-modern-mass`): 1 in the single-pattern regime, about ``mass * S`` at
        the global average, in between for metastable states.

        Parameters
        ----------
        state_patterns, stored_patterns :
            As in :meth:`forward` (no masks).
        mass : float
            Share of the softmax weight, in (0, 1].

        Returns
        -------
        torch.Tensor, int64, shape ``[B, num_heads, L]`` (``B`` dropped for unbatched input)
        """
        from .modern import softmax_mass_count

        q, k, _ = self.project(state_patterns, stored_patterns)
        batched = q.dim() == 4
        if not batched:
            q, k = q.unsqueeze(0), k.unsqueeze(0)
        out = torch.stack(
            [
                torch.stack(
                    [
                        softmax_mass_count(q[b, h], k[b, h], self.beta, mass)
                        for h in range(self.num_heads)
                    ]
                )
                for b in range(q.shape[0])
            ]
        )
        return out if batched else out.squeeze(0)


# -- the parts of Hopfield that check and convert (kept out of the class body) ---------------


def _layer_config(
    d_model,
    num_heads,
    steps,
    key_dim,
    value_dim,
    stored_dim,
    pattern_dim,
    projections,
    bias,
    normalize,
    batch_first,
    out_projection,
    validate,
    device,
    dtype,
    generator,
) -> dict[str, Any]:
    """Check the arguments of :class:`Hopfield` and resolve its dimensions (no side effects)."""
    d_model = check_int(d_model, "d_model", minimum=1)
    num_heads = check_int(num_heads, "num_heads", minimum=1)
    steps = check_int(steps, "steps", minimum=1)
    for name, flag in (
        ("projections", projections),
        ("bias", bias),
        ("normalize", normalize),
        ("batch_first", batch_first),
        ("validate", validate),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    check_generator(generator)
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device must name a torch device, got {device!r}") from exc
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    if out_projection is None:
        out_projection = projections
    if not isinstance(out_projection, bool):
        raise TypeError(
            f"out_projection must be a bool or None, got {type(out_projection).__name__}"
        )
    stored_dim = d_model if stored_dim is None else check_int(stored_dim, "stored_dim", minimum=1)
    pattern_dim = (
        stored_dim if pattern_dim is None else check_int(pattern_dim, "pattern_dim", minimum=1)
    )
    if projections:
        key_dim = d_model if key_dim is None else check_int(key_dim, "key_dim", minimum=1)
        value_dim = d_model if value_dim is None else check_int(value_dim, "value_dim", minimum=1)
    else:
        if stored_dim != d_model:
            raise ValueError(
                f"without projections stored_dim must equal d_model ({d_model}), got {stored_dim}"
            )
        if key_dim is not None and key_dim != d_model:
            raise ValueError(
                f"without projections key_dim must equal d_model ({d_model}), got {key_dim}"
            )
        if value_dim is not None and value_dim != pattern_dim:
            raise ValueError(
                f"without projections value_dim must equal pattern_dim "
                f"({pattern_dim}), got {value_dim}"
            )
        key_dim, value_dim = d_model, pattern_dim
    for name, dim in (("key_dim", key_dim), ("value_dim", value_dim)):
        if dim % num_heads:
            raise ValueError(f"{name} ({dim}) must be divisible by num_heads ({num_heads})")
    return {
        "d_model": d_model,
        "num_heads": num_heads,
        "steps": steps,
        "key_dim": key_dim,
        "value_dim": value_dim,
        "stored_dim": stored_dim,
        "pattern_dim": pattern_dim,
        "out_projection": out_projection,
        "device": device,
    }


def _layer_inputs(layer: Hopfield, state_patterns, stored_patterns, pattern_projections):
    """Shapes, dtypes (the library's policy) and devices of a layer's inputs (values too when
    the layer is in debug mode)."""
    check_tensor(state_patterns, "state_patterns", ndim=(2, 3), finite=False)
    batched = state_patterns.dim() == 3
    self_assoc = stored_patterns is None or stored_patterns is state_patterns
    if stored_patterns is None:
        stored_patterns = state_patterns
    elif not self_assoc:
        check_tensor(stored_patterns, "stored_patterns", ndim=state_patterns.dim(), finite=False)
    values_are_stored = pattern_projections is None or pattern_projections is stored_patterns
    if pattern_projections is not None and not values_are_stored:
        check_tensor(
            pattern_projections,
            "pattern_projections",
            ndim=state_patterns.dim(),
            finite=False,
        )
    if values_are_stored:
        pattern_projections = None
    check_same_device(
        state_patterns=state_patterns,
        stored_patterns=stored_patterns,
        pattern_projections=pattern_projections,
    )
    named = {
        "state_patterns": state_patterns,
        "stored_patterns": stored_patterns,
        "pattern_projections": pattern_projections,
    }
    dtype = check_same_dtype(**named)
    param = layer._reference_parameter()
    if param is not None:
        for name, t in named.items():
            if t is not None and t.is_floating_point() and t.dtype != param.dtype:
                raise TypeError(
                    f"{name} must have the dtype of the layer's parameters "
                    f"({param.dtype}), got {t.dtype}; convert one of them"
                )
        dtype = param.dtype
        if param.device != state_patterns.device:
            raise ValueError(
                f"state_patterns is on {state_patterns.device} but the layer is on "
                f"{param.device}; move one of them"
            )
    state_patterns = _as_floating(state_patterns, dtype, "state_patterns")
    stored_patterns = (
        state_patterns if self_assoc else _as_floating(stored_patterns, dtype, "stored_patterns")
    )
    if pattern_projections is not None:
        pattern_projections = _as_floating(pattern_projections, dtype, "pattern_projections")
    if layer._checking():
        _finite(state_patterns, "state_patterns")
        if not self_assoc:
            _finite(stored_patterns, "stored_patterns")
        _finite(pattern_projections, "pattern_projections")
    if not batched:
        state_patterns = state_patterns.unsqueeze(0)
        stored_patterns = stored_patterns.unsqueeze(0)
        if pattern_projections is not None:
            pattern_projections = pattern_projections.unsqueeze(0)
    elif not layer.batch_first:
        state_patterns = state_patterns.transpose(0, 1)
        stored_patterns = stored_patterns.transpose(0, 1)
        if pattern_projections is not None:
            pattern_projections = pattern_projections.transpose(0, 1)
    for name, t, dim in (
        ("state_patterns", state_patterns, layer.d_model),
        ("stored_patterns", stored_patterns, layer.stored_dim),
        ("pattern_projections", pattern_projections, layer.pattern_dim),
    ):
        if t is not None and dim is not None and t.shape[-1] != dim:
            raise ValueError(
                f"{name} must have feature dimension {dim}, got shape {tuple(t.shape)}"
            )
    if layer.d_model is None:  # pure layer without fixed dimensions
        if stored_patterns.shape[-1] != state_patterns.shape[-1]:
            raise ValueError(
                f"stored_patterns must have the feature dimension of state_patterns "
                f"({state_patterns.shape[-1]}), got shape {tuple(stored_patterns.shape)}"
            )
        for name, t in (
            ("state_patterns", state_patterns),
            ("pattern_projections", pattern_projections),
        ):
            if t is not None and t.shape[-1] % layer.num_heads:
                raise ValueError(
                    f"{name} must have a feature dimension divisible by num_heads "
                    f"({layer.num_heads}), got shape {tuple(t.shape)}"
                )
    b = state_patterns.shape[0]
    if stored_patterns.shape[0] != b:
        raise ValueError(
            f"stored_patterns must have batch size {b} like state_patterns, "
            f"got shape {tuple(stored_patterns.shape)}"
        )
    if (
        pattern_projections is not None
        and pattern_projections.shape[:2] != stored_patterns.shape[:2]
    ):
        raise ValueError(
            "pattern_projections must have the batch size and number of "
            f"patterns of stored_patterns {tuple(stored_patterns.shape[:2])}, "
            f"got shape {tuple(pattern_projections.shape)}"
        )
    return state_patterns, stored_patterns, pattern_projections, batched, self_assoc


def _layer_mask(layer: Hopfield, attn_mask, key_padding_mask, b, L, S, like):
    """The additive mask ``[B or 1, H or 1, L, S]`` of a layer's call (values in debug mode)."""
    attn_mask = _check_mask(attn_mask, "attn_mask")
    key_padding_mask = _check_mask(key_padding_mask, "key_padding_mask")
    checking = layer._checking()
    total = None
    if attn_mask is not None:
        check_same_device(state_patterns=like, attn_mask=attn_mask)
        if checking:
            _check_mask_values(attn_mask, "attn_mask")
        m = _additive(attn_mask, like.dtype)
        if m.dim() == 2 and tuple(m.shape) == (L, S):
            m = m.view(1, 1, L, S)
        elif m.dim() == 3 and tuple(m.shape) == (b * layer.num_heads, L, S):
            m = m.view(b, layer.num_heads, L, S)
        elif m.dim() == 4 and tuple(m.shape) == (b, layer.num_heads, L, S):
            pass
        else:
            raise ValueError(
                f"attn_mask must have shape [L, S] = [{L}, {S}], [B*num_heads, L, S] = "
                f"[{b * layer.num_heads}, {L}, {S}] or [B, num_heads, L, S], got "
                f"{list(attn_mask.shape)}"
            )
        total = m
    if key_padding_mask is not None:
        check_same_device(state_patterns=like, key_padding_mask=key_padding_mask)
        if tuple(key_padding_mask.shape) != (b, S):
            raise ValueError(
                f"key_padding_mask must have shape [B, S] = [{b}, {S}], got "
                f"{list(key_padding_mask.shape)}"
            )
        if checking:
            _check_mask_values(key_padding_mask, "key_padding_mask")
        m = _additive(key_padding_mask, like.dtype).view(b, 1, 1, S)
        total = m if total is None else total + m
    if checking and total is not None:
        _check_rows_visible(total.expand(b, layer.num_heads, L, S))
    return total


@torch.no_grad()
def _copy_mha_weights(layer: Hopfield, mha: nn.MultiheadAttention):
    """Copy the projection weights of ``mha`` into ``layer`` (shapes must agree)."""
    if not isinstance(mha, nn.MultiheadAttention):
        raise TypeError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
    if not (layer.projections and layer.out_projection):
        raise ValueError(
            "load_multihead_attention needs a layer with projections and out_projection"
        )
    if (
        (mha.embed_dim, mha.num_heads, mha.kdim, mha.vdim)
        != (layer.d_model, layer.num_heads, layer.stored_dim, layer.pattern_dim)
        or layer.key_dim != layer.d_model
        or layer.value_dim != layer.d_model
    ):
        raise ValueError("mha's embed_dim, num_heads, kdim or vdim do not match this layer")
    e = mha.embed_dim
    if mha.in_proj_weight is not None:
        wq, wk, wv = (
            mha.in_proj_weight[:e],
            mha.in_proj_weight[e : 2 * e],
            mha.in_proj_weight[2 * e :],
        )
    else:
        wq, wk, wv = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
    layer.q_proj.weight.copy_(wq)
    layer.k_proj.weight.copy_(wk)
    layer.v_proj.weight.copy_(wv)
    if mha.in_proj_bias is not None:
        if layer.q_proj.bias is None:
            raise ValueError("mha has biases but this layer was built with bias=False")
        b = mha.in_proj_bias
        layer.q_proj.bias.copy_(b[:e])
        layer.k_proj.bias.copy_(b[e : 2 * e])
        layer.v_proj.bias.copy_(b[2 * e :])
    layer.out_proj.weight.copy_(mha.out_proj.weight)
    if mha.out_proj.bias is not None and layer.out_proj.bias is not None:
        layer.out_proj.bias.copy_(mha.out_proj.bias)


def _inner_hopfield(
    owner: str,
    hopfield: Hopfield | None,
    d_model: int | None,
    num_heads: int | None,
    generator: torch.Generator | None,
    kwargs: dict[str, Any],
) -> tuple[Hopfield, int]:
    """The :class:`Hopfield` a pooling or memory layer holds, and its state dimension."""
    check_generator(generator)
    if hopfield is None:
        if d_model is None:
            raise TypeError(f"{owner} needs d_model, or a Hopfield layer as hopfield=")
        layer = Hopfield(
            d_model,
            num_heads=1 if num_heads is None else num_heads,
            generator=generator,
            **kwargs,
        )
        return layer, layer.d_model
    if not isinstance(hopfield, Hopfield):
        raise TypeError(
            f"hopfield must be an ebmlib.attention.Hopfield, got {type(hopfield).__name__}"
        )
    extra = sorted(kwargs) + (["num_heads"] if num_heads is not None else [])
    if extra:
        raise TypeError(
            f"{owner}: pass either hopfield= or the arguments that build one, not both "
            f"(got hopfield= and {', '.join(extra)})"
        )
    if d_model is not None:
        d_model = check_int(d_model, "d_model", minimum=1)
        if hopfield.d_model is not None and d_model != hopfield.d_model:
            raise ValueError(
                f"d_model ({d_model}) must equal the d_model of hopfield ({hopfield.d_model})"
            )
    elif hopfield.d_model is None:
        raise TypeError(f"{owner} needs d_model with a pure Hopfield layer (it has no d_model)")
    return hopfield, hopfield.d_model if d_model is None else d_model


class HopfieldPooling(nn.Module):
    """Pool a set with learned state patterns (queries): Hopfield pooling (chapter 5).

    ``num_queries`` learned state patterns associate with the stored patterns (the set to be
    pooled, e.g. the instances of a bag) through a :class:`Hopfield` layer, so the output is a
    fixed-size summary ``[B, num_queries, output_dim]`` of a variable-size set; padded set
    members are excluded with ``key_padding_mask``.

    Pass a :class:`Hopfield` layer as ``hopfield=``, or ``d_model`` and the keyword arguments
    that build one (any of :class:`Hopfield`'s: ``beta``, ``steps``, ``projections``,
    ``stored_dim``, ``validate``, ...).

    Parameters
    ----------
    d_model : int, optional
        Feature dimension of the learned queries (the state patterns of the Hopfield layer);
        taken from ``hopfield`` when given. Without projections it is also the dimension of
        the set members.
    num_heads : int, optional
        Heads of the Hopfield layer built here (default 1).
    num_queries : int
        Number of learned query patterns.
    hopfield : Hopfield, optional
        The association to use; then no other arguments of :class:`Hopfield` may be given.
    generator : torch.Generator, optional
        Draws the initial weights of the Hopfield layer built here and of the queries
        (standard normal / ``sqrt(d_model)``); default torch's global generator.
    **kwargs :
        Passed to :class:`Hopfield` (``beta``, ``steps``, ``key_dim``, ``value_dim``,
        ``stored_dim``, ``projections``, ``bias``, ``normalize``, ``dropout``,
        ``batch_first``, ``out_projection``, ``validate``, ``device``, ``dtype``).

    Examples
    --------
    >>> pool = HopfieldPooling(16, num_heads=2)
    >>> pool(torch.randn(8, 30, 16)).shape
    torch.Size([8, 1, 16])
    >>> pure = HopfieldPooling(16, hopfield=Hopfield.pure(beta=4.0))
    >>> pure(torch.randn(8, 30, 16)).shape
    torch.Size([8, 1, 16])
    """

    def __init__(
        self,
        d_model: int | None = None,
        num_heads: int | None = None,
        num_queries: int = 1,
        *,
        hopfield: Hopfield | None = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        num_queries = check_int(num_queries, "num_queries", minimum=1)
        self.hopfield, d = _inner_hopfield(
            "HopfieldPooling", hopfield, d_model, num_heads, generator, kwargs
        )
        self.num_queries = num_queries
        ref = self.hopfield._reference_parameter()
        fk = {"device": kwargs.get("device"), "dtype": kwargs.get("dtype")}
        if ref is not None:
            fk = {"device": ref.device, "dtype": ref.dtype}
        self.query = nn.Parameter(
            torch.randn(num_queries, d, generator=generator, **fk) / math.sqrt(d)
        )

    @property
    def output_dim(self) -> int:
        return self.hopfield.output_dim

    def _queries(self, stored: torch.Tensor) -> torch.Tensor:
        if stored.dim() == 2:
            return self.query
        b = stored.shape[0] if self.hopfield.batch_first else stored.shape[1]
        q = self.query.unsqueeze(0).expand(b, -1, -1)
        return q if self.hopfield.batch_first else q.transpose(0, 1)

    def forward(
        self,
        stored_patterns: torch.Tensor,
        pattern_projections: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pool ``stored_patterns`` ``[B, S, stored_dim]`` into ``[B, num_queries, output_dim]``."""
        check_tensor(stored_patterns, "stored_patterns", ndim=(2, 3), finite=False)
        return self.hopfield(
            self._queries(stored_patterns),
            stored_patterns,
            pattern_projections,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
        )

    def energy(
        self,
        stored_patterns: torch.Tensor,
        steps: int | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Energy of the learned queries along the updates; see :meth:`Hopfield.energy`."""
        check_tensor(stored_patterns, "stored_patterns", ndim=(2, 3), finite=False)
        return self.hopfield.energy(
            self._queries(stored_patterns),
            stored_patterns,
            steps=steps,
            key_padding_mask=key_padding_mask,
        )


class HopfieldLayer(nn.Module):
    """A Hopfield layer whose stored patterns are learned parameters (chapter 5).

    The input state patterns associate with ``num_stored`` learned stored patterns ``W_K``
    (and, with ``learn_values=True``, separate learned pattern projections ``W_V``; otherwise
    the stored patterns are also read out). Without projections this is a learned
    associative memory: each input is replaced by a softmax-weighted mix of learned prototypes.

    Pass a :class:`Hopfield` layer as ``hopfield=``, or ``d_model`` and the keyword arguments
    that build one.

    Parameters
    ----------
    d_model : int, optional
        Feature dimension of the inputs; taken from ``hopfield`` when given.
    num_stored : int
        Number of learned stored patterns (required).
    num_heads : int, optional
        Heads of the Hopfield layer built here (default 1).
    learn_values : bool
        Learn separate pattern projections (values) besides the stored patterns.
    hopfield : Hopfield, optional
        The association to use; then no other arguments of :class:`Hopfield` may be given.
        The learned stored patterns get its ``stored_dim``, the values its ``pattern_dim``.
    generator : torch.Generator, optional
        Draws the initial weights of the Hopfield layer built here and of the stored patterns
        and values (standard normal / ``sqrt(d)``); default torch's global generator.
    **kwargs :
        Passed to :class:`Hopfield`, as for :class:`HopfieldPooling`.
    """

    def __init__(
        self,
        d_model: int | None = None,
        num_stored: int | None = None,
        num_heads: int | None = None,
        *,
        learn_values: bool = False,
        hopfield: Hopfield | None = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        if num_stored is None:
            raise TypeError("HopfieldLayer needs num_stored (the number of learned patterns)")
        num_stored = check_int(num_stored, "num_stored", minimum=1)
        if not isinstance(learn_values, bool):
            raise TypeError(f"learn_values must be a bool, got {type(learn_values).__name__}")
        self.hopfield, d = _inner_hopfield(
            "HopfieldLayer", hopfield, d_model, num_heads, generator, kwargs
        )
        self.num_stored = num_stored
        d_stored = self.hopfield.stored_dim or d
        d_values = self.hopfield.pattern_dim or d_stored
        ref = self.hopfield._reference_parameter()
        fk = {"device": kwargs.get("device"), "dtype": kwargs.get("dtype")}
        if ref is not None:
            fk = {"device": ref.device, "dtype": ref.dtype}
        self.stored = nn.Parameter(
            torch.randn(num_stored, d_stored, generator=generator, **fk) / math.sqrt(d_stored)
        )
        self.values = (
            nn.Parameter(
                torch.randn(num_stored, d_values, generator=generator, **fk) / math.sqrt(d_values)
            )
            if learn_values
            else None
        )

    @property
    def output_dim(self) -> int:
        return self.hopfield.output_dim

    def _memory(self, state: torch.Tensor):
        if state.dim() == 2:
            return self.stored, self.values
        b = state.shape[0] if self.hopfield.batch_first else state.shape[1]

        def expand(p):
            if p is None:
                return None
            e = p.unsqueeze(0).expand(b, -1, -1)
            return e if self.hopfield.batch_first else e.transpose(0, 1)

        return expand(self.stored), expand(self.values)

    def forward(
        self,
        state_patterns: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        """Associate ``state_patterns`` ``[B, L, d_model]`` with the learned memory."""
        check_tensor(state_patterns, "state_patterns", ndim=(2, 3), finite=False)
        stored, values = self._memory(state_patterns)
        return self.hopfield(
            state_patterns, stored, values, attn_mask=attn_mask, need_weights=need_weights
        )

    def energy(self, state_patterns: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Energy along the updates of the inputs against the learned stored patterns."""
        check_tensor(state_patterns, "state_patterns", ndim=(2, 3), finite=False)
        stored, _ = self._memory(state_patterns)
        return self.hopfield.energy(state_patterns, stored, steps=steps)


# ---------------------------------------------------------------------------------------------
# the interactive demo
# ---------------------------------------------------------------------------------------------

_WTA_SCORES = (2.0, 1.7, 1.2, 0.6, 0.3, 0.0, -0.4, -1.0)


def draw_winner_take_all(
    beta: float = 1.0,
    scores: Sequence[float] | torch.Tensor | None = None,
    ax: Any = None,
):
    """Bar chart of ``softmax(beta * scores)``: softmax as a soft winner-take-all (chapter 5).

    The scores stand for the similarities ``x_i . xi`` of one state with ``N`` stored
    patterns (:math:numref:`eq-attention-wta`). Small ``beta`` spreads the weight evenly (the
    update returns the average pattern), large ``beta`` puts it all on the best match (the
    update returns that pattern).

    Parameters
    ----------
    beta : float
        Inverse temperature, > 0.
    scores : sequence of float or 1-D tensor, optional
        Similarities; default eight fixed values from 2.0 down to -1.0.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.
    """
    plt = require("matplotlib.pyplot", "viz", feature="attention.draw_winner_take_all")

    beta = check_positive(beta, "beta")
    if scores is None:
        s = torch.tensor(_WTA_SCORES, dtype=torch.float64)
    elif isinstance(scores, torch.Tensor):
        s = check_tensor(scores, "scores", ndim=1, floating=True).detach().to("cpu", torch.float64)
    else:
        try:
            s = torch.as_tensor(list(scores), dtype=torch.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"scores must be a sequence of numbers or a 1-D tensor, got {scores!r}"
            ) from err
        s = check_tensor(s, "scores", ndim=1)
    p = torch.softmax(beta * s, dim=0).numpy()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.0))
    else:
        fig = ax.figure
    idx = range(1, len(p) + 1)
    winner = int(p.argmax())
    colors = ["tab:red" if i == winner else "tab:blue" for i in range(len(p))]
    ax.bar(idx, p, color=colors)
    ax.axhline(1.0 / len(p), color="gray", ls="--", lw=1, label="uniform 1/N")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("stored pattern i (sorted by similarity)")
    ax.set_ylabel("softmax weight p_i")
    ax.set_title(f"beta = {beta:g}: winner holds {p[winner]:.2f}", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# deprecated aliases: the chapter's learning tasks moved to ebmlib.tasks
# ---------------------------------------------------------------------------------------------


def _moved(name: str) -> str:
    return (
        f"ebmlib.attention.{name} moved to ebmlib.tasks.{name}; import it from there "
        "(the alias will be removed)"
    )


def _moved_function(name: str) -> Callable[..., Any]:
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(_moved(name), DeprecationWarning, stacklevel=2)
        return getattr(_tasks, name)(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Deprecated alias of :func:`ebmlib.tasks.{name}`."
    return alias


def _moved_class(name: str) -> type:
    target = getattr(_tasks, name)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        warnings.warn(_moved(name), DeprecationWarning, stacklevel=2)
        target.__init__(self, *args, **kwargs)

    doc = f"Deprecated alias of :class:`ebmlib.tasks.{name}`."
    return type(name, (target,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


from . import tasks as _tasks  # noqa: E402  (tasks imports this module only inside functions)

make_mil_bags = _moved_function("make_mil_bags")
mil_log_likelihood_ratio = _moved_function("mil_log_likelihood_ratio")
make_recall_task = _moved_function("make_recall_task")
recall_targets = _moved_function("recall_targets")
train_classifier = _moved_function("train_classifier")
accuracy = _moved_function("accuracy")
MILClassifier = _moved_class("MILClassifier")
RecallModel = _moved_class("RecallModel")
