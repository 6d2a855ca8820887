"""Which isolation this machine gives untrusted code, and when to refuse to run it at all.

Three kinds, named in every result (`SandboxResult.isolation`), summary and CLI line:

- "namespaces-root": the harness is root; samples run in pid, mount, network and IPC namespaces under
  an unprivileged uid of their own.
- "namespaces-user": the harness is an ordinary user on a kernel that allows unprivileged user
  namespaces; the same namespaces, built inside a user namespace (see `namespaces`).
- "limits": neither (user namespaces disabled, not Linux, or a container that forbids them): rlimits
  and process sweeps only. A sample then runs as the harness's user, with the network, and can read
  what that user can read, including `/proc/<pid>/environ` of the harness and of every other process
  of that user. So where the harness's environment holds a secret-looking variable, the sandbox
  refuses to run untrusted code unless the caller opts in (`allow_unisolated=True`,
  `--allow-unisolated`, or PHI_LAB_ALLOW_UNISOLATED=1 for notebooks).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ISOLATIONS = ("namespaces-root", "namespaces-user", "limits")
SECRET_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
ALLOW_UNISOLATED_ENV = "PHI_LAB_ALLOW_UNISOLATED"
SERVER = str(Path(__file__).with_name("server.py"))

_lock = threading.Lock()
_detected: dict[str, tuple[str, str]] = {}


class UnisolatedRefused(PermissionError):
    """No kernel isolation here and secrets in the environment: untrusted code is not run (the
    caller fixes it: unset the variables, or opt in; the CLI shows it as one line)."""


def base_env() -> dict[str, str]:
    """The whole environment of fork servers, checkers and samples: an allow-list, nothing inherited
    (no keys, tokens, proxies or PYTHON* settings). Samples get HOME and TMPDIR on top."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }


def closed_ancestor(path: str) -> str | None:
    """The top-most directory on the way to `path` that other users cannot traverse (or stat), if any:
    a pyenv interpreter under /root (mode 700) is out of reach for any other uid."""
    parts = os.path.abspath(path).split("/")[1:]
    for i in range(1, len(parts) + 1):
        prefix = "/" + "/".join(parts[:i])
        try:
            if not os.stat(prefix).st_mode & 0o001:
                return prefix
        except OSError:
            return prefix
    return None


def secret_variables(environ: dict[str, str] | None = None) -> list[str]:
    """Names (never values) of the non-empty variables whose name looks like a secret's."""
    env = os.environ if environ is None else environ
    return sorted(k for k, v in env.items() if v and any(h in k.upper() for h in SECRET_HINTS))


def detect_isolation() -> str:
    """The strongest isolation this process can build: 'namespaces-root', 'namespaces-user' or
    'limits' (probed once per process, by doing what a fork server does)."""
    return _detect()[0]


def isolation_reason() -> str:
    """Why detection settled on 'limits' (empty otherwise)."""
    return _detect()[1]


def _detect() -> tuple[str, str]:
    with _lock:
        if "auto" not in _detected:
            _detected["auto"] = _probe()
        return _detected["auto"]


def _probe() -> tuple[str, str]:
    if not sys.platform.startswith("linux"):
        return "limits", f"kernel namespaces are Linux only (this is {sys.platform})"
    mode = "namespaces-root" if os.geteuid() == 0 else "namespaces-user"
    root = tempfile.mkdtemp(prefix="phi-sandbox-probe-")
    try:
        os.chmod(root, 0o755)
        proc = subprocess.run(
            [sys.executable, "-I", "-B", "-S", SERVER, "--probe", f"mode={mode}", f"root={root}"],
            capture_output=True,
            timeout=30,
            env=base_env(),
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return "limits", f"the namespace probe did not run: {e}"
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(root)
    if proc.returncode == 0:
        return mode, ""
    why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return "limits", f"{mode} unavailable: {why[-1] if why else f'probe exited {proc.returncode}'}"


def resolve(requested: str) -> str:
    """The isolation a Sandbox runs with, for its `isolation` argument."""
    allowed = ("auto", "namespaces", *ISOLATIONS)
    if requested not in allowed:
        raise ValueError(f"isolation must be one of {', '.join(allowed)}, got {requested!r}")
    detected, why = _detect()
    if requested == "auto" or requested == "limits":
        return detected if requested == "auto" else "limits"
    if detected == "limits" or requested not in ("namespaces", detected):
        raise RuntimeError(
            f"isolation={requested!r} requested but this machine gives {detected!r}"
            + (f" ({why})" if why else "")
        )
    return detected


def allow_unisolated_default() -> bool:
    return os.environ.get(ALLOW_UNISOLATED_ENV, "") == "1"


def check_unisolated(isolation: str, allow: bool) -> None:
    """Refuse (UnisolatedRefused) to run untrusted code without kernel isolation while the environment
    holds secret-looking variables, unless the caller opted in."""
    if isolation != "limits" or allow:
        return
    names = secret_variables()
    if not names:
        return
    why = isolation_reason()
    raise UnisolatedRefused(
        "phi_lab.sandbox: refusing to run untrusted code: no kernel isolation here (isolation: limits"
        + (f"; {why}" if why else "")
        + f") and the environment holds secret-looking variables ({', '.join(names)}). Without "
        "namespaces a sample runs as your user with network access: it can read these values from "
        "/proc/<pid>/environ of this process and of your other processes, read your files (keys, "
        "~/.netrc) and change them. Unset the variables, run where unprivileged user namespaces are "
        "enabled, or accept the risk explicitly: allow_unisolated=True in the API, --allow-unisolated "
        f"on the CLI, {ALLOW_UNISOLATED_ENV}=1 for notebooks."
    )
