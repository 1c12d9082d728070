"""Classical Hopfield networks: Hebbian, Storkey and pseudo-inverse memories (chapter 2).

A network of ``d`` binary units ``xi_j = +-1`` with symmetric weights ``W`` (zero diagonal)
has the energy

.. math:: E(\\xi) = -\\tfrac12 \\xi^T W \\xi = -\\tfrac12 \\sum_{j \\ne k} W_{jk} \\xi_j \\xi_k ,

and the update of one unit sets it to the sign of its local field ``a_j = sum_k W_jk xi_k``.
At zero field the unit **keeps its current value**: with this convention an asynchronous update
never raises the energy (chapter 2, theorem ``thm-hopfield-descent``).

Conventions
-----------
Patterns are rows: ``patterns`` has shape ``[N, d]`` with entries +-1, and a batch of states has
shape ``[B, d]``. The book's ``X`` is the ``d x N`` matrix of patterns as columns, so the book's
``X^T xi`` is ``states @ patterns.T`` here. The Hebbian weights are normalised by ``d``:
``W = X X^T / d`` in the book, ``patterns.T @ patterns / d`` in code, with the diagonal set to 0.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ._optional import require
from ._validation import (
    check_choice,
    check_generator,
    check_int,
    check_pm1,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .utils import Result

__all__ = [
    "hebbian",
    "storkey",
    "pseudoinverse",
    "energy",
    "local_field",
    "overlap",
    "overlaps",
    "corrupt",
    "mixture_state",
    "HopfieldNetwork",
    "RecallResult",
    "OneStepErrorRate",
    "RecallExperiment",
    "RULES",
    "one_step_error_theory",
    "one_step_error_exact",
    "ags_overlap",
    "ags_critical_alpha",
    "one_step_error_rate",
    "recall_experiment",
    "estimate_capacity",
    "classify_states",
    "STATE_CLASSES",
    "draw_recall",
]

#: Storage rules understood by :class:`HopfieldNetwork`.
RULES = ("hebbian", "storkey", "pseudoinverse")

#: Above this dimension ``HopfieldNetwork(matrix_free=None)`` keeps the patterns instead of W
#: (Hebbian rule only), as long as there are fewer patterns than units.
MATRIX_FREE_THRESHOLD = 4096


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _as_float(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` unchanged if floating, else converted to the default float dtype."""
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _check_patterns(patterns: torch.Tensor, name: str = "patterns") -> torch.Tensor:
    check_tensor(patterns, name, ndim=2)
    check_pm1(patterns, name)
    return _as_float(patterns)


def _check_states(states: torch.Tensor, d: int, name: str = "states") -> torch.Tensor:
    """Validate a ``[d]`` or ``[B, d]`` tensor of +-1 states."""
    check_tensor(states, name, ndim=(1, 2))
    if states.shape[-1] != d:
        raise ValueError(
            f"{name} must have last dimension {d} to match the network, "
            f"got shape {tuple(states.shape)}"
        )
    check_pm1(states, name)
    return states


