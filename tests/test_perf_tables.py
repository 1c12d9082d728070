"""tools/perf_tables.py: the performance appendix filled from one benchmark run.

The tables of ``book/appendix/performance.md`` are written by the script from the output of
``python -m benchmarks`` (and of ``benchmarks/gpu_check.sh``). These tests feed it output made
by the benchmark harness itself, so a change of the harness's table format fails here.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import perf_tables as pt  # noqa: E402

from benchmarks import harness  # noqa: E402


def _harness_output(rows: list[harness.Row], machine: str = "CPU: Test; 2 cores") -> str:
    """What ``python -m benchmarks`` prints for ``rows``."""
    return f"Machine: {machine}\nMode: full\n\n{harness.markdown_table(rows)}\n"


def _rows() -> list[harness.Row]:
    return [
        harness.Row("ising_metropolis", "L=1024, 30 sweeps/call", 0.5, 0.2, "mcising",
                    "flips/ns", True, target=1.0),
        harness.Row("boltzmann_log_partition", "n=10 (1024 states)", 0.001, 0.017,
                    "numpy loop"),
        harness.Row("rl_dqn_cartpole_steps", "CartPole-v1 seed 0: steps to 475", math.nan, 5e4,
                    "dqn", "steps"),
        harness.Row("modern_chunked", "N=1000000", 2.66e5, 1.56e5,
                    "unchunked ([B, N] = 244 MiB of scores)", "patterns/s", True),
    ]  # fmt: skip


def test_parse_reads_every_row_of_the_harness_table():
    """Values, peer names (with parentheses inside), units and ratios survive the round trip."""
    run = pt.parse_cpu(_harness_output(_rows()))
    assert run.machine == "CPU: Test; 2 cores" and run.mode == "full"
    assert [r.benchmark for r in run.rows] == [r.benchmark for r in _rows()]
    ising, logz, rl, chunked = run.rows
    assert ising.ours == 0.5 and ising.peer == 0.2 and ising.ratio == 2.5
    assert ising.unit == "flips/ns" and ising.peer_name == "mcising"
    assert logz.ratio == pytest.approx(17.0, rel=1e-3)
    assert math.isnan(rl.ours) and math.isnan(rl.ratio)
    assert chunked.peer_name == "unchunked ([B, N] = 244 MiB of scores)"


def test_tables_have_no_target_column_and_say_not_reached():
    """The page shows no targets; a missed target reads 'not reached'."""
    text = pt.table(list(pt.parse_cpu(_harness_output(_rows())).rows))
    assert "target" not in text and " met" not in text and "missed" not in text
    assert "| not reached | 5e+04 steps (dqn) | n/a |" in text
    assert "0.5 flips/ns" in text and "0.2 flips/ns (mcising)" in text


def test_fill_writes_every_block_of_the_real_page():
    """Every marked block of the appendix is filled; topics without rows say so."""
    page = (ROOT / "book" / "appendix" / "performance.md").read_text()
    run = pt.parse_cpu(_harness_output(_rows()))
    new = pt.fill(page, pt.blocks(run, None))
    assert (
        "**Machine:** CPU: Test; 2 cores. Every CPU number on this page comes from one run" in new
    )
    assert pt.NOT_MEASURED in new  # e.g. the attention Boltzmann machine
    assert "`modern_update`, `modern_checks` have not been measured" in new
    assert "The GPU rows have not been measured for this edition" in new
    assert "| `ising_metropolis` | L=1024, 30 sweeps/call |" in new
    # the prose outside the blocks is untouched, and filling twice changes nothing
    assert (
        new.split("% perf-tables: begin machine")[0]
        == page.split("% perf-tables: begin machine")[0]
    )
    assert pt.fill(new, pt.blocks(run, None)) == new


def test_every_registered_benchmark_has_a_topic():
    """A new benchmark must be placed on the page (TOPICS) before the page can be filled."""
    import benchmarks

    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{info.name}")
    placed = {b for bs in pt.TOPICS.values() for b in bs}
    assert set(harness.registry()) <= placed


def test_unknown_benchmark_and_broken_markers_are_errors():
    run = pt.parse_cpu(_harness_output([harness.Row("new_thing", "case", 1.0, 2.0, "peer")]))
    with pytest.raises(ValueError, match="new_thing belong to no topic"):
        pt.blocks(run, None)
    good = pt.blocks(pt.parse_cpu(_harness_output(_rows())), None)
    with pytest.raises(ValueError, match="lacks the block"):
        pt.fill("% perf-tables: begin machine\n% perf-tables: end machine\n", good)
    with pytest.raises(ValueError, match="never closed"):
        pt.fill("% perf-tables: begin machine\n", {"machine": "x"})
    with pytest.raises(ValueError, match="not the output"):
        pt.parse_cpu("some other text")


def test_gpu_report_and_note(tmp_path):
    """The GPU section names the device and shows only rows measured on the GPU."""
    rows = [
        harness.Row("rbm_pcd_throughput", "784x500 (CUDA)", 3e5, 2e4, "sklearn", "rows/s", True),
        harness.Row("rbm_pcd_throughput", "784x500 (CPU)", 3e4, 2e4, "sklearn", "rows/s", True),
    ]
    report = {
        "device": "NVIDIA Test GPU",
        "rows": [vars(r) | {"ratio": r.ratio} for r in rows],
        "tests": {"a": {"outcome": "passed"}, "b": {"outcome": "passed"}},
    }
    device, gpu_rows, tests_line = pt.parse_gpu(json.dumps(report))
    assert device == "NVIDIA Test GPU" and [r.case for r in gpu_rows] == ["784x500 (CUDA)"]
    assert tests_line == "2 of 2 CUDA tests passed in the same run."
    run = pt.parse_cpu(pt.with_note(_harness_output(_rows()), "The machine was otherwise idle."))
    out = pt.blocks(run, (device, gpu_rows, tests_line))
    assert "NVIDIA Test GPU" in out["gpu"] and "| 15.00 |" in out["gpu"]
    assert out["machine"].endswith("The machine was otherwise idle.")


def test_check_mode_detects_a_stale_page(tmp_path):
    """``--check`` passes on a page made from the saved output and fails after an edit."""
    saved = tmp_path / "cpu.txt"
    saved.write_text(_harness_output(_rows()))
    page = tmp_path / "page.md"
    page.write_text((ROOT / "book" / "appendix" / "performance.md").read_text())
    run = pt.parse_cpu(saved.read_text())
    page.write_text(pt.fill(page.read_text(), pt.blocks(run, None)))
    args = ["--cpu", str(saved), "--page", str(page), "--check"]
    assert pt.main(args) == 0
    page.write_text(page.read_text().replace("0.5 flips/ns", "0.6 flips/ns"))
    assert pt.main(args) == 1
