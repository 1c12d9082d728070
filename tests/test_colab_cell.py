"""tools/colab_cell.py: the setup cell that lets a chapter run on Colab, on a temporary notebook."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
URL = "https://github.com/someone/ebm-book"


def _tool():
    spec = importlib.util.spec_from_file_location("colab_cell", ROOT / "tools" / "colab_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path):
    """A repository with one chapter notebook: a title and one code cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("import ebmlib\n\nprint(ebmlib.__version__)"),
    ]
    path = tmp_path / "book" / "part9" / "chapter.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return tmp_path, path


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(monkeypatch, capsys):
    """Call the tool's command line in this process, with BOOK_REPOSITORY_URL set or not."""
    tool = _tool()

    def _run(*args, env_url=None):
        for key in ("BOOK_REPOSITORY_URL", "BOOK_REPOSITORY_BRANCH"):
            monkeypatch.delenv(key, raising=False)
        if env_url:
            monkeypatch.setenv("BOOK_REPOSITORY_URL", env_url)
        try:
            code = tool.main(list(args))
        except SystemExit as exc:  # argparse errors
            code = exc.code
        out = capsys.readouterr()
        return _Result(code, out.out, out.err)

    return _run


def test_inserts_a_hidden_first_cell_and_is_idempotent(repo, run):
    root, path = repo
    res = run("--root", str(root), env_url=URL + ".git")
    assert res.returncode == 0, res.stderr
    nb = nbformat.read(path, as_version=4)
    assert len(nb.cells) == 3
    first = nb.cells[0]
    assert first.cell_type == "code"
    assert set(first.metadata["tags"]) == {"remove-cell", "ebmlib-setup"}
    assert f'repository = "{URL}"' in first.source  # ".git" dropped
    assert 'os.path.join(checkout, "book/part9")' in first.source
    assert nb.cells[1].source == "# A chapter"
    nbformat.validate(nb)

    text = path.read_text(encoding="utf-8")
    res = run("--root", str(root), env_url=URL)
    assert res.returncode == 0 and "changed 0 of 1" in res.stdout
    assert path.read_text(encoding="utf-8") == text, "a second run changed the notebook"
    assert run("--root", str(root), "--check", env_url=URL).returncode == 0


def test_updates_in_place_and_removes(repo, run):
    root, path = repo
    run("--root", str(root), env_url=URL)
    other = "https://github.com/elsewhere/book"
    assert run("--root", str(root), "--check", env_url=other).returncode == 1
    run("--root", str(root), "--branch", "v1", env_url=other)
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if "ebmlib-setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1 and nb.cells[0] is setup[0]
    assert other in setup[0].source and '"--branch", "v1"' in setup[0].source
    assert URL not in setup[0].source

    res = run("--root", str(root), "--remove")
    assert res.returncode == 0, res.stderr
    nb = nbformat.read(path, as_version=4)
    assert [c.source for c in nb.cells] == [
        "# A chapter",
        "import ebmlib\n\nprint(ebmlib.__version__)",
    ]


def test_command_line(repo):
    """The script runs as a program, reading BOOK_REPOSITORY_URL from the environment."""
    root, path = repo
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOK_REPOSITORY")}
    env["BOOK_REPOSITORY_URL"] = URL
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "colab_cell.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0 and "changed 1 of 1" in res.stdout, res.stderr
    assert URL in nbformat.read(path, as_version=4).cells[0].source


def test_needs_a_url_and_refuses_a_bad_one(repo, run):
    root, _ = repo
    res = run("--root", str(root))
    assert res.returncode != 0 and "BOOK_REPOSITORY_URL" in res.stderr
    tool = _tool()
    for bad in ("http://github.com/a/b", "github.com/a/b", "https://github.com"):
        with pytest.raises(ValueError, match="repository URL"):
            tool._check_url(bad)
    with pytest.raises(ValueError, match="quotes"):
        tool.cell_source('https://x.org/a/b"; import os', "main", "book")


def _setup_cell(root, path):
    _tool().main(["--root", str(root), "--repository-url", URL])
    return nbformat.read(path, as_version=4).cells[0].source


def test_cell_does_nothing_where_ebmlib_is_installed(repo, tmp_path):
    """In the book's environment the cell neither clones, installs nor changes folder."""
    root, path = repo
    code = _setup_cell(root, path)
    probe = (
        "import os, subprocess\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('the setup cell ran a command')\n"
        "subprocess.run = refuse\n"
        "cwd = os.getcwd()\n"
        f"exec(compile({code!r}, 'cell', 'exec'))\n"
        "assert os.getcwd() == cwd\n"
        "print('untouched')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and "untouched" in res.stdout, res.stderr


def test_cell_clones_installs_and_moves_where_ebmlib_is_missing(repo, tmp_path):
    """Without ebmlib: clone the repository, pip-install it with the extras, cd to the chapter."""
    root, path = repo
    code = _setup_cell(root, path)
    work = tmp_path / "colab"
    work.mkdir()
    probe = (
        "import importlib.util, json, os, subprocess, sys\n"
        "calls = []\n"
        "def fake_run(cmd, check):\n"
        "    calls.append(cmd)\n"
        "    if cmd[0] == 'git':\n"
        "        os.makedirs(os.path.join(cmd[-1], 'book', 'part9'))\n"
        "importlib.util.find_spec = lambda name: None\n"
        "subprocess.run = fake_run\n"
        f"exec(compile({code!r}, 'cell', 'exec'))\n"
        "print(json.dumps({'calls': calls, 'cwd': os.getcwd(), 'python': sys.executable}))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], cwd=work, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    import json

    out = json.loads(res.stdout.strip().splitlines()[-1])
    checkout = str(work / "ebm-book")
    clone, install = out["calls"]
    assert clone == ["git", "clone", "--depth", "1", "--branch", "main", URL, checkout]
    assert install == [
        out["python"],
        "-m",
        "pip",
        "install",
        "--quiet",
        checkout + "[viz,rl,data,theory]",
    ]
    assert out["cwd"] == os.path.join(checkout, "book", "part9")


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists(),
    reason="ruff is not installed",
)
def test_cell_is_ruff_clean(repo, run):
    root, path = repo
    run("--root", str(root), env_url=URL)
    ruff = shutil.which("ruff") or str(ROOT / ".venv/bin/ruff")
    res = subprocess.run(
        [
            ruff,
            "check",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--extend-select",
            "E501",
            "--line-length",
            "88",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _ext():
    path = ROOT / "book" / "_ext" / "ebmbook.py"
    spec = importlib.util.spec_from_file_location("ebmbook_for_colab_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_names_chapters_without_the_setup_cell(repo, run):
    """With BOOK_REPOSITORY_URL set, the book build warns about every notebook whose launch
    button would open a chapter without the setup cell (book/_ext/ebmbook.py), and about a cell
    written for another repository; after tools/colab_cell.py it has nothing to report."""
    root, path = repo
    ext = _ext()
    assert ext.missing_setup_cells(root, URL) == ["book/part9/chapter.ipynb"]
    run("--root", str(root), env_url="https://github.com/elsewhere/book")
    assert ext.missing_setup_cells(root, URL) == ["book/part9/chapter.ipynb"]
    run("--root", str(root), env_url=URL)
    assert ext.missing_setup_cells(root, URL) == []
