"""Corpus jobs: plan the corpus, check the output directory, build the stages, run them.

Every job directory holds `run.json` (what was run: the corpus plan's fingerprint, the settings its
expensive outputs depend on, the number of tasks), `plan.jsonl`, `parts/` (per-task outputs),
`logs/<stage>/` (datatrove's completion markers, stats and task logs) and the merged results. The
same call on the same directory resumes: finished tasks are skipped. A call with other settings, or
on a corpus that changed since, is refused rather than mixing two runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from phi_lab.data.documents import SkipLog
from phi_lab.data.sources import SourceSpec
from phi_lab.data.units import Plan, plan_corpus, write_plan
from phi_lab.filtering.classifier import META_FILE
from phi_lab.filtering.corpus_filter import FilterConfig
from phi_lab.io import atomic_write_json
from phi_lab.model.embeddings import Embedder
from phi_lab.pipelines.edu_filter import filter_stages
from phi_lab.pipelines.embedders import EmbedderSpec
from phi_lab.pipelines.executors import ExecutorConfig, prepare_stage, run_stages


def corpus_description(
    sources: Sequence[str | SourceSpec],
    text_field: str | None,
    max_documents: int | None,
    offline: dict[str, Any],
) -> dict[str, Any]:
    return {
        "sources": [str(SourceSpec.parse(s)) for s in sources],
        "text_field": text_field,
        "max_documents": max_documents,
        "offline": {k: offline[k] for k in sorted(offline)},
    }


def plan_job(
    out: Path,
    sources: Sequence[str | SourceSpec],
    text_field: str | None,
    shard_size: int,
    max_documents: int | None,
    offline: dict[str, Any],
) -> tuple[Plan, Path]:
    """The corpus plan (made now, so a changed corpus shows), written once to out/plan.jsonl."""
    if not sources:
        raise ValueError("no corpus sources given")
    skips = SkipLog()
    plan = plan_corpus(sources, out / "parts", text_field, shard_size, max_documents, offline, skips)
    path = out / "plan.jsonl"
    if not path.exists():
        write_plan(plan, path)
    skips.write(out / "parts" / "skipped" / "plan.jsonl")  # e.g. duplicates dropped by the offline corpus
    return plan, path


def check_run(out: Path, run: dict[str, Any]) -> None:
    """Refuse to resume into a directory written with other settings (outputs would mix)."""
    path = out / "run.json"
    run = json.loads(json.dumps(run, sort_keys=True, default=str))
    if path.exists():
        old = json.loads(path.read_text())
        if json.dumps(old, sort_keys=True) != json.dumps(run, sort_keys=True):  # NaN-safe comparison
            diff = sorted(k for k in set(run) | set(old) if json.dumps(old.get(k)) != json.dumps(run.get(k)))
            why = " (the corpus changed)" if diff == ["plan"] else ""
            raise ValueError(
                f"{path}: this directory holds a run with different {diff}{why}; use a new --out"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, run, sort_keys=True)


def filter_corpus(
    sources: Sequence[str | SourceSpec],
    classifier_dir: str | Path,
    out: str | Path,
    config: FilterConfig | None = None,
    executor: ExecutorConfig | None = None,
    embedder: str | Embedder | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    text_field: str | None = None,
    max_documents: int | None = None,
    offline: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every document with the classifier and split the corpus into kept and dropped (§2.1).

    Returns manifest.json's content (local and Ray executors), or what was queued (Slurm; the
    outputs appear when the jobs finish). `offline` holds the offline corpus's options.
    """
    out, classifier_dir = Path(out), Path(classifier_dir)
    config = config or FilterConfig()
    executor = executor or ExecutorConfig()
    offline = dict(offline or {})
    meta_path = classifier_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{classifier_dir}: no {META_FILE}; is this a directory written by `phi-lab filter fit`?"
        )
    meta = json.loads(meta_path.read_text())
    spec = EmbedderSpec(
        embedder or meta.get("embedder_spec") or "minilm",
        device,
        dtype or meta.get("embedder_dtype") or "float32",
    )
    plan, plan_path = plan_job(out, sources, text_field, config.shard_size, max_documents, offline)
    corpus = corpus_description(sources, text_field, max_documents, offline)
    run = {
        "classifier": {k: meta.get(k) for k in ("embedder", "annotator", "metrics")},
        "embedder": spec.describe()["spec"],
        "embedder_dtype": spec.dtype,
        "shard_size": config.shard_size,
        "corpus": corpus,
        "plan": plan.fingerprint,
        "tasks": executor.tasks,
    }
    check_run(out, run)
    manifest = {
        "corpus": corpus,
        "embedder": meta["embedder"],
        "classifier_annotator": meta.get("annotator", {}),
        "config": asdict(config),
        "n_units": len(plan.units),
        "plan": plan.fingerprint,
    }
    stages = filter_stages(
        out,
        plan_path,
        classifier_dir,
        spec,
        config,
        executor.tasks,
        executor.threads_per_task(executor.tasks),
        manifest,
        score_key=run,
        progress=progress,
    )
    for stage in stages:
        prepare_stage(out / "logs", stage, reset=stage.name != "score")
    result = run_stages(stages, executor, out / "logs")
    if result["submitted"]:
        return {"submitted": result, "out": str(out)}
    return {**json.loads((out / "manifest.json").read_text()), "pipeline": result}
