"""`phi-lab data`: pack corpora into token shards and inspect packed directories."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    parser = sub.add_parser(name, help=help, description=help)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

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
    p.set_defaults(func=run_pack)

    i = verbs.add_parser(
        "info", help="summarize a packed directory", description="Summarize a packed directory."
    )
    i.add_argument("dir", type=Path)
    i.add_argument("--verify", action="store_true", help="check every shard's sha256")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")
    i.set_defaults(func=run_info)


def _fail(msg: str) -> int:
    print(f"phi-lab data: error: {msg}", file=sys.stderr)
    return 2


def _tokenizer(args: argparse.Namespace):
    from phi_lab.data.defaults import default_tokenizer
    from phi_lab.model.tokenizer import PhiTokenizer

    if args.tokenizer is not None:
        return PhiTokenizer.from_pretrained(args.tokenizer)
    size = int(args.vocab_size) if str(args.vocab_size).isdigit() else args.vocab_size
    print(f"using the default tokenizer (vocab {size}); training it on first use ...", file=sys.stderr)
    return default_tokenizer(size, progress=not args.quiet)


def run_pack(args: argparse.Namespace) -> int:
    from phi_lab.data.documents import SkipLog
    from phi_lab.data.pack import PackConfig, pack
    from phi_lab.data.sources import read_sources

    try:
        tok = _tokenizer(args)
        offline_opts = {"max_documents": args.max_documents, "max_bytes": args.max_bytes, "seed": args.seed}
        extra = {"text_field": args.text_field}
        if "offline" in args.source:
            extra.update(offline_opts)
        sources = [s if s == "offline" else str(Path(s).resolve()) for s in args.source]
        config = PackConfig(
            sources=sources,
            val_fraction=args.val_fraction,
            split_seed=args.seed,
            shard_tokens=args.shard_tokens,
            dedup=not args.no_dedup,
            extra=extra,
        )
        skips = SkipLog()
        docs = read_sources(sources, args.text_field, skips, **offline_opts)
        total = args.max_documents if sources == ["offline"] else None
        m = pack(
            docs,
            tok,
            args.out,
            config,
            skips=skips,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.quiet,
            total=total,
        )
    except (FileNotFoundError, FileExistsError, ValueError, ImportError, KeyError) as e:
        return _fail(str(e))
    print(_summary(m, args.out))
    return 0


def _summary(m: dict, directory: Path) -> str:
    lines = [
        f"{directory}: {m['status']}, {m['documents']:,} documents, {m['tokens']:,} tokens ({m['dtype']})",
        f"  tokenizer {m['tokenizer']['name']} vocab {m['tokenizer']['vocab_size']:,} "
        f"eos {m['tokenizer']['eos_id']} sha256 {m['tokenizer']['fingerprint'][:16]}",
    ]
    for name, s in m["splits"].items():
        lines.append(
            f"  {name:5s} {s['documents']:>9,} documents {s['tokens']:>13,} tokens {len(s['shards']):>4} shards"
        )
    for src, s in m.get("source_stats", {}).items():
        lines.append(
            f"  source {src}: {s['documents']:,} documents, {s['bytes']:,} bytes, {s['tokens']:,} tokens"
        )
    if "skipped" in m:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(m["skipped"]["by_reason"].items())) or "none"
        lines.append(
            f"  skipped {m['skipped']['count']:,} ({reasons}); see {directory / m['skipped']['file']}"
        )
    return "\n".join(lines)


def run_info(args: argparse.Namespace) -> int:
    from phi_lab.data.packed import PackedDataset, read_manifest

    try:
        m = read_manifest(args.dir)
        if args.verify:
            for split in m["splits"]:
                PackedDataset(args.dir, split, verify=True)
    except (FileNotFoundError, ValueError, KeyError) as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps(m, indent=2))
    else:
        print(_summary(m, args.dir))
        if args.verify:
            print("  all shards match their sha256")
    return 0
