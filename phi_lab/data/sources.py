"""Corpus source specs -> documents: every kind of source the project reads, recognised by content.

A spec is a string (or a `SourceSpec`): 'offline', a path (a `.py` tree, a JSONL/Parquet file or a
directory of shards, a saved `datasets` directory, a Stack Exchange `Posts.xml` or posts export), or
`hf://<repo>[/<data_dir>]`; options follow a `?`, e.g. `data/the-stack?text_field=content&name=stack`
or `hf://parquet?data_files=/x/a.parquet,/x/b.parquet`. A directory is classified by the files in
it, not by its name, and a source that yields no document is an error naming the path and what was
looked for. Several sources read one after another make one corpus; each document keeps its source.

The one place that knows every kind of source, so the readers never import each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from phi_lab.data.documents import Document, EmptySourceError, SkipLog, read_python_tree
from phi_lab.data.formats import open_binary, sniff_file, strip_compression
from phi_lab.data.hub import PREFIX as HUB_PREFIX
from phi_lab.data.hub import HubSource, read_hub
from phi_lab.data.offline import offline_python_corpus
from phi_lab.data.stackexchange import looks_like_posts, read_stackexchange
from phi_lab.data.tables import parquet_columns, read_hf_dataset, read_jsonl, read_parquet

KINDS = ("offline", "pytree", "jsonl", "parquet", "hf", "hub", "stackexchange")
OPTIONS = ("kind", "text_field", "name", "split", "data_dir", "data_files", "config", "buckets")
HF_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")
FILE_KIND = {"py": "pytree", "parquet": "parquet", "jsonl": "jsonl", "posts-xml": "stackexchange"}


@dataclass(frozen=True)
class SourceSpec:
    path: str  # 'offline', a filesystem path, or hf://...
    kind: str | None = None  # one of KINDS; None: recognised from the content
    text_field: str | None = None  # None: 'content' or 'text', whichever the records have
    name: str | None = None  # the documents' `source`; default: from the path
    options: dict[str, str] = field(default_factory=dict)  # split, data_dir, data_files, config, buckets

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"source {self.path!r}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")

    @classmethod
    def parse(cls, spec: str | Path | SourceSpec) -> SourceSpec:
        if isinstance(spec, SourceSpec):
            return spec
        text = str(spec)
        base, sep, query = text.partition("?")
        opts: dict[str, str] = {}
        for pair in query.split("&") if sep else []:
            key, eq, value = pair.partition("=")
            if not eq or key not in OPTIONS:
                raise ValueError(f"source {text!r}: bad option {pair!r} (options: {', '.join(OPTIONS)})")
            opts[key] = value
        return cls(base, opts.pop("kind", None), opts.pop("text_field", None), opts.pop("name", None), opts)

    def __str__(self) -> str:
        opts = {"kind": self.kind, "text_field": self.text_field, "name": self.name, **self.options}
        query = "&".join(f"{k}={v}" for k, v in opts.items() if v)
        return self.path + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Detected:
    kind: str
    files: tuple[Path, ...] = ()  # the data files of a path source, sorted (empty for offline/hub/hf)


def _walk_files(root: Path, skips: SkipLog | None) -> list[Path]:
    def on_error(err: OSError) -> None:
        if skips is not None:
            skips.add(err.filename or root, f"unreadable-dir: {err.strerror or err}", root.name)

    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        out.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return sorted(out)


def _is_posts_table(path: Path, kind: str) -> bool:
    if kind == "parquet":
        return looks_like_posts(parquet_columns(path))
    if kind == "jsonl":
        import json

        with open_binary(path) as f:
            for raw in islice(f, 20):
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                return isinstance(rec, dict) and looks_like_posts(rec)
    return False


def detect(spec: str | Path | SourceSpec, skips: SkipLog | None = None) -> Detected:
    """What a source is, from its content: the kind and, for paths, its data files."""
    src = SourceSpec.parse(spec)
    if src.path == "offline":
        return Detected("offline")
    if src.path.startswith(HUB_PREFIX):
        return Detected("hub")
    path = Path(src.path)
    if not path.exists():
        raise FileNotFoundError(f"corpus source {path} does not exist")
    if path.is_file():
        sniffed = sniff_file(path)
        kind = src.kind or FILE_KIND.get(sniffed or "")
        if kind is None:
            raise ValueError(
                f"{path}: unknown corpus format (expected .py, JSONL (.jsonl/.json, .gz/.zst), Parquet "
                "or Posts.xml; name the kind with '?kind=...')"
            )
        if src.kind is None and kind in ("jsonl", "parquet") and _is_posts_table(path, kind):
            kind = "stackexchange"  # a posts export: questions and answers must be joined
        return Detected(kind, (path,))
    if src.kind == "hf" or (src.kind is None and any((path / m).exists() for m in HF_MARKERS)):
        return Detected("hf")
    by_kind: dict[str, list[Path]] = {}
    for f in _walk_files(path, skips):
        sniffed = sniff_file(f)
        if sniffed:
            by_kind.setdefault(FILE_KIND[sniffed], []).append(f)
    if "pytree" in by_kind and "jsonl" in by_kind:
        # A code tree's package.json / tsconfig.json are configuration, not JSONL shards.
        by_kind["jsonl"] = [f for f in by_kind["jsonl"] if not f.name.lower().endswith(".json")]
        if not by_kind["jsonl"]:
            del by_kind["jsonl"]
    if src.kind is not None:
        files = by_kind.get(src.kind, [])
        if src.kind == "stackexchange" and not files:  # posts exports in JSONL/Parquet
            files = by_kind.get("jsonl", []) + by_kind.get("parquet", [])
        return Detected(src.kind, tuple(sorted(files)))
    if not by_kind:
        raise EmptySourceError(
            f"{path}: no corpus files: looked for .py files, Parquet shards, JSONL (.jsonl/.json, plain "
            "or compressed), Posts.xml, or a saved `datasets` directory"
        )
    if len(by_kind) > 1:
        found = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
        raise ValueError(f"{path}: holds several kinds of corpus files ({found}); choose with '?kind=...'")
    (kind, files), *_ = by_kind.items()
    if kind in ("jsonl", "parquet") and _is_posts_table(files[0], kind):
        kind = "stackexchange"
    return Detected(kind, tuple(files))


def detect_kind(path: str | Path) -> str:
    """One of KINDS for a source path (see `detect`)."""
    return detect(path).kind


def source_name(src: SourceSpec, kind: str) -> str:
    """The `source` its documents carry: the spec's name=, else one derived from the path."""
    if src.name:
        return src.name
    if kind == "offline":
        return "offline"
    if kind == "stackexchange":
        return "stackoverflow"
    if kind == "hub":
        return HubSource.from_uri(src.path).repo.split("/")[-1]
    path = Path(src.path)
    if path.is_file() and kind != "pytree":
        return strip_compression(path.name).split(".")[0] or path.name
    return path.name or str(path)


