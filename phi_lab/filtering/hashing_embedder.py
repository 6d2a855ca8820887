"""A model-free embedder: hashed counts of code tokens and token bigrams (the "hashing trick").

It needs no weights and no torch, embeds each text on its own (a row never depends on what else is in
the batch, so any split of a corpus into tasks gives bit-identical vectors), and runs at thousands of
files per second on one core. That makes it the embedder for checking the distributed machinery
itself, and a cheap baseline for the §2.1 classifier next to MiniLM or a causal LM's hidden states.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[^\sA-Za-z0-9_]")


class HashingEmbedder:
    """`dim`-dimensional unit vectors of log-scaled, signed, hashed unigram + bigram counts."""

    def __init__(self, dim: int = 256, seed: int = 0) -> None:
        if dim < 8:
            raise ValueError(f"dim must be >= 8, got {dim}")
        self.dim = dim
        self.seed = seed
        self.name = f"hashing:d{dim}:s{seed}"

    def _row(self, text: str) -> np.ndarray:
        tokens = TOKEN.findall(text)
        grams = tokens + [f"{a} {b}" for a, b in pairwise(tokens)]
        row = np.zeros(self.dim, dtype=np.float64)
        salt = str(self.seed).encode()
        for g in grams:
            h = zlib.crc32(g.encode("utf-8", "surrogatepass"), zlib.crc32(salt))
            row[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        row = np.sign(row) * np.log1p(np.abs(row))  # long files must not be all about their length
        norm = np.linalg.norm(row)
        return row / norm if norm > 0 else row

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._row(t) for t in texts]).astype(np.float32)


def parse_hashing_spec(spec: str) -> HashingEmbedder | None:
    """'hashing', 'hashing:512' or a name such as 'hashing:d512:s0' -> the embedder; anything else -> None."""
    m = re.fullmatch(r"hashing(?::d?(\d+))?(?::s(\d+))?", spec.strip().lower())
    if not m:
        return None
    return HashingEmbedder(int(m.group(1) or 256), int(m.group(2) or 0))
