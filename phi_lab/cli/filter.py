"""`phi-lab filter annotate|fit|apply`: the §2.1 filtering recipe from the command line.

phi-lab filter annotate --max-documents 2000 --out runs/filter/labels.jsonl
phi-lab filter fit --labels runs/filter/labels.jsonl --out runs/filter/classifier
phi-lab filter apply --classifier runs/filter/classifier --keep-fraction 0.3 --out runs/filter/offline
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phi_lab.cli.common import add_verbs
from phi_lab.filtering.run import ANNOTATORS, EMBED_DTYPES
from phi_lab.pipelines.cli_args import add_executor_args, executor_from_args


def _add_corpus_args(
    p: argparse.ArgumentParser, default_max: int | None, max_help: str = "stop after this many documents"
) -> None:
    p.add_argument(
        "--corpus",
        nargs="+",
        default=["offline"],
        metavar="SPEC",
        help="'offline' (stdlib + site-packages), directories of .py, .jsonl or .parquet files",
    )
    p.add_argument("--max-documents", type=int, default=default_max, help=max_help)
    p.add_argument("--seed", type=int, default=0, help="order of the offline corpus")
    p.add_argument("--max-file-bytes", type=int, help="offline corpus: skip larger files (default 1 MB)")
    p.add_argument(
        "--text-field", help="text field/column of JSONL, Parquet, datasets (default: 'content' or 'text')"
    )


def _corpus(args: argparse.Namespace):
    from phi_lab.filtering.run import CorpusSpec

    return CorpusSpec(list(args.corpus), args.max_documents, args.seed, args.max_file_bytes)


def _add_embedder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="torch device for the embedder (cpu, cuda)")
    p.add_argument(
        "--dtype",
        default=None,
        choices=EMBED_DTYPES,
        help="embedder precision (default float32; apply: as at fit); part of the embedder's name",
    )


def run_filter_annotate(args: argparse.Namespace) -> int:
    from phi_lab.filtering.run import annotate_corpus

    summary = annotate_corpus(
        _corpus(args),
        args.out,
        annotator=args.annotator,
        threshold=args.threshold,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        max_concurrency=args.max_concurrency,
        executor=executor_from_args(args),
        text_field=args.text_field,
    )
    print(json.dumps(summary, indent=2))
    return 0 if summary["failed"] < summary["n"] else 1  # no label at all: nothing to fit on


def run_filter_fit(args: argparse.Namespace) -> int:
    from phi_lab.filtering.run import fit_filter

    result = fit_filter(
        args.labels,
        args.out,
        embedder=args.embedder,
        device=args.device,
        dtype=args.dtype,
        n_estimators=args.n_estimators,
        test_fraction=args.test_fraction,
        threshold=args.threshold,
        seed=args.seed,
    )
    print(json.dumps(result, indent=2))
    return 0


def run_filter_apply(args: argparse.Namespace) -> int:
    from phi_lab.filtering.run import apply_filter

    manifest = apply_filter(
        _corpus(args),
        args.classifier,
        args.out,
        embedder=args.embedder,
        device=args.device,
        dtype=args.dtype,
        threshold=args.threshold,
        keep_fraction=args.keep_fraction,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        executor=executor_from_args(args),
        text_field=args.text_field,
    )
    if "submitted" in manifest:  # slurm: the array jobs are queued; outputs appear when they finish
        print(json.dumps(manifest, indent=2))
        return 0
    keys = ("threshold", "n_documents", "n_kept", "kept_fraction")
    print(json.dumps({k: manifest[k] for k in keys}, indent=2))
    print(f"outputs in {args.out}: kept.jsonl, dropped.jsonl, histograms.png, manifest.json")
    return 0


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(
        name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = add_verbs(parser, "verb")

    p = verbs.add_parser("annotate", help="label files with their educational value (heuristic or LLM)")
    _add_corpus_args(
        p, 2000, "annotate a uniform sample of this many documents of the whole corpus, seeded by --seed"
    )
    p.add_argument("--annotator", choices=ANNOTATORS, default="heuristic")
    p.add_argument("--model", help="chat model for --annotator openai (e.g. gpt-4o-mini)")
    p.add_argument("--base-url", help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    p.add_argument("--max-concurrency", type=int, default=8)
    p.add_argument(
        "--threshold",
        type=float,
        help="score in [0,1] at which a file counts as educational (default: heuristic 0.65, openai 0.5)",
    )
    p.add_argument("--out", type=Path, required=True, help="labels JSONL to write")
    add_executor_args(p)
    p.set_defaults(func=run_filter_annotate)

    p = verbs.add_parser("fit", help="train the random-forest classifier on embeddings of labelled files")
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--embedder", default="minilm", help="'minilm' or a causal-LM checkpoint directory")
    _add_embedder_args(p)
    p.add_argument("--n-estimators", type=int, default=300)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument(
        "--threshold", type=float, help="probability cut stored with the model (default: tuned out of bag)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, required=True, help="directory for classifier.joblib + classifier.json"
    )
    p.set_defaults(func=run_filter_fit)

    p = verbs.add_parser("apply", help="score a corpus in resumable shards; write kept/dropped JSONL")
    _add_corpus_args(p, default_max=None)
    p.add_argument("--classifier", type=Path, required=True)
    p.add_argument("--embedder", help="override the embedder recorded with the classifier")
    _add_embedder_args(p)
    cut = p.add_mutually_exclusive_group()
    cut.add_argument("--threshold", type=float, help="keep files whose score reaches this probability")
    cut.add_argument("--keep-fraction", type=float, help="keep this fraction of the best-scored files")
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, required=True)
    add_executor_args(p)
    p.set_defaults(func=run_filter_apply)
