"""The §2.1 recipe as three typed steps: `annotate_corpus`, `fit_filter`, `apply_filter`.

`phi-lab filter annotate|fit|apply` and notebook 01 call these. A `CorpusSpec` names the documents
(the same spec reaches the annotator and the filter, and is recorded so a resumed filter run can
refuse a changed corpus).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.data.documents import Document

ANNOTATORS = ("heuristic", "openai")
EMBED_DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_THRESHOLDS = {"heuristic": 0.65, "openai": 0.5}  # score at which a file counts as educational


@dataclass(frozen=True)
class CorpusSpec:
    """Which documents: 'offline' (stdlib + site-packages), directories of .py, .jsonl or .parquet files."""

    specs: list[str] = field(default_factory=lambda: ["offline"])
    max_documents: int | None = None
    seed: int = 0  # order of the offline corpus
    max_file_bytes: int | None = None  # offline corpus: skip larger files (default 1 MB)

    def documents(self) -> Iterator[Document]:
        from phi_lab.data.sources import iter_corpus

        return iter(iter_corpus(list(self.specs), self.max_documents, self.seed, self.max_file_bytes))

    def offline_options(self) -> dict[str, Any]:
        """Options of the offline corpus (order seed, file size cap) for the corpus plan."""
        return {"seed": self.seed, **({"max_file_bytes": self.max_file_bytes} if self.max_file_bytes else {})}

    def to_json(self) -> str:
        # key order is part of the record a resumed filter run compares against: keep it
        return json.dumps(
            {
                "specs": list(self.specs),
                "max_documents": self.max_documents,
                "seed": self.seed,
                "max_file_bytes": self.max_file_bytes,
            }
        )


def _embedder(spec: str, device: str, dtype: str | None):
    """Only non-default options, so the default MiniLM stays the shared, already-loaded instance."""
    from phi_lab.filtering.hashing_embedder import parse_hashing_spec
    from phi_lab.model.embeddings import get_embedder

    hashing = parse_hashing_spec(spec)  # 'hashing[:DIM]': model-free, as apply's pipeline accepts too
    if hashing is not None:
        return hashing
    if dtype is not None and dtype not in EMBED_DTYPES:
        raise ValueError(f"unknown embedder dtype {dtype!r}; choose from {', '.join(EMBED_DTYPES)}")
    kw: dict[str, Any] = {}
    if device != "cpu":
        kw["device"] = device
    if dtype not in (None, "float32"):
        kw["dtype"] = dtype
    return get_embedder(spec, **kw)


def annotate_corpus(
    corpus: CorpusSpec,
    out: str | Path,
    *,
    annotator: str = "heuristic",
    threshold: float | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_concurrency: int = 8,
    progress: bool = True,
    executor: Any = None,
    text_field: str | None = None,
) -> dict[str, Any]:
    """Label a seeded uniform sample of `corpus` (`max_documents` files, drawn from all of it; every file
    when None) with its educational value; write the labels JSONL to `out`.

    The openai annotator asks `model` on an OpenAI-compatible API (key from `api_key_env`)."""
    from phi_lab.filtering.labels import read_labels, read_labels_metadata

    if annotator not in ANNOTATORS:
        raise ValueError(f"unknown annotator {annotator!r}; choose from {', '.join(ANNOTATORS)}")
    cut = threshold if threshold is not None else DEFAULT_THRESHOLDS[annotator]
    if annotator == "heuristic":
        from phi_lab.filtering.heuristic import HeuristicAnnotator

        ann: Any = HeuristicAnnotator(threshold=cut)
    else:
        from phi_lab.filtering.llm_annotator import OpenAIAnnotator
        from phi_lab.llm.client import LLMConfig

        if not model:
            raise ValueError("the openai annotator needs a model (--model)")
        cfg = LLMConfig(
            model=model, base_url=base_url, api_key_env=api_key_env, max_concurrency=max_concurrency
        )
        ann = OpenAIAnnotator(cfg, threshold=cut)
    # A seeded uniform sample of the whole corpus (max_documents files; all of them when None), drawn
    # and annotated by datatrove tasks; the labels file's header records the sample.
    from phi_lab.pipelines.annotate import AnnotatorSpec
    from phi_lab.pipelines.annotate import annotate_corpus as annotate_sample

    llm = getattr(getattr(ann, "client", None), "config", None)
    spec = AnnotatorSpec(annotator, cut, llm)
    offline = corpus.offline_options()
    annotate_sample(
        list(corpus.specs),
        out,
        corpus.max_documents,
        corpus.seed,
        spec,
        executor,
        text_field,
        offline=offline,
        progress=progress,
    )
    labels = list(read_labels(out))
    ok = [lab for lab in labels if lab.ok]
    summary: dict[str, Any] = {
        "out": str(out),
        "annotator": ann.name,
        "prompt_version": ann.prompt_version,
        "model": ann.model,
        "n": len(labels),
        "failed": len(labels) - len(ok),
        "positive_rate": sum(lab.label for lab in ok) / len(ok) if ok else None,
    }
    meta = read_labels_metadata(out)
    summary["sample"] = meta.get("sample")
    if "usage" in meta:  # the annotating task's API usage
        summary["usage"] = meta["usage"]
    return summary


def fit_filter(
    labels: str | Path,
    out: str | Path,
    *,
    embedder: str = "minilm",
    device: str = "cpu",
    dtype: str | None = None,
    n_estimators: int = 300,
    test_fraction: float = 0.2,
    threshold: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the random forest on embeddings of the labelled files; save it to `out`.

    Returns {out, embedder, heldout metrics}. Labels must come from one annotator (one prompt)."""
    import numpy as np

    from phi_lab.filtering.classifier import ClassifierConfig, fit_classifier
    from phi_lab.filtering.embed_cache import embed_with_cache
    from phi_lab.filtering.labels import read_labels

    out = Path(out)
    rows = list(read_labels(labels))
    usable = [lab for lab in rows if lab.ok and lab.text is not None]
    if len(usable) < len(rows):
        print(f"skipping {len(rows) - len(usable)} labels without a verdict or text", file=sys.stderr)
    provenance = {(lab.annotator, lab.prompt_version, lab.model) for lab in usable}
    if len(provenance) != 1:
        raise ValueError(
            f"{labels}: labels come from {len(provenance)} annotators {sorted(provenance)}; train on one"
        )
    name, version, model = provenance.pop()
    dtype = dtype or "float32"
    emb = _embedder(embedder, device, dtype)
    texts = [lab.text for lab in usable]
    X = embed_with_cache(emb, texts, [lab.sha256 for lab in usable], out / "embeddings.npz")  # type: ignore[arg-type]
    y = np.array([lab.label for lab in usable])
    cfg = ClassifierConfig(
        n_estimators=n_estimators, test_fraction=test_fraction, threshold=threshold, seed=seed
    )
    annotator = {"name": name, "prompt_version": version, "model": model}
    clf = fit_classifier(X, y, emb.name, annotator, cfg, keys=[lab.sha256 for lab in usable])
    clf.extra.update({"embedder_spec": embedder, "embedder_dtype": dtype, "labels": str(labels)})
    clf.save(out)
    return {"out": str(out), "embedder": emb.name, "heldout": clf.metrics}


