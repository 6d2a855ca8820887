"""Benchmarks as one `Problem` type: HumanEval, MBPP and the project's unconventional problems.

Used by evaluation (pass@k, likelihood, grading), the probes' checks and decontamination (§5).
"""

from __future__ import annotations

from pathlib import Path

from phi_lab.benchmarks.humaneval import HUMANEVAL_STOPS, humaneval_problems
from phi_lab.benchmarks.mbpp import MBPP_SPLITS, MBPP_STOPS, MBPP_STYLES, mbpp_problems, mbpp_task_id
from phi_lab.benchmarks.problem import Problem
from phi_lab.benchmarks.unconventional import load_unconventional

BENCHMARKS = ("humaneval", "mbpp")


def load_benchmark(name: str, path: str | Path | None = None, split: str = "test") -> dict[str, Problem]:
    """task_id -> Problem for `name` (humaneval: the bundled file unless `path`; mbpp: `split` of
    mbpp.jsonl, docstring prompts)."""
    if name == "humaneval":
        return humaneval_problems(path)
    if name == "mbpp":
        return mbpp_problems(path, split=split, style="docstring")
    raise ValueError(f"unknown benchmark {name!r}; choose one of {BENCHMARKS}")


__all__ = [
    "BENCHMARKS",
    "HUMANEVAL_STOPS",
    "MBPP_SPLITS",
    "MBPP_STOPS",
    "MBPP_STYLES",
    "Problem",
    "humaneval_problems",
    "load_benchmark",
    "load_unconventional",
    "mbpp_problems",
    "mbpp_task_id",
]
