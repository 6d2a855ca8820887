"""File formats of real corpora, recognised by their bytes: compression, Parquet, JSONL, Posts.xml.

Corpora arrive as `.jsonl.gz` / `.jsonl.zst` shards, Parquet shards with no telling name, or a
Stack Exchange dump; a reader that trusted suffixes alone read a directory of Parquet shards as an
empty `.py` tree. Everything here looks at the first bytes instead, and the text field is found by
name (`content` for The Stack, `text` elsewhere) or named by the user, with an error that lists the
columns when it is neither.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Iterable
from pathlib import Path
from typing import IO

COMPRESSION_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd", ".bz2", ".xz")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_MAGIC = b"PAR1"
# The Stack stores code in `content`; most other corpora (and phi-lab's own outputs) in `text`.
TEXT_FIELD_CANDIDATES = ("content", "text")


def head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def compression_of(path: Path) -> str | None:
    """'gzip', 'zstd', 'bz2', 'xz' from the file's magic bytes, or None for a plain file."""
    start = head(path, 6)
    for magic, name in COMPRESSION_MAGIC.items():
        if start.startswith(magic):
            return name
    return None


def open_binary(path: str | Path) -> IO[bytes]:
    """`path` opened for reading, decompressed on the fly whatever its name says."""
    path = Path(path)
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        import zstandard

        raw = open(path, "rb")  # noqa: SIM115 - closed with the stream that wraps it
        # read_across_frames: zstd files written in several frames (pzstd, streaming writers) are common.
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return open(path, "rb")


def strip_compression(name: str) -> str:
    name = name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_parquet(path: Path) -> bool:
    try:
        return head(path, 4) == PARQUET_MAGIC
    except OSError:
        return False


def sniff_file(path: Path) -> str | None:
    """The kind of one data file: 'parquet', 'jsonl', 'posts-xml', 'py', or None (not a corpus file)."""
    name = strip_compression(path.name)
    if name.endswith(".py"):
        return "py"
    try:
        if is_parquet(path):
            return "parquet"
        if name.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if name.endswith(".xml") or compression_of(path) or "." not in path.name:
            with open_binary(path) as f:
                start = f.read(512).lstrip()
            if start.startswith((b"{", b"[")) and not name.endswith(".xml"):
                return "jsonl"
            if b"<posts" in start.lower():
                return "posts-xml"
    except (OSError, EOFError, ValueError):
        return None
    return None


def resolve_text_field(columns: Iterable[str], text_field: str | None, where: str) -> str:
    """The column that holds the text: `text_field` if given (it must exist), else `content` or `text`."""
    columns = list(columns)
    listed = ", ".join(map(repr, columns)) or "none"
    if text_field:
        if text_field not in columns:
            raise ValueError(f"{where}: no column {text_field!r} (columns: {listed}; use --text-field)")
        return text_field
    present = [c for c in TEXT_FIELD_CANDIDATES if c in columns]
    if len(present) == 1:
        return present[0]
    if not present:
        raise ValueError(
            f"{where}: no text column found: looked for 'content' (The Stack) or 'text'; "
            f"columns: {listed}; name one with --text-field"
        )
    raise ValueError(
        f"{where}: ambiguous text column: both 'content' and 'text' exist (columns: {listed}); "
        "name one with --text-field"
    )
