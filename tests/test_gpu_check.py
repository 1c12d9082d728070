"""Tests of the GPU check's CPU-side logic (``benchmarks/gpu_check.sh``, ``benchmarks/gpu.py``).

The check itself needs a CUDA device; here we test what can be tested without one: that it
refuses to run and says why, that the dry run lists the CUDA tests and GPU benchmarks, that
the verdict passes and fails on the right numbers, that the pytest plugin records outcomes
and GPU allocations, and that every CUDA-marked test of the suite names a CUDA device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the benchmarks package sits next to tests/, not inside ebmlib
    sys.path.insert(0, str(ROOT))

from benchmarks import gpu  # noqa: E402
from benchmarks.harness import Row  # noqa: E402

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_without_cuda_the_check_stops_and_says_why(tmp_path):
    out = tmp_path / "gpu.md"
    proc = _run("--gpu", "--output", str(out))
    assert proc.returncode == 2
    assert "no CUDA device, nothing was run" in proc.stderr
    assert "torch" in proc.stderr and not out.exists()
    script = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--output", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert script.returncode == 2 and "no CUDA device" in script.stderr


def test_dry_run_lists_the_tests_benchmarks_and_targets():
    proc = _run("--gpu", "--dry-run", "--no-collect")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "nothing is executed" in text and "-m cuda" in text
    for name in gpu.GPU_BENCHMARKS:
        assert name in text
    for name, _ in gpu.TARGETS:
        assert name in text
    for t in gpu.cuda_marked_tests():
        assert f"{t.file}::{t.name}" in text
    assert gpu.SYNC_TEST in text
    assert _run("--dry-run").returncode != 0  # --dry-run alone is refused


@pytest.mark.slow
def test_dry_run_collects_every_cuda_case():
    """The dry run's count is pytest's own: the parametrised CUDA cases it would run."""
    proc = _run("--gpu", "--dry-run", timeout=600)
    assert proc.returncode == 0, proc.stderr
    ids = gpu.collect_cuda_tests()
    assert len(ids) >= len(gpu.cuda_marked_tests())
    assert f"{len(ids)} test cases after parametrisation" in proc.stdout
    assert any(gpu.SYNC_TEST in i for i in ids)


def test_every_gpu_benchmark_is_registered():
    from benchmarks import harness
    from benchmarks.__main__ import _discover

    _discover()
    assert set(gpu.GPU_BENCHMARKS) <= set(harness.registry())


def test_every_cuda_marked_test_names_a_cuda_device(tmp_path):
    """A CUDA-marked test that never puts anything on the GPU would pass without testing it.

    The source scan finds the marked tests and whether their bodies (or the helpers they
    call in the same file) name a CUDA device; on the GPU machine the check also requires
    each of them to allocate GPU memory. The scan itself is tested on a file with one test
    of each kind.
    """
    marked = gpu.cuda_marked_tests()
    assert len(marked) >= 20
    idle = [f"{t.file}::{t.name}" for t in marked if not t.mentions_cuda]
    assert idle == []
    (tmp_path / "test_fake.py").write_text(
        "import pytest\n"
        "def helper():\n    return 'cuda'\n"
        "@pytest.mark.cuda\ndef test_real():\n    x = helper()\n"
        "@pytest.mark.cuda\ndef test_idle():\n    '''Mentions cuda only in the docstring.'''\n"
        "    assert 1 + 1 == 2\n"
        "def test_plain():\n    pass\n"
    )
    found = {t.name: t.mentions_cuda for t in gpu.cuda_marked_tests(tmp_path)}
    assert found == {"test_real": True, "test_idle": False}


def _rows(ising=120.0, rbm=40.0, hop=(1.1, 0.95)) -> list[Row]:
    rows = [
        Row("ising_metropolis", "L=1024, 30 sweeps/call", 2.0, 1.5, "mcising", "flips/ns", True),
        Row("ising_metropolis", "CUDA L=8192, 50 sweeps/call", ising, 100.0, "target", "", True),
        Row("rbm_pcd_throughput", "x (ebmlib on GPU vs sklearn on CPU)", rbm * 1e3, 1e3, "sk"),
    ]
    rows[-1].higher_is_better = True
    for i, r in enumerate(hop):
        rows.append(Row("hopfield_vs_mha", f"forward, case {i}, cuda", 1.0, r, "nn.MHA"))
    return rows


def _tests(sync_ok=True, idle=False, failed=False) -> dict:
    tests = {
        "tests/test_modern.py::test_half_precision_cuda[1]": {
            "outcome": "passed",
            "message": "",
            "gpu_allocations": 0 if idle else 12,
            "duration": 0.1,
        },
        f"tests/test_attention.py::{gpu.SYNC_TEST}[a]": {
            "outcome": "passed" if sync_ok else "failed",
            "message": "" if sync_ok else "RuntimeError: called a synchronizing CUDA operation",
            "gpu_allocations": 30,
            "duration": 0.2,
        },
    }
    if failed:
        tests["tests/test_rbm.py::test_cuda_fit_and_ais"] = {
            "outcome": "failed",
            "message": "AssertionError",
            "gpu_allocations": 5,
            "duration": 1.0,
        }
    return tests


def test_verdict_passes_and_fails_on_the_targets():
    """The verdict follows the stated targets; a missing measurement is a failure."""
    ok = {c.name: c.passed for c in gpu.evaluate(_rows(), _tests())}
    assert all(ok.values()) and len(ok) == len(gpu.TARGETS)

    def verdict(rows, tests):
        return {c.name: c.passed for c in gpu.evaluate(rows, tests)}

    assert not verdict(_rows(ising=99.0), _tests())["Ising on GPU"]
    assert not verdict(_rows(rbm=29.0), _tests())["RBM PCD on GPU"]
    assert not verdict(_rows(hop=(1.2, 0.89)), _tests())["Hopfield layer on GPU"]
    assert not verdict(_rows(), _tests(sync_ok=False))["no host sync in forward"]
    assert not verdict(_rows(), _tests(idle=True))["CUDA tests"]
    assert not verdict(_rows(), _tests(failed=True))["CUDA tests"]
    none = verdict([], {})
    assert not any(none.values())
    # an Ising row below L = 8192 does not count for the target
    small = [r for r in _rows() if "8192" not in r.case]
    small.append(Row("ising_metropolis", "CUDA L=4096, 20 sweeps/call", 500.0, 100.0, "t"))
    assert not verdict(small, _tests())["Ising on GPU"]
    text = gpu.render("NVIDIA Test", _rows(), _tests(failed=True), gpu.evaluate(_rows(), {}), [], 1)
    assert "NVIDIA Test" in text and "**FAIL**" in text and "test_cuda_fit_and_ais" in text
    assert "| check | target | measured | result |" in text


def test_plugin_records_outcomes_and_gpu_allocations(tmp_path):
    """The pytest plugin writes, per test, its outcome and the GPU allocations it made."""
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n"
        "@pytest.mark.cuda\ndef test_ok():\n    assert True\n"
        "@pytest.mark.cuda\ndef test_bad():\n    assert False, 'boom'\n"
        "@pytest.mark.cuda\ndef test_skip():\n    pytest.skip('no')\n"
        "@pytest.mark.cuda\ndef test_silent():\n    assert False, ''\n"
        "def test_unmarked():\n    pass\n"
    )
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-m", "cuda", "-q", "-p", "benchmarks.gpu"]
        + ["-o", "markers=cuda: x", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**ENV, gpu.REPORT_ENV: str(report)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one test fails
    rec = json.loads(report.read_text())
    by_name = {k.split("::")[-1]: v for k, v in rec.items()}
    assert set(by_name) == {"test_ok", "test_bad", "test_skip", "test_silent"}
    assert by_name["test_silent"]["outcome"] == "failed"
    assert by_name["test_ok"]["outcome"] == "passed"
    assert by_name["test_bad"]["outcome"] == "failed" and "boom" in by_name["test_bad"]["message"]
    assert by_name["test_skip"]["outcome"] == "skipped"
    assert all(v["gpu_allocations"] == 0 for v in by_name.values())  # nothing on a GPU here
    checks = {c.name: c for c in gpu.evaluate([], rec)}
    assert not checks["CUDA tests"].passed and "without allocating" in checks["CUDA tests"].measured


def test_main_writes_the_report_and_sets_the_exit_status(tmp_path, monkeypatch):
    """The glue of ``--gpu`` with the device-side steps replaced by recorded results."""
    import argparse

    monkeypatch.setattr(gpu, "no_cuda_reason", lambda: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    monkeypatch.setattr(gpu, "run_tests", lambda timeout, workdir: (_tests(), ["tests ran"]))
    monkeypatch.setattr(gpu, "run_benchmarks", lambda deadline: (_rows(), ["benchmarks ran"]))
    out = tmp_path / "report" / "gpu.md"
    args = argparse.Namespace(dry_run=False, no_collect=False, output=str(out))
    assert gpu.main(args) == 0
    text = out.read_text()
    assert "Fake GPU" in text and "**FAIL**" not in text and "benchmarks ran" in text
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["device"] == "Fake GPU" and all(c["passed"] for c in data["checks"])
    # the CPU rows are kept in the JSON but not in the GPU table
    assert any("L=1024" in r["case"] for r in data["rows"]) and "L=1024" not in text
    monkeypatch.setattr(gpu, "run_benchmarks", lambda deadline: (_rows(hop=(0.5,)), []))
    assert gpu.main(args) == 1
    assert "**FAIL**" in out.read_text()
