"""Tables 1 and 2 as Markdown: this run's rows first, then the paper's reference rows, labelled.

Markdown because the run directory keeps them as `table_N.md` (readable in a terminal, a diff, on
GitHub); `phi_lab.reporting.html.markdown_html` turns them into HTML for the report and notebooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from phi_lab.reporting.paper import PAPER_TABLE_1, PAPER_TABLE_2


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def tokens(n: int | float) -> str:
    """6144 -> '6.14K', 7e9 -> '7B': the paper writes token counts this way."""
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(int(n))


def _cell(value: Any) -> str:
    # a '|' would end the cell and a newline the row: escape the one, flatten the other
    return " ".join(str(value).split("\n")).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style pipe table; every row must have one cell per header column."""
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}: {row!r}")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table_1(results: Sequence[Mapping[str, Any]], params: Mapping[str, int]) -> str:
    """pass@1 on HumanEval and MBPP; `results` rows need name, tokens and the metrics they have."""
    rows = [
        (
            r["name"],
            f"{params.get(r['name'], 0) / 1e6:.1f}M",
            tokens(r["tokens"]),
            pct(r.get("humaneval_pass1")),
            pct(r.get("mbpp_pass1")),
            f"{r['humaneval_nll']:.3f}" if r.get("humaneval_nll") is not None else "-",
        )
        for r in results
    ]
    ours = markdown_table(
        ["model (this run)", "size", "train tokens", "HumanEval", "MBPP", "HumanEval NLL"], rows
    )
    paper = markdown_table(
        ["model (paper, Table 1)", "size", "train tokens", "HumanEval", "MBPP"], PAPER_TABLE_1
    )
    return f"# Table 1: pass@1 on HumanEval and MBPP\n\n## This run\n\n{ours}\n## The paper\n\n{paper}"


def table_2(graded: Sequence[Mapping[str, Any]], grader: str) -> str:
    """Graded score on the unconventional problems; `graded` rows need name, score, humaneval_pass1."""
    rows = [(g["name"], pct(g.get("score")), pct(g.get("humaneval_pass1"))) for g in graded]
    ours = markdown_table(["model (this run)", f"graded score ({grader})", "HumanEval"], rows)
    paper = markdown_table(
        ["model (paper, Table 2)", "size", "train tokens", "score (GPT-4)", "HumanEval"], PAPER_TABLE_2
    )
    return f"# Table 2: graded score on unconventional problems\n\n## This run\n\n{ours}\n## The paper\n\n{paper}"
