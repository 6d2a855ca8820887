"""Annotate a seeded uniform sample of the whole corpus (§2.1's ~100K GPT-4-labelled files), as datatrove stages.

    sample    N tasks  read units -> each task's k smallest priorities (parts/candidates/<rank>.jsonl)
    annotate  1 task   the k smallest of all tasks = the sample, in corpus order; annotate; write the labels

The priorities hash (seed, source, path), so the sample is the same for any number of tasks and any
shard order (see `phi_lab.data.sample`); the labels file's header records the seed, the corpus size
and the method. The annotator is described, not pickled (an LLM client holds connections), and built
in the task: the heuristic offline, or an OpenAI-compatible model with the key from the environment.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from phi_lab.data.documents import Document, EmptySourceError
from phi_lab.data.sample import METHOD, BottomK, merge_bottom_k, sample_priority
from phi_lab.data.sources import SourceSpec
from phi_lab.data.units import read_plan_header
from phi_lab.filtering.labels import Annotator, write_labels
from phi_lab.io import atomic_open
from phi_lab.pipelines.executors import ExecutorConfig, Stage, prepare_stage, run_stages
from phi_lab.pipelines.jobs import check_run, corpus_description, plan_job
from phi_lab.pipelines.steps import UnitReader, skipped_for


@dataclass(frozen=True)
class AnnotatorSpec:
    kind: str = "heuristic"  # 'heuristic' or 'openai'
    threshold: float | None = None  # None: heuristic 0.65, openai 0.5
    llm: Any = None  # an LLMConfig for 'openai' (model, base URL, key variable, concurrency)

    def __post_init__(self) -> None:
        if self.kind not in ("heuristic", "openai"):
            raise ValueError(f"annotator must be 'heuristic' or 'openai', got {self.kind!r}")
        if self.kind == "openai" and self.llm is None:
            raise ValueError("the openai annotator needs an LLMConfig (at least a model)")

    def build(self) -> Annotator:
        if self.kind == "heuristic":
            from phi_lab.filtering.heuristic import HeuristicAnnotator

            return HeuristicAnnotator(threshold=self.threshold or 0.65)
        from phi_lab.filtering.llm_annotator import OpenAIAnnotator

        return OpenAIAnnotator(self.llm, threshold=self.threshold or 0.5)

    def describe(self) -> dict[str, Any]:
        llm = getattr(self.llm, "model", None)
        return {"kind": self.kind, "threshold": self.threshold, "model": llm}


class SampleCandidates(PipelineStep):
    """This task's k documents of smallest priority, and how many documents it saw per source."""

    type = "🎲 - SAMPLER"
    name = "bottom-k sample"

    def __init__(self, folder: str | Path, k: int, seed: int) -> None:
        super().__init__()
        self.folder, self.k, self.seed = str(folder), k, seed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        bk: BottomK[dict[str, Any]] = BottomK(self.k)
        by_source: dict[str, int] = {}
        for doc in data:
            md = doc.metadata
            by_source[md["source"]] = by_source.get(md["source"], 0) + 1
            rec = {"text": doc.text, "path": doc.id, "source": md["source"], "meta": md["meta"]}
            rec["at"] = [md["unit"], md["offset"]]  # the place in the corpus: the labels' order
            bk.offer(sample_priority(self.seed, md["source"], doc.id), rec)
            self.stat_update("seen")
        with atomic_open(Path(self.folder) / f"{rank:05d}.jsonl") as f:
            f.write(json.dumps({"seen": bk.seen, "by_source": by_source}, sort_keys=True) + "\n")
            for priority, rec in bk.items():
                f.write(json.dumps({"priority": priority, **rec}, ensure_ascii=False, sort_keys=True) + "\n")
        yield from ()