def looked_for(kind: str, text_field: str | None) -> str:
    """What a reader of `kind` looks for, for the error when it finds none."""
    column = repr(text_field) if text_field else "'content' or 'text'"
    return {
        "offline": "Python files of this interpreter",
        "pytree": "UTF-8, non-empty .py files",
        "jsonl": f"JSON lines with a non-empty string in {column}",
        "parquet": f"rows with a non-empty string in column {column}",
        "hf": f"rows with a non-empty string in column {column}",
        "hub": f"rows with a non-empty string in column {column}",
        "stackexchange": "questions tagged python (python, python-3.x, ...) with their answers",
    }[kind]


def require_documents(docs: Iterable[Document], where: str, what: str, skips: SkipLog) -> Iterator[Document]:
    """`docs` unchanged, but an EmptySourceError at the end when there were none."""
    start, n = len(skips), 0
    for doc in docs:
        n += 1
        yield doc
    if n == 0:
        raise EmptySourceError(f"{where}: no documents: looked for {what}; {skips.describe(since=start)}")


def _documents(src: SourceSpec, det: Detected, text_field: str | None, skips: SkipLog, **kwargs: Any):
    name = source_name(src, det.kind)
    if det.kind == "offline":
        yield from offline_python_corpus(skips=skips, **kwargs)
    elif det.kind == "pytree":
        path = Path(src.path)
        yield from read_python_tree(path, skips, name, files=list(det.files) if path.is_dir() else None)
    elif det.kind == "jsonl":
        for f in det.files:
            yield from read_jsonl(f, text_field, skips, name)
    elif det.kind == "parquet":
        for f in det.files:
            yield from read_parquet(f, text_field, skips, name)
    elif det.kind == "hf":
        yield from read_hf_dataset(src.path, text_field, src.options.get("split"), skips, name)
    elif det.kind == "hub":
        yield from read_hub(HubSource.from_uri(src.path, **src.options), text_field, skips, name)
    else:
        buckets = int(src.options["buckets"]) if "buckets" in src.options else None
        yield from read_stackexchange(list(det.files), None, skips, name, buckets)


def read_source(
    spec: str | Path | SourceSpec, text_field: str | None = None, skips: SkipLog | None = None, **kwargs: Any
) -> Iterator[Document]:
    """Documents from one source spec (see the module docstring); `kwargs` go to the offline corpus."""
    skips = skips if skips is not None else SkipLog()
    src = SourceSpec.parse(spec)
    det = detect(src, skips)
    field_name = src.text_field or text_field
    yield from require_documents(
        _documents(src, det, field_name, skips, **kwargs), src.path, looked_for(det.kind, field_name), skips
    )


def read_sources(
    specs: Iterable[str | Path | SourceSpec],
    text_field: str | None = None,
    skips: SkipLog | None = None,
    **kwargs: Any,
) -> Iterator[Document]:
    """Documents of several sources, one after another in the given order."""
    for spec in specs:
        yield from read_source(spec, text_field, skips, **kwargs)


def iter_corpus(
    specs: list[str],
    max_documents: int | None,
    seed: int = 0,
    max_file_bytes: int | None = None,
    text_field: str | None = None,
) -> Iterator[Document]:
    """Documents of the given sources ('offline' = this interpreter's Python files), capped."""

    def docs() -> Iterator[Document]:
        for spec in specs:
            src = SourceSpec.parse(spec)
            if src.path == "offline":
                kw: dict[str, Any] = {"seed": seed}
                if max_file_bytes:
                    kw["max_file_bytes"] = max_file_bytes
                yield from read_source(src, text_field, **kw)
            else:
                yield from read_source(src, text_field)

    return islice(docs(), max_documents) if max_documents else docs()
