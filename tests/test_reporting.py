"""Figures, tables and report.html from a run directory's outputs (the browser checks: test_report_browser)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from IPython.core.formatters import DisplayFormatter
from markupsafe import Markup
from matplotlib.figure import Figure

from phi_lab import reporting
from phi_lab.filtering.corpus_filter import plot_histograms
from phi_lab.reporting import html

PNG = b"\x89PNG\r\n\x1a\n"
RESULTS = [
    {
        "name": f"m-{d}{'-ft' if ft else ''}",
        "preset": "smoke",
        "tokens": 6144,
        "data": d,
        "finetuned": ft,
        "humaneval_pass1": 0.0 if d != "codetextbook" else 0.0625,
        "mbpp_pass1": 0.0,
        "humaneval_nll": 6.7 - 0.1 * i - 0.05 * ft,
        "graded_score": 0.1,
        "grader": "tests",
    }
    for i, d in enumerate(("unfiltered", "filtered", "codetextbook"))
    for ft in (False, True)
]


class _Tags(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self):
        super().__init__()
        self.stack, self.balanced, self.seen = [], True, []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <img/>: opened and closed at once
        self.seen.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def _xhtml(page: str) -> ET.Element:
    """The page parsed as XML (after the doctype line), with the XHTML namespace stripped from tags."""
    root = ET.fromstring(page.split("\n", 1)[1])
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    return root


def _write_metrics(run_dir, rows, torn_tail: str = ""):
    run_dir.mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    (run_dir / "metrics.jsonl").write_text(lines + torn_tail)
    return run_dir


# -- figures --------------------------------------------------------------------------------------


def test_figures_never_touch_pyplot_or_the_backend(tmp_path):
    """In a fresh interpreter with a notebook's inline backend: building and saving every figure
    imports no pyplot and leaves the backend as it was (matplotlib.use("Agg") used to switch it)."""
    code = f"""
import sys, matplotlib
from phi_lab import reporting
rows = {RESULTS!r}
figs = [reporting.figure_2_1(rows), reporting.score_histograms({{"a": [0.1, 0.9]}}, 0.5),
        reporting.figure_3_1({{"numpy": 3, "math": 1}})]
for i, f in enumerate(figs):
    reporting.save_figure(f, {str(tmp_path)!r} + f"/f{{i}}.png")
    assert f._repr_png_()[:8] == {PNG!r}
