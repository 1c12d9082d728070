"""Build ebmlib's sdist and wheel, install the wheel outside the checkout, and smoke-test it.

What a library user does, on this machine: ``python -m build`` makes the sdist and then the wheel
from the sdist (so the sdist is known to be complete); the wheel goes into a fresh virtual
environment in a temporary folder with its core dependencies only; a smoke test runs there, from
a folder that is not the checkout, against the installed package. Then each extra (``viz``,
``rl``, ``data``, ``theory``) is installed into an environment of its own and tested the same way.
To keep that affordable, an extra's environment sees the core environment's packages through a
``.pth`` file (torch is not installed five times) and pip installs only what the extra adds.

Prints the wheel's size, the core environment's installed size, and the time of
``import ebmlib`` (median of fresh interpreters). Exit status 0 when every check passed.

    python tools/check_package.py                 # everything
    python tools/check_package.py --extras none   # core only
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXTRAS = ("viz", "rl", "data", "theory")
OPTIONAL = ("gymnasium", "matplotlib", "sklearn", "scipy", "ipywidgets", "IPython")

CORE_SMOKE = """
import json, pathlib, sys, time
import torch
import ebmlib
from ebmlib import hopfield, modern, rbm

assert "site-packages" in ebmlib.__file__, ebmlib.__file__
heavy = [m for m in {optional!r} if m in sys.modules]
assert not heavy, f"import ebmlib imported {{heavy}}"

gen = ebmlib.seed_everything(0)
patterns = ebmlib.random_patterns(20, 64, kind="binary", generator=gen, dtype=torch.float64)
weights = ebmlib.hebbian(patterns)
assert torch.allclose(weights, weights.T) and torch.all(weights.diagonal() == 0)
noisy = patterns[:3].clone()
noisy[:, :6] *= -1
out = modern.update(noisy, patterns, beta=8.0)
assert out.shape == (3, 64) and torch.equal(out.sign(), patterns[:3])
machine = rbm.RBM(6, 3)
v = torch.bernoulli(torch.full((4, 6), 0.5), generator=gen)
assert torch.isfinite(machine.free_energy(v)).all()
assert torch.isfinite(machine.log_partition_exact())

# Each optional part says which extra it needs.
def message(call):
    try:
        call()
    except ImportError as err:
        return str(err)
    return "no error"

needs = {{
    "viz": message(lambda: ebmlib.viz.plot_patterns(torch.ones(2, 4))),
    "data": message(lambda: ebmlib.digits()),
    "rl": message(lambda: ebmlib.rl.train),
}}
for extra, text in needs.items():
    assert f'ebmlib[{{extra}}]' in text, (extra, text)
print(json.dumps({{"version": ebmlib.__version__, "file": ebmlib.__file__}}))
"""

EXTRA_SMOKE = {
    "viz": """
import matplotlib
matplotlib.use("Agg")
import torch, ebmlib
from ebmlib import viz
fig = viz.plot_patterns(torch.ones(3, 16))
anim = viz.animate(lambda i, ax: ax.plot([0, i]), 3)
assert anim.n_frames == 3 and "<script" in anim.to_html()
assert viz.interactive(viz.draw_overlaps, correlation=(0.0, 1.0, 0.1)) is not None
import ipywidgets
""",
    "rl": """
import gymnasium as gym
import ebmlib
from ebmlib import rl
env = rl.BlockerEnv()
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
assert isinstance(env, gym.Env) and rl.TabularQ is not None
""",
    "data": """
import ebmlib
images, labels = ebmlib.digits()
assert tuple(images.shape) == (1797, 64) and tuple(labels.shape) == (1797,)
assert tuple(ebmlib.glyphs("AB", size=8).shape) == (2, 64)
""",
    "theory": """
from ebmlib import hopfield, modern
p = hopfield.one_step_error_exact(10, 100)
assert 0.0 <= p < 0.5
assert modern.storage_constant(beta=1.0, K=1.0, d=64, p=0.01) > 0
""",
}


_T0 = time.perf_counter()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    shown = " ".join(str(c) for c in cmd)
    shown = shown if len(shown) < 160 else shown[:157] + "..."
    print(f"  [{time.perf_counter() - _T0:5.0f} s] $ {shown}", flush=True)
    res = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if res.returncode != 0:
        print(res.stdout[-4000:], res.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"failed ({res.returncode}): {' '.join(str(c) for c in cmd)}")
    return res


def site_packages(venv: pathlib.Path) -> pathlib.Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def du(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def make_venv(path: pathlib.Path) -> pathlib.Path:
    """A fresh environment without pip: this interpreter's pip installs into it (``--python``)."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def pip_install(python: pathlib.Path, *requirements: str) -> None:
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *requirements])


