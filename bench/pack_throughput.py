"""Tokens/s of packing the offline default corpus (or a bounded part of it) on this machine.

    .venv/bin/python bench/pack_throughput.py --max-bytes 32000000 --vocab-size 4096 --workers 1 2

For every worker count it runs the real `pack()` (reading, dedup, split, tokenization, shard and
manifest writes) into a temporary directory and prints tokens/s and MB/s; the corpus is read once
beforehand so the file system's cache is warm for every run. The default tokenizer is built first
(and cached) if it is not yet; its training time is reported separately and not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-bytes", type=int, default=32_000_000, help="corpus bound in UTF-8 bytes (0 = all)")
    ap.add_argument("--vocab-size", default="4096", help="default tokenizer size or preset [4096]")
    ap.add_argument("--tokenizer", type=Path, default=None, help="use this tokenizer instead of the default")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare [1 2]")
    ap.add_argument("--batch-docs", type=int, default=256)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    from phi_lab.data.defaults import default_tokenizer
    from phi_lab.data.documents import SkipLog
    from phi_lab.data.offline import offline_python_corpus
    from phi_lab.data.pack import PackConfig, pack
    from phi_lab.model.tokenizer import PhiTokenizer

    t0 = time.perf_counter()
    if args.tokenizer:
        tok = PhiTokenizer.from_pretrained(args.tokenizer)
    else:
        size = int(args.vocab_size) if str(args.vocab_size).isdigit() else args.vocab_size
        tok = default_tokenizer(size, progress=True)
    tok_s = time.perf_counter() - t0
    max_bytes = args.max_bytes or None

    t0 = time.perf_counter()
    docs = list(offline_python_corpus(max_bytes=max_bytes, skips=SkipLog()))
    read_s = time.perf_counter() - t0
    n_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    print(
        f"corpus: {len(docs):,} documents, {n_bytes / 1e6:.1f} MB read in {read_s:.1f} s; "
        f"tokenizer {tok.name} (vocab {tok.vocab_size:,}) ready in {tok_s:.1f} s",
        flush=True,
    )

    results = []
    for workers in args.workers:
        out = Path(tempfile.mkdtemp(prefix="pack-bench-"))
        try:
            t0 = time.perf_counter()
            # the documents are re-read from disk, as a real pack does (warm page cache)
            m = pack(
                offline_python_corpus(max_bytes=max_bytes),
                tok,
                out / "p",
                PackConfig(val_fraction=0.01),
                workers=workers,
                batch_docs=args.batch_docs,
                progress=False,
            )
            dt = time.perf_counter() - t0
        finally:
            shutil.rmtree(out, ignore_errors=True)
        r = {
            "workers": workers,
            "documents": m["documents"],
            "tokens": m["tokens"],
            "bytes": n_bytes,
            "seconds": round(dt, 2),
            "tokens_per_s": round(m["tokens"] / dt),
            "mb_per_s": round(n_bytes / dt / 1e6, 2),
        }
        results.append(r)
        print(
            f"workers={workers}: {m['tokens']:,} tokens in {dt:.1f} s -> {r['tokens_per_s']:,} tokens/s "
            f"({r['mb_per_s']} MB/s of source)",
            flush=True,
        )
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "loadavg": os.getloadavg(),
        },
        "tokenizer": {"name": tok.name, "vocab_size": tok.vocab_size},
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
