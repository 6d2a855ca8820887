"""`phi-lab filter annotate|fit|apply`: the §2.1 filtering recipe from the command line.

phi-lab filter annotate --max-documents 2000 --out runs/filter/labels.jsonl
phi-lab filter fit --labels runs/filter/labels.jsonl --out runs/filter/classifier
phi-lab filter apply --classifier runs/filter/classifier --keep-fraction 0.3 --out runs/filter/offline
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _add_corpus_args(p: argparse.ArgumentParser, default_max: int | None) -> None:
    p.add_argument(
        "--corpus",
        nargs="+",
        default=["offline"],
        metavar="SPEC",
        help="'offline' (stdlib + site-packages), directories of .py, .jsonl or .parquet files",
    )
    p.add_argument("--max-documents", type=int, default=default_max, help="stop after this many documents")
    p.add_argument("--seed", type=int, default=0, help="order of the offline corpus")
    p.add_argument("--max-file-bytes", type=int, help="offline corpus: skip larger files (default 1 MB)")


def _embedder_kwargs(args: argparse.Namespace) -> dict:
    """Only non-default options, so the default MiniLM stays the shared, already-loaded instance."""
    kw = {}
    if args.device != "cpu":
        kw["device"] = args.device
    if args.dtype not in (None, "float32"):
        kw["dtype"] = args.dtype
    return kw


def _add_embedder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="torch device for the embedder (cpu, cuda)")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "bfloat16", "float16"],
        help="embedder precision (default float32; apply: as at fit); part of the embedder's name",
    )


def cmd_annotate(args: argparse.Namespace) -> int:
    from phi_lab.filtering.labels import write_labels

    if args.annotator == "heuristic":
        from phi_lab.filtering.heuristic import HeuristicAnnotator

        annotator = HeuristicAnnotator(threshold=args.threshold or 0.65)
    else:
        from phi_lab.filtering.llm_annotator import OpenAIAnnotator
        from phi_lab.llm.client import LLMConfig

        if not args.model:
            print("phi-lab filter annotate: --annotator openai needs --model", file=sys.stderr)
            return 2
        cfg = LLMConfig(
            model=args.model,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            max_concurrency=args.max_concurrency,
        )
        annotator = OpenAIAnnotator(cfg, threshold=args.threshold or 0.5)
    from phi_lab.data.sources import iter_corpus

    docs = list(iter_corpus(args.corpus, args.max_documents, args.seed, args.max_file_bytes))
    labels = annotator.annotate(docs, progress=True)
    write_labels(labels, args.out)
    ok = [lab for lab in labels if lab.ok]
    summary = {
        "out": str(args.out),
        "annotator": annotator.name,
        "prompt_version": annotator.prompt_version,
        "model": annotator.model,
        "n": len(labels),
        "failed": len(labels) - len(ok),
        "positive_rate": sum(lab.label for lab in ok) / len(ok) if ok else None,  # type: ignore[misc]
    }
    client = getattr(annotator, "client", None)
    if client is not None:
        summary["usage"] = client.usage.to_dict()
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


def cmd_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from phi_lab.filtering.classifier import ClassifierConfig, fit_classifier
    from phi_lab.filtering.embed_cache import embed_with_cache
    from phi_lab.filtering.labels import read_labels
    from phi_lab.model.embeddings import get_embedder

    labels = list(read_labels(args.labels))
    usable = [lab for lab in labels if lab.ok and lab.text is not None]
    if len(usable) < len(labels):
        print(f"skipping {len(labels) - len(usable)} labels without a verdict or text", file=sys.stderr)
    provenance = {(lab.annotator, lab.prompt_version, lab.model) for lab in usable}
    if len(provenance) != 1:
        print(
            f"{args.labels}: labels come from {len(provenance)} annotators {sorted(provenance)}; "
            "train on one",
            file=sys.stderr,
        )
        return 2
    name, version, model = provenance.pop()
    args.dtype = args.dtype or "float32"
    embedder = get_embedder(args.embedder, **_embedder_kwargs(args))
    X = embed_with_cache(
        embedder, [lab.text for lab in usable], [lab.sha256 for lab in usable], args.out / "embeddings.npz"
    )  # type: ignore[arg-type]
    y = np.array([lab.label for lab in usable])
    cfg = ClassifierConfig(
        n_estimators=args.n_estimators,
        test_fraction=args.test_fraction,
        threshold=args.threshold,
        seed=args.seed,
    )
    clf = fit_classifier(X, y, embedder.name, {"name": name, "prompt_version": version, "model": model}, cfg)
    clf.extra.update(
        {"embedder_spec": args.embedder, "embedder_dtype": args.dtype, "labels": str(args.labels)}
    )
    clf.save(args.out)
    print(json.dumps({"out": str(args.out), "embedder": embedder.name, "heldout": clf.metrics}, indent=2))
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from phi_lab.filtering.classifier import EduClassifier
    from phi_lab.filtering.corpus_filter import CorpusFilter, FilterConfig
    from phi_lab.model.embeddings import get_embedder

    clf = EduClassifier.load(args.classifier)
    spec = args.embedder or clf.extra.get("embedder_spec") or "minilm"
    args.dtype = args.dtype or clf.extra.get("embedder_dtype") or "float32"  # as at fit unless overridden
    cfg = FilterConfig(
        shard_size=args.shard_size,
        threshold=args.threshold,
        keep_fraction=args.keep_fraction,
        batch_size=args.batch_size,
    )
    corpus = json.dumps(
        {
            "specs": args.corpus,
            "max_documents": args.max_documents,
            "seed": args.seed,
            "max_file_bytes": args.max_file_bytes,
        }
    )
    filt = CorpusFilter(clf, get_embedder(spec, **_embedder_kwargs(args)), args.out, cfg, corpus=corpus)
    from phi_lab.data.sources import iter_corpus

    docs = iter_corpus(args.corpus, args.max_documents, args.seed, args.max_file_bytes)
    manifest = filt.run(docs, total=args.max_documents)
    print(
        json.dumps(
            {k: manifest[k] for k in ("threshold", "n_documents", "n_kept", "kept_fraction")}, indent=2
        )
    )
    print(f"outputs in {args.out}: kept.jsonl, dropped.jsonl, histograms.png, manifest.json")
    return 0


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(
        name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("annotate", help="label files with their educational value (heuristic or LLM)")
    _add_corpus_args(p, default_max=2000)
    p.add_argument("--annotator", choices=["heuristic", "openai"], default="heuristic")
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
    p.set_defaults(func=cmd_annotate)

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
    p.set_defaults(func=cmd_fit)

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
    p.set_defaults(func=cmd_apply)