print(dict.__getitem__(matplotlib.rcParams, "backend"), "matplotlib.pyplot" in sys.modules)
"""
    env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["module://matplotlib_inline.backend_inline", "False"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.png", "f1.png", "f2.png"]


def test_figure_2_1_is_a_figure_and_saves_atomically(tmp_path):
    fig = reporting.figure_2_1(RESULTS)
    assert isinstance(fig, Figure)
    pass1, nll = fig.axes
    # one bar per (dataset, base/finetuned) in each panel, the finetuned ones hatched
    assert len(pass1.patches) == len(nll.patches) == 6
    assert sorted(round(p.get_height(), 4) for p in nll.patches) == sorted(
        round(r["humaneval_nll"], 4) for r in RESULTS
    )
    assert sum(bool(p.get_hatch()) for p in nll.patches) == 3
    lo, hi = nll.get_ylim()  # zoomed in on the NLL differences
    assert 6.0 < lo < 6.45 and 6.7 < hi < 7.0
    assert [t.get_text() for t in pass1.get_legend().get_texts()][:2] == [
        "unfiltered corpus (The Stack+)",
        "unfiltered corpus (The Stack+) + CodeExercises",
    ]
    path = tmp_path / "out" / "f.png"
    reporting.figure_2_1(RESULTS, path)  # notebooks pass a path: saved there as well
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    shown, _ = DisplayFormatter().format(fig)  # a notebook shows it as PNG, without pyplot
    assert shown["image/png"][:8] == PNG
    with pytest.raises(ValueError, match="unknown dataset"):
        reporting.figure_2_1([{**RESULTS[0], "data": "stack-v9"}])


def test_save_figure_leaves_the_old_file_when_writing_fails(tmp_path):
    fig = reporting.figure_3_1({"numpy": 2})
    target = reporting.save_figure(fig, tmp_path / "fig.png")
    before = target.read_bytes()
    assert before[:8] == PNG
    assert reporting.save_figure(fig, tmp_path / "fig.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError):  # matplotlib knows no such format: nothing half-written remains
        reporting.save_figure(fig, tmp_path / "fig.nosuchformat")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]


def test_loss_curves_read_every_run_and_skip_a_cut_last_line(tmp_path):
    a = _write_metrics(
        tmp_path / "a",
        [
            {"kind": "train", "step": 1, "loss": 5.0},
            {"kind": "train", "step": 2, "loss": 4.0},
            {"kind": "val", "step": 2, "val_loss": 4.5},
            {"kind": "train", "step": 3, "loss": None},  # a non-finite loss is logged as null
        ],
        torn_tail='{"kind": "train", "st',  # still training: the last line is cut short
    )
    b = _write_metrics(tmp_path / "b", [{"kind": "train", "step": 1, "loss": 6.0}])
    fig = reporting.loss_curves({"run-a": a, "run-b": b})
    ax = fig.axes[0]
    train = [ln for ln in ax.get_lines() if ln.get_label() in ("run-a", "run-b")]
    assert [(ln.get_label(), list(ln.get_xdata()), list(ln.get_ydata())) for ln in train] == [
        ("run-a", [1, 2], [5.0, 4.0]),
        ("run-b", [1], [6.0]),
    ]
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert (
        len(dots) == 1 and list(dots[0].get_ydata()) == [4.5] and dots[0].get_color() == train[0].get_color()
    )
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="no training loss"):
        reporting.loss_curves({"empty": _write_metrics(tmp_path / "c", [])})
    with pytest.raises(FileNotFoundError):
        reporting.loss_curves({"missing": tmp_path / "nope"})


def test_score_histograms_and_the_filter_stage_plot(tmp_path):
    fig = reporting.score_histograms({"stack": [0.1, 0.6, 0.9], "so": [0.2]}, threshold=0.5)
    assert [ax.get_title() for ax in fig.axes] == ["so: 1 files, 0 kept", "stack: 3 files, 2 kept"]
    assert sum(p.get_height() for p in fig.axes[1].patches) == 3
    png = plot_histograms({"stack": [0.1, 0.9]}, 0.5, tmp_path / "histograms.png")
    assert png.read_bytes()[:8] == PNG and sorted(p.name for p in tmp_path.iterdir()) == ["histograms.png"]


def test_figure_3_1_sorts_and_keeps_the_top():
    fig = reporting.figure_3_1({"b": 2, "a": 2, "numpy": 9, "os": 1}, top=3)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["numpy", "a", "b"]
    assert [p.get_height() for p in ax.patches] == [9, 2, 2]
    with pytest.raises(ValueError, match="no import counts"):
        reporting.figure_3_1({})


# -- tables ---------------------------------------------------------------------------------------


def test_tables_show_this_run_beside_the_paper():
    t1 = reporting.table_1(RESULTS, {r["name"]: 400_000 for r in RESULTS})
    assert "| m-codetextbook-ft | 0.4M | 6.14K | 6.2% | 0.0% |" in t1
    assert "| phi-1 | 1.3B | 7B | 50.6% | 55.5% |" in t1  # the paper's row, labelled as such
    t2 = reporting.table_2([{"name": "a", "score": 0.5, "humaneval_pass1": 0.25}], "tests")
    assert "| a | 50.0% | 25.0% |" in t2 and "graded score (tests)" in t2


def test_markdown_table_escapes_pipes_and_checks_row_lengths():
    md = reporting.markdown_table(["model", "note"], [("a|b", "two\nlines")])
    cells = [c.strip() for c in html.markdown_html(md).split("<td")[1:]]
    assert [c.split(">", 1)[1].split("</td>")[0] for c in cells] == ["a|b", "two lines"]
    with pytest.raises(ValueError, match="row 0 has 1 cells, the header 2"):
        reporting.markdown_table(["a", "b"], [("only one",)])


def test_paper_tables_1_and_2_agree():
    """Table 2 prints HumanEval in whole percents: a model in both tables has Table 1's rate, rounded."""
    t1 = {m: (size, tok, float(he.rstrip("%"))) for m, size, tok, he, _ in reporting.PAPER_TABLE_1}
    shared = [row for row in reporting.PAPER_TABLE_2 if row[0] in t1]
    assert {row[0] for row in shared} == {"CodeGen-Mono-16.1B", "StarCoder", "phi-1"}
    for model, size, tok, _score, he in shared:
        assert (size, tok) == t1[model][:2], model
        assert int(he.rstrip("%")) == round(t1[model][2]), model


# -- HTML -----------------------------------------------------------------------------------------