def _sign_keep(field: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``sign(field)``, keeping the entry of ``states`` where the field is exactly 0."""
    return torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, states)).to(states.dtype)


# --------------------------------------------------------------------------------------------
# storage rules
# --------------------------------------------------------------------------------------------
def hebbian(patterns: torch.Tensor) -> torch.Tensor:
    r"""Hebbian (outer-product) weights with zero diagonal.

    .. math:: W = \frac{1}{d} \sum_{i=1}^N x_i x_i^T - \frac{N}{d} I ,

    i.e. ``W_jk = (1/d) sum_i x_ij x_ik`` for ``j != k`` and ``W_jj = 0``
    (chapter 2, :math:numref:`eq-hopfield-hebb`). Formed with one matrix product.

    Parameters
    ----------
    patterns : torch.Tensor, shape ``[N, d]``
        Patterns as rows, entries +-1. Integer tensors are converted to the default float dtype.

    Returns
    -------
    torch.Tensor, shape ``[d, d]``
        Symmetric weights with zero diagonal, same device and (floating) dtype as ``patterns``.

    Raises
    ------
    ValueError
        If ``patterns`` is not a non-empty ``[N, d]`` tensor of +-1 entries.
    """
    x = _check_patterns(patterns)
    d = x.shape[1]
    w = x.T @ x  # [d, d], integer-valued entries, exact in floating point
    w.fill_diagonal_(0)
    return w / d


def storkey(patterns: torch.Tensor) -> torch.Tensor:
    r"""Storkey's incremental learning rule (zero diagonal).

    Patterns are added one at a time. With the current weights ``W`` and the new pattern ``x``,
    let ``a_jk = sum_{l != j, k} W_jl x_l`` be the field at ``j`` without units ``j`` and ``k``;
    then

    .. math:: \Delta W_{jk} = \frac1d \left( x_j x_k - x_j a_{kj} - a_{jk} x_k \right),

    (chapter 2, :math:numref:`eq-hopfield-storkey`; Storkey 1997). With a zero diagonal and
    ``x_j^2 = 1`` this is the rank-two update ``Delta W = (x x^T - x a^T - a x^T + 2 W) / d`` with
    ``a = W x``,
    followed by zeroing the diagonal, so the cost is ``N`` matrix updates and no loop over units.

    Parameters
    ----------
    patterns : torch.Tensor, shape ``[N, d]``
        Patterns as rows, entries +-1, added in row order.

    Returns
    -------
    torch.Tensor, shape ``[d, d]``
        Symmetric weights with zero diagonal.
    """
    x = _check_patterns(patterns)
    n, d = x.shape
    w = torch.zeros(d, d, dtype=x.dtype, device=x.device)
    for i in range(n):
        xi = x[i]  # [d], pattern i
        a = w @ xi  # [d], its fields
        # W <- (1 + 2/d) W + (x (x - a)^T - a x^T) / d, in place
        w.mul_(1 + 2 / d)
        w.addr_(xi, xi - a, alpha=1 / d)
        w.addr_(a, xi, alpha=-1 / d)
        w.fill_diagonal_(0)
    return w


def pseudoinverse(patterns: torch.Tensor) -> torch.Tensor:
    r"""Pseudo-inverse (projection) rule with zero diagonal.

    .. math:: W = X (X^T X)^{+} X^T - \operatorname{diag}(\cdot),

    the orthogonal projector onto the span of the patterns with its diagonal removed
    (chapter 2, :math:numref:`eq-hopfield-pinv`; Personnaz et al. 1985, Kanter and Sompolinsky
    1987).
    In code, with patterns as rows, ``P = pinv(patterns) @ patterns``. Every stored pattern
    satisfies ``P x = x``, so after removing the diagonal its field is ``(1 - P_jj) x_j``: each
    pattern is a fixed point as long as every ``P_jj < 1``, whatever the correlations between
    patterns. Computed in float64 and returned in the dtype of ``patterns``.

    Parameters
    ----------
    patterns : torch.Tensor, shape ``[N, d]``
        Patterns as rows, entries +-1 (may be linearly dependent).

    Returns
    -------
    torch.Tensor, shape ``[d, d]``
        Symmetric weights with zero diagonal.
    """
    x = _check_patterns(patterns)
    x64 = x.to(torch.float64)
    p = torch.linalg.pinv(x64) @ x64  # [d, N] @ [N, d]: projector onto the row space
    p = (p + p.T) / 2  # exact symmetry
    p.fill_diagonal_(0)
    return p.to(x.dtype)


# --------------------------------------------------------------------------------------------
# energy, fields, overlaps
# --------------------------------------------------------------------------------------------
def _check_weights(weights: torch.Tensor) -> torch.Tensor:
    check_tensor(weights, "weights", ndim=2, floating=True)
    if weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be square [d, d], got shape {tuple(weights.shape)}")
    return weights


def energy(weights: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    r"""Hopfield energy ``E(xi) = -1/2 xi^T W xi`` of one state or a batch.

    Chapter 2, :math:numref:`eq-hopfield-energy`. With a zero diagonal this is
    ``-1/2 sum_{j != k} W_jk xi_j xi_k``, the Ising energy with couplings ``J = W`` and no field.

    Parameters
    ----------
    weights : torch.Tensor, shape ``[d, d]``
        Symmetric weights (floating).
    states : torch.Tensor, shape ``[d]`` or ``[B, d]``
        States (usually +-1; any finite real values are accepted).

    Returns
    -------
    torch.Tensor, shape ``[]`` or ``[B]``
        Energies in the dtype of ``weights``.
    """
    _check_weights(weights)
    check_tensor(states, "states", ndim=(1, 2))
    check_same_device(weights=weights, states=states)
    check_same_dtype(weights=weights, states=states)
    if states.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"states must have last dimension {weights.shape[0]} to match weights, "
            f"got shape {tuple(states.shape)}"
        )
    s = states.to(weights.dtype)
    return -0.5 * ((s @ weights) * s).sum(-1)


def local_field(weights: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """Local fields ``h = W s`` (``states @ W`` for a batch of rows; W is symmetric).

    Parameters
    ----------
    weights : torch.Tensor, shape ``[d, d]``
    states : torch.Tensor, shape ``[d]`` or ``[B, d]``

    Returns
    -------
    torch.Tensor, same shape as ``states``
    """
    _check_weights(weights)
    check_tensor(states, "states", ndim=(1, 2))
    check_same_device(weights=weights, states=states)
    check_same_dtype(weights=weights, states=states)
    if states.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"states must have last dimension {weights.shape[0]} to match weights, "
            f"got shape {tuple(states.shape)}"
        )
    return states.to(weights.dtype) @ weights


def overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Overlap ``m = a . b / d`` along the last dimension, broadcasting the others.

    For +-1 vectors ``m = 1 - 2 H / d`` where ``H`` is the Hamming distance, so ``m = 1`` means
    equal, ``m = -1`` means reversed and ``m ~ 0`` means unrelated (chapter 2,
    :math:numref:`eq-hopfield-overlap`). ``overlap(states, patterns)`` with two ``[B, d]`` tensors
    pairs
    rows; for all pairs use :func:`overlaps`.

    Parameters
    ----------
    a, b : torch.Tensor, shapes ``[..., d]`` that broadcast
        Floating tensors must share one dtype (a mismatch raises ``TypeError``); integer
        tensors are converted.

    Returns
    -------
    torch.Tensor, the broadcast shape without the last dimension
    """
    check_tensor(a, "a", min_ndim=1)
    check_tensor(b, "b", min_ndim=1)
    check_same_device(a=a, b=b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"a and b must have the same last dimension, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    try:
        torch.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except RuntimeError as err:
        raise ValueError(
            f"a and b must have shapes [..., d] that broadcast, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        ) from err
    dtype = check_same_dtype(a=a, b=b)  # one floating dtype (integer tensors are converted)
    return (a.to(dtype) * b.to(dtype)).sum(-1) / a.shape[-1]


def overlaps(states: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """All overlaps ``m[b, i] = states[b] . patterns[i] / d`` (the book's ``X^T xi / d``).

    Parameters
    ----------
    states : torch.Tensor, shape ``[B, d]`` or ``[d]``
    patterns : torch.Tensor, shape ``[N, d]``

    Returns
    -------
    torch.Tensor, shape ``[B, N]`` (or ``[N]`` for one state)
    """
    check_tensor(states, "states", ndim=(1, 2))
    check_tensor(patterns, "patterns", ndim=2)
    check_same_device(states=states, patterns=patterns)
    if states.shape[-1] != patterns.shape[-1]:
        raise ValueError(
            f"states must have last dimension {patterns.shape[-1]} to match patterns, "
            f"got shape {tuple(states.shape)}"
        )
    dtype = check_same_dtype(states=states, patterns=patterns)
    return states.to(dtype) @ patterns.to(dtype).T / patterns.shape[-1]


def corrupt(
    patterns: torch.Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
    exact: bool = True,
) -> torch.Tensor:
    """Flip a fraction of the entries of +-1 patterns (a corrupted cue).

    Parameters
    ----------
    patterns : torch.Tensor, shape ``[d]`` or ``[B, d]``
        +-1 patterns.
    fraction : float in [0, 1]
        Fraction of entries to flip.
    generator : torch.Generator, optional
        Source of randomness, on the device of ``patterns``.
    exact : bool
        If True (default) flip exactly ``round(fraction * d)`` entries of each row, chosen
        uniformly; otherwise flip each entry independently with probability ``fraction``.

    Returns
    -------
    torch.Tensor
        A new tensor of the shape and dtype of ``patterns``.
    """
    check_tensor(patterns, "patterns", ndim=(1, 2))
    check_pm1(patterns, "patterns")
    p = check_probability(fraction, "fraction")
    check_generator(generator, device=patterns.device)
    x = patterns.unsqueeze(0) if patterns.dim() == 1 else patterns
    b, d = x.shape
    u = torch.rand(b, d, generator=generator, device=x.device)
    if exact:
        k = int(round(p * d))
        ranks = u.argsort(dim=1).argsort(dim=1)
        flip = ranks < k
    else:
        flip = u < p
    out = torch.where(flip, -x, x)
    return out[0] if patterns.dim() == 1 else out


def mixture_state(patterns: torch.Tensor) -> torch.Tensor:
    """The symmetric mixture ``sign(x_1 + ... + x_k)`` of an odd number of patterns.

    Chapter 2, :math:numref:`eq-hopfield-mixture`: a spurious fixed point of the Hebbian network
    whose
    overlap with each of its three components is 1/2 on average.

    Parameters
    ----------
    patterns : torch.Tensor, shape ``[k, d]`` with ``k`` odd

    Returns
    -------
    torch.Tensor, shape ``[d]``
    """
    x = _check_patterns(patterns)
    if x.shape[0] % 2 == 0:
        raise ValueError(f"patterns must hold an odd number of rows, got {x.shape[0]}")
    return torch.sign(x.sum(0))


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RecallResult(Result):
    """Result of :meth:`HopfieldNetwork.recall`.

    Attributes
    ----------
    states : torch.Tensor, shape ``[B, d]`` (or ``[d]`` for one cue)
        Final states.
    converged : torch.Tensor of bool, shape ``[B]`` (or ``[]``)
        Whether the final state is a fixed point (no unit would change).
    sweeps : torch.Tensor of int64, shape ``[B]`` (or ``[]``)
        Sweeps performed on each state before it was found to be a fixed point (0 if the cue
        already was one; ``max_sweeps`` if it never converged).

    Notes
    -----
    Earlier versions returned a named tuple. Unpacking (``states, converged, sweeps = res``) and
    integer indexing (``res[0]``) still work but are deprecated; read the attributes instead.
    """

    states: torch.Tensor
    converged: torch.Tensor
    sweeps: torch.Tensor

    def __iter__(self) -> Iterator:  # type: ignore[override]
        warnings.warn(
            "unpacking a RecallResult as (states, converged, sweeps) is deprecated; use "
            "res.states, res.converged and res.sweeps",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self.states, self.converged, self.sweeps))

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            warnings.warn(
                "indexing a RecallResult by position is deprecated; use res.states, "
                "res.converged and res.sweeps",
                DeprecationWarning,
                stacklevel=2,
            )
            return (self.states, self.converged, self.sweeps)[key]
        return super().__getitem__(key)


@dataclasses.dataclass(frozen=True)
class OneStepErrorRate(Result):
    """Result of :func:`one_step_error_rate` (also readable as ``res["rate"]``).

    Attributes
    ----------
    alpha : float
        The load ``N / d``.
    rate : float
        Mean fraction of units that flip in one synchronous step from a stored pattern.
    sem : float
        Standard error of ``rate`` over the independent networks.
    units : int
        Number of tested units (``N d`` per network, times the number of networks).
    """

    alpha: float
    rate: float
    sem: float
    units: int


@dataclasses.dataclass(frozen=True)
class RecallExperiment(Result):
    """Result of :func:`recall_experiment` (also readable as ``res["overlap"]``).

    Every field is a tensor of shape ``[trials * min(n_cues, n_patterns)]``, one entry per cue.

    Attributes
    ----------
    overlap : torch.Tensor
        Final overlap with the target pattern.
    prototype : torch.Tensor
        Final overlap with the majority vote ``sign(sum of patterns)`` of the stored set.
    stable : torch.Tensor of bool
        Whether the target itself is a fixed point.
    converged : torch.Tensor of bool
        Whether recall ended at a fixed point.
    sweeps : torch.Tensor of int64
        Sweeps used by recall.
    """

    overlap: torch.Tensor
    prototype: torch.Tensor
    stable: torch.Tensor
    converged: torch.Tensor
    sweeps: torch.Tensor


class HopfieldNetwork(nn.Module):
    r"""A classical Hopfield network of ``d`` binary units (chapter 2).

    Parameters
    ----------
    d : int
        Number of units.
    rule : {"hebbian", "storkey", "pseudoinverse"}
        Storage rule used by :meth:`store`.
    matrix_free : bool or None
        Hebbian rule only. If True, never form the ``[d, d]`` weights: keep the patterns and
        compute fields as ``a = X (X^T xi) / d - (N/d) xi`` (``(states @ patterns.T) @ patterns / d
        - N/d * states`` in code), which costs ``O(N d)`` instead of ``O(d^2)`` per state. If None
        (default) it is used when ``d > MATRIX_FREE_THRESHOLD`` and ``N < d``.
    device, dtype :
        Where and in which floating dtype the weights live (default: CPU, default dtype).

    Notes
    -----
    At zero local field a unit keeps its current value (chapter 2,
    :math:numref:`eq-hopfield-update`).
    For the Hebbian rule, fields are computed from the integer matrix ``X X^T`` (or the integer
    overlaps ``X^T s``) and divided by ``d`` afterwards, so a field that is exactly 0 in exact
    arithmetic is exactly 0 here too, and ties follow the convention.

    Examples
    --------
    >>> x = torch.tensor([[1., -1, 1, -1, 1, 1], [1, 1, -1, -1, 1, -1]])
    >>> net = HopfieldNetwork(6).store(x)
    >>> res = net.recall(x)
    >>> bool(res.converged.all()), bool((res.states == x).all())
    (True, True)
    """

    weights: torch.Tensor
    patterns: torch.Tensor

    def __init__(
        self,
        d: int,
        rule: str = "hebbian",
        matrix_free: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.d = check_int(d, "d", minimum=1)
        self.rule = check_choice(rule, "rule", RULES)
        if matrix_free is not None and not isinstance(matrix_free, bool):
            raise TypeError(f"matrix_free must be a bool or None, got {type(matrix_free).__name__}")
        if matrix_free and rule != "hebbian":
            raise ValueError(f"matrix_free=True needs rule='hebbian', got rule={rule!r}")
        self.matrix_free_option = matrix_free
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.register_buffer("weights", torch.zeros(self.d, self.d, dtype=dtype, device=device))
        self.register_buffer("patterns", torch.zeros(0, self.d, dtype=dtype, device=device))
        # weights used for the fields: round(W d) for the Hebbian rule (exact integers), else W
        self.register_buffer("_field_w", self.weights.clone(), persistent=False)
        self._dense = True

    def _refresh(self) -> None:
        """Recompute the field weights after the stored weights changed."""
        if not self._dense:
            self._field_w = torch.zeros(0, 0, dtype=self.weights.dtype, device=self.weights.device)
        elif self.rule == "hebbian" and self.n_patterns > 0:
            self._field_w = torch.round(self.weights * self.d)
        else:
            self._field_w = self.weights

    @property
    def _scale(self) -> float:
        """Factor between ``_field_w`` (or the matrix-free fields) and the true fields."""
        hebb = self.rule == "hebbian" and self.n_patterns > 0
        return float(self.d) if (hebb or not self._dense) else 1.0

    # ---- storage --------------------------------------------------------------------------
    @property
    def matrix_free(self) -> bool:
        """True when fields are computed from the stored patterns without forming W."""
        return not self._dense

    @property
    def n_patterns(self) -> int:
        """Number of stored patterns ``N``."""
        return int(self.patterns.shape[0])

    def store(self, patterns: torch.Tensor) -> HopfieldNetwork:
        """Store ``patterns`` (replacing what was stored) with the network's rule.

        Parameters
        ----------
        patterns : torch.Tensor, shape ``[N, d]``
            +-1 patterns as rows; moved to the network's device and dtype.

        Returns
        -------
        HopfieldNetwork
            ``self``, so that ``HopfieldNetwork(d).store(x)`` reads naturally.
        """
        check_tensor(patterns, "patterns", ndim=2)
        if patterns.shape[1] != self.d:
            raise ValueError(
                f"patterns must have shape [N, {self.d}] to match d, got {tuple(patterns.shape)}"
            )
        check_pm1(patterns, "patterns")
        x = patterns.to(device=self.weights.device, dtype=self.weights.dtype)
        n = x.shape[0]
        use_free = self.matrix_free_option
        if use_free is None:
            use_free = self.rule == "hebbian" and self.d > MATRIX_FREE_THRESHOLD and n < self.d
        self._dense = not use_free
        self.patterns = x.clone()
        if self._dense:
            fn = {"hebbian": hebbian, "storkey": storkey, "pseudoinverse": pseudoinverse}
            self.weights = fn[self.rule](x)
        else:
            self.weights = torch.zeros(0, 0, dtype=x.dtype, device=x.device)
        self._refresh()
        return self

    def set_weights(self, weights: torch.Tensor) -> HopfieldNetwork:
        """Use arbitrary symmetric ``weights`` (for example random couplings).

        The energy-descent guarantee needs a symmetric ``W`` with a non-negative diagonal
        (chapter 2, theorem ``thm-hopfield-descent``), so both are required.

        Parameters
        ----------
        weights : torch.Tensor, shape ``[d, d]``

        Returns
        -------
        HopfieldNetwork
            ``self``.
        """
        _check_weights(weights)
        if weights.shape[0] != self.d:
            raise ValueError(f"weights must have shape [{self.d}, {self.d}], got {weights.shape}")
        if not torch.allclose(weights, weights.T):
            raise ValueError("weights must be symmetric")
        if bool((torch.diagonal(weights) < 0).any()):
            raise ValueError("weights must have a non-negative diagonal")
        self.weights = weights.to(device=self.weights.device, dtype=self.weights.dtype).clone()
        self.patterns = torch.zeros(0, self.d, dtype=self.weights.dtype, device=self.weights.device)
        self._dense = True
        self._refresh()
        return self

    @property
    def W(self) -> torch.Tensor:
        """The ``[d, d]`` weight matrix (alias of :meth:`dense_weights`)."""
        return self.dense_weights()

    def dense_weights(self) -> torch.Tensor:
        """The ``[d, d]`` weights (formed from the patterns on a matrix-free network)."""
        if self._dense:
            return self.weights
        return hebbian(self.patterns)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        # The buffers change shape with what was stored: resize before the strict copy.
        for name in ("weights", "patterns"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key], device=self.weights.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._dense = not (self.weights.numel() == 0 and self.patterns.shape[0] > 0)
        self._refresh()

    # ---- fields and energy ----------------------------------------------------------------
    def _prep(self, states: torch.Tensor, name: str = "states") -> tuple[torch.Tensor, bool]:
        _check_states(states, self.d, name)
        if states.device != self.weights.device:
            raise ValueError(
                f"{name} is on {states.device} but the network is on {self.weights.device}"
            )
        single = states.dim() == 1
        s = states.unsqueeze(0) if single else states
        return s.to(self.weights.dtype), single

    def _scaled_field(self, s: torch.Tensor) -> torch.Tensor:
        """Fields times ``d`` for the Hebbian rule (integer-valued, exact), else the fields."""
        if not self._dense:
            x = self.patterns
            return (s @ x.T) @ x - x.shape[0] * s
        return s @ self._field_w

    def local_field(self, states: torch.Tensor) -> torch.Tensor:
        """Local fields ``h = W s`` of a state ``[d]`` or batch ``[B, d]`` (same shape)."""
        s, single = self._prep(states)
        h = self._scaled_field(s) / self._scale
        return h[0] if single else h

    def energy(self, states: torch.Tensor) -> torch.Tensor:
        """Energy ``E = -1/2 s^T W s`` of a state ``[d]`` or batch ``[B, d]`` (chapter 2).

        On a matrix-free network this is ``-1/2 (|X^T s|^2 - N |s|^2) / d``.
        """
        s, single = self._prep(states)
        if self._dense:
            e = energy(self.weights, s)
        else:
            x = self.patterns
            m = s @ x.T  # [B, N]
            e = -0.5 * ((m * m).sum(-1) - x.shape[0] * (s * s).sum(-1)) / self.d
        return e[0] if single else e

    def is_fixed_point(self, states: torch.Tensor) -> torch.Tensor:
        """True where no unit would change: ``xi_j a_j >= 0`` for every ``j`` (ties keep)."""
        s, single = self._prep(states)
        ok = ((s * self._scaled_field(s)) >= 0).all(-1)
        return ok[0] if single else ok

    # ---- dynamics ---------------------------------------------------------------------------
    def update(
        self,
        states: torch.Tensor,
        mode: str = "async",
        sweeps: int = 1,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""Run ``sweeps`` sweeps of the deterministic (zero-temperature) dynamics.

        ``mode="async"``: in each sweep, every state of the batch visits all ``d`` units in its
        own random order, one at a time, setting ``xi_j <- sign(a_j)`` (kept at ``a_j = 0``) with
        the field computed from the current state (chapter 2, :math:numref:`eq-hopfield-update`).
        The
        loop over the ``d`` steps of a sweep is inherent to the definition; each step is
        vectorised over the batch. ``mode="sync"``: all units at once, ``s <- sign(W s)``.

        Parameters
        ----------
        states : torch.Tensor, shape ``[d]`` or ``[B, d]``
            +-1 states on the network's device.
        mode : {"async", "sync"}
        sweeps : int >= 0
        generator : torch.Generator, optional
            Random orders of the asynchronous updates (on the network's device). Each
            asynchronous sweep draws one ``torch.rand(B, d, generator=generator)`` (default
            float dtype) and state ``b`` visits its units in the order ``argsort`` of row ``b``;
            nothing else draws random numbers.

        Returns
        -------
        torch.Tensor
            New states, same shape and dtype as ``states``.
        """
        check_choice(mode, "mode", ("async", "sync"))
        sweeps = check_int(sweeps, "sweeps", minimum=0)
        s, single = self._prep(states)
        check_generator(generator, device=s.device)
        s = s.clone()
        for _ in range(sweeps):
            s = self._sync_sweep(s) if mode == "sync" else self._async_sweep(s, generator)
        out = s.to(states.dtype)
        return out[0] if single else out

    def step(self, states: torch.Tensor, units: torch.Tensor | int) -> torch.Tensor:
        """Update one unit of each state: ``xi_j <- sign(a_j)``, kept at ``a_j = 0``.

        The elementary move of the asynchronous dynamics (chapter 2,
        :math:numref:`eq-hopfield-update`);
        :meth:`update` with ``mode="async"`` is ``d`` such steps per sweep.

        Parameters
        ----------
        states : torch.Tensor, shape ``[d]`` or ``[B, d]``
        units : int or torch.Tensor of int64, shape ``[]`` or ``[B]``
            The unit to update in each state.

        Returns
        -------
        torch.Tensor
            New states (a copy), same shape as ``states``.
        """
        s, single = self._prep(states)
        if isinstance(units, torch.Tensor):
            if (
                units.is_floating_point()
                or units.is_complex()
                or units.dtype == torch.bool
                or units.dim() > 1
            ):
                raise TypeError(
                    f"units must be an int or a 0-d/1-d integer tensor, got dtype {units.dtype} "
                    f"and shape {tuple(units.shape)}"
                )
            u = units.to(device=s.device, dtype=torch.long).reshape(-1)
        else:
            u = torch.tensor([check_int(units, "units")], device=s.device)
        if u.numel() == 1:
            u = u.expand(s.shape[0])
        if u.numel() != s.shape[0]:
            raise ValueError(f"units must hold one unit per state ({s.shape[0]}), got {u.numel()}")
        if bool(((u < 0) | (u >= self.d)).any()):
            raise ValueError(f"units must lie in [0, {self.d - 1}]")
        s = s.clone()
        rows = torch.arange(s.shape[0], device=s.device)
        h = (self._scaled_rows(u) * s).sum(-1)  # [B]
        s[rows, u] = _sign_keep(h, s[rows, u])
        out = s.to(states.dtype)
        return out[0] if single else out

    def _sync_sweep(self, s: torch.Tensor) -> torch.Tensor:
        return _sign_keep(self._scaled_field(s), s)

    def _scaled_rows(self, units: torch.Tensor) -> torch.Tensor:
        """Rows ``units`` of the weights used for the fields (formed on the fly if matrix-free)."""
        if self._dense:
            return self._field_w[units]  # [F, d]
        x = self.patterns  # [N, d]
        rows = x[:, units].T @ x  # [F, d] = rows of X^T X (integers)
        rows[torch.arange(units.numel(), device=x.device), units] = 0  # zero diagonal
        return rows

    def _async_sweep(self, s: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One asynchronous sweep: each state visits its units in its own random order.

        Between two flips of a state nothing changes, so the next unit that changes is the
        first unit, later in the state's order, whose sign disagrees with its current field.
        The loop below jumps from flip to flip (vectorised over the batch) instead of stepping
        through the ``d`` units one at a time; the resulting trajectory is exactly that of the
        one-unit-at-a-time definition.
        """
        b, d = s.shape
        order = torch.rand(b, d, generator=generator, device=s.device).argsort(dim=1)  # [B, d]
        steps = torch.arange(d, device=s.device)
        h = self._scaled_field(s)  # [B, d] current fields (times the scale)
        pos = torch.zeros(b, dtype=torch.long, device=s.device)  # next position in the order
        live = torch.arange(b, device=s.device)  # states that may still flip in this sweep
        while live.numel() > 0:
            unstable = (h[live] * s[live]) < 0  # [L, d]: would flip if visited now
            cand = unstable.gather(1, order[live]) & (steps[None, :] >= pos[live, None])  # [L, d]
            has = cand.any(1)
            live = live[has]
            if live.numel() == 0:
                break
            p = cand[has].int().argmax(1)  # first unstable position at or after pos
            units = order[live, p]  # [F]
            old = s[live, units]
            s[live, units] = -old
            h[live] -= (2 * old)[:, None] * self._scaled_rows(units)
            pos[live] = p + 1
        return s

    def recall(
        self,
        cues: torch.Tensor,
        max_sweeps: int = 100,
        mode: str = "async",
        generator: torch.Generator | None = None,
    ) -> RecallResult:
        """Run the dynamics from ``cues`` until each state is a fixed point.

        After every sweep each state is checked: a state where no unit would change
        (``xi_j a_j >= 0`` for all ``j``) is a fixed point, is marked converged and is no longer
        updated. Synchronous dynamics can end in a 2-cycle, which is reported as not converged.

        Parameters
        ----------
        cues : torch.Tensor, shape ``[d]`` or ``[B, d]``
            +-1 starting states.
        max_sweeps : int >= 0
            Most sweeps per state.
        mode : {"async", "sync"}
        generator : torch.Generator, optional
            Random orders of the asynchronous updates: before each sweep, the ``B'`` states
            that are not yet fixed points (in batch order) draw one
            ``torch.rand(B', d, generator=generator)``, and each visits its units in the order
            ``argsort`` of its row, as in :meth:`update`. A cue that is already a fixed point
            draws nothing. Chapter 2 rebuilds this recall from scratch and reproduces it
            exactly.

        Returns
        -------
        RecallResult
            ``(states, converged, sweeps)``; the energies of the final states are
            ``self.energy(result.states)``.
        """
        check_choice(mode, "mode", ("async", "sync"))
        max_sweeps = check_int(max_sweeps, "max_sweeps", minimum=0)
        s, single = self._prep(cues, "cues")
        check_generator(generator, device=s.device)
        s = s.clone()
        b = s.shape[0]
        converged = self.is_fixed_point(s)
        used = torch.zeros(b, dtype=torch.int64, device=s.device)
        for _ in range(max_sweeps):
            active = (~converged).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            sa = s[active]
            sa = self._sync_sweep(sa) if mode == "sync" else self._async_sweep(sa, generator)
            s[active] = sa
            used[active] += 1
            converged[active] = self.is_fixed_point(sa)
        out = s.to(cues.dtype)
        if single:
            return RecallResult(out[0], converged[0], used[0])
        return RecallResult(out, converged, used)

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, rule={self.rule!r}, n_patterns={self.n_patterns}, "
            f"matrix_free={self.matrix_free}"
        )


# --------------------------------------------------------------------------------------------
# theory
# --------------------------------------------------------------------------------------------
def one_step_error_theory(alpha: float | torch.Tensor) -> float | torch.Tensor:
    r"""Large-``d`` one-step error rate ``Phi(-1/sqrt(alpha))`` of the Hebbian network.

    Chapter 2, :math:numref:`eq-hopfield-perror`: starting at a stored pattern, the probability
    that a
    unit's local field has the wrong sign, with ``alpha = N / d`` and ``Phi`` the standard
    normal distribution function.

    Parameters
    ----------
    alpha : float or tensor, > 0

    Returns
    -------
    float or torch.Tensor (like the input)
    """
    if isinstance(alpha, torch.Tensor):
        check_tensor(alpha, "alpha", floating=True)
        if bool((alpha <= 0).any()):
            raise ValueError("alpha must be > 0")
        return torch.special.ndtr(-1.0 / torch.sqrt(alpha))
    from ._validation import check_positive

    a = check_positive(alpha, "alpha")
    return 0.5 * math.erfc(1.0 / math.sqrt(2.0 * a))


def one_step_error_exact(N: int, d: int) -> float:
    r"""Exact one-step error probability of one unit for random patterns, finite ``N`` and ``d``.

    With zero-diagonal Hebbian weights ``W = X X^T / d`` and the state at pattern ``x_1``,
    ``d x_1j a_j = (d - 1) + C_j`` where the crosstalk ``C_j`` is a sum of
    ``n_c = (N - 1)(d - 1)`` independent +-1 terms. A unit is wrong when ``C_j < -(d - 1)`` (a
    zero field keeps the unit, so equality is not an error):

    .. math:: P = \Pr[n_+ < (n_c - d + 1)/2], \quad n_+ \sim \mathrm{Binomial}(n_c, 1/2)

    (chapter 2, :math:numref:`eq-hopfield-perror-exact`). Its normal approximation is
    ``Phi(-sqrt((d - 1)/(N - 1)))``, close to ``Phi(-1/sqrt(alpha))``.

    Parameters
    ----------
    N : int >= 1
        Number of stored random patterns.
    d : int >= 1
        Number of units.

    Returns
    -------
    float
    """
    binom = require("scipy.stats", "theory", feature="hopfield.one_step_error_exact").binom

    N = check_int(N, "N", minimum=1)
    d = check_int(d, "d", minimum=1)
    m = (N - 1) * (d - 1)
    if m == 0:
        return 0.0
    # n_+ < (n_c - d + 1) / 2  <=>  n_+ <= ceil((n_c - d + 1) / 2) - 1
    k_max = math.ceil((m - d + 1) / 2) - 1
    return float(binom.cdf(k_max, m, 0.5)) if k_max >= 0 else 0.0


def _ags_g(y: float) -> float:
    # g(y) = erf(y)/y - 2/sqrt(pi) exp(-y^2): the retrieval state has g(y) = sqrt(2 alpha)
    return math.erf(y) / y - 2.0 / math.sqrt(math.pi) * math.exp(-y * y)


def _ags_argmax() -> float:
    lo, hi = 0.1, 5.0  # g is unimodal on (0, inf): golden-section search for its maximum
    phi = (math.sqrt(5) - 1) / 2
    for _ in range(200):
        a = hi - phi * (hi - lo)
        b = lo + phi * (hi - lo)
        if _ags_g(a) < _ags_g(b):
            lo = a
        else:
            hi = b
    return (lo + hi) / 2


def ags_critical_alpha() -> float:
    r"""Zero-temperature storage capacity ``alpha_c ~ 0.138`` (Amit, Gutfreund, Sompolinsky).

    The replica-symmetric retrieval state at ``T = 0`` solves
    ``y (sqrt(2 alpha) + 2/sqrt(pi) exp(-y^2)) = erf(y)`` with ``m = erf(y)`` (chapter 2,
    :math:numref:`eq-hopfield-ags`); a solution exists iff ``sqrt(2 alpha) <= max_y g(y)`` with
    ``g(y) = erf(y)/y - 2/sqrt(pi) exp(-y^2)``, so ``alpha_c = (max g)^2 / 2``.

    Returns
    -------
    float
        ``alpha_c = 0.1379...``
    """
    return _ags_g(_ags_argmax()) ** 2 / 2


def ags_overlap(alpha: float) -> float:
    """Overlap ``m`` of the zero-temperature retrieval state (AGS theory), or NaN above alpha_c.

    Solves :math:numref:`eq-hopfield-ags` of chapter 2 on its retrieval branch (the largest root).

    Parameters
    ----------
    alpha : float >= 0
        Load ``N / d``.

    Returns
    -------
    float
        ``m(alpha)`` (1 at alpha = 0, about 0.967 at alpha_c), ``nan`` for ``alpha > alpha_c``
        where no retrieval state exists.
    """
    from ._validation import check_nonnegative

    a = check_nonnegative(alpha, "alpha")
    if a == 0:
        return 1.0
    target = math.sqrt(2 * a)
    y_star = _ags_argmax()
    if _ags_g(y_star) < target:
        return math.nan
    lo, hi = y_star, 50.0  # g decreases from its maximum to 0 on [y_star, inf)
    for _ in range(200):
        mid = (lo + hi) / 2
        if _ags_g(mid) > target:
            lo = mid
        else:
            hi = mid
    return math.erf((lo + hi) / 2)


# --------------------------------------------------------------------------------------------
# experiments
# --------------------------------------------------------------------------------------------
def one_step_error_rate(
    d: int,
    n_patterns: int,
    trials: int = 4,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> OneStepErrorRate:
    """Measured fraction of units that flip after one synchronous step from a stored pattern.

    For each of ``trials`` independent sets of ``n_patterns`` random patterns, store them with
    the Hebbian rule, apply one synchronous update to every stored pattern and count the units
    that changed (chapter 2, :math:numref:`eq-hopfield-perror-exact` and
    :math:numref:`eq-hopfield-perror`).
    Errors of different units of one network are correlated through the shared overlaps, so
    the standard error is computed from the spread between the independent trials.

    Parameters
    ----------
    d, n_patterns : int
        Units and stored patterns.
    trials : int >= 2
        Independent networks.
    generator : torch.Generator, optional
        CPU generator for the patterns.
    device : torch.device or str, optional

    Returns
    -------
    OneStepErrorRate
        ``rate`` (mean error rate), ``sem`` (standard error over trials), ``alpha`` (N/d),
        ``units`` (number of tested units); also readable as ``res["rate"]``.
    """
    d = check_int(d, "d", minimum=2)
    n = check_int(n_patterns, "n_patterns", minimum=1)
    trials = check_int(trials, "trials", minimum=2)
    from .data import random_patterns

    rates = []
    for _ in range(trials):
        x = random_patterns(n, d, generator=generator, device=device)
        net = HopfieldNetwork(d, device=x.device, dtype=x.dtype).store(x)
        rates.append(float((net.update(x, mode="sync") != x).double().mean()))
    r = torch.tensor(rates, dtype=torch.float64)
    return OneStepErrorRate(
        alpha=n / d,
        rate=float(r.mean()),
        sem=float(r.std() / math.sqrt(trials)),
        units=n * d * trials,
    )


def recall_experiment(
    d: int,
    n_patterns: int,
    rule: str = "hebbian",
    corruption: float = 0.0,
    correlation: float = 0.0,
    n_cues: int = 20,
    trials: int = 1,
    max_sweeps: int = 100,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> RecallExperiment:
    """Store random patterns, recall some of them from (corrupted) cues, report final overlaps.

    The building block of the capacity and interference experiments of chapter 2. Each trial
    draws ``n_patterns`` random patterns (with pairwise ``correlation`` as in
    :func:`ebmlib.data.random_patterns`), stores them with ``rule``, flips a fraction
    ``corruption`` of the units of the first ``n_cues`` patterns and runs asynchronous recall.

    Parameters
    ----------
    d, n_patterns : int
    rule : {"hebbian", "storkey", "pseudoinverse"}
    corruption : float in [0, 1]
    correlation : float in [0, 1]
    n_cues : int
        Patterns recalled per trial (at most ``n_patterns`` are used).
    trials : int
        Independent pattern sets.
    max_sweeps : int
    generator : torch.Generator, optional
        CPU generator for patterns, corruption and update orders.
    device : torch.device or str, optional

    Returns
    -------
    RecallExperiment
        Tensors of shape ``[trials * min(n_cues, n_patterns)]`` (also readable as
        ``res["overlap"]``): ``overlap`` (final overlap with the target), ``prototype`` (final
        overlap with the majority vote ``sign(sum of patterns)`` of the stored set), ``stable``
        (whether the target itself is a fixed point), ``converged``, ``sweeps``.
    """
    from .data import random_patterns

    d = check_int(d, "d", minimum=2)
    n = check_int(n_patterns, "n_patterns", minimum=1)
    check_choice(rule, "rule", RULES)
    corruption = check_probability(corruption, "corruption")
    correlation = check_probability(correlation, "correlation")
    n_cues = min(check_int(n_cues, "n_cues", minimum=1), n)
    trials = check_int(trials, "trials", minimum=1)
    check_generator(generator, device="cpu")
    out: dict[str, list[torch.Tensor]] = {
        "overlap": [],
        "prototype": [],
        "stable": [],
        "converged": [],
        "sweeps": [],
    }
    for _ in range(trials):
        x = random_patterns(n, d, correlation=correlation, generator=generator)
        cues = corrupt(x[:n_cues], corruption, generator=generator)
        proto = torch.where(x.sum(0) >= 0, 1.0, -1.0).to(x.dtype)
        net = HopfieldNetwork(d, rule=rule, dtype=x.dtype).store(x)
        if device is not None:
            net = net.to(device)
            cues = cues.to(device)
        res = net.recall(
            cues,
            max_sweeps=max_sweeps,
            generator=generator if (device is None or torch.device(device).type == "cpu") else None,
        )
        final = res.states.cpu()
        out["overlap"].append(overlap(final, x[:n_cues]))
        out["prototype"].append(overlap(final, proto))
        out["stable"].append(net.is_fixed_point(x[:n_cues].to(net.weights.device)).cpu())
        out["converged"].append(res.converged.cpu())
        out["sweeps"].append(res.sweeps.cpu())
    return RecallExperiment(**{k: torch.cat(v) for k, v in out.items()})


#: Labels returned by :func:`classify_states`.
STATE_CLASSES = ("pattern", "reversed", "3-mixture", "other")


def classify_states(
    states: torch.Tensor, patterns: torch.Tensor, tol: float = 0.15
) -> torch.Tensor:
    """Sort final states into stored patterns, reversed patterns, 3-mixtures and others.

    With ``m`` the overlaps of a state with the stored patterns (chapter 2, spurious states):
    ``pattern`` if some ``m_i > 1 - tol``; ``reversed`` if some ``m_i < -(1 - tol)``;
    ``3-mixture`` if the three largest ``|m_i|`` lie within ``tol`` of 1/2
    (:math:numref:`eq-hopfield-mixture`) and all others are below ``1/2 - tol``; else ``other``.

    Parameters
    ----------
    states : torch.Tensor, shape ``[B, d]``
    patterns : torch.Tensor, shape ``[N, d]``
    tol : float in (0, 1/2)

    Returns
    -------
    torch.Tensor of int64, shape ``[B]``
        Index into :data:`STATE_CLASSES`.
    """
    check_probability(tol, "tol")
    m = overlaps(states, patterns)  # [B, N]
    if m.dim() == 1:
        m = m.unsqueeze(0)
    out = torch.full((m.shape[0],), 3, dtype=torch.long, device=m.device)
    top = m.abs().sort(dim=1, descending=True).values
    if m.shape[1] >= 3:
        rest_ok = top[:, 3] < 0.5 - tol if m.shape[1] > 3 else torch.ones_like(out, dtype=bool)
        mix = ((top[:, :3] - 0.5).abs() < tol).all(1) & rest_ok
        out[mix] = 2
    out[(m < -(1 - tol)).any(1)] = 1
    out[(m > 1 - tol).any(1)] = 0
    return out


def _as_real_vector(x: Any, name: str) -> torch.Tensor:
    """A finite real sequence or tensor as a float64 vector, or a ``TypeError``/``ValueError``
    naming ``name``."""
    if isinstance(x, (str, bytes)) or not isinstance(x, (torch.Tensor, list, tuple)):
        raise TypeError(f"{name} must be a sequence or tensor of numbers, got {type(x).__name__}")
    if isinstance(x, torch.Tensor) and (x.is_complex() or x.dtype == torch.bool):
        raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {x.dtype}")
    try:
        v = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a sequence or tensor of real numbers") from err
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite, got {x}")
    return v


def estimate_capacity(
    alphas: torch.Tensor | list[float], retrieved: torch.Tensor | list[float], level: float = 0.5
) -> float:
    """Load at which the fraction of successful recalls first falls below ``level``.

    Linear interpolation between the two grid points that bracket the crossing (chapter 2,
    capacity section); ``nan`` if the curve never crosses.

    Parameters
    ----------
    alphas : increasing sequence of loads ``N / d``
    retrieved : fraction of recalls counted as successful at each load
    level : float in (0, 1)

    Returns
    -------
    float
    """
    a = _as_real_vector(alphas, "alphas")
    r = _as_real_vector(retrieved, "retrieved")
    check_same_dtype(alphas=alphas, retrieved=retrieved)
    if a.numel() != r.numel() or a.numel() < 2:
        raise ValueError("alphas and retrieved must have the same length (at least 2)")
    if not bool((a[1:] > a[:-1]).all()):
        raise ValueError("alphas must be increasing")
    check_probability(level, "level")
    for k in range(1, a.numel()):
        if r[k - 1] >= level > r[k]:
            t = (r[k - 1] - level) / (r[k - 1] - r[k])
            return float(a[k - 1] + t * (a[k] - a[k - 1]))
    return math.nan


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------
DEMO_LETTERS = "HOXTLVCZSI"


def draw_recall(
    n_patterns: int = 4,
    corruption: float = 0.2,
    rule: str = "hebbian",
    seed: int = 0,
    size: int = 12,
    ax=None,  # noqa: ANN001
):
    """Store glyphs, corrupt the first one, recall it, and draw cue | recall | target.

    The interactive demo of chapter 2: store the first ``n_patterns`` letters of
    ``DEMO_LETTERS`` as ``size x size`` glyphs, flip a fraction ``corruption`` of the pixels of
    the letter "H", run asynchronous recall and show the three images side by side, with the
    final overlap in the title.

    Parameters
    ----------
    n_patterns : int in [1, 10]
    corruption : float in [0, 1]
    rule : {"hebbian", "storkey", "pseudoinverse"}
    seed : int
        Seed of the corruption and of the update order.
    size : int
        Glyph side in pixels.
    ax : matplotlib Axes, optional
        Where to draw (a new figure if None).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into; ``ax.recall_overlap`` holds the final overlap.
    """
    import numpy as np

    from .data import glyphs

    plt = require("matplotlib.pyplot", "viz", feature="hopfield.draw_recall")

    n_patterns = check_int(n_patterns, "n_patterns", minimum=1)
    if n_patterns > len(DEMO_LETTERS):
        raise ValueError(f"n_patterns must be <= {len(DEMO_LETTERS)}, got {n_patterns}")
    check_probability(corruption, "corruption")
    check_choice(rule, "rule", RULES)
    seed = check_int(seed, "seed")
    x = glyphs(DEMO_LETTERS[:n_patterns], size=size, dtype=torch.float64)
    d = x.shape[1]
    net = HopfieldNetwork(d, rule=rule, dtype=torch.float64).store(x)
    g = torch.Generator().manual_seed(seed)
    cue = corrupt(x[0], corruption, generator=g)
    res = net.recall(cue, generator=g)
    m = float(overlap(res.states, x[0]))
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 1.9))
    gap = np.full((size, 1), np.nan)
    img = np.concatenate(
        [
            cue.view(size, size).numpy(),
            gap,
            res.states.view(size, size).numpy(),
            gap,
            x[0].view(size, size).numpy(),
        ],
        axis=1,
    )
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(img, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([size / 2 - 0.5, 1.5 * size + 0.5, 2.5 * size + 1.5])
    ax.set_xticklabels(["cue", "recalled", "target"], fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"N={n_patterns}, flipped {corruption:.0%}: m={m:.2f}", fontsize=9)
    ax.recall_overlap = m
    return ax
