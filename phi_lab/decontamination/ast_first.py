"""AST-first scoring: the same close pairs as `similarity.compute_similarities`, for CPU-only runs.

Embedding 879.5K exercises with a transformer on CPU costs hours, while the AST match rate of all
144M pairs takes under a minute on 16 cores (projected by bench/prune_throughput.py). So on CPU we
reverse the stages: AST-match every pair, keep those with ``ast_match >= ast_floor`` (the lowest tau
of the sweep), embed only the exercises in them, and drop pairs beyond the embedding threshold. For
every ``tau >= ast_floor`` the close pairs are exactly those of the embedding-first order.

The all-pairs scores are cached densely, one row of `len(problems)` scores per exercise, under
`<cache>/<AST_DEFINITION_VERSION>-dense-<problem-set hash>/part-*.npz`, one part per finished task, so a
crash loses at most the tasks in flight and lowering tau later only re-embeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phi_lab.decontamination.ast_match import AST_DEFINITION_VERSION
from phi_lab.decontamination.similarity import (
    PairScores,
    SimilarityConfig,
    content_key,
    content_keys,
    embed_cached,
    lookup_rows,
    run_tasks,
    save_part,
)


class DenseAstCache:
    """exercise key -> (scores, methods) rows against one fixed problem set."""

    def __init__(self, cache_dir: str | Path, prob_keys: np.ndarray):
        set_key = content_key(",".join(str(int(k)) for k in prob_keys))
        self.folder = Path(cache_dir) / f"{AST_DEFINITION_VERSION}-dense-{set_key:016x}"
        self.n_problems = len(prob_keys)
        keys, scores, methods = [], [], []
        for part in sorted(self.folder.glob("part-*.npz")):
            with np.load(part) as z:
                keys.append(z["ex_key"])
                scores.append(z["score"])
                methods.append(z["method"])
        self.keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        self.scores = np.concatenate(scores) if scores else np.zeros((0, self.n_problems), np.float32)
        self.methods = np.concatenate(methods) if methods else np.zeros((0, self.n_problems), np.uint8)
        self._order = np.argsort(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        return lookup_rows(self.keys, self._order, keys)

    def save_part(self, ex_key: np.ndarray, score: np.ndarray, method: np.ndarray) -> None:
        save_part(self.folder, ex_key=ex_key, score=score, method=method)


def compute_similarities_ast_first(
    exercise_codes: Sequence[str],
    problem_codes: Sequence[str],
    embedder,
    cache_dir: str | Path,
    config: SimilarityConfig | None = None,
    ast_floor: float = 0.8,
    progress: bool = False,
) -> PairScores:
    """Pairs with ``ast_match >= ast_floor`` and embedding distance within the threshold."""
    from tqdm.auto import tqdm

    config = config or SimilarityConfig(order="ast-first")
    n_prob = len(problem_codes)
    ex_keys, prob_keys = content_keys(exercise_codes), content_keys(problem_codes)
    cache = DenseAstCache(cache_dir, prob_keys)
    uniq, first = np.unique(ex_keys, return_index=True)
    todo = first[cache.lookup(uniq) < 0]  # one representative index per missing exercise content

    per_task = max(1, config.ast_chunk_pairs // max(n_prob, 1))
    workers = config.n_workers()
    per_task = min(per_task, max(1, -(-len(todo) // (4 * workers))))  # keep every worker busy
    selections = {cid: todo[s : s + per_task] for cid, s in enumerate(range(0, len(todo), per_task))}
    tasks = [
        (
            cid,
            [exercise_codes[i] for i in sel],
            np.repeat(np.arange(len(sel)), n_prob),
            np.tile(np.arange(n_prob), len(sel)),
        )
        for cid, sel in selections.items()
    ]
    bar = tqdm(total=len(todo) * n_prob, desc="AST match (all pairs)", unit="pair", disable=not progress)
    for cid, score, meth in run_tasks(
        tasks, list(problem_codes), workers if len(todo) * n_prob > 4096 else 1
    ):
        sel = selections[cid]
        cache.save_part(ex_keys[sel], score.reshape(len(sel), n_prob), meth.reshape(len(sel), n_prob))
        bar.update(len(score))
    bar.close()
    if len(todo):
        cache = DenseAstCache(cache_dir, prob_keys)
    rows = cache.lookup(ex_keys)
    scores, methods = cache.scores[rows], cache.methods[rows]

    ex_index, prob_index = np.nonzero(scores >= np.float32(ast_floor) - np.float32(1e-6))
    sel_ex = np.unique(ex_index)
    ex_vecs = embed_cached(
        embedder,
        [exercise_codes[i] for i in sel_ex],
        cache_dir,
        config.embed_batch_size,
        config.chunk_size,
        progress,
    )
    prob_vecs = embed_cached(embedder, problem_codes, cache_dir, config.embed_batch_size, config.chunk_size)
    row_of = np.searchsorted(sel_ex, ex_index)
    cos = np.einsum("ij,ij->i", ex_vecs[row_of], prob_vecs[prob_index]) if len(ex_index) else np.zeros(0)
    dist = np.sqrt(np.clip(2.0 - 2.0 * cos, 0.0, None)).astype(np.float32)
    keep = dist <= config.max_embedding_distance
    ex_index, prob_index = ex_index[keep].astype(np.int64), prob_index[keep].astype(np.int64)
    return PairScores(
        ex_index,
        prob_index,
        dist[keep],
        scores[ex_index, prob_index].astype(np.float32),
        methods[ex_index, prob_index].astype(np.uint8),
    )