def test_markdown_tables_become_left_aligned_html_and_raw_html_stays_text():
    md = (
        "# Table 3\n\n| model | removed | note |\n|---|---:|---|\n"
        "| <script>alert(1)</script> | 3 | [x](javascript:alert(1)) [y]( java\tscript:alert(2)) "
        "[ok](notebooks/a.ipynb) |\n"
    )
    out = html.markdown_html(md, shift_headings=1)
    root = ET.fromstring(f"<div>{out}</div>")
    assert root.find("h2").text == "Table 3"  # a table file's '#' is a section of the report
    table = root.find("table")
    assert table.get("class") == "phi-table"
    head = [th.text for th in table.iter("th")]
    row = list(table.find("tbody").find("tr"))
    assert head == ["model", "removed", "note"]
    assert row[0].text == "<script>alert(1)</script>"  # text, not markup
    assert "text-align: left" in row[0].get("style") and "text-align: right" in row[1].get("style")
    links = list(row[2].iter("a"))
    assert [a.text for a in links] == ["x", "y", "ok"]
    assert [a.get("href") for a in links] == [None, None, "notebooks/a.ipynb"]  # script URLs dropped
    assert "<script" not in out


def test_fragment_styles_stay_inside_the_report():
    frag = html.markdown_fragment("| a |\n|---|\n| 1 |\n")
    assert isinstance(frag, html.HTMLFragment) and frag._repr_html_() == str(frag)
    root = ET.fromstring(str(frag))
    assert root.tag == "div" and root.get("class") == html.ROOT_CLASS
    css = re.sub(r"/\*.*?\*/", "", root.find("style").text, flags=re.S)
    selectors = [s.strip() for rule in css.split("}") if "{" in rule for s in rule.split("{")[0].split(",")]
    assert len(selectors) > 10
    assert all(s.startswith(".phi-lab-report") for s in selectors), selectors
    with pytest.raises(TypeError, match="Markup"):
        html.fragment("<b>plain text is not markup</b>")  # type: ignore[arg-type]
    assert html.fragment(Markup("<b>ok</b>")).count("<b>ok</b>") == 1


def test_report_html_is_self_contained_escaped_and_written_atomically(tmp_path):
    reporting.figure_2_1(RESULTS, tmp_path / "figure_2_1.png")
    (tmp_path / "table_1.md").write_text(reporting.table_1(RESULTS, {}))
    (tmp_path / "table_3.md").write_text("# Table 3\n\n| a | b |\n|---|---|\n| <script>x</script> | 1 |\n")
    (tmp_path / "stage").mkdir()
    hostile = "<img src=x onerror=alert(1)>\x00\ud800"
    (tmp_path / "stage" / "metrics.json").write_text(json.dumps({"note": hostile}))
    (tmp_path / "manifest.json").write_text(json.dumps({"preset": "smoke", "git": {"commit": "<abc>"}}))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "07 report.ipynb").write_text("{}")
    page = reporting.report_html(tmp_path, title="t <i>").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert parser.balanced and not parser.stack
    assert "script" not in parser.seen and parser.seen.count("img") == 1  # only the inlined figure
    root = _xhtml(page)  # XHTML-compatible: a strict XML parser accepts it
    assert root.find(".//title").text == "t <i>" and root.find(".//h1").text == "t <i>"
    assert root.find(".//img").get("src").startswith("data:image/png;base64,")
    assert [h.text for h in root.iter("h2")] == [
        "Figure 2.1",
        "Table 1: pass@1 on HumanEval and MBPP",
        "Table 3",
        "Executed notebooks",
    ]
    assert root.find(".//code").text == "<abc>"
    assert root.find(".//li/a").get("href") == "notebooks/07%20report.ipynb"
    metrics = root.find(".//details/pre").text
    assert json.loads(metrics) == {"note": "<img src=x onerror=alert(1)>\x00\ud800"}  # as JSON text
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left
    with pytest.raises(FileNotFoundError, match="run directory"):
        reporting.report_html(tmp_path / "missing")


def test_xml_clean_makes_forbidden_characters_visible():
    assert html.xml_clean("a\x00b\x1b\ud800\ufffe\tc\n") == "a\\x00b\\x1b\ufffd\ufffd\tc\n"
    assert html.escape('<a href="x">') == "&lt;a href=&#34;x&#34;&gt;"
    assert html.safe_url("https://arxiv.org/abs/2306.11644") and html.safe_url("table_1.md")
    assert not html.safe_url("JavaScript:alert(1)") and not html.safe_url("data:text/html,x")
