"""The §2.1 educational-value filter over a whole corpus, as four datatrove stages.

    score      N tasks  read units -> embed + classify -> parts/scores/<rank>.jsonl, parts/index/<rank>.npz
    threshold  1 task   every score -> the cut (fixed, the classifier's, or keep a fraction), histograms.png
    verdicts   N tasks  EduValueFilter: keep, or drop with its reason into the exclusion writer
    report     1 task   kept.jsonl / dropped.jsonl in corpus order, skipped.jsonl, manifest.json

Scoring is the expensive part and the only one that needs the embedder (and a GPU, where there is
one: one task per GPU). The cut is chosen once all scores exist, so `keep_fraction` means a fraction
of the whole corpus. Changing only the cut reruns the three cheap stages on the stored scores.
Every output is the same whatever the number of tasks: per-task parts are merged in corpus order,
and each document's score depends on that document only (for embedders that embed texts
independently, such as `HashingEmbedder`; batched float maths in a neural embedder may differ in
the last bits between batchings).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import Document as DTDocument
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.jsonl import JsonlReader
from datatrove.utils.batching import batched

from phi_lab.data.documents import EmptySourceError, content_hash
from phi_lab.data.units import read_plan_header
from phi_lab.filtering.classifier import META_FILE, EduClassifier
from phi_lab.filtering.corpus_filter import (
    FilterConfig,
    choose_threshold,
    histogram_counts,
    plot_histograms,
    source_group,
)
from phi_lab.io import atomic_write, atomic_write_json
from phi_lab.pipelines.embedders import EmbedderSpec, load_embedder
from phi_lab.pipelines.steps import document_record, merge_parts, merge_skips, part_writer, skipped_for

DOCS_PER_CALL = 64  # documents per embed() call: big enough for length-sorted batches, small in memory


def verdict_record(self, doc: DTDocument) -> dict[str, Any]:
    """Writer adapter for kept and dropped files: the score record plus the verdict and its reason."""
    md = doc.metadata
    score, threshold, kept = md["score"], md["threshold"], md["kept"]
    md["reason"] = f"educational-value score {score:.4f} {'>=' if kept else '<'} threshold {threshold:.4f}"
    if md.get("fitted_on"):
        md["reason"] += " (the classifier was fitted on this file's label: an optimistic score)"
    return document_record(self, doc)


class EduScorer(PipelineStep):
    """Embeds documents and adds the classifier's probability of "educational" as metadata["score"]."""

    type = "🔢 - SCORER"
    name = "educational value"

    def __init__(
        self,
        classifier_dir: str | Path,
        embedder: EmbedderSpec,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.classifier_dir = str(classifier_dir)
        self.embedder = embedder
        self.batch_size = batch_size
        self.threads = threads

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        clf = EduClassifier.load(self.classifier_dir)
        fitted = set(clf.extra.get("fitted_sha256", ()))  # files whose own label trained the forest
        embedder = load_embedder(self.embedder, rank, self.threads)
        if embedder.name != clf.embedder:
            raise ValueError(
                f"classifier {self.classifier_dir} was trained on embedder {clf.embedder!r} "
                f"but got {embedder.name!r}"
            )
        for batch in batched(data, DOCS_PER_CALL):
            with self.track_time("batch"):
                X = embedder.embed([d.text for d in batch], batch_size=self.batch_size)
                proba = clf.predict_proba(X)
            for doc, p in zip(batch, proba):
                doc.metadata["score"] = round(float(p), 6)
                doc.metadata["sha256"] = content_hash(doc.text)
                doc.metadata["fitted_on"] = doc.metadata["sha256"] in fitted
                self.stat_update("scored")
                yield doc


class ScoreIndex(PipelineStep):
    """Per task, (unit, offset, score, group) of every document as one small .npz: all the threshold
    stage reads, so choosing the cut never re-reads the texts."""

    type = "💽 - WRITER"
    name = "score index"

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = str(folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        units, offsets, scores, groups = [], [], [], []
        for doc in data:
            md = doc.metadata
            units.append(md["unit"])
            offsets.append(md["offset"])
            scores.append(md["score"])
            groups.append(source_group(md["source"], md.get("meta")))
            yield doc
        names = sorted(set(groups))
        code = {g: i for i, g in enumerate(names)}
        arrays = {
            "unit": np.array(units, dtype=np.int64),
            "offset": np.array(offsets, dtype=np.int64),
            "score": np.array(scores, dtype=np.float64),
            "group": np.array([code[g] for g in groups], dtype=np.int32),
            "groups": np.array(names, dtype=str),
        }
        atomic_write(
            Path(self.folder) / f"{rank:05d}.npz", lambda tmp: np.savez(tmp, **arrays), suffix=".tmp.npz"
        )


def read_index(folder: Path) -> dict[str, np.ndarray]:
    """Every task's index, concatenated and sorted into corpus order."""
    parts: dict[str, list] = defaultdict(list)
    for f in sorted(folder.glob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            names = np.array(z["groups"].tolist() or [""], dtype=object)
            for k in ("unit", "offset", "score"):
                parts[k].append(z[k])
            parts["group"].append(names[z["group"]])
    if not parts:
        return {k: np.array([]) for k in ("unit", "offset", "score", "group")}
    out = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((out["offset"], out["unit"]))
    return {k: v[order] for k, v in out.items()}


class ChooseThreshold(PipelineStep):
    """One task: the cut over all scores, per-source summaries and histograms; refuses empty sources."""

    type = "📊 - STATS"
    name = "threshold"

    def __init__(
        self, work: str | Path, plan: str | Path, config: FilterConfig, default: float, histograms: str | Path
    ) -> None:
        super().__init__()
        self.work, self.plan, self.config, self.default = str(work), str(plan), config, default
        self.histograms = str(histograms)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        work = Path(self.work)
        index = read_index(work / "index")
        sources = read_plan_header(self.plan)["sources"]
        seen = {g.split("/", 1)[0] for g in set(index["group"].tolist())}
        for name, info in sources.items():
            if name not in seen:
                raise EmptySourceError(
                    f"{info['path']}: no documents: looked for {info['what']}; "
                    f"{skipped_for(work / 'skipped', name)}"
                )
        scores = index["score"].astype(np.float64)
        threshold, rule = choose_threshold(scores, self.config, self.default)
        by_group: dict[str, list[float]] = defaultdict(list)
        for g, s in zip(index["group"].tolist(), scores.tolist()):
            by_group[g].append(s)
        groups = {
            g: {
                "n": len(s),
                "kept": int(sum(x >= threshold for x in s)),
                "mean_score": round(float(np.mean(s)), 6),
                "histogram": histogram_counts(s),
            }
            for g, s in sorted(by_group.items())
        }
        n_kept = int((scores >= threshold).sum())
        summary = {
            "threshold": threshold,
            "rule": rule,
            "n_documents": len(scores),
            "n_kept": n_kept,
            "sources": groups,
        }
        plot_histograms(dict(by_group), threshold, Path(self.histograms))
        atomic_write_json(work / "threshold.json", summary, sort_keys=True)
        self.stat_update("documents", value=len(scores))
        yield from ()


class EduValueFilter(BaseFilter):
    """Keep a file whose score reaches the cut; drop it otherwise, with its reason, to the exclusion writer."""

    name = "educational value >= threshold"

    def __init__(self, threshold_file: str | Path, exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.threshold_file = str(threshold_file)
        self.threshold: float | None = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.threshold = float(json.loads(Path(self.threshold_file).read_text())["threshold"])
        yield from super().run(data, rank, world_size)

    def filter(self, doc: DTDocument) -> bool | tuple[bool, str]:
        kept = doc.metadata["score"] >= self.threshold
        doc.metadata["kept"] = bool(kept)
        doc.metadata["threshold"] = self.threshold
        # One short reason per kind keeps datatrove's per-reason counters few; the full reason with
        # the score is written by the adapter.
        return True if kept else (False, "below_threshold")


class FilterReport(PipelineStep):
    """One task: the merged kept/dropped/skipped files and manifest.json."""

    type = "💽 - WRITER"
    name = "filter report"

    def __init__(self, out: str | Path, manifest: dict[str, Any], merge: bool = True) -> None:
        super().__init__()
        self.out, self.manifest, self.merge = str(out), manifest, merge

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = Path(self.out)
        work = out / "parts"
        summary = json.loads((work / "threshold.json").read_text())
        manifest = {
            **self.manifest,
            **{k: summary[k] for k in ("threshold", "rule", "n_documents", "n_kept", "sources")},
        }
        manifest["kept_fraction"] = (
            summary["n_kept"] / summary["n_documents"] if summary["n_documents"] else 0.0
        )
        manifest["skipped"] = merge_skips(work / "skipped", out / "skipped.jsonl")
        if self.merge:
            n_kept = merge_parts(work / "kept", out / "kept.jsonl")
            n_dropped = merge_parts(work / "dropped", out / "dropped.jsonl")
            if (n_kept, n_kept + n_dropped) != (summary["n_kept"], summary["n_documents"]):
                raise RuntimeError(
                    f"{out}: {n_kept} kept + {n_dropped} dropped records, but {summary['n_kept']} of "
                    f"{summary['n_documents']} scored documents reach the threshold: parts are stale"
                )
        atomic_write_json(out / "manifest.json", manifest, sort_keys=True)
        yield from ()


def filter_stages(
    out: Path,
    plan: Path,
    classifier_dir: Path,
    embedder: EmbedderSpec,
    config: FilterConfig,
    tasks: int,
    threads: int | None,
    manifest: dict[str, Any],
    score_key: dict[str, Any],
    progress: bool = True,
) -> list:
    """The four stages of the filter (see the module docstring)."""
    from phi_lab.pipelines.executors import Stage
    from phi_lab.pipelines.steps import UnitReader

    work = out / "parts"
    default = float(json.loads((classifier_dir / META_FILE).read_text())["threshold"])
    cut = {"threshold": config.threshold, "keep_fraction": config.keep_fraction, "score": score_key}
    score = Stage(
        "score",
        [
            UnitReader(plan, work / "skipped", progress),
            EduScorer(classifier_dir, embedder, config.batch_size, threads),
            ScoreIndex(work / "index"),
            part_writer(work / "scores"),
        ],
        tasks,
        gpus=True,
        key=score_key,
    )
    threshold = Stage(
        "threshold",
        [ChooseThreshold(work, plan, config, default, out / "histograms.png")],
        1,
        outputs=[work / "threshold.json", out / "histograms.png"],
        key=cut,
    )
    verdicts = Stage(
        "verdicts",
        [
            JsonlReader(
                str(work / "scores"), compression=None, text_key="text", id_key="path", add_file_path=False
            ),
            EduValueFilter(
                work / "threshold.json", exclusion_writer=part_writer(work / "dropped", verdict_record)
            ),
            part_writer(work / "kept", verdict_record),
        ],
        tasks,
        outputs=[work / "kept", work / "dropped"],
        key=cut,
    )
    report = Stage(
        "report",
        [FilterReport(out, manifest, config.merge)],
        1,
        outputs=[out / "kept.jsonl", out / "dropped.jsonl", out / "manifest.json", out / "skipped.jsonl"],
        key={**cut, "merge": config.merge, "manifest": manifest},
    )
    return [score, threshold, verdicts, report]
