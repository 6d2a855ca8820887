"""Exploring in JupyterLab: `make lab`'s settings, and a real browser driving a real JupyterLab.

The browser test starts JupyterLab the way `make lab` does (`phi_lab.lab`), on a free port on
127.0.0.1, opens a notebook by double-click in Chromium (Debian's package, driven by Playwright), runs
all its cells against the session's smoke reproduction, checks that no cell failed, drives the probe
explorer once, and saves screenshots. Set PHI_LAB_SCREENSHOTS=DIR to keep them (README's come from it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from browser import chromium_browser

from phi_lab import lab

ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception): ", re.M)


def test_lab_settings_make_jupytext_the_default_viewer_and_keep_other_keys(tmp_path):
    path = lab.overrides_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"other:plugin": {"x": 1}, "@jupyterlab/docmanager-extension:plugin": {"y": 2}})
    )
    assert lab.install_lab_settings(tmp_path) == path
    data = json.loads(path.read_text())
    assert data["other:plugin"] == {"x": 1}
    assert data["@jupyterlab/docmanager-extension:plugin"] == {
        "y": 2,
        "defaultViewers": {"python": "Jupytext Notebook"},
    }
    before = path.stat().st_mtime_ns
    lab.install_lab_settings(tmp_path)  # idempotent: nothing rewritten
    assert path.stat().st_mtime_ns == before
    path.write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        lab.install_lab_settings(tmp_path)


def test_this_environment_has_the_lab_settings():
    """`make setup` installs them beside this environment's JupyterLab (what `make lab` starts)."""
    import sys

    data = json.loads(lab.overrides_path(sys.prefix).read_text())
    assert data["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def jupyterlab(tmp_path, smoke_run):
    """A JupyterLab started as `make lab` starts it, isolated from the user's settings and workspaces,
    whose notebooks default to the smoke reproduction (PHI_LAB_RUN)."""
    assert smoke_run.first.returncode == 0, smoke_run.first.stderr[-3000:]
    port, token = _free_port(), "phi-lab-browser-test"
    env = {
        **os.environ,
        "PHI_LAB_RUN": str(smoke_run.path),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    argv = lab.lab_argv(
        [
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ]
    )
    log = (tmp_path / "jupyterlab.log").open("w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not listen within 120 s")
        yield f"http://127.0.0.1:{port}/lab?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("PHI_LAB_SCREENSHOTS") or tmp_path / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _error_outputs(page) -> list[str]:
    return [o[:1500] for o in page.locator(".jp-OutputArea-output").all_inner_texts() if ERROR_LINE.search(o)]


def _wait_until_executed(page, timeout_s: float) -> None:
    """Until the last code cell has an execution count and the kernel is idle; a cell that fails
    fails the test at once with its traceback (Run All stops there)."""
    deadline = time.monotonic() + timeout_s
    last = page.locator(".jp-CodeCell").last
    prompt, stalled = "", 0
    while time.monotonic() < deadline:
        errors = _error_outputs(page)
        assert not errors, errors
        prompt = last.locator(".jp-InputArea-prompt").inner_text().strip()
        idle = page.get_by_text("phi-lab (.venv) | Idle").count() > 0
        if re.fullmatch(r"\[\d+\]:", prompt) and idle:
            return
        # Idle with nothing queued but the last cell never ran: a cell stopped Run All.
        queued = page.locator(".jp-InputArea-prompt", has_text="[*]").count()
        stalled = stalled + 1 if idle and not queued else 0
        if stalled > 20:
            outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
            raise AssertionError(
                f"Run All stopped before the last cell; outputs: {[o[:500] for o in outputs]}"
            )
        time.sleep(1)
    raise AssertionError(f"the last cell did not run within {timeout_s:.0f} s (its prompt: {prompt!r})")


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the session's smoke reproduction may be built first
def test_a_newcomer_opens_runs_and_explores_notebook_05_in_a_real_browser(jupyterlab, tmp_path):
    shots = _shots_dir(tmp_path)
    with chromium_browser() as browser:
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(jupyterlab)
            item = page.locator(".jp-DirListing-item", has_text="05_probes.py")
            item.wait_for(timeout=90_000)
            item.dblclick()
            # Opened as a notebook, not as text, with the phi-lab kernel and no kernel dialog.
            page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
            assert page.locator(".jp-FileEditor").count() == 0
            page.get_by_text("phi-lab (.venv) | Idle").wait_for(timeout=90_000)
            assert page.locator(".jp-Dialog").count() == 0, "JupyterLab asked for a kernel"

            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            try:
                _wait_until_executed(page, timeout_s=420)
            finally:
                page.screenshot(path=str(shots / "after_run_all.png"), full_page=True)
            page.screenshot(path=str(shots / "notebook_05.png"), full_page=False)

            comparison = page.locator(".jp-OutputArea-output .phi-lab-report").first
            # what a reader sees: the viewport (an element taller than JupyterLab's scroller renders blank)
            comparison.locator("table").nth(1).scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "comparison.png"))

            # The explorer: pick another probe, run every model, see both completions side by side.
            explorer = page.locator(
                ".widget-vbox", has=page.locator("button", has_text="Run all models")
            ).first
            explorer.scroll_into_view_if_needed()
            picker = explorer.locator("select").first
            options = picker.locator("option").all_inner_texts()
            assert len(options) > 2, options
            picker.select_option(index=2)
            explorer.locator("button", has_text="Run all models").click()
            try:
                explorer.get_by_text(re.compile(r"^(done: 2 model|error: )")).wait_for(timeout=300_000)
            finally:
                explorer.screenshot(path=str(shots / "explorer_after_run.png"))
            result = explorer.inner_text()
            assert "done: 2 model" in result, result[:2000]
            assert "phi-1-base" in result and "phi-1" in result.replace("phi-1-base", "")
            assert not ERROR_LINE.search(result), result[:2000]
            explorer.locator("button", has_text="Run all models").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "explorer.png"))
        finally:
            page.close()
