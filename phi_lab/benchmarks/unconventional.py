"""The project's unconventional problems (Table 2's kind: not HumanEval-like), HumanEval format with tests."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from phi_lab.benchmarks.humaneval import HUMANEVAL_STOPS
from phi_lab.benchmarks.problem import Problem
from phi_lab.io import read_jsonl


def load_unconventional() -> dict[str, Problem]:
    """The project's unconventional problems (HumanEval format, with tests)."""
    path = Path(str(resources.files("phi_lab.benchmarks") / "data" / "unconventional.jsonl"))
    problems = {}
    for _, p in read_jsonl(path, on_torn="raise"):  # shipped with the package: any damage is an error
        problems[p["task_id"]] = Problem(
            p["task_id"],
            p["prompt"],
            p["canonical_solution"],
            p["test"],
            p["entry_point"],
            stop_strings=HUMANEVAL_STOPS,
        )
    return problems
