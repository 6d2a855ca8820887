"""Where phi-lab reads shared inputs and keeps caches. Every location can be overridden by env var."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout this package was installed from (editable installs) or the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def cache_dir() -> Path:
    """Caches that are safe to delete (default tokenizer, packed default corpora, LLM replies).

    `PHI_LAB_CACHE` overrides; the default lives under the checkout's git-ignored `runs/`.
    """
    env = os.environ.get("PHI_LAB_CACHE")
    path = Path(env) if env else repo_root() / "runs" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_mbpp_path() -> Path:
    """MBPP's mbpp.jsonl: `PHI_LAB_MBPP` (a file or its folder) or ../shared/data/mbpp/ beside the checkout."""
    env = os.environ.get("PHI_LAB_MBPP")
    path = Path(env) if env else repo_root().parent / "shared" / "data" / "mbpp"
    return path / "mbpp.jsonl" if path.is_dir() else path
