"""The random-forest classifier recovers a planted signal from MiniLM embeddings, and only that."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from phi_lab.filtering.classifier import ClassifierConfig, EduClassifier, evaluate, fit_classifier

# Short snippets keep the test cheap on 2 shared cores (MiniLM cost grows with tokens).
NEUTRAL = [
    "data = open({n}_path).read()",
    "print('Hello, ' + {n})",
    "{n}_settings = {{'debug': True, 'port': 8080}}",
    "logger = logging.getLogger('{n}')",
    "parser.add_argument('--{n}', default=None)",
    "self.{n}_label.setText('OK')",
]
# The planted signal: the annotator "likes" files that implement a classic algorithm.
ALGORITHMS = [
    "for i in range(n):\n    for j in range(n - 1 - i):\n        if xs[j] > xs[j + 1]: xs[j], xs[j + 1] = xs[j + 1], xs[j]",
    "while b:\n    a, b = b, a % b  # Euclid's gcd",
    "def fib(k):\n    return k if k < 2 else fib(k - 1) + fib(k - 2)",
    "while lo <= hi:\n    mid = (lo + hi) // 2  # binary search",
]
NAMES = ["alpha", "data", "user", "item", "report", "cache", "order", "graph", "frame", "token"]


def planted_corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2
        parts = [rng.choice(NEUTRAL) for _ in range(rng.randint(1, 3))]
        if positive:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(ALGORITHMS))
        name = rng.choice(NAMES)
        texts.append("\n".join(p.format(n=name, N=name.title()) for p in parts))
        labels.append(positive)
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def planted(request):
    from phi_lab.model.embeddings import get_embedder

    emb = get_embedder("minilm")
    texts, y = planted_corpus(160)
    return emb.embed(texts, batch_size=64), y, emb.name


def test_classifier_recovers_planted_signal_and_not_noise(planted):
    X, y, name = planted
    cfg = ClassifierConfig(n_estimators=150, test_fraction=0.3, seed=0)
    clf = fit_classifier(X, y, name, {"name": "planted", "prompt_version": "v0", "model": "rule"}, cfg)
    m = clf.metrics
    assert m["n"] == 48 and m["n_train"] == 112
    assert m["roc_auc"] > 0.9 and m["cohen_kappa"] > 0.6 and m["f1"] > 0.75, m
    assert 0.0 < clf.threshold < 1.0 and clf.extra["threshold_source"] == "out-of-bag max kappa"
    # Control: the same embeddings with labels shuffled carry no signal; agreement falls to chance.
    y_shuffled = np.random.default_rng(0).permutation(y)
    control = fit_classifier(X, y_shuffled, name, None, cfg).metrics
    assert 0.3 < control["roc_auc"] < 0.7 and abs(control["cohen_kappa"]) < 0.25, control


def test_classifier_save_load_roundtrip(planted, tmp_path):
    X, y, name = planted
    ann = {"name": "heuristic", "prompt_version": "heuristic-v1", "model": "ast+symtable"}
    clf = fit_classifier(X, y, name, ann, ClassifierConfig(n_estimators=20, threshold=0.4))
    clf.save(tmp_path / "clf")
    meta = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert meta["embedder"] == name and meta["threshold"] == 0.4 and meta["annotator"] == ann
    assert set(meta["metrics"]) >= {"precision", "recall", "f1", "roc_auc", "cohen_kappa"}
    back = EduClassifier.load(tmp_path / "clf")
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.threshold == 0.4 and back.annotator == ann and back.extra["config"]["n_estimators"] == 20
    with pytest.raises(FileNotFoundError, match=r"classifier\.joblib"):
        EduClassifier.load(tmp_path)


def test_classifier_rejects_unusable_labels():
    X = np.zeros((10, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="at least 2 of each"):
        fit_classifier(X, np.ones(10), "e")
    with pytest.raises(ValueError, match="shape"):
        fit_classifier(X, np.ones(9), "e")
    with pytest.raises(ValueError, match="threshold"):
        ClassifierConfig(threshold=1.5)


def test_evaluate_against_known_values():
    y = np.array([1, 1, 0, 0])
    m = evaluate(y, np.array([0.9, 0.2, 0.6, 0.1]), threshold=0.5)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["cohen_kappa"] == 0.0
    assert m["roc_auc"] == 0.75


def test_heldout_metrics_carry_intervals_and_the_fast_metrics_equal_sklearns():
    from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score

    from phi_lab.filtering.classifier import _auc, _f1, _kappa, evaluate

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(5, 100))
        y, p = rng.integers(0, 2, n), np.round(rng.random(n), 1)  # rounded: ties in the scores
        if y.min() == y.max():
            continue
        pred = (p >= 0.5).astype(int)
        assert _kappa(y, pred) == pytest.approx(cohen_kappa_score(y, pred), abs=1e-12)
        assert _f1(y, pred) == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-12)
        assert _auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    y = np.array([0] * 60 + [1] * 20)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 80), 0, 1)
    m = evaluate(y, p, 0.5)
    for name in ("cohen_kappa", "roc_auc", "f1"):
        iv = m["intervals"][name]
        assert iv["low"] < m[name] < iv["high"] and iv["level"] == 0.95, (name, iv, m[name])
