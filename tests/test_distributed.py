"""Tests of ebmlib.distributed: a pattern memory sharded over processes, and DDP training.

Two processes are spawned on the CPU with the gloo backend (a free local port, a short
timeout). Each process computes with its own shard of the patterns and writes its results to
a file; the test process compares them with the single-process functions of
:mod:`ebmlib.modern` (the requirement: equal to round-off) and with the explicit formulas of
chapter 4 (the independent answer).
"""

from __future__ import annotations

import datetime
import math
import os
import socket
import time
from pathlib import Path

import pytest
import torch

from ebmlib import modern

WORLD = 2
TIMEOUT_S = 180.0  # for the whole spawned run (imports included) on a loaded 2-core machine
N, D, B = 37, 6, 5  # 37 patterns: shards of 19 and 18 rows
BETAS = [1e-3, 0.5, 2.0, 30.0, 1e3]
F64 = torch.float64


def _data(dtype=F64):
    """The same patterns and states in every process (fixed seed)."""
    g = torch.Generator().manual_seed(2024)
    x = torch.randn(N, D, generator=g, dtype=F64)
    s = x[:B] + 0.4 * torch.randn(B, D, generator=g, dtype=F64)
    return s.to(dtype), x.to(dtype)


# ---------------------------------------------------------------------------------------------
# what the spawned processes run
# ---------------------------------------------------------------------------------------------


def _work_memory(rank: int, world: int) -> dict:
    from ebmlib.distributed import ShardedMemory, shard_rows

    out = {}
    for dtype in (F64, torch.float32):
        s, x = _data(dtype)
        mem = ShardedMemory.from_full(x)
        assert mem.n == N and mem.patterns.shape[0] == (19 if rank == 0 else 18)
        assert torch.equal(mem.patterns, x[shard_rows(N, rank, world)])
        for beta in BETAS:
            for chunk in (None, 4):
                out[("update", dtype, beta, chunk)] = mem.update(s, beta, chunk_size=chunk)
                out[("energy", dtype, beta, chunk)] = mem.energy(s, beta, chunk_size=chunk)
        # leading dimensions are kept, a single state too
        out[("update3d", dtype)] = mem.update(s[:4].reshape(2, 2, D), 2.0)
        out[("update1d", dtype)] = mem.update(s[0], 2.0)
        out[("retrieve", dtype)] = mem.retrieve(s, 2.0, max_steps=200, tol=1e-10)
    # half precision at a beta whose half-precision scores would overflow
    s, x = _data(torch.float16)
    mem = ShardedMemory.from_full(x)
    out[("update", torch.float16, 1e4, None)] = mem.update(s, 1e4)
    out[("energy", torch.float16, 1e4, None)] = mem.energy(s, 1e4)
    # the shards need not be the contiguous blocks: every other row
    s, x = _data()
    mem = ShardedMemory(x[rank::world])
    out["strided"] = mem.update(s, 3.0)
    return out


def _work_errors(rank: int, world: int) -> dict:
    """Bad arguments on one process must raise the same kind of error on every process."""
    from ebmlib.distributed import ShardedMemory

    s, x = _data()
    mem = ShardedMemory.from_full(x)
    msgs = {}

    def attempt(name, fn):
        try:
            fn()
            msgs[name] = None
        except ValueError as exc:
            msgs[name] = str(exc)

    other = s + (0.5 if rank == 1 else 0.0)
    attempt("different_states", lambda: mem.update(other, 1.0))
    nan = s.clone()
    if rank == 1:
        nan[0, 0] = float("nan")
    attempt("nan_states", lambda: mem.energy(nan, 1.0))
    attempt("bad_beta", lambda: mem.update(s, -1.0 if rank == 0 else 1.0))
    wide = x if rank == 0 else torch.cat([x, x[:, :1]], dim=1)
    attempt("different_d", lambda: ShardedMemory(wide[rank::world]))
    # after all that the group still works
    msgs["still_works"] = mem.update(s, 2.0)
    return msgs


def _work_ddp(rank: int, world: int) -> dict:
    """Data-parallel SGD on a Hopfield layer: each process trains on half of the batch."""
    from ebmlib.attention import Hopfield
    from ebmlib.distributed import data_parallel, shard_batch

    layer = _ddp_layer()
    model = data_parallel(layer)
    x, y = _ddp_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xs, ys = shard_batch(x), shard_batch(y)
    assert xs.shape[0] == x.shape[0] // world
    for _ in range(DDP_STEPS):
        opt.zero_grad()
        loss = ((model(xs) - ys) ** 2).mean()
        loss.backward()
        opt.step()
    assert isinstance(layer, Hopfield)
    return {k: v.detach().clone() for k, v in layer.state_dict().items()}


DDP_STEPS = 5


def _ddp_layer():
    from ebmlib.attention import Hopfield

    return Hopfield(6, num_heads=2, steps=2, dtype=F64, generator=torch.Generator().manual_seed(7))


