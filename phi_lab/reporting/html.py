"""HTML for reports and notebooks: jinja2 templates with autoescape, Markdown via `markdown`.

Everything a page shows that did not come from our templates (model completions, probe prompts,
metrics, table cells) is text: jinja2 escapes every `{{ value }}`, `xml_clean` first removes what
XML cannot carry (control characters, lone surrogates), and Markdown is converted with raw HTML,
entities and script URLs switched off. Pages are XHTML-compatible, so an XML parser can check them.

The same markup renders standalone and inside JupyterLab. JupyterLab styles output tables with
rules such as `:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td { text-align: right }`, and for
an untrusted notebook its sanitizer drops `<style>` elements but keeps `style` attributes. So the
few properties that keep code readable (left-aligned, top-aligned, wrapped) are inline `style`
attributes (`INLINE`), which outrank any stylesheet rule; the stylesheet (templates/phi_lab.css)
only adds looks, every selector under `.phi-lab-report`, so nothing leaks into the host page.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from phi_lab.io import atomic_write_text

TEMPLATES = Path(__file__).parent / "templates"
ROOT_CLASS = "phi-lab-report"

# Layout that must hold under any host stylesheet. Values are within what JupyterLab's sanitizer
# accepts (it knows `overflow-wrap: break-word`, not `anywhere`; the stylesheet adds `anywhere`).
INLINE = {
    "table": "margin-left: 0; margin-right: auto; border-collapse: collapse;",
    "side": "width: 100%; table-layout: fixed; margin-left: 0; margin-right: 0; border-collapse: collapse;",
    "cell": "text-align: left; vertical-align: top; overflow-wrap: break-word;",
    "code": "text-align: left; white-space: pre-wrap; overflow-wrap: break-word; overflow-x: auto; max-width: 100%;",
}

# Characters XML 1.0 forbids (C0 controls but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


def xml_clean(value: object) -> str:
    """`str(value)` with XML-forbidden characters made visible: C0 controls as `\\xNN`, the rest as U+FFFD."""
    return _INVALID_XML.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "\ufffd", str(value)
    )


def safe_url(url: str) -> bool:
    """Relative, http(s) or mailto. Browsers drop tabs, newlines and leading spaces from a URL
    ("java\tscript:" runs), so those go before the scheme is read."""
    m = _SCHEME.match(re.sub(r"[\x00-\x20]", "", url))
    return m is None or m.group(1).lower() in {"http", "https", "mailto"}


def escape(value: object) -> Markup:
    """Text made safe for element content and attribute values."""
    return Markup.escape(xml_clean(value))


def _finalize(value: object) -> object:
    # every {{ expression }} passes here before autoescape; our own Markup is already clean
    if value is None or isinstance(value, Markup):
        return "" if value is None else value
    return xml_clean(value)


def data_uri(png: bytes, mime: str = "image/png") -> str:
    """The one way images get into a page: inline, so a page is a single self-contained file."""
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable is an error, not an empty string
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["data_uri"] = data_uri
    env.globals.update(inline=INLINE, root_class=ROOT_CLASS)
    return env


def render(template: str, **context: object) -> Markup:
    return Markup(environment().get_template(template).render(**context))


class HTMLFragment(Markup):
    """Markup that a notebook displays as HTML (IPython calls `_repr_html_`)."""

    def _repr_html_(self) -> str:
        return str(self)


def _checked(body: Markup) -> Markup:
    if not isinstance(body, Markup):
        raise TypeError("body must be Markup from render()/markdown_html(); escape plain text with escape()")
    return body


def fragment(body: Markup) -> HTMLFragment:
    """`body` inside `<div class="phi-lab-report">` with its scoped stylesheet: embeddable anywhere
    (a notebook output, an ipywidgets HTML value, another page)."""
    return HTMLFragment(render("fragment.html.j2", body=_checked(body)))


def page(body: Markup, title: str) -> str:
    """A complete, self-contained, XHTML-compatible document around `body`."""
    return str(render("page.html.j2", body=_checked(body), title=title))


# -- Markdown ---------------------------------------------------------------------------------------


class _ReportMarkup(Treeprocessor):
    """Gives Markdown's tables and code our classes and inline layout; drops script URLs; shifts
    headings (a table file's `#` is a section of a page that has its own `<h1>`)."""

    def __init__(self, md: markdown.Markdown, shift_headings: int):
        super().__init__(md)
        self.shift = shift_headings

    def run(self, root: ET.Element) -> None:
        for el in root.iter():
            for attr in ("href", "src"):
                if attr in el.attrib and not safe_url(el.attrib[attr]):
                    del el.attrib[attr]
            if el.tag == "table":
                el.set("class", "phi-table")
                el.set("style", INLINE["table"])
            elif el.tag in ("td", "th"):
                own = el.get("style", "")  # a column aligned in the Markdown keeps its alignment
                layout = INLINE["cell"] if "text-align" not in own else "vertical-align: top;"
                el.set("class", "phi-cell phi-head" if el.tag == "th" else "phi-cell")
                el.set("style", f"{own} {layout}".strip())
            elif el.tag == "pre":
                el.set("class", "phi-code")
                el.set("style", INLINE["code"])
            elif self.shift and re.fullmatch(r"h[1-6]", el.tag):
                el.tag = f"h{min(6, int(el.tag[1]) + self.shift)}"


class _SafeMarkdown(Extension):
    def __init__(self, shift_headings: int = 0):
        super().__init__()
        self.shift_headings = shift_headings

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # raw HTML passes through Markdown untouched; without these two it is text (entities such
        # as &lt; stay entities, as Markdown defines: they can show a character, never add markup)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_ReportMarkup(md, self.shift_headings), "phi_lab_markup", 5)


def markdown_html(text: str, shift_headings: int = 0) -> Markup:
    """Markdown (with pipe tables) as XHTML-compatible markup; any HTML in `text` shows as text."""
    md = markdown.Markdown(extensions=["tables", _SafeMarkdown(shift_headings)], output_format="xhtml")
    return Markup(md.convert(xml_clean(text)))


def markdown_fragment(text: str) -> HTMLFragment:
    """A Markdown table (or any Markdown) for a notebook: left-aligned in JupyterLab too."""
    return fragment(markdown_html(text))


# -- the run's report -------------------------------------------------------------------------------

FIGURES = (("figure_2_1.png", "Figure 2.1"), ("figure_3_1.png", "Figure 3.1"))
TABLES = ("claims.md", "table_1.md", "table_2.md", "table_3.md")  # claims: Figure 2.1 with intervals
METRICS_CHARS = 20_000  # per stage: a report stays readable even when a stage logs a lot


def report_html(run_dir: str | Path, title: str = "phi-lab reproduction") -> Path:
    """`run_dir/report.html`, written atomically: figures inline, tables, each stage's metrics,
    links to the executed notebooks. Only what exists is shown."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory not found: {run}")
    manifest = None
    if (run / "manifest.json").exists():
        m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        manifest = {"preset": m.get("preset"), "commit": (m.get("git") or {}).get("commit")}
    figures = [
        {"caption": caption, "png": (run / name).read_bytes()}
        for name, caption in FIGURES
        if (run / name).exists()
    ]
    tables = [
        markdown_html((run / t).read_text(encoding="utf-8"), shift_headings=1)
        for t in TABLES
        if (run / t).exists()
    ]
    notebooks = (
        sorted(p.name for p in (run / "notebooks").glob("*.ipynb")) if (run / "notebooks").is_dir() else []
    )
    metrics = [
        (p.parent.name, json.dumps(json.loads(p.read_text(encoding="utf-8")), indent=2)[:METRICS_CHARS])
        for p in sorted(run.glob("*/metrics.json"))
    ]
    body = render(
        "run_report.html.j2",
        title=title,
        manifest=manifest,
        figures=figures,
        tables=tables,
        notebooks=notebooks,
        metrics=metrics,
    )
    return atomic_write_text(run / "report.html", page(body, title))
