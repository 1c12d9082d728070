"""The built book in a real browser, offline: every page, its math, figures, animations,
exercise solutions, and the search.

The HTML of ``_build/html`` (or ``EBMBOOK_HTML``) is served on 127.0.0.1 and opened in headless
Chromium with every request off this machine refused, as a reader without a network would see
it. Run after the README's build command; without a built book, or without Chromium and
Playwright, the tests are skipped and say why (see ``tests/_browser.py``).
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import posixpath
import re
import threading

import _browser
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
HTML = pathlib.Path(os.environ.get("EBMBOOK_HTML", ROOT / "_build" / "html"))
BUILT = (HTML / "index.html").exists()
NOT_BUILT = f"the book is not built ({HTML} has no index.html): run the README's build command"
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}
TIMEOUT_MS = 180_000  # generous: the machine may be busy


def _pages() -> list[str]:
    if not BUILT:
        return []
    pages = []
    for path in sorted(HTML.rglob("*.html")):
        rel = path.relative_to(HTML)
        if rel.parts[0] in SKIP_DIRS:
            continue
        pages.append(rel.as_posix())
    return pages


def _chapters() -> list[str]:
    """Pages built from notebooks (each holds computed figures)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = []

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            for key in ("chapters", "sections", "parts"):
                walk(e.get(key, []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return [f + ".html" for f in files if (ROOT / f"{f}.ipynb").exists()]


PAGES = _pages()
CHAPTERS = set(_chapters())


def _containing(marker: str) -> list[str]:
    return [p for p in PAGES if marker in (HTML / p).read_text(encoding="utf-8")]


def _params(pages: list[str]) -> list[str]:
    """The pages to test, or one placeholder whose test then skips (or fails in CI) as not built."""
    return pages if pages else ["(book not built)"]


def _require_built() -> None:
    if not BUILT:
        _browser.skip(NOT_BUILT)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def site():
    """``(base_url, Offline context)``: the built book served locally, a browser offline."""
    _require_built()
    handler = functools.partial(_Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with _browser.chromium() as browser:
            offline = _browser.Offline(browser)
            try:
                yield f"http://127.0.0.1:{server.server_address[1]}", offline
            finally:
                offline.close()
    finally:
        server.shutdown()


def _open(site, rel: str, query: str = ""):
    base, offline = site
    page, log = offline.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/{rel}{query}", wait_until="load", timeout=TIMEOUT_MS)
    return page, log, offline


def _redirect_target(rel: str) -> str | None:
    """The page a redirect-only page (``<meta http-equiv="refresh">``) forwards to."""
    text = (HTML / rel).read_text(encoding="utf-8")
    m = re.search(r'http-equiv="refresh"[^>]*url=([^"]+)"', text, flags=re.I)
    if m is None:
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.group(1)))


_WAIT_MATHJAX = """async () => {
  if (!window.MathJax || !MathJax.startup) return "no MathJax on this page";
  await MathJax.startup.promise;
  return "typeset";
}"""

_PAGE_FACTS = r"""() => {
  const math = [...document.querySelectorAll(".math")];
  const untypeset = math.filter(e => !e.querySelector("mjx-container"))
                        .map(e => e.textContent.slice(0, 80));
  const merror = [...document.querySelectorAll("mjx-merror")]
                   .map(e => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 80));
  const body = document.querySelector("main") || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll("pre, code, script, style, textarea, .highlight, mjx-container")
      .forEach(e => e.remove());
  const text = copy.textContent;
  const raw = [];
  for (const delim of ["\\(", "\\[", "\\begin{"]) {
    const i = text.indexOf(delim);
    if (i >= 0) raw.push(text.slice(Math.max(0, i - 30), i + 50));
  }
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0))
                       .map(i => i.currentSrc || i.src);
  return {math: math.length, typeset: document.querySelectorAll("mjx-container").length,
          untypeset, merror, raw, images: images.length, broken};
}"""


_REMOTE_ASSET = re.compile(
    r"""<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*["']?(https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(https?:)?//[^>]*>""",
    flags=re.I,
)


@pytest.mark.parametrize("rel", _params(PAGES))
def test_no_page_asks_the_network_for_an_asset(rel):
    """A check without a browser: no script, image, style or font link points off the site."""
    _require_built()
    text = (HTML / rel).read_text(encoding="utf-8")
    remote = [m.group(0)[:120] for m in _REMOTE_ASSET.finditer(text)]
    # <link rel="canonical"> and similar name a URL without loading it
    remote = [r for r in remote if not re.search(r'rel="(canonical|alternate)"', r)]
    assert not remote, f"{rel} loads from the network: {remote[:5]}"
    for src in re.findall(r"<script[^>]*src=\"([^\"]*mathjax[^\"]*)\"", text, flags=re.I):
        assert "_static/mathjax/" in src, f"{rel} loads MathJax from {src}"


@pytest.mark.browser
def test_every_chapter_was_built():
    """Each notebook of the table of contents has a page in the built book."""
    _require_built()
    missing = sorted(c for c in CHAPTERS if not (HTML / c).exists())
    assert CHAPTERS and not missing, f"chapters without a page: {missing}"


@pytest.mark.browser
@pytest.mark.parametrize("rel", _params(PAGES))
def test_page_loads_offline_with_math_and_figures(site, rel):
    """No console error, no failed or remote request; math typeset; every image decoded."""
    page, log, offline = _open(site, rel)
    try:
        target = _redirect_target(rel)
        if target is not None:  # index.html forwards to the first page: follow it
            page.wait_for_url(f"**/{target}", timeout=TIMEOUT_MS)
            page.wait_for_load_state("load", timeout=TIMEOUT_MS)
        status = page.evaluate(_WAIT_MATHJAX)
        page.wait_for_function(
            "() => [...document.images].every(i => i.complete)", timeout=TIMEOUT_MS
        )
        offline.settle(page, TIMEOUT_MS)
        facts = page.evaluate(_PAGE_FACTS)
    finally:
        page.close()
    problems = {k: v for k, v in log.items() if v}
    if offline.blocked:
        problems["requests off this machine"] = sorted(set(offline.blocked))
    assert not problems, f"{rel}: {problems}"
    if facts["math"]:
        assert status == "typeset", f"{rel} has math but {status}"
        assert facts["typeset"] >= facts["math"], facts
    assert not facts["untypeset"], f"{rel}: math left as TeX: {facts['untypeset'][:5]}"
    assert not facts["merror"], f"{rel}: MathJax errors: {facts['merror'][:5]}"
    assert not facts["raw"], f"{rel}: raw TeX in the text: {facts['raw']}"
    assert not facts["broken"], f"{rel}: images that did not load: {facts['broken'][:5]}"
    if rel in CHAPTERS:
        assert facts["images"] >= 1, f"{rel}: a chapter without a single figure"


ANIMATED = _containing('class="animation"')


@pytest.mark.browser
@pytest.mark.parametrize("rel", _params(ANIMATED))
def test_animations_advance_when_played(site, rel):
    """Each JavaScript animation shows a new frame after Play, and stops after Pause."""
    page, log, _ = _open(site, rel)
    try:
        players = page.locator("div.animation")
        assert players.count() >= 1
        for i in range(players.count()):
            player = players.nth(i)
            player.scroll_into_view_if_needed()
            slider = player.locator("input[type=range]")
            image = player.locator("img").first
            n_frames = int(slider.get_attribute("max")) + 1
            start_value, start_src = slider.input_value(), image.get_attribute("src")
            player.locator('button[title="Play"]').click()
            page.wait_for_function(
                "([s, v]) => s.value !== v", arg=[slider.element_handle(), start_value]
            )
            player.locator('button[title="Pause"]').click()
            paused = slider.input_value()
            page.wait_for_timeout(600)
            assert slider.input_value() == paused, f"{rel}: animation {i} did not pause"
            if n_frames > 1:
                assert image.get_attribute("src") != start_src, f"{rel}: the frame did not change"
    finally:
        page.close()
    assert not log["console"] and not log["pageerror"], log


SOLVED = sorted(set(_containing("solution dropdown")) | set(_containing("sd-dropdown")))


@pytest.mark.browser
@pytest.mark.parametrize("rel", _params(SOLVED))
def test_solutions_and_dropdowns_open(site, rel):
    """Exercise solutions start hidden and open on a click; so do the "going further" boxes."""
    page, log, _ = _open(site, rel)
    try:
        solutions = page.locator("div.solution.dropdown")
        for i in range(solutions.count()):
            sol = solutions.nth(i)
            body = sol.locator(":scope > :not(.admonition-title)").first
            sol.scroll_into_view_if_needed()
            assert not body.is_visible(), f"{rel}: solution {i} is visible before a click"
            sol.locator(".toggle-button").first.click()
            body.wait_for(state="visible")
        dropdowns = page.locator("details.sd-dropdown")
        for i in range(dropdowns.count()):
            box = dropdowns.nth(i)
            if box.get_attribute("open") is not None:
                continue
            box.locator("summary").first.click()
            page.wait_for_function("d => d.open", arg=box.element_handle())
        assert solutions.count() + dropdowns.count() >= 1
    finally:
        page.close()
    assert not log["console"] and not log["pageerror"], log


@pytest.mark.browser
def test_search_finds_a_term_and_only_real_matches(site):
    """The search page (its index is a local file) finds a term of the book, and not nonsense."""
    counts = {}
    for term in ("Hopfield", "qqxqzzyqq"):
        page, log, _ = _open(site, "search.html", f"?q={term}")
        try:
            page.wait_for_function(
                "() => { const s = document.querySelector('#search-results');"
                " return s && /found|did not match|matching/i.test(s.textContent); }"
            )
            links = page.locator("#search-results ul.search li a")
            counts[term] = links.count()
            hrefs = [links.nth(i).get_attribute("href") for i in range(min(counts[term], 20))]
        finally:
            page.close()
        assert all(h and not re.match(r"https?://", h) for h in hrefs), hrefs
        assert not log["console"] and not log["pageerror"], log
    assert counts["Hopfield"] >= 3, counts
    assert counts["qqxqzzyqq"] == 0, counts
