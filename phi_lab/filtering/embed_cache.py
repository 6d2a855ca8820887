"""Embeddings of labelled files kept next to the classifier, so refitting never re-embeds.

Embedding is the slow part of `fit` on CPU; trying other forest settings or thresholds on the
same labels should take seconds. Rows are keyed by (embedder name, content sha256); a cache
written by another embedder is ignored, and files not in it are embedded and added.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phi_lab.io import atomic_write
from phi_lab.model.embeddings import Embedder


def embed_with_cache(
    embedder: Embedder, texts: Sequence[str], keys: Sequence[str], path: str | Path, progress: bool = True
) -> np.ndarray:
    path = Path(path)
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["embedder"]) == embedder.name:
                cached = dict(zip(z["keys"].tolist(), z["X"]))
    missing = sorted({k: None for k, t in zip(keys, texts) if k not in cached})
    if missing:
        text_of = dict(zip(keys, texts))
        fresh = embedder.embed([text_of[k] for k in missing], progress=progress)
        cached.update(zip(missing, fresh))
        all_keys = sorted(cached)
        arrays = {
            "embedder": np.array(embedder.name),
            "keys": np.array(all_keys),
            "X": np.stack([cached[k] for k in all_keys]).astype(np.float32),
        }
        # np.savez adds ".npz" to a name without it, so the temporary name keeps the suffix
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    return np.stack([cached[k] for k in keys]).astype(np.float32)
