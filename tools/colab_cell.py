"""Insert, update or remove the setup cell that lets each chapter run outside the book's setup.

On Colab (or any fresh Jupyter) a chapter opened from the book's launch button has no
``ebmlib``. The setup cell, the first cell of every notebook, clones the book's repository,
installs ``ebmlib`` from it with the extras the chapters use, and moves to the notebook's own
folder in that clone (some chapters read recorded data that lies next to them). Where
``ebmlib`` is importable already, as in the book's own environment, the cell does nothing.
It carries the tag ``remove-cell``, so the built page does not show it.

The repository is the one setting a publisher fills in, ``BOOK_REPOSITORY_URL`` (the same
variable the book build reads for its launch buttons), or ``--repository-url``::

    BOOK_REPOSITORY_URL=https://github.com/<owner>/<name> python tools/colab_cell.py
    python tools/colab_cell.py --remove          # take the cells out again
    python tools/colab_cell.py --check ...       # exit 1 if a notebook would change

Running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
TAG = "ebmlib-setup"
CELL_ID = "ebmlib-setup"
HIDE = "remove-cell"
EXTRAS = "viz,rl,data,theory"
CHECKOUT = "ebm-book"

_TEMPLATE = """\
# Setup for running this notebook outside the book's own environment (for example
# on Colab): when ebmlib is missing, clone the book's repository, install ebmlib from
# it and work from this notebook's folder there. Where ebmlib is installed, this cell
# does nothing.
import importlib.util

if importlib.util.find_spec("ebmlib") is None:
    import os
    import subprocess
    import sys

    repository = "{url}"
    checkout = os.path.abspath("{checkout}")
    if not os.path.isdir(checkout):
        subprocess.run(
            ["git", "clone", "--depth", "1", "--branch", "{branch}", repository, checkout],
            check=True,
        )
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, checkout + "[{extras}]"], check=True)
    importlib.invalidate_caches()
    os.chdir(os.path.join(checkout, "{folder}"))"""


def cell_source(url: str, branch: str, folder: str) -> str:
    """The setup cell's code for a notebook in ``folder`` (relative to the repository root)."""
    for name, value in (("url", url), ("branch", branch), ("folder", folder)):
        if any(c in value for c in "\"'\\\n"):
            raise ValueError(f"{name} must not contain quotes, backslashes or newlines: {value!r}")
    return _TEMPLATE.format(
        url=url, branch=branch, folder=folder or ".", extras=EXTRAS, checkout=CHECKOUT
    )


def _check_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    if not url.startswith("https://") or url.count("/") < 4:
        raise ValueError(
            f"the repository URL must look like https://github.com/<owner>/<name>, got {url!r}"
        )
    return url


def _is_setup_cell(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def update_notebook(
    path: pathlib.Path,
    *,
    url: str | None,
    branch: str = "main",
    root: pathlib.Path = ROOT,
    remove: bool = False,
    write: bool = True,
) -> bool:
    """Put the setup cell first in ``path`` (or remove it); return whether the file changed."""
    path = pathlib.Path(path).resolve()
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    nb.cells = [c for c in nb.cells if not _is_setup_cell(c)]
    if not remove:
        if url is None:
            raise ValueError("a repository URL is needed unless remove=True")
        folder = path.parent.relative_to(pathlib.Path(root).resolve()).as_posix()
        cell = nbformat.v4.new_code_cell(
            source=cell_source(_check_url(url), branch, folder),
            metadata={"tags": [HIDE, TAG]},
        )
        if nb.nbformat_minor >= 5:
            cell["id"] = CELL_ID
        else:
            cell.pop("id", None)
        nb.cells.insert(0, cell)
    after = nbformat.writes(nb) + "\n"
    if after == before:
        return False
    if write:
        path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: book/**.ipynb")
    parser.add_argument("--repository-url", default=os.environ.get("BOOK_REPOSITORY_URL", ""))
    parser.add_argument("--branch", default=os.environ.get("BOOK_REPOSITORY_BRANCH", "") or "main")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="repository root")
    parser.add_argument("--remove", action="store_true", help="remove the setup cells")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)

    if not args.remove and not args.repository_url.strip():
        parser.error("set BOOK_REPOSITORY_URL or pass --repository-url (or use --remove)")
    paths = args.notebooks or sorted(
        p for p in (args.root / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    changed = []
    for path in paths:
        if update_notebook(
            path,
            url=None if args.remove else args.repository_url,
            branch=args.branch,
            root=args.root,
            remove=args.remove,
            write=not args.check,
        ):
            changed.append(path)
    verb = "would change" if args.check else "changed"
    print(f"{verb} {len(changed)} of {len(paths)} notebooks")
    for path in changed:
        print(f"  {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
