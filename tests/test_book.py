"""Book consistency checks that are cheap to run before the full build."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            for key in ("chapters", "sections", "parts"):
                if key in e:
                    walk(e[key])

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return files


def _resolve(entry: str) -> pathlib.Path | None:
    for suffix in (".md", ".ipynb"):
        path = ROOT / f"{entry}{suffix}"
        if path.exists():
            return path
    return None


def test_every_toc_entry_exists():
    missing = [f for f in _toc_files() if _resolve(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {str(_resolve(f).relative_to(ROOT)) for f in _toc_files() if _resolve(f)}
    on_disk = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "book").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }
    assert on_disk <= listed, f"notebooks missing from _toc.yml: {sorted(on_disk - listed)}"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts),
    ids=lambda p: p.name,
)
def test_notebook_has_one_title_and_a_kernelspec(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"
    titles = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        fenced = False
        for line in "".join(cell["source"]).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and line.startswith("# "):
                titles.append(line)
    assert len(titles) == 1, f"{path.name} must have exactly one '# ' title, found {titles}"


def test_bibliography_keys_unique():
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", text, flags=re.M)
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert keys and not dupes, f"duplicate BibTeX keys: {dupes}"


def test_glossary_terms_unique():
    text = (ROOT / "book" / "appendix" / "glossary.md").read_text(encoding="utf-8")
    terms = []
    for block in re.findall(r"```\{glossary\}\n(.*?)```", text, flags=re.S):
        terms += [line.strip() for line in block.splitlines() if line and not line[0].isspace()]
    dupes = sorted({t for t in terms if terms.count(t) > 1})
    assert terms and not dupes, f"glossary terms defined twice: {dupes}"
