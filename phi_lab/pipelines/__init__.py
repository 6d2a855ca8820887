"""Corpus-wide stages as datatrove pipelines, run by a local, Slurm or Ray executor (paper §2.1 at scale).

phi-1 filtered 35M files of The Stack + StackOverflow; every stage that touches the whole corpus runs
here as datatrove pipelines whose tasks each read a share of the corpus plan (`phi_lab.data.units`).

Public API
----------
ExecutorConfig(kind='local'|'slurm'|'ray', tasks, workers, partition, time, gpus_per_task, ray_address, ...)
filter_corpus(sources, classifier_dir, out, FilterConfig, ExecutorConfig, embedder, device, dtype, ...)
    score -> threshold -> verdicts -> report: kept.jsonl, dropped.jsonl (reasons), histograms.png, manifest.json
annotate_corpus(sources, labels_path, sample_size, seed, AnnotatorSpec, ExecutorConfig, ...)
    a seeded uniform sample of the whole corpus, annotated; the sample recorded in the labels' header
minhash_dedup(sources, out, ExecutorConfig, MinhashConfig, ...)
    datatrove's four MinHash stages; deduplicated kept.jsonl and removed.jsonl naming each duplicate's kept copy
"""

from phi_lab.pipelines.executors import EXECUTORS, ExecutorConfig, Stage, run_stages
from phi_lab.pipelines.jobs import filter_corpus

__all__ = ["EXECUTORS", "ExecutorConfig", "Stage", "filter_corpus", "run_stages"]
