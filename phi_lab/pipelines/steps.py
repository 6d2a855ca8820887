"""Pipeline pieces shared by every corpus job: the plan reader, record adapters, ordered merges.

`UnitReader` is the reader step: task r of N reads units r, r+N, ... of the corpus plan and yields
datatrove `Document`s whose metadata keeps the phi-lab provenance (source, meta) and the document's
place in the corpus (unit, offset). Skipped inputs go to `skipped/<rank>.jsonl`, with their reasons.
Outputs are written per task; `merge_parts` merges them on (unit, offset), so a merged file is the
same for 1 task or 100.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from datatrove.data import Document as DTDocument
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

from phi_lab.data.documents import Document, SkipLog
from phi_lab.data.units import read_plan, read_unit
from phi_lab.io import atomic_open


def to_datatrove(doc: Document, unit: int, offset: int) -> DTDocument:
    return DTDocument(
        text=doc.text,
        id=doc.path,
        metadata={"source": doc.source, "meta": dict(doc.meta), "unit": unit, "offset": offset},
    )


def from_datatrove(doc: DTDocument) -> Document:
    md = doc.metadata
    return Document(doc.text, md["source"], doc.id, dict(md.get("meta") or {}))


def _sorted(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in sorted(d)}


def document_record(self, doc: DTDocument) -> dict[str, Any]:
    """A datatrove writer adapter: phi-lab's JSONL record of a document (keys sorted)."""
    md = doc.metadata
    rec = {
        "meta": _sorted(md.get("meta") or {}),
        "offset": md["offset"],
        "path": doc.id,
        "source": md["source"],
        "text": doc.text,
        "unit": md["unit"],
    }
    for extra in ("score", "sha256", "fitted_on", "kept", "reason"):
        if extra in md:
            rec[extra] = md[extra]
    return _sorted(rec)


def part_writer(folder: Path, adapter: Callable = document_record) -> JsonlWriter:
    """One uncompressed JSONL file per task under `folder` (`00003.jsonl` for task 3)."""
    return JsonlWriter(str(folder), output_filename="${rank}.jsonl", compression=None, adapter=adapter)


class UnitReader(BaseReader):
    """Reads this task's units of a plan (see `phi_lab.data.units`)."""

    name = "phi-lab corpus plan"

    def __init__(self, plan: str | Path, skips_dir: str | Path | None = None, progress: bool = True) -> None:
        super().__init__()
        self.plan = str(plan)
        self.skips_dir = str(skips_dir) if skips_dir else None
        self.progress = progress

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from tqdm.auto import tqdm

        if data:
            yield from data
        units = list(read_plan(self.plan, rank, world_size))
        skips = SkipLog()
        index = 0  # the document's place in this task's stream (datatrove's MinHash doc ids)
        with tqdm(units, desc=f"task {rank}/{world_size}", unit="unit", disable=not self.progress) as bar:
            for unit in bar:
                n = 0
                for n, doc in enumerate(read_unit(unit, skips), 1):
                    self.stat_update("documents")
                    dt = to_datatrove(doc, unit.index, n - 1)
                    dt.metadata["task"], dt.metadata["task_index"] = rank, index
                    index += 1
                    yield dt
                self.stat_update("units")
                bar.set_postfix(skipped=len(skips))
        self.stat_update("skipped", value=len(skips))
        if self.skips_dir:
            skips.write(Path(self.skips_dir) / f"{rank:05d}.jsonl")


def _keyed_lines(path: Path) -> Iterator[tuple[tuple[int, int], bytes]]:
    import orjson  # datatrove's writers need it too; 5-10x faster than json on long records

    with open(path, "rb") as f:
        for line in f:
            rec = orjson.loads(line)
            yield (rec["unit"], rec["offset"]), line


def merge_parts(
    folder: Path, out: Path, transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> int:
    """Merge every task's JSONL part in `folder` into `out`, in corpus order; returns the record count.

    Each part is already in corpus order (a task reads its units in order), so this is a streaming
    k-way merge: memory holds one record per part.
    """
    parts = sorted(folder.glob("*.jsonl")) if folder.exists() else []
    n = 0
    with atomic_open(out, "wb") as f:
        for _, line in heapq.merge(*(_keyed_lines(p) for p in parts), key=lambda kl: kl[0]):
            if transform is not None:
                rec = transform(json.loads(line))
                line = (json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n").encode()
            f.write(line if line.endswith(b"\n") else line + b"\n")
            n += 1
    return n


def merge_skips(folder: Path, out: Path) -> dict[str, int]:
    """All tasks' skipped inputs into one skipped.jsonl; returns counts by reason kind."""
    counts: dict[str, int] = {}
    with atomic_open(out, "wb") as f:
        for part in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
            with open(part, "rb") as src:
                for line in src:
                    kind = json.loads(line)["reason"].split(":", 1)[0]
                    counts[kind] = counts.get(kind, 0) + 1
                    f.write(line)
    return dict(sorted(counts.items()))


def skipped_for(folder: Path, source: str, limit: int = 3) -> str:
    """'N skipped (reason: count), e.g. ...' for one source, for the no-documents error."""
    log = SkipLog()
    for part in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        with open(part, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("source") == source:
                    log.add(rec["path"], rec["reason"], source)
    return log.describe(limit=limit)
