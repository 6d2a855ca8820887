"""The comparison as one static, self-contained HTML page (papermill runs, browsers).

Completions are hostile input: every piece of text goes through `text()`, which removes what XML
cannot carry (control characters, lone surrogates) and escapes markup, so a completion holding
`<script>` shows as text. The page has no scripts, no external resources, and is XHTML-compatible
(every element closed, void elements self-closed), so it can be checked with an XML parser.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from phi_lab.io import atomic_write_text
from phi_lab.probes.compare import Comparison, Score, probe_seed
from phi_lab.probes.probeset import Probe

# Characters XML 1.0 forbids (C0 controls but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
table.side { width: 100%; table-layout: fixed; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; margin: 0.2em 0; }
.prompt { color: #555; }
.ok { color: #126b12; font-weight: bold; }
.bad { color: #b00020; font-weight: bold; }
.na { color: #777; }
.add { background: #e6ffec; display: block; }
.del { background: #ffebe9; display: block; }
.hunk { color: #6f42c1; display: block; }
section { border-top: 2px solid #ddd; margin-top: 1.2em; }
small { color: #666; }
"""


def text(s: object) -> str:
    """Safe text for element content and attribute values."""
    raw = str(s)
    clean = _INVALID_XML.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "\ufffd", raw
    )
    return html.escape(clean, quote=True)


def _verdict(value: bool | None, detail: str = "") -> str:
    title = f' title="{text(detail)}"' if detail else ""
    if value is None:
        return f'<span class="na"{title}>n/a</span>'
    return f'<span class="ok"{title}>pass</span>' if value else f'<span class="bad"{title}>fail</span>'


def _rate(k: int, n: int, rate: float | None) -> str:
    return "n/a" if rate is None else f"{k}/{n} ({rate:.0%})"


def scores_table(scores: list[Score]) -> str:
    head = "<tr><th>model</th><th>parses</th><th>runs</th><th>right APIs</th><th>passes test</th></tr>"
    rows = [
        f"<tr><td>{text(s.model)}</td><td>{_rate(s.parsed, s.n, s.parse_rate)}</td>"
        f"<td>{_rate(s.ran, s.run_n, s.run_rate)}</td><td>{_rate(s.api, s.api_n, s.api_rate)}</td>"
        f"<td>{_rate(s.passed, s.test_n, s.pass_rate)}</td></tr>"
        for s in scores
    ]
    return f'<table class="scores">{head}{"".join(rows)}</table>'


def diff_block(diff: str) -> str:
    if not diff:
        return '<p class="na">identical completions</p>'
    spans = []
    for line in diff.splitlines():
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        if line.startswith(("+++", "---")):
            cls = ""
        spans.append(f'<span class="{cls}">{text(line)}</span>' if cls else text(line) + "\n")
    return f'<pre class="diff">{"".join(spans)}</pre>'


def probe_section(comparison: Comparison, probe: Probe, anchor: str = "") -> str:
    """One probe: the prompt, each model's completion and verdicts in columns, diffs vs the first model."""
    models = comparison.models
    cells = []
    for m in models:
        r = comparison.result(m, probe.id)
        api = (
            ""
            if r.api_ok is None
            else f"<li>right APIs: {_verdict(r.api_ok)}"
            + (f" <small>missing: {text(', '.join(r.api_missing))}</small>" if r.api_missing else "")
            + "</li>"
        )
        run_detail = r.skipped or r.run_detail
        notes = []
        if r.prompt_truncated:
            notes.append("prompt cut from the left to fit the context")
        if r.skipped:
            notes.append(r.skipped)
        cells.append(
            f"<td><pre>{text(r.completion)}</pre><ul>"
            f"<li>parses: {_verdict(r.parses, r.parse_error or '')}"
            + (f" <small>{text(r.parse_error)}</small>" if r.parse_error else "")
            + "</li>"
            f"<li>runs: {_verdict(r.runs, run_detail)}"
            + (f" <small>{text(r.run_outcome)}: {text(r.run_detail)}</small>" if r.runs is False else "")
            + "</li>"
            f"{api}"
            f"<li>passes test: {_verdict(r.passes, r.test_detail)}"
            + (f" <small>{text(r.test_outcome)}: {text(r.test_detail)}</small>" if r.passes is False else "")
            + "</li>"
            f"<li><small>{r.n_tokens} tokens, {r.seconds:.2f} s"
            + "".join(f"; {text(n)}" for n in notes)
            + "</small></li></ul></td>"
        )
    head = "".join(f"<th>{text(m)}</th>" for m in models)
    diffs = "".join(
        f'<details open="open"><summary>diff {text(models[0])} \u2192 {text(m)}</summary>'
        f"{diff_block(comparison.diff(probe.id, models[0], m))}</details>"
        for m in models[1:]
    )
    title = f" \u2014 {text(probe.title)}" if probe.title else ""
    anchor_attr = f' id="{text(anchor)}"' if anchor else ""
    seed = probe_seed(comparison.decoding.seed, probe.id)
    return (
        f"<section{anchor_attr}><h3>{text(probe.id)}{title}</h3>"
        f"<p><small>category: {text(probe.category)}; seed {seed}</small></p>"
        f'<details><summary>prompt</summary><pre class="prompt">{text(probe.prompt)}</pre></details>'
        f'<table class="side"><tr>{head}</tr><tr>{"".join(cells)}</tr></table>{diffs}</section>'
    )


def render_html(
    comparison: Comparison, title: str = "phi-lab probe comparison", figure_png: bytes | None = None
) -> str:
    d = comparison.decoding
    settings = (
        f"max_new_tokens={d.max_new_tokens}, temperature={d.temperature}, top_p={d.top_p}, seed={d.seed}, "
        f"stop strings={list(d.stop_strings)!r}"
    )
    toc = "".join(
        f'<li><a href="#probe-{i}">{text(p.id)}</a> <small>{text(p.title)}</small></li>'
        for i, p in enumerate(comparison.probes)
    )
    sections = "".join(probe_section(comparison, p, f"probe-{i}") for i, p in enumerate(comparison.probes))
    figure = ""
    if figure_png:
        data = base64.b64encode(figure_png).decode("ascii")
        figure = (
            f"<h2>Figure 3.1: imports across CodeExercises</h2>"
            f'<p><img alt="imports across CodeExercises" src="data:image/png;base64,{data}"/></p>'
        )
    return (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
        f"<title>{text(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{text(title)}</h1>"
        f"<p>Models: {text(', '.join(comparison.models))}. Decoding: {text(settings)}. "
        f"Sandbox isolation: {text(comparison.isolation or 'unknown')}.</p>"
        f"<h2>Scores</h2>{scores_table(comparison.scores())}"
        "<p><small>Rates count only the probes where a check applies (n/a: no test, no API list, or a "
        "library the sandbox cannot import).</small></p>"
        f"{figure}<h2>Probes</h2><ul>{toc}</ul>{sections}</body></html>\n"
    )


def write_html(comparison: Comparison, path: str | Path, **kwargs) -> Path:
    """Write the page atomically (a crash never leaves half a page)."""
    return atomic_write_text(path, render_html(comparison, **kwargs))
