"""Embedding + AST similarity: prefilter, cache reuse (sweeping tau is free), pool == in-process."""

import math
import re
import zlib

import numpy as np
import pytest

from phi_lab.decontamination import similarity as sim
from phi_lab.decontamination.ast_match import METHOD_AST, METHOD_TOKENS
from phi_lab.decontamination.similarity import SimilarityConfig, compute_similarities


class BagOfWordsEmbedder:
    """Deterministic test embedder: hashed bag of identifier/keyword words, L2-normalized."""

    name = "test-bow"
    dim = 64

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def embed(self, texts, batch_size=32, progress=False):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


PROBLEMS = [
    "def add(a, b):\n    return a + b\n",
    "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
    "def shout(text):\n    return text.upper() + '!'\n",
]
EXERCISES = [
    "def plus(p, q):\n    return p + q\n",  # renamed add
    "def total(items):\n    s = 0\n    for x in items:\n        s += x\n    return s\n",  # renamed total
    "def total(xs)\n    s = 0\n    return s\n",  # does not parse
    "class Stack:\n    def __init__(self):\n        self.items = []\n",  # unrelated
]


def test_scores_prefilter_and_methods(tmp_path):
    emb = BagOfWordsEmbedder()
    pairs = compute_similarities(EXERCISES, PROBLEMS, emb, tmp_path, SimilarityConfig(math.inf, workers=1))
    assert len(pairs) == len(EXERCISES) * len(PROBLEMS)
    score = {(int(e), int(p)): float(a) for e, p, a in zip(pairs.ex_index, pairs.prob_index, pairs.ast_match)}
    method = {(int(e), int(p)): int(m) for e, p, m in zip(pairs.ex_index, pairs.prob_index, pairs.method)}
    assert score[(0, 0)] == 1.0 and score[(1, 1)] == 1.0
    assert score[(3, 0)] < 0.5 and score[(3, 2)] < 0.5
    assert method[(2, 1)] == METHOD_TOKENS and method[(0, 0)] == METHOD_AST
    # L2 between unit vectors
    d = {
        (int(e), int(p)): float(x)
        for e, p, x in zip(pairs.ex_index, pairs.prob_index, pairs.embedding_distance)
    }
    vec = emb.embed([EXERCISES[3], PROBLEMS[2]])
    assert d[(3, 2)] == pytest.approx(float(np.linalg.norm(vec[0] - vec[1])), abs=1e-5)

    # a finite threshold only AST-matches pairs within it
    near = compute_similarities(EXERCISES, PROBLEMS, emb, tmp_path / "b", SimilarityConfig(0.9, workers=1))
    assert 0 < len(near) < len(pairs) and (near.embedding_distance <= 0.9).all()
    within = {k for k, v in d.items() if v <= 0.9}
    assert set(zip(near.ex_index.tolist(), near.prob_index.tolist())) == within


def test_cache_makes_reruns_and_supersets_cheap(tmp_path, monkeypatch):
    emb = BagOfWordsEmbedder()
    cfg = SimilarityConfig(math.inf, workers=1)
    first = compute_similarities(EXERCISES[:2], PROBLEMS, emb, tmp_path, cfg)
    assert emb.texts == 2 + 3

    scored = []
    real = sim.score_chunk
    monkeypatch.setattr(
        sim, "score_chunk", lambda codes, ex, prob: scored.append(len(ex)) or real(codes, ex, prob)
    )
    again = compute_similarities(EXERCISES[:2], PROBLEMS, emb, tmp_path, cfg)
    assert emb.texts == 5 and scored == []  # nothing recomputed
    np.testing.assert_array_equal(first.ast_match, again.ast_match)

    more = compute_similarities(EXERCISES, PROBLEMS, emb, tmp_path, cfg)
    assert emb.texts == 5 + 2 and scored == [2 * 3]  # only the two new exercises
    np.testing.assert_array_equal(more.ast_match[: len(first)], first.ast_match)


