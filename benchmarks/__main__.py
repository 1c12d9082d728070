"""Run the registered comparisons and print a markdown table.

Usage::

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks [--quick] [--only NAME ...] [--list]
    python -m benchmarks --gpu [--dry-run] [--output gpu_check.md]

``--gpu`` runs every CUDA test and every GPU benchmark row and writes a markdown verdict
against the GPU targets (see ``benchmarks/gpu.py``; ``benchmarks/gpu_check.sh`` is the same).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import harness  # noqa: E402


def _discover() -> None:
    pkg_dir = os.path.dirname(__file__)
    for info in pkgutil.iter_modules([pkg_dir]):
        if info.name.startswith("bench_"):
            importlib.import_module(f"{__package__}.{info.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmarks")
    parser.add_argument("--list", action="store_true", help="list the registered benchmarks")
    parser.add_argument(
        "--gpu", action="store_true", help="the GPU check: every CUDA test and GPU benchmark row"
    )
    parser.add_argument("--dry-run", action="store_true", help="with --gpu: list what would run")
    parser.add_argument(
        "--no-collect", action="store_true", help="with --dry-run: skip the pytest collection"
    )
    parser.add_argument(
        "--output", default="gpu_check.md", help="with --gpu: where to write the markdown report"
    )
    args = parser.parse_args(argv)
    if args.dry_run and not args.gpu:
        parser.error("--dry-run goes with --gpu")
    if args.gpu:
        from . import gpu

        return gpu.main(args)
    _discover()
    reg = harness.registry()
    if args.list:
        print("\n".join(sorted(reg)))
        return 0
    names = sorted(reg) if not args.only else args.only
    unknown = [n for n in names if n not in reg]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; see --list")
    print(f"Machine: {harness.machine()}")
    print(f"Mode: {'quick' if args.quick else 'full'}\n")
    rows: list[harness.Row] = []
    for name in names:
        t0 = time.perf_counter()
        rows.extend(reg[name](args.quick))
        print(f"[{name}: {time.perf_counter() - t0:.1f} s]", file=sys.stderr)
    print(harness.markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
