"""A chapter run in a real JupyterLab, as a reader runs it: open it, run all cells, move a slider.

A JupyterLab server (this environment's, on 127.0.0.1, with a throw-away configuration) serves a
copy of the notebook; headless Chromium opens it, runs every cell through the "Run" menu, checks
that no cell raised, then moves the first slider of the interactive demo one step with the
keyboard and checks that the figure below it changes (its PNG data differ) and that the slider's
value moved. The live demo needs a kernel with no ``CI``/``EBMLIB_STATIC`` in its environment, so
those are removed for the server. ``EBMBOOK_LAB_NOTEBOOKS`` names other notebooks to try
(comma-separated paths under ``book/``, or ``all`` for every notebook with a demo).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import _browser
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN_TIMEOUT_MS = 420_000  # a chapter runs in at most 3 minutes on 2 idle cores; CI is busy


def _notebooks() -> list[str]:
    wanted = os.environ.get("EBMBOOK_LAB_NOTEBOOKS", "getting_started.ipynb").strip()
    if wanted == "all":
        return sorted(
            str(p.relative_to(ROOT / "book"))
            for p in (ROOT / "book").rglob("*.ipynb")
            if ".ipynb_checkpoints" not in p.parts and "interactive(" in p.read_text("utf-8")
        )
    return [w.strip() for w in wanted.split(",") if w.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A running JupyterLab on a copy of ``book/``; yields ``(base_url, token, root_dir)``."""
    if importlib.util.find_spec("jupyterlab") is None:
        _browser.skip("JupyterLab is not installed (pip install jupyterlab)")
    root = tmp_path / "book"
    # A copy: JupyterLab saves what it runs, and the committed notebooks stay without outputs.
    shutil.copytree(
        ROOT / "book",
        root,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_build", "__pycache__"),
    )
    settings = tmp_path / "settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    # Render every cell (JupyterLab otherwise renders only the cells in view).
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "EBMLIB_STATIC", "MPLBACKEND")}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        OMP_WAIT_POLICY="PASSIVE",
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


_PROMPTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')]
  .filter(c => c.querySelector('.jp-InputArea-editor')?.textContent.trim())
  .map(c => c.querySelector('.jp-InputPrompt')?.textContent.trim() || '')"""

_ERRORS = """() => [...document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Error/.test(t)).map(t => t.slice(-600))"""


@pytest.mark.browser
@pytest.mark.notebook
@pytest.mark.parametrize("notebook", _notebooks())
def test_chapter_runs_in_jupyterlab_and_its_slider_redraws(lab, notebook):
    base, token, root = lab
    assert (root / notebook).exists(), f"no notebook book/{notebook}"
    with _browser.chromium() as browser:
        offline = _browser.Offline(browser, viewport={"width": 1400, "height": 1000})
        page, log = offline.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{base}/lab/tree/{notebook}?token={token}", wait_until="load")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=180_000)
        # A kernel chooser may ask once; accept the notebook's own kernel.
        try:
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=10_000)
        except Exception:  # noqa: BLE001 - no dialog is the usual case
            pass
        page.wait_for_function(
            "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')"
            "?.textContent || '')",
            timeout=180_000,
        )

        # Run > Run All Cells, as a reader would.
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        t0 = time.monotonic()
        # Queued cells show [*] at once; the run is over when the kernel is idle and none does.
        page.wait_for_function(f"() => ({_PROMPTS})().some(t => t.includes('*') || /\\d/.test(t))")
        page.wait_for_function(
            f"""() => {{
              const p = ({_PROMPTS})();
              const idle = /\\|\\s*Idle/.test(
                  document.querySelector('#jp-main-statusbar')?.textContent || '');
              return idle && p.length > 0 && !p.some(t => t.includes('*'));
            }}""",
            timeout=RUN_TIMEOUT_MS,
        )
        elapsed = time.monotonic() - t0
        prompts = page.evaluate(_PROMPTS)
        if not all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            errors = page.evaluate(_ERRORS)
            pytest.fail(f"{notebook}: not every cell ran in JupyterLab {prompts}; {errors[:1]}")

        demo = page.locator(".widget-interact").first
        demo.wait_for(state="attached", timeout=60_000)
        demo.scroll_into_view_if_needed()
        image = demo.locator(".jp-OutputArea-output img").first
        image.wait_for(state="visible", timeout=120_000)
        before = image.get_attribute("src")
        slider = demo.locator(".widget-slider").first
        readout = slider.locator(".widget-readout")
        value_before = readout.text_content()
        slider.locator(".noUi-handle").first.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "([img, src]) => img.isConnected ? img.getAttribute('src') !== src : true",
            arg=[image.element_handle(), before],
            timeout=120_000,
        )
        after = demo.locator(".jp-OutputArea-output img").first
        after.wait_for(state="visible", timeout=120_000)
        src_after = after.get_attribute("src")
        value_after = readout.text_content()
        page.screenshot(path=str(root.parent / "jupyterlab.png"))
        offline.close()

    assert before.startswith("data:image/png") and src_after.startswith("data:image/png")
    assert src_after != before, "the figure did not change when the slider moved"
    assert value_after != value_before, (value_before, value_after)
    assert not offline.blocked, f"JupyterLab asked the network for {sorted(set(offline.blocked))}"
    assert not log["pageerror"], log["pageerror"]
    print(
        f"{notebook}: all cells ran in JupyterLab in {elapsed:.0f} s; slider {value_before} -> "
        f"{value_after} redrew the figure"
    )
