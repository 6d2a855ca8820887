"""`phi-lab prune`: decontaminate CodeExercises against HumanEval/MBPP and prune it per tau (§5).

Writes into --out: pruning.json (per tau: similar tasks, removed ids, closest matches), the pruned
exercise sets exercises/tau-<tau>.jsonl (ready for retraining) with removed/tau-<tau>.jsonl (each with its
reason), ngram_hits.jsonl (13-gram overlap with context), table3.csv and manifest.json. Similarities are
cached (see --cache-dir), so re-running with other taus or with evaluation results is cheap.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

DESCRIPTION = __doc__
EMBED_DTYPES = ("float32", "bfloat16")


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
        choices=("embedding-first", "ast-first"),
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
    p.set_defaults(func=run)


def _parse_tau_files(specs: list[str], flag: str) -> dict[float, Path]:
    out = {}
    for spec in specs:
        tau, sep, path = spec.partition("=")
        try:
            out[float(tau)] = Path(path)
        except ValueError:
            sep = ""
        if not sep or not path:
            raise ValueError(f"{flag} wants TAU=FILE, got {spec!r}")
    return out


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"phi-lab prune: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from phi_lab.benchmarks import load_benchmark
    from phi_lab.decontamination.exercises import iter_texts, read_exercises
    from phi_lab.decontamination.ngrams import NGramIndex, summarize
    from phi_lab.decontamination.pruning import (
        decide,
        parse_taus,
        tau_key,
        write_pruned_sets,
    )
    from phi_lab.decontamination.similarity import SimilarityConfig, compute_similarities
    from phi_lab.decontamination.table3 import read_task_likelihood, read_task_results, table3, write_table3
    from phi_lab.io import atomic_open, atomic_write_json

    taus = parse_taus(args.taus)
    retrained_paths = _parse_tau_files(args.retrained_results, "--retrained-results")
    retrained_nll_paths = _parse_tau_files(args.retrained_likelihood, "--retrained-likelihood")
    missing_taus = [
        t for t in [*retrained_paths, *retrained_nll_paths] if round(t, 6) not in {round(x, 6) for x in taus}
    ]
    if missing_taus:
        raise ValueError(
            f"--retrained-results/--retrained-likelihood for tau {missing_taus} not among --taus {args.taus}"
        )
    for f in [
        args.exercises,
        *args.ngram_data,
        args.original_results,
        *retrained_paths.values(),
        args.original_likelihood,
        *retrained_nll_paths.values(),
    ]:
        if f is not None and not f.exists():
            raise FileNotFoundError(f"{f} does not exist")
    config = SimilarityConfig(
        max_embedding_distance=args.max_embedding_distance, workers=args.workers, order=args.order
    )
    progress = not args.no_progress
    started = time.time()

    exercises = read_exercises(args.exercises)
    problems = list(load_benchmark(args.benchmark, args.benchmark_path).values())
    args.out.mkdir(parents=True, exist_ok=True)

    # N-gram overlap: the exercises themselves, then any extra training data.
    index = NGramIndex(problems, n=args.ngram_n)
    hits_path = args.out / "ngram_hits.jsonl"
    hits = []
    with atomic_open(hits_path) as fh:
        sources = [
            ((e.id, e.code) for e in exercises),
            *(iter_texts(p, (args.text_field,)) for p in args.ngram_data),
        ]
        for docs in sources:
            for h in index.scan(docs, progress=progress):
                hits.append(h)
                fh.write(json.dumps(h.to_json(), ensure_ascii=False) + "\n")

    # Embedding + AST similarity, then the per-tau decisions.
    from phi_lab.model.embeddings import get_embedder
    from phi_lab.paths import cache_dir

    # The dtype is part of embedder.name, which keys the embedding cache: float32 and bfloat16 never mix.
    embedder = get_embedder(args.embedder, device=args.device, dtype=args.embed_dtype)
    cache = args.cache_dir or cache_dir() / "decontamination"
    ex_codes, prob_codes = [e.code for e in exercises], [p.code for p in problems]
    if config.order == "ast-first":
        from phi_lab.decontamination.ast_first import compute_similarities_ast_first

        pairs = compute_similarities_ast_first(
            ex_codes, prob_codes, embedder, cache, config, ast_floor=min(taus), progress=progress
        )
    else:
        pairs = compute_similarities(ex_codes, prob_codes, embedder, cache, config, progress=progress)
    decisions = decide(pairs, exercises, problems, taus)
    files = write_pruned_sets(args.out, exercises, decisions)

    def as_tau(t: float) -> float:  # the --taus value a TAU=FILE refers to
        return next(x for x in taus if abs(x - t) < 1e-6)

    original = read_task_results(args.original_results) if args.original_results else None
    original_nll = read_task_likelihood(args.original_likelihood) if args.original_likelihood else None
    rows = table3(
        {t: d.similar_tasks for t, d in decisions.items()},
        [p.task_id for p in problems],
        original,
        {as_tau(t): read_task_results(p) for t, p in retrained_paths.items()},
        paper_reference=args.benchmark == "humaneval",
        original_nll=original_nll,
        retrained_nll={as_tau(t): read_task_likelihood(p) for t, p in retrained_nll_paths.items()},
    )
    write_table3(rows, args.out / "table3.csv")

    from phi_lab.decontamination.ast_match import AST_DEFINITION_VERSION, METHOD_NAMES

    methods = {name: int((pairs.method == code).sum()) for code, name in METHOD_NAMES.items()}
    report = {
        "benchmark": args.benchmark,
        "n_exercises": len(exercises),
        "n_problems": len(problems),
        "embedder": embedder.name,
        "embed_dtype": args.embed_dtype,
        "max_embedding_distance": None
        if math.isinf(config.max_embedding_distance)
        else config.max_embedding_distance,
        "ast_definition": AST_DEFINITION_VERSION,
        "order": config.order,
        "candidate_pairs": len(pairs),
        "candidate_pairs_by_method": methods,
        "ngram": {"n": args.ngram_n, **summarize(hits)},
        "taus": {
            tau_key(t): {
                **d.to_json(),
                "n_kept": len(exercises) - len(d.removed_ids),
                "files": files[tau_key(t)],
            }
            for t, d in decisions.items()
        },
    }
    atomic_write_json(args.out / "pruning.json", report, indent=1, ensure_ascii=False)
    atomic_write_json(
        args.out / "manifest.json",
        {
            "command": "phi-lab prune",
            "args": {
                k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, list) else v)
                for k, v in vars(args).items()
                if k != "func"
            },
            "cache_dir": str(cache),
            "seconds": round(time.time() - started, 2),
            "outputs": ["pruning.json", "table3.csv", "ngram_hits.jsonl", "exercises/", "removed/"],
        },
        indent=1,
        ensure_ascii=False,
    )
    for t, d in decisions.items():
        print(
            f"tau={tau_key(t)}: {len(d.similar_tasks)}/{len(problems)} similar problems, "
            f"{len(d.removed_ids)}/{len(exercises)} exercises removed"
        )
    print(f"n-gram ({args.ngram_n}) hits: {len(hits)}; wrote {args.out}/pruning.json, table3.csv")
    return 0
