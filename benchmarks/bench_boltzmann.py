"""Boltzmann machines (chapter 6): exact enumeration and Gibbs sweeps, ebmlib versus numpy.

Two comparisons on the same machines in the same process:

* ``boltzmann_log_partition``: ``log Z`` of an ``n``-unit machine by enumerating all ``2^n``
  states. ebmlib builds the states as a ``[2^n, n]`` tensor and evaluates all energies with one
  matrix product per chunk; the peer is the plain numpy loop over states that a first
  implementation would write.
* ``boltzmann_gibbs``: sequential heat-bath sweeps over ``B`` independent chains. Both sides run
  the same algorithm (a loop over units, vectorised over chains); the peer is written in numpy.
  Throughput is in unit updates per second. The numpy peer runs with OpenBLAS limited to one
  thread (``threadpoolctl``, installed with scikit-learn, when available): on a loaded 2-core
  machine multi-threaded OpenBLAS matrix-vector products of this size slow down by one to two
  orders of magnitude, which would measure the thread pool rather than the algorithm.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from ebmlib.boltzmann import BoltzmannMachine

from .harness import Row, register, timeit

try:  # limit BLAS threads for the numpy peer (see the module docstring)
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def _machine(n: int, seed: int) -> BoltzmannMachine:
    g = torch.Generator().manual_seed(seed)
    bm = BoltzmannMachine(n, init_std=1.0 / math.sqrt(n), generator=g, dtype=torch.float64)
    with torch.no_grad():
        bm.bias.copy_(torch.randn(n, generator=g, dtype=torch.float64) * 0.5)
    return bm


def _numpy_log_partition(W: np.ndarray, b: np.ndarray) -> float:
    n = len(b)
    neg_e = []
    for bits in itertools.product((0.0, 1.0), repeat=n):
        s = np.array(bits)
        neg_e.append(0.5 * s @ W @ s + b @ s)
    neg_e = np.array(neg_e)
    m = neg_e.max()
    return float(m + np.log(np.exp(neg_e - m).sum()))


@register("boltzmann_log_partition")
def run_log_partition(quick: bool) -> list[Row]:
    rows = []
    for n in [10] if quick else [10, 14]:
        bm = _machine(n, seed=n)
        W = bm.W.numpy().copy()
        b = bm.bias.numpy().copy()
        ours = float(bm.log_partition_exact())
        peer = _numpy_log_partition(W, b)
        assert abs(ours - peer) < 1e-9, (ours, peer)
        t_ours = timeit(bm.log_partition_exact, repeat=5, min_time=0.05)
        t_peer = timeit(lambda W=W, b=b: _numpy_log_partition(W, b), repeat=3)
        rows.append(
            Row("boltzmann_log_partition", f"n={n} ({2**n} states)", t_ours, t_peer, "numpy loop")
        )
    return rows


def _numpy_sweeps(s: np.ndarray, W: np.ndarray, b: np.ndarray, T: float, sweeps: int, rng):
    n = s.shape[1]
    for _ in range(sweeps):
        u = rng.random(s.shape)
        for i in range(n):
            h = s @ W[i] + b[i]  # W is symmetric: row i is column i
            s[:, i] = u[:, i] < 1.0 / (1.0 + np.exp(-h / T))
    return s


@register("boltzmann_gibbs")
def run_gibbs(quick: bool) -> list[Row]:
    rows = []
    sizes = [(20, 1000, 10)] if quick else [(20, 1000, 20), (20, 20000, 10), (100, 5000, 5)]
    for n, B, sweeps in sizes:
        bm = _machine(n, seed=n + B)
        W = bm.W.numpy().copy()
        b = bm.bias.numpy().copy()
        g = torch.Generator().manual_seed(0)
        s0 = bm.random_state(B, generator=g)
        s0_np = s0.numpy().copy()
        rng = np.random.default_rng(0)
        # Same stationary distribution: compare the mean activity after a few sweeps.
        m_ours = float(bm.gibbs(s0, sweeps=sweeps, generator=g).mean())
        m_peer = float(_numpy_sweeps(s0_np.copy(), W, b, 1.0, sweeps, rng).mean())
        assert abs(m_ours - m_peer) < 6 * 0.5 / math.sqrt(B), (m_ours, m_peer)

        def ours(bm=bm, s0=s0, sweeps=sweeps, g=g):
            return bm.gibbs(s0, sweeps=sweeps, generator=g)

        def peer(s0_np=s0_np, W=W, b=b, sweeps=sweeps, rng=rng):
            if threadpool_limits is None:
                return _numpy_sweeps(s0_np.copy(), W, b, 1.0, sweeps, rng)
            with threadpool_limits(limits=1, user_api="blas"):
                return _numpy_sweeps(s0_np.copy(), W, b, 1.0, sweeps, rng)

        t_ours = timeit(ours, repeat=3)
        t_peer = timeit(peer, repeat=3)
        updates = n * B * sweeps
        rows.append(
            Row(
                "boltzmann_gibbs",
                f"n={n}, {B} chains, {sweeps} sweeps",
                updates / t_ours / 1e6,
                updates / t_peer / 1e6,
                "numpy",
                unit="M unit updates/s",
                higher_is_better=True,
            )
        )
    return rows
