"""Crash-safe file writes, one JSONL reader and one JSONL appender, shared by every stage (stdlib only).

Every writer goes through `atomic_open`: write a sibling temporary file, flush and fsync it, rename it
onto the final name (atomic on one filesystem), then fsync the directory so the rename itself survives
a power cut. A crash therefore leaves either the old file or the new one, never half of one, and the
temporary file is removed when the write fails. Temporary names are hidden (`.NAME.PID.THREAD.tmp`), so
globs such as `part-*.npz` or `*.jsonl` never see a half-written file.

Files that grow while a long job runs (samples, caches, logs) are appended with `append_jsonl`, whose
only possible damage is a torn last line; every reader says with `read_jsonl(on_torn=...)` what such a
line means for its file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

log = logging.getLogger(__name__)


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


TornPolicy = Literal["raise", "skip", "truncate"]
TORN_POLICIES: tuple[str, ...] = ("raise", "skip", "truncate")


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(row, None), (None, None) for a blank line, or (None, what is wrong)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 ({e.reason} at byte {e.start})"
    if not line.strip():
        return None, None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e.msg})"
    if not isinstance(row, dict):
        return None, f"expected a JSON object, got {type(row).__name__}"
    return row, None


def _cut(path: Path, size: int, tail: bytes = b"") -> None:
    """Make `path` end at byte `size`, followed by `tail`, durably."""
    with open(path, "r+b") as f:
        f.truncate(size)
        if tail:
            f.seek(size)
            f.write(tail)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path, *, on_torn: TornPolicy = "raise") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line of a JSONL file.

    A bad line (invalid UTF-8 or JSON, or not an object) that ends with a newline is damage: ValueError
    naming `path:line`, whatever the policy. The last line is *torn* when it has no newline and is not a
    JSON object: what a crash in the middle of an append leaves (`append_jsonl` ends every row with a
    newline, and no proper prefix of a JSON object is one). `on_torn` says what a torn line means:

    - "raise": an error, like any bad line (files written whole, or input a person gave us);
    - "skip": ignored with a warning (a reader of a file that a live process may be appending to);
    - "truncate": cut off the file with a warning, and a complete last row that lacks its newline gets
      one, so the next append starts on a line of its own (an appender resuming its own file). The file
      changes when the iteration reaches its end.
    """
    if on_torn not in TORN_POLICIES:
        raise ValueError(f"on_torn must be one of {TORN_POLICIES}, got {on_torn!r}")
    path = Path(path)
    good = 0  # bytes of the lines before the current one
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            row, error = _parse_line(raw)
            ended = raw.endswith(b"\n")
            if error is None:
                if row is not None:
                    yield lineno, row
                if not ended and on_torn == "truncate" and row is not None:
                    _cut(path, good + len(raw), b"\n")
                good += len(raw)
                continue
            if ended:
                raise ValueError(f"{path}:{lineno}: {error}")
            what = f"{path}:{lineno}: torn last line ({len(raw)} bytes, no newline, {error})"
            if on_torn == "raise":
                raise ValueError(f"{what}: a write cut short by a crash?")
            if on_torn == "truncate":
                _cut(path, good)
                log.warning("%s cut off the file (a write cut short by a crash)", what)
            else:
                log.warning("%s skipped", what)


def append_jsonl(
    path: str | Path,
    rows: Iterable[dict[str, Any]],
    *,
    ensure_ascii: bool = True,
    sort_keys: bool = False,
    fsync: bool = True,
) -> int:
    """Append `rows` (one JSON object per line) in one write, flush and fsync; returns how many.

    Rows are serialized and encoded before the file is opened, so a bad row appends nothing; a crash
    during the write leaves at most a torn last line, which `read_jsonl(on_torn=...)` recognizes.
    `fsync=False` is for logs that a resume rewrites anyway (a process crash still loses nothing, only a
    power cut can)."""
    lines = []
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(f"append_jsonl rows must be dicts, got {type(row).__name__}")
        lines.append(json.dumps(row, ensure_ascii=ensure_ascii, sort_keys=sort_keys) + "\n")
    if not lines:
        return 0
    data = "".join(lines).encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    if created and fsync:
        fsync_dir(path.parent)  # the new directory entry must survive a power cut too
    return len(lines)
