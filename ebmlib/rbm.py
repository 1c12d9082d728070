"""Restricted Boltzmann machines with Bernoulli units (chapter 7).

An RBM couples visible units ``v in {0,1}^n_v`` and hidden units ``h in {0,1}^n_h`` through the
energy :math:numref:`eq-rbm-energy`

.. math::

    E(v, h) = -v^\\top b - h^\\top c - v^\\top W h ,

with no visible-visible and no hidden-hidden couplings. Summing the hidden units out gives the
free energy :math:numref:`eq-rbm-free-energy`

.. math::

    F(v) = -v^\\top b - \\sum_k \\mathrm{softplus}(c_k + v^\\top W_{:, k}) ,

so that ``p(v) = exp(-F(v)) / Z``. Batches are rows: ``v`` has shape ``[B, n_visible]`` and
``h`` has shape ``[B, n_hidden]``; the weight matrix ``W`` has shape ``[n_visible, n_hidden]``
(``W_jk`` couples visible unit ``j`` and hidden unit ``k``, as in chapter 7).

The module offers block Gibbs sampling (at any temperature ``T``), training by contrastive
divergence (CD-k), persistent contrastive divergence (PCD) and the exact gradient (tiny models),
and the ladder of likelihood estimates of chapter 7: the exact partition function by
enumeration of the smaller layer, annealed importance sampling (AIS) and the exact
pseudo-likelihood. Enumerated states follow the library's one order (:func:`binary_states`:
unit ``j`` is bit ``j`` of the state number).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as nnf
from torch import nn

from ._optional import require
from ._states import MAX_EXACT_UNITS, binary_states, state_chunks
from ._validation import (
    check_binary,
    check_choice,
    check_generator,
    check_int,
    check_last_dim,
    check_nonnegative,
    check_positive,
    check_probability,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from .utils import Result, progress

__all__ = [
    "RBM",
    "RBMHistory",
    "binary_states",
    "independent_log_likelihood",
    "draw_gibbs_chain",
    "MAX_EXACT_UNITS",
]


def enumerate_states(
    n: int,
    start: int = 0,
    stop: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Deprecated alias of :func:`binary_states` (since 0.2.0); same order, LSB first."""
    warnings.warn(
        "ebmlib.rbm.enumerate_states is deprecated since ebmlib 0.2.0; use "
        "ebmlib.rbm.binary_states (the same states in the same order)",
        DeprecationWarning,
        stacklevel=2,
    )
    return binary_states(n, start=start, stop=stop, dtype=dtype, device=device)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^x)`` accurate to the dtype's resolution (float64 too), with exact gradients.

    torch's default switches to the identity above 20, an error of up to ``2e-9`` that is
    visible in float64 checks; above 40 the error ``e^-40`` is below float64 resolution.
    """
    return nnf.softplus(x, threshold=40.0 if x.dtype == torch.float64 else 20.0)


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Samples ``1[u < p]`` with ``u`` uniform, drawn from ``generator``; same dtype as ``p``."""
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    return torch.lt(u, p, out=u)  # 1 where u < p, written over u: one pass, no new tensor


class _Statistics(NamedTuple):
    """What one gradient estimate needs (:math:numref:`eq-rbm-gradient`).

    The data term uses the rows ``v0`` and ``ph0 = p(h = 1 | v0)``; the model term either the
    chain samples ``vk`` and ``phk = p(h = 1 | vk)`` (CD and PCD) or the enumerated
    expectations ``exact = (E[v h^T], E[v], E[h])``.
    """

    v0: torch.Tensor  # [m, n_v] data rows
    ph0: torch.Tensor  # [m, n_h]
    vk: torch.Tensor | None = None  # [m', n_v] visible samples of the chains
    phk: torch.Tensor | None = None  # [m', n_h]
    exact: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    chains: torch.Tensor | None = None  # hidden state of persistent chains after the last step
    reconstruction: torch.Tensor | None = None  # p(v = 1 | h_0), h_0 ~ p(h | v0) (CD only)


