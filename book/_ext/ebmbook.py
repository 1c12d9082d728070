"""Build settings of the book that depend on the environment, as a small Sphinx extension.

Two things are decided here rather than in ``_config.yml``:

* **Launch and repository buttons.** The public repository of the book is one setting that a
  publisher fills in: the environment variable ``BOOK_REPOSITORY_URL`` (for example
  ``https://github.com/<owner>/<name>``; ``BOOK_REPOSITORY_BRANCH`` defaults to ``main``).
  Without it the book shows no Colab/Binder launch buttons and no repository button, rather
  than buttons that lead nowhere. With it, every chapter must carry the setup cell that
  ``tools/colab_cell.py`` writes (it installs ``ebmlib`` on Colab), so that a launch button
  opens a chapter that runs: the build warns about each notebook without that cell for this
  repository (an error under ``-W``).
* **One execution of each notebook.** Notebooks are executed through a jupyter-cache whose
  folder is named after a fingerprint of everything that can change their outputs (the
  library's source, the book's data files, the versions of the main packages). The test suite
  (``tests/test_notebooks.py``) uses the same folder, so whichever of the book build and the
  tests runs first executes a notebook, and the other reuses the result; a change to
  ``ebmlib`` starts a fresh cache, so no page shows outputs of older code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pathlib
from typing import Any

REPOSITORY_ENV = "BOOK_REPOSITORY_URL"
BRANCH_ENV = "BOOK_REPOSITORY_BRANCH"

# Packages whose version can change what a notebook prints or draws.
_FINGERPRINT_PACKAGES = (
    "torch",
    "numpy",
    "matplotlib",
    "scipy",
    "scikit-learn",
    "gymnasium",
    "ipykernel",
)
# Files under book/ that notebooks do not read.
_NOT_DATA = {".ipynb", ".md", ".bib", ".pyc"}


def _files(root: pathlib.Path) -> list[pathlib.Path]:
    files = [p for p in (root / "ebmlib").rglob("*.py") if "__pycache__" not in p.parts]
    for p in (root / "book").rglob("*"):
        rel = p.relative_to(root / "book")
        if not p.is_file() or p.suffix in _NOT_DATA:
            continue
        if rel.parts[0] in ("_static", "_ext") or any(s.startswith(".") for s in rel.parts):
            continue
        files.append(p)
    return sorted(files)


def fingerprint(root: str | os.PathLike) -> str:
    """A short hash of everything besides a notebook's own code that its outputs depend on."""
    root = pathlib.Path(root).resolve()
    h = hashlib.sha256()
    for path in _files(root):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for name in _FINGERPRINT_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}=={version}\n".encode())
    return h.hexdigest()[:16]


def cache_path(root: str | os.PathLike, build_dir: str | os.PathLike | None = None) -> str:
    """The jupyter-cache folder shared by the book build and the notebook tests."""
    root = pathlib.Path(root).resolve()
    build = pathlib.Path(build_dir) if build_dir is not None else root / "_build"
    return str(build.resolve() / ".jupyter_cache" / fingerprint(root))


def repository_url() -> str:
    """The publisher's repository URL (``BOOK_REPOSITORY_URL``), or ``""`` when unset."""
    url = os.environ.get(REPOSITORY_ENV, "").strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    if url and not url.startswith("https://"):
        raise ValueError(
            f"{REPOSITORY_ENV} must be the https URL of the book's public repository, "
            f"for example https://github.com/<owner>/<name>; got {url!r}"
        )
    return url


SETUP_TAG = "ebmlib-setup"  # the tag of tools/colab_cell.py's setup cell


def missing_setup_cells(root: str | os.PathLike, url: str) -> list[str]:
    """The notebooks under ``root/book`` whose first cell is not the setup cell for ``url``."""
    import json

    missing = []
    for path in sorted(pathlib.Path(root, "book").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        cells = json.loads(path.read_text("utf-8")).get("cells", [])
        first = cells[0] if cells else {}
        source = "".join(first.get("source", []))
        if SETUP_TAG not in first.get("metadata", {}).get("tags", []) or url not in source:
            missing.append(path.relative_to(root).as_posix())
    return missing


def _configure(app: Any, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    url = repository_url()
    if url:
        options["repository_url"] = url
        options["repository_branch"] = os.environ.get(BRANCH_ENV, "").strip() or "main"
        options["use_repository_button"] = True
        missing = missing_setup_cells(app.srcdir, url)
        if missing:
            from sphinx.util import logging

            logging.getLogger(__name__).warning(
                "%s is set, so every chapter gets a launch button, but %d notebook(s) lack the "
                "setup cell that installs ebmlib there (%s); run "
                "`%s=%s python tools/colab_cell.py` and commit the result",
                REPOSITORY_ENV,
                len(missing),
                ", ".join(missing[:5]),
                REPOSITORY_ENV,
                url,
            )
    else:
        # No repository: no buttons that would point at one.
        options["repository_url"] = ""
        options["launch_buttons"] = {}
        for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
            options[key] = False
    config.html_theme_options = options

    srcdir = pathlib.Path(app.srcdir)
    config.nb_execution_cache_path = cache_path(srcdir, pathlib.Path(app.outdir).parent)


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    """Drop repeated inline scripts from a page.

    An inline script registered after the builder started (sphinx-thebe's ``const THEBE_JS_URL
    = ...``, sphinx-togglebutton's selector) reaches every page twice, once with the file name
    ``None`` and once with ``""``; the second ``const`` declaration is a JavaScript error in the
    reader's console.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", None) or "", tuple(sorted(attrs.items())))
        if attrs.get("body") and key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app: Any) -> dict[str, Any]:
    # Before myst-nb and the theme read these options (they do so at builder-inited).
    app.connect("config-inited", _configure, priority=100)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
