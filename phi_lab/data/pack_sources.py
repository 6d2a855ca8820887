"""Source specs -> a packed directory, and a tokenizer trained on sources: what `phi-lab data pack`,
`phi-lab tokenizer train` and the training notebook call.

`pack_sources` reads the sources (`'offline'`, directories, .py/.jsonl/.parquet files, saved
datasets), tokenizes them with a given or the cached default tokenizer, and packs them (resumable:
the same call again continues a killed pack). `pack_summary` is the human-readable account of a
manifest; `inspect_pack` reads (and optionally verifies) one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from phi_lab.data.documents import SkipLog
from phi_lab.model.tokenizer import PhiTokenizer


def load_tokenizer(path: str | Path | None = None, vocab_size: int | str = 4096, progress: bool = False):
    """The tokenizer at `path`, else the cached default one of `vocab_size` (a number or a preset name)."""
    if path is not None:
        return PhiTokenizer.from_pretrained(path)
    from phi_lab.data.defaults import default_tokenizer

    size: int | str = int(vocab_size) if str(vocab_size).isdigit() else str(vocab_size)
    return default_tokenizer(size, progress=progress)


def pack_sources(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    tokenizer: str | Path | PhiTokenizer | None = None,
    vocab_size: int | str = 4096,
    val_fraction: float = 0.01,
    workers: int = 1,
    text_field: str = "text",
    max_documents: int | None = None,
    max_bytes: int | None = None,
    seed: int = 0,
    shard_tokens: int = 1 << 26,
    dedup: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Pack `sources` into `out`; returns the manifest. `max_documents`/`max_bytes` bound the offline corpus."""
    from phi_lab.data.pack import PackConfig, pack
    from phi_lab.data.sources import read_sources

    if isinstance(tokenizer, PhiTokenizer):
        tok = tokenizer
    else:
        if tokenizer is None:
            print(
                f"using the default tokenizer (vocab {vocab_size}); training it on first use ...",
                file=sys.stderr,
            )
        tok = load_tokenizer(tokenizer, vocab_size, progress=progress)
    offline_opts = {"max_documents": max_documents, "max_bytes": max_bytes, "seed": seed}
    extra: dict[str, Any] = {"text_field": text_field}
    specs = [str(s) if str(s) == "offline" else str(Path(s).resolve()) for s in sources]
    if "offline" in specs:
        extra.update(offline_opts)
    config = PackConfig(
        sources=specs,
        val_fraction=val_fraction,
        split_seed=seed,
        shard_tokens=shard_tokens,
        dedup=dedup,
        extra=extra,
    )
    skips = SkipLog()
    docs = read_sources(specs, text_field, skips, **offline_opts)
    return pack(
        docs,
        tok,
        out,
        config,
        skips=skips,
        workers=workers,
        overwrite=overwrite,
        progress=progress,
        total=max_documents if specs == ["offline"] else None,
    )


def inspect_pack(directory: str | Path, verify: bool = False) -> dict[str, Any]:
    """The manifest of a packed directory; with `verify`, every shard's sha256 is checked first."""
    from phi_lab.data.packed import PackedDataset, read_manifest

    m = read_manifest(directory)
    if verify:
        for split in m["splits"]:
            PackedDataset(directory, split, verify=True)
    return m


def pack_summary(m: dict[str, Any], directory: str | Path) -> str:
    directory = Path(directory)
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


def train_tokenizer(
    sources: Sequence[str | Path],
    vocab_size: int,
    out: str | Path,
    *,
    text_field: str = "text",
    max_bytes: int | None = None,
    min_frequency: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a codegen-layout BPE on `sources` (up to `max_bytes`), save it to `out` with
    `phi_lab_tokenizer.json` (what it was trained on); returns that record."""
    from phi_lab.data.sources import read_sources

    out = Path(out)
    skips = SkipLog()
    counts = {"documents": 0, "bytes": 0}

    def texts() -> Iterator[str]:
        for doc in read_sources(sources, text_field, skips, max_bytes=max_bytes, seed=seed):
            if max_bytes is not None and counts["bytes"] >= max_bytes:
                return
            counts["documents"] += 1
            counts["bytes"] += len(doc.text.encode("utf-8"))
            yield doc.text

    tok = PhiTokenizer.train(
        texts(), vocab_size=vocab_size, min_frequency=min_frequency, show_progress=progress
    )
    if counts["documents"] == 0:
        raise ValueError(f"no usable documents in {' '.join(map(str, sources))} ({len(skips)} skipped)")
    tok.save(out)
    meta = {
        "sources": [str(s) for s in sources],
        "vocab_size": vocab_size,
        "min_frequency": min_frequency,
        **counts,
        "fingerprint": tok.fingerprint(),
        "skipped": skips.counts(),
    }
    from phi_lab.io import atomic_write_json

    atomic_write_json(out / "phi_lab_tokenizer.json", meta, indent=2)
    if len(skips):
        skips.write(out / "skipped.jsonl")
    return {**meta, "eos_id": tok.eos_id, "trained_vocab_size": tok.vocab_size, "n_skipped": len(skips)}


def tokenizer_info(path: str | Path) -> dict[str, Any]:
    """Name, sizes, special ids and fingerprint of a tokenizer (and what it was trained on, if known)."""
    path = Path(path)
    tok = PhiTokenizer.from_pretrained(path)
    info: dict[str, Any] = {
        "name": tok.name,
        "vocab_size": tok.vocab_size,
        "padded_vocab_size": tok.padded_vocab_size(),
        "eos_id": tok.eos_id,
        "fingerprint": tok.fingerprint(),
    }
    meta = path / "phi_lab_tokenizer.json" if path.is_dir() else None
    if meta is not None and meta.exists():
        info["trained_on"] = json.loads(meta.read_text())
    return info
