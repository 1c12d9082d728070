"""Attention as a modern-Hopfield update: functions and layers (chapter 5).

One step of the continuous modern Hopfield network of chapter 4,

.. math::

    \\xi^{\\text{new}} = X \\operatorname{softmax}(\\beta X^\\top \\xi),

applied to a whole batch of state patterns (queries) at once, with stored patterns as keys,
is Transformer attention ``softmax(beta Q K^T) V`` with ``V = K``; the Transformer's choice is
``beta = 1/sqrt(d_k)``. This module computes that update (batched, multi-head, several steps,
through :func:`torch.nn.functional.scaled_dot_product_attention`), the energy it descends, and
three ``nn.Module`` layers built on it:

* :class:`Hopfield` -- state patterns associate with stored patterns (self- or cross-attention);
  with its default projections it computes exactly what :class:`torch.nn.MultiheadAttention`
  computes, and :meth:`Hopfield.pure` gives the bare retrieval layer with no projections.
* :class:`HopfieldPooling` -- a learned state pattern (query) pools a set, e.g. for
  multiple-instance learning.
* :class:`HopfieldLayer` -- the stored patterns are learned parameters (a learned memory).

Conventions (chapter 5, section "Notation"): patterns are **rows**. Queries have shape
``[..., L, d_k]``, keys ``[..., S, d_k]``, values ``[..., S, d_v]``; the book's ``X^T xi`` is
``queries @ keys.T``. ``beta`` is the raw inverse temperature and is never hidden: it defaults to
``1/sqrt(d_k)`` (``d_k`` = per-head key dimension) and can always be passed explicitly.

Masks follow :class:`torch.nn.MultiheadAttention`: a boolean mask marks with ``True`` the pairs
that are **masked out**; a floating mask is **added** to the scores ``beta * q . k``.

What is iterated with several steps
-----------------------------------
With ``steps = T`` the layer works in the (projected) key space. Writing ``xi_0 = Q`` for the
projected queries of one head and ``K`` for its projected keys (rows), it runs

.. math::

    \\xi_{t+1} = \\operatorname{softmax}(\\beta\\, \\xi_t K^\\top + m)\\, K, \\qquad t = 0..T-2,

and returns ``softmax(beta xi_{T-1} K^T + m) V``: ``T - 1`` pure Hopfield updates of the state
in key space, then one retrieval step that reads out the values. With ``V = K`` (the pure
configuration) this is exactly ``T`` updates of :func:`ebmlib.modern.update`. Every update
never raises the modern-Hopfield energy in the key space (chapter 4, eq. (4.2)),

.. math::

    E(\\xi) = -\\tfrac1\\beta \\log \\sum_j e^{\\beta k_j \\cdot \\xi + m_j}
             + \\tfrac12 \\xi\\cdot\\xi + \\tfrac1\\beta \\log N + \\tfrac12 M^2,

see :func:`energy` and :meth:`Hopfield.energy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (
    check_finite,
    check_generator,
    check_int,
    check_positive,
    check_probability,
    check_same_device,
    check_tensor,
)

__all__ = [
    "hopfield_attention",
    "hopfield_trajectory",
    "energy",
    "Hopfield",
    "HopfieldPooling",
    "HopfieldLayer",
    "draw_winner_take_all",
    "make_mil_bags",
    "mil_log_likelihood_ratio",
    "MILClassifier",
    "make_recall_task",
    "recall_targets",
    "RecallModel",
    "train_classifier",
    "accuracy",
]


# ---------------------------------------------------------------------------------------------
# masks and the functional core
# ---------------------------------------------------------------------------------------------


def _check_mask(mask: Any, name: str) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(
            f"{name} must be a bool tensor (True = masked out) or a float tensor "
            f"(added to the scores), got dtype {mask.dtype}"
        )
    if mask.is_floating_point() and bool((torch.isnan(mask) | torch.isposinf(mask)).any()):
        raise ValueError(f"{name} must not contain NaN or +inf (use -inf to mask a key out)")
    return mask


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Turn a bool (True = masked out) or float mask into an additive float mask."""
    if mask.dtype == torch.bool:
        out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return out.masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _check_rows_visible(mask: torch.Tensor | None) -> None:
    if mask is not None and bool(torch.isneginf(mask).all(dim=-1).any()):
        raise ValueError(
            "the masks leave a query with no stored pattern to attend to (a fully masked row); "
            "every query needs at least one unmasked key"
        )


