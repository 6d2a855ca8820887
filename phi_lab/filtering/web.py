"""phi-1.5's filtered web data: phi-1's educational-value filter applied to natural-language text.

The recipe is phi-1's (§2.1): annotate a seeded sample for educational value, fit the random forest
on embeddings of the sample, apply it to the whole corpus. Only the annotator changes, because the
question changes from "does this file teach basic coding?" to "does this page teach a general
reader something?":

- `ProseAnnotator`, the offline rubric (a stand-in for the LLM, like `HeuristicAnnotator` for code):
  four criteria in [0, 1], each giving its reason: (1) prose rather than markup, links, tables or
  code; (2) explanation: definitions, causes and examples ("because", "for example", "is a", ...);
  (3) substance: enough complete sentences of readable length and varied vocabulary; (4) general
  rather than boilerplate (licences, changelogs, install commands, API listings).
- `OpenAIProseAnnotator`: the same question asked of an LLM (at scale), parsed like phi-1's labels.

`filter_web` runs annotate -> fit -> apply with the shared steps of `filtering.run`, so kept and
dropped documents, reasons, histograms and resume behave as for code.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi_lab.data.documents import Document, write_documents
from phi_lab.filtering.labels import Label, write_labels
from phi_lab.filtering.llm_annotator import OpenAIAnnotator

PROSE_PROMPT_VERSION = "web-prose-heuristic-v1"
LLM_PROMPT_VERSION = "web-edu-value-v1"
WEB_SYSTEM = "You are an experienced teacher who chooses reading material for a general-knowledge course."
WEB_TEMPLATE = """Here is a web page{truncated}.

<<<
{code}
>>>

Determine its educational value for a student whose goal is to learn general knowledge and common
sense reasoning. Consider whether it is clear prose rather than navigation, markup or boilerplate,
whether it explains (definitions, causes, examples) rather than lists, whether it has substance, and
whether it is of general interest rather than tied to one product or narrow use.

Answer with a JSON object only: {{"score": <integer 0-10, 10 = most educational>, "reason": "<one sentence>"}}"""

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SENTENCE = re.compile(r"[^.!?]+[.!?](?=\s|$)")
_MARKUP = re.compile(
    r"https?://\S+|\[!\[|!\[|<[a-zA-Z/][^>]*>|^\s*\|.*\|\s*$|^```|^\s*[-=*#]{3,}\s*$|^\.\. \w+::", re.M
)
_CODE_LINE = re.compile(r"^(    |\t|>>> |\$ )|[{};]\s*$|\b(def|import|return|class)\b.*[:(]", re.M)
EXPLAIN_CUES = (
    "because",
    "for example",
    "for instance",
    "such as",
    "that is",
    "in other words",
    "means",
    "therefore",
    "so that",
    "which is",
    "is a",
    "is an",
    "are a",
    "is the",
    "when",
    "if you",
    "this is why",
    "as a result",
    "called",
)
BOILERPLATE_CUES = (
    "copyright",
    "license",
    "licence",
    "warranty",
    "liability",
    "all rights reserved",
    "pip install",
    "changelog",
    "release notes",
    "deprecated",
    "bug fix",
    "pull request",
    "contributors",
    "badge",
)
_VERSION = re.compile(r"\bv?\d+\.\d+(\.\d+)+\b|\b(19|20)\d\d-\d\d-\d\d\b")
_SYMBOL = re.compile(r"`[^`]+`|\b\w+\.\w+\(|\b[a-z]+_[a-z_]+\b|\b[A-Z][a-z]+[A-Z]\w*\b")


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


@dataclass(frozen=True)
class Criterion:
    name: str
    score: float
    reason: str


def prose(text: str) -> Criterion:
    lines = [ln for ln in text.splitlines() if ln.strip()] or [""]
    markup = len(_MARKUP.findall(text))
    code = len(_CODE_LINE.findall(text))
    words = _WORD.findall(text)
    alpha = sum(len(w) for w in words) / max(1, len(re.sub(r"\s", "", text)))
    noise = (markup + code) / len(lines)
    score = _clip(1.4 * alpha - 0.2) * _clip(1.0 - noise)
    return Criterion(
        "prose", score, f"{alpha:.0%} of characters in words; {markup} markup/link and {code} code lines"
    )


def explanation(text: str) -> Criterion:
    low = " " + re.sub(r"\s+", " ", text.lower()) + " "
    n_words = max(1, len(_WORD.findall(text)))
    cues = sum(low.count(f" {c} ") for c in EXPLAIN_CUES)
    per100 = 100 * cues / n_words
    return Criterion("explains", _clip(per100 / 4.0), f"{per100:.1f} explanatory cues per 100 words")


def substance(text: str) -> Criterion:
    sentences = [s for s in _SENTENCE.findall(text) if len(_WORD.findall(s)) >= 4]
    words = [w.lower() for w in _WORD.findall(text)]
    if not sentences or not words:
        return Criterion("substance", 0.0, "no complete sentences")
    mean_len = sum(len(_WORD.findall(s)) for s in sentences) / len(sentences)
    variety = len(set(words)) / len(words) ** 0.75  # type/token, length-corrected
    readable = 1.0 if 8 <= mean_len <= 32 else 0.5
    score = _clip(len(sentences) / 8) * readable * _clip(variety / 2.5)
    return Criterion("substance", score, f"{len(sentences)} sentences of {mean_len:.0f} words on average")


def general(text: str) -> Criterion:
    low = text.lower()
    n_words = max(1, len(_WORD.findall(text)))
    hits = Counter(c for c in BOILERPLATE_CUES if c in low)
    versions = len(_VERSION.findall(text))
    symbols = len(_SYMBOL.findall(text))
    penalty = 0.25 * len(hits) + 40 * (versions + 0.5 * symbols) / n_words
    found = ", ".join(sorted(hits)) or "none"
    return Criterion(
        "general",
        _clip(1.0 - penalty),
        f"boilerplate cues: {found}; {versions} version numbers/dates, {symbols} API symbols",
    )


class ProseAnnotator:
    """Offline educational-value labels for natural-language text (the four criteria above)."""

    name = "prose-heuristic"
    prompt_version = PROSE_PROMPT_VERSION
    model = "rubric"

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold

    def criteria(self, text: str) -> list[Criterion]:
        return [prose(text), explanation(text), substance(text), general(text)]

    def score(self, text: str) -> tuple[float, list[str]]:
        crit = self.criteria(text)
        return round(sum(c.score for c in crit) / len(crit), 4), [
            f"{c.name} {c.score:.2f}: {c.reason}" for c in crit
        ]

    def annotate_one(self, doc: Document) -> Label:
        score, reasons = self.score(doc.text)
        return Label(
            path=doc.path,
            source=doc.source,
            sha256=doc.sha256,
            score=score,
            label=int(score >= self.threshold),
            reasons=reasons,
            annotator=self.name,
            prompt_version=self.prompt_version,
            model=self.model,
            meta={"threshold": self.threshold, **{k: v for k, v in doc.meta.items() if k == "stand_in"}},
            text=doc.text,
        )

    def annotate(self, docs: list[Document], progress: bool = False) -> list[Label]:
        from tqdm.auto import tqdm

        return [self.annotate_one(d) for d in tqdm(docs, desc="annotate", unit="doc", disable=not progress)]


class OpenAIProseAnnotator(OpenAIAnnotator):
    """phi-1's LLM annotator asking the natural-language question (the prompt above)."""

    prompt_version = LLM_PROMPT_VERSION

    def messages(self, doc: Document) -> list[dict[str, str]]:
        text, truncated = doc.text, ""
        if len(text) > self.max_chars:
            truncated = f" (only its first {self.max_chars} of {len(text)} characters are shown)"
            text = text[: self.max_chars]
        return [
            {"role": "system", "content": WEB_SYSTEM},
            {"role": "user", "content": WEB_TEMPLATE.format(code=text, truncated=truncated)},
        ]


