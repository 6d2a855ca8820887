"""Cached defaults built from the offline corpus: the default tokenizer and default packed corpora.

Both are keyed by every parameter that changes their bytes (plus the Python and `tokenizers`
versions, which decide the corpus and the BPE), built once under `paths.cache_dir()` with a file
lock (several ranks may ask at once) and an atomic rename, and then loaded instantly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tokenizers

from phi_lab import paths
from phi_lab.data.documents import SkipLog, content_hash
from phi_lab.data.offline import offline_python_corpus
from phi_lab.model.tokenizer import CODEGEN_BPE_SIZE, PhiTokenizer

# vocab sizes (end-of-text included, whitespace tokens added on top)
# for the CPU presets and the paper-sized stand-in: all trained on this interpreter's stdlib (+ site-packages).
# "codegen" is not among them: it is the published codegen-350M-mono tokenizer (phi_lab.model.codegen).
TOKENIZER_PRESETS: dict[str, int] = {"cpu-2k": 2048, "cpu-4k": 4096, "stdlib-bpe-50k": CODEGEN_BPE_SIZE}


def default_train_bytes(vocab_size: int) -> int:
    """Training text for the BPE: enough that merges reflect Python, small enough for 2 cores."""
    return 8_000_000 if vocab_size <= 8192 else 48_000_000


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _key(params: dict[str, Any]) -> str:
    full = {**params, "python": sys.version.split()[0], "tokenizers": tokenizers.__version__, "v": 1}
    return hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:16]


def default_tokenizer(
    vocab_size: int | str = 4096,
    train_bytes: int | None = None,
    seed: int = 0,
    min_frequency: int = 2,
    include_site_packages: bool = True,
    progress: bool = False,
) -> PhiTokenizer:
    """A byte-level BPE trained on a deterministic subset of the offline corpus, cached on disk.

    `vocab_size` is a number or a preset name ('cpu-2k', 'cpu-4k', 'stdlib-bpe-50k' = 50,257, codegen's
    size); 'codegen' is the published codegen-350M-mono tokenizer instead (`codegen_tokenizer`).
    """
    if vocab_size == "codegen":
        from phi_lab.model.codegen import codegen_tokenizer

        return codegen_tokenizer()
    preset = vocab_size if isinstance(vocab_size, str) else None
    if isinstance(vocab_size, str):
        if vocab_size not in TOKENIZER_PRESETS:
            raise ValueError(
                f"unknown tokenizer preset {vocab_size!r}; choose from {', '.join(TOKENIZER_PRESETS)}"
            )
        vocab_size = TOKENIZER_PRESETS[vocab_size]
    train_bytes = train_bytes or default_train_bytes(vocab_size)
    params = {
        "vocab_size": vocab_size,
        "train_bytes": train_bytes,
        "seed": seed,
        "min_frequency": min_frequency,
        "include_site_packages": include_site_packages,
    }
    root = paths.cache_dir() / "tokenizers"
    target = root / f"bpe-{vocab_size}-{_key(params)}"
    if not (target / "tokenizer.json").exists():
        _build_tokenizer(target, params, progress)
    tok = PhiTokenizer.from_pretrained(target)
    tok.name = preset or f"stdlib-bpe-{vocab_size}"  # the name says it is a stand-in trained here
    return tok


def _build_tokenizer(target: Path, params: dict[str, Any], progress: bool) -> None:
    root = target.parent
    vocab_size, train_bytes, seed = params["vocab_size"], params["train_bytes"], params["seed"]
    min_frequency, include_site_packages = params["min_frequency"], params["include_site_packages"]
    with _locked(root / f"{target.name}.lock"):
        if (target / "tokenizer.json").exists():  # another process built it while we waited
            return
        skips = SkipLog()
        hashes = hashlib.sha256()
        n_docs = 0

        def texts() -> Iterator[str]:
            nonlocal n_docs
            for doc in offline_python_corpus(
                max_bytes=train_bytes, seed=seed, include_site_packages=include_site_packages, skips=skips
            ):
                hashes.update(content_hash(doc.text).encode())
                n_docs += 1
                yield doc.text

        tok = PhiTokenizer.train(
            texts(), vocab_size=vocab_size, min_frequency=min_frequency, show_progress=progress
        )
        tmp = root / f"{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save(tmp)
        meta = {
            **params,
            "documents": n_docs,
            "corpus_sha256": hashes.hexdigest(),
            "fingerprint": tok.fingerprint(),
            "python": sys.version.split()[0],
            "tokenizers": tokenizers.__version__,
            "skipped": skips.counts(),
        }
        (tmp / "phi_lab_tokenizer.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, target)


def default_packed_corpus(
    vocab_size: int | str = 4096,
    max_documents: int | None = None,
    max_bytes: int | None = 16_000_000,
    val_fraction: float = 0.01,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    tokenizer: PhiTokenizer | None = None,
    include_site_packages: bool = True,
) -> Path:
    """The offline corpus (bounded) packed with `default_tokenizer(vocab_size)`; cached, returns its dir.

    A killed build resumes on the next call. `tokenizer` overrides the default one (then
    `vocab_size` is ignored); the cache key includes its fingerprint either way.
    """
    from phi_lab.data.pack import PackConfig, pack

    tok = tokenizer or default_tokenizer(vocab_size, seed=seed)
    extra = {
        "max_documents": max_documents,
        "max_bytes": max_bytes,
        "seed": seed,
        "include_site_packages": include_site_packages,
    }
    config = PackConfig(sources=["offline"], val_fraction=val_fraction, extra=extra)
    key = _key({"tokenizer": tok.fingerprint(), "val_fraction": val_fraction, **extra})
    root = paths.cache_dir() / "packed"
    target = root / f"offline-{key}"
    with _locked(root / f"{target.name}.lock"):
        # pack() returns at once when the directory is complete and resumes it when it is not.
        skips = SkipLog()
        docs = offline_python_corpus(
            max_documents=max_documents,
            max_bytes=max_bytes,
            seed=seed,
            include_site_packages=include_site_packages,
            skips=skips,
        )
        pack(docs, tok, target, config, skips=skips, workers=workers, progress=progress, total=max_documents)
    return target
