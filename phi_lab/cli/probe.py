"""`phi-lab probe`: compare checkpoints on the §3 probes and write comparison.html + probes.jsonl.

Completions are cached in DIR/completions.jsonl as they are generated, so rerunning the same
command after an interruption regenerates nothing that was already done.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(
        name,
        help=help,
        description="Run two or more checkpoints on the same probes with the same decoding settings and "
        "seeds; check every completion (parses, runs in the sandbox, right API names, passes its test); "
        "write DIR/comparison.html (static page) and DIR/probes.jsonl (one row per probe and model). "
        "With --import-stats, also draw Figure 3.1 (imports across CodeExercises).",
    )
    p.add_argument(
        "--models", nargs="+", metavar="DIR", help="checkpoint directories (phi_lab or transformers format)"
    )
    p.add_argument(
        "--names", nargs="+", metavar="NAME", help="display names, one per model (default: directory names)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--probes", metavar="FILE", help="probe set JSONL (default: the shipped set)")
    p.add_argument("--ids", nargs="+", metavar="ID", help="only these probe ids")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--timeout", type=float, default=20.0, help="sandbox wall-clock limit per program, seconds"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="where the machine gives no kernel isolation (isolation: limits), run the programs even "
        "though the environment holds secret-looking variables: a program could read them and your files",
    )
    p.add_argument(
        "--import-stats",
        metavar="FILE",
        help="import statistics JSON ({module: count}) or an exercises .jsonl: writes DIR/figure_3_1.png",
    )
    p.set_defaults(func=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    from phi_lab.probes.compare import DecodingConfig
    from phi_lab.probes.run import run_probes, scores_text

    decoding = DecodingConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    run = run_probes(
        args.models or [],
        args.out,
        names=args.names,
        probes=args.probes,
        ids=args.ids,
        decoding=decoding,
        timeout=args.timeout,
        device=args.device,
        import_stats=args.import_stats,
        allow_unisolated=args.allow_unisolated or None,  # not given: PHI_LAB_ALLOW_UNISOLATED decides
    )
    if run.figure is not None:
        print(f"wrote {run.figure}")
    if run.comparison is not None:
        print(scores_text(run.comparison))
        print(f"wrote {run.out / 'comparison.html'} and {run.out / 'probes.jsonl'}", file=sys.stderr)
    return 0