def apply_filter(
    corpus: CorpusSpec,
    classifier: str | Path,
    out: str | Path,
    *,
    embedder: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    threshold: float | None = None,
    keep_fraction: float | None = None,
    shard_size: int = 256,
    batch_size: int = 32,
    progress: bool = True,
    executor: Any = None,
    text_field: str | None = None,
) -> dict[str, Any]:
    """Score `corpus` with datatrove tasks (`executor`: a `phi_lab.pipelines.ExecutorConfig`, default
    one local task) and write kept.jsonl / dropped.jsonl / histograms.png / manifest.json into `out`;
    returns the manifest. The embedder is the classifier's unless given. Rerun to resume."""
    from phi_lab.filtering.corpus_filter import FilterConfig
    from phi_lab.pipelines import filter_corpus

    if dtype is not None and dtype not in EMBED_DTYPES:
        raise ValueError(f"unknown embedder dtype {dtype!r}; choose from {', '.join(EMBED_DTYPES)}")
    cfg = FilterConfig(
        shard_size=shard_size, threshold=threshold, keep_fraction=keep_fraction, batch_size=batch_size
    )
    return filter_corpus(
        list(corpus.specs),
        classifier,
        out,
        cfg,
        executor,
        embedder=embedder,
        device=device,
        dtype=dtype,
        text_field=text_field,
        max_documents=corpus.max_documents,
        offline=corpus.offline_options(),
        progress=progress,
    )
