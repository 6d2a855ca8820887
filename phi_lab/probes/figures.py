"""Figure 3.1: how many CodeExercises import each module, as a sorted bar chart.

The paper uses it to show that the finetuning exercises barely touch the libraries that phi-1
nevertheless learns to use better (pygame, tkinter, ...). Counts come from the synthesis step's
statistics (a JSON mapping) or are computed here from an exercises JSONL.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path


def module_imports(code: str) -> set[str]:
    """Top-level modules a piece of code imports (relative imports excluded)."""
    tree = ast.parse(code)
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def import_counts_from_exercises(path: str | Path) -> Counter[str]:
    """Number of exercises importing each module, from a JSONL of exercises with `prompt` and
    `solution` (phi_lab.synthesis records) or a single `text` field. Exercises that do not parse
    are counted under no module (they are reported, not fatal)."""
    path = Path(path)
    counts: Counter[str] = Counter()
    unparsable = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                code = row["text"] if "text" in row else row["prompt"] + row["solution"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not an exercise record ({e})") from e
            try:
                counts.update(module_imports(code))
            except (SyntaxError, ValueError):
                unparsable += 1
    if unparsable:
        import logging

        logging.getLogger(__name__).warning(
            "%s: %d exercises do not parse and were skipped", path, unparsable
        )
    return counts


def load_import_counts(path: str | Path) -> dict[str, int]:
    """Import counts from a JSON statistics file ({module: count}, or such a mapping under the key
    "imports" / "import_counts") or computed from an exercises .jsonl."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import statistics not found: {path}")
    if path.suffix == ".jsonl":
        return dict(import_counts_from_exercises(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not JSON ({e})") from e
    if isinstance(data, dict):
        for key in ("imports", "import_counts"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in data.values()
    ):
        raise ValueError(f"{path}: expected a mapping of module -> integer count")
    return {str(k): int(v) for k, v in data.items()}


def plot_imports(
    counts: Mapping[str, int],
    path: str | Path,
    top: int | None = 30,
    title: str = "Imports across CodeExercises",
) -> Path:
    """Write the bar chart (most imported first, ties by name) as a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not counts:
        raise ValueError("no import counts to plot")
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if top:
        items = items[:top]
    names, values = zip(*items)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(items) + 2), 4.5))
    try:
        ax.bar(range(len(names)), values, color="#4c72b0")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right")
        ax.set_ylabel("exercises importing the module")
        ax.set_title(title)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        os.close(fd)
        try:
            fig.savefig(tmp, format="png", dpi=120)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        plt.close(fig)
    return path
