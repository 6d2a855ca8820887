"""Training exercises (CodeExercises) and training texts in the shape decontamination needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from phi_lab.io import read_jsonl


@dataclass(frozen=True)
class Exercise:
    """A CodeExercises record: `prompt` (signature + docstring) and `solution` (the body)."""

    id: str
    prompt: str
    solution: str
    # The whole input record (tests, meta, the packer's `text`): pruned sets are written back with it.
    record: dict | None = field(default=None, compare=False, repr=False)

    @property
    def code(self) -> str:
        return self.prompt + self.solution

    def to_json(self) -> dict:
        return {**(self.record or {}), "id": self.id, "prompt": self.prompt, "solution": self.solution}


def read_exercises(path: str | Path) -> list[Exercise]:
    """Exercises JSONL with string fields `id`, `prompt`, `solution`; ids must be unique."""
    path = Path(path)
    out: list[Exercise] = []
    seen: dict[str, int] = {}
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        missing = [k for k in ("id", "prompt", "solution") if k not in rec]
        if missing:
            raise ValueError(f"{path}:{lineno}: exercise lacks field(s) {missing}")
        if not isinstance(rec["prompt"], str) or not isinstance(rec["solution"], str):
            raise ValueError(f"{path}:{lineno}: `prompt` and `solution` must be strings")
        ex_id = str(rec["id"])
        if ex_id in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {ex_id!r} (first on line {seen[ex_id]})")
        seen[ex_id] = lineno
        out.append(Exercise(ex_id, rec["prompt"], rec["solution"], record=rec))
    return out


def iter_texts(path: str | Path, text_fields: tuple[str, ...] = ("text",)) -> Iterator[tuple[str, str]]:
    """(doc_id, text) from a training JSONL: the first of `text_fields` present, or an exercise's
    prompt + solution. doc_id is the record's `id` or `path:line`."""
    path = Path(path)
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        doc_id = str(rec.get("id", f"{path.name}:{lineno}"))
        text = next((rec[f] for f in text_fields if isinstance(rec.get(f), str)), None)
        if text is None and isinstance(rec.get("prompt"), str) and isinstance(rec.get("solution"), str):
            text = rec["prompt"] + rec["solution"]
        if text is None:
            raise ValueError(f"{path}:{lineno}: no text field ({', '.join(text_fields)}) or prompt+solution")
        yield doc_id, text
