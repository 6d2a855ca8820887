"""The content-addressed reply cache: a reply is paid for once, whatever happens to the run.

One JSON file per reply under `root/ab/abcdef....json`, written atomically the moment the reply
arrives, so a run killed at any moment finds every reply it already received. The key covers
everything that changes the answer (model, endpoint, messages, sampling parameters, prompt-template
version) and nothing secret: the API key never enters a key, an entry or a file name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_text

Messages = list[dict[str, str]]


def cache_key(model: str, messages: Messages, params: dict[str, Any], template_version: str) -> str:
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "template_version": template_version},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplyCache:
    """A half-written entry never exists; an unreadable one (disk trouble) reads as a miss."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # overwritten by the next reply for this key

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_text(self.path(key), json.dumps(entry, ensure_ascii=False))
