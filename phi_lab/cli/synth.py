"""`phi-lab synth exercises|textbooks|seeds`: synthetic data for phi-1 / phi-1.5 (§2.2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from phi_lab.cli.common import add_verbs, fail

INCOMPLETE = 3  # the generator ran out of candidates before --n records were kept


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["offline", "openai"],
        default="offline",
        help="offline (default): procedural + mined, no API; openai: any OpenAI-compatible server",
    )
    p.add_argument("--model", default=None, help="model name for --backend openai")
    p.add_argument("--n", type=int, required=True, help="number of records to keep")
    p.add_argument("--out", type=Path, required=True, help="run directory (rerun the same command to resume)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=64, help="candidates per step (each step is saved)")
    p.add_argument("--dedup-threshold", type=float, default=0.85, help="MinHash Jaccard for near duplicates")
    p.add_argument("--sandbox-timeout", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: CPU count)")
    p.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="where the machine gives no kernel isolation (isolation: limits), run the programs even "
        "though the environment holds secret-looking variables: a program could read them and your files",
    )
    g = p.add_argument_group(
        "openai backend (key from OPENAI_API_KEY, URL from OPENAI_BASE_URL or --base-url)"
    )
    g.add_argument("--base-url", default=None)
    g.add_argument(
        "--endpoint",
        choices=["chat", "completions"],
        default="chat",
        help="chat: /v1/chat/completions; completions: /v1/completions (base models, no chat template)",
    )
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--max-tokens", type=int, default=1500)
    g.add_argument("--concurrency", type=int, default=8)
    g.add_argument("--rpm", type=float, default=500.0, help="requests per minute")
    g.add_argument("--tpm", type=float, default=200_000.0, help="tokens per minute")
    g.add_argument("--max-retries", type=int, default=6)
    g.add_argument("--cache-dir", type=Path, default=None, help="LLM reply cache (default: phi-lab cache)")
    g.add_argument("--batch", action="store_true", help="use the Batch API (half price, slow; resumable)")
    g.add_argument(
        "--prices",
        type=Path,
        default=None,
        help='JSON price table {"model": [usd_per_1M_in, usd_per_1M_out]} (added to the defaults)',
    )
    g.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN,OUT",
        help="USD per 1M input,output tokens of MODEL (repeatable); a model with no price costs 'unknown'",
    )
    g.add_argument(
        "--early-stop-answers",
        type=int,
        default=50,
        help="stop once this many answers are in if --early-stop-drop-fraction of them were dropped (0: never)",
    )
    g.add_argument("--early-stop-drop-fraction", type=float, default=0.9)
    g.add_argument("--batch-in-flight", type=int, default=4, help="--batch: batch files submitted at once")
    g.add_argument(
        "--batch-max-requests", type=int, default=50_000, help="--batch: requests per file (API limit 50,000)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=__doc__)
    verbs = add_verbs(parser, "synth_verb")
    ex = verbs.add_parser("exercises", help="CodeExercises: prompt (signature+docstring), solution, tests")
    _common(ex)
    ex.add_argument(
        "--mined-every",
        type=int,
        default=10,
        help="offline: every k-th candidate is mined from documented stdlib functions (0: never)",
    )
    ex.add_argument(
        "--mine-from",
        type=Path,
        nargs="*",
        default=None,
        help="offline: .py files/dirs to mine instead of the stdlib",
    )
    ex.set_defaults(func=run_synth)
    tb = verbs.add_parser("textbooks", help="synthetic textbook sections (phi-1 code, phi-1.5 common sense)")
    _common(tb)
    tb.add_argument(
        "--textbook-kind",
        choices=["code", "commonsense", "webseed"],
        default="code",
        help="openai: code (topic x subtopic x audience x style), commonsense (20K seed "
        "topics), webseed (extracts of --seed-texts)",
    )
    tb.add_argument("--seed-texts", type=Path, default=None, help="JSONL with a text field (webseed)")
    tb.set_defaults(func=run_synth)
    sd = verbs.add_parser("seeds", help="print phi-1.5 seed topics composed from the topic lists")
    sd.add_argument("--n", type=int, default=20)
    sd.add_argument("--seed", type=int, default=0)
    sd.set_defaults(func=run_synth_seeds)


def run_synth(args: argparse.Namespace) -> int:
    from phi_lab.llm.client import LLMError
    from phi_lab.synthesis.pipeline import SynthConfig, run_synthesis
    from phi_lab.synthesis.run import llm_options

    llm = llm_options(
        concurrency=args.concurrency,
        requests_per_minute=args.rpm,
        tokens_per_minute=args.tpm,
        max_retries=args.max_retries,
        base_url=args.base_url,
        cache_dir=args.cache_dir,
        prices=args.prices,
        price=args.price,
        endpoint=args.endpoint,
    )
    cfg = SynthConfig(
        kind=args.synth_verb,
        out=args.out,
        n=args.n,
        backend=args.backend,
        seed=args.seed,
        chunk=args.chunk,
        dedup_threshold=args.dedup_threshold,
        sandbox_timeout=args.sandbox_timeout,
        sandbox_workers=args.workers,
        allow_unisolated=args.allow_unisolated or None,  # not given: PHI_LAB_ALLOW_UNISOLATED decides
        model=args.model,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        batch=args.batch,
        batch_options={"max_in_flight": args.batch_in_flight, "max_requests": args.batch_max_requests},
        early_stop_answers=args.early_stop_answers,
        early_stop_drop_fraction=args.early_stop_drop_fraction,
        llm=llm,
        mined_every=getattr(args, "mined_every", 10),
        mine_from=getattr(args, "mine_from", None),
        textbook_kind=getattr(args, "textbook_kind", "code"),
        seed_texts=getattr(args, "seed_texts", None),
    )
    try:
        card = run_synthesis(cfg, progress=not args.quiet)
    except LLMError as e:
        fail(f"LLM request failed: {e}\nRerun the same command to resume.", code=1)
    cost = "unknown" if card["cost_usd"] is None else f"${card['cost_usd']:.4f}"
    print(
        f"{card['n_kept']} {cfg.kind} kept, {card['n_dropped']} dropped, cost {cost} "
        f"-> {cfg.out / (cfg.kind + '.jsonl')} (card: {cfg.out / 'dataset_card.md'})"
    )
    return 0 if card["complete"] else INCOMPLETE


def run_synth_seeds(args: argparse.Namespace) -> int:
    from phi_lab.synthesis.samplers import seed_topics

    for topic in seed_topics(args.n, args.seed):
        print(topic)
    return 0
