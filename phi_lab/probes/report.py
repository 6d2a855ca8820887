"""The comparison as HTML: a static self-contained page (papermill runs, browsers) and a fragment
for notebooks and the explorer widget, from the templates in phi_lab/reporting/templates.

Completions are hostile input: every value goes through jinja2's autoescape after
`phi_lab.reporting.html.xml_clean` (control characters, lone surrogates), so a completion holding
`<script>` shows as text. The page has no scripts, no external resources, and is XHTML-compatible,
so it can be checked with an XML parser. It reads the same inside JupyterLab as standalone (see
`phi_lab.reporting.html`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from phi_lab.io import atomic_write_text
from phi_lab.probes.compare import Comparison, ProbeResult, Score, probe_seed
from phi_lab.probes.probeset import Probe
from phi_lab.reporting.html import HTMLFragment, environment, escape, fragment, page, render

text = escape  # safe text for element content and attribute values (kept for callers of this module)


def _macros() -> Any:
    return environment().get_template("probes.html.j2").module


def _rate(k: int, n: int, rate: float | None) -> str:
    return "n/a" if rate is None else f"{k}/{n} ({rate:.0%})"


def _score_rows(scores: list[Score]) -> dict[str, Any]:
    """The scores table: code columns, plus the text formats' columns when any probe is text."""
    text = any(s.answer_n for s in scores)
    code = any(s.parse_n for s in scores) or not text
    headers = ["model"]
    headers += ["parses", "runs", "right APIs", "passes test"] if code else []
    headers += ["answers", "on topic"] if text else []
    rows = []
    for s in scores:
        row = [s.model]
        if code:
            row += [
                _rate(s.parsed, s.parse_n, s.parse_rate),
                _rate(s.ran, s.run_n, s.run_rate),
                _rate(s.api, s.api_n, s.api_rate),
                _rate(s.passed, s.test_n, s.pass_rate),
            ]
        if text:
            row += [_rate(s.answered, s.answer_n, s.answer_rate), _rate(s.on_topic, s.topic_n, s.topic_rate)]
        rows.append(tuple(row))
    return {"headers": headers, "rows": rows}


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) per line of a unified diff: add / del / hunk, '' for context and headers."""
    out = []
    for line in diff.splitlines():
        cls = (
            "" if line.startswith(("+++", "---")) else {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        )
        out.append((cls, line))
    return out


def _notes(r: ProbeResult) -> list[str]:
    notes = ["prompt cut from the left to fit the context"] if r.prompt_truncated else []
    return notes + ([r.skipped] if r.skipped else [])


def _section(comparison: Comparison, probe: Probe, anchor: str = "") -> dict[str, Any]:
    models = comparison.models
    return {
        "anchor": anchor,
        "probe": probe,
        "seed": probe_seed(comparison.decoding.seed, probe.id),
        "models": models,
        "cells": [(r, _notes(r)) for r in (comparison.result(m, probe.id) for m in models)],
        "diffs": [
            {"a": models[0], "b": m, "lines": _diff_lines(comparison.diff(probe.id, models[0], m))}
            for m in models[1:]
        ],
    }


def scores_table(scores: list[Score]) -> Markup:
    return Markup(_macros().scores_table(_score_rows(scores)))


def diff_block(diff: str) -> Markup:
    return Markup(_macros().diff_block(_diff_lines(diff)))


def probe_section(comparison: Comparison, probe: Probe, anchor: str = "") -> Markup:
    """One probe: the prompt, each model's completion and verdicts in columns, diffs vs the first model."""
    return Markup(_macros().probe_section(_section(comparison, probe, anchor)))


def _body(comparison: Comparison, title: str, figure_png: bytes | None) -> Markup:
    d = comparison.decoding
    settings = (
        f"max_new_tokens={d.max_new_tokens}, temperature={d.temperature}, top_p={d.top_p}, seed={d.seed}, "
        f"stop strings={list(d.stop_strings)!r}"
    )
    return render(
        "comparison.html.j2",
        title=title,
        models=comparison.models,
        settings=settings,
        isolation=comparison.isolation or "unknown",
        scores=_score_rows(comparison.scores()),
        figure_png=figure_png,
        sections=[_section(comparison, p, f"probe-{i}") for i, p in enumerate(comparison.probes)],
    )


def render_html(
    comparison: Comparison, title: str = "phi-lab probe comparison", figure_png: bytes | None = None
) -> str:
    """The whole comparison as a standalone page (also fine shown whole in a notebook output)."""
    return page(_body(comparison, title, figure_png), title)


def render_fragment(
    comparison: Comparison, title: str = "phi-lab probe comparison", figure_png: bytes | None = None
) -> HTMLFragment:
    """The same content for embedding: `display(render_fragment(c))` in a notebook."""
    return fragment(_body(comparison, title, figure_png))


def results_fragment(comparison: Comparison) -> HTMLFragment:
    """Scores and each probe's columns, without the page's header: what the explorer widget shows."""
    sections = [probe_section(comparison, p) for p in comparison.probes]
    return fragment(scores_table(comparison.scores()) + Markup("").join(sections))


def write_html(comparison: Comparison, path: str | Path, **kwargs) -> Path:
    """Write the page atomically (a crash never leaves half a page)."""
    return atomic_write_text(path, render_html(comparison, **kwargs))
