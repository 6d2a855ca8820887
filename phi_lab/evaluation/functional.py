"""Functional correctness: judge every sample in the sandbox (tests outside the sample's process), pass@k."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable

from phi_lab.benchmarks import Problem
from phi_lab.evaluation.passk import pass_at_k_by_task
from phi_lab.evaluation.samples import SampleFileError
from phi_lab.sandbox import OUTCOMES, Sandbox, SandboxResult


def match_samples(
    samples: list[dict],
    problems: dict[str, Problem],
    source: str = "samples",
    normalize: Callable[[object], str] = str,
) -> list[str]:
    """The problem id of each sample; an unknown task_id is an error naming its line."""
    ids = []
    for i, row in enumerate(samples):
        line = row.get("__line__", i + 1)
        try:
            tid = normalize(row["task_id"])
        except ValueError as e:
            raise SampleFileError(f"{source}:{line}: {e}") from None
        if tid not in problems:
            raise SampleFileError(f"{source}:{line}: unknown task_id {row['task_id']!r}")
        ids.append(tid)
    return ids


def verdict_label(results: list[SandboxResult]) -> str:
    """How the results were decided, as the summary and report print it: which mechanism ("trusted
    checker": the tests ran outside the sample, calling it over plain-data pipes; "in-process": the
    sample's own process judged itself) under which isolation, e.g. "trusted checker (isolation:
    namespaces-user)"; several such parts, with counts, if the results are mixed."""
    kinds = Counter((r.decided_by, r.isolation) for r in results)
    if not kinds:
        return "none (no samples)"
    if len(kinds) == 1:
        ((decided_by, isolation),) = kinds
        return f"{decided_by} (isolation: {isolation})"
    return "; ".join(f"{n} x {d} (isolation: {i})" for (d, i), n in sorted(kinds.items()))


def evaluate_samples(
    samples: list[dict],
    problems: dict[str, Problem],
    sandbox: Sandbox,
    *,
    source: str = "samples",
    normalize: Callable[[object], str] = str,
    progress: bool = False,
) -> tuple[list[dict], dict]:
    """(results in input order: each row + passed + outcome + detail, summary with pass@k)."""
    ids = match_samples(samples, problems, source, normalize)
    programs = [problems[tid].checked(row["completion"]) for tid, row in zip(ids, samples)]
    t0 = time.monotonic()
    verdicts = sandbox.run_many(programs, progress=progress)
    elapsed = time.monotonic() - t0
    results, by_task = [], defaultdict(list)
    for tid, row, v in zip(ids, samples, verdicts):
        out = {k: val for k, val in row.items() if k != "__line__"}
        out.update(
            passed=v.passed,
            outcome=v.outcome,
            detail=v.detail[:500],
            decided_by=v.decided_by,
            isolation=v.isolation,
        )
        results.append(out)
        by_task[tid].append(v.passed)
    counts = Counter(v.outcome for v in verdicts)
    summary = {
        **pass_at_k_by_task(by_task),
        "n_samples": len(samples),
        "n_tasks": len(by_task),
        "n_tasks_in_benchmark": len(problems),
        "samples_per_task": {
            "min": min(map(len, by_task.values()), default=0),
            "max": max(map(len, by_task.values()), default=0),
        },
        "outcomes": {o: counts.get(o, 0) for o in OUTCOMES},
        "isolation": sandbox.isolation,
        "verdicts": verdict_label(verdicts),
        "timeout_s": sandbox.timeout,
        "workers": sandbox.workers,
        "wall_s": round(elapsed, 3),
    }
    return results, summary
