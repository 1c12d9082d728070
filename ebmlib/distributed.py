r"""A pattern memory sharded over processes, and data-parallel training of Hopfield layers.

A modern Hopfield memory with more patterns than one machine holds can be split by rows: process
``r`` of ``R`` keeps a slice ``X_r`` of the stored patterns (:func:`shard_rows`), every process
holds the same states ``xi``, and the update :math:numref:`eq-modern-update` and the energy
:math:numref:`eq-modern-energy` are combined *exactly* from per-slice statistics with two
all-reduce operations of ``torch.distributed``. It is the streaming softmax of
:func:`ebmlib.modern.update` (``chunk_size``), with the chunks living on different processes.

The update. With scores ``z_i = beta x_i . xi``, each process computes over its own patterns

.. math::

    m_r = \max_{i \in r} z_i, \qquad
    \ell_r = \sum_{i \in r} e^{z_i - m_r}, \qquad
    a_r = \sum_{i \in r} e^{z_i - m_r}\, x_i ,

then ``m = max_r m_r`` (one all-reduce with ``MAX``) and, since
``e^{z_i - m} = e^{z_i - m_r} e^{m_r - m}``,

.. math::

    X \operatorname{softmax}(\beta X^\top \xi)
    = \frac{\sum_r e^{m_r - m} a_r}{\sum_r e^{m_r - m} \ell_r}

(one all-reduce with ``SUM`` of the rescaled ``[a_r, l_r]``). Every exponent is ``<= 0``, so
nothing overflows, and the result equals the single-process update up to the round-off of a
different summation order.

The energy. With overlaps ``u_i = x_i . xi`` and ``u* = max_i u_i`` (all-reduce ``MAX``),

.. math::

    E(\xi) = -u^* - \frac1\beta \log\Bigl(\frac1N \sum_r \sum_{i\in r}
             e^{\beta (u_i - u^*)}\Bigr) + \tfrac12 \xi^\top\xi + \tfrac12 M^2,

with ``N = sum_r N_r`` and ``M = max_r M_r`` exchanged once when the memory is built; the sum
is also kept as ``sum expm1(.)`` for small ``beta``, as in :func:`ebmlib.modern.energy`.

Every method of :class:`ShardedMemory` is a collective call: all processes of the group must
call it, in the same order, with the same states. With ``validate=True`` (the default) the
processes first agree that their arguments are finite, of one shape and, for the states,
identical, so that a mistake on one process raises the same clear error on every process
instead of a silent wrong answer or a hang.

Data-parallel training of a layer (:func:`data_parallel`, :func:`shard_batch`) is torch's
``DistributedDataParallel``: each process runs the layer on an equal slice of the batch and
the gradients are averaged, which for a loss that is a mean over the batch gives exactly the
gradient of the full batch.

Use the ``gloo`` backend for CPU tensors and ``nccl`` for CUDA tensors.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from . import modern
from ._validation import check_int, check_positive, check_same_device, check_tensor
from .modern import Retrieval

__all__ = ["shard_rows", "ShardedMemory", "data_parallel", "shard_batch"]


def _require_group(group: Any) -> tuple[int, int]:
    """Rank and size in ``group``; a clear error when torch.distributed is not set up."""
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of torch")
    if not dist.is_initialized():
        raise RuntimeError(
            "the default process group is not initialised: call "
            "torch.distributed.init_process_group(...) in every process first"
        )
    return dist.get_rank(group), dist.get_world_size(group)


def shard_rows(
    n: int, rank: int | None = None, world_size: int | None = None, *, group: Any = None
) -> slice:
    """The contiguous block of ``n`` rows that process ``rank`` of ``world_size`` holds.

    The first ``n % world_size`` processes hold ``n // world_size + 1`` rows, the others
    ``n // world_size`` (every process at least one row, so ``n >= world_size``).

    Parameters
    ----------
    n : int
        Number of rows (stored patterns).
    rank, world_size : int, optional
        Default: this process's rank and the size of ``group``.
    group : optional
        A ``torch.distributed`` process group (default: the whole world).

    Returns
    -------
    slice
        Use as ``patterns[shard_rows(n)]``.
    """
    n = check_int(n, "n", minimum=1)
    if rank is None or world_size is None:
        r, w = _require_group(group)
        rank = r if rank is None else rank
        world_size = w if world_size is None else world_size
    world_size = check_int(world_size, "world_size", minimum=1)
    rank = check_int(rank, "rank", minimum=0)
    if rank >= world_size:
        raise ValueError(f"rank must be < world_size = {world_size}, got {rank}")
    if n < world_size:
        raise ValueError(f"n must be >= world_size = {world_size} (one row per process), got {n}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def _agree(
    group: Any, device: torch.device, error: str | None, numbers: list[float], what: str
) -> None:
    """Collective check: raise the same error on every process if any process failed.

    ``numbers`` must be equal on every process (shapes, dtype codes); ``error`` is this
    process's own complaint about its arguments, if any. One all-reduce of ``[v, -v]``.
    """
    vec = torch.tensor([0.0 if error is None else 1.0, *numbers], dtype=torch.float64)
    both = torch.cat([vec, -vec]).to(device)
    dist.all_reduce(both, op=dist.ReduceOp.MAX, group=group)
    both = both.cpu()
    k = vec.numel()
    hi, lo = both[:k], -both[k:]
    if error is not None:
        raise ValueError(error)
    if hi[0] > 0:
        raise ValueError(f"another process rejected its {what} (see its error message)")
    if not torch.equal(hi[1:], lo[1:]):
        raise ValueError(f"the {what} differ between processes (shape or dtype)")


_DTYPE_CODES = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 3, torch.float64: 4}


class ShardedMemory:
    """A modern Hopfield memory whose stored patterns are split over processes.

    Process ``r`` passes its own rows ``X_r`` ``[N_r, d]``; together they form the memory
    ``X`` ``[N, d]`` (``N = sum_r N_r``). :meth:`update`, :meth:`energy` and :meth:`retrieve`
    then equal :func:`ebmlib.modern.update`, :func:`ebmlib.modern.energy` and
    :func:`ebmlib.modern.retrieve` on the whole of ``X`` (the order of the rows does not
    matter), up to round-off. Construction is collective: it checks that the shards agree in
    ``d`` and dtype and are finite, and exchanges ``N`` and ``M = max_i ||x_i||`` once.

    Parameters
    ----------
    local_patterns : torch.Tensor
        This process's stored patterns as rows, ``[N_r, d]`` with ``N_r >= 1``, floating.
    group : optional
        The ``torch.distributed`` process group (default: the whole world).

    Attributes
    ----------
    patterns : torch.Tensor
        The local shard.
    n : int
        Total number of stored patterns ``N`` over all processes.
    max_norm : float
        ``M``, the largest pattern norm over all processes.

    Examples
    --------
    In every process, after ``torch.distributed.init_process_group("gloo", ...)``::

        X = ...  # [N, d], the same full matrix everywhere, or load only your rows
        memory = ShardedMemory(X[shard_rows(X.shape[0])])
        new = memory.update(states, beta=4.0)  # equals modern.update(states, X, 4.0)

    The update and energy are those of chapter 4.
    """

    def __init__(self, local_patterns: torch.Tensor, *, group: Any = None):
        self.rank, self.world_size = _require_group(group)
        self.group = group
        error = None
        try:
            check_tensor(local_patterns, "local_patterns", ndim=2, floating=True, finite=False)
        except (TypeError, ValueError) as exc:
            error = f"on process {self.rank}: {exc}"
        device = local_patterns.device if isinstance(local_patterns, torch.Tensor) else "cpu"
        dims = [0.0, 0.0, 0.0]
        if error is None:
            if not bool(torch.isfinite(local_patterns).all()):
                error = f"on process {self.rank}: local_patterns must contain only finite values"
            dims = [
                float(local_patterns.shape[1]),
                float(_DTYPE_CODES.get(local_patterns.dtype, 0)),
                float(device.type == "cuda"),
            ]
        _agree(group, torch.device(device), error, dims, "local_patterns")
        self.patterns = local_patterns
        self.d = local_patterns.shape[1]
        self.dtype = local_patterns.dtype
        self._work = local_patterns.to(modern._work_dtype(self.dtype))
        stats = torch.tensor(
            [float(local_patterns.shape[0])], dtype=torch.float64, device=local_patterns.device
        )
        dist.all_reduce(stats, op=dist.ReduceOp.SUM, group=group)
        self.n = int(stats.item())
        m = torch.linalg.vector_norm(self._work, dim=-1).amax().reshape(1)
        dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)
        self._max_norm = m[0]  # in the working dtype, on the patterns' device
        self.max_norm = float(m.item())

    @classmethod
    def from_full(cls, patterns: torch.Tensor, *, group: Any = None) -> ShardedMemory:
        """Keep this process's rows (:func:`shard_rows`) of a matrix every process holds."""
        check_tensor(patterns, "patterns", ndim=2, floating=True, finite=False)
        return cls(patterns[shard_rows(patterns.shape[0], group=group)], group=group)

    def __repr__(self) -> str:
        return (
            f"ShardedMemory(rank={self.rank}, world_size={self.world_size}, "
            f"local={self.patterns.shape[0]}, n={self.n}, d={self.d}, dtype={self.dtype})"
        )

    # -- checks -------------------------------------------------------------------------------

    def _states(self, states: Any, beta: Any, validate: bool) -> tuple[torch.Tensor, float]:
        if not isinstance(validate, bool):
            raise TypeError(f"validate must be a bool, got {type(validate).__name__}")
        error = None
        try:
            beta = check_positive(beta, "beta")
            check_tensor(states, "states", min_ndim=1, floating=True, finite=False)
            check_same_device(states=states, local_patterns=self.patterns)
            if states.dtype != self.dtype:
                raise TypeError(
                    f"states must have the dtype of the stored patterns ({self.dtype}), "
                    f"got {states.dtype}"
                )
            if states.shape[-1] != self.d:
                raise ValueError(
                    f"states must have last dimension d = {self.d}, got {tuple(states.shape)}"
                )
        except (TypeError, ValueError) as exc:
            if not validate:
                raise
            error = f"on process {self.rank}: {exc}"
        if not validate:
            return states, beta
        if error is None and not bool(torch.isfinite(states).all()):
            error = f"on process {self.rank}: states must contain only finite values"
        shape = [float(s) for s in states.shape] if error is None else []
        beta_num = beta if error is None else 0.0
        device = self.patterns.device
        # first agree on errors and on ndim (so that the second vector has one length)
        _agree(self.group, device, error, [float(len(shape))], "states")
        _agree(self.group, device, None, [*shape, beta_num], "states or beta")
        mine = states.detach().to(torch.float64)  # exact for every floating dtype used here
        lo, hi = mine.clone(), mine.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN, group=self.group)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX, group=self.group)
        if not (torch.equal(lo, mine) and torch.equal(hi, mine)):
            raise ValueError(
                "states must be the same on every process (each process holds other patterns, "
                "not other states)"
            )
        return states, beta

    # -- the kernels ----------------------------------------------------------------------------

    def _update_kernel(self, s: torch.Tensor, beta: float, chunk_size: int | None) -> torch.Tensor:
        """One update of ``s`` ``[B, d]`` (no checks): local partials, then two all-reduces."""
        wd = self._work.dtype
        m, l_sum, acc = modern._softmax_partials(s.to(wd), self._work, beta, chunk_size)
        m_all = m.clone()
        dist.all_reduce(m_all, op=dist.ReduceOp.MAX, group=self.group)
        scale = torch.exp(m - m_all)  # [B, 1], <= 1
        packed = torch.cat([acc * scale, l_sum * scale], dim=-1)  # [B, d + 1]
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=self.group)
        return (packed[:, :-1] / packed[:, -1:]).to(s.dtype)

    def _energy_kernel(self, s: torch.Tensor, beta: float, chunk_size: int | None) -> torch.Tensor:
        wd = self._work.dtype
        sw = s.to(wd)
        chunk = self._work.shape[0] if chunk_size is None else chunk_size
        zmax = modern._max_overlap(sw, self._work, chunk)  # [B]
        dist.all_reduce(zmax, op=dist.ReduceOp.MAX, group=self.group)
        sum_m1, sum_e = modern._chunked_exp_sums(sw, self._work, beta, zmax, chunk)
        sums = torch.stack([sum_m1, sum_e])  # [2, B]
        dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=self.group)
        head = modern._energy_head(zmax, sums[0], sums[1], self.n, beta)
        m = self._max_norm
        return (head + 0.5 * (sw * sw).sum(dim=-1) + 0.5 * m * m).to(s.dtype)

    # -- public ---------------------------------------------------------------------------------

    def update(
        self,
        states: torch.Tensor,
        beta: float,
        *,
        chunk_size: int | None = None,
        validate: bool = True,
    ) -> torch.Tensor:
        r"""One update :math:numref:`eq-modern-update` against all shards (collective).

        .. math:: \xi^{\text{new}} = X \operatorname{softmax}(\beta X^\top \xi)

        Parameters
        ----------
        states : torch.Tensor
            ``[d]`` or ``[B, d]`` (more leading dimensions are kept); the same on every process.
        beta : float
            Inverse temperature, > 0.
        chunk_size : int, optional
            Stream over the local patterns in chunks of this size.
        validate : bool
            Agree across processes that the states are finite, equally shaped and identical
            (three small all-reduces and a read-back; default True).

        Returns
        -------
        torch.Tensor
            The new states (the same on every process), shape, dtype and device of ``states``.
        """
        states, beta = self._states(states, beta, validate)
        chunk_size = modern._check_chunk(chunk_size)
        shape = states.shape
        return self._update_kernel(states.reshape(-1, shape[-1]), beta, chunk_size).reshape(shape)

    def energy(
        self,
        states: torch.Tensor,
        beta: float,
        *,
        chunk_size: int | None = None,
        validate: bool = True,
    ) -> torch.Tensor:
        r"""The energy :math:numref:`eq-modern-energy` against all shards (collective).

        .. math::

            E(\xi) = -\mathrm{lse}(\beta, X^\top \xi) + \tfrac12 \xi^\top \xi
                     + \beta^{-1}\log N + \tfrac12 M^2

        Parameters
        ----------
        states, beta, chunk_size, validate :
            As in :meth:`update`.

        Returns
        -------
        torch.Tensor
            Energies, shape ``states.shape[:-1]``.
        """
        states, beta = self._states(states, beta, validate)
        chunk_size = modern._check_chunk(chunk_size)
        lead = states.shape[:-1]
        return self._energy_kernel(states.reshape(-1, states.shape[-1]), beta, chunk_size).reshape(
            lead
        )

    def retrieve(
        self,
        states: torch.Tensor,
        beta: float,
        max_steps: int = 100,
        tol: float = 1e-6,
        *,
        chunk_size: int | None = None,
    ) -> Retrieval:
        """Iterate :meth:`update` to a fixed point, as :func:`ebmlib.modern.retrieve` does.

        The arguments are checked once (collectively); the processes then take the same
        stopping decision at every step (the largest move is all-reduced).

        Returns
        -------
        ebmlib.modern.Retrieval
        """
        states, beta = self._states(states, beta, True)
        max_steps = check_int(max_steps, "max_steps", minimum=1)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)):
            raise TypeError(f"tol must be a number, got {type(tol).__name__}")
        if not math.isfinite(tol) or tol < 0:
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        chunk_size = modern._check_chunk(chunk_size)
        shape = states.shape
        s = states.reshape(-1, shape[-1])
        floor = 8 * torch.finfo(self.dtype).eps * self.max_norm
        for t in range(max_steps):
            new = self._update_kernel(s, beta, chunk_size)
            moved = torch.linalg.vector_norm((new - s).to(self._work.dtype), dim=-1).amax()
            dist.all_reduce(moved, op=dist.ReduceOp.MAX, group=self.group)
            moved_f = float(moved)
            if not math.isfinite(moved_f):
                raise ValueError(
                    f"the update overflowed in {self.dtype} at beta = {beta:g}; use a smaller "
                    "beta, rescale the patterns or use a wider dtype"
                )
            s = new
            if moved_f <= max(float(tol), floor):
                return Retrieval(s.reshape(shape), t, True)
        return Retrieval(s.reshape(shape), max_steps, False)


