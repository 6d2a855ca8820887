"""`phi-lab data`: pack corpora into token shards and inspect packed directories."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phi_lab.cli.common import add_verbs


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=help)
    verbs = add_verbs(parser, "verb")

    p = verbs.add_parser(
        "pack",
        help="tokenize corpora into memory-mapped shards with a manifest (resumable)",
        description="Tokenize documents, join them with <|endoftext|>, and write uint16/uint32 token shards, "
        "a manifest.json and a held-out split. Run the same command again to resume a killed pack.",
    )
    p.add_argument(
        "--source",
        nargs="+",
        default=["offline"],
        metavar="PATH",
        help="'offline' (this interpreter's Python source, the default), a directory of .py files, "
        "a .py/.jsonl/.parquet file, or a datasets save_to_disk directory",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument(
        "--tokenizer",
        type=Path,
        default=None,
        help="tokenizer directory or tokenizer.json (default: the cached default tokenizer)",
    )
    p.add_argument(
        "--vocab-size",
        default="4096",
        help="vocab size or preset (cpu-2k, cpu-4k, codegen) of the default tokenizer [4096]",
    )
    p.add_argument("--val-fraction", type=float, default=0.01, help="held-out fraction of documents [0.01]")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="tokenizer processes; 1 uses tokenizers' own threads over all cores [1]",
    )
    p.add_argument(
        "--text-field", default="text", help="text field/column of JSONL, Parquet and datasets [text]"
    )
    p.add_argument("--max-documents", type=int, default=None, help="bound the offline corpus (documents)")
    p.add_argument("--max-bytes", type=int, default=None, help="bound the offline corpus (UTF-8 bytes)")
    p.add_argument("--seed", type=int, default=0, help="offline corpus order and split seed [0]")
    p.add_argument("--shard-tokens", type=int, default=1 << 26, help="tokens per shard, at least [67108864]")
    p.add_argument("--no-dedup", action="store_true", help="keep documents whose content repeats")
    p.add_argument("--overwrite", action="store_true", help="replace a pack with other settings in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_data_pack)

    i = verbs.add_parser(
        "info", help="summarize a packed directory", description="Summarize a packed directory."
    )
    i.add_argument("dir", type=Path)
    i.add_argument("--verify", action="store_true", help="check every shard's sha256")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")
    i.set_defaults(func=run_data_info)


def run_data_pack(args: argparse.Namespace) -> int:
    from phi_lab.data.pack_sources import pack_sources, pack_summary

    manifest = pack_sources(
        args.source,
        args.out,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        val_fraction=args.val_fraction,
        workers=args.workers,
        text_field=args.text_field,
        max_documents=args.max_documents,
        max_bytes=args.max_bytes,
        seed=args.seed,
        shard_tokens=args.shard_tokens,
        dedup=not args.no_dedup,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(pack_summary(manifest, args.out))
    return 0


def run_data_info(args: argparse.Namespace) -> int:
    from phi_lab.data.pack_sources import inspect_pack, pack_summary

    manifest = inspect_pack(args.dir, verify=args.verify)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print(pack_summary(manifest, args.dir))
        if args.verify:
            print("  all shards match their sha256")
    return 0
