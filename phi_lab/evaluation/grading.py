"""LLM grading on unconventional problems (paper §4, Table 2).

A grader model reads the problem and the student's solution, writes a short verbal evaluation,
then a grade from 0 to 10; the score is the mean grade in percent, reported beside pass@1. With no
API configured the default grader runs the tests instead (10 if they pass, else 0) and says so.
"""

from __future__ import annotations

import re

from phi_lab.benchmarks import Problem

TEMPLATE_VERSION = "grade-v1"
GRADER_SYSTEM = (
    "You are a strict but fair teaching assistant grading a student's Python solution to a "
    "programming exercise. You do not run the code; you read it carefully."
)
GRADER_USER = """Exercise (the function signature and docstring the student was given):
```python
{prompt}
```

Student solution:
```python
{solution}
```

First write a short verbal evaluation (at most 5 sentences): does the code do what the docstring
asks, including edge cases, and is it clear? Then, on the last line, write the grade exactly as
`Grade: X/10`, where X is an integer from 0 (useless) to 10 (fully correct and clear)."""

TEST_GRADER = "tests (no LLM API configured: grade = 10 if the tests pass else 0)"

_GRADE_PATTERNS = [
    # "Grade: 7/10", "**Grade:** 7 / 10", "grade = 7.5 out of 10", "Score: 8"
    re.compile(
        r"(?:grade|score|rating)(?:\s+(?:is|of))?\W{0,6}(\d+(?:\.\d+)?)\s*(?:/\s*10|out\s+of\s+10)?", re.I
    ),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*10|out\s+of\s+10)\b", re.I),
]


def grader_messages(problem: Problem, completion: str) -> list[dict]:
    solution = problem.prompt + completion
    return [
        {"role": "system", "content": GRADER_SYSTEM},
        {
            "role": "user",
            "content": GRADER_USER.format(prompt=problem.prompt.rstrip(), solution=solution.rstrip()),
        },
    ]


def parse_grade(text: str) -> float | None:
    """The grade in a grader reply (the last one stated), clamped to 0..10; None if there is none."""
    for pattern in _GRADE_PATTERNS:
        matches = pattern.findall(text or "")
        if matches:
            value = float(matches[-1])
            return value if 0.0 <= value <= 10.0 else None
    return None


def grade_with_llm(
    problems: dict[str, Problem], samples: list[dict], client, *, max_tokens: int = 400, progress: bool = True
) -> tuple[list[dict], dict]:
    """Grade each sample with the LLM client; unparsable replies are kept and excluded from the mean."""
    if hasattr(client, "check"):
        client.check()  # no key: fail before the first request, with a clear message
    convs = [grader_messages(problems[s["task_id"]], s["completion"]) for s in samples]
    replies = client.chat_many(
        convs, temperature=0.0, max_tokens=max_tokens, template_version=TEMPLATE_VERSION, progress=progress
    )
    rows = []
    for s, reply in zip(samples, replies):
        grade = parse_grade(reply.text)
        rows.append(
            {"task_id": s["task_id"], "grade": grade, "evaluation": reply.text, "cached": reply.cached}
        )
    graded = [r["grade"] for r in rows if r["grade"] is not None]
    summary = {
        "grader": f"llm:{client.config.model}",
        "template_version": TEMPLATE_VERSION,
        "score_percent": 10.0 * sum(graded) / len(graded) if graded else None,
        "n_graded": len(graded),
        "n_unparsable": len(rows) - len(graded),
        "usage": client.usage.to_dict() if hasattr(client, "usage") else None,  # cost_usd None: unknown
    }
    return rows, summary


def grade_with_tests(samples: list[dict], passed: list[bool]) -> tuple[list[dict], dict]:
    rows = [
        {"task_id": s["task_id"], "grade": 10.0 if ok else 0.0, "evaluation": TEST_GRADER}
        for s, ok in zip(samples, passed)
    ]
    score = 10.0 * sum(r["grade"] for r in rows) / len(rows) if rows else None
    return rows, {"grader": TEST_GRADER, "score_percent": score, "n_graded": len(rows), "n_unparsable": 0}