def filter_web(
    docs: Iterable[Document],
    out: str | Path,
    *,
    annotator: Any = None,
    n_annotate: int = 200,
    embedder: str = "minilm",
    n_estimators: int = 100,
    keep_fraction: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Annotate a seeded sample of `docs`, fit the classifier, filter all of `docs`; returns a summary.

    Writes into `out`: web.jsonl (the corpus as read), labels.jsonl, classifier/, filtered/ (kept.jsonl,
    dropped.jsonl with reasons, histograms.png, manifest.json; `filtering.run.apply_filter`)."""
    from phi_lab.filtering.run import CorpusSpec, apply_filter, fit_filter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = list(docs)
    if len(corpus) < 10:
        raise ValueError(f"filter_web needs at least 10 documents to fit a classifier, got {len(corpus)}")
    web_path = out / "web.jsonl"
    write_documents(corpus, web_path)
    annotator = annotator or ProseAnnotator()
    sample = random.Random(seed).sample(corpus, min(n_annotate, len(corpus)))
    labels = annotator.annotate(sample, progress=progress)
    ok = [lab for lab in labels if lab.ok]
    if len({lab.label for lab in ok}) < 2:
        raise ValueError(
            f"the {len(ok)} annotated documents all got the same label: the classifier needs both "
            "(annotate more documents or change the annotator's threshold)"
        )
    sample_meta = {"method": "seeded uniform sample", "seed": seed, "n": len(sample), "of": len(corpus)}
    labels_path = write_labels(labels, out / "labels.jsonl", metadata={"sample": sample_meta})
    fit = fit_filter(labels_path, out / "classifier", embedder=embedder, n_estimators=n_estimators, seed=seed)
    manifest = apply_filter(
        CorpusSpec([str(web_path)]),
        out / "classifier",
        out / "filtered",
        keep_fraction=keep_fraction,
        progress=progress,
        text_field="text",
    )
    return {
        "out": str(out),
        "documents": len(corpus),
        "stand_in": sum(bool(d.meta.get("stand_in")) for d in corpus),
        "annotator": {"name": annotator.name, "prompt_version": annotator.prompt_version},
        "annotated": len(labels),
        "positive_rate": sum(lab.label for lab in ok) / len(ok),
        "classifier": fit,
        "filter": manifest,
    }
