"""`phi-lab tokenizer`: train a codegen-layout BPE on corpora, encode text, inspect a tokenizer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=help)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    t = verbs.add_parser(
        "train",
        help="train a byte-level BPE (codegen layout: end-of-text last, 38 whitespace tokens after it)",
        description="Train a byte-level BPE on corpora and save it in Hugging Face format.",
    )
    t.add_argument(
        "--source",
        nargs="+",
        default=["offline"],
        metavar="PATH",
        help="'offline' (this interpreter's Python source), directories, .py/.jsonl/.parquet files",
    )
    t.add_argument(
        "--vocab-size", type=int, required=True, help="BPE size incl. end-of-text (50257 = GPT-2's)"
    )
    t.add_argument("--out", required=True, type=Path, help="output directory")
    t.add_argument("--text-field", default="text", help="text field of JSONL/Parquet sources [text]")
    t.add_argument("--max-bytes", type=int, default=None, help="stop reading after this many UTF-8 bytes")
    t.add_argument("--min-frequency", type=int, default=2, help="minimum pair count for a merge [2]")
    t.add_argument("--seed", type=int, default=0, help="offline corpus order [0]")
    t.set_defaults(func=run_train)

    e = verbs.add_parser(
        "encode",
        help="print the token ids (and pieces) of a text",
        description="Encode text given as an argument, with --file, or on stdin.",
    )
    e.add_argument("text", nargs="?", default=None, help="text to encode (default: --file or stdin)")
    e.add_argument("--file", type=Path, default=None)
    e.add_argument(
        "--tokenizer", type=Path, default=None, help="tokenizer directory (default: the default one)"
    )
    e.add_argument(
        "--vocab-size", default="4096", help="default tokenizer's size or preset if no --tokenizer"
    )
    e.add_argument("--pieces", action="store_true", help="show each token's text next to its id")
    e.set_defaults(func=run_encode)

    i = verbs.add_parser(
        "info",
        help="vocabulary size, special ids, fingerprint",
        description="Describe a tokenizer directory.",
    )
    i.add_argument("path", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_info)


def _fail(msg: str) -> int:
    print(f"phi-lab tokenizer: error: {msg}", file=sys.stderr)
    return 2


def run_train(args: argparse.Namespace) -> int:
    from phi_lab.data.documents import SkipLog
    from phi_lab.data.sources import read_sources
    from phi_lab.model.tokenizer import PhiTokenizer

    skips = SkipLog()
    counts = {"documents": 0, "bytes": 0}

    def texts():
        docs = read_sources(args.source, args.text_field, skips, max_bytes=args.max_bytes, seed=args.seed)
        for doc in docs:
            if args.max_bytes is not None and counts["bytes"] >= args.max_bytes:
                return
            counts["documents"] += 1
            counts["bytes"] += len(doc.text.encode("utf-8"))
            yield doc.text

    try:
        tok = PhiTokenizer.train(
            texts(), vocab_size=args.vocab_size, min_frequency=args.min_frequency, show_progress=True
        )
    except (FileNotFoundError, ValueError, ImportError) as e:
        return _fail(str(e))
    if counts["documents"] == 0:
        return _fail(f"no usable documents in {' '.join(args.source)} ({len(skips)} skipped)")
    tok.save(args.out)
    meta = {
        "sources": args.source,
        "vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency,
        **counts,
        "fingerprint": tok.fingerprint(),
        "skipped": skips.counts(),
    }
    (args.out / "phi_lab_tokenizer.json").write_text(json.dumps(meta, indent=2) + "\n")
    if len(skips):
        skips.write(args.out / "skipped.jsonl")
    print(
        f"{args.out}: {tok.vocab_size:,} tokens (eos {tok.eos_id}) trained on {counts['documents']:,} "
        f"documents, {counts['bytes']:,} bytes; {len(skips)} inputs skipped"
    )
    return 0


def _load(args: argparse.Namespace):
    from phi_lab.model.tokenizer import PhiTokenizer

    if args.tokenizer is not None:
        return PhiTokenizer.from_pretrained(args.tokenizer)
    from phi_lab.data.defaults import default_tokenizer

    size = int(args.vocab_size) if str(args.vocab_size).isdigit() else args.vocab_size
    return default_tokenizer(size)


def run_encode(args: argparse.Namespace) -> int:
    try:
        tok = _load(args)
        if args.text is not None:
            text = args.text
        elif args.file is not None:
            text = args.file.read_text(encoding="utf-8")
        else:
            text = sys.stdin.read()
    except (FileNotFoundError, ValueError, UnicodeDecodeError) as e:
        return _fail(str(e))
    ids = tok.encode(text)
    if args.pieces:
        for i in ids:
            print(f"{i}\t{tok.decode([i])!r}")
    else:
        print(" ".join(map(str, ids)))
    print(f"{len(ids)} tokens, {len(text)} characters", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from phi_lab.model.tokenizer import PhiTokenizer

    try:
        tok = PhiTokenizer.from_pretrained(args.path)
    except (FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    info = {
        "name": tok.name,
        "vocab_size": tok.vocab_size,
        "padded_vocab_size": tok.padded_vocab_size(),
        "eos_id": tok.eos_id,
        "fingerprint": tok.fingerprint(),
    }
    meta = args.path / "phi_lab_tokenizer.json" if args.path.is_dir() else None
    if meta is not None and meta.exists():
        info["trained_on"] = json.loads(meta.read_text())
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0
