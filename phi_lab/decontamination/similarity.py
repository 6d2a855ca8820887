"""Exercise x benchmark-problem similarity: embedding distance + AST match rate, cached (phi-1 §5.2).

A pair (exercise, problem) is scored in two stages:

1. **Embedding distance**: L2 distance between the L2-normalized embeddings of the two programs
   (exercise prompt + solution; benchmark prompt + reference solution). All pairs are scored with one
   matrix product per chunk of exercises: ``d = sqrt(2 - 2 cos)``.
2. **AST match rate** (`ast_match`), only for pairs with ``d <= max_embedding_distance``. This is both
   the paper's fixed embedding threshold and what keeps the quadratic AST work small.

Everything is cached under `cache_dir` keyed by content hashes (64-bit blake2b of the program text),
so re-running with other taus, on a superset of exercises, or after a crash only computes what is
missing: embeddings in `emb-<embedder>/part-*.npz`, AST scores in `<AST_DEFINITION_VERSION>/part-*.npz`,
one part written atomically per finished chunk.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phi_lab.decontamination.ast_match import (
    AST_DEFINITION_VERSION,
    METHOD_AST,
    METHOD_TOKENS,
    CodeSequence,
    code_sequence,
    pair_match_rates,
)
from phi_lab.io import atomic_write

DEFAULT_MAX_EMBEDDING_DISTANCE = 1.1
ORDERS = ("embedding-first", "ast-first")
_PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constant: (ex_key * MIX) ^ prob_key as one pair key
_MIN_TASK_PAIRS = 4096  # below this a task runs in-process: spawning a pool costs seconds


def lookup_rows(stored: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Row of each of `keys` in `stored` (`order` sorts `stored`), -1 where a key is missing."""
    if len(stored) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(stored, keys, sorter=order).clip(0, len(stored) - 1)
    rows = order[pos]
    return np.where(stored[rows] == keys, rows, -1)


@dataclass(frozen=True)
class SimilarityConfig:
    """`max_embedding_distance`: pairs farther apart than this are never close (and never AST-matched);
    `math.inf` matches every pair. `workers`: processes for AST matching (0 = all cores).

    The default 1.1 (cosine >= 0.395) is calibrated for MiniLM: copies of all 164 HumanEval problems with
    every identifier renamed (docstring kept) lie within 0.67 of their original, hand-written copies with
    renamed identifiers *and* reworded docstrings at 0.75-0.96; 13% of MBPP x HumanEval pairs are within
    1.1, and at tau=0.8 it flags 5 of 974 MBPP problems (8 with no embedding threshold at all: the AST
    match does most of the work, the embedding threshold guards short look-alike programs).
    Recalibrate for another embedder."""

    max_embedding_distance: float = DEFAULT_MAX_EMBEDDING_DISTANCE
    workers: int = 0
    chunk_size: int = 8192  # texts per embedding chunk (one cache part each)
    ast_chunk_pairs: int = 65536  # pairs per AST task: large batches vectorize better
    embed_batch_size: int = 64
    # "embedding-first" embeds everything and AST-matches pairs within the threshold; "ast-first"
    # AST-matches all pairs and embeds only exercises with a pair at >= the lowest tau (CPU-only runs,
    # where the embedder, not the AST, is the bottleneck). Both give the same close pairs.
    order: str = "embedding-first"

    def __post_init__(self):
        if not self.max_embedding_distance > 0:
            raise ValueError(f"max_embedding_distance must be > 0, got {self.max_embedding_distance}")
        if self.workers < 0 or min(self.chunk_size, self.ast_chunk_pairs, self.embed_batch_size) < 1:
            raise ValueError("workers must be >= 0; chunk_size, ast_chunk_pairs, embed_batch_size >= 1")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")

    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class PairScores:
    """Sparse scores of the candidate pairs (embedding distance within the threshold)."""

    ex_index: np.ndarray  # int64, index into the exercise list
    prob_index: np.ndarray  # int64, index into the problem list
    embedding_distance: np.ndarray  # float32
    ast_match: np.ndarray  # float32
    method: np.ndarray  # uint8: METHOD_AST or METHOD_TOKENS

    def __len__(self) -> int:
        return len(self.ex_index)

    def close(self, tau: float) -> np.ndarray:
        """Mask of pairs whose AST match rate is at least `tau`."""
        return self.ast_match >= np.float32(tau) - np.float32(1e-6)


def content_key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def content_keys(texts: Sequence[str]) -> np.ndarray:
    return np.fromiter((content_key(t) for t in texts), dtype=np.uint64, count=len(texts))


