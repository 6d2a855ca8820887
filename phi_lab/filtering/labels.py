"""Educational-value labels: what an annotator said about one file, and who said it.

A label is a score in [0, 1] (higher = more educational for a student learning basic coding
concepts), the binary verdict the classifier is trained on, the reasons, and its provenance
(annotator, prompt version, model). A failed annotation keeps its error and no verdict, so a
re-run can retry it and `fit` can skip it with a count instead of training on a guess.
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


def write_labels(labels: Iterable[Label], path: str | Path) -> Path:
    """Write labels as JSONL atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_open(path) as f:
        for lab in labels:
            f.write(lab.to_json() + "\n")
    return path


def read_labels(path: str | Path) -> Iterator[Label]:
    """Labels from JSONL; a bad line raises naming the file and line."""
    path = Path(path)
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        try:
            yield Label.from_dict(rec)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: not a label record ({e})") from None
