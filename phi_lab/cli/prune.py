"""`phi-lab prune`: decontaminate CodeExercises against HumanEval/MBPP and prune it per tau (§5).

Writes into --out: pruning.json (per tau: similar tasks, removed ids, closest matches), the pruned
exercise sets exercises/tau-<tau>.jsonl (ready for retraining) with removed/tau-<tau>.jsonl (each with its
reason), ngram_hits.jsonl (13-gram overlap with context), table3.csv and manifest.json. Similarities are
cached (see --cache-dir), so re-running with other taus or with evaluation results is cheap.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phi_lab.decontamination.run import EMBED_DTYPES, ORDERS

DESCRIPTION = __doc__


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    from phi_lab.decontamination.pruning import DEFAULT_TAUS
    from phi_lab.decontamination.similarity import DEFAULT_MAX_EMBEDDING_DISTANCE

    p = sub.add_parser(
        name, help=help, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--exercises", required=True, type=Path, help="JSONL with `id`, `prompt`, `solution`")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument(
        "--taus",
        default=",".join(f"{t:g}" for t in DEFAULT_TAUS),
        help="AST match-rate thresholds (default: %(default)s)",
    )
    p.add_argument("--benchmark", choices=("humaneval", "mbpp"), default="humaneval")
    p.add_argument(
        "--benchmark-path", type=Path, help="override the benchmark file (HumanEval .jsonl.gz / mbpp.jsonl)"
    )
    p.add_argument(
        "--embedder", default="minilm", help="'minilm' or a causal LM directory (default: %(default)s)"
    )
    p.add_argument(
        "--max-embedding-distance",
        type=float,
        default=DEFAULT_MAX_EMBEDDING_DISTANCE,
        help="fixed embedding threshold; 'inf' AST-matches every pair (default: %(default)s)",
    )
    p.add_argument(
        "--order",
        choices=ORDERS,
        default="embedding-first",
        help="embed all, AST-match pairs within the threshold; or AST-match all pairs, embed only "
        "exercises with a pair >= the lowest tau (faster on CPU; same result) (default: %(default)s)",
    )
    p.add_argument("--device", default="cpu", help="device of the embedder, e.g. cuda (default: %(default)s)")
    p.add_argument(
        "--embed-dtype",
        choices=EMBED_DTYPES,
        default="float32",
        help="weights of the embedder: bfloat16 is ~2x faster on CPUs with AVX512-BF16; its distances "
        "stay within 0.005 of float32's, so only pairs that close to --max-embedding-distance can "
        "decide otherwise; its vectors are cached apart (default: %(default)s)",
    )
    p.add_argument("--workers", type=int, default=0, help="processes for AST matching (0 = all cores)")
    p.add_argument(
        "--cache-dir", type=Path, help="similarity cache (default: <phi-lab cache>/decontamination)"
    )
    p.add_argument(
        "--ngram-n", type=int, default=13, help="n of the n-gram overlap check (default: %(default)s)"
    )
    p.add_argument(
        "--ngram-data",
        type=Path,
        action="append",
        default=[],
        help="extra training JSONL to scan for n-gram overlap (repeatable; field --text-field)",
    )
    p.add_argument(
        "--text-field", default="text", help="text field of --ngram-data records (default: %(default)s)"
    )
    p.add_argument("--original-results", type=Path, help="eval results JSONL of the original model (Table 3)")
    p.add_argument(
        "--retrained-results",
        action="append",
        default=[],
        metavar="TAU=FILE",
        help="eval results JSONL of the model retrained on the tau-pruned set (repeatable)",
    )
    p.add_argument(
        "--original-likelihood",
        type=Path,
        help="`phi-lab eval likelihood` likelihood.jsonl of the original model (Table 3)",
    )
    p.add_argument(
        "--retrained-likelihood",
        action="append",
        default=[],
        metavar="TAU=FILE",
        help="likelihood.jsonl of the model retrained on the tau-pruned set (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    from phi_lab.decontamination.pruning import parse_taus
    from phi_lab.decontamination.run import PruneConfig, Table3Inputs, parse_tau_files, prune_exercises

    config = PruneConfig(
        taus=parse_taus(args.taus),
        benchmark=args.benchmark,
        benchmark_path=args.benchmark_path,
        embedder=args.embedder,
        max_embedding_distance=args.max_embedding_distance,
        order=args.order,
        device=args.device,
        embed_dtype=args.embed_dtype,
        workers=args.workers,
        cache_dir=args.cache_dir,
        ngram_n=args.ngram_n,
        ngram_data=tuple(args.ngram_data),
        text_field=args.text_field,
    )
    inputs = Table3Inputs(
        original_results=args.original_results,
        retrained_results=parse_tau_files(args.retrained_results, "--retrained-results"),
        original_likelihood=args.original_likelihood,
        retrained_likelihood=parse_tau_files(args.retrained_likelihood, "--retrained-likelihood"),
    )
    report = prune_exercises(args.exercises, args.out, config, inputs, progress=not args.no_progress)
    for key, d in report["taus"].items():
        print(
            f"tau={key}: {len(d['similar_tasks'])}/{report['n_problems']} similar problems, "
            f"{len(d['removed_ids'])}/{report['n_exercises']} exercises removed"
        )
    n = report["ngram"]["n"]
    print(f"n-gram ({n}) hits: {report['ngram']['hits']}; wrote {args.out}/pruning.json, table3.csv")
    return 0
