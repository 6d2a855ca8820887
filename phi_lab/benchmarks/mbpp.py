"""MBPP (Austin et al., 2021), read from a local mbpp.jsonl (`PHI_LAB_MBPP`; never downloaded, never copied in)."""

from __future__ import annotations

import json
from pathlib import Path

from phi_lab.benchmarks.problem import Problem
from phi_lab.evaluation.samples import SampleFileError, read_jsonl

MBPP_SPLITS = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
    "all": (1, 1 << 30),
}
MBPP_SHOTS = (2, 3, 4)  # Austin et al. (2021)'s three-shot examples
MBPP_STYLES = ("3shot", "docstring")
MBPP_STOPS = {
    "3shot": ("[DONE]",),
    "docstring": ("\nclass", "\nif __name__", "\nprint", "\n#", "\nassert", '\n"""'),
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
            int(r["task_id"]): {
                "text": r["prompt"],
                "code": r["code"],
                "tests": r["test_list"],
                "setup": "\n".join(r.get("test_imports") or []),
            }
            for r in data
        }
    if not path.exists():
        raise FileNotFoundError(f"MBPP not found: {path} (set PHI_LAB_MBPP or pass --mbpp)")
    rows = read_jsonl(path, required=("task_id", "text", "code", "test_list"))
    return {
        int(r["task_id"]): {
            "text": r["text"],
            "code": r["code"],
            "tests": r["test_list"],
            "setup": r.get("test_setup_code") or "",
        }
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
            task_id=f"MBPP/{tid}",
            prompt=prompt,
            canonical_solution=_norm(rec["code"]),
            test=test,
            prompt_is_code=style != "3shot",
            meta={"text": rec["text"]},
            description=rec["text"],
            stop_strings=MBPP_STOPS[style],
        )
    return problems
