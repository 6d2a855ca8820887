"""Crash-safe file writes and a strict JSONL reader, shared by every stage (stdlib only).

Every writer goes through `atomic_open`: write a sibling temporary file, flush and fsync it, rename it
onto the final name (atomic on one filesystem), then fsync the directory so the rename itself survives
a power cut. A crash therefore leaves either the old file or the new one, never half of one, and the
temporary file is removed when the write fails. Temporary names are hidden (`.NAME.PID.THREAD.tmp`), so
globs such as `part-*.npz` or `*.jsonl` never see a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def tmp_path(path: Path, suffix: str = ".tmp") -> Path:
    """A sibling temporary name, unique per process and thread; `suffix` keeps an extension that a
    writer relies on (numpy adds `.npz` and matplotlib picks the format from the name)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{suffix}")


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable; best effort (some filesystems refuse to open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], object], suffix: str = ".tmp") -> Path:
    """Call `write(tmp)` (a library that wants a file name: savefig, np.savez, joblib.dump), fsync the
    result and move it onto `path`. The temporary file is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path, suffix)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """`with atomic_open(p) as f:` writes a stream to `p` atomically; mode "w" (UTF-8 text) or "wb"."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        with open(tmp, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """`text` as UTF-8, exactly as given (no newline is added)."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def atomic_write_json(
    path: str | Path,
    obj: Any,
    indent: int | None = 2,
    *,
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """`json.dumps(obj, ...)` plus a trailing newline. ensure_ascii=True (json's default) can write any
    string, lone surrogates included, which UTF-8 cannot encode."""
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys, default=default)
    return atomic_write_text(path, text + "\n")


def atomic_write_jsonl(
    path: str | Path, rows: Iterable[dict[str, Any]], *, ensure_ascii: bool = True, sort_keys: bool = False
) -> Path:
    """One `json.dumps(row)` per line, streamed (rows may be a generator); returns the path."""
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=ensure_ascii, sort_keys=sort_keys) + "\n")
    return Path(path)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; invalid JSON or a non-object raises ValueError naming
    `path:line`. Strict on purpose: for files written whole (atomically), a bad line is real damage."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row
