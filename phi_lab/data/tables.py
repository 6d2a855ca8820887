"""Readers of tabular corpora: JSONL (plain, .gz, .zst, ...), Parquet (by row group), saved `datasets`.

Each yields one `Document` per record with the record's scalar fields as provenance; bad records are
skipped with a reason. The text field is auto-detected (`content` for The Stack, else `text`) unless
named, and a named field that exists nowhere is an error that lists the columns.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phi_lab.data.documents import Document, SkipLog, is_scalar
from phi_lab.data.formats import open_binary, resolve_text_field


def _row_document(
    rec: dict[str, Any], text_field: str, where: str, source: str, skips: SkipLog
) -> Document | None:
    text = rec.get(text_field)
    if not isinstance(text, str):
        reason = "empty" if text is None else f"not-a-string: {text_field!r} is {type(text).__name__}"
        skips.add(where, reason, source)
        return None
    if not text.strip():
        skips.add(where, "empty", source)
        return None
    return Document(text, source, where, {k: v for k, v in rec.items() if k != text_field and is_scalar(v)})


def jsonl_line_ranges(path: str | Path, lines_per_range: int) -> list[tuple[int, int, int]]:
    """(start byte, stop byte, first line number) of consecutive `lines_per_range`-line pieces of a plain
    JSONL file: one pass over the bytes, so a single large file can still be split between tasks."""
    ranges, start, first, pos = [], 0, 1, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if (lineno - 1) % lines_per_range == 0 and lineno > 1:
                ranges.append((start, pos, first))
                start, first = pos, lineno
            pos += len(raw)
    if pos > start:
        ranges.append((start, pos, first))
    return ranges


def _lines(path: Path, start: int, stop: int | None, first_line: int) -> Iterator[tuple[int, bytes]]:
    if start == 0 and stop is None:
        with open_binary(path) as f:
            yield from enumerate(f, first_line)
        return
    with open(path, "rb") as f:  # a byte range exists only for plain files
        f.seek(start)
        lineno = first_line
        while stop is None or f.tell() < stop:
            raw = f.readline()
            if not raw:
                break
            yield lineno, raw
            lineno += 1


def read_jsonl(
    path: str | Path,
    text_field: str | None = None,
    skips: SkipLog | None = None,
    source: str | None = None,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> Iterator[Document]:
    """One Document per JSON line of a plain or compressed file (or of bytes [start, stop) of a plain
    one, whose first line is `first_line`); bad lines are skipped with a reason."""
    path = Path(path)
    skips = skips if skips is not None else SkipLog()
    source = source or path.name.split(".")[0]
    field, explicit = text_field, text_field is not None
    seen_field = False
    n_lines = 0
    with contextlib.closing(_lines(path, start, stop, first_line)) as lines:
        for lineno, raw in lines:
            if not raw.strip():
                continue
            n_lines += 1
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                skips.add(where, f"non-utf8: byte {e.start}", source)
                continue
            except json.JSONDecodeError as e:
                skips.add(where, f"invalid-json: {e.msg} at column {e.colno}", source)
                continue
            if not isinstance(rec, dict):
                skips.add(where, f"not-an-object: {type(rec).__name__}", source)
                continue
            if field is None:  # the first record decides; a file mixing layouts is not one corpus
                field = resolve_text_field(rec.keys(), None, where)
            if field not in rec:
                skips.add(where, f"no-text-field: no {field!r}", source)
                continue
            seen_field = True
            text = rec[field]
            if not isinstance(text, str):
                skips.add(where, f"not-a-string: {field!r} is {type(text).__name__}", source)
                continue
            if not text.strip():
                skips.add(where, "empty", source)
                continue
            yield Document(text, source, where, {k: v for k, v in rec.items() if k != field and is_scalar(v)})
    if n_lines and explicit and not seen_field and start == 0 and stop is None:
        raise ValueError(f"{path}: no record has the text field {field!r} (use --text-field)")


def parquet_columns(path: str | Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(path).schema_arrow.names)


def parquet_row_groups(path: str | Path) -> list[int]:
    """Rows per row group: the unit a Parquet shard can be split into without reading it."""
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata
    return [md.row_group(i).num_rows for i in range(md.num_row_groups)]


def read_parquet(
    path: str | Path,
    text_field: str | None = None,
    skips: SkipLog | None = None,
    source: str | None = None,
    row_groups: list[int] | None = None,
) -> Iterator[Document]:
    """One Document per row (all row groups, or the given ones), read a batch at a time to bound memory.

    A document's path is `FILE:ROW` with ROW counted over the whole file, whichever row groups are read.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    skips = skips if skips is not None else SkipLog()
    source = source or path.name.split(".")[0]
    pf = pq.ParquetFile(path)
    field = resolve_text_field(pf.schema_arrow.names, text_field, str(path))
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    for g in range(len(sizes)) if row_groups is None else row_groups:
        row = starts[g]
        for batch in pf.iter_batches(batch_size=1024, row_groups=[g]):
            for rec in batch.to_pylist():
                doc = _row_document(rec, field, f"{path}:{row}", source, skips)
                row += 1
                if doc is not None:
                    yield doc


def load_saved_dataset(path: str | Path, split: str | None = None):
    """A dataset written with `save_to_disk` (one split of a DatasetDict); local only, never downloads."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError(
            f"reading {path} needs the Hugging Face `datasets` package: pip install datasets"
        ) from e
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds.keys())
        if split is None:
            if len(splits) != 1:
                raise ValueError(f"{path}: a DatasetDict with splits {splits}; choose one with --split")
            split = splits[0]
        ds = ds[split]
    return ds


def read_hf_dataset(
    path: str | Path,
    text_field: str | None = None,
    split: str | None = None,
    skips: SkipLog | None = None,
    source: str | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[Document]:
    """Rows [start, stop) of a saved Hugging Face dataset."""
    path = Path(path)
    ds = load_saved_dataset(path, split)
    skips = skips if skips is not None else SkipLog()
    source = source or path.name
    field = resolve_text_field(ds.column_names, text_field, str(path))
    stop = len(ds) if stop is None else min(stop, len(ds))
    for i in range(start, stop, 1024):
        batch = ds[i : min(i + 1024, stop)]
        for j in range(len(batch[field])):
            rec = {k: v[j] for k, v in batch.items()}
            doc = _row_document(rec, field, f"{path}[{i + j}]", source, skips)
            if doc is not None:
                yield doc
