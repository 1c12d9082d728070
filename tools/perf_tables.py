"""Fill the tables of the performance appendix from one run of the benchmarks.

The page ``book/appendix/performance.md`` explains each comparison in prose; its numbers sit
between comment lines ``% perf-tables: begin NAME`` and ``% perf-tables: end NAME`` and are
written by this script, never by hand. Usage, from the repository root::

    # run every benchmark once (full sizes), save the output, rewrite the page
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python tools/perf_tables.py --run

    # the same from an output saved earlier (the stdout of ``python -m benchmarks``)
    .venv/bin/python tools/perf_tables.py --cpu book/appendix/data/benchmarks_cpu.txt

    # the GPU section, from the JSON that ``benchmarks/gpu_check.sh`` writes
    .venv/bin/python tools/perf_tables.py --gpu gpu_check.json

    # exit with status 1 if the page differs from what the saved outputs give
    .venv/bin/python tools/perf_tables.py --check

``--run`` and ``--cpu`` copy the benchmark output to ``book/appendix/data/benchmarks_cpu.txt``
and ``--gpu`` copies the report to ``book/appendix/data/benchmarks_gpu.json``, so the page can
always be regenerated from the files it was made from; ``--note "The machine was otherwise
idle."`` adds a sentence on the conditions to the saved output (and so to the page). Every
table of a run comes from that one run: a topic the run did not measure says so instead of
keeping older numbers. A benchmark that belongs to no topic of the page is an error (add it
to :data:`TOPICS` and explain it on the page).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "appendix" / "performance.md"
DATA = ROOT / "book" / "appendix" / "data"
CPU_FILE = DATA / "benchmarks_cpu.txt"
GPU_FILE = DATA / "benchmarks_gpu.json"
COMMAND = "OMP_WAIT_POLICY=PASSIVE python -m benchmarks"

#: the page's topics, in page order, and the benchmarks whose rows each table shows
TOPICS: dict[str, tuple[str, ...]] = {
    "data": ("hebbian_outer_product",),
    "ising": ("ising_metropolis",),
    "hopfield": ("hopfield_store_recall",),
    "dense": ("dense_sync_update",),
    "modern": ("modern_update", "modern_chunked", "modern_checks"),
    "attention": ("hopfield_vs_mha", "hopfield_steps"),
    "boltzmann": ("boltzmann_log_partition", "boltzmann_gibbs"),
    "rbm": ("rbm_pcd_throughput", "rbm_digits_time_to_ll", "rbm_ais_throughput"),
    "attention_bm": ("attention_bm_gibbs", "bernoulli_mixture_em"),
    "rl": ("rl_free_energy_steps", "rl_dqn_cartpole_steps"),
}
NOT_MEASURED = "These comparisons have not been measured for this edition."
SOME_NOT_MEASURED = "{names} {verb} not been measured for this edition."
NO_GPU = (
    "The GPU rows have not been measured for this edition: no GPU was available. On a machine "
    "with a CUDA device, `benchmarks/gpu_check.sh` measures them, and "
    "`tools/perf_tables.py --gpu gpu_check.json` puts them here."
)
_MARK = re.compile(r"^% perf-tables: (begin|end) ([a-z_]+)\s*$")


@dataclass(frozen=True)
class Row:
    """One row of a benchmark table; ``ratio`` > 1 means ebmlib is better."""

    benchmark: str
    case: str
    ours: float
    peer: float
    peer_name: str
    unit: str
    ratio: float


@dataclass(frozen=True)
class Run:
    """What one run of the benchmarks printed."""

    machine: str
    mode: str
    rows: tuple[Row, ...]
    note: str = ""


def _number(text: str) -> float:
    text = text.strip()
    return math.nan if text.lower() == "nan" else float(text)


def parse_cpu(text: str) -> Run:
    """Parse the stdout of ``python -m benchmarks``: its machine line, mode and table."""
    machine = mode = note = ""
    rows = []
    header_seen = False
    for line in text.splitlines():
        if line.startswith("Machine:"):
            machine = line.split(":", 1)[1].strip()
        elif line.startswith("Mode:"):
            mode = line.split(":", 1)[1].strip()
        elif line.startswith("Note:"):
            note = line.split(":", 1)[1].strip()
        elif line.startswith("| benchmark |"):
            header_seen = True
        elif header_seen and line.startswith("|") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 6:
                raise ValueError(f"a table row with fewer than 6 cells: {line!r}")
            benchmark, case, ours, peer, unit, ratio = cells[:6]
            value, _, name = peer.partition(" ")
            if not (name.startswith("(") and name.endswith(")")):
                raise ValueError(f"the peer cell should read 'value (name)', got {peer!r}")
            rows.append(
                Row(benchmark, case, _number(ours), _number(value), name[1:-1], unit,
                    _number(ratio.split()[0]))
            )  # fmt: skip
    if not machine or not header_seen:
        raise ValueError("not the output of `python -m benchmarks` (no Machine line or table)")
    return Run(machine, mode, tuple(rows), note)


def parse_gpu(text: str) -> tuple[str, list[Row], str]:
    """The device, the GPU rows and a sentence on the CUDA tests from ``gpu_check.json``."""
    report = json.loads(text)
    rows = [
        Row(r["benchmark"], r["case"], float(r["ours"]), float(r["peer"]), r["peer_name"],
            r["unit"], float(r["ratio"]))
        for r in report.get("rows", [])
        if re.search("cuda|gpu", r["case"], re.IGNORECASE)
    ]  # fmt: skip
    tests = report.get("tests", {})
    passed = sum(t.get("outcome") == "passed" for t in tests.values())
    tests_line = f"{passed} of {len(tests)} CUDA tests passed in the same run." if tests else ""
    return report["device"], rows, tests_line


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "not reached"
    if x == 0 or not (1e-3 <= abs(x) < 1e5):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _value(x: float, unit: str) -> str:
    return _fmt(x) if math.isnan(x) else f"{_fmt(x)} {unit}"


def table(rows: list[Row]) -> str:
    """The markdown table the page shows for ``rows``."""
    lines = [
        "| benchmark | case | ebmlib | peer | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}"
        lines.append(
            f"| `{r.benchmark}` | {r.case} | {_value(r.ours, r.unit)} | "
            f"{_value(r.peer, r.unit)} ({r.peer_name}) | {ratio} |"
        )
    return "\n".join(lines)


def machine_block(run: Run) -> str:
    """The paragraph that says where and how the numbers were measured."""
    mode = "" if run.mode in ("", "full") else f" (mode: {run.mode})"
    text = (
        f"**Machine:** {run.machine}. Every CPU number on this page comes from one run of "
        f"`{COMMAND}`{mode}."
    )
    return _wrap(text + (f" {run.note}" if run.note else ""))


def _wrap(paragraph: str) -> str:
    return textwrap.fill(paragraph, width=96, break_long_words=False, break_on_hyphens=False)


def with_note(text: str, note: str) -> str:
    """The benchmark output ``text`` with its ``Note:`` line set to ``note``."""
    lines = [ln for ln in text.splitlines() if not ln.startswith("Note:")]
    return "\n".join([f"Note: {note}", *lines]) + "\n"


def blocks(run: Run, gpu: tuple[str, list[Row], str] | None) -> dict[str, str]:
    """The text of every marked block of the page."""
    names = {b for bs in TOPICS.values() for b in bs}
    unknown = sorted({r.benchmark for r in run.rows} - names)
    if unknown:
        raise ValueError(
            f"benchmark(s) {', '.join(unknown)} belong to no topic of the page; add them to "
            "TOPICS in tools/perf_tables.py and explain them in book/appendix/performance.md"
        )
    out = {"machine": machine_block(run)}
    for topic, benchmarks in TOPICS.items():
        rows = [r for b in benchmarks for r in run.rows if r.benchmark == b]
        absent = [f"`{b}`" for b in benchmarks if not any(r.benchmark == b for r in rows)]
        if not rows:
            out[topic] = NOT_MEASURED
        elif absent:
            verb = "has" if len(absent) == 1 else "have"
            note = SOME_NOT_MEASURED.format(names=", ".join(absent), verb=verb)
            out[topic] = table(rows) + "\n\n" + _wrap(note)
        else:
            out[topic] = table(rows)
    if gpu is None:
        out["gpu"] = _wrap(NO_GPU)
    else:
        device, rows, tests_line = gpu
        parts = [
            _wrap(f"**Device:** {device}. Measured by `benchmarks/gpu_check.sh`. {tests_line}")
        ]
        parts.append(table(rows) if rows else "The run produced no GPU rows.")
        out["gpu"] = "\n\n".join(p.strip() for p in parts)
    return out


def fill(page: str, new: dict[str, str]) -> str:
    """Replace the content between each pair of markers by ``new[name]``."""
    out, current, seen = [], None, set()
    for line in page.splitlines():
        m = _MARK.match(line)
        if m and m.group(1) == "begin":
            if current is not None:
                raise ValueError(f"marker {m.group(2)!r} opens inside {current!r}")
            current = m.group(2)
            if current not in new:
                raise ValueError(f"the page has a block {current!r} that nothing fills")
            out += [line, "", new[current], ""]
        elif m:
            if m.group(2) != current:
                raise ValueError(f"marker 'end {m.group(2)}' does not close {current!r}")
            seen.add(current)
            current = None
            out.append(line)
        elif current is None:
            out.append(line)
    if current is not None:
        raise ValueError(f"block {current!r} is never closed")
    missing = sorted(set(new) - seen)
    if missing:
        raise ValueError(f"the page lacks the block(s) {', '.join(missing)}")
    return "\n".join(out) + "\n"


def run_benchmarks(only: list[str] | None) -> str:
    """Run ``python -m benchmarks`` once and return its stdout (stderr passes through)."""
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    cmd = [sys.executable, "-m", "benchmarks"] + (["--only", *only] if only else [])
    print("running:", " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run the benchmarks once, then fill")
    parser.add_argument("--only", nargs="*", help="with --run: only these benchmarks")
    parser.add_argument("--cpu", type=Path, help="a saved stdout of `python -m benchmarks`")
    parser.add_argument("--gpu", type=Path, help="the gpu_check.json of benchmarks/gpu_check.sh")
    parser.add_argument(
        "--note", help="a sentence on the conditions (e.g. 'The machine was otherwise idle.')"
    )
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)

    if args.run:
        text = run_benchmarks(args.only)
        DATA.mkdir(parents=True, exist_ok=True)
        CPU_FILE.write_text(text)
    elif args.cpu is not None:
        text = args.cpu.read_text()
        if args.cpu.resolve() != CPU_FILE.resolve() and not args.check:
            DATA.mkdir(parents=True, exist_ok=True)
            CPU_FILE.write_text(text)
    elif CPU_FILE.exists():
        text = CPU_FILE.read_text()
    else:
        parser.error(f"no benchmark output: use --run or --cpu (or save it as {CPU_FILE})")
    if args.note is not None:
        if args.check:
            parser.error("--note changes the saved output; it does not go with --check")
        text = with_note(text, args.note)
        DATA.mkdir(parents=True, exist_ok=True)
        CPU_FILE.write_text(text)
    gpu_path = args.gpu if args.gpu is not None else (GPU_FILE if GPU_FILE.exists() else None)
    gpu = None
    if gpu_path is not None:
        gpu_text = gpu_path.read_text()
        gpu = parse_gpu(gpu_text)
        if gpu_path.resolve() != GPU_FILE.resolve() and not args.check:
            DATA.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gpu_path, GPU_FILE)

    page = args.page.read_text()
    new_page = fill(page, blocks(parse_cpu(text), gpu))
    if args.check:
        if new_page != page:
            print(
                f"{args.page} differs from what the saved benchmark outputs give", file=sys.stderr
            )
            return 1
        return 0
    args.page.write_text(new_page)
    print(f"wrote {args.page}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
