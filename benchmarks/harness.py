"""A small harness for side-by-side speed comparisons.

A comparison is a function decorated with :func:`register`. It receives ``quick`` (a smaller
problem for smoke runs) and returns a list of :class:`Row`, each timing ``ebmlib`` and a peer on
the same data in the same process. The harness prints one markdown table with the ratio, where
a ratio above 1 always means ``ebmlib`` is better (faster, or higher throughput).
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

_REGISTRY: dict[str, Callable[[bool], list[Row]]] = {}


@dataclass
class Row:
    """One measured comparison.

    ``ours`` and ``peer`` are in ``unit``; with ``higher_is_better`` (throughputs) the ratio is
    ``ours / peer``, otherwise (times) it is ``peer / ours``. Either way > 1 means ebmlib wins.
    """

    benchmark: str
    case: str
    ours: float
    peer: float
    peer_name: str
    unit: str = "s"
    higher_is_better: bool = False
    target: float | None = None  # the ratio the issue asks for, if any

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.ours / self.peer
        return self.peer / self.ours


def register(name: str) -> Callable[[Callable[[bool], list[Row]]], Callable[[bool], list[Row]]]:
    """Register a comparison under ``name`` (used by ``--only``)."""

    def deco(fn: Callable[[bool], list[Row]]) -> Callable[[bool], list[Row]]:
        if name in _REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def registry() -> dict[str, Callable[[bool], list[Row]]]:
    return dict(_REGISTRY)


def sync(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work so that timings are honest."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timeit(
    fn: Callable[[], object],
    *,
    repeat: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
    min_time: float = 0.0,
) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs.

    With ``min_time`` each run calls ``fn`` in a loop until at least that many seconds passed
    and reports the time per call.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        gc.collect()
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn()
            calls += 1
            sync(device)
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        times.append(elapsed / calls)
    return statistics.median(times)


def machine() -> str:
    """One line naming the machine: CPU model, threads, torch version and device."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    parts = [
        f"CPU: {cpu}",
        f"{os.cpu_count()} logical cores",
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
    ]
    if torch.cuda.is_available():
        parts.append(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        parts.append("no GPU")
    return "; ".join(parts)


def _fmt(x: float) -> str:
    if x == 0 or not (1e-3 <= abs(x) < 1e5):
        return f"{x:.3g}"
    return f"{x:.4g}"


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | case | ebmlib | peer | unit | ratio (>1: ebmlib better) | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        target = (
            ""
            if r.target is None
            else f"{r.target:g}x " + ("met" if r.ratio >= r.target else "**missed**")
        )
        lines.append(
            f"| {r.benchmark} | {r.case} | {_fmt(r.ours)} | {_fmt(r.peer)} ({r.peer_name}) | "
            f"{r.unit} | {r.ratio:.2f} | {target} |"
        )
    return "\n".join(lines)
