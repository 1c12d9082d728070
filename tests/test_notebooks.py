"""Book notebooks: committed without outputs, and every one executes without error.

Executing the notebooks here means a failing cell fails ``pytest``, not only the book build.
Each notebook runs in a fresh kernel with ``CI``-style static demos (``EBMLIB_STATIC=1``).

Each notebook is executed once per change of the code: the executed copy goes into the
jupyter-cache that the book build uses (``book/_ext/ebmbook.py`` names its folder after the
library's source and the main package versions). When the book was built first, the test
checks the build's executed copy instead of executing the notebook again, and the other way
round.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import pathlib
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
BUDGET_S = 180  # at most 3 minutes per notebook on a 2-core CPU


def _ebmbook():
    spec = importlib.util.spec_from_file_location("ebmbook", ROOT / "book" / "_ext" / "ebmbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ids(paths):
    return [str(p.relative_to(ROOT / "book")) for p in paths]


def test_there_are_notebooks():
    assert any(p.name == "getting_started.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; strip them before committing"


@contextlib.contextmanager
def _locked(folder: pathlib.Path):
    """One writer at a time (pytest-xdist runs notebooks in parallel; the cache is SQLite)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _match(cache, nb):
    try:
        return cache.match_cache_notebook(nb)
    except KeyError:
        return None


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    jupyter_cache = pytest.importorskip("jupyter_cache")
    from jupyter_cache.base import CacheBundleIn

    folder = pathlib.Path(_ebmbook().cache_path(ROOT))
    with _locked(folder):
        cache = jupyter_cache.get_cache(str(folder))
        nb = nbformat.read(path, as_version=4)
        record = _match(cache, nb)

    if record is None:
        monkeypatch.setenv("EBMLIB_STATIC", "1")
        monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        executed = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            executed,
            timeout=BUDGET_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,  # cell metadata stays as committed, so the cache key matches
        )
        t0 = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - t0
        with _locked(folder):
            cache.cache_notebook_bundle(
                CacheBundleIn(executed, str(path), data={"execution_seconds": elapsed}),
                check_validity=False,
                overwrite=True,
            )
            record = _match(cache, nb)
        assert record is not None, "the executed copy does not match the notebook in the cache"
        how = "executed"
    else:
        elapsed = record.data.get("execution_seconds", float("nan"))
        how = "executed earlier (by the book build or a previous run), taken from the cache"

    with _locked(folder):
        _, merged = cache.merge_match_into_notebook(nb)
    code = [c for c in merged.cells if c.cell_type == "code" and c.source.strip()]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs {[e.get('ename') for e in errors]}"
    assert all(c.get("execution_count") for c in code), f"{path.name}: not every cell ran"
    # Not a speed test (speed lives in benchmarks/): a notebook far over budget is a bug in the
    # book, so the run time is reported with the result.
    print(f"{path.name}: {how}, {elapsed:.1f} s")