def _ddp_batch():
    g = torch.Generator().manual_seed(8)
    return torch.randn(8, 4, 6, generator=g, dtype=F64), torch.randn(
        8, 4, 6, generator=g, dtype=F64
    )


WORKERS = {"memory": _work_memory, "errors": _work_errors, "ddp": _work_ddp}


def _entry(rank: int, world: int, port: int, out_dir: str, names: list, variant: str | None):
    import torch.distributed as dist

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        if variant is not None:
            from test_wrong_variants_part2 import apply_distributed_variant

            apply_distributed_variant(variant)
        for name in names:
            torch.save(WORKERS[name](rank, world), Path(out_dir) / f"{name}-{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_workers(names: list, out_dir: Path, variant: str | None = None) -> dict:
    """Spawn ``WORLD`` processes that run the named workers; return {name: [per-rank result]}."""
    import torch.multiprocessing as mp

    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = mp.start_processes(
        _entry,
        args=(WORLD, _free_port(), str(out_dir), names, variant),
        nprocs=WORLD,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=5.0):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                if proc.is_alive():
                    proc.kill()
            pytest.fail(f"the {WORLD} distributed processes did not finish in {TIMEOUT_S} s")
    return {
        name: [torch.load(out_dir / f"{name}-{r}.pt", weights_only=False) for r in range(WORLD)]
        for name in names
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    return run_workers(["memory", "errors", "ddp"], tmp_path_factory.mktemp("dist"))


# ---------------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------------


def _explicit_update(s, x, beta):
    """Eq. (4.4) written out in float64."""
    s, x = s.double(), x.double()
    return torch.softmax(beta * s @ x.T, -1) @ x


def _explicit_energy(s, x, beta):
    """Eq. (4.2) written out term by term in float64."""
    s, x = s.double(), x.double()
    return (
        -torch.logsumexp(beta * s @ x.T, -1) / beta
        + 0.5 * (s * s).sum(-1)
        + math.log(x.shape[0]) / beta
        + 0.5 * x.norm(dim=-1).max() ** 2
    )


# round-off budget per dtype: 16 eps covers sums of N = 37 terms taken in another order than on
# one process (a few eps for each of the two all-reduces and each partial sum)
EPS = {F64: 16 * torch.finfo(F64).eps, torch.float32: 16 * torch.finfo(torch.float32).eps}


def check_memory(results: dict) -> None:
    """The comparisons of the memory test, reusable by the wrong-variant test."""
    per_rank = results["memory"]
    for key in per_rank[0]:
        a, b = per_rank[0][key], per_rank[1][key]
        if isinstance(a, modern.Retrieval):
            a, b = a.states, b.states
        assert torch.equal(a, b), f"{key}: the processes disagree"
    out = per_rank[0]
    for dtype in (F64, torch.float32):
        s, x = _data(dtype)
        m = float(x.double().norm(dim=-1).max())
        for beta in BETAS:
            for chunk in (None, 4):
                got = out[("update", dtype, beta, chunk)]
                assert got.dtype == dtype and got.shape == s.shape
                # equal to the single-process update, to round-off
                single = modern.update(s, x, beta, chunk_size=chunk)
                tol = EPS[dtype] * (1 + m) * (1 + beta * m * m) ** 0.5
                assert (got.double() - single.double()).abs().max() <= tol, (dtype, beta, chunk)
                # and to the explicit formula (the independent answer)
                ref = _explicit_update(s, x, beta)
                assert (got.double() - ref).abs().max() <= 4 * tol, (dtype, beta, chunk)
                e = out[("energy", dtype, beta, chunk)]
                e_single = modern.energy(s, x, beta, chunk_size=chunk).double()
                e_ref = _explicit_energy(s, x, beta)
                e_tol = EPS[dtype] * (1 + e_ref.abs() + m * m + math.log(N) / beta)
                assert bool(((e.double() - e_single).abs() <= e_tol).all()), (dtype, beta, chunk)
                assert bool(((e.double() - e_ref).abs() <= 4 * e_tol).all()), (dtype, beta, chunk)
        tol = EPS[dtype] * (1 + m) * (1 + 2.0 * m * m) ** 0.5
        ref3 = _explicit_update(s[:4], x, 2.0).reshape(2, 2, D)
        assert (out[("update3d", dtype)].double() - ref3).abs().max() <= tol
        assert (
            out[("update1d", dtype)].double() - _explicit_update(s[:1], x, 2.0)[0]
        ).abs().max() <= tol
        res = out[("retrieve", dtype)]
        single = modern.retrieve(s, x, 2.0, max_steps=200, tol=1e-10)
        assert res.converged and res.steps == single.steps
        # the last move was below max(tol, 8 eps M); the fixed-point residual is at most that
        conv = max(1e-10, 8 * torch.finfo(dtype).eps * m)
        residual = (res.states.double() - _explicit_update(res.states, x, 2.0)).norm(dim=-1)
        assert residual.max() <= conv + tol
        assert (res.states.double() - single.states.double()).norm(dim=-1).max() <= 2 * conv + tol
    s, x = _data(torch.float16)
    got = out[("update", torch.float16, 1e4, None)]
    assert bool(torch.isfinite(got).all())
    m = float(x.double().norm(dim=-1).max())
    assert (got.double() - _explicit_update(s, x, 1e4)).abs().max() <= torch.finfo(
        torch.float16
    ).eps * m
    e = out[("energy", torch.float16, 1e4, None)]
    e_ref = _explicit_energy(s, x, 1e4)
    assert bool(
        ((e.double() - e_ref).abs() <= torch.finfo(torch.float16).eps * (e_ref.abs() + m * m)).all()
    )
    s, x = _data()
    assert (out["strided"] - _explicit_update(s, x, 3.0)).abs().max() <= 1e-12


@pytest.mark.slow
def test_sharded_update_and_energy_equal_single_process(results):
    """Checks eqs. (4.4) and (4.2) on a memory split over 2 processes (gloo, CPU).

    The patterns (N = 37, d = 6) are split 19/18; the distributed update and energy equal the
    single-process ``modern.update``/``modern.energy`` to round-off, for beta from 1e-3 to 1e3,
    with and without chunks, in float64 and float32 (and float16 at beta = 1e4), and match the
    explicit formulas. The round-off budget is 16 eps (1 + M) sqrt(1 + beta M^2): the scores
    beta x.xi carry an absolute error of about eps beta M^2 that moves the softmax weights,
    and the weighted sums of rows of norm up to M add eps M per term (measured: about 1/100 of
    the budget in both dtypes).
    """
    check_memory(results)


@pytest.mark.slow
def test_bad_arguments_raise_on_every_process(results):
    """Checks that a mistake on one process gives an error on every process, and no hang."""
    msgs = results["errors"]
    for rank in range(WORLD):
        m = msgs[rank]
        assert "same on every process" in m["different_states"]
        assert "finite" in m["nan_states"] or "another process" in m["nan_states"]
        assert m["bad_beta"] is not None
        assert m["different_d"] is not None
    assert "finite" in msgs[1]["nan_states"] and "another process" in msgs[0]["nan_states"]
    assert "beta" in msgs[0]["bad_beta"] and "another process" in msgs[1]["bad_beta"]
    assert "differ between processes" in msgs[0]["different_d"]
    s, x = _data()
    assert torch.allclose(msgs[0]["still_works"], _explicit_update(s, x, 2.0), atol=1e-12)


def check_ddp(results: dict) -> None:
    """DDP parameters after a few steps equal single-process full-batch training."""
    per_rank = results["ddp"]
    layer = _ddp_layer()
    x, y = _ddp_batch()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(DDP_STEPS):
        opt.zero_grad()
        ((layer(x) - y) ** 2).mean().backward()
        opt.step()
    start = _ddp_layer().state_dict()
    for name, want in layer.state_dict().items():
        for rank in range(WORLD):
            got = per_rank[rank][name]
            assert (got - want).abs().max() <= 1e-13 * (1 + want.abs().max()), name
    # and the test is not vacuous: training moved the parameters
    assert sum(not torch.equal(v, start[k]) for k, v in layer.state_dict().items()) >= 6


@pytest.mark.slow
def test_ddp_training_equals_full_batch_training(results):
    """Checks data-parallel training of a Hopfield layer (eq. (5.5)) over 2 processes.

    Each process runs 5 SGD steps on its half of a batch of 8 (mean squared error); DDP
    averages the gradients, and the mean of two half-batch means is the full-batch mean, so
    the parameters must equal those of single-process training on the full batch, to
    float64 round-off, on both processes.
    """
    check_ddp(results)


def test_shard_rows_partition():
    """Checks the shard layout: contiguous blocks that cover every row once, sizes within 1."""
    from ebmlib.distributed import shard_rows

    for n in (1, 2, 7, 37, 100):
        for world in range(1, min(n, 9) + 1):
            rows = [shard_rows(n, r, world) for r in range(world)]
            covered = [i for sl in rows for i in range(n)[sl]]
            assert covered == list(range(n))
            sizes = [sl.stop - sl.start for sl in rows]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    with pytest.raises(ValueError, match="world_size"):
        shard_rows(3, 0, 4)
    with pytest.raises(ValueError, match="rank"):
        shard_rows(8, 2, 2)


def test_without_a_process_group_the_error_says_what_to_do():
    """Checks that using the sharded memory before init_process_group names the missing step."""
    import torch.distributed as dist

    from ebmlib.distributed import ShardedMemory, data_parallel, shard_batch, shard_rows

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    for call in (
        lambda: ShardedMemory(torch.zeros(3, 2)),
        lambda: shard_rows(4),
        lambda: shard_batch(torch.zeros(4, 2)),
        lambda: data_parallel(torch.nn.Linear(2, 2)),
    ):
        with pytest.raises(RuntimeError, match="init_process_group"):
            call()
