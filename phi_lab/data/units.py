"""A corpus split into work units: the plan that distributed tasks share (task r reads units r, r+N, ...).

A unit is the smallest piece of a source that can be read on its own: a batch of `.py` files, a
range of lines of a plain JSONL file (a compressed one whole: a stream cannot be entered half-way),
one Parquet row group, a row range of a saved dataset, one shard of a hub stream, one bucket of
joined Stack Exchange posts. The plan is made once, by the process that launches the
tasks, and written as JSONL; it records each unit's file sizes and modification times, so a rerun
can tell that the corpus changed under a half-finished job instead of mixing two corpora.

A document's place in the corpus is (unit index, offset in unit): merging per-task outputs on that
key gives the same order whatever the number of tasks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from phi_lab.data.documents import Document, EmptySourceError, SkipLog, read_python_tree
from phi_lab.data.formats import compression_of, resolve_text_field
from phi_lab.data.hub import HubSource, n_shards, open_stream, read_hub, stream_columns
from phi_lab.data.offline import offline_python_corpus
from phi_lab.data.sources import SourceSpec, detect, looked_for, source_name
from phi_lab.data.stackexchange import read_bucket, split_posts
from phi_lab.data.tables import (
    jsonl_line_ranges,
    load_saved_dataset,
    parquet_columns,
    parquet_row_groups,
    read_hf_dataset,
    read_jsonl,
    read_parquet,
)
from phi_lab.io import atomic_open

PLAN_VERSION = 1


@dataclass(frozen=True)
class Unit:
    index: int
    source: str  # the `source` of its documents
    kind: str
    path: str  # the source's path or URI
    text_field: str | None
    part: dict[str, Any] = field(default_factory=dict)  # which piece of the source (kind-specific)
    limit: int | None = None  # read at most this many documents (the corpus cap falls in this unit)
    stamp: str = ""  # hash of the sizes and mtimes it covers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unit:
        return cls(**d)


@dataclass
class Plan:
    units: list[Unit]
    sources: dict[str, dict[str, Any]]  # name -> path, kind, looked_for (for the no-documents error)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for u in self.units:
            h.update(json.dumps(u.to_dict(), sort_keys=True).encode())
        return h.hexdigest()[:16]


def _stamp(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:16]


def _batches(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _source_units(
    src: SourceSpec, text_field: str | None, shard_size: int, work_dir: Path, offline: dict[str, Any], skips
) -> list[dict[str, Any]]:
    """Unit fields (without index) for one source."""
    det = detect(src, skips)
    name = source_name(src, det.kind)
    field_name = src.text_field or text_field
    base = {"source": name, "kind": det.kind, "path": src.path, "text_field": field_name}
    if det.kind == "offline":
        docs = [(d.path, d.meta) for d in offline_python_corpus(skips=skips, **offline)]
        return [
            {**base, "part": {"files": b}, "stamp": _stamp(Path(p) for p, _ in b)}
            for b in _batches(docs, shard_size)
        ]
    if det.kind == "pytree":
        root = Path(src.path)
        files = [str(f.relative_to(root)) for f in det.files] if root.is_dir() else [""]
        return [
            {**base, "part": {"files": b}, "stamp": _stamp(root / f for f in b)}
            for b in _batches(files, shard_size)
        ]
    if det.kind == "jsonl":
        out = []
        for f in det.files:
            if compression_of(f) is not None:  # a compressed stream cannot be entered half-way
                out.append({**base, "part": {"file": str(f)}, "stamp": _stamp([f])})
                continue
            for start, stop, first in jsonl_line_ranges(f, shard_size):
                part = {"file": str(f), "start": start, "stop": stop, "first_line": first}
                out.append({**base, "part": part, "stamp": _stamp([f])})
        return out
    if det.kind == "parquet":
        out = []
        for f in det.files:
            field_f = resolve_text_field(parquet_columns(f), field_name, str(f))
            for g, _ in enumerate(parquet_row_groups(f)):
                part = {"file": str(f), "row_group": g}
                out.append({**base, "text_field": field_f, "part": part, "stamp": _stamp([f])})
        return out
    if det.kind == "hf":
        ds = load_saved_dataset(src.path, src.options.get("split"))
        field_f = resolve_text_field(ds.column_names, field_name, src.path)
        stamp = _stamp(sorted(Path(src.path).rglob("*")))
        rows = shard_size * 16  # rows are cheap to slice; fewer, larger units keep the plan small
        return [
            {
                **base,
                "text_field": field_f,
                "part": {"split": src.options.get("split"), "start": i, "stop": min(i + rows, len(ds))},
                "stamp": stamp,
            }
            for i in range(0, len(ds), rows)
        ]
    if det.kind == "hub":
        hub = HubSource.from_uri(src.path, **src.options)
        field_f = resolve_text_field(stream_columns(open_stream(hub)), field_name, hub.uri)
        n = n_shards(hub)
        return [
            {**base, "text_field": field_f, "part": {"hub": hub.to_dict(), "shard": i}, "stamp": f"{n}"}
            for i in range(n)
        ]
    # stackexchange: one streaming pass now joins nothing yet; it buckets the Python posts on disk
    key = hashlib.sha256(str(src).encode()).hexdigest()[:12]
    buckets = int(src.options["buckets"]) if "buckets" in src.options else None
    summary = split_posts(list(det.files), work_dir / "stackexchange" / key, buckets)
    counts = summary["counts"]
    if counts["python_questions"] == 0:
        raise EmptySourceError(
            f"{src.path}: no documents: looked for {looked_for('stackexchange', None)}; read "
            f"{counts['posts']} posts, {counts['questions']} questions, none tagged python"
        )
    where = str(det.files[0]) if len(det.files) == 1 else src.path
    stamp = hashlib.sha256(json.dumps(summary["stamp"], sort_keys=True).encode()).hexdigest()[:16]
    return [{**base, "part": {"bucket": b, "where": where}, "stamp": stamp} for b in summary["buckets"]]


def read_unit(unit: Unit, skips: SkipLog | None = None) -> Iterator[Document]:
    """The documents of one unit, in a fixed order."""
    skips = skips if skips is not None else SkipLog()
    docs = _read_unit(unit, skips)
    return islice(docs, unit.limit) if unit.limit is not None else docs


def _read_unit(u: Unit, skips: SkipLog) -> Iterator[Document]:
    p = u.part
    if u.kind == "offline":
        for path, meta in p["files"]:
            for doc in read_python_tree(path, skips, u.source):
                yield Document(doc.text, u.source, doc.path, meta)
    elif u.kind == "pytree":
        root = Path(u.path)
        files = [root / f for f in p["files"]] if root.is_dir() else None
        yield from read_python_tree(root, skips, u.source, files=files)
    elif u.kind == "jsonl":
        yield from read_jsonl(
            p["file"], u.text_field, skips, u.source, p.get("start", 0), p.get("stop"), p.get("first_line", 1)
        )
    elif u.kind == "parquet":
        yield from read_parquet(p["file"], u.text_field, skips, u.source, row_groups=[p["row_group"]])
    elif u.kind == "hf":
        yield from read_hf_dataset(u.path, u.text_field, p["split"], skips, u.source, p["start"], p["stop"])
    elif u.kind == "hub":
        hub = HubSource(**{**p["hub"], "data_files": tuple(p["hub"]["data_files"] or ()) or None})
        yield from read_hub(hub, u.text_field, skips, u.source, shard=p["shard"])
    elif u.kind == "stackexchange":
        yield from read_bucket(p["bucket"], p["where"], u.source, skips)
    else:
        raise ValueError(f"unit {u.index}: unknown kind {u.kind!r}")


def plan_corpus(
    specs: Iterable[str | Path | SourceSpec],
    work_dir: str | Path,
    text_field: str | None = None,
    shard_size: int = 256,
    max_documents: int | None = None,
    offline: dict[str, Any] | None = None,
    skips: SkipLog | None = None,
) -> Plan:
    """Units of all sources in order; with `max_documents`, only the units that hold the first ones.

    `offline` holds options of the offline corpus (seed, max_file_bytes, include_site_packages, ...).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    skips = skips if skips is not None else SkipLog()
    offline = dict(offline or {})
    if max_documents is not None:
        offline.setdefault("max_documents", max_documents)
    fields: list[dict[str, Any]] = []
    sources: dict[str, dict[str, Any]] = {}
    for spec in specs:
        src = SourceSpec.parse(spec)
        got = _source_units(src, text_field, shard_size, Path(work_dir), offline, skips)
        if not got:
            det = detect(src)
            raise EmptySourceError(f"{src.path}: no documents: looked for {looked_for(det.kind, None)}")
        name = got[0]["source"]
        if name in sources and sources[name]["path"] != src.path:
            raise ValueError(f"two sources are both named {name!r}; give one another with '?name=...'")
        sources[name] = {
            "path": src.path,
            "kind": got[0]["kind"],
            "what": looked_for(got[0]["kind"], got[0]["text_field"]),
        }
        fields.extend(got)
    units = [Unit(index=i, **f) for i, f in enumerate(fields)]
    if max_documents is not None:
        units = _cap(units, max_documents)
    return Plan(units, sources)


