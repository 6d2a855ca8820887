"""phi-1.5's prompt formats for base models as a probe set: text probes end at their format's stops,
get text verdicts (answers, on topic) instead of code ones, and show in the static report and widget."""

from __future__ import annotations

import json

import pytest

from phi_lab.model.generation import Completion
from phi_lab.probes import checks
from phi_lab.probes.compare import (
    CompletionCache,
    DecodingConfig,
    compare,
    default_sandbox,
    evaluate,
    load_models,
)
from phi_lab.probes.probeset import FORMAT_STOPS, PROMPT_FORMATS, Probe, load_probes, prompt_formats_path
from phi_lab.probes.report import render_html

FORMATS = load_probes(prompt_formats_path())


def test_the_set_covers_every_format_and_its_code_references_pass():
    assert {p.format for p in FORMATS} == set(PROMPT_FORMATS)
    assert {p.category for p in FORMATS} == {"prompt-format"}
    chat = [p for p in FORMATS if p.format == "chat"]
    assert chat and all(p.prompt.rstrip().endswith("Bob:") and "Alice:" in p.prompt for p in chat)
    assert all(p.prompt.rstrip().endswith("Answer:") for p in FORMATS if p.format == "qa")
    code = [p for p in FORMATS if not p.is_text]
    results = default_sandbox(timeout=20).run_many([checks.test_job(p, p.reference) for p in code])
    assert all(r.passed for r in results), [r.detail for r in results]
    with pytest.raises(ValueError, match="has no apis"):
        Probe(id="x", prompt="Alice: hi\nBob:", format="chat", test="assert True")
    with pytest.raises(ValueError, match="format must be one of"):
        Probe(id="x", prompt="hi", format="poem")


def test_text_verdicts():
    p = next(p for p in FORMATS if p.id == "fmt-qa-arithmetic")
    assert checks.text_report(p, " She has ten apples left.").on_topic is True
    assert checks.text_report(p, " She has 100 apples.") == checks.TextReport(True, False, ["10|ten"])
    assert checks.text_report(p, " 10").answers is False


def test_text_probes_end_at_their_formats_stops_and_are_scored(tmp_path, tiny_model_dir):
    models = load_models([tiny_model_dir], names=["tiny"])
    chat = next(p for p in FORMATS if p.format == "chat")
    code = next(p for p in FORMATS if not p.is_text)
    cmp = compare(
        models, [chat, code], DecodingConfig(max_new_tokens=24), cache=CompletionCache(tmp_path / "c.jsonl")
    )
    text_result, code_result = cmp.result("tiny", chat.id), cmp.result("tiny", code.id)
    assert not any(s in text_result.completion for s in FORMAT_STOPS["chat"])
    assert text_result.parses is None and text_result.runs is None and text_result.answers is not None
    assert code_result.parses is not None and code_result.answers is None
    (score,) = cmp.scores()
    assert (score.n, score.parse_n, score.answer_n, score.topic_n) == (2, 1, 1, 1)
    rows = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert len({r["key"] for r in rows}) == 2  # a text probe's cache key carries its format's stops
    html = render_html(cmp)
    assert "answers:" in html and "on topic" in html and "format: chat" in html and "parses:" in html


def test_verdicts_for_given_completions():
    from phi_lab.probes.compare import ProbeResult

    qa = next(p for p in FORMATS if p.id == "fmt-qa-seasons")
    results = evaluate(
        [qa],
        {"m": [Completion(" The sun is lower in the sky in winter.", 10, False, 0.0)]},
        sandbox=default_sandbox(5),
    )
    r: ProbeResult = results[("m", qa.id)]
    assert (r.answers, r.on_topic, r.parses, r.passes) == (True, True, None, None)