def build(out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """sdist, then the wheel built from the sdist."""
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, (sdists, wheels)
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n == "ebmlib/__init__.py" for n in names) and any("py.typed" in n for n in names)
    assert not any(n.startswith(("tests/", "book/", "benchmarks/", "tools/")) for n in names), names
    return sdists[0], wheels[0]


def import_time(python: pathlib.Path, cwd: pathlib.Path, repeats: int = 5) -> dict[str, float]:
    code = (
        "import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
        "import ebmlib; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)"
    )
    torch_s, ebmlib_s, total = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run([str(python), "-c", code], cwd=cwd).stdout.split()
        total.append(time.perf_counter() - t0)
        torch_s.append(float(out[0]))
        ebmlib_s.append(float(out[1]))
    return {
        "import torch (s)": statistics.median(torch_s),
        "import ebmlib after torch (s)": statistics.median(ebmlib_s),
        "python -c 'import ebmlib', whole process (s)": statistics.median(total),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default=",".join(EXTRAS), help="comma-separated, or 'none'")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    extras = [] if args.extras == "none" else [e for e in args.extras.split(",") if e]
    unknown = set(extras) - set(EXTRAS)
    if unknown:
        parser.error(f"unknown extras {sorted(unknown)}; choose from {EXTRAS}")

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ebmlib-package-"))
    assert ROOT not in tmp.parents
    report: dict[str, object] = {}
    started = time.perf_counter()
    try:
        print("== build sdist and wheel", flush=True)
        sdist, wheel = build(tmp / "dist")
        report["sdist"] = f"{sdist.name} ({sdist.stat().st_size / 1e3:.0f} kB)"
        report["wheel"] = f"{wheel.name} ({wheel.stat().st_size / 1e3:.0f} kB)"

        print("== core: the wheel alone in a fresh environment", flush=True)
        make_venv(tmp / "bare")  # the size of an empty environment, to subtract
        bare = site_packages(tmp / "bare")
        python = make_venv(tmp / "core")
        pip_install(python, str(wheel))
        core_site = site_packages(tmp / "core")
        work = tmp / "work"  # not the checkout: nothing can import the source tree
        work.mkdir()
        smoke = CORE_SMOKE.format(optional=list(OPTIONAL))
        out = run([str(python), "-c", textwrap.dedent(smoke)], cwd=work).stdout
        info = json.loads(out.strip().splitlines()[-1])
        assert pathlib.Path(info["file"]).is_relative_to(core_site), info
        freeze = run(
            [sys.executable, "-m", "pip", "--python", str(python), "freeze"], cwd=work
        ).stdout.lower()
        for name in ("matplotlib", "gymnasium", "scikit-learn", "scipy", "ipywidgets"):
            assert f"{name}==" not in freeze, f"the core install pulled in {name}"
        report["core packages"] = sorted(
            line.split("==")[0].split(" @ ")[0] for line in freeze.splitlines()
        )
        report["core install size (MB)"] = round((du(core_site) - du(bare)) / 1e6, 1)
        report["of which ebmlib (kB)"] = round(du(core_site / "ebmlib") / 1e3)
        report["of which torch (MB)"] = round(du(core_site / "torch") / 1e6, 1)
        report.update({k: round(v, 3) for k, v in import_time(python, work).items()})

        for extra in extras:
            print(f"== extra [{extra}]: core plus what it adds", flush=True)
            xpython = make_venv(tmp / extra)
            (site_packages(tmp / extra) / "_ebmlib_core.pth").write_text(f"{core_site}\n")
            pip_install(xpython, f"{wheel}[{extra}]")
            added = du(site_packages(tmp / extra)) - du(bare)
            run([str(xpython), "-c", textwrap.dedent(EXTRA_SMOKE[extra])], cwd=work)
            report[f"[{extra}] adds (MB)"] = round(added / 1e6, 1)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    report["took (s)"] = round(time.perf_counter() - started)
    print("== package check passed")
    for key, value in report.items():
        print(f"   {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