def test_worker_pool_equals_in_process(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    exercises = [
        EXERCISES[i % 4].replace("s = 0", f"s = {k}") + "\n" * int(rng.integers(0, 3))
        for k, i in enumerate(rng.integers(0, 4, size=40))
    ]
    emb = BagOfWordsEmbedder()
    serial = compute_similarities(
        exercises, PROBLEMS, emb, tmp_path / "a", SimilarityConfig(math.inf, workers=1)
    )
    monkeypatch.setattr(sim, "_MIN_TASK_PAIRS", 16)  # force several tasks onto a real 2-process pool
    pooled = compute_similarities(
        exercises, PROBLEMS, emb, tmp_path / "b", SimilarityConfig(math.inf, workers=2)
    )
    np.testing.assert_array_equal(serial.ast_match, pooled.ast_match)
    np.testing.assert_array_equal(serial.method, pooled.method)
    assert len(list((tmp_path / "b").glob("ast-*/part-*.npz"))) > 1  # one part per finished chunk


def test_bad_config_and_bad_embedder(tmp_path):
    with pytest.raises(ValueError):
        SimilarityConfig(max_embedding_distance=0)

    class Wrong(BagOfWordsEmbedder):
        def embed(self, texts, batch_size=32, progress=False):
            return np.zeros((len(texts), 3), dtype=np.float32)

    with pytest.raises(ValueError, match="returned shape"):
        compute_similarities(EXERCISES, PROBLEMS, Wrong(), tmp_path)


def test_ast_first_gives_the_same_close_pairs_and_caches(tmp_path, monkeypatch):
    from phi_lab.decontamination.ast_first import compute_similarities_ast_first

    exercises = [
        *EXERCISES,
        "def add(x, y):\n    return x - y\n",
        "def shout(s):\n    return s.lower() + '?'\n",
    ]
    emb = BagOfWordsEmbedder()
    for thr in (0.5, 0.9, math.inf):
        cfg = SimilarityConfig(thr, workers=1)
        a = compute_similarities(exercises, PROBLEMS, emb, tmp_path / "a", cfg)
        b = compute_similarities_ast_first(exercises, PROBLEMS, emb, tmp_path / "b", cfg, ast_floor=0.6)
        for tau in (0.95, 0.8, 0.6):
            close_a = {(int(e), int(p)) for e, p in zip(a.ex_index[a.close(tau)], a.prob_index[a.close(tau)])}
            close_b = {(int(e), int(p)) for e, p in zip(b.ex_index[b.close(tau)], b.prob_index[b.close(tau)])}
            assert close_a == close_b, (thr, tau)
        assert (b.ast_match >= 0.6 - 1e-6).all() and (b.embedding_distance <= thr).all()
    assert close_a and (1, 1) in close_a

    scored = []
    real = sim.score_chunk
    monkeypatch.setattr(
        sim, "score_chunk", lambda codes, ex, prob: scored.append(len(ex)) or real(codes, ex, prob)
    )
    again = compute_similarities_ast_first(exercises, PROBLEMS, emb, tmp_path / "b", cfg, ast_floor=0.6)
    assert scored == [] and len(again) == len(b)
    compute_similarities_ast_first([*exercises, "x = 1\n"], PROBLEMS, emb, tmp_path / "b", cfg, ast_floor=0.6)
    assert scored == [len(PROBLEMS)]  # only the new exercise


def test_crash_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    exercises = [EXERCISES[i % 4] + f"# variant {i}\n" for i in range(12)]  # distinct content keys
    cfg = SimilarityConfig(math.inf, workers=1, ast_chunk_pairs=6)
    monkeypatch.setattr(sim, "_MIN_TASK_PAIRS", 6)  # 36 pairs -> 6 tasks, one cache part each
    whole = compute_similarities(exercises, PROBLEMS, BagOfWordsEmbedder(), tmp_path / "whole", cfg)

    real, calls = sim.score_chunk, []

    def crash_on_third(codes, ex, prob):
        calls.append(len(ex))
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated crash")
        return real(codes, ex, prob)

    monkeypatch.setattr(sim, "score_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        compute_similarities(exercises, PROBLEMS, BagOfWordsEmbedder(), tmp_path / "crash", cfg)
    assert len(list((tmp_path / "crash").glob("ast-*/part-*.npz"))) == 2  # finished chunks survived
    calls.clear()
    monkeypatch.setattr(
        sim, "score_chunk", lambda codes, ex, prob: calls.append(len(ex)) or real(codes, ex, prob)
    )
    resumed = compute_similarities(exercises, PROBLEMS, BagOfWordsEmbedder(), tmp_path / "crash", cfg)
    assert sum(calls) == 36 - 12  # only the unfinished pairs
    np.testing.assert_array_equal(resumed.ast_match, whole.ast_match)
    np.testing.assert_array_equal(resumed.method, whole.method)
