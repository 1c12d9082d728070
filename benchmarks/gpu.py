"""The GPU check: every CUDA test and every GPU benchmark row, in one command, in minutes.

Usage (from the repository root, on a machine with a CUDA device)::

    benchmarks/gpu_check.sh                     # or: python -m benchmarks --gpu
    benchmarks/gpu_check.sh --dry-run           # list what would run (works without a GPU)
    benchmarks/gpu_check.sh --output gpu.md     # where the markdown table goes

It runs, within an 8-minute budget,

1. ``pytest -m cuda`` over the whole test suite, with a small plugin (this module) that
   records for every CUDA test whether it allocated memory on the GPU: a CUDA-marked test that
   never touches the device proves nothing and is reported as a failure;
2. the registered benchmarks that have GPU rows (:data:`GPU_BENCHMARKS`), through the harness,
   in their full size;

and writes one markdown table: the device, each GPU benchmark row with its ratio, the test
summary, and pass/fail against the GPU targets (:data:`TARGETS`). Without a CUDA device it
stops at once with exit status 2 and says why; the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from . import harness

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
BUDGET_S = 480.0  # the whole check: 8 minutes
TEST_BUDGET_S = 240.0  # the CUDA tests
GPU_BENCHMARKS = (
    "ising_metropolis",
    "rbm_pcd_throughput",
    "hopfield_vs_mha",
    "hopfield_steps",
    "modern_update",
    "modern_chunked",
    "modern_checks",
)
#: the GPU targets, as (name, what passes)
TARGETS = (
    ("Ising on GPU", "at least 100 spin-flip attempts per ns at L >= 8192"),
    ("RBM PCD on GPU", "at least 30x scikit-learn's BernoulliRBM (on the CPU)"),
    ("Hopfield layer on GPU", "at least 0.9x nn.MultiheadAttention, every case"),
    ("no host sync in forward", "every layer's forward passes set_sync_debug_mode('error')"),
    ("CUDA tests", "all pass, and each one allocates memory on the GPU"),
)
REPORT_ENV = "EBMLIB_GPU_CHECK_REPORT"
SYNC_TEST = "test_cuda_layers_forward_never_sync"


# ---------------------------------------------------------------------------------------------
# the pytest plugin (loaded with -p benchmarks.gpu in the test run)
# ---------------------------------------------------------------------------------------------

_RECORD: dict[str, dict] = {}

try:  # the hooks below only matter inside pytest
    from pytest import hookimpl
except ImportError:  # pragma: no cover

    def hookimpl(**_kwargs):
        return lambda fn: fn


def _allocations() -> int:
    if not torch.cuda.is_available():
        return 0
    return int(torch.cuda.memory_stats().get("allocation.all.allocated", 0))


@hookimpl(tryfirst=True)  # before the fixtures are set up: their GPU work counts too
def pytest_runtest_setup(item) -> None:  # pragma: no cover - runs inside the GPU test run
    _RECORD.setdefault(item.nodeid, {})["alloc_before"] = _allocations()


def pytest_runtest_makereport(item, call) -> None:  # pragma: no cover
    rec = _RECORD.setdefault(item.nodeid, {})
    if call.when == "call":
        rec["alloc_after"] = _allocations()
    if call.when in ("setup", "call") and call.excinfo is not None:
        import pytest

        skipped = call.excinfo.errisinstance(pytest.skip.Exception)
        rec["outcome"] = "skipped" if skipped else "failed"
        lines = str(call.excinfo.value).splitlines() or [type(call.excinfo.value).__name__]
        rec["message"] = lines[0][:200]
    elif call.when == "call":
        rec.setdefault("outcome", "passed")
    rec["duration"] = rec.get("duration", 0.0) + call.duration


def pytest_sessionfinish(session, exitstatus) -> None:  # pragma: no cover
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    out = {}
    for nodeid, rec in _RECORD.items():
        before, after = rec.get("alloc_before", 0), rec.get("alloc_after", rec.get("alloc_before"))
        out[nodeid] = {
            "outcome": rec.get("outcome", "not run"),
            "message": rec.get("message", ""),
            "gpu_allocations": (after or 0) - (before or 0),
            "duration": rec.get("duration", 0.0),
        }
    Path(path).write_text(json.dumps(out, indent=1))


# ---------------------------------------------------------------------------------------------
# what the check runs
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CudaTest:
    """A test function marked ``cuda``, found by reading the source (no import)."""

    file: str
    name: str
    line: int
    mentions_cuda: bool  # its body names a CUDA device (``"cuda"``, ``.cuda()``, ...)


def _is_cuda_mark(dec: ast.expr) -> bool:
    node = dec.func if isinstance(dec, ast.Call) else dec
    return isinstance(node, ast.Attribute) and node.attr == "cuda" and "mark" in ast.unparse(node)


def cuda_marked_tests(tests_dir: Path = TESTS) -> list[CudaTest]:
    """Every test function marked ``@pytest.mark.cuda`` under ``tests_dir``.

    ``mentions_cuda`` is True when the body of the test (docstring excluded) or of the helper
    functions it calls in the same file names a CUDA device; a CUDA-marked test that does
    not would pass on the GPU machine without exercising the GPU.
    """
    found = []
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

        def body_text(fn: ast.FunctionDef) -> str:
            body = fn.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            return "\n".join(ast.unparse(s) for s in body)

        for fn in funcs.values():
            if not any(_is_cuda_mark(d) for d in fn.decorator_list):
                continue
            text = body_text(fn)
            called = {
                n.func.id
                for n in ast.walk(fn)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in funcs
            }
            text += "\n".join(body_text(funcs[c]) for c in called)
            found.append(CudaTest(path.name, fn.name, fn.lineno, bool(re.search(r"cuda", text))))
    return found


def _python() -> str:
    return sys.executable


def cuda_test_command() -> list[str]:
    """The command that runs every CUDA test (with the allocation-recording plugin)."""
    cmd = [_python(), "-m", "pytest", str(TESTS), "-m", "cuda", "-q", "-p", "benchmarks.gpu"]
    cmd += ["-o", "addopts=-ra", "--no-header"]
    return cmd


def collect_cuda_tests() -> list[str]:
    """Node ids that ``pytest -m cuda`` selects (a collection run, no test executed)."""
    cmd = [_python(), "-m", "pytest", str(TESTS), "-m", "cuda", "--collect-only", "-q"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return [ln for ln in proc.stdout.splitlines() if "::" in ln]


# ---------------------------------------------------------------------------------------------
# judging the results
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    """One line of the verdict: a target, what was measured, and whether it passed."""

    name: str
    target: str
    measured: str
    passed: bool


def _cuda_rows(rows: list[harness.Row], benchmark: str, word: str) -> list[harness.Row]:
    return [r for r in rows if r.benchmark == benchmark and word.lower() in r.case.lower()]


def evaluate(rows: list[harness.Row], tests: dict[str, dict]) -> list[Check]:
    """Pass or fail for each GPU target, from the benchmark rows and the CUDA test records.

    A target with no measured row fails ("not measured"): the check proves what it ran.
    """
    checks = []
    ising = [
        r
        for r in _cuda_rows(rows, "ising_metropolis", "cuda")
        if (m := re.search(r"L=(\d+)", r.case)) and int(m.group(1)) >= 8192
    ]
    checks.append(
        Check(
            "Ising on GPU",
            TARGETS[0][1],
            "; ".join(f"{r.case}: {r.ours:.1f} flips/ns" for r in ising) or "not measured",
            bool(ising) and all(r.ours >= 100.0 for r in ising),
        )
    )
    rbm = _cuda_rows(rows, "rbm_pcd_throughput", "gpu")
    checks.append(
        Check(
            "RBM PCD on GPU",
            TARGETS[1][1],
            "; ".join(f"{r.ratio:.1f}x" for r in rbm) or "not measured",
            bool(rbm) and all(r.ratio >= 30.0 for r in rbm),
        )
    )
    hop = _cuda_rows(rows, "hopfield_vs_mha", "cuda")
    checks.append(
        Check(
            "Hopfield layer on GPU",
            TARGETS[2][1],
            "; ".join(f"{r.case}: {r.ratio:.2f}x" for r in hop) or "not measured",
            bool(hop) and all(r.ratio >= 0.9 for r in hop),
        )
    )
    sync = {k: v for k, v in tests.items() if SYNC_TEST in k}
    sync_ok = bool(sync) and all(v["outcome"] == "passed" for v in sync.values())
    checks.append(
        Check(
            "no host sync in forward",
            TARGETS[3][1],
            f"{sum(v['outcome'] == 'passed' for v in sync.values())}/{len(sync)} cases passed"
            if sync
            else "not run",
            sync_ok,
        )
    )
    ran = {k: v for k, v in tests.items() if v["outcome"] != "not run"}
    failed = [k for k, v in ran.items() if v["outcome"] == "failed"]
    idle = [k for k, v in ran.items() if v["outcome"] == "passed" and v["gpu_allocations"] <= 0]
    passed = sum(v["outcome"] == "passed" for v in ran.values())
    skipped = sum(v["outcome"] == "skipped" for v in ran.values())
    measured = f"{passed} passed, {len(failed)} failed, {skipped} skipped"
    if idle:
        measured += f"; {len(idle)} passed without allocating GPU memory"
    checks.append(
        Check("CUDA tests", TARGETS[4][1], measured, bool(ran) and not failed and not idle)
    )
    return checks


def render(
    device: str,
    rows: list[harness.Row],
    tests: dict[str, dict],
    checks: list[Check],
    notes: list[str],
    elapsed: float,
) -> str:
    """The markdown report."""
    lines = [
        "# GPU check",
        "",
        f"- device: {device}",
        f"- machine: {harness.machine()}",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- wall time: {elapsed:.0f} s (budget {BUDGET_S:.0f} s)",
        "",
        "## Verdict",
        "",
        "| check | target | measured | result |",
        "| --- | --- | --- | --- |",
    ]
    for c in checks:
        lines.append(
            f"| {c.name} | {c.target} | {c.measured} | {'pass' if c.passed else '**FAIL**'} |"
        )
    lines += ["", "## Benchmark rows", "", harness.markdown_table(rows) if rows else "(none)", ""]
    bad = {
        k: v
        for k, v in tests.items()
        if v["outcome"] == "failed" or (v["outcome"] == "passed" and v["gpu_allocations"] <= 0)
    }
    lines += ["## CUDA tests", ""]
    lines.append(f"{sum(v['outcome'] == 'passed' for v in tests.values())} of {len(tests)} passed.")
    if bad:
        lines += ["", "| test | outcome | GPU allocations | message |", "| --- | --- | --- | --- |"]
        for k, v in sorted(bad.items()):
            msg = v["message"].replace("|", "/")
            lines.append(f"| `{k}` | {v['outcome']} | {v['gpu_allocations']} | {msg} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# running it
# ---------------------------------------------------------------------------------------------


def no_cuda_reason() -> str | None:
    """None when a CUDA device is usable, else one sentence saying why not."""
    if torch.cuda.is_available():
        return None
    built = torch.version.cuda
    if built is None:
        return (
            f"this torch ({torch.__version__}) is built without CUDA; install a CUDA build of "
            "torch on a machine with an NVIDIA GPU"
        )
    return (
        f"torch {torch.__version__} is built for CUDA {built} but sees no CUDA device "
        "(torch.cuda.is_available() is False): no GPU, or no usable driver"
    )


def run_tests(timeout: float, workdir: Path) -> tuple[dict[str, dict], list[str]]:
    report = workdir / "gpu_check_tests.json"
    report.unlink(missing_ok=True)
    env = {**os.environ, REPORT_ENV: str(report), "OMP_WAIT_POLICY": "PASSIVE"}
    notes = []
    try:
        proc = subprocess.run(
            cuda_test_command(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
        notes.append(f"pytest -m cuda: {' '.join(tail) or 'no output'} (exit {proc.returncode})")
    except subprocess.TimeoutExpired:
        notes.append(f"pytest -m cuda was stopped after {timeout:.0f} s (time budget)")
    tests = json.loads(report.read_text()) if report.exists() else {}
    return tests, notes


def _import_benchmarks() -> list[str]:
    """Import every ``bench_*`` module; one that fails (a missing optional package) is noted,
    not fatal, so that the GPU rows of the others are still measured."""
    import importlib
    import pkgutil

    notes = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("bench_"):
            try:
                importlib.import_module(f"{__package__}.{info.name}")
            except Exception as exc:
                notes.append(f"{info.name} could not be imported: {type(exc).__name__}: {exc}")
    return notes


def run_benchmarks(deadline: float) -> tuple[list[harness.Row], list[str]]:
    notes = _import_benchmarks()
    reg = harness.registry()
    rows: list[harness.Row] = []
    for name in GPU_BENCHMARKS:
        if name not in reg:
            notes.append(f"benchmark {name} is not registered")
            continue
        if time.monotonic() > deadline:
            notes.append(f"benchmark {name} not run: the time budget was spent")
            continue
        t0 = time.perf_counter()
        try:
            rows.extend(reg[name](False))
            notes.append(f"benchmark {name}: {time.perf_counter() - t0:.0f} s")
        except Exception as exc:  # a missing peer (mcising, scikit-learn) or a failed check
            notes.append(f"benchmark {name} failed: {type(exc).__name__}: {exc}")
    return rows, notes


def dry_run(collect: bool = True) -> int:
    reason = no_cuda_reason()
    print("GPU check: dry run (nothing is executed)")
    print(f"CUDA device: {torch.cuda.get_device_name(0) if reason is None else 'none: ' + reason}")
    print(f"budget: {BUDGET_S:.0f} s in all, {TEST_BUDGET_S:.0f} s for the tests")
    print("\n1. CUDA tests:", " ".join(cuda_test_command()))
    marked = cuda_marked_tests()
    for t in marked:
        flag = "" if t.mentions_cuda else "   <-- does not name a CUDA device"
        print(f"   {t.file}::{t.name} (line {t.line}){flag}")
    if collect:
        ids = collect_cuda_tests()
        print(f"   {len(ids)} test cases after parametrisation")
    print("\n2. GPU benchmarks (full size, through the harness):")
    for name in GPU_BENCHMARKS:
        print(f"   {name}")
    print("\n3. targets:")
    for name, what in TARGETS:
        print(f"   {name}: {what}")
    return 0


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks --gpu``."""
    if args.dry_run:
        return dry_run(collect=not args.no_collect)
    reason = no_cuda_reason()
    if reason is not None:
        print(f"GPU check: no CUDA device, nothing was run: {reason}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    deadline = t0 + BUDGET_S
    out = Path(args.output).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tests, notes = run_tests(min(TEST_BUDGET_S, BUDGET_S), out.parent)
    rows, bench_notes = run_benchmarks(deadline - 10.0)
    notes += bench_notes
    gpu_rows = [r for r in rows if re.search("cuda|gpu", r.case, re.I)]
    checks = evaluate(gpu_rows, tests)
    elapsed = time.monotonic() - t0
    if elapsed > BUDGET_S:
        notes.append(f"the check took {elapsed:.0f} s, over its {BUDGET_S:.0f} s budget")
    report = render(torch.cuda.get_device_name(0), gpu_rows, tests, checks, notes, elapsed)
    out.write_text(report)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0),
                "checks": [dataclasses.asdict(c) for c in checks],
                "rows": [dataclasses.asdict(r) | {"ratio": r.ratio} for r in rows],
                "tests": tests,
                "notes": notes,
                "elapsed_s": elapsed,
            },
            indent=1,
        )
    )
    print(report)
    print(f"written to {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0 if all(c.passed for c in checks) and elapsed <= BUDGET_S else 1
