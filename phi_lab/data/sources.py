"""Corpus source specs -> documents: 'offline', a directory of .py files, JSONL, Parquet, a saved dataset.

The one place that knows every kind of source, so readers (`documents`) and the offline corpus
(`offline`) never import each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from phi_lab.data.documents import (
    Document,
    SkipLog,
    read_hf_dataset,
    read_jsonl,
    read_parquet,
    read_python_tree,
)
from phi_lab.data.offline import offline_python_corpus


def detect_kind(path: Path) -> str:
    """'pytree', 'jsonl', 'parquet' or 'hf' for a source path."""
    if path.is_dir():
        if (
            (path / "dataset_info.json").exists()
            or (path / "dataset_dict.json").exists()
            or (path / "state.json").exists()
        ):
            return "hf"
        return "pytree"
    name = path.name.lower()
    if name.endswith((".jsonl", ".json", ".jsonl.gz")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".py"):
        return "pytree"
    raise ValueError(f"{path}: unknown corpus format (expected a directory, .py, .jsonl or .parquet)")


def read_source(
    spec: str | Path, text_field: str = "text", skips: SkipLog | None = None, **kwargs: Any
) -> Iterator[Document]:
    """Documents from one source spec: 'offline', a directory, a .py/.jsonl/.parquet file or a saved dataset."""
    skips = skips if skips is not None else SkipLog()
    if str(spec) == "offline":
        yield from offline_python_corpus(skips=skips, **kwargs)
        return
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"corpus source {path} does not exist")
    kind = detect_kind(path)
    if kind == "pytree":
        yield from read_python_tree(path, skips)
    elif kind == "jsonl":
        yield from read_jsonl(path, text_field, skips)
    elif kind == "parquet":
        yield from read_parquet(path, text_field, skips)
    else:
        yield from read_hf_dataset(path, text_field, skips=skips)


def read_sources(
    specs: Iterable[str | Path], text_field: str = "text", skips: SkipLog | None = None, **kwargs: Any
) -> Iterator[Document]:
    """Documents of several sources, one after another in the given order."""
    for spec in specs:
        yield from read_source(spec, text_field, skips, **kwargs)


def iter_corpus(
    specs: list[str], max_documents: int | None, seed: int = 0, max_file_bytes: int | None = None
) -> Iterator[Document]:
    """Documents of the given sources ('offline' = this interpreter's Python files), capped."""

    def docs() -> Iterator[Document]:
        for spec in specs:
            if spec == "offline":
                kw = {"max_file_bytes": max_file_bytes} if max_file_bytes else {}
                yield from read_source("offline", seed=seed, **kw)
            else:
                yield from read_source(spec)

    return islice(docs(), max_documents) if max_documents else docs()
