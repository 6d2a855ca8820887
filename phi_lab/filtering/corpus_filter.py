"""Apply the educational-value classifier to a whole corpus, resumably (§2.1).

Layout of an output directory::

    run.json                 what was run (classifier, embedder, shard size, corpus); checked on resume
    scores/shard-00000.jsonl one record per document: text, provenance, classifier score
    kept.jsonl, dropped.jsonl every document with its score and the reason for the verdict
    histograms.png           per-source score histograms with the threshold
    manifest.json            counts, threshold, per-source summary

Scoring (embedding + forest) is the slow part, so it happens shard by shard and each shard is
written atomically (temporary file, fsync, rename): a run killed at any moment resumes at the
first missing shard and produces byte-identical outputs. The threshold is chosen only after all
shards exist, either as a probability cut or as the score that keeps a target fraction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from phi_lab.data.documents import Document
from phi_lab.filtering.classifier import EduClassifier
from phi_lab.io import atomic_write_json, atomic_write_jsonl
from phi_lab.model.embeddings import Embedder
from phi_lab.reporting.figures import save_figure, score_histograms


@dataclass
class FilterConfig:
    shard_size: int = 256
    threshold: float | None = None  # probability cut; None: the classifier's own threshold
    keep_fraction: float | None = None  # alternatively: keep this fraction of the best-scored files
    batch_size: int = 32  # embedder batch size (chunks per forward pass)

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if self.threshold is not None and self.keep_fraction is not None:
            raise ValueError("give either threshold or keep_fraction, not both")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.keep_fraction is not None and not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except ValueError as e:
                raise ValueError(
                    f"{path}:{lineno}: corrupt record ({e}); delete this shard to redo it"
                ) from None


def _batched(docs: Iterable[Document], n: int) -> Iterator[list[Document]]:
    it = iter(docs)
    while chunk := list(islice(it, n)):
        yield chunk


def source_group(rec: dict[str, Any]) -> str:
    """The histogram group of a record: its source, split by origin when the corpus records one."""
    origin = (rec.get("meta") or {}).get("origin")
    return f"{rec['source']}/{origin}" if origin else rec["source"]


class CorpusFilter:
    """Scores documents with `embedder` + `classifier` into `out_dir`, then splits kept/dropped."""

    def __init__(
        self,
        classifier: EduClassifier,
        embedder: Embedder,
        out_dir: str | Path,
        config: FilterConfig | None = None,
        corpus: str = "",
    ) -> None:
        if embedder.name != classifier.embedder:
            raise ValueError(
                f"classifier was trained on embedder {classifier.embedder!r} but got {embedder.name!r}"
            )
        self.classifier = classifier
        self.embedder = embedder
        self.out = Path(out_dir)
        self.config = config or FilterConfig()
        self.corpus = corpus

    # ------------------------------------------------------------------ phase 1: scores
    def _check_run(self) -> None:
        """Refuse to resume into a directory written with other settings (scores would mix)."""
        run = {
            "embedder": self.embedder.name,
            "classifier": {
                "embedder": self.classifier.embedder,
                "annotator": self.classifier.annotator,
                "metrics": self.classifier.metrics,
            },
            "shard_size": self.config.shard_size,
            "corpus": self.corpus,
        }
        path = self.out / "run.json"
        if path.exists():
            old = json.loads(path.read_text())
            if json.dumps(old, sort_keys=True) != json.dumps(run, sort_keys=True):  # NaN-safe comparison
                diff = sorted(k for k in run if old.get(k) != run[k])
                raise ValueError(f"{path}: this directory holds a run with different {diff}; use a new --out")
        else:
            atomic_write_json(path, run, sort_keys=True)

    def shard_path(self, i: int) -> Path:
        return self.out / "scores" / f"shard-{i:05d}.jsonl"

    def score(self, docs: Iterable[Document], total: int | None = None, progress: bool = True) -> list[Path]:
        """Write every score shard that is missing; returns all shard paths in order."""
        from tqdm.auto import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        self._check_run()
        for stale in (self.out / "scores").glob(".shard-*.tmp"):
            stale.unlink()  # half-written by a killed run; its shard is redone below
        paths = []
        bar = tqdm(total=total, desc="filter: score", unit="file", disable=not progress)
        resumed = 0
        for i, chunk in enumerate(_batched(docs, self.config.shard_size)):
            path = self.shard_path(i)
            paths.append(path)
            if path.exists():
                done = [r["sha256"] for r in _read_jsonl(path)]
                if done != [d.sha256 for d in chunk]:
                    raise ValueError(
                        f"{path} was scored for other documents: the corpus changed; use a new --out"
                    )
                resumed += 1
            else:
                X = self.embedder.embed([d.text for d in chunk], batch_size=self.config.batch_size)
                proba = self.classifier.predict_proba(X)
                recs = (
                    {
                        "path": d.path,
                        "source": d.source,
                        "sha256": d.sha256,
                        "score": round(float(p), 6),
                        "meta": d.meta,
                        "text": d.text,
                    }
                    for d, p in zip(chunk, proba)
                )
                atomic_write_jsonl(path, recs, ensure_ascii=False, sort_keys=True)
            bar.update(len(chunk))
            bar.set_postfix(shards=i + 1, resumed=resumed)
        bar.close()
        return paths

    # ------------------------------------------------------------------ phase 2: verdicts
    def choose_threshold(self, scores: np.ndarray) -> float:
        cfg = self.config
        if cfg.keep_fraction is not None:
            if len(scores) == 0:
                return 1.0
            k = max(1, round(cfg.keep_fraction * len(scores)))
            return float(np.sort(scores)[::-1][k - 1])  # ties at the cut are all kept
        return self.classifier.threshold if cfg.threshold is None else cfg.threshold

    def split(self, shard_paths: list[Path]) -> dict[str, Any]:
        """Write kept.jsonl / dropped.jsonl, histograms.png and manifest.json; return the manifest."""
        scores = np.array([r["score"] for p in shard_paths for r in _read_jsonl(p)], dtype=np.float64)
        threshold = self.choose_threshold(scores)
        by_group: dict[str, list[float]] = defaultdict(list)
        kept_by_group: dict[str, int] = defaultdict(int)

        def verdicts(keep: bool) -> Iterator[dict[str, Any]]:
            for p in shard_paths:
                for r in _read_jsonl(p):
                    ok = r["score"] >= threshold
                    if ok != keep:
                        continue
                    if keep:  # each record is seen once as kept or dropped: count it there
                        kept_by_group[source_group(r)] += 1
                    by_group[source_group(r)].append(r["score"])
                    op = ">=" if ok else "<"
                    r["kept"] = ok
                    r["reason"] = f"educational-value score {r['score']:.4f} {op} threshold {threshold:.4f}"
                    yield r

        atomic_write_jsonl(self.out / "kept.jsonl", verdicts(True), ensure_ascii=False, sort_keys=True)
        atomic_write_jsonl(self.out / "dropped.jsonl", verdicts(False), ensure_ascii=False, sort_keys=True)
        n_kept = sum(kept_by_group.values())
        groups = {
            g: {"n": len(s), "kept": kept_by_group[g], "mean_score": round(float(np.mean(s)), 6)}
            for g, s in sorted(by_group.items())
        }
        manifest = {
            "corpus": self.corpus,
            "embedder": self.embedder.name,
            "classifier_annotator": self.classifier.annotator,
            "config": asdict(self.config),
            "threshold": threshold,
            "n_documents": len(scores),
            "n_kept": n_kept,
            "kept_fraction": n_kept / len(scores) if len(scores) else 0.0,
            "n_shards": len(shard_paths),
            "sources": groups,
        }
        plot_histograms({g: s for g, s in by_group.items()}, threshold, self.out / "histograms.png")
        atomic_write_json(self.out / "manifest.json", manifest, sort_keys=True)
        return manifest

    def run(
        self, docs: Iterable[Document], total: int | None = None, progress: bool = True
    ) -> dict[str, Any]:
        return self.split(self.score(docs, total=total, progress=progress))


def plot_histograms(scores_by_group: dict[str, list[float]], threshold: float, path: Path) -> Path:
    """One histogram of classifier scores per source group, the threshold marked, written atomically
    (the figure itself: `phi_lab.reporting.score_histograms`)."""
    return save_figure(score_histograms(scores_by_group, threshold, bins=20), path, dpi=100)