def _finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Exact NaN/inf check at the cost of one reduction: a NaN or an infinite entry always
    makes the sum non-finite; only then is the slower element-wise check run (which also
    forgives a sum that merely overflowed)."""
    if x.is_floating_point() and not bool(torch.isfinite(x.sum())):
        check_finite(x, name)
    return x


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
    """One step ``softmax(beta q k^T + mask) v`` (eq. (5.4)) through SDPA with ``scale=beta``.

    On the CPU, SDPA measured as fast as or faster than two explicit matrix products with a
    softmax in between (forward) and clearly faster in the backward pass; on CUDA it selects
    fused kernels that never write the ``[..., L, S]`` weights to memory.
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
    _finite(check_tensor(queries, "queries", min_ndim=2, floating=True, finite=False), "queries")
    _finite(check_tensor(keys, "keys", min_ndim=2, floating=True, finite=False), "keys")
    if values is not None:
        check_tensor(values, "values", min_ndim=2, floating=True, finite=False)
        _finite(values, "values")
    check_same_device(queries=queries, keys=keys, values=values)
    for name, t in (("keys", keys), ("values", values)):
        if t is not None and t.dtype != queries.dtype:
            raise TypeError(
                f"{name} must have the dtype of queries ({queries.dtype}), got {t.dtype}"
            )
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


