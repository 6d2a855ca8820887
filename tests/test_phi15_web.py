"""phi-1.5's filtered web data: the offline stand-in corpus, the natural-language rubric, the LLM
annotator's prompt against a local fake server, and the whole annotate -> fit -> apply recipe."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI, last_user_message

from phi_lab.data.documents import Document
from phi_lab.data.web import OFFLINE_WEB, offline_web_corpus, web_corpus
from phi_lab.filtering.web import OpenAIProseAnnotator, ProseAnnotator, filter_web

LESSON = (
    "Water is a substance that covers most of the Earth. When water is heated, it evaporates, which "
    "means it turns into vapor and rises into the air. For example, a puddle disappears on a sunny day "
    "because the sun warms it. The vapor cools high in the sky and forms clouds. This is why rain "
    "falls: the droplets in a cloud join together until they are too heavy to float. In other words, "
    "the same water moves in a circle, called the water cycle, again and again."
)
CHANGELOG = (
    "## 2.3.1 (2024-05-02)\n\n* Fix `parse_args()` crash in [#1234](https://github.com/x/y/pull/1234) by "
    "[@dev](https://github.com/dev)\n* Bump `requests_toolbelt` to 1.0.2\n* Deprecated `Client.fetch_all` "
    "(use `Client.iter_all`)\n\nCopyright (c) 2024. Licensed under the MIT License. pip install x==2.3.1"
)


def test_offline_stand_in_is_marked_deduplicated_and_seeded():
    docs = list(offline_web_corpus())
    assert len(docs) > 100 and all(d.source == OFFLINE_WEB and d.meta["stand_in"] for d in docs)
    assert {d.meta["origin"] for d in docs} == {"pydoc-topics", "package-descriptions"}
    assert len({d.sha256 for d in docs}) == len(docs) and min(len(d.text) for d in docs) >= 200
    assert [d.path for d in offline_web_corpus(max_documents=20, seed=1)] == [
        d.path for d in offline_web_corpus(max_documents=20, seed=1)
    ]
    assert [d.path for d in offline_web_corpus(max_documents=20, seed=2)] != [
        d.path for d in offline_web_corpus(max_documents=20, seed=1)
    ]
    with pytest.raises(ValueError, match="unknown stand-in parts"):
        list(offline_web_corpus(parts=["the-web"]))


def test_web_corpus_reads_real_sources_with_their_text_field(tmp_path):
    path = tmp_path / "web.jsonl"
    path.write_text(
        "".join(json.dumps({"content": f"page {i} " * 40, "url": f"u{i}"}) + "\n" for i in range(3))
    )
    docs = list(web_corpus([str(path)], text_field="content"))
    assert [d.text for d in docs] == [f"page {i} " * 40 for i in range(3)]
    assert len(list(web_corpus([OFFLINE_WEB, str(path)], max_documents=5, text_field="content"))) == 5


def test_rubric_prefers_explanation_to_boilerplate():
    ann = ProseAnnotator(threshold=0.5)
    good, why_good = ann.score(LESSON)
    bad, why_bad = ann.score(CHANGELOG)
    assert good >= 0.5 > bad, (why_good, why_bad)
    assert any("explanatory cues" in r for r in why_good) and any("boilerplate cues" in r for r in why_bad)
    label = ann.annotate_one(Document(LESSON, "t", "lesson"))
    assert label.label == 1 and label.annotator == "prose-heuristic" and label.text == LESSON


def test_llm_annotator_asks_the_natural_language_question(tmp_path, monkeypatch):
    from phi_lab.llm.client import LLMConfig

    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(api_key="sk-web", reply=lambda b: '{"score": 8, "reason": "clear"}') as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-web")
        cfg = LLMConfig(
            model="fake", base_url=srv.base_url, cache_dir=tmp_path / "c", prices={"fake": (0, 0)}
        )
        labels = OpenAIProseAnnotator(cfg).annotate(
            [Document(LESSON, "t", "lesson"), Document(CHANGELOG, "t", "l")]
        )
        asked = next(m for m in map(last_user_message, srv.requests) if LESSON in m)
    assert [lab.score for lab in labels] == [0.8, 0.8] and labels[0].prompt_version == "web-edu-value-v1"
    assert "general knowledge" in asked and "web page" in asked and len(srv.requests) == 2


def test_filter_web_annotates_fits_and_keeps_reasons(tmp_path):
    docs = [Document(LESSON.replace("Water", f"Water ({i})"), "web", f"lesson-{i}") for i in range(15)]
    docs += [Document(CHANGELOG.replace("2.3.1", f"2.3.{i}"), "web", f"log-{i}") for i in range(15)]
    summary = filter_web(
        docs, tmp_path, n_annotate=20, embedder="hashing:64", n_estimators=20, progress=False
    )
    assert summary["documents"] == 30 and summary["annotated"] == 20
    kept = [json.loads(x) for x in (tmp_path / "filtered" / "kept.jsonl").read_text().splitlines()]
    dropped = [json.loads(x) for x in (tmp_path / "filtered" / "dropped.jsonl").read_text().splitlines()]
    assert len(kept) + len(dropped) == 30 and all(r["reason"] for r in kept + dropped)
    assert {r["text"].startswith("Water") for r in kept} == {True}  # the lessons survive, the logs do not
    assert len(kept) >= 10
    header = json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])
    assert header["sample"]["method"] == "seeded uniform sample" and header["sample"]["of"] == 30
    with pytest.raises(ValueError, match="same label"):
        filter_web(docs[:15], tmp_path / "one-sided", n_annotate=10, embedder="hashing:64", progress=False)
