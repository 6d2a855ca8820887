"""The project's unconventional problems (Table 2's kind: not HumanEval-like), HumanEval format with tests."""

from __future__ import annotations

import json
from importlib import resources

from phi_lab.benchmarks.humaneval import HUMANEVAL_STOPS
from phi_lab.benchmarks.problem import Problem


def load_unconventional() -> dict[str, Problem]:
    """The project's unconventional problems (HumanEval format, with tests)."""
    text = resources.files("phi_lab.benchmarks").joinpath("data/unconventional.jsonl").read_text("utf-8")
    problems = {}
    for line in text.splitlines():
        if line.strip():
            p = json.loads(line)
            problems[p["task_id"]] = Problem(
                p["task_id"],
                p["prompt"],
                p["canonical_solution"],
                p["test"],
                p["entry_point"],
                stop_strings=HUMANEVAL_STOPS,
            )
    return problems