def read_candidates(folder: Path) -> tuple[list[list[tuple[int, dict[str, Any]]]], int, dict[str, int]]:
    parts, seen, by_source = [], 0, {}
    for f in sorted(folder.glob("*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            seen += header["seen"]
            for s, n in header["by_source"].items():
                by_source[s] = by_source.get(s, 0) + n
            parts.append([(rec.pop("priority"), rec) for rec in map(json.loads, fh)])
    return parts, seen, dict(sorted(by_source.items()))


class AnnotateSample(PipelineStep):
    """One task: merge the tasks' candidates into the sample, annotate it, write the labels file."""

    type = "🏷 - ANNOTATOR"
    name = "annotate sample"

    def __init__(
        self,
        work: str | Path,
        labels: str | Path,
        k: int,
        seed: int,
        annotator: AnnotatorSpec,
        plan: str | Path,
        corpus: dict[str, Any],
        progress: bool = True,
    ) -> None:
        super().__init__()
        self.work, self.labels, self.k, self.seed = str(work), str(labels), k, seed
        self.annotator, self.plan, self.corpus, self.progress = annotator, str(plan), corpus, progress

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        work = Path(self.work)
        parts, seen, by_source = read_candidates(work / "candidates")
        header = read_plan_header(self.plan)
        for name, info in header["sources"].items():
            if not by_source.get(name):
                raise EmptySourceError(
                    f"{info['path']}: no documents: looked for {info['what']}; {skipped_for(work / 'skipped', name)}"
                )
        # Which files: the k smallest priorities. In what order: the corpus's, so a sample of the whole
        # corpus lists the files as the corpus does, wherever it lies on disk.
        chosen = sorted((r for _, r in merge_bottom_k(parts, self.k)), key=lambda r: r["at"])
        sample = [Document(r["text"], r["source"], r["path"], r["meta"]) for r in chosen]
        annotator = self.annotator.build()
        labels = annotator.annotate(sample, progress=self.progress)
        metadata = {
            "sample": {
                "method": METHOD,
                "seed": self.seed,
                "size": len(sample),
                "requested": self.k if self.k < sys.maxsize else None,
                "corpus_size": seen,
                "corpus_by_source": by_source,
                "corpus": self.corpus,
                "plan": header["fingerprint"],
            },
            "annotator": {
                "name": annotator.name,
                "prompt_version": annotator.prompt_version,
                "model": annotator.model,
            },
        }
        client = getattr(annotator, "client", None)
        if client is not None:
            metadata["usage"] = client.usage.to_dict()
        write_labels(labels, self.labels, metadata)
        self.stat_update("annotated", value=len(labels))
        yield from ()


def annotate_corpus(
    sources: Sequence[str | SourceSpec],
    labels_path: str | Path,
    sample_size: int | None = 2000,
    seed: int = 0,
    annotator: AnnotatorSpec | None = None,
    executor: ExecutorConfig | None = None,
    text_field: str | None = None,
    max_documents: int | None = None,
    shard_size: int = 256,
    offline: dict[str, Any] | None = None,
    work_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Label a uniform sample of `sample_size` documents of the whole corpus (None: all); returns a summary.

    The pipeline's files live in `work_dir` (default: `<labels>.pipeline/` next to the labels).
    """
    if sample_size is not None and sample_size < 1:
        raise ValueError(f"sample_size must be >= 1, got {sample_size}")
    k = sample_size or sys.maxsize
    labels_path = Path(labels_path)
    annotator = annotator or AnnotatorSpec()
    executor = executor or ExecutorConfig()
    offline = dict(offline or {})
    work = Path(work_dir) if work_dir else labels_path.with_name(labels_path.name + ".pipeline")
    plan, plan_path = plan_job(work, sources, text_field, shard_size, max_documents, offline)
    corpus = corpus_description(sources, text_field, max_documents, offline)
    run = {"corpus": corpus, "plan": plan.fingerprint, "shard_size": shard_size, "tasks": executor.tasks}
    check_run(work, run)
    sample_key = {**run, "sample_size": sample_size, "seed": seed}
    stages = [
        Stage(
            "sample",
            [
                UnitReader(plan_path, work / "parts" / "skipped", progress),
                SampleCandidates(work / "parts" / "candidates", k, seed),
            ],
            executor.tasks,
            outputs=[work / "parts" / "candidates"],
            key=sample_key,
        ),
        Stage(
            "annotate",
            [
                AnnotateSample(
                    work / "parts", labels_path, sample_size, seed, annotator, plan_path, corpus, progress
                )
            ],
            1,
            outputs=[labels_path],
            key={**sample_key, "annotator": annotator.describe(), "labels": str(labels_path)},
        ),
    ]
    for stage in stages:
        prepare_stage(work / "logs", stage)
    result = run_stages(stages, executor, work / "logs")
    return {"labels": str(labels_path), "work": str(work), "pipeline": result}
