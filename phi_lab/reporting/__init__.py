"""Figure 2.1, Tables 1-2 and the self-contained HTML report of a reproduction run.

- `paper`: the paper's numbers (reference rows only, with their sources);
- `tables`: Tables 1 and 2 as Markdown, this run beside the paper;
- `figures`: the figures as matplotlib Figures built without pyplot, and an atomic `save_figure`;
- `html`: jinja2 templates (autoescaped), Markdown, inline images, `report.html`; renders the same
  standalone and inside JupyterLab.
"""

from __future__ import annotations

from phi_lab.reporting.figures import (
    ReportFigure,
    figure_2_1,
    figure_3_1,
    loss_curves,
    png_bytes,
    save_figure,
    score_histograms,
)
from phi_lab.reporting.html import HTMLFragment, fragment, markdown_fragment, markdown_html, page, report_html
from phi_lab.reporting.paper import DATA_LABELS, PAPER_TABLE_1, PAPER_TABLE_2
from phi_lab.reporting.tables import markdown_table, pct, table_1, table_2, tokens

__all__ = [
    "DATA_LABELS",
    "PAPER_TABLE_1",
    "PAPER_TABLE_2",
    "HTMLFragment",
    "ReportFigure",
    "figure_2_1",
    "figure_3_1",
    "fragment",
    "loss_curves",
    "markdown_fragment",
    "markdown_html",
    "markdown_table",
    "page",
    "pct",
    "png_bytes",
    "report_html",
    "save_figure",
    "score_histograms",
    "table_1",
    "table_2",
    "tokens",
]
