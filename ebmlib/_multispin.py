"""The bit-packed (multi-spin coded) checkerboard engine of :mod:`ebmlib.ising`.

This module is private: :mod:`ebmlib.ising` holds the readable reference sampler and the
mathematics (chapter 1, :ref:`chapter-ising`); this engine produces a chain with the *same*
transition kernel, only faster, and the tests check the two against each other and against
exact enumeration.

Layout. The lattice splits into four quarter lattices ``xi[2m + a, 2n + b]`` (``m, n < L/2``);
the quarter ``(a, b)`` has colour ``(a + b) mod 2``, the colour of the chequerboard. Up to 64
spins of one quarter are packed into the bits of one ``int64`` word, so that neighbour sums,
acceptance decisions and flips are bitwise operations on whole words, and a half-sweep touches
only the colour it updates.

Acceptance. A spin ``xi_j`` with ``n_-`` of its four neighbours ``xi_k`` anti-aligned has
``xi_j sum_k xi_k = 4 - 2 n_-``, so its flip costs ``dE = 2 xi_j (J sum_k xi_k + h)`` with
``sum_k xi_k = xi_j (4 - 2 n_-)``: at most ten classes ``(xi_j, n_-)``, each with one flip
probability
``A(dE)`` (Metropolis with ``A(0) = 1/2``, or heat bath), computed in float64 exactly as the
reference sampler computes it. A bit flips when a uniform random integer of ``ACCEPT_BITS``
bits, built bit plane by bit plane, is below its class's probability rounded to
``ACCEPT_BITS`` bits (the resolution of a ``float32`` uniform). The random numbers are drawn
in a different order than in the reference sampler, so the two chains agree in distribution,
not sample by sample.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import torch

__all__ = ["ACCEPT_BITS", "word_bits", "multispin_sweeps", "Packed", "run_packed"]

ACCEPT_BITS = 24
"""Bits of resolution of the acceptance probabilities in the multi-spin sampler."""

_LITTLE_ENDIAN = sys.byteorder == "little"


def word_bits(L: int) -> int:
    """Bits used per int64 word: the largest divisor of L/2 that is at most 64."""
    half = L // 2
    for nb in range(min(64, half), 0, -1):
        if half % nb == 0:
            return nb
    return 1  # pragma: no cover


class Packed:
    """A batch of lattices in the colour-major quarter-lattice, bit-packed layout.

    The lattice splits into four quarter lattices ``s[2m + a, 2n + b]`` (``m, n < L/2``). The
    quarter ``(a, b)`` has colour ``c = (a + b) mod 2`` and is stored as ``q[..., c, a, :, :]``,
    so that the two quarters of one colour are one contiguous block. Along ``n`` the spins are
    packed into int64 words: ``n = j W + k`` is bit ``j`` of word ``k`` (``W = L / (2 nb)``
    words of ``nb`` bits per row; bit 1 means spin up). ``q`` has shape ``[..., 2, 2, L/2, W]``.
    """

    def __init__(self, spins: torch.Tensor):
        L = spins.shape[-1]
        self.L = L
        self.nb = word_bits(L)
        self.W = L // 2 // self.nb
        self.mask = -1 if self.nb == 64 else (1 << self.nb) - 1
        batch = spins.shape[:-2]
        half, nb, W = L // 2, self.nb, self.W
        up = (spins > 0).to(torch.uint8).reshape(*batch, half, 2, half, 2)  # [..., m, a, n, b]
        # colour-major quarters: cm[c, a] = quarter (a, (a + c) mod 2), as [..., 2, 2, m, n]
        cm = torch.empty((*batch, 2, 2, half, half), dtype=torch.uint8, device=spins.device)
        for c in (0, 1):
            for a in (0, 1):
                cm[..., c, a, :, :] = up[..., :, a, :, (a + c) % 2]
        bits = cm.reshape(*batch, 2, 2, half, nb, W)
        if nb % 8 == 0:
            # gather the nb bits of each word, pack them 8 to a byte, then view 8 bytes as int64
            per_word = bits.transpose(-1, -2).reshape(*batch, 2, 2, half, W, nb // 8, 8)
            weights = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)
            bytes_ = (per_word * weights.to(spins.device)).sum(-1, dtype=torch.uint8)
            if nb < 64:
                pad = torch.zeros(
                    (*bytes_.shape[:-1], 8 - nb // 8), dtype=torch.uint8, device=spins.device
                )
                bytes_ = torch.cat([bytes_, pad], -1)
            self.q = bytes_.contiguous().view(torch.int64).squeeze(-1)
            if not _LITTLE_ENDIAN:  # pragma: no cover - torch views bytes in native order
                self.q = self._from_bits(bits)
        else:
            self.q = self._from_bits(bits)

    def _from_bits(self, bits: torch.Tensor) -> torch.Tensor:
        shifts = torch.arange(self.nb, device=bits.device, dtype=torch.int64)
        weights = torch.ones(self.nb, dtype=torch.int64, device=bits.device) << shifts
        return (bits.to(torch.int64) * weights[:, None]).sum(-2).contiguous()

    def unpack(self, dtype: torch.dtype) -> torch.Tensor:
        L, nb, W = self.L, self.nb, self.W
        half = L // 2
        batch = self.q.shape[:-4]
        if nb % 8 == 0 and _LITTLE_ENDIAN:
            bytes_ = self.q.unsqueeze(-1).view(torch.uint8)[..., : nb // 8]  # [..., W, nb/8]
            shifts = torch.arange(8, device=self.q.device, dtype=torch.uint8)
            bits = (bytes_.unsqueeze(-1) >> shifts) & 1  # [..., 2, 2, m, W, nb/8, 8]
            bits = bits.reshape(*batch, 2, 2, half, W, nb).transpose(-1, -2)
        else:
            shifts = torch.arange(nb, device=self.q.device, dtype=torch.int64)
            bits = ((self.q.unsqueeze(-2) >> shifts[:, None]) & 1).to(torch.uint8)
        cm = bits.reshape(*batch, 2, 2, half, half)
        full = torch.empty((*batch, half, 2, half, 2), dtype=torch.uint8, device=self.q.device)
        for c in (0, 1):
            for a in (0, 1):
                full[..., :, a, :, (a + c) % 2] = cm[..., c, a, :, :]
        full = full.reshape(*batch, L, L)
        if dtype.is_floating_point or dtype.is_signed:
            return (2 * full.to(dtype) - 1) if dtype != torch.int8 else (2 * full - 1).to(dtype)
        raise TypeError(f"spins must have a signed dtype, got {dtype}")  # pragma: no cover

    def _rotl(self, x: torch.Tensor) -> torch.Tensor:
        nb = self.nb
        if nb == 1:
            return x
        y = (x << 1) | ((x >> (nb - 1)) & 1)
        return y if nb == 64 else y & self.mask

    def _rotr(self, x: torch.Tensor) -> torch.Tensor:
        nb = self.nb
        if nb == 1:
            return x
        return ((x >> 1) & ((1 << (nb - 1)) - 1)) | ((x & 1) << (nb - 1))

    def _shift_cols(self, x: torch.Tensor, out: torch.Tensor, direction: int) -> None:
        """Write into ``out`` the spin at compressed column ``n + direction`` (periodic)."""
        if direction < 0:
            out[..., 1:] = x[..., :-1]
            out[..., 0] = self._rotl(x[..., -1])
        else:
            out[..., :-1] = x[..., 1:]
            out[..., -1] = self._rotr(x[..., 0])

    def neighbours(
        self, c: int, bufs: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The four neighbour words of every spin of colour ``c``, each ``[..., 2, L/2, W]``.

        ``bufs`` (optional) holds output buffers reused across calls.
        """
        other = self.q[..., 1 - c, :, :, :]  # [..., 2(a), L/2, W]
        bufs = {} if bufs is None else bufs
        up, down, side = (_buffer(bufs, name, other) for name in ("up", "down", "side"))
        # Vertical: quarter (a, b) sees rows m (and m - 1 for a = 0, m + 1 for a = 1) of the
        # quarter (1 - a, b), which has the other colour and row parity 1 - a.
        up[..., 0, :, :] = other[..., 1, :, :]
        up[..., 1, :, :] = other[..., 0, :, :]
        down[..., 0, 1:, :] = other[..., 1, :-1, :]
        down[..., 0, 0, :] = other[..., 1, -1, :]
        down[..., 1, :-1, :] = other[..., 0, 1:, :]
        down[..., 1, -1, :] = other[..., 0, 0, :]
        # Horizontal: quarter (a, b) sees columns n and n - 1 (b = 0) or n + 1 (b = 1) of the
        # quarter (a, 1 - b): the other colour with the same row parity a.
        for a in (0, 1):
            b = (a + c) % 2
            self._shift_cols(other[..., a, :, :], side[..., a, :, :], -1 if b == 0 else 1)
        return up, down, other, side


