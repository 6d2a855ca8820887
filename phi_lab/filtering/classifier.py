"""The educational-value classifier of §2.1: a random forest on file embeddings.

phi-1 annotated ~100k files with GPT-4 and trained a random forest on embeddings to predict the
label for the rest of the corpus. `fit_classifier` holds out a stratified split and reports
precision, recall, F1, ROC-AUC and Cohen's kappa against the annotator; `EduClassifier.save`
writes the forest (joblib) and a JSON sidecar naming the embedder, the annotator (with prompt
version and model) and the decision threshold, which `load` checks before use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phi_lab.io import atomic_write, atomic_write_json

MODEL_FILE = "classifier.joblib"
META_FILE = "classifier.json"
FORMAT_VERSION = 1


@dataclass
class ClassifierConfig:
    n_estimators: int = 300
    max_depth: int | None = None
    min_samples_leaf: int = 1
    test_fraction: float = 0.2
    # Cut on the predicted probability of "educational". None: tuned on the forest's out-of-bag
    # predictions for the training split (max Cohen's kappa), so the held-out split stays unseen.
    threshold: float | None = None
    seed: int = 0
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")


@dataclass
class EduClassifier:
    forest: Any  # sklearn RandomForestClassifier
    embedder: str  # Embedder.name the forest was trained on
    threshold: float
    annotator: dict[str, str] = field(default_factory=dict)  # name, prompt_version, model
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability that each row is educational (class 1)."""
        X = np.asarray(X, dtype=np.float32)
        classes = list(self.forest.classes_)
        proba = self.forest.predict_proba(X)
        return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X) >= self.threshold).astype(int)

    def save(self, directory: str | Path) -> Path:
        import joblib
        import sklearn

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write(d / MODEL_FILE, lambda tmp: joblib.dump(self.forest, tmp))
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "random-forest",
            "embedder": self.embedder,
            "threshold": self.threshold,
            "annotator": self.annotator,
            "metrics": self.metrics,
            "sklearn_version": sklearn.__version__,
            "n_features": int(self.forest.n_features_in_),
            **self.extra,
        }
        atomic_write_json(d / META_FILE, meta, sort_keys=True)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> EduClassifier:
        """Load a saved classifier. Only load directories you trust: joblib files are pickles."""
        import joblib

        d = Path(directory)
        for f in (MODEL_FILE, META_FILE):
            if not (d / f).exists():
                raise FileNotFoundError(f"{d}: no {f}; is this a directory written by `phi-lab filter fit`?")
        meta = json.loads((d / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{d / META_FILE}: format_version {meta.get('format_version')} != {FORMAT_VERSION}"
            )
        forest = joblib.load(d / MODEL_FILE)
        known = {
            "format_version",
            "kind",
            "embedder",
            "threshold",
            "annotator",
            "metrics",
            "sklearn_version",
            "n_features",
        }
        return cls(
            forest,
            meta["embedder"],
            float(meta["threshold"]),
            meta.get("annotator", {}),
            meta.get("metrics", {}),
            {k: v for k, v in meta.items() if k not in known},
        )


def evaluate(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """Agreement of the classifier with the annotator on held-out files, with 95% intervals."""
    y_true = np.asarray(y_true).astype(int)
    pred = (np.asarray(proba) >= threshold).astype(int)
    both = len(set(y_true.tolist())) == 2
    return {
        **_point_metrics(y_true, np.asarray(proba), pred, both),
        "intervals": _metric_intervals(y_true, np.asarray(proba), threshold) if both else {},
    }


def _kappa(y: np.ndarray, pred: np.ndarray) -> float:
    po = float(np.mean(y == pred))
    pe = float(y.mean() * pred.mean() + (1 - y.mean()) * (1 - pred.mean()))
    return 0.0 if pe == 1.0 else (po - pe) / (1.0 - pe)  # sklearn's value where it is defined


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum((y == 1) & (pred == 1)))
    wrong = float(np.sum(y != pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + wrong)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic (ties count half), as sklearn computes it."""
    from scipy.stats import rankdata

    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("ROC AUC needs both classes")
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _metric_intervals(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, dict]:
    """95% paired bootstrap intervals over held-out files: with 80 of them kappa moves by +-0.2."""
    from phi_lab.stats import statistic_interval

    out = {}
    for name, fn in (
        ("cohen_kappa", lambda y, p: _kappa(y, (p >= threshold).astype(int))),
        ("roc_auc", _auc),
        ("f1", lambda y, p: _f1(y, (p >= threshold).astype(int))),
    ):
        iv = statistic_interval(fn, y_true, proba)
        out[name] = {"low": iv.low, "high": iv.high, "level": iv.level, "method": iv.method}
    return out


def _point_metrics(y_true: np.ndarray, proba: np.ndarray, pred: np.ndarray, both: bool) -> dict:
    from sklearn.metrics import (
        accuracy_score,
        cohen_kappa_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    return {
        "n": len(y_true),
        "positive_rate": float(y_true.mean()) if len(y_true) else float("nan"),
        "accuracy": float(accuracy_score(y_true, pred)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, proba)) if both else float("nan"),
        "cohen_kappa": float(cohen_kappa_score(y_true, pred)),
    }


def oob_threshold(forest, y_train: np.ndarray) -> float:
    """The probability cut that best agrees (Cohen's kappa) with the annotator out of bag.

    With class_weight="balanced" a 0.5 cut is rarely the best one; each training file's out-of-bag
    probability comes from trees that never saw it, so tuning on it does not touch held-out data.
    """
    from sklearn.metrics import cohen_kappa_score

    proba = forest.oob_decision_function_[:, list(forest.classes_).index(1)]
    seen = ~np.isnan(proba)  # a file every tree sampled has no out-of-bag vote
    best, best_kappa = 0.5, -np.inf
    for t in np.round(np.linspace(0.05, 0.95, 91), 3):
        kappa = cohen_kappa_score(y_train[seen], (proba[seen] >= t).astype(int))
        if kappa > best_kappa + 1e-12:
            best, best_kappa = float(t), kappa
    return best


def fit_classifier(
    X: np.ndarray,
    y: np.ndarray,
    embedder: str,
    annotator: dict[str, str] | None = None,
    config: ClassifierConfig | None = None,
    keys: Sequence[str] | None = None,
) -> EduClassifier:
    """Train on a stratified split, score the held-out part, return the classifier with its metrics.

    `keys` (one per row: the files' content hashes) are split with the rows; the training split's are
    kept (`extra["fitted_sha256"]`) so the corpus filter can mark files whose own label the forest saw:
    their scores are optimistic (§2.1 scores the whole corpus, the annotated sample included)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    cfg = config or ClassifierConfig()
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).astype(int)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"need X of shape (n, dim) and n labels, got {X.shape} and {len(y)}")
    counts = np.bincount(y, minlength=2)
    if len(counts) > 2 or min(counts) < 2:
        raise ValueError(f"need labels in {{0, 1}} with at least 2 of each, got counts {counts.tolist()}")
    if keys is not None and len(keys) != len(y):
        raise ValueError(f"need one key per row, got {len(keys)} for {len(y)}")
    row_keys = np.asarray(keys if keys is not None else [""] * len(y), dtype=object)
    X_tr, X_te, y_tr, y_te, k_tr, _ = train_test_split(
        X, y, row_keys, test_size=cfg.test_fraction, random_state=cfg.seed, stratify=y
    )
    forest = RandomForestClassifier(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        min_samples_leaf=cfg.min_samples_leaf,
        class_weight="balanced",  # educational files are the minority in a raw corpus
        oob_score=cfg.threshold is None,
        random_state=cfg.seed,
        n_jobs=cfg.n_jobs,
    )
    forest.fit(X_tr, y_tr)
    if cfg.threshold is None:
        threshold, source = oob_threshold(forest, y_tr), "out-of-bag max kappa"
    else:
        threshold, source = cfg.threshold, "fixed"
    clf = EduClassifier(forest, embedder, threshold, annotator or {})
    clf.metrics = evaluate(y_te, clf.predict_proba(X_te), threshold)
    clf.extra["threshold_source"] = source
    clf.metrics["n_train"] = len(y_tr)
    clf.extra["config"] = asdict(cfg)
    if keys is not None:
        clf.extra["fitted_sha256"] = sorted(str(k) for k in k_tr)
    return clf