def pair_keys(ex_keys: np.ndarray, prob_keys: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (ex_keys.astype(np.uint64) * _PAIR_MIX) ^ prob_keys.astype(np.uint64)


def save_part(folder: Path, **arrays: np.ndarray) -> Path:
    """A new `part-*.npz` of a cache folder, written atomically (hidden from the glob until complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.glob('part-*.npz'))):06d}-{os.getpid()}.npz"
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


class EmbeddingCache:
    """content key -> embedding, for one embedder, stored as append-only parts."""

    def __init__(self, cache_dir: str | Path, embedder_name: str):
        self.folder = Path(cache_dir) / ("emb-" + re.sub(r"[^\w.-]+", "_", embedder_name))
        keys, vecs = [], []
        for part in sorted(self.folder.glob("part-*.npz")):
            with np.load(part) as z:
                keys.append(z["keys"])
                vecs.append(z["vectors"])
        self.keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        self.vectors = np.concatenate(vecs) if vecs else None
        self._order = np.argsort(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key in `self.vectors`, -1 where missing."""
        return lookup_rows(self.keys, self._order, keys)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        save_part(self.folder, keys=keys, vectors=vectors.astype(np.float32))
        self.keys = np.concatenate([self.keys, keys])
        self.vectors = vectors if self.vectors is None else np.concatenate([self.vectors, vectors])
        self._order = np.argsort(self.keys)


def embed_cached(
    embedder,
    texts: Sequence[str],
    cache_dir: str | Path,
    batch_size: int = 64,
    chunk_size: int = 8192,
    progress: bool = False,
) -> np.ndarray:
    """Embeddings of `texts` (n, dim), computing only those not in the cache, one saved part per chunk."""
    from tqdm.auto import tqdm

    cache = EmbeddingCache(cache_dir, embedder.name)
    keys = content_keys(texts)
    uniq, first = np.unique(keys, return_index=True)
    todo = first[cache.lookup(uniq) < 0]
    bar = tqdm(total=len(todo), desc=f"embed ({embedder.name})", unit="text", disable=not progress)
    for start in range(0, len(todo), chunk_size):
        idx = todo[start : start + chunk_size]
        vecs = np.asarray(embedder.embed([texts[i] for i in idx], batch_size=batch_size), dtype=np.float32)
        if vecs.shape != (len(idx), embedder.dim):
            raise ValueError(
                f"embedder {embedder.name} returned shape {vecs.shape}, want ({len(idx)}, {embedder.dim})"
            )
        cache.add(keys[idx], vecs)
        bar.update(len(idx))
    bar.close()
    return cache.vectors[cache.lookup(keys)]


def embedding_distances(ex_vecs: np.ndarray, prob_vecs: np.ndarray) -> np.ndarray:
    """L2 distance between rows of two L2-normalized embedding matrices, shape (n_ex, n_prob)."""
    cos = ex_vecs @ prob_vecs.T
    return np.sqrt(np.clip(2.0 - 2.0 * cos, 0.0, None)).astype(np.float32)


# --- AST matching in worker processes -------------------------------------------------------------

_PROBLEM_SEQS: list[CodeSequence] = []


def _init_worker(problem_codes: list[str]) -> None:
    global _PROBLEM_SEQS
    _PROBLEM_SEQS = [code_sequence(c) for c in problem_codes]


def match_inputs(
    seqs: list[CodeSequence], local_ex: np.ndarray, prob: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
    """`pair_match_rates`' arguments for pairs (seqs[local_ex[k]], problem prob[k]) (worker side), and
    which pairs compare ASTs: both sides must parse, else both compare lexical tokens."""
    n_prob = len(_PROBLEM_SEQS)
    ex_parsed = np.array([s.parsed for s in seqs], dtype=bool)
    prob_parsed = np.array([s.parsed for s in _PROBLEM_SEQS], dtype=bool)
    use_ast = ex_parsed[local_ex] & prob_parsed[prob]
    # queries 0..n_prob-1: problems' AST sequences; n_prob..2*n_prob-1: their lexical sequences
    queries = [s.ast_ids if s.parsed else s.lex_ids for s in _PROBLEM_SEQS] + [
        s.lex_ids for s in _PROBLEM_SEQS
    ]
    q_idx = np.where(use_ast, prob, prob + n_prob)
    cands = [seqs[e].ast_ids if a else seqs[e].lex_ids for e, a in zip(local_ex.tolist(), use_ast.tolist())]
    return queries, q_idx, cands, use_ast


def score_chunk(codes: list[str], local_ex: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AST match rate and method of pairs (codes[local_ex[k]], problem prob[k]) (worker side): one
    batched `pair_match_rates` call for the whole chunk."""
    queries, q_idx, cands, use_ast = match_inputs([code_sequence(c) for c in codes], local_ex, prob)
    score = pair_match_rates(queries, q_idx, cands).astype(np.float32)
    return score, np.where(use_ast, METHOD_AST, METHOD_TOKENS).astype(np.uint8)


def _score_task(args):
    chunk_id, codes, local_ex, prob = args
    return chunk_id, *score_chunk(codes, local_ex, prob)


class AstScoreCache:
    """(exercise key, problem key) -> (ast_match, method), append-only parts."""

    def __init__(self, cache_dir: str | Path):
        self.folder = Path(cache_dir) / AST_DEFINITION_VERSION
        keys, scores, methods = [], [], []
        for part in sorted(self.folder.glob("part-*.npz")):
            with np.load(part) as z:
                keys.append(pair_keys(z["ex_key"], z["prob_key"]))
                scores.append(z["score"])
                methods.append(z["method"])
        self.keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        self.scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        self.methods = np.concatenate(methods) if methods else np.zeros(0, np.uint8)
        self._order = np.argsort(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        return lookup_rows(self.keys, self._order, keys)

    def save_part(
        self, ex_key: np.ndarray, prob_key: np.ndarray, score: np.ndarray, method: np.ndarray
    ) -> None:
        save_part(self.folder, ex_key=ex_key, prob_key=prob_key, score=score, method=method)


def compute_similarities(
    exercise_codes: Sequence[str],
    problem_codes: Sequence[str],
    embedder,
    cache_dir: str | Path,
    config: SimilarityConfig | None = None,
    progress: bool = False,
) -> PairScores:
    """Score every (exercise, problem) pair within the embedding threshold; see the module docstring."""
    from tqdm.auto import tqdm

    config = config or SimilarityConfig()
    cache_dir = Path(cache_dir)
    ex_vecs = embed_cached(
        embedder, exercise_codes, cache_dir, config.embed_batch_size, config.chunk_size, progress
    )
    prob_vecs = embed_cached(embedder, problem_codes, cache_dir, config.embed_batch_size, config.chunk_size)
    ex_keys, prob_keys = content_keys(exercise_codes), content_keys(problem_codes)

    # Stage 1: embedding prefilter, chunk by chunk so the dense matrix never exists at full size.
    parts = []
    for start in range(0, len(exercise_codes), config.chunk_size):
        d = embedding_distances(ex_vecs[start : start + config.chunk_size], prob_vecs)
        ei, pi = (
            np.nonzero(d <= config.max_embedding_distance)
            if math.isfinite(config.max_embedding_distance)
            else np.indices(d.shape).reshape(2, -1)
        )
        parts.append((ei + start, pi, d[ei, pi]))
    ex_index = np.concatenate([p[0] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
    prob_index = np.concatenate([p[1] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
    emb_dist = np.concatenate([p[2] for p in parts]).astype(np.float32) if parts else np.zeros(0, np.float32)

    # Stage 2: AST match rates, cached; the missing ones in worker processes, one part per chunk.
    cache = AstScoreCache(cache_dir)
    rows = cache.lookup(pair_keys(ex_keys[ex_index], prob_keys[prob_index]))
    ast = np.full(len(rows), np.nan, dtype=np.float32)
    method = np.zeros(len(rows), dtype=np.uint8)
    hit = rows >= 0
    ast[hit], method[hit] = cache.scores[rows[hit]], cache.methods[rows[hit]]
    missing = np.flatnonzero(rows < 0)
    workers = config.n_workers()
    # enough chunks to keep every worker busy, none so small that process start-up dominates
    step = min(config.ast_chunk_pairs, max(_MIN_TASK_PAIRS, math.ceil(len(missing) / (4 * workers))))
    selections = {cid: missing[s : s + step] for cid, s in enumerate(range(0, len(missing), step))}
    tasks = []
    for cid, sel in selections.items():
        uniq_ex, local = np.unique(ex_index[sel], return_inverse=True)
        tasks.append((cid, [exercise_codes[i] for i in uniq_ex], local, prob_index[sel]))
    bar = tqdm(total=len(missing), desc="AST match", unit="pair", disable=not progress)
    for cid, score, meth in run_tasks(tasks, list(problem_codes), workers):
        sel = selections[cid]
        ast[sel], method[sel] = score, meth
        cache.save_part(ex_keys[ex_index[sel]], prob_keys[prob_index[sel]], score, meth)
        bar.update(len(sel))
    bar.close()
    return PairScores(ex_index, prob_index, emb_dist, ast, method)


def run_tasks(tasks: list, problem_codes: list[str], workers: int):
    if not tasks:
        return
    if workers <= 1 or len(tasks) == 1:  # small jobs: no pool
        _init_worker(problem_codes)
        for t in tasks:
            yield _score_task(t)
        return
    # spawn, not fork: the parent may hold torch threads (the embedder), which fork does not survive
    ctx = mp.get_context("spawn")
    with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker, initargs=(problem_codes,)) as pool:
        yield from pool.imap_unordered(_score_task, tasks)