def _prepare_mask(attn_mask: Any, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor | None:
    attn_mask = _check_mask(attn_mask, "attn_mask")
    if attn_mask is None:
        return None
    want = (queries.shape[-2], keys.shape[-2])
    if attn_mask.dim() < 2 or tuple(attn_mask.shape[-2:]) != want:
        raise ValueError(
            f"attn_mask must end in shape [L, S] = {list(want)}, got {list(attn_mask.shape)}"
        )
    check_same_device(queries=queries, attn_mask=attn_mask)
    m = _additive(attn_mask, queries.dtype)
    try:
        torch.broadcast_shapes(m.shape, (*queries.shape[:-1], keys.shape[-2]))
    except RuntimeError as exc:
        raise ValueError(
            f"attn_mask of shape {list(attn_mask.shape)} does not broadcast to the scores "
            f"[..., L, S] = {[*queries.shape[:-1], keys.shape[-2]]}"
        ) from exc
    _check_rows_visible(m)
    return m


def hopfield_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor | None = None,
    beta: float | None = None,
    steps: int = 1,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``steps`` modern-Hopfield updates of ``queries`` against the stored ``keys``.

    One step is attention with inverse temperature ``beta`` (chapter 5, eq. (5.4)),

    .. math::

        \\operatorname{softmax}(\\beta\\, Q K^\\top + m)\\, V,

    which for ``V = K`` is the update ``xi <- X softmax(beta X^T xi)`` of chapter 4, eq. (4.4),
    applied to every row of ``Q``. With ``steps = T`` the queries are first updated ``T - 1``
    times against the keys (``xi <- softmax(beta xi K^T + m) K``) and the last step reads out
    ``values``. Each step runs through
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

    Returns
    -------
    torch.Tensor, shape ``[..., L, d_v]``
        The retrieved patterns.

    Raises
    ------
    TypeError
        Non-tensor or non-floating inputs, mixed dtypes, a mask of the wrong dtype.
    ValueError
        Shapes that do not match, ``beta <= 0``, ``steps < 1``, NaN inputs, a fully masked
        query row.

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
    queries, keys, values = _validate_qkv(queries, keys, values)
    steps = check_int(steps, "steps", minimum=1)
    beta = _resolve_beta(beta, queries.shape[-1])
    mask = _prepare_mask(attn_mask, queries, keys)
    out = _core(queries, keys, values, beta, steps, mask)
    return out.squeeze(-2) if single else out


def hopfield_trajectory(
    queries: torch.Tensor,
    keys: torch.Tensor,
    beta: float | None = None,
    steps: int = 1,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The states ``xi_0 = Q, xi_1, ..., xi_T`` of ``T = steps`` updates against ``keys``.

    ``xi_{t+1} = softmax(beta xi_t K^T + m) K`` (chapter 5, eq. (5.6)); ``xi_T`` equals
    ``hopfield_attention(queries, keys, beta=beta, steps=steps, attn_mask=attn_mask)``.

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

    Returns
    -------
    torch.Tensor, shape ``[steps + 1, ..., L, d]``
    """
    queries, keys, _ = _validate_qkv(queries, keys, None)
    steps = check_int(steps, "steps", minimum=0)
    beta = _resolve_beta(beta, queries.shape[-1])
    mask = _prepare_mask(attn_mask, queries, keys)
    states = [queries]
    for _ in range(steps):
        states.append(_attend(states[-1], keys, keys, mask, beta))
    return torch.stack(states)


def _energy(xi: torch.Tensor, keys: torch.Tensor, beta: float, mask: torch.Tensor | None):
    scores = beta * (xi @ keys.transpose(-2, -1))  # [..., L, S]
    norms2 = (keys * keys).sum(-1)  # [..., S]
    if mask is None:
        n = torch.full(scores.shape[:-1], keys.shape[-2], dtype=xi.dtype, device=xi.device)
        m2 = norms2.max(dim=-1, keepdim=True).values.expand(scores.shape[:-1])
    else:
        scores = scores + mask
        visible = torch.isfinite(mask).expand(scores.shape)  # [..., L, S]
        n = visible.sum(-1).to(xi.dtype)
        m2 = torch.where(visible, norms2.unsqueeze(-2).expand(scores.shape), 0.0).amax(-1)
    return (
        -torch.logsumexp(scores, dim=-1) / beta
        + 0.5 * (xi * xi).sum(-1)
        + torch.log(n) / beta
        + 0.5 * m2
    )


def energy(
    states: torch.Tensor,
    keys: torch.Tensor,
    beta: float | None = None,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Modern-Hopfield energy of each state (row) against the stored ``keys``.

    Chapter 4, eq. (4.2), batched over heads and with an optional mask (chapter 5,
    eq. (5.7)):

    .. math::

        E(\\xi) = -\\tfrac1\\beta \\log \\sum_{j} e^{\\beta\\, k_j\\cdot\\xi + m_j}
                 + \\tfrac12\\, \\xi\\cdot\\xi + \\tfrac1\\beta \\log N + \\tfrac12 M^2,

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

    Returns
    -------
    torch.Tensor, shape ``[..., L]`` (a scalar for a single state ``[d]``)
    """
    single = isinstance(states, torch.Tensor) and states.dim() == 1
    if single:  # one state [d]
        states = states.unsqueeze(0)
    states, keys, _ = _validate_qkv(states, keys, None)
    beta = _resolve_beta(beta, states.shape[-1])
    mask = _prepare_mask(attn_mask, states, keys)
    out = _energy(states, keys, beta, mask)
    return out.squeeze(-1) if single else out


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------


class Hopfield(nn.Module):
    """Hopfield association of state patterns with stored patterns (chapter 5).

    The forward pass projects the state patterns ``R`` (queries), stored patterns ``Y`` (keys)
    and pattern projections ``P`` (values, default ``Y``) per head,
    ``Q = R W_Q``, ``K = Y W_K``, ``V = P W_V``, runs :func:`hopfield_attention` with ``steps``
    updates in the key space (``T - 1`` updates ``xi <- softmax(beta xi K^T) K``, then one
    read-out of ``V``), concatenates the heads and applies the output projection (chapter 5,
    eq. (5.5)). With ``steps=1`` and the defaults it computes exactly what
    :class:`torch.nn.MultiheadAttention` computes; see :meth:`from_multihead_attention`.

    Nothing is hidden: there is no normalisation unless ``normalize=True``, ``beta`` is the
    number you pass (or ``1/sqrt(key_dim / num_heads)``), and :meth:`pure` builds the bare
    retrieval layer (no projections, no normalisation, values = keys) whose output equals
    ``steps`` applications of :func:`ebmlib.modern.update`.

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
    ):
        super().__init__()
        d_model = check_int(d_model, "d_model", minimum=1)
        num_heads = check_int(num_heads, "num_heads", minimum=1)
        steps = check_int(steps, "steps", minimum=1)
        for name, flag in (
            ("projections", projections),
            ("bias", bias),
            ("normalize", normalize),
            ("batch_first", batch_first),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        if out_projection is None:
            out_projection = projections
        if not isinstance(out_projection, bool):
            raise TypeError(
                f"out_projection must be a bool or None, got {type(out_projection).__name__}"
            )
        stored_dim = (
            d_model if stored_dim is None else check_int(stored_dim, "stored_dim", minimum=1)
        )
        pattern_dim = (
            stored_dim if pattern_dim is None else check_int(pattern_dim, "pattern_dim", minimum=1)
        )
        if projections:
            key_dim = d_model if key_dim is None else check_int(key_dim, "key_dim", minimum=1)
            value_dim = (
                d_model if value_dim is None else check_int(value_dim, "value_dim", minimum=1)
            )
        else:
            if stored_dim != d_model:
                raise ValueError(
                    f"without projections stored_dim must equal d_model "
                    f"({d_model}), got {stored_dim}"
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
        fk = {"device": device, "dtype": dtype}
        if projections:
            self.q_proj = nn.Linear(d_model, key_dim, bias=bias, **fk)
            self.k_proj = nn.Linear(stored_dim, key_dim, bias=bias, **fk)
            self.v_proj = nn.Linear(pattern_dim, value_dim, bias=bias, **fk)
        else:
            self.q_proj = self.k_proj = self.v_proj = None
        self.out_proj = nn.Linear(value_dim, d_model, bias=bias, **fk) if out_projection else None
        if normalize:
            self.norm_state = nn.LayerNorm(d_model, **fk)
            self.norm_stored = nn.LayerNorm(stored_dim, **fk)
            self.norm_pattern = nn.LayerNorm(pattern_dim, **fk)
        else:
            self.norm_state = self.norm_stored = self.norm_pattern = None
        if projections:
            self._reset_projections()

    def _reset_projections(self) -> None:
        # Same initialisation as nn.MultiheadAttention: Xavier-uniform projections, zero biases.
        for lin in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(lin.weight)
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
            f"dropout={self.dropout}, batch_first={self.batch_first}"
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
    ) -> Hopfield:
        """The bare retrieval layer: no projections, no normalisation, values = stored patterns.

        Its output for state patterns ``xi`` and stored patterns ``X`` (rows) is ``steps``
        applications of ``xi <- softmax(beta xi X^T) X`` (chapter 4, eq. (4.4)), i.e. of
        :func:`ebmlib.modern.update`. With several heads the feature dimension is split into
        ``num_heads`` blocks that each retrieve on their own.

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
        with ``beta = 1/sqrt(embed_dim / num_heads)`` (chapter 5, eq. (5.5)).

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
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if not (self.projections and self.out_projection):
            raise ValueError(
                "load_multihead_attention needs a layer with projections and out_projection"
            )
        if (
            (mha.embed_dim, mha.num_heads, mha.kdim, mha.vdim)
            != (self.d_model, self.num_heads, self.stored_dim, self.pattern_dim)
            or self.key_dim != self.d_model
            or self.value_dim != self.d_model
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
        self.q_proj.weight.copy_(wq)
        self.k_proj.weight.copy_(wk)
        self.v_proj.weight.copy_(wv)
        if mha.in_proj_bias is not None:
            if self.q_proj.bias is None:
                raise ValueError("mha has biases but this layer was built with bias=False")
            b = mha.in_proj_bias
            self.q_proj.bias.copy_(b[:e])
            self.k_proj.bias.copy_(b[e : 2 * e])
            self.v_proj.bias.copy_(b[2 * e :])
        self.out_proj.weight.copy_(mha.out_proj.weight)
        if mha.out_proj.bias is not None and self.out_proj.bias is not None:
            self.out_proj.bias.copy_(mha.out_proj.bias)

    # -- forward --------------------------------------------------------------------------------

    def _inputs(self, state_patterns, stored_patterns, pattern_projections):
        check_tensor(state_patterns, "state_patterns", ndim=(2, 3), floating=True, finite=False)
        _finite(state_patterns, "state_patterns")
        batched = state_patterns.dim() == 3
        self_assoc = stored_patterns is None or stored_patterns is state_patterns
        if stored_patterns is None:
            stored_patterns = state_patterns
        elif not self_assoc:
            check_tensor(
                stored_patterns,
                "stored_patterns",
                ndim=state_patterns.dim(),
                floating=True,
                finite=False,
            )
            _finite(stored_patterns, "stored_patterns")
        values_are_stored = pattern_projections is None or pattern_projections is stored_patterns
        if pattern_projections is not None and not values_are_stored:
            check_tensor(
                pattern_projections,
                "pattern_projections",
                ndim=state_patterns.dim(),
                floating=True,
                finite=False,
            )
            _finite(pattern_projections, "pattern_projections")
        if values_are_stored:
            pattern_projections = None
        check_same_device(
            state_patterns=state_patterns,
            stored_patterns=stored_patterns,
            pattern_projections=pattern_projections,
        )
        for name, t in (
            ("stored_patterns", stored_patterns),
            ("pattern_projections", pattern_projections),
        ):
            if t is not None and t.dtype != state_patterns.dtype:
                raise TypeError(
                    f"{name} must have the dtype of state_patterns ({state_patterns.dtype}), "
                    f"got {t.dtype}"
                )
        param = next(self.parameters(), None)
        if param is not None:
            if param.dtype != state_patterns.dtype:
                raise TypeError(
                    f"state_patterns must have the dtype of the layer's parameters "
                    f"({param.dtype}), got {state_patterns.dtype}; convert one of them"
                )
            if param.device != state_patterns.device:
                raise ValueError(
                    f"state_patterns is on {state_patterns.device} but the layer is on "
                    f"{param.device}; move one of them"
                )
        if not batched:
            state_patterns = state_patterns.unsqueeze(0)
            stored_patterns = stored_patterns.unsqueeze(0)
            if pattern_projections is not None:
                pattern_projections = pattern_projections.unsqueeze(0)
        elif not self.batch_first:
            state_patterns = state_patterns.transpose(0, 1)
            stored_patterns = stored_patterns.transpose(0, 1)
            if pattern_projections is not None:
                pattern_projections = pattern_projections.transpose(0, 1)
        for name, t, dim in (
            ("state_patterns", state_patterns, self.d_model),
            ("stored_patterns", stored_patterns, self.stored_dim),
            ("pattern_projections", pattern_projections, self.pattern_dim),
        ):
            if t is not None and dim is not None and t.shape[-1] != dim:
                raise ValueError(
                    f"{name} must have feature dimension {dim}, got shape {tuple(t.shape)}"
                )
        if self.d_model is None:  # pure layer without fixed dimensions
            if stored_patterns.shape[-1] != state_patterns.shape[-1]:
                raise ValueError(
                    f"stored_patterns must have the feature dimension of state_patterns "
                    f"({state_patterns.shape[-1]}), got shape {tuple(stored_patterns.shape)}"
                )
            for name, t in (
                ("state_patterns", state_patterns),
                ("pattern_projections", pattern_projections),
            ):
                if t is not None and t.shape[-1] % self.num_heads:
                    raise ValueError(
                        f"{name} must have a feature dimension divisible by num_heads "
                        f"({self.num_heads}), got shape {tuple(t.shape)}"
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
        attn_mask = _check_mask(attn_mask, "attn_mask")
        key_padding_mask = _check_mask(key_padding_mask, "key_padding_mask")
        total = None
        if attn_mask is not None:
            check_same_device(state_patterns=like, attn_mask=attn_mask)
            m = _additive(attn_mask, like.dtype)
            if m.dim() == 2 and tuple(m.shape) == (L, S):
                m = m.view(1, 1, L, S)
            elif m.dim() == 3 and tuple(m.shape) == (b * self.num_heads, L, S):
                m = m.view(b, self.num_heads, L, S)
            elif m.dim() == 4 and tuple(m.shape) == (b, self.num_heads, L, S):
                pass
            else:
                raise ValueError(
                    f"attn_mask must have shape [L, S] = [{L}, {S}], [B*num_heads, L, S] = "
                    f"[{b * self.num_heads}, {L}, {S}] or [B, num_heads, L, S], got "
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
            m = _additive(key_padding_mask, like.dtype).view(b, 1, 1, S)
            total = m if total is None else total + m
        _check_rows_visible(None if total is None else total.expand(b, self.num_heads, L, S))
        return total

    def _prepare(
        self, state_patterns, stored_patterns, pattern_projections, attn_mask, key_padding_mask
    ):
        state, stored, pattern, batched, self_assoc = self._inputs(
            state_patterns, stored_patterns, pattern_projections
        )
        if not batched and key_padding_mask is not None and key_padding_mask.dim() == 1:
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
        """Energy of the key-space state along the layer's updates (chapter 5, eq. (5.7)).

        For each head the projected queries ``xi_0 = Q`` are updated ``xi <- softmax(beta xi
        K^T + m) K`` and the modern-Hopfield energy :func:`energy` of ``xi_t`` against the
        projected keys ``K`` is recorded; by chapter 4's descent theorem it never rises.

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
        patterns holding a share ``mass`` of them (:func:`ebmlib.modern.softmax_mass_count`):
        1 in the single-pattern regime, about ``mass * S`` at the global average, in between
        for metastable states (chapter 5, section on fixed-point regimes).

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


class HopfieldPooling(nn.Module):
    """Pool a set with learned state patterns (queries): Hopfield pooling (chapter 5).

    ``num_queries`` learned state patterns associate with the stored patterns (the set to be
    pooled, e.g. the instances of a bag) through a :class:`Hopfield` layer, so the output is a
    fixed-size summary ``[B, num_queries, output_dim]`` of a variable-size set; padded set
    members are excluded with ``key_padding_mask``.

    Parameters
    ----------
    d_model : int
        Feature dimension of the set members (stored patterns) and of the learned queries.
    num_heads, beta, steps, key_dim, value_dim :
        As in :class:`Hopfield`.
    projections, bias, normalize, dropout, batch_first, out_projection, device, dtype :
        As in :class:`Hopfield`.
    num_queries : int
        Number of learned query patterns.

    Examples
    --------
    >>> pool = HopfieldPooling(16, num_heads=2)
    >>> pool(torch.randn(8, 30, 16)).shape
    torch.Size([8, 1, 16])
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 1,
        num_queries: int = 1,
        beta: float | None = None,
        steps: int = 1,
        key_dim: int | None = None,
        value_dim: int | None = None,
        projections: bool = True,
        bias: bool = True,
        normalize: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        out_projection: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        num_queries = check_int(num_queries, "num_queries", minimum=1)
        self.hopfield = Hopfield(
            d_model,
            num_heads=num_heads,
            beta=beta,
            steps=steps,
            key_dim=key_dim,
            value_dim=value_dim,
            projections=projections,
            bias=bias,
            normalize=normalize,
            dropout=dropout,
            batch_first=batch_first,
            out_projection=out_projection,
            device=device,
            dtype=dtype,
        )
        self.num_queries = num_queries
        self.query = nn.Parameter(
            torch.randn(num_queries, d_model, device=device, dtype=dtype) / math.sqrt(d_model)
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
        """Pool ``stored_patterns`` ``[B, S, d_model]`` into ``[B, num_queries, output_dim]``."""
        check_tensor(stored_patterns, "stored_patterns", ndim=(2, 3), floating=True)
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
        check_tensor(stored_patterns, "stored_patterns", ndim=(2, 3), floating=True)
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

    Parameters
    ----------
    d_model : int
        Feature dimension of the inputs and of the stored patterns.
    num_stored : int
        Number of learned stored patterns.
    learn_values : bool
        Learn separate pattern projections (values) besides the stored patterns.
    num_heads, beta, steps, key_dim, value_dim :
        As in :class:`Hopfield`.
    projections, bias, normalize, dropout, batch_first, out_projection, device, dtype :
        As in :class:`Hopfield`.
    """

    def __init__(
        self,
        d_model: int,
        num_stored: int,
        num_heads: int = 1,
        beta: float | None = None,
        steps: int = 1,
        learn_values: bool = False,
        key_dim: int | None = None,
        value_dim: int | None = None,
        projections: bool = True,
        bias: bool = True,
        normalize: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        out_projection: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        num_stored = check_int(num_stored, "num_stored", minimum=1)
        if not isinstance(learn_values, bool):
            raise TypeError(f"learn_values must be a bool, got {type(learn_values).__name__}")
        self.hopfield = Hopfield(
            d_model,
            num_heads=num_heads,
            beta=beta,
            steps=steps,
            key_dim=key_dim,
            value_dim=value_dim,
            projections=projections,
            bias=bias,
            normalize=normalize,
            dropout=dropout,
            batch_first=batch_first,
            out_projection=out_projection,
            device=device,
            dtype=dtype,
        )
        self.num_stored = num_stored
        self.stored = nn.Parameter(
            torch.randn(num_stored, d_model, device=device, dtype=dtype) / math.sqrt(d_model)
        )
        self.values = (
            nn.Parameter(
                torch.randn(num_stored, d_model, device=device, dtype=dtype) / math.sqrt(d_model)
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
        check_tensor(state_patterns, "state_patterns", ndim=(2, 3), floating=True)
        stored, values = self._memory(state_patterns)
        return self.hopfield(
            state_patterns, stored, values, attn_mask=attn_mask, need_weights=need_weights
        )

    def energy(self, state_patterns: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Energy along the updates of the inputs against the learned stored patterns."""
        check_tensor(state_patterns, "state_patterns", ndim=(2, 3), floating=True)
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
    patterns. Small ``beta`` spreads the weight evenly (the update returns the average
    pattern), large ``beta`` puts it all on the best match (the update returns that pattern).

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
    import matplotlib.pyplot as plt

    beta = check_positive(beta, "beta")
    if scores is None:
        s = torch.tensor(_WTA_SCORES, dtype=torch.float64)
    elif isinstance(scores, torch.Tensor):
        s = check_tensor(scores, "scores", ndim=1, floating=True).detach().to("cpu", torch.float64)
    else:
        s = check_tensor(torch.as_tensor(list(scores), dtype=torch.float64), "scores", ndim=1)
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
# the chapter's two learning tasks
# ---------------------------------------------------------------------------------------------


def make_mil_bags(
    n_bags: int,
    bag_size: int = 16,
    dim: int = 16,
    signal_shift: float = 5.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic multiple-instance-learning bags (chapter 5, section on Hopfield pooling).

    Every instance is standard Gaussian noise in ``R^dim``; a positive bag (label 1, half of
    the bags on average) has exactly one instance, at a random position, shifted by
    ``signal_shift`` along the first axis, i.e. drawn from ``N(signal_shift e_1, I)``.

    Parameters
    ----------
    n_bags, bag_size, dim : int
        Number of bags, instances per bag, instance dimension.
    signal_shift : float
        Distance of the signal mean from the noise mean (> 0).
    generator : torch.Generator, optional
        Source of randomness (CPU).
    dtype : torch.dtype
        Floating dtype of the bags.

    Returns
    -------
    bags : torch.Tensor, shape ``[n_bags, bag_size, dim]``
    labels : torch.Tensor, shape ``[n_bags]``, dtype long (0 or 1)
    """
    n_bags = check_int(n_bags, "n_bags", minimum=1)
    bag_size = check_int(bag_size, "bag_size", minimum=1)
    dim = check_int(dim, "dim", minimum=1)
    shift = check_positive(signal_shift, "signal_shift")
    check_generator(generator, device="cpu")
    g = generator
    bags = torch.randn(n_bags, bag_size, dim, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (n_bags,), generator=g)
    where = torch.randint(0, bag_size, (n_bags,), generator=g)
    pos = labels.bool()
    bags[pos.nonzero().squeeze(-1), where[pos], 0] += shift
    return bags.to(dtype), labels


def mil_log_likelihood_ratio(bags: torch.Tensor, signal_shift: float = 5.0) -> torch.Tensor:
    """Bayes-optimal score of :func:`make_mil_bags`: log p(bag | positive) / p(bag | negative).

    With ``mu = signal_shift e_1`` and ``n`` instances, the ratio is the mean over positions of
    ``exp(mu . x_i - |mu|^2 / 2)``, so (chapter 5, eq. (5.9))

    .. math:: \\log \\Lambda = \\operatorname{lse}(1, X^\\top \\mu) - \\log n - |\\mu|^2/2,

    a log-sum-exp of the instances against one "query" ``mu``: the energy term of a Hopfield
    pooling with the right query. Classifying ``log Lambda > 0`` is optimal for balanced labels.

    Parameters
    ----------
    bags : torch.Tensor, shape ``[B, n, dim]``
    signal_shift : float

    Returns
    -------
    torch.Tensor, shape ``[B]``
    """
    check_tensor(bags, "bags", ndim=3, floating=True)
    shift = check_positive(signal_shift, "signal_shift")
    z = shift * bags[..., 0] - 0.5 * shift**2
    return torch.logsumexp(z, dim=-1) - math.log(bags.shape[1])


class MILClassifier(nn.Module):
    """Bag classifier: a pooling of the instances, then a linear layer (chapter 5).

    ``pooling="hopfield"`` uses :class:`HopfieldPooling` (one learned query); ``"mean"`` uses
    the mean of the instances; ``"max"`` their element-wise maximum. The same linear classifier
    ``Linear(dim, 1)`` follows, giving the logit of the positive class.

    Parameters
    ----------
    dim : int
        Instance dimension.
    pooling : {"hopfield", "mean", "max"}
    num_heads : int
        Heads of the Hopfield pooling.
    beta : float, optional
        Inverse temperature of the Hopfield pooling (default ``1/sqrt(dim/num_heads)``).
    """

    def __init__(
        self, dim: int, pooling: str = "hopfield", num_heads: int = 1, beta: float | None = None
    ):
        super().__init__()
        dim = check_int(dim, "dim", minimum=1)
        if pooling not in ("hopfield", "mean", "max"):
            raise ValueError(f"pooling must be one of 'hopfield', 'mean', 'max'; got {pooling!r}")
        self.pooling = pooling
        self.pool = (
            HopfieldPooling(dim, num_heads=num_heads, beta=beta) if pooling == "hopfield" else None
        )
        self.classifier = nn.Linear(dim, 1)

    def forward(self, bags: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for bags ``[B, n, dim]``."""
        check_tensor(bags, "bags", ndim=3, floating=True)
        if self.pooling == "hopfield":
            z = self.pool(bags)[:, 0]
        elif self.pooling == "mean":
            z = bags.mean(1)
        else:
            z = bags.amax(1)
        return self.classifier(z).squeeze(-1)


def make_recall_task(
    n_seqs: int,
    n_items: int = 8,
    n_symbols: int = 16,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Key-value recall sequences for the toy attention model (chapter 5).

    Each sequence holds ``n_items`` (key, value) pairs with distinct keys drawn from
    ``n_symbols`` symbols and values drawn uniformly, then a query key equal to one of the
    stored keys; the target is the value stored with that key.

    Returns
    -------
    keys : torch.Tensor, long, shape ``[n_seqs, n_items]``
    values : torch.Tensor, long, shape ``[n_seqs, n_items]``
    query : torch.Tensor, long, shape ``[n_seqs]`` (index of the queried item, 0..n_items-1)
    """
    n_seqs = check_int(n_seqs, "n_seqs", minimum=1)
    n_items = check_int(n_items, "n_items", minimum=1)
    n_symbols = check_int(n_symbols, "n_symbols", minimum=n_items)
    check_generator(generator, device="cpu")
    g = generator
    keys = torch.rand(n_seqs, n_symbols, generator=g).argsort(-1)[:, :n_items]
    values = torch.randint(0, n_symbols, (n_seqs, n_items), generator=g)
    query = torch.randint(0, n_items, (n_seqs,), generator=g)
    return keys, values, query


class RecallModel(nn.Module):
    """A one-layer attention model for :func:`make_recall_task` (chapter 5).

    Item ``i`` is embedded as ``E_key[k_i] + E_value[v_i]``; the query token is
    ``E_key[q] + e_query``. One :class:`Hopfield` layer (``num_heads`` heads, one step) lets the
    query token attend to the items, and a linear read-out predicts the value symbol.

    Parameters
    ----------
    n_symbols : int
        Vocabulary size of keys and values.
    d_model : int
        Embedding dimension.
    num_heads : int
        Heads of the attention layer.
    """

    def __init__(self, n_symbols: int = 16, d_model: int = 32, num_heads: int = 4):
        super().__init__()
        n_symbols = check_int(n_symbols, "n_symbols", minimum=2)
        d_model = check_int(d_model, "d_model", minimum=1)
        self.key_emb = nn.Embedding(n_symbols, d_model)
        self.value_emb = nn.Embedding(n_symbols, d_model)
        self.query_flag = nn.Parameter(torch.zeros(d_model))
        self.attention = Hopfield(d_model, num_heads=num_heads)
        self.readout = nn.Linear(d_model, n_symbols)

    def inputs(self, keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor):
        """Embedded (query token ``[B, 1, d]``, items ``[B, n, d]``)."""
        items = self.key_emb(keys) + self.value_emb(values)
        qkey = keys.gather(1, query.unsqueeze(1))  # [B, 1]
        q = self.key_emb(qkey) + self.query_flag
        return q, items

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Logits ``[B, n_symbols]`` for a batch ``(keys, values, query)``."""
        keys, values, query = batch
        q, items = self.inputs(keys, values, query)
        return self.readout(self.attention(q, items)[:, 0])


def recall_targets(values: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """The value stored with the queried key: ``values[b, query[b]]``."""
    return values.gather(1, query.unsqueeze(1)).squeeze(1)


def _index(batch: Any, idx: torch.Tensor) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[idx]
    return tuple(t[idx] for t in batch)


def _length(batch: Any) -> int:
    return batch.shape[0] if isinstance(batch, torch.Tensor) else batch[0].shape[0]


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: Any, targets: torch.Tensor) -> float:
    """Fraction of correct predictions (logit > 0 for binary ``[B]`` logits, else argmax)."""
    was = model.training
    model.eval()
    logits = model(inputs)
    model.train(was)
    pred = (logits > 0).long() if logits.dim() == 1 else logits.argmax(-1)
    return float((pred == targets).double().mean())


def train_classifier(
    model: nn.Module,
    inputs: Any,
    targets: torch.Tensor,
    epochs: int = 10,
    lr: float = 1e-2,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    test: tuple[Any, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, list[float]]:
    """Train a classifier with Adam on minibatches (used by chapter 5's experiments).

    Binary tasks give logits ``[B]`` (binary cross-entropy), multi-class tasks ``[B, C]``
    (cross-entropy).

    Parameters
    ----------
    model : nn.Module
        Maps a batch of ``inputs`` to logits.
    inputs : tensor or tuple of tensors, first dimension the samples
    targets : torch.Tensor, shape ``[n]``, long
    epochs, batch_size : int
    lr, weight_decay : float
    test : (inputs, targets), optional
        Evaluated after every epoch.
    generator : torch.Generator, optional
        Shuffles the minibatches.

    Returns
    -------
    dict
        ``"loss"`` (mean training loss per epoch), ``"train_accuracy"`` and, with ``test``,
        ``"test_accuracy"`` per epoch.
    """
    from .utils import progress

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    check_generator(generator, device="cpu")
    n = _length(inputs)
    check_tensor(targets, "targets", ndim=1)
    if targets.shape[0] != n:
        raise ValueError(f"targets must hold {n} entries (one per input), got {targets.shape[0]}")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist: dict[str, list[float]] = {"loss": [], "train_accuracy": []}
    if test is not None:
        hist["test_accuracy"] = []
    for _ in progress(range(epochs), desc="epochs"):
        model.train()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = _loss(model(_index(inputs, idx)), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        hist["loss"].append(total / n)
        hist["train_accuracy"].append(accuracy(model, inputs, targets))
        if test is not None:
            hist["test_accuracy"].append(accuracy(model, *test))
    return hist