def _buffer(bufs: dict[str, torch.Tensor], name: str, like: torch.Tensor) -> torch.Tensor:
    """A work buffer shaped like ``like``, allocated once and reused (no page faults per op)."""
    buf = bufs.get(name)
    if buf is None or buf.shape != like.shape:
        buf = bufs[name] = torch.empty_like(like, memory_format=torch.contiguous_format)
    return buf


def class_energy_changes(J: float, h: float) -> list[tuple[int, int, float]]:
    """Energy change of a flip for the ten classes (spin bit ``s``, anti-aligned neighbours ``k``).

    Spin bit ``s`` is ``1`` for ``+1``. A spin ``xi`` with ``k`` of its four neighbours
    anti-aligned has the neighbour sum ``n = xi (4 - 2k)``; the energy change of its flip is
    ``dE = 2 xi (J n + h)``, evaluated in float64 in the same order of operations as the
    reference sampler of :mod:`ebmlib.ising` (so that ties ``dE == 0`` are the same ties).
    """
    out = []
    for s in (0, 1):
        xi = torch.tensor(1.0 if s == 1 else -1.0, dtype=torch.float64)
        for k in range(5):
            n = xi * (4 - 2 * k)
            out.append((s, k, float(2 * xi * (J * n + h))))
    return out


