"""`make lab`: JupyterLab on `notebooks/`, where a double-click opens a notebook as a notebook.

The notebooks are jupytext percent-format `.py` files (one diff-friendly file each, nothing to keep
in sync). JupyterLab opens `.py` files in its text editor unless told otherwise, so this installs an
application-level settings override (`<sys.prefix>/share/jupyter/lab/settings/overrides.json`, beside
this environment's JupyterLab, never in the user's own settings) that makes jupytext's "Jupytext
Notebook" the default viewer for Python files. The kernel is the one each notebook's header names
(`phi-lab`, registered by `make setup`), so JupyterLab does not ask which kernel to use.

    python -m phi_lab.lab [--port 8888] [extra jupyter-lab options]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json
from phi_lab.paths import repo_root

LAB_OVERRIDES: dict[str, Any] = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}},
    # No "would you like to get notified about Jupyter news?" pop-up on a machine that may be offline.
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
}


def overrides_path(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def install_lab_settings(prefix: str | Path = sys.prefix) -> Path:
    """Merge `LAB_OVERRIDES` into the environment's overrides.json (other keys are kept); idempotent."""
    path = overrides_path(prefix)
    current: dict[str, Any] = {}
    if path.exists():
        try:
            current = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); fix or delete it") from None
    merged = dict(current)
    for plugin, values in LAB_OVERRIDES.items():
        merged[plugin] = {**current.get(plugin, {}), **values}
    if merged != current:
        atomic_write_json(path, merged)
    return path


def lab_argv(extra: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={repo_root() / 'notebooks'}"]
    if os.geteuid() == 0 and "--allow-root" not in extra:
        argv.append("--allow-root")  # containers and CI run as root; Jupyter refuses without it
    return argv + extra


def main(argv: list[str] | None = None) -> None:
    install_lab_settings()
    args = lab_argv(list(sys.argv[1:] if argv is None else argv))
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
