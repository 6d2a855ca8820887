"""`phi-lab tokenizer`: train a codegen-layout BPE on corpora, encode text, inspect a tokenizer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from phi_lab.cli.common import add_verbs, fail


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=help)
    verbs = add_verbs(parser, "verb")

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
    t.set_defaults(func=run_tokenizer_train)

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
    e.set_defaults(func=run_tokenizer_encode)

    i = verbs.add_parser(
        "info",
        help="vocabulary size, special ids, fingerprint",
        description="Describe a tokenizer directory.",
    )
    i.add_argument("path", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_tokenizer_info)


def run_tokenizer_train(args: argparse.Namespace) -> int:
    from phi_lab.data.pack_sources import train_tokenizer

    meta = train_tokenizer(
        args.source,
        args.vocab_size,
        args.out,
        text_field=args.text_field,
        max_bytes=args.max_bytes,
        min_frequency=args.min_frequency,
        seed=args.seed,
    )
    print(
        f"{args.out}: {meta['trained_vocab_size']:,} tokens (eos {meta['eos_id']}) trained on "
        f"{meta['documents']:,} documents, {meta['bytes']:,} bytes; {meta['n_skipped']} inputs skipped"
    )
    return 0


def run_tokenizer_encode(args: argparse.Namespace) -> int:
    from phi_lab.data.pack_sources import load_tokenizer

    tok = load_tokenizer(args.tokenizer, args.vocab_size)
    if args.text is not None:
        text = args.text
    elif args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            fail(f"{args.file}: not UTF-8 text ({e.reason} at byte {e.start})")
    else:
        text = sys.stdin.read()
    ids = tok.encode(text)
    if args.pieces:
        for i in ids:
            print(f"{i}\t{tok.decode([i])!r}")
    else:
        print(" ".join(map(str, ids)))
    print(f"{len(ids)} tokens, {len(text)} characters", file=sys.stderr)
    return 0


def run_tokenizer_info(args: argparse.Namespace) -> int:
    from phi_lab.data.pack_sources import tokenizer_info

    info = tokenizer_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0
