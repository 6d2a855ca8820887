"""GSM8K as phi-1.5 reports it (its Table 4, "via coding"): the model writes Python, the program runs.

Each word problem becomes a code prompt: `def solution():` with the question as its docstring;
the model writes the body, and the trusted checker (`phi_lab.sandbox`, the benchmarks' path) calls
`solution()` in the sandboxed sample and compares the number it returns with the reference answer
(the number after `####` in GSM8K's `answer` field). pass@1 over greedy samples is the accuracy.
Model output never runs outside the sandbox, and the sample cannot forge the verdict.

Data: GSM8K's own JSONL (`question`, `answer` with `#### N`; e.g. the published test.jsonl) from a
path, or offline the stand-in `data/gsm8k_standin.jsonl`: eight GSM8K-shaped problems written for
this project, each with a reference program (`program`) that the tests check against its answer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from phi_lab.benchmarks.problem import Problem
from phi_lab.io import read_jsonl

# The function body ends where top-level code starts (the benchmarks' convention).
GSM8K_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n@")
PROMPT = 'def solution():\n    """{question}\n\n    Compute the answer step by step in Python and return it as a number.\n    """\n'
_FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)")


def standin_path() -> Path:
    return Path(__file__).parent / "data" / "gsm8k_standin.jsonl"


def final_answer(answer: str) -> float:
    """The number after `####` in a GSM8K answer ("#### 1,680" -> 1680.0)."""
    m = _FINAL.search(answer)
    if not m:
        raise ValueError(f"no '#### <number>' final answer in {answer[-80:]!r}")
    return float(m.group(1).replace(",", ""))


def check_code(target: float) -> str:
    """The trusted test: `solution()` must return a real number equal to the target (to 1e-6 relative)."""
    return (
        "def check(candidate):\n"
        "    got = candidate()\n"
        "    assert isinstance(got, (int, float)) and not isinstance(got, bool), "
        "f'solution() returned {type(got).__name__}, not a number'\n"
        f"    assert abs(float(got) - {target!r}) <= 1e-6 * max(1.0, abs({target!r})), "
        f"f'solution() returned {{got}}, expected {target!r}'\n"
    )


def gsm8k_problem(index: int, row: dict[str, Any]) -> Problem:
    question = " ".join(str(row["question"]).split())
    target = final_answer(str(row["answer"]))
    reference = row.get("program") or f"    return {target!r}\n"
    return Problem(
        task_id=f"GSM8K/{index}",
        prompt=PROMPT.format(question=question.replace('"""', "'''")),
        canonical_solution=reference,
        test=check_code(target),
        entry_point="solution",
        meta={"answer": target, "reasoning": row["answer"]},
        description=question,
        stop_strings=GSM8K_STOPS,
    )


def gsm8k_problems(path: str | Path | None = None, limit: int | None = None) -> dict[str, Problem]:
    """task_id -> Problem from a GSM8K JSONL file (default: the offline stand-in). Errors name path:line."""
    path = Path(path) if path is not None else standin_path()
    if not path.is_file():
        raise FileNotFoundError(f"GSM8K file not found: {path} (GSM8K's test.jsonl: question, answer)")
    problems: dict[str, Problem] = {}
    for lineno, row in read_jsonl(path, on_torn="raise"):
        if limit is not None and len(problems) >= limit:
            break
        try:
            p = gsm8k_problem(len(problems), row)
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path}:{lineno}: not a GSM8K row: {e}") from None
        problems[p.task_id] = p
    if not problems:
        raise ValueError(f"{path}: no GSM8K problems")
    return problems


def run_gsm8k(
    out: str | Path,
    *,
    model: str | Path | None = None,
    samples: str | Path | None = None,
    data: str | Path | None = None,
    sampling: Any = None,
    sandbox: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """pass@1 (and pass@k with n > 1) of a checkpoint's programs, or of a samples file; writes
    samples.jsonl (resumable), results.jsonl (verdict per sample) and summary.json into `out`."""
    from phi_lab.evaluation.functional import evaluate_samples
    from phi_lab.evaluation.run import SamplingOptions, SandboxOptions
    from phi_lab.evaluation.samples import read_samples, write_json, write_jsonl

    sampling = sampling or SamplingOptions(max_new_tokens=256)
    sandbox = sandbox or SandboxOptions()
    if (model is None) == (samples is None):
        raise ValueError("give exactly one of a checkpoint (model) or a samples file (samples)")
    out = Path(out)
    problems = sampling.first(gsm8k_problems(data))
    if model is not None:
        path = out / "samples.jsonl"
        sampling.generate(model, problems, path, GSM8K_STOPS, progress)
        samples = path
    rows = read_samples(samples)  # type: ignore[arg-type]
    with sandbox.sandbox() as sb:
        results, summary = evaluate_samples(rows, problems, sb, source=str(samples), progress=progress)
    summary = {
        "benchmark": "gsm8k",
        "method": "program of thought: the model writes solution(), the sandbox runs it (phi-1.5 report, Table 4)",
        "data": str(data or standin_path()),
        "stand_in": data is None,
        "samples": str(samples),
        **summary,
    }
    if model is not None:
        summary["generation"] = {"model": str(model), "max_new_tokens": sampling.max_new_tokens}
    write_jsonl(out / "results.jsonl", results)
    write_json(out / "summary.json", summary)
    return summary