def _gradient(s: _Statistics) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Data minus model statistics for ``(W, b, c)`` (:math:numref:`eq-rbm-gradient`).

    ``<v h^T>_data - <v h^T>_model`` with the hidden units of both terms summed out
    (``h -> p(h = 1 | v)``), and likewise ``<v>`` and ``<h>``.
    """
    m = s.v0.shape[0]
    gW = (s.v0 / m).T @ s.ph0  # <v h^T>_data, [n_v, n_h]
    gb, gc = s.v0.mean(0), s.ph0.mean(0)
    if s.exact is None:
        gW.addmm_(s.vk.T, s.phk, alpha=-1.0 / s.vk.shape[0])  # minus <v h^T>_model
        return gW, gb - s.vk.mean(0), gc - s.phk.mean(0)
    evh, ev, eh = s.exact
    return gW - evh, gb - ev, gc - eh


@dataclass
class RBMHistory(Result):
    """Training history of :meth:`RBM.fit`, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch number (1, 2, ...).
    time : list of float
        Cumulative training seconds (monitoring and callbacks excluded).
    lr : list of float
        Learning rate of the epoch's last update.
    reconstruction_error : list of float
        Mean over the epoch's rows and pixels of ``(p(v_j = 1 | h) - v_j)^2`` with
        ``h ~ p(h | v)``: the mean squared error of a one-step reconstruction. Empty when not
        recorded (see ``track_error`` of :meth:`RBM.fit`).
    log_likelihood : list of float
        Exact mean log-likelihood of ``monitor`` (NaN in epochs that were not evaluated);
        empty without ``monitor``.
    extra : dict of lists
        What ``callback`` returned, one list per key.
    """

    epoch: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    reconstruction_error: list[float] = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=dict)


def independent_log_likelihood(
    train: torch.Tensor, test: torch.Tensor, pseudocount: float = 1.0
) -> torch.Tensor:
    """Average log-likelihood of ``test`` under independent Bernoulli pixels fitted to ``train``.

    The baseline model ``p(v) = prod_j m_j^{v_j} (1 - m_j)^{1 - v_j}`` with smoothed means
    ``m_j = (sum_l v^(l)_j + a) / (n + 2a)`` over the ``n`` training rows ``v^(l)`` (``a`` =
    ``pseudocount``). It is the RBM with ``W = 0`` and ``b_j = log(m_j / (1 - m_j))``
    (chapter 7).

    Parameters
    ----------
    train : torch.Tensor
        ``[N, d]`` binary training rows.
    test : torch.Tensor
        ``[M, d]`` binary rows to score.
    pseudocount : float
        Additive smoothing ``a >= 0``.

    Returns
    -------
    torch.Tensor
        0-d float64 tensor: the mean over test rows of ``log p(v)`` in nats.
    """
    check_tensor(train, "train", ndim=2)
    check_tensor(test, "test", ndim=2)
    check_same_device(train=train, test=test)
    check_same_dtype(train=train, test=test)
    check_binary(train, "train")
    check_binary(test, "test")
    check_last_dim(test, "test", train.shape[1], "train")
    a = check_nonnegative(pseudocount, "pseudocount")
    m = (train.to(torch.float64).sum(0) + a) / (train.shape[0] + 2 * a)
    t = test.to(torch.float64)
    ll = t @ torch.log(m) + (1 - t) @ torch.log1p(-m)
    return ll.mean()


class RBM(nn.Module):
    """A restricted Boltzmann machine with Bernoulli visible and hidden units.

    Energy ``E(v, h) = -v^T b - h^T c - v^T W h`` (chapter 7, :math:numref:`eq-rbm-energy`); the
    parameters are ``W`` (``[n_visible, n_hidden]``), ``b`` (visible biases, ``[n_visible]``) and
    ``c`` (hidden biases, ``[n_hidden]``). Batches are rows: ``v`` is ``[B, n_visible]``, ``h``
    is ``[B, n_hidden]``. See chapter 7 (:ref:`chapter-rbm`).

    Parameters
    ----------
    n_visible, n_hidden : int
        Layer sizes (>= 1).
    init_std : float
        Standard deviation of the Gaussian initial weights (biases start at zero).
    generator : torch.Generator, optional
        Source of the initial weights (a CPU generator); ``None`` uses torch's global generator.
    dtype : torch.dtype
        Floating dtype of the parameters.
    device : torch.device or str, optional
        Device of the parameters.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        init_std: float = 0.01,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        n_visible = check_int(n_visible, "n_visible", minimum=1)
        n_hidden = check_int(n_hidden, "n_hidden", minimum=1)
        init_std = check_nonnegative(init_std, "init_std")
        check_generator(generator)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        gen_device = "cpu" if generator is None else generator.device
        w = torch.randn(n_visible, n_hidden, generator=generator, device=gen_device) * init_std
        self.W = nn.Parameter(w.to(device=device, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(n_visible, dtype=dtype, device=device))
        self.c = nn.Parameter(torch.zeros(n_hidden, dtype=dtype, device=device))

    # ------------------------------------------------------------------ basic quantities
    @property
    def n_visible(self) -> int:
        """Number of visible units."""
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        """Number of hidden units."""
        return self.W.shape[1]

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"

    def _check_v(self, v: Any, name: str = "v") -> torch.Tensor:
        check_tensor(v, name, ndim=(1, 2))
        check_last_dim(v, name, self.n_visible, "n_visible")
        if v.device != self.W.device:
            raise ValueError(f"{name} is on {v.device} but the RBM is on {self.W.device}")
        if not v.is_floating_point():
            v = v.to(self.W.dtype)
        return v

    def _check_h(self, h: Any, name: str = "h") -> torch.Tensor:
        check_tensor(h, name, ndim=(1, 2))
        check_last_dim(h, name, self.n_hidden, "n_hidden")
        if h.device != self.W.device:
            raise ValueError(f"{name} is on {h.device} but the RBM is on {self.W.device}")
        if not h.is_floating_point():
            h = h.to(self.W.dtype)
        return h

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Joint energy ``E(v, h) = -v^T b - h^T c - v^T W h`` (:math:numref:`eq-rbm-energy`).

        Parameters
        ----------
        v : torch.Tensor
            ``[B, n_visible]`` (or ``[n_visible]``).
        h : torch.Tensor
            ``[B, n_hidden]`` (or ``[n_hidden]``); a single state (1-D) pairs with every row of
            the other argument. Floating ``v`` and ``h`` must share a dtype; an integer one
            takes the other's dtype (the model's when both are integer).

        Returns
        -------
        torch.Tensor
            ``[B]`` (or 0-d).
        """
        check_tensor(v, "v", ndim=(1, 2))
        check_tensor(h, "h", ndim=(1, 2))
        if v.dim() == 2 and h.dim() == 2 and v.shape[0] != h.shape[0]:
            raise ValueError(
                f"v and h must hold the same number of states (rows), got v of shape "
                f"{tuple(v.shape)} and h of shape {tuple(h.shape)}"
            )
        dtype = check_same_dtype(v=v, h=h)
        if not (v.is_floating_point() or h.is_floating_point()):
            dtype = self.W.dtype
        v = self._check_v(v.to(dtype))
        h = self._check_h(h.to(dtype))
        W, b, c = self._params_as(dtype)
        return -(v @ b) - (h @ c) - ((v @ W) * h).sum(-1)

    def _params_as(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if dtype == self.W.dtype:
            return self.W, self.b, self.c
        return self.W.to(dtype), self.b.to(dtype), self.c.to(dtype)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """Free energy ``F(v) = -v^T b - sum_k softplus(c_k + v^T W_{:, k})``
        (:math:numref:`eq-rbm-free-energy`).

        ``p(v) = exp(-F(v)) / Z``; differentiable with respect to the parameters and ``v``.

        Parameters
        ----------
        v : torch.Tensor
            ``[B, n_visible]`` (or ``[n_visible]``); computed in ``v``'s floating dtype.

        Returns
        -------
        torch.Tensor
            ``[B]`` (or 0-d).
        """
        v = self._check_v(v)
        W, b, c = self._params_as(v.dtype)
        return -(v @ b) - _softplus(v @ W + c).sum(-1)

    def hidden_free_energy(self, h: torch.Tensor) -> torch.Tensor:
        """Free energy of the hidden layer ``F(h) = -h^T c - sum_j softplus(b_j + W_{j,:} h)``.

        The visible units summed out, so ``p(h) = exp(-F(h)) / Z``
        (:math:numref:`eq-rbm-hidden-free-energy`).

        Parameters
        ----------
        h : torch.Tensor
            ``[B, n_hidden]`` (or ``[n_hidden]``).

        Returns
        -------
        torch.Tensor
            ``[B]`` (or 0-d).
        """
        h = self._check_h(h)
        W, b, c = self._params_as(h.dtype)
        return -(h @ c) - _softplus(h @ W.T + b).sum(-1)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_h(
        self, v: torch.Tensor, generator: torch.Generator | None = None, *, T: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample the hidden layer given the visible one (:math:numref:`eq-rbm-conditionals`).

        ``p_T(h_k = 1 | v) = sigmoid((c_k + v^T W_{:, k}) / T)``, independently over ``k``: the
        conditional of ``p_T(v, h) ~ exp(-E(v, h) / T)``.

        Parameters
        ----------
        v : torch.Tensor
            ``[B, n_visible]`` (or ``[n_visible]``).
        generator : torch.Generator, optional
            Source of randomness (on ``v``'s device); ``None`` uses torch's global generator.
        T : float
            Temperature (> 0); 1 is the model itself.

        Returns
        -------
        probabilities, samples : torch.Tensor
            Both ``[B, n_hidden]``; samples in {0, 1}.
        """
        v = self._check_v(v)
        T = check_positive(T, "T")
        check_generator(generator, device=v.device)
        W, _, c = self._params_as(v.dtype)
        p = torch.sigmoid((v @ W + c) / T)
        return p, _bernoulli(p, generator)

    @torch.no_grad()
    def sample_v(
        self, h: torch.Tensor, generator: torch.Generator | None = None, *, T: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample the visible layer given the hidden one (:math:numref:`eq-rbm-conditionals`).

        ``p_T(v_j = 1 | h) = sigmoid((b_j + W_{j, :} h) / T)``, independently over ``j``.

        Parameters
        ----------
        h : torch.Tensor
            ``[B, n_hidden]`` (or ``[n_hidden]``).
        generator : torch.Generator, optional
            Source of randomness (on ``h``'s device); ``None`` uses torch's global generator.
        T : float
            Temperature (> 0).

        Returns
        -------
        probabilities, samples : torch.Tensor
            Both ``[B, n_visible]``; samples in {0, 1}.
        """
        h = self._check_h(h)
        T = check_positive(T, "T")
        check_generator(generator, device=h.device)
        W, b, _ = self._params_as(h.dtype)
        p = torch.sigmoid((h @ W.T + b) / T)
        return p, _bernoulli(p, generator)

    @torch.no_grad()
    def gibbs(
        self,
        v: torch.Tensor,
        k: int = 1,
        generator: torch.Generator | None = None,
        *,
        T: float = 1.0,
    ) -> torch.Tensor:
        """Run ``k`` steps of block Gibbs sampling ``v -> h -> v'``
        (:math:numref:`eq-rbm-conditionals`).

        Each step leaves ``p_T(v) ~ sum_h exp(-E(v, h) / T)`` invariant.

        Parameters
        ----------
        v : torch.Tensor
            ``[B, n_visible]`` start states (binary).
        k : int
            Number of full steps (>= 0).
        generator : torch.Generator, optional
            Source of randomness; ``None`` uses torch's global generator.
        T : float
            Temperature (> 0).

        Returns
        -------
        torch.Tensor
            ``[B, n_visible]`` visible samples after ``k`` steps.
        """
        v = self._check_v(v)
        k = check_int(k, "k", minimum=0)
        T = check_positive(T, "T")
        check_generator(generator, device=v.device)
        W, b, c = self._params_as(v.dtype)
        for _ in range(k):
            h = _bernoulli(torch.sigmoid((v @ W + c) / T), generator)
            v = _bernoulli(torch.sigmoid((h @ W.T + b) / T), generator)
        return v

    # ------------------------------------------------------------------ exact quantities
    def _check_exact(self, what: str) -> None:
        n = min(self.n_visible, self.n_hidden)
        if n > MAX_EXACT_UNITS:
            raise ValueError(
                f"{what} enumerates the smaller layer (2**{n} states); that is feasible only "
                f"up to {MAX_EXACT_UNITS} units: use log_partition_ais instead"
            )

    def _enumeration_chunks(self, chunk_size: int):
        """Yield ``(states, neg_free_energy)`` over all states of the smaller layer (float64).

        When the hidden layer is the smaller one the states are hidden vectors and the free
        energy is the hidden one (:math:numref:`eq-rbm-hidden-free-energy`); otherwise visible
        vectors and :math:numref:`eq-rbm-free-energy`.
        """
        W = self.W.detach().to(torch.float64)
        b = self.b.detach().to(torch.float64)
        c = self.c.detach().to(torch.float64)
        over_hidden = self.n_hidden <= self.n_visible
        n = self.n_hidden if over_hidden else self.n_visible
        for start, stop in state_chunks(n, chunk_size):
            s = binary_states(n, start=start, stop=stop, device=W.device)
            if over_hidden:
                neg_f = s @ c + _softplus(s @ W.T + b).sum(-1)
            else:
                neg_f = s @ b + _softplus(s @ W + c).sum(-1)
            yield s, neg_f

    @torch.no_grad()
    def log_partition_exact(self, chunk_size: int = 2**16) -> torch.Tensor:
        """Exact ``log Z`` by enumerating the smaller layer and summing the other out.

        With ``n_h <= n_v``, ``log Z = logsumexp_h [h^T c + sum_j softplus(b_j + W_{j,:} h)]``
        over all ``2**n_h`` hidden vectors (:math:numref:`eq-rbm-logz-exact`); otherwise the
        same over the ``2**n_v`` visible vectors with the free energy. Computed in float64 in
        chunks.

        Parameters
        ----------
        chunk_size : int
            Number of states per chunk (memory ``chunk_size * max(n_v, n_h)``).

        Returns
        -------
        torch.Tensor
            0-d float64 tensor on the model's device.

        Raises
        ------
        ValueError
            If the smaller layer has more than ``MAX_EXACT_UNITS`` (24) units.
        """
        chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        self._check_exact("log_partition_exact")
        parts = [torch.logsumexp(neg_f, 0) for _, neg_f in self._enumeration_chunks(chunk_size)]
        return torch.logsumexp(torch.stack(parts), 0)

    @torch.no_grad()
    def model_expectations_exact(
        self, chunk_size: int = 2**16
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Exact model expectations ``E[v h^T]``, ``E[v]``, ``E[h]`` by enumeration.

        These are the negative-phase statistics of the log-likelihood gradient
        :math:numref:`eq-rbm-gradient`. Summing the larger layer out analytically, e.g. over
        hidden states, ``E[v_j h_k] = sum_h p(h) h_k sigmoid(b_j + W_{j,:} h)``.

        Returns
        -------
        vh, v, h : torch.Tensor
            float64, shapes ``[n_visible, n_hidden]``, ``[n_visible]``, ``[n_hidden]``.
        """
        chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        self._check_exact("model_expectations_exact")
        log_z = self.log_partition_exact(chunk_size)
        W = self.W.detach().to(torch.float64)
        b = self.b.detach().to(torch.float64)
        c = self.c.detach().to(torch.float64)
        over_hidden = self.n_hidden <= self.n_visible
        vh = torch.zeros_like(W)
        ev = torch.zeros_like(b)
        eh = torch.zeros_like(c)
        for s, neg_f in self._enumeration_chunks(chunk_size):
            p = torch.exp(neg_f - log_z)  # [S] probabilities of the enumerated states
            if over_hidden:
                pv = torch.sigmoid(s @ W.T + b)  # [S, n_v] = E[v | h]
                vh += (pv * p[:, None]).T @ s
                ev += p @ pv
                eh += p @ s
            else:
                ph = torch.sigmoid(s @ W + c)  # [S, n_h] = E[h | v]
                vh += (s * p[:, None]).T @ ph
                ev += p @ s
                eh += p @ ph
        return vh, ev, eh

    @torch.no_grad()
    def probabilities_exact(self) -> torch.Tensor:
        """Exact ``p(v)`` of all visible vectors, ordered as the rows of :func:`binary_states`.

        Only for ``n_visible <= 20``. Returns a float64 tensor of shape ``[2**n_visible]``.
        """
        if self.n_visible > 20:
            raise ValueError(f"probabilities_exact needs n_visible <= 20, got {self.n_visible}")
        v = binary_states(self.n_visible, device=self.W.device)
        return torch.exp(-self.free_energy(v) - self.log_partition_exact())

    def _reduce(self, x: torch.Tensor, reduction: str) -> torch.Tensor:
        check_choice(reduction, "reduction", ("mean", "sum", "none"))
        if reduction == "mean":
            return x.mean()
        if reduction == "sum":
            return x.sum()
        return x

    @torch.no_grad()
    def log_likelihood(
        self,
        data: torch.Tensor,
        log_z: torch.Tensor | float | None = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Log-likelihood ``log p(v) = -F(v) - log Z`` of binary rows
        (:math:numref:`eq-rbm-loglik`).

        Parameters
        ----------
        data : torch.Tensor
            ``[B, n_visible]`` binary rows.
        log_z : tensor or float, optional
            The log partition function; default :meth:`log_partition_exact` (small models).
            Pass an AIS estimate for large models (the ``(log_z, stderr)`` pair returned by
            :meth:`log_partition_ais` is accepted as is).
        reduction : {"mean", "sum", "none"}
            Average over rows (default), sum, or the ``[B]`` per-row values.

        Returns
        -------
        torch.Tensor
            float64; 0-d, or ``[B]`` with ``reduction="none"``.
        """
        data = self._check_v(data, "data")
        check_binary(data, "data")
        if isinstance(log_z, tuple) and len(log_z) == 2:
            log_z = log_z[0]  # the (estimate, stderr) pair of log_partition_ais
        if log_z is None:
            log_z = self.log_partition_exact()
        elif isinstance(log_z, torch.Tensor):
            check_tensor(log_z, "log_z")
            if log_z.numel() != 1:
                raise ValueError(f"log_z must be a scalar, got shape {tuple(log_z.shape)}")
            log_z = log_z.detach().reshape(()).to(device=data.device, dtype=torch.float64)
        else:
            from ._validation import _as_real

            log_z = _as_real(log_z, "log_z")
        ll = -self.free_energy(data.to(torch.float64)) - log_z
        return self._reduce(ll, reduction)

    @torch.no_grad()
    def pseudo_likelihood(
        self, data: torch.Tensor, reduction: str = "mean", chunk_elements: int = 2**24
    ) -> torch.Tensor:
        """Exact log pseudo-likelihood ``sum_j log p(v_j | v_{-j})`` over all bits
        (:math:numref:`eq-rbm-pl`).

        Each conditional follows from a free-energy difference,
        ``log p(v_j | v_{-j}) = log sigmoid(F(v^{+j}) - F(v))`` with ``v^{+j}`` (the book's
        ``v^{oplus j}``) equal to ``v`` with bit ``j`` flipped. All ``n_visible`` flips are
        evaluated (no one-bit random estimate), vectorised as ``[B, n_v, n_h]`` blocks of at
        most ``chunk_elements`` entries.

        Parameters
        ----------
        data : torch.Tensor
            ``[B, n_visible]`` binary rows.
        reduction : {"mean", "sum", "none"}
            Average over rows (default), sum, or the ``[B]`` per-row values.
        chunk_elements : int
            Memory bound of one block.

        Returns
        -------
        torch.Tensor
            float64; 0-d, or ``[B]`` with ``reduction="none"``.
        """
        data = self._check_v(data, "data")
        check_binary(data, "data")
        chunk_elements = check_int(chunk_elements, "chunk_elements", minimum=1)
        v = data.to(torch.float64)
        if v.dim() == 1:
            v = v[None]
        W = self.W.detach().to(torch.float64)
        b = self.b.detach().to(torch.float64)
        c = self.c.detach().to(torch.float64)
        rows = max(1, chunk_elements // (self.n_visible * self.n_hidden))
        out = []
        for s in range(0, v.shape[0], rows):
            vb = v[s : s + rows]  # [B, n_v]
            a = vb @ W + c  # [B, n_h] hidden pre-activations
            delta = 1.0 - 2.0 * vb  # [B, n_v] change of each bit when flipped
            a_flip = a[:, None, :] + delta[:, :, None] * W[None]  # [B, n_v, n_h]
            # F(v^(+j)) - F(v) = -delta_j b_j - sum_k [softplus(a_flip) - softplus(a)]
            df = -delta * b - (_softplus(a_flip) - _softplus(a)[:, None, :]).sum(-1)
            out.append(nnf.logsigmoid(df).sum(-1))
        pl = torch.cat(out)
        if data.dim() == 1:
            pl = pl[0]
        return self._reduce(pl, reduction)

    # ------------------------------------------------------------------ AIS
    @torch.no_grad()
    def ais_log_weights(
        self,
        n_chains: int = 100,
        n_betas: int = 10_000,
        generator: torch.Generator | None = None,
        base_data: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log importance weights of annealed importance sampling (:math:numref:`eq-rbm-ais-path`,
        :math:numref:`eq-rbm-ais-weight`).

        The path runs from a base-rate model A (``W = 0``, ``c = 0``, visible biases ``b_A``)
        to this model B through the unnormalised marginals
        ``p*_t(v) = exp((1 - beta_t) v^T b_A + beta_t v^T b) prod_k (1 + exp(beta_t (c_k +
        v^T W_{:, k})))``, with one block-Gibbs transition at each ``beta_t``
        (Salakhutdinov and Murray 2008). ``Z_A = 2**n_h prod_j (1 + exp(b_A,j))``.

        Parameters
        ----------
        n_chains : int
            Number of independent AIS runs.
        n_betas : int
            Number of inverse temperatures (>= 2), linear from 0 to 1 unless ``betas``.
        generator : torch.Generator, optional
            Source of randomness (on the model's device).
        base_data : torch.Tensor, optional
            ``[N, n_visible]`` binary rows; ``b_A`` is the smoothed log-odds of their column
            means (the base-rate model). Default ``b_A = 0``.
        betas : torch.Tensor, optional
            Increasing schedule from 0 to 1, overriding ``n_betas``.

        Returns
        -------
        log_w : torch.Tensor
            ``[n_chains]`` float64 log weights; ``log Z_B`` is estimated by
            ``log_z_a + log mean exp(log_w)``.
        log_z_a : torch.Tensor
            0-d float64, the exact log partition function of the base model.
        """
        n_chains = check_int(n_chains, "n_chains", minimum=1)
        device = self.W.device
        check_generator(generator, device=device)
        n_betas = check_int(n_betas, "n_betas", minimum=2)
        if betas is None:
            betas = torch.linspace(0.0, 1.0, n_betas, dtype=torch.float64, device=device)
        else:
            check_tensor(betas, "betas", ndim=1)
            betas = betas.to(device=device, dtype=torch.float64)
            ok = (
                betas.numel() >= 2
                and float(betas[0]) == 0.0
                and float(betas[-1]) == 1.0
                and bool((betas[1:] >= betas[:-1]).all())
            )
            if not ok:
                raise ValueError("betas must be a non-decreasing schedule from 0.0 to 1.0")
        W = self.W.detach().to(torch.float64)
        b = self.b.detach().to(torch.float64)
        c = self.c.detach().to(torch.float64)
        if base_data is None:
            b_a = torch.zeros_like(b)
        else:
            base_data = self._check_v(base_data, "base_data")
            check_binary(base_data, "base_data")
            bd = base_data.to(torch.float64).reshape(-1, self.n_visible)
            m = (bd.sum(0) + 1.0) / (bd.shape[0] + 2.0)
            b_a = torch.log(m) - torch.log1p(-m)
        log_z_a = self.n_hidden * math.log(2.0) + _softplus(b_a).sum()
        # v ~ p_0 exactly (independent Bernoulli with logits b_a)
        v = _bernoulli(torch.sigmoid(b_a).expand(n_chains, -1).contiguous(), generator)
        log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
        vb_a = v @ b_a
        vb = v @ b
        a = v @ W + c  # [n_chains, n_h]
        beta_prev = 0.0
        for beta in betas[1:].tolist():
            # log p*_k(v) - log p*_{k-1}(v) at the current state
            log_w += (beta - beta_prev) * (vb - vb_a) + (
                _softplus(beta * a) - _softplus(beta_prev * a)
            ).sum(-1)
            # one Gibbs transition leaving p_k invariant
            h = _bernoulli(torch.sigmoid(beta * a), generator)
            v = _bernoulli(torch.sigmoid((1.0 - beta) * b_a + beta * (h @ W.T + b)), generator)
            vb_a = v @ b_a
            vb = v @ b
            a = v @ W + c
            beta_prev = beta
        return log_w, log_z_a

    @torch.no_grad()
    def log_partition_ais(
        self,
        n_chains: int = 100,
        n_betas: int = 10_000,
        generator: torch.Generator | None = None,
        base_data: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate ``log Z`` by annealed importance sampling, with a standard error.

        ``log Z ~ log Z_A + log mean_r w_r`` (:math:numref:`eq-rbm-ais-estimate`); the standard
        error is the delta-method value ``std(w) / (sqrt(R) mean(w))`` for ``R = n_chains``
        runs. The estimate of ``Z`` is unbiased, that of ``log Z`` slightly low on average
        (Jensen).
        See :meth:`ais_log_weights` for the annealing path and parameters.

        Returns
        -------
        log_z, stderr : torch.Tensor
            0-d float64 tensors.
        """
        log_w, log_z_a = self.ais_log_weights(n_chains, n_betas, generator, base_data, betas)
        n = log_w.numel()
        log_mean = torch.logsumexp(log_w, 0) - math.log(n)
        r = torch.exp(log_w - log_w.max())
        if n > 1:
            stderr = r.std(unbiased=True) / (math.sqrt(n) * r.mean())
        else:
            stderr = torch.tensor(float("inf"), dtype=torch.float64, device=log_w.device)
        return log_z_a + log_mean, stderr

    # ------------------------------------------------------------------ gradients
    def _cd_statistics(
        self,
        v0: torch.Tensor,
        k: int,
        generator: torch.Generator | None,
        chains: torch.Tensor | None = None,
    ) -> _Statistics:
        """The samples of one CD-k or PCD-k gradient estimate (unchecked, no autograd).

        The data term averages ``v_0 p(h | v_0)^T`` over the rows ``v_0`` ``[m, n_v]``
        (:math:numref:`eq-rbm-gradient`). The model term comes from ``k`` block-Gibbs steps
        ``h -> v -> h``: started at ``h_0 ~ p(h | v_0)`` for CD (:math:numref:`eq-rbm-cd`), or
        at the hidden state ``chains`` of persistent chains for PCD (:math:numref:`eq-rbm-pcd`),
        and it averages ``v_k p(h | v_k)^T`` over the chains.
        """
        W, b, c = self.W.detach(), self.b.detach(), self.c.detach()
        ph0 = torch.sigmoid(v0 @ W + c)  # p(h = 1 | v_0), [m, n_h]
        h = _bernoulli(ph0, generator) if chains is None else chains
        reconstruction = None
        for step in range(k):
            pv = torch.sigmoid(h @ W.T + b)  # p(v = 1 | h)
            if step == 0 and chains is None:
                reconstruction = pv  # the data's one-step reconstruction, for free
            vk = _bernoulli(pv, generator)
            phk = torch.sigmoid(vk @ W + c)  # p(h = 1 | v_k)
            if step < k - 1 or chains is not None:  # a last sample only to continue the chains
                h = _bernoulli(phk, generator)
        new_chains = None if chains is None else h
        return _Statistics(v0, ph0, vk, phk, chains=new_chains, reconstruction=reconstruction)

    def _exact_statistics(self, v0: torch.Tensor) -> _Statistics:
        """The data term of the rows ``v0`` and the enumerated model term, in ``v0``'s dtype."""
        W, c = self.W.detach().to(v0.dtype), self.c.detach().to(v0.dtype)
        exact = tuple(t.to(v0.dtype) for t in self.model_expectations_exact())
        return _Statistics(v0, torch.sigmoid(v0 @ W + c), exact=exact)

    @torch.no_grad()
    def log_likelihood_gradient(
        self,
        data: torch.Tensor,
        method: str = "exact",
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Gradient of the average log-likelihood of ``data``, exact or by CD-k.

        ``dL/dW = <v h^T>_data - <v h^T>_model`` (:math:numref:`eq-rbm-gradient`) with
        ``<.>_data`` the average over the rows using ``p(h | v)``, and likewise ``<v>`` for ``b``
        and ``<h>`` for ``c``. With ``method="exact"`` the model term is enumerated
        (:meth:`model_expectations_exact`); with ``"cd"`` it is the CD-k estimate
        (:math:numref:`eq-rbm-cd`), computed exactly as one full-batch CD update of :meth:`fit`
        computes it (same random numbers for the same generator state).

        Parameters
        ----------
        data : torch.Tensor
            ``[B, n_visible]`` binary rows.
        method : {"exact", "cd"}
            Exact model term or the CD-k estimate.
        k : int
            Gibbs steps for ``"cd"``.
        generator : torch.Generator, optional
            Source of randomness for ``"cd"`` (``None``: torch's global generator).

        Returns
        -------
        dict
            ``{"W": [n_visible, n_hidden], "b": [n_visible], "c": [n_hidden]}``, float64 for
            ``"exact"``, the model's dtype for ``"cd"``.
        """
        data = self._check_rows(data, "data")
        method = check_choice(method, "method", ("exact", "cd"))
        k = check_int(k, "k", minimum=1)
        check_generator(generator, device=data.device)
        if method == "exact":
            self._check_exact('log_likelihood_gradient(method="exact")')
            stats = self._exact_statistics(data.to(torch.float64))
        else:
            stats = self._cd_statistics(data.to(self.W.dtype), k, generator)
        return dict(zip(("W", "b", "c"), _gradient(stats), strict=True))

    # ------------------------------------------------------------------ training
    def _check_rows(self, data: Any, name: str) -> torch.Tensor:
        """``data`` must be ``[N, n_visible]`` on the model's device with entries 0 and 1.

        One scan of the values: an entry that is 0 or 1 is also finite.
        """
        check_tensor(data, name, ndim=2, finite=False)
        check_last_dim(data, name, self.n_visible, "n_visible")
        if data.device != self.W.device:
            raise ValueError(f"{name} is on {data.device} but the RBM is on {self.W.device}")
        if not bool(((data == 0) | (data == 1)).all()):
            raise ValueError(f"{name} must contain only 0 and 1 entries (binary units)")
        return data

    @torch.no_grad()
    def init_visible_bias(self, data: torch.Tensor) -> RBM:
        """Set ``b_j = log(m_j / (1 - m_j))`` with smoothed data means ``m_j`` (chapter 7).

        With ``W = 0`` this makes the model the independent-pixel fit of the data; it is the
        usual starting point of training. ``m_j = (sum_l v^(l)_j + 1) / (n + 2)`` over the ``n``
        rows ``v^(l)`` of ``data``.
        """
        data = self._check_v(data, "data")
        check_binary(data, "data")
        self._set_visible_bias(data.reshape(-1, self.n_visible))
        return self

    @torch.no_grad()
    def _set_visible_bias(self, rows: torch.Tensor) -> None:
        m = (rows.sum(0, dtype=torch.float64) + 1.0) / (rows.shape[0] + 2.0)
        self.b.copy_((torch.log(m) - torch.log1p(-m)).to(self.b.dtype))

    @torch.no_grad()
    def _step(
        self,
        stats: _Statistics,
        lr: float,
        momentum: float,
        weight_decay: float,
        velocity: list[torch.Tensor | None],
    ) -> None:
        """``u <- momentum u + lr (data - model - weight_decay W)``, ``theta <- theta + u``."""
        params = (self.W, self.b, self.c)
        for theta, u, grad in zip(params, velocity, _gradient(stats), strict=True):
            if theta is self.W and weight_decay > 0.0:
                grad.add_(theta, alpha=-weight_decay)
            if momentum == 0.0:
                theta.add_(grad, alpha=lr)  # plain gradient ascent: no velocity to keep
            else:
                u.mul_(momentum).add_(grad, alpha=lr)
                theta.add_(u)

    def fit(
        self,
        data: torch.Tensor,
        method: str = "cd",
        k: int = 1,
        epochs: int = 10,
        lr: float = 0.05,
        batch_size: int = 100,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        generator: torch.Generator | None = None,
        *,
        lr_schedule: str = "constant",
        init_visible_bias: bool = True,
        n_chains: int | None = None,
        shuffle: bool = True,
        monitor: torch.Tensor | None = None,
        monitor_every: int = 1,
        callback: Callable[[RBM, int], Any] | None = None,
        track_error: bool | None = None,
        progress_bar: bool | None = None,
    ) -> RBMHistory:
        """Train by contrastive divergence, persistent CD, or the exact gradient (chapter 7).

        Each update moves the parameters along the log-likelihood gradient
        :math:numref:`eq-rbm-gradient`, ``dL/dW = E_data[v h^T] - E_model[v h^T]`` (and
        likewise ``v`` for ``b``, ``h`` for ``c``), with the data term using ``p(h | v)`` and the
        model term estimated

        * ``"cd"``: from ``k`` Gibbs steps started at the minibatch (CD-k,
          :math:numref:`eq-rbm-cd`);
        * ``"pcd"``: from ``k`` Gibbs steps of ``n_chains`` persistent chains (PCD,
          :math:numref:`eq-rbm-pcd`); the chain state is the hidden layer, so PCD-1 costs the
          same five matrix products per minibatch as CD-1;
        * ``"exact"``: by enumeration (:meth:`model_expectations_exact`; tiny models only).

        Updates use classical momentum ``u <- momentum u + lr_t (g - weight_decay W)``,
        ``theta <- theta + u`` (weight decay only on ``W``). The defaults are the fast path:
        the only per-update work besides the gradient estimate is the reconstruction error of
        CD, which reuses ``p(v | h_0)`` from the first Gibbs step.

        Parameters
        ----------
        data : torch.Tensor
            ``[N, n_visible]`` binary training rows on the model's device.
        method : {"cd", "pcd", "exact"}
            Estimator of the model term.
        k : int
            Gibbs steps per update (>= 1; ignored by ``"exact"``).
        epochs : int
            Passes over the data.
        lr : float
            Learning rate (the gradient is a mean over the minibatch).
        batch_size : int
            Minibatch size.
        momentum : float in [0, 1)
            Momentum coefficient.
        weight_decay : float
            L2 penalty coefficient on ``W``.
        generator : torch.Generator, optional
            Source of all randomness (shuffling and sampling); ``None`` uses torch's global
            generator.
        lr_schedule : {"constant", "linear"}
            ``"linear"`` decays the learning rate linearly to zero over the run.
        init_visible_bias : bool
            Start from ``b`` = data log-odds (:meth:`init_visible_bias`).
        n_chains : int, optional
            Number of persistent chains for ``"pcd"`` (default ``batch_size``).
        shuffle : bool
            Visit the rows in a fresh random order every epoch (one permutation of the data
            per epoch; the minibatches are then contiguous slices).
        monitor : torch.Tensor, optional
            Binary rows whose exact average log-likelihood is recorded every
            ``monitor_every`` epochs (needs an enumerable model).
        monitor_every : int
            Epochs between monitor evaluations.
        callback : callable ``(model, epoch) -> dict or None``, optional
            Called after every epoch; the items of a returned dict are appended to
            ``history.extra``.
        track_error : bool, optional
            Record the reconstruction error. Default (``None``): only where it is free, i.e.
            for ``"cd"``; ``True`` also for ``"pcd"`` and ``"exact"`` at the cost of one more
            matrix product per update.
        progress_bar : bool, optional
            Force the ``tqdm`` bar on or off (default: off under ``CI``/``EBMLIB_STATIC`` or
            without a terminal/notebook).

        Returns
        -------
        RBMHistory
            One entry per epoch: ``epoch``, ``time``, ``lr``, ``reconstruction_error``,
            ``log_likelihood`` (with ``monitor``) and ``extra`` (from ``callback``).

        Raises
        ------
        FloatingPointError
            When the weights stop being finite (the learning rate is too large).
        """
        data = self._check_rows(data, "data")
        method = check_choice(method, "method", ("cd", "pcd", "exact"))
        k = check_int(k, "k", minimum=1)
        epochs = check_int(epochs, "epochs", minimum=0)
        lr = check_positive(lr, "lr")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        momentum = check_probability(momentum, "momentum")
        if momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {momentum}")
        weight_decay = check_nonnegative(weight_decay, "weight_decay")
        check_generator(generator, device=data.device)
        lr_schedule = check_choice(lr_schedule, "lr_schedule", ("constant", "linear"))
        n_chains = batch_size if n_chains is None else check_int(n_chains, "n_chains", minimum=1)
        monitor_every = check_int(monitor_every, "monitor_every", minimum=1)
        if monitor is not None:
            monitor = self._check_rows(monitor, "monitor")
            check_same_dtype(data=data, monitor=monitor)
            self._check_exact("fit(monitor=...)")
        if method == "exact":
            self._check_exact('fit(method="exact")')
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        track_error = method == "cd" if track_error is None else bool(track_error)

        x = data.to(self.W.dtype)
        if init_visible_bias:
            self._set_visible_bias(x)
        n = x.shape[0]
        total_updates = max(1, epochs * math.ceil(n / batch_size))
        chains = None
        if method == "pcd":  # persistent chains start from hidden samples of random data rows
            rows = torch.randint(n, (n_chains,), generator=generator, device=x.device)
            chains = _bernoulli(torch.sigmoid(x[rows] @ self.W.detach() + self.c.detach()),
                                generator)  # fmt: skip
        velocity = [torch.zeros_like(p) if momentum > 0 else None for p in (self.W, self.b, self.c)]
        history = RBMHistory()
        elapsed, update, step_lr = 0.0, 0, lr
        bar = progress(range(1, epochs + 1), desc=f"RBM {method}",
                       disable=None if progress_bar is None else not progress_bar)  # fmt: skip
        for epoch in bar:
            t0 = time.perf_counter()
            rows = x[torch.randperm(n, generator=generator, device=x.device)] if shuffle else x
            err = torch.zeros((), dtype=x.dtype, device=x.device)  # summed over rows
            for v0 in rows.split(batch_size):
                if lr_schedule == "linear":
                    step_lr = lr * (1.0 - update / total_updates)
                update += 1
                stats = self._training_statistics(v0, method, k, chains, generator)
                chains = stats.chains
                if track_error:
                    err += self._reconstruction_error(v0, stats, generator)
                self._step(stats, step_lr, momentum, weight_decay, velocity)
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            elapsed += time.perf_counter() - t0
            if not bool(torch.isfinite(self.W).all()):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (non-finite weights); "
                    f"lower lr (now {lr:g}) or add weight decay"
                )
            history.epoch.append(epoch)
            history.time.append(elapsed)
            history.lr.append(step_lr)
            if track_error:
                history.reconstruction_error.append(float(err) / n)
            if monitor is not None:
                evaluate = epoch % monitor_every == 0 or epoch == epochs
                ll = float(self.log_likelihood(monitor)) if evaluate else math.nan
                history.log_likelihood.append(ll)
            if callback is not None:
                extra = callback(self, epoch)
                for key, val in extra.items() if isinstance(extra, dict) else ():
                    history.extra.setdefault(key, []).append(val)
        return history

    def _training_statistics(
        self,
        v0: torch.Tensor,
        method: str,
        k: int,
        chains: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> _Statistics:
        if method == "exact":
            return self._exact_statistics(v0)
        return self._cd_statistics(v0, k, generator, chains if method == "pcd" else None)

    def _reconstruction_error(
        self, v0: torch.Tensor, stats: _Statistics, generator: torch.Generator | None
    ) -> torch.Tensor:
        """``sum_rows mean_pixels (p(v = 1 | h) - v_0)^2`` with ``h ~ p(h | v_0)``."""
        pv = stats.reconstruction
        if pv is None:  # PCD and exact: one more half-step from the data
            W, b, c = self.W.detach(), self.b.detach(), self.c.detach()
            h = _bernoulli(torch.sigmoid(v0 @ W + c), generator)
            pv = torch.sigmoid(h @ W.T + b)
        return (pv - v0).square().mean(1).sum()


@torch.no_grad()
def draw_gibbs_chain(
    rbm: RBM,
    k: int = 10,
    n_chains: int = 16,
    seed: int = 0,
    shape: tuple[int, int] | None = None,
    start: torch.Tensor | None = None,
    ax: Any = None,
):
    """Show ``n_chains`` block-Gibbs chains of ``rbm`` after ``k`` steps (chapter 7 demo).

    The chains start from uniform random noise (or ``start``) and each panel shows the
    visible means ``p(v = 1 | h)`` reached after ``k`` steps, tiled into one image.

    Parameters
    ----------
    rbm : RBM
        The model.
    k : int
        Number of Gibbs steps (>= 0; with 0 the start states are shown).
    n_chains : int
        Number of chains (tiled in a near-square grid).
    seed : int
        Seed of the chains' generator.
    shape : (int, int), optional
        Image shape of a visible vector (default square).
    start : torch.Tensor, optional
        ``[n_chains, n_visible]`` binary start states.
    ax : matplotlib Axes, optional
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = require("matplotlib.pyplot", "viz", feature="rbm.draw_gibbs_chain")

    if not isinstance(rbm, RBM):
        raise TypeError(f"rbm must be an RBM, got {type(rbm).__name__}")
    k = check_int(k, "k", minimum=0)
    n_chains = check_int(n_chains, "n_chains", minimum=1)
    seed = check_int(seed, "seed")
    nv = rbm.n_visible
    if shape is None:
        side = math.isqrt(nv)
        if side * side != nv:
            raise ValueError(f"shape is needed: n_visible={nv} is not a square")
        shape = (side, side)
    if shape[0] * shape[1] != nv:
        raise ValueError(f"shape {shape} does not hold n_visible={nv} pixels")
    gen = torch.Generator(device=rbm.W.device).manual_seed(seed)
    if start is None:
        v = _bernoulli(torch.full((n_chains, nv), 0.5, device=rbm.W.device), gen)
    else:
        v = rbm._check_v(start, "start")
        check_binary(v, "start")
        v = v.reshape(-1, nv).to(rbm.W.dtype)
        n_chains = v.shape[0]
    means = v
    if k > 0:
        v = rbm.gibbs(v, k - 1, generator=gen)
        _, h = rbm.sample_h(v, generator=gen)
        means, _ = rbm.sample_v(h, generator=gen)
    ncols = math.ceil(math.sqrt(n_chains))
    nrows = math.ceil(n_chains / ncols)
    r, q = shape
    canvas = torch.ones(nrows * (r + 1) - 1, ncols * (q + 1) - 1) * float("nan")
    for i in range(n_chains):
        y, x = divmod(i, ncols)
        canvas[y * (r + 1) : y * (r + 1) + r, x * (q + 1) : x * (q + 1) + q] = (
            means[i].reshape(r, q).float().cpu()
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(canvas.numpy(), cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"k = {k} Gibbs steps")
    return ax