def _cap(units: list[Unit], max_documents: int) -> list[Unit]:
    """Keep the units that hold the first `max_documents` documents (reads up to that many)."""
    out, total = [], 0
    for u in units:
        if total >= max_documents:
            break
        n = sum(1 for _ in islice(read_unit(u, SkipLog()), max_documents - total))
        total += n
        out.append(replace(u, limit=n) if total >= max_documents else u)
    return out


def write_plan(plan: Plan, path: str | Path) -> Path:
    header = {"plan": PLAN_VERSION, "fingerprint": plan.fingerprint, "sources": plan.sources}
    with atomic_open(path) as f:
        f.write(json.dumps(header, sort_keys=True) + "\n")
        for u in plan.units:
            f.write(json.dumps(u.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
    return Path(path)


def read_plan_header(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.loads(f.readline())


def read_plan(path: str | Path, rank: int = 0, world_size: int = 1) -> Iterator[Unit]:
    """The units of task `rank` out of `world_size`: units rank, rank + world_size, ..."""
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        if header.get("plan") != PLAN_VERSION:
            raise ValueError(f"{path}: plan version {header.get('plan')} != {PLAN_VERSION}")
        for i, line in enumerate(f):
            if i % world_size == rank:
                yield Unit.from_dict(json.loads(line))
