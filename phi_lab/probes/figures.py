"""Figure 3.1's data: how many CodeExercises import each module (the chart: `reporting.figure_3_1`).

The paper uses it to show that the finetuning exercises barely touch the libraries that phi-1
nevertheless learns to use better (pygame, tkinter, ...). Counts come from the synthesis step's
statistics (`import_stats.json` written by `phi-lab synth`) or are computed from an exercises JSONL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from phi_lab.io import read_jsonl
from phi_lab.reporting.figures import figure_3_1, save_figure


def import_counts_from_exercises(path: str | Path) -> dict[str, int]:
    """Number of exercises importing each package, from a JSONL of exercises with `prompt` and
    `solution` (phi_lab.synthesis records) or a single `text` field. Counted by the synthesis
    step's own `import_statistics`, so the figure and the dataset card always agree."""
    from phi_lab.synthesis.report import import_statistics

    path = Path(path)
    programs = []
    for lineno, row in read_jsonl(path, on_torn="raise"):
        try:
            programs.append(row["text"] if "text" in row else row["prompt"] + row["solution"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: not an exercise record ({e})") from e
    return _counts(import_statistics(programs), path)


def _counts(data: object, path: Path) -> dict[str, int]:
    """{package: count} from import_stats.json's {"packages": [{"package", "count"}, ...]}, from a
    dataset card holding it under "imports", or from a plain {module: count} mapping."""
    if isinstance(data, dict):
        for key in ("imports", "import_counts"):
            if isinstance(data.get(key), (dict, list)):
                return _counts(data[key], path)
        if isinstance(data.get("packages"), list):
            data = data["packages"]
    if isinstance(data, list):
        try:
            data = {row["package"]: row["count"] for row in data}
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: package rows need 'package' and 'count' ({e})") from e
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in data.values()
    ):
        raise ValueError(f"{path}: expected import statistics (a mapping of module -> integer count)")
    return {str(k): int(v) for k, v in data.items()}


def load_import_counts(path: str | Path) -> dict[str, int]:
    """Import counts from the synthesis step's import_stats.json (or any {module: count} JSON), or
    computed from an exercises .jsonl."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import statistics not found: {path}")
    if path.suffix == ".jsonl":
        return import_counts_from_exercises(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    return _counts(data, path)


def plot_imports(
    counts: Mapping[str, int],
    path: str | Path,
    top: int | None = 30,
    title: str = "Imports across CodeExercises",
) -> Path:
    """Write Figure 3.1 (most imported first, ties by name) as a PNG, atomically; returns its path.
    `phi_lab.reporting.figure_3_1` gives the Figure itself, for a notebook to show."""
    return save_figure(figure_3_1(counts, top=top, title=title), path, dpi=120)