# ---------------------------------------------------------------------------------------------
# data-parallel training
# ---------------------------------------------------------------------------------------------


def shard_batch(batch: torch.Tensor, *, group: Any = None) -> torch.Tensor:
    """This process's equal slice of a batch (first dimension) for data-parallel training.

    The batch size must be divisible by the number of processes: with equal slices, the
    average over processes of the per-slice mean loss is the mean loss of the whole batch,
    so data-parallel gradients equal full-batch gradients exactly.

    Parameters
    ----------
    batch : torch.Tensor
        ``[B, ...]``, the same on every process.
    group : optional
        The process group (default: the whole world).

    Returns
    -------
    torch.Tensor
        ``batch[rank * B / R : (rank + 1) * B / R]`` (a view).
    """
    rank, world = _require_group(group)
    check_tensor(batch, "batch", min_ndim=1, finite=False)
    if batch.shape[0] % world:
        raise ValueError(
            f"batch must have a first dimension divisible by the {world} processes, "
            f"got {batch.shape[0]}"
        )
    size = batch.shape[0] // world
    return batch[rank * size : (rank + 1) * size]


def data_parallel(module: nn.Module, *, group: Any = None, **kwargs: Any) -> nn.Module:
    """Wrap a layer (e.g. :class:`ebmlib.attention.Hopfield`) for data-parallel training.

    This is :class:`torch.nn.parallel.DistributedDataParallel`: at construction the
    parameters of process 0 are broadcast to all processes; in every backward pass the
    gradients are averaged over the processes. Each process feeds its slice of the batch
    (:func:`shard_batch`). For CPU parameters (gloo) no device ids are passed; for a CUDA
    module the current device is used.

    Parameters
    ----------
    module : nn.Module
        The layer to train.
    group : optional
        The process group (default: the whole world).
    **kwargs :
        Passed to ``DistributedDataParallel``.

    Returns
    -------
    torch.nn.parallel.DistributedDataParallel
    """
    from torch.nn.parallel import DistributedDataParallel

    _require_group(group)
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    params = list(module.parameters())
    if not params:
        raise ValueError("module has no parameters to train")
    if params[0].device.type == "cuda" and "device_ids" not in kwargs:
        kwargs["device_ids"] = [params[0].device.index]
    return DistributedDataParallel(module, process_group=group, **kwargs)
