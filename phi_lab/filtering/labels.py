"""Educational-value labels: what an annotator said about one file, and who said it.

A label is a score in [0, 1] (higher = more educational for a student learning basic coding
concepts), the binary verdict the classifier is trained on, the reasons, and its provenance
(annotator, prompt version, model). A failed annotation keeps its error and no verdict, so a
re-run can retry it and `fit` can skip it with a count instead of training on a guess.

A labels file may open with one header record (`{"phi_lab_labels": 1, ...}`) saying how the files
were chosen: the seed, the corpus size and the sampling method of `phi-lab filter annotate`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from phi_lab.data.documents import Document
from phi_lab.io import atomic_open, read_jsonl


@dataclass
class Label:
    path: str
    source: str
    sha256: str
    score: float | None  # in [0, 1]; None when the annotation failed
    label: int | None  # 1 = educational, 0 = not; None when the annotation failed
    reasons: list[str]
    annotator: str
    prompt_version: str
    model: str
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # the file itself, so `fit` can embed it without the corpus at hand

    @property
    def ok(self) -> bool:
        return self.error is None and self.label is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Label:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class Annotator(Protocol):
    name: str
    prompt_version: str
    model: str

    def annotate(self, docs: list[Document], progress: bool = False) -> list[Label]: ...


HEADER_KEY = "phi_lab_labels"


def write_labels(labels: Iterable[Label], path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write labels as JSONL atomically (temporary file, then rename), after a header with `metadata`."""
    path = Path(path)
    with atomic_open(path) as f:
        if metadata is not None:
            f.write(json.dumps({HEADER_KEY: 1, **metadata}, ensure_ascii=False, sort_keys=True) + "\n")
        for lab in labels:
            f.write(lab.to_json() + "\n")
    return path


def read_labels(path: str | Path) -> Iterator[Label]:
    """Labels from JSONL; a bad line raises naming the file and line."""
    path = Path(path)
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        if HEADER_KEY in rec:
            continue
        try:
            yield Label.from_dict(rec)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: not a label record ({e})") from None


def read_labels_metadata(path: str | Path) -> dict[str, Any]:
    """The header of a labels file (how its files were sampled), or {} for a file without one."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        rec = json.loads(first) if first.strip() else {}
    except ValueError:
        return {}
    return (
        {k: v for k, v in rec.items() if k != HEADER_KEY}
        if isinstance(rec, dict) and HEADER_KEY in rec
        else {}
    )
