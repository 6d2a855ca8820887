"""Documents, skip logs and the `.py` tree reader: what every corpus reader yields and records.

A reader never crashes half-way on one bad file or record: non-UTF-8 bytes, empty texts,
unreadable paths and permission errors are recorded in a `SkipLog` (written as skipped.jsonl)
and the stream goes on. Errors that make the *whole* source unusable (a path that does not
exist, a missing text field everywhere, `datasets` not installed, a source that yields nothing)
raise at once with the path. Table readers live in `tables`, hub streaming in `hub`, Stack
Exchange posts in `stackexchange`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_open, atomic_write_jsonl


@dataclass(frozen=True)
class Document:
    """One training document and where it came from."""

    text: str
    source: str  # a short name of the corpus it came from ("offline", a dir, a file)
    path: str  # file path, or "file.jsonl:LINE", or "dataset[INDEX]"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmptySourceError(ValueError):
    """A corpus source that yields no document at all: always an error, never an empty corpus."""


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    source: str = ""


class SkipLog:
    """Collects every skipped input with its reason; counts by reason for reports."""

    def __init__(self) -> None:
        self.items: list[Skipped] = []

    def add(self, path: str | Path, reason: str, source: str = "") -> None:
        self.items.append(Skipped(str(path), reason, source))

    def __len__(self) -> int:
        return len(self.items)

    def counts(self) -> dict[str, int]:
        """Skips per reason kind (the part before the first ':')."""
        return dict(Counter(s.reason.split(":", 1)[0] for s in self.items))

    def describe(self, since: int = 0, limit: int = 3) -> str:
        """'N skipped (reason: count, ...), e.g. PATH: REASON' over items[since:], for error messages."""
        items = self.items[since:]
        if not items:
            return "nothing was skipped"
        counts = Counter(s.reason.split(":", 1)[0] for s in items)
        listed = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        examples = "; ".join(f"{s.path}: {s.reason}" for s in items[:limit])
        return f"{len(items)} skipped ({listed}), e.g. {examples}"

    def write(self, path: str | Path) -> Path:
        """Write skipped.jsonl atomically (one object per skipped input)."""
        return atomic_write_jsonl(
            path, ({"path": s.path, "reason": s.reason, "source": s.source} for s in self.items)
        )


def _decode(raw: bytes, where: str, skips: SkipLog, source: str) -> str | None:
    """UTF-8 text of `raw`, or None (and a skip record) when it is not usable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        skips.add(where, f"non-utf8: byte {e.start} ({e.reason})", source)
        return None
    if not text.strip():
        skips.add(where, "empty", source)
        return None
    if "\x00" in text:
        # NUL bytes mean a binary file with a .py name; such bytes would poison the tokenizer.
        skips.add(where, "binary: contains NUL bytes", source)
        return None
    return text


def read_file_text(path: Path, skips: SkipLog, source: str, max_bytes: int | None = None) -> str | None:
    """One file as UTF-8 text, or None with the reason recorded (never raises OSError)."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            skips.add(path, f"too-large: over {max_bytes} bytes", source)
            return None
        raw = path.read_bytes()
    except PermissionError as e:
        skips.add(path, f"permission-denied: {e.strerror}", source)
        return None
    except OSError as e:
        skips.add(path, f"unreadable: {e.strerror or e}", source)
        return None
    return _decode(raw, str(path), skips, source)


def iter_python_files(root: Path, skips: SkipLog, source: str, suffix: str = ".py") -> list[Path]:
    """Every `suffix` file under `root`, sorted; unreadable directories are skipped with a reason."""
    found: list[Path] = []

    def on_error(err: OSError) -> None:
        skips.add(err.filename or root, f"unreadable-dir: {err.strerror or err}", source)

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found.extend(Path(dirpath) / f for f in filenames if f.endswith(suffix))
    return sorted(found)


def read_python_tree(
    root: str | Path,
    skips: SkipLog | None = None,
    source: str | None = None,
    max_file_bytes: int | None = None,
    files: list[Path] | None = None,
) -> Iterator[Document]:
    """Documents for every .py file under `root` (or `root` itself when it is a file), or for `files`."""
    root = Path(root)
    skips = skips if skips is not None else SkipLog()
    source = source or root.name or str(root)
    if not root.exists():
        raise FileNotFoundError(f"corpus source {root} does not exist")
    if files is None:
        files = [root] if root.is_file() else iter_python_files(root, skips, source)
    for f in files:
        text = read_file_text(f, skips, source, max_file_bytes)
        if text is not None:
            rel = f.name if f == root else str(f.relative_to(root))
            yield Document(text, source, str(f), {"relpath": rel})


def is_scalar(v: Any) -> bool:
    """A value kept in provenance metadata (lists, dicts and bytes are not)."""
    return v is None or isinstance(v, str | int | float | bool)


def write_documents(docs: Iterable[Document], path: str | Path, limit: int | None = None) -> int:
    """Snapshot documents as JSONL (`text`, `source`, `path` and scalar meta), atomically; returns the count.

    `read_jsonl` reads the file back, with the original source and path kept in each document's meta,
    so later stages can work on exactly the same sample.
    """
    n = 0
    with atomic_open(path) as f:
        for doc in docs:
            if limit is not None and n >= limit:
                break
            meta = {k: v for k, v in doc.meta.items() if is_scalar(v) and k not in ("text", "source", "path")}
            f.write(json.dumps({"text": doc.text, "source": doc.source, "path": doc.path, **meta}) + "\n")
            n += 1
    return n