def _thresholds(p: Any) -> Any:
    """Round a probability to ``ACCEPT_BITS`` bits: an integer in ``[0, 2**ACCEPT_BITS]``."""
    scale = 1 << ACCEPT_BITS
    if isinstance(p, torch.Tensor):
        return torch.round(p * scale).to(torch.int64)
    return int(round(p * scale))


_LAZY_WORDS = 4096
_LO, _HI = -(2**63), 2**63 - 1  # random_ bounds giving (practically) 64 uniform bits


def _compare_scalar(
    cmasks: list[torch.Tensor],
    thr: list[int],
    rmask: torch.Tensor,
    gen: Any,
    lazy: bool,
    bufs: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Bits where a fresh ``ACCEPT_BITS``-bit uniform integer ``u`` is below the threshold.

    The threshold of a bit is ``thr[j]`` when the bit lies in ``cmasks[j]``; only the bits of
    ``rmask`` (the union of the class masks) are compared. The comparison runs from the most
    significant bit plane down: a bit is decided at the first plane where ``u`` differs from
    the threshold (``u < t`` if that threshold bit is 1). A random plane ``v = u xor t`` is
    uniform whatever ``t`` is, so it is drawn directly. With ``lazy`` the words that are fully
    decided after 8 and 16 planes are dropped, so on average about 10 instead of 24 random
    planes are drawn (this needs a host synchronisation, so it is used on the CPU only).
    ``bufs`` holds work buffers reused across calls.
    """
    m = ACCEPT_BITS
    shape = rmask.shape
    n_words = rmask.numel()
    if "v" not in bufs or bufs["v"].numel() < m * n_words:
        bufs["v"] = torch.empty(m * n_words, dtype=torch.int64, device=rmask.device)
        bufs["d"] = torch.empty(n_words, dtype=torch.int64, device=rmask.device)
        bufs["t"] = torch.empty(n_words, dtype=torch.int64, device=rmask.device)
    undecided = bufs["und"] = _buffer(bufs, "und", rmask.reshape(-1))
    undecided.copy_(rmask.reshape(-1))
    result = _buffer(bufs, "res", undecided).zero_()
    cms = [c.reshape(-1) for c in cmasks]
    gidx = None
    plane = m - 1
    stages = (8, 8, m - 16) if lazy else (m,)
    for st, n_planes in enumerate(stages):
        if st > 0:
            sel = torch.nonzero(undecided).squeeze(1)
            if sel.numel() == 0:
                break
            undecided = undecided[sel]
            cms = [c[sel] for c in cms]
            gidx = sel if gidx is None else gidx[sel]
        res = result if gidx is None else torch.zeros_like(undecided)
        n = undecided.numel()
        v = bufs["v"][: n_planes * n].view(n_planes, n)
        v.random_(_LO, _HI, generator=gen)
        cache: dict[tuple[bool, ...], torch.Tensor | None] = {}
        d, tmp = bufs["d"][:n], bufs["t"][:n]
        for j in range(n_planes):
            key = tuple(bool((t >> plane) & 1) for t in thr)
            if key not in cache:
                sel_masks = [c for c, on in zip(cms, key, strict=True) if on]
                b = None
                if sel_masks:
                    b = sel_masks[0].clone() if gidx is not None else _buffer(bufs, str(key), d)
                    b.copy_(sel_masks[0])
                    for c in sel_masks[1:]:
                        b |= c
                cache[key] = b
            b = cache[key]
            torch.bitwise_and(undecided, v[j], out=d)  # decided at this plane
            if b is not None:
                torch.bitwise_and(d, b, out=tmp)  # ... with u < t
                res |= tmp
            undecided ^= d
            plane -= 1
        if gidx is not None:
            result[gidx] |= res
    return result.reshape(shape)


def _compare_tensor(
    cmasks: list[torch.Tensor], planes: list[list[torch.Tensor]], rmask: torch.Tensor, gen: Any
) -> torch.Tensor:
    """As :func:`_compare_scalar`, with per-lattice thresholds given as bit-plane masks."""
    m = ACCEPT_BITS
    undecided = rmask.clone()
    result = torch.zeros_like(rmask)
    v = torch.empty((m, *rmask.shape), dtype=torch.int64, device=rmask.device)
    v.random_(_LO, _HI, generator=gen)
    for j, plane in enumerate(range(m - 1, -1, -1)):
        b = torch.zeros_like(rmask)
        for c, bit in zip(cmasks, planes[plane], strict=True):
            b |= c & bit
        d = undecided & v[j]
        result |= d & b
        undecided ^= d
    return result


def multispin_sweeps(
    spins: torch.Tensor, probs: list[tuple[int, int, Any]], sweeps: int, gen: Any
) -> torch.Tensor:
    """``sweeps`` checkerboard sweeps of ``spins`` (``[..., L, L]``, even ``L``).

    ``probs`` lists the flip probability ``p`` of each class ``(s, k)`` (see
    :func:`class_energy_changes`): a float, or a float64 tensor of the batch shape for one
    temperature per lattice. Returns new spins of the dtype of ``spins``.
    """
    packed = Packed(spins)
    run_packed(packed, probs, sweeps, gen)
    return packed.unpack(spins.dtype)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return bool(torch.equal(a, b))
    return a == b


def run_packed(packed: Packed, probs: list[tuple[int, int, Any]], sweeps: int, gen: Any) -> None:
    """Run ``sweeps`` sweeps on ``packed`` in place (colour 0, then colour 1)."""
    if sweeps == 0:
        return
    full = 1 << ACCEPT_BITS
    classes = list(probs)
    by_class = {(s, k): p for s, k, p in classes}
    use_spin = not all(_same(by_class[0, k], by_class[1, k]) for k in range(5))
    if not use_spin:  # the classes of s = 0 and s = 1 coincide (h = 0); keep one copy
        classes = [c for c in classes if c[0] == 1]
    first = classes[0][2]  # a tensor here has the batch shape (one temperature per lattice)
    tensor_T = isinstance(first, torch.Tensor)
    thr = [(s, k, _thresholds(p)) for s, k, p in classes]
    q = packed.q
    if tensor_T:
        # Per-lattice masks, all ones (-1) or zeros, broadcasting over [2, L/2, W].
        def bm(x: torch.Tensor) -> torch.Tensor:
            return (-x.to(torch.int64)).reshape(*first.shape, 1, 1, 1)

        always = [(s, k, bm(t >= full)) for s, k, t in thr]
        rand = [(s, k, bm((t > 0) & (t < full)), t) for s, k, t in thr]
        planes = [[bm((t >> i) & 1) for (_, _, _, t) in rand] for i in range(ACCEPT_BITS)]
    else:
        always = [(s, k, None) for s, k, t in thr if t >= full]
        rand = [(s, k, None, t) for s, k, t in thr if 0 < t < full]
    # Dropping decided words pays off only when random numbers, not per-op overhead, dominate.
    lazy = (not tensor_T) and q.device.type == "cpu" and q[..., 0, :, :, :].numel() >= _LAZY_WORDS
    bufs: dict[str, torch.Tensor] = {}
    for _ in range(sweeps):
        for c in (0, 1):
            s = q[..., c, :, :, :]  # [..., 2, L/2, W], a view: updated in place
            n1, n2, n3, n4 = packed.neighbours(c, bufs)
            buf = functools.partial(_buffer, bufs, like=s)
            xor, and_, not_ = torch.bitwise_xor, torch.bitwise_and, torch.bitwise_not
            # anti-aligned neighbour bits
            a1, a2 = xor(s, n1, out=buf("a1")), xor(s, n2, out=buf("a2"))
            a3, a4 = xor(s, n3, out=buf("a3")), xor(s, n4, out=buf("a4"))
            # k = a1 + a2 + a3 + a4 in binary (bit2 bit1 bit0), with a small adder.
            x1, c1 = xor(a1, a2, out=buf("x1")), and_(a1, a2, out=buf("c1"))
            x2, c2 = xor(a3, a4, out=buf("x2")), and_(a3, a4, out=buf("c2"))
            bit0 = xor(x1, x2, out=buf("bit0"))
            bit1 = xor(c1, c2, out=buf("bit1"))
            bit1 ^= and_(x1, x2, out=buf("tmp"))
            bit2 = and_(c1, c2, out=buf("bit2"))
            nb0, nb1 = not_(bit0, out=buf("nb0")), not_(bit1, out=buf("nb1"))
            k0 = and_(nb0, nb1, out=buf("k0"))
            k0 &= not_(bit2, out=buf("tmp"))
            kmask = [
                k0,
                and_(bit0, nb1, out=buf("k1")),
                and_(bit1, nb0, out=buf("k2")),
                and_(bit1, bit0, out=buf("k3")),
                bit2,
            ]
            ns = ~s if use_spin else None

            def cls(sb: int, k: int, s=s, ns=ns, kmask=kmask) -> torch.Tensor:
                if not use_spin:
                    return kmask[k]
                return kmask[k] & (s if sb == 1 else ns)

            flip = buf("flip").zero_()
            for sb, k, am in always:
                flip |= cls(sb, k) if am is None else cls(sb, k) & am
            if rand:
                cmasks = [cls(sb, k) for sb, k, _, _ in rand]
                rmask = buf("rmask").zero_()
                for cm, (_, _, rm, _) in zip(cmasks, rand, strict=True):
                    rmask |= cm if rm is None else cm & rm
                if tensor_T:
                    flip |= _compare_tensor(cmasks, planes, rmask, gen)
                else:
                    flip |= _compare_scalar(cmasks, [r[3] for r in rand], rmask, gen, lazy, bufs)
            if packed.nb < 64:
                flip &= packed.mask
            s ^= flip
