"""Packing: documents -> `<|endoftext|>`-joined token ids in memory-mapped shards + manifest.json.

Layout of a packed directory::

    manifest.json              sources, counts, input hashes, tokenizer fingerprint, dtype, shards
    tokenizer/                 the tokenizer used (so the directory decodes on its own)
    train-00000.bin            raw uint16 (vocab <= 65536) or uint32 token ids, no header
    train-00000.docs.jsonl     one row per document: stream index, source, path, sha256, offset, tokens
    val-00000.bin ...          the held-out split (chosen per document by content hash)
    skipped.jsonl              every input left out, with its reason

Every document is followed by `<|endoftext|>`. Shards end on document boundaries. Writes are atomic
(temporary file, fsync, rename) and the manifest is rewritten after every shard with, per split, how
far into the document stream that split is safely on disk. A killed pack run again with the same
inputs skips what is already written (checking that the inputs did not change) and continues; files
a killed run left behind that the manifest does not list are deleted, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from phi_lab.data.documents import Document, SkipLog, content_hash
from phi_lab.data.packed import MANIFEST, read_manifest
from phi_lab.io import atomic_write_bytes, atomic_write_json
from phi_lab.model.tokenizer import PhiTokenizer

FORMAT = "phi-lab-packed"
VERSION = 1
SPLITS = ("train", "val")


@dataclass
class PackConfig:
    """Everything that decides the bytes of a packed directory (compared when resuming)."""

    sources: list[str] = field(default_factory=lambda: ["offline"])
    val_fraction: float = 0.01
    split_seed: int = 0
    shard_tokens: int = 1 << 26  # 128 MiB per uint16 shard
    dedup: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # reader options (text field, corpus bounds)

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.shard_tokens < 1:
            raise ValueError(f"shard_tokens must be positive, got {self.shard_tokens}")
        self.sources = [str(s) for s in self.sources]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def split_of(doc_sha256: str, val_fraction: float, seed: int = 0) -> str:
    """Held-out membership from the content hash: deterministic, order-independent, stable."""
    if val_fraction <= 0:
        return "train"
    h = hashlib.sha256(f"{seed}:{doc_sha256}".encode()).digest()
    return "val" if int.from_bytes(h[:8], "big") < val_fraction * 2**64 else "train"


# ---------------------------------------------------------------- tokenization workers
_WORKER_TOK: PhiTokenizer | None = None


def _init_worker(tokenizer_json: str) -> None:
    # Each worker is one process tokenizing one batch at a time; Rust threads would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer

    global _WORKER_TOK
    _WORKER_TOK = PhiTokenizer(Tokenizer.from_str(tokenizer_json))


def _encode_job(job: tuple[list[Any], list[str], str]) -> tuple[list[Any], list[np.ndarray]]:
    metas, texts, dtype = job
    assert _WORKER_TOK is not None
    return metas, _to_arrays(_WORKER_TOK.encode_batch(texts), _WORKER_TOK.eos_id, dtype)


def _to_arrays(batch_ids: list[list[int]], eos_id: int, dtype: str) -> list[np.ndarray]:
    out = []
    for ids in batch_ids:
        arr = np.empty(len(ids) + 1, dtype=dtype)
        arr[:-1] = ids
        arr[-1] = eos_id
        out.append(arr)
    return out


# ---------------------------------------------------------------- shard writing
@dataclass
class _SplitState:
    name: str
    shards: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0  # stream documents [0, cursor) of this split are in written shards
    stream_sha: str = hashlib.sha256().hexdigest()  # hash chain of the stream up to `cursor`
    buf: list[np.ndarray] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    buffered: int = 0


class Packer:
    """One pack run into `out_dir`; see the module docstring for the layout and guarantees."""

    def __init__(
        self,
        out_dir: str | Path,
        tokenizer: PhiTokenizer,
        config: PackConfig,
        workers: int = 1,
        batch_docs: int = 256,
        overwrite: bool = False,
        progress: bool = True,
    ) -> None:
        self.out = Path(out_dir)
        self.tok = tokenizer
        self.config = config
        self.workers = max(1, workers)
        self.batch_docs = batch_docs
        self.progress = progress
        self.dtype = token_dtype(tokenizer.vocab_size)
        self.key = {"config": asdict(config), "tokenizer": tokenizer.fingerprint(), "dtype": self.dtype.name}
        self.splits = {s: _SplitState(s) for s in SPLITS}
        self.finished = False
        self._open(overwrite)

    # ---------------------------------------------------------------- setup / resume
    def _open(self, overwrite: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        manifest_path = self.out / MANIFEST
        if manifest_path.exists():
            old = read_manifest(self.out)
            if old.get("key") != self.key:
                if not overwrite:
                    raise FileExistsError(
                        f"{self.out} holds a pack with other inputs or settings; choose a new --out "
                        "or pass --overwrite to replace it"
                    )
                old = None
            elif old.get("status") == "complete":
                self.finished = True
                self.manifest = old
                return
        else:
            old = None
        listed: set[str] = {MANIFEST, "skipped.jsonl"}
        if old is not None:
            for name, st in old["resume"].items():
                s = self.splits[name]
                s.cursor, s.stream_sha = int(st["cursor"]), st["stream_sha256"]
                s.shards = list(old["splits"][name]["shards"])
                for sh in s.shards:
                    listed.update((sh["file"], sh["index"]))
                    size = (self.out / sh["file"]).stat().st_size
                    if size != sh["tokens"] * self.dtype.itemsize:
                        raise ValueError(
                            f"{self.out / sh['file']}: size does not match the manifest; "
                            "pass --overwrite to redo the pack"
                        )
        # Anything else a killed run left (temporary files, shards written after the last manifest
        # update) is redone rather than trusted.
        for p in self.out.iterdir():
            if (
                p.is_file()
                and p.name not in listed
                and (p.suffix in (".bin", ".tmp") or p.name.endswith(".docs.jsonl"))
            ):
                p.unlink()
        self.tok.save(self.out / "tokenizer")
        self._write_manifest(status="in_progress")

    @property
    def resumed_from(self) -> int:
        return min(s.cursor for s in self.splits.values())

    # ---------------------------------------------------------------- main loop
    def run(
        self, documents: Iterable[Document], skips: SkipLog | None = None, total: int | None = None
    ) -> dict:
        if self.finished:
            return self.manifest
        skips = skips if skips is not None else SkipLog()
        started = time.time()
        seen: dict[str, str] = {}
        chain = {s: hashlib.sha256().hexdigest() for s in SPLITS}  # stream hash per split, running
        bar = tqdm(total=total, desc=f"pack {self.out.name}", unit="doc", disable=not self.progress)
        n_tokens = 0

        verified: set[str] = set()

        def check(split: str, where: str) -> None:
            # The part of the stream an earlier run already packed must hash the same now.
            if chain[split] != self.splits[split].stream_sha:
                raise ValueError(
                    f"{self.out}: the inputs differ from those of the interrupted pack (noticed at {where}); "
                    "pass --overwrite to start over"
                )
            verified.add(split)

        def jobs() -> Iterator[tuple[list[Any], list[str], str]]:
            metas: list[Any] = []
            texts: list[str] = []
            for i, doc in enumerate(documents):
                h = content_hash(doc.text)
                if self.config.dedup:
                    if h in seen:
                        skips.add(doc.path, f"duplicate: same content as {seen[h]}", doc.source)
                        continue
                    seen[h] = doc.path
                split = split_of(h, self.config.val_fraction, self.config.split_seed)
                st = self.splits[split]
                if i >= st.cursor and split not in verified:
                    check(split, doc.path)
                chain[split] = hashlib.sha256(f"{chain[split]}{h}".encode()).hexdigest()
                if i < st.cursor:  # already on disk from an earlier run
                    bar.update(1)
                    continue
                row = {
                    "i": i,
                    "source": doc.source,
                    "path": doc.path,
                    "sha256": h,
                    "bytes": len(doc.text.encode("utf-8")),
                    "chain": chain[split],
                    "meta": doc.meta,
                }
                metas.append((split, row))
                texts.append(doc.text)
                if len(texts) >= self.batch_docs:
                    yield metas, texts, self.dtype.name
                    metas, texts = [], []
            if texts:
                yield metas, texts, self.dtype.name
            for split in SPLITS:
                if split not in verified:
                    check(split, "the end of the inputs")

        if self.workers > 1:
            ctx = mp.get_context("spawn")  # fork after tokenizers' threads ran can deadlock
            pool = ctx.Pool(self.workers, initializer=_init_worker, initargs=(self.tok.backend.to_str(),))
            results: Iterator = pool.imap(_encode_job, jobs(), chunksize=1)
        else:
            pool = None
            results = ((m, _to_arrays(self.tok.encode_batch(t), self.tok.eos_id, d)) for m, t, d in jobs())
        try:
            for metas, arrays in results:
                for (split, row), arr in zip(metas, arrays):
                    self._append(split, row, arr)
                    n_tokens += len(arr)
                bar.update(len(metas))
                bar.set_postfix(
                    tokens=f"{n_tokens:,}", tok_s=f"{n_tokens / max(time.time() - started, 1e-9):,.0f}"
                )
        finally:
            if pool is not None:
                pool.terminate()
            bar.close()
        for st in self.splits.values():
            if st.buf:
                self._flush(st)
        skips.write(self.out / "skipped.jsonl")
        if not any(st.shards for st in self.splits.values()):
            raise ValueError(
                f"no usable documents in {', '.join(self.config.sources)} ({len(skips)} inputs skipped; "
                f"reasons in {self.out / 'skipped.jsonl'})"
            )
        self.manifest = self._write_manifest(status="complete", skips=skips)
        self.finished = True
        return self.manifest

    def _append(self, split: str, row: dict[str, Any], arr: np.ndarray) -> None:
        st = self.splits[split]
        row = {**row, "offset": st.buffered, "tokens": len(arr)}
        st.buf.append(arr)
        st.rows.append(row)
        st.buffered += len(arr)
        if st.buffered >= self.config.shard_tokens:
            self._flush(st)

    def _flush(self, st: _SplitState) -> None:
        k = len(st.shards)
        name = f"{st.name}-{k:05d}"
        tokens = np.concatenate(st.buf)
        data = tokens.tobytes()
        index = "".join(
            json.dumps({key: v for key, v in r.items() if key != "chain"}) + "\n" for r in st.rows
        ).encode("utf-8")
        atomic_write_bytes(self.out / f"{name}.docs.jsonl", index)
        atomic_write_bytes(self.out / f"{name}.bin", data)
        per_source: dict[str, dict[str, int]] = {}
        for r in st.rows:
            ps = per_source.setdefault(r["source"], {"documents": 0, "tokens": 0, "bytes": 0})
            ps["documents"] += 1
            ps["tokens"] += r["tokens"]
            ps["bytes"] += r["bytes"]
        st.shards.append(
            {
                "file": f"{name}.bin",
                "index": f"{name}.docs.jsonl",
                "tokens": len(tokens),
                "documents": len(st.rows),
                "sha256": hashlib.sha256(data).hexdigest(),
                "sources": per_source,
            }
        )
        st.cursor = st.rows[-1]["i"] + 1
        st.stream_sha = st.rows[-1]["chain"]
        st.buf, st.rows, st.buffered = [], [], 0
        self._write_manifest(status="in_progress")

    # ---------------------------------------------------------------- manifest
    def _write_manifest(self, status: str, skips: SkipLog | None = None) -> dict[str, Any]:
        splits = {}
        sources: dict[str, dict[str, int]] = {}
        for name, st in self.splits.items():
            splits[name] = {
                "documents": sum(s["documents"] for s in st.shards),
                "tokens": sum(s["tokens"] for s in st.shards),
                "documents_sha256": st.stream_sha,  # hash chain of this split's document hashes, in order
                "shards": st.shards,
            }
            for sh in st.shards:
                for src, c in sh["sources"].items():
                    agg = sources.setdefault(src, {"documents": 0, "tokens": 0, "bytes": 0})
                    for key in agg:
                        agg[key] += c[key]
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "status": status,
            "key": self.key,
            "sources": self.config.sources,
            "source_stats": sources,
            "dtype": self.dtype.name,
            "tokenizer": {
                "name": self.tok.name,
                "fingerprint": self.tok.fingerprint(),
                "vocab_size": self.tok.vocab_size,
                "eos_id": self.tok.eos_id,
                "path": "tokenizer",
            },
            "val_fraction": self.config.val_fraction,
            "documents": sum(s["documents"] for s in splits.values()),
            "tokens": sum(s["tokens"] for s in splits.values()),
            "splits": splits,
            "resume": {
                n: {"cursor": st.cursor, "stream_sha256": st.stream_sha} for n, st in self.splits.items()
            },
        }
        if skips is not None:
            manifest["skipped"] = {"count": len(skips), "by_reason": skips.counts(), "file": "skipped.jsonl"}
        atomic_write_json(self.out / MANIFEST, manifest)
        return manifest


def pack(
    documents: Iterable[Document],
    tokenizer: PhiTokenizer,
    out_dir: str | Path,
    config: PackConfig | None = None,
    skips: SkipLog | None = None,
    workers: int = 1,
    batch_docs: int = 256,
    overwrite: bool = False,
    progress: bool = True,
    total: int | None = None,
) -> dict[str, Any]:
    """Pack `documents` into `out_dir` (resuming an interrupted run there); returns the manifest."""
    packer = Packer(out_dir, tokenizer, config or PackConfig(), workers, batch_docs, overwrite, progress)
    return packer.run(documents, skips, total)
