"""Near-duplicate removal over a whole corpus with datatrove's MinHash stages (code-aware shingles).

    signatures  N tasks          read units -> MinHash signatures per bucket (datatrove stage 1)
    buckets     num_buckets      matching signatures -> duplicate pairs (stage 2)
    clusters    1 task           union-find over the pairs -> which documents to remove (stage 3)
    filter      N tasks          read the units again; keep or remove, with the exclusion writer (stage 4)
    report      1 task           kept.jsonl and removed.jsonl in corpus order; each removed file names
                                 the kept file of its cluster; manifest.json

Shingles are n-grams of code tokens (identifiers, numbers, keywords) after datatrove's text
normalisation, not of English words, so two copies of a file that differ in a few names or
comments are caught, and 5-gram windows still tell two different functions apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import Document as DTDocument
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from phi_lab.data.sources import SourceSpec
from phi_lab.io import atomic_write_json
from phi_lab.pipelines.executors import ExecutorConfig, Stage, prepare_stage, run_stages
from phi_lab.pipelines.jobs import check_run, corpus_description, plan_job
from phi_lab.pipelines.steps import UnitReader, document_record, merge_parts, merge_skips, part_writer

CODE_TOKEN = re.compile(r"\w+")


def default_minhash_config() -> MinhashConfig:
    """datatrove's defaults (5-grams, 14 buckets x 8 hashes), hashing shingles with SHA-1: its xxhash
    path passes str to xxhash, which xxhash 4 refuses ("Strings must be encoded before hashing")."""
    return MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="sha1"))


class CodeWordTokenizer(WordTokenizer):
    """Words of code: runs of letters, digits and underscores (datatrove's English tokenizers split
    on sentences and drop what does not look like prose)."""

    def __init__(self) -> None:
        super().__init__("code")

    def word_tokenize(self, text: str) -> list[str]:
        return CODE_TOKEN.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"[^\n]+", text)]


def dedup_record(self, doc: DTDocument) -> dict[str, Any]:
    """Writer adapter: the document record plus its (task, index in task), which the cluster files name."""
    return {
        **document_record(self, doc),
        "task": doc.metadata["task"],
        "task_index": doc.metadata["task_index"],
    }


def read_clusters(folder: Path) -> dict[tuple[int, int], int]:
    """(task, index in task) -> cluster id, from datatrove's `<task>.clusters` files (pairs of uint32)."""
    out: dict[tuple[int, int], int] = {}
    for f in sorted(folder.glob("*.clusters")):
        task = int(f.name.split(".")[0])
        pairs = np.fromfile(f, dtype="<u4").reshape(-1, 2)
        out.update({(task, int(i)): int(c) for i, c in pairs})
    return out


class DedupReport(PipelineStep):
    """One task: merged kept/removed files (each removed file with the kept file of its cluster)."""

    type = "💽 - WRITER"
    name = "dedup report"

    def __init__(self, out: str | Path, manifest: dict[str, Any]) -> None:
        super().__init__()
        self.out, self.manifest = str(out), manifest

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = Path(self.out)
        parts = out / "parts"
        cluster_of = read_clusters(parts / "minhash" / "remove")
        kept_of: dict[int, str] = {}
        for part in sorted((parts / "kept").glob("*.jsonl")):
            with open(part, encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    cid = cluster_of.get((rec["task"], rec["task_index"]))
                    if cid is not None:
                        kept_of[cid] = rec["path"]

        def cluster(rec: dict[str, Any]) -> dict[str, Any]:
            # The task split is not part of the result: drop where the record sat in its task.
            rec["minhash_cluster"] = cluster_of.get((rec.pop("task"), rec.pop("task_index")), -1)
            return rec

        def explain(rec: dict[str, Any]) -> dict[str, Any]:
            rec = cluster(rec)
            rec["duplicate_of"] = kept_of.get(rec["minhash_cluster"])
            rec["reason"] = (
                f"near-duplicate (MinHash cluster {rec['minhash_cluster']}) of {rec['duplicate_of']}"
            )
            return rec

        n_kept = merge_parts(parts / "kept", out / "kept.jsonl", cluster)
        n_removed = merge_parts(parts / "removed", out / "removed.jsonl", explain)
        manifest = {
            **self.manifest,
            "n_documents": n_kept + n_removed,
            "n_kept": n_kept,
            "n_removed": n_removed,
            "clusters": len(kept_of),
            "skipped": merge_skips(parts / "skipped", out / "skipped.jsonl"),
        }
        atomic_write_json(out / "manifest.json", manifest, sort_keys=True)
        yield from ()


def minhash_dedup(
    sources: Sequence[str | SourceSpec],
    out: str | Path,
    executor: ExecutorConfig | None = None,
    config: MinhashConfig | None = None,
    text_field: str | None = None,
    max_documents: int | None = None,
    shard_size: int = 256,
    offline: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Remove near-duplicates from the corpus; returns manifest.json's content (or what was queued)."""
    out = Path(out)
    executor = executor or ExecutorConfig()
    config = config or default_minhash_config()
    offline = dict(offline or {})
    plan, plan_path = plan_job(out, sources, text_field, shard_size, max_documents, offline)
    corpus = corpus_description(sources, text_field, max_documents, offline)
    minhash = {
        "hash": str(config.hash_config),
        "n_grams": config.n_grams,
        "buckets": config.num_buckets,
        "hashes_per_bucket": config.hashes_per_bucket,
        "seed": config.seed,
    }
    run = {
        "corpus": corpus,
        "plan": plan.fingerprint,
        "shard_size": shard_size,
        "tasks": executor.tasks,
        "minhash": minhash,
    }
    check_run(out, run)
    parts, mh = out / "parts", out / "parts" / "minhash"
    manifest = {"corpus": corpus, "minhash": minhash, "n_units": len(plan.units), "plan": plan.fingerprint}
    stages = [
        Stage(
            "signatures",
            [
                UnitReader(plan_path, parts / "skipped", progress),
                MinhashDedupSignature(str(mh / "signatures"), config=config, language=CodeWordTokenizer()),
            ],
            executor.tasks,
            key=run,
        ),
        Stage(
            "buckets",
            [MinhashDedupBuckets(str(mh / "signatures"), str(mh / "buckets"), config=config)],
            config.num_buckets,
            key=run,
        ),
        Stage(
            "clusters",
            [
                MinhashDedupCluster(
                    str(mh / "buckets"), str(mh / "remove"), config=config, save_cluster_id=True
                )
            ],
            1,
            key=run,
        ),
        Stage(
            "filter",
            [
                UnitReader(plan_path, None, progress),
                MinhashDedupFilter(
                    str(mh / "remove"), exclusion_writer=part_writer(parts / "removed", dedup_record)
                ),
                part_writer(parts / "kept", dedup_record),
            ],
            executor.tasks,
            key=run,
        ),
        Stage("report", [DedupReport(out, manifest)], 1, key=run),
    ]
    for stage in stages:
        prepare_stage(out / "logs", stage, reset=False)
    result = run_stages(stages, executor, out / "logs")
    if result["submitted"]:
        return {"submitted": result, "out": str(out)}
    return {**json.loads((out / "manifest.json").read_text()), "pipeline": result}
