"""Figure 2.1, the tables and report.html from a run directory's outputs."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from phi_lab import reporting

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

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def test_figure_2_1_png(tmp_path):
    path = reporting.figure_2_1(RESULTS, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_tables_show_this_run_beside_the_paper():
    t1 = reporting.table_1(RESULTS, {r["name"]: 400_000 for r in RESULTS})
    assert "| m-codetextbook-ft | 0.4M | 6.14K | 6.2% | 0.0% |" in t1
    assert "| phi-1 | 1.3B | 7B | 50.6% | 55.5% |" in t1  # the paper's row, labelled as such
    t2 = reporting.table_2([{"name": "a", "score": 0.5, "humaneval_pass1": 0.25}], "tests")
    assert "| a | 50.0% | 25.0% |" in t2 and "graded score (tests)" in t2


def test_paper_tables_1_and_2_agree():
    """Table 2 prints HumanEval in whole percents: a model in both tables has Table 1's rate, rounded."""
    t1 = {m: (size, tok, float(he.rstrip("%"))) for m, size, tok, he, _ in reporting.PAPER_TABLE_1}
    shared = [row for row in reporting.PAPER_TABLE_2 if row[0] in t1]
    assert {row[0] for row in shared} == {"CodeGen-Mono-16.1B", "StarCoder", "phi-1"}
    for model, size, tok, _score, he in shared:
        assert (size, tok) == t1[model][:2], model
        assert int(he.rstrip("%")) == round(t1[model][2]), model


def test_report_html_is_self_contained_balanced_and_escaped(tmp_path):
    reporting.figure_2_1(RESULTS, tmp_path / "figure_2_1.png")
    (tmp_path / "table_1.md").write_text(reporting.table_1(RESULTS, {}))
    (tmp_path / "table_3.md").write_text("# Table 3\n\n| a | b |\n|---|---|\n| <script>x</script> | 1 |\n")
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "metrics.json").write_text(json.dumps({"note": "<img src=x onerror=alert(1)>"}))
    (tmp_path / "manifest.json").write_text(json.dumps({"preset": "smoke", "git": {"commit": "abc"}}))
    page = reporting.report_html(tmp_path).read_text()
    parser = _Tags()
    parser.feed(page)
    assert parser.balanced and not parser.stack
    assert "script" not in parser.seen and parser.seen.count("img") == 1  # only the inlined figure
    assert "data:image/png;base64," in page and "&lt;script&gt;" in page and "Table 3" in page
