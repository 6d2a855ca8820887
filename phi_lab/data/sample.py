"""A seeded uniform sample of a whole corpus, in one pass and mergeable across tasks (§2.1's annotation set).

phi-1 annotated a sample of The Stack; the first N files in file order are one repository's or one
shard's files, not a sample. Each document gets a pseudo-random priority from a hash of (seed,
source, path); the k smallest priorities are a uniform random sample without replacement (reservoir
sampling in its "bottom-k" form). Because a priority depends on the document alone, each task keeps
its own k smallest and the k smallest of their union are exactly the sample one pass would give:
the same for 1 task or 100, for any shard order.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from itertools import count
from typing import Generic, TypeVar

from phi_lab.data.documents import Document

METHOD = "bottom-k priority sample (reservoir sampling, mergeable across tasks): the k smallest sha256(seed, source, path)"
T = TypeVar("T")


def sample_priority(seed: int, source: str, path: str) -> int:
    """A uniform 64-bit priority of one document, fixed by the seed and the document's identity."""
    digest = hashlib.sha256(f"{seed}\0{source}\0{path}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


class BottomK(Generic[T]):
    """The k items of smallest priority offered so far; memory O(k) whatever the stream length."""

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError(f"sample size must be >= 1, got {k}")
        self.k = k
        self.seen = 0
        self._heap: list[tuple[int, int, T]] = []  # (-priority, tie, item): the root is the largest kept
        self._tie = count()

    def offer(self, priority: int, item: T) -> None:
        self.seen += 1
        entry = (-priority, next(self._tie), item)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
        elif priority < -self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list[tuple[int, T]]:
        """(priority, item) pairs, smallest priority first."""
        return sorted(((-p, item) for p, _, item in self._heap), key=lambda pi: pi[0])


def merge_bottom_k(parts: Iterable[Iterable[tuple[int, T]]], k: int) -> list[tuple[int, T]]:
    """The k smallest of several tasks' bottom-k lists: the sample of the whole corpus."""
    return heapq.nsmallest(k, (pi for part in parts for pi in part), key=lambda pi: pi[0])


def sample_documents(docs: Iterable[Document], k: int, seed: int = 0) -> tuple[list[Document], int]:
    """A uniform sample of k documents (all of them if fewer), smallest priority first; and the corpus size."""
    bk: BottomK[Document] = BottomK(k)
    for doc in docs:
        bk.offer(sample_priority(seed, doc.source, doc.path), doc)
    return [d for _, d in bk.items()], bk.seen
