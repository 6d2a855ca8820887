"""The probe comparison and the report tables, rendered by a real Chromium: inside a page that carries
JupyterLab-like conflicting styles (trusted and sanitized outputs) and standalone.

JupyterLab 4 styles rendered HTML outputs with rules such as `:not(.jp-RenderedMarkdown)
.jp-RenderedHTMLCommon td { text-align: right }` (two classes and an element), centres tables, and
for an untrusted notebook drops `<style>` elements. `HOST_CSS` below reproduces those effects in its
own words, with the same specificity and placed after our markup so it also wins ties; a control
table without our markup shows that it really does right-align. Screenshots land in the test's
tmp dir.
"""

from __future__ import annotations

import re

import pytest
from browser import chromium_browser

from phi_lab.probes.compare import Comparison, DecodingConfig, ProbeResult
from phi_lab.probes.probeset import Probe
from phi_lab.probes.report import render_fragment, render_html
from phi_lab.reporting import markdown_fragment, table_1

VIEWPORT = {"width": 900, "height": 1000}
LONG_LINE = "    total = " + " + ".join(f"value_{i} * weight_{i}" for i in range(40)) + "\n"
UNBROKEN = "    key = '" + "x" * 400 + "'\n"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">\n'

# JupyterLab-like output styles: right-aligned, middle-aligned cells; centred fixed tables; stripes;
# unpadded, unwrapped code. Same selector shapes (and so specificity) as JupyterLab's own.
HOST_CSS = """
body { margin: 0; font-family: sans-serif; }
.jp-RenderedHTMLCommon table { table-layout: fixed; margin-left: auto; margin-right: auto; border: none; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon tr {
  vertical-align: middle; padding: 0.5em; white-space: normal; border: none;
}
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon th,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon tr { text-align: right; }
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) { background: #f5f5f5; }
.jp-ThemedContainer .jp-RenderedHTMLCommon pre { padding: 0; margin: 0; border: none; white-space: pre; }
"""
HOST = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>host</title></head><body>
<div class="jp-ThemedContainer"><div class="jp-Cell">
  <div class="jp-OutputArea-output jp-RenderedHTMLCommon jp-RenderedHTML" id="out"></div>
  <div class="jp-OutputArea-output jp-RenderedHTMLCommon jp-RenderedHTML">
    <table id="control"><tbody><tr><td id="control-cell"><pre>def f():\n    return 1</pre></td>
    <td>wide enough column to show where text sits</td></tr></tbody></table>
  </div>
</div></div>
<style>{HOST_CSS}</style></body></html>"""

# Per completion: alignment of the code and its cell, where its first character sits, overflow.
MEASURE = """root => {
  const px = v => parseFloat(v) || 0;
  const viewport = document.documentElement.clientWidth;
  const codes = [...root.querySelectorAll('pre.phi-completion')].map(pre => {
    const cs = getComputedStyle(pre), td = pre.closest('td'), box = pre.getBoundingClientRect();
    const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
    const first = walker.nextNode(), range = document.createRange();
    range.setStart(first, 0); range.setEnd(first, 1);
    return {
      text: pre.textContent, textAlign: cs.textAlign, whiteSpace: cs.whiteSpace,
      cellAlign: getComputedStyle(td).textAlign, cellVAlign: getComputedStyle(td).verticalAlign,
      firstCharOffset: range.getBoundingClientRect().left - box.left - px(cs.paddingLeft) - px(cs.borderLeftWidth),
      right: box.right, cellRight: td.getBoundingClientRect().right, viewport,
      hiddenOverflow: pre.scrollWidth > pre.clientWidth + 1 && !['auto', 'scroll'].includes(cs.overflowX),
    };
  });
  const cells = [...root.querySelectorAll('td.phi-cell, th.phi-cell')].map(c => getComputedStyle(c).textAlign);
  const diffs = [...root.querySelectorAll('pre.phi-diff')].map(pre => ({
    textAlign: getComputedStyle(pre).textAlign, right: pre.getBoundingClientRect().right,
    lines: pre.innerText.split('\\n'),
  }));
  return {codes, cells, diffs, scripts: root.querySelectorAll('script').length,
          pageOverflow: document.documentElement.scrollWidth - viewport, pwned: window.__pwned ?? null};
}"""


def _comparison() -> Comparison:
    probe = Probe("cond-long<b>", "def f(values, weights):\n    '''sum of products'''\n", title="<i>long</i>")
    completions = {
        "phi-1-base": HOSTILE + LONG_LINE + "    return total\n",
        "phi-1": UNBROKEN + "    return key\n",
    }
    results = {
        (m, probe.id): ProbeResult(
            probe.id,
            m,
            text,
            n_tokens=9,
            parses=True,
            runs=True,
            passes=False,
            api_ok=False,  # a long unbroken note beside the code must wrap too (seen in a smoke run)
            api_missing=["|".join(f"numpy.lib.stride_tricks.alternative_{i}" for i in range(12))],
            test_outcome="failed",
            test_detail="AssertionError: <y>",
        )
        for m, text in completions.items()
    }
    return Comparison(list(completions), [probe], DecodingConfig(), results, isolation="namespaces")


def _sanitized(html: str) -> str:
    """What JupyterLab's sanitizer does to an untrusted output that matters here: no <style>."""
    return re.sub(r"<style>.*?</style>", "", html, flags=re.S)


def _show_in_host(page, html: str) -> dict:
    page.set_content(HOST)
    # JupyterLab puts an HTML output into the page as innerHTML (scripts in it never run)
    page.evaluate("html => { document.getElementById('out').innerHTML = html; }", html)
    return page.evaluate(MEASURE, page.locator("#out").element_handle())


def _assert_readable(m: dict, expected_codes: int, expected_diffs: int = 1) -> None:
    assert len(m["codes"]) == expected_codes and len(m["diffs"]) == expected_diffs and m["cells"]
    assert set(m["cells"]) == {"left"}, m["cells"]
    for c in m["codes"]:
        assert c["textAlign"] == "left" and c["cellAlign"] == "left" and c["cellVAlign"] == "top", c
        assert c["whiteSpace"] == "pre-wrap", c  # long lines wrap, indentation kept
        assert abs(c["firstCharOffset"]) < 2, c  # the code starts at the left edge of its box
        assert c["right"] <= c["cellRight"] + 1 and c["right"] <= c["viewport"], c
        assert not c["hiddenOverflow"], c
    for d in m["diffs"]:  # one rendered line per diff line, left-aligned, inside the page
        assert d["textAlign"] == "left" and d["right"] <= VIEWPORT["width"], d
        assert {"--- phi-1-base", "+++ phi-1", "-    return total", "+    return key"} <= set(d["lines"]), d
    assert m["pageOverflow"] <= 0, m["pageOverflow"]
    assert m["scripts"] == 0 and m["pwned"] is None


def test_comparison_and_tables_render_left_aligned_in_jupyterlab_and_standalone(tmp_path):
    cmp = _comparison()
    with chromium_browser() as browser:
        page = browser.new_page(viewport=VIEWPORT)

        # the control: JupyterLab-like styles really right-align a table that has no styles of its own
        page.set_content(HOST)
        assert page.evaluate("getComputedStyle(document.getElementById('control-cell')).textAlign") == "right"

        # a trusted notebook output: our fragment with its scoped stylesheet
        m = _show_in_host(page, str(render_fragment(cmp)))
        _assert_readable(m, expected_codes=2)
        assert "<script>window.__pwned = 1</script>" in m["codes"][0]["text"]  # shown as text
        assert "x" * 400 in m["codes"][1]["text"]
        page.screenshot(path=str(tmp_path / "comparison-jupyterlab.png"), full_page=True)

        # an untrusted one: the sanitizer drops <style>; the inline layout still holds
        _assert_readable(_show_in_host(page, _sanitized(str(render_fragment(cmp)))), expected_codes=2)
        page.screenshot(path=str(tmp_path / "comparison-jupyterlab-untrusted.png"), full_page=True)

        # the whole standalone page shown in a notebook (as notebook 05 displays comparison.html):
        # readable, and none of its styles reach the host page
        _assert_readable(_show_in_host(page, render_html(cmp)), expected_codes=2)
        host = page.evaluate(
            """() => ({margin: getComputedStyle(document.body).marginTop,
                       control: getComputedStyle(document.getElementById('control-cell')).textAlign})"""
        )
        assert host == {"margin": "0px", "control": "right"}

        # Table 1 as a notebook shows it
        md = table_1([{"name": "phi-1", "tokens": 6144, "humaneval_pass1": 0.5, "mbpp_pass1": None}], {})
        m = _show_in_host(page, str(markdown_fragment(md)))
        assert len(m["cells"]) > 20 and set(m["cells"]) == {"left"}, m["cells"]
        page.screenshot(path=str(tmp_path / "table-1-jupyterlab.png"), full_page=True)

        # standalone
        page.set_content(render_html(cmp))
        m = page.evaluate(MEASURE, page.locator(".phi-lab-report").element_handle())
        _assert_readable(m, expected_codes=2)
        page.screenshot(path=str(tmp_path / "comparison-standalone.png"), full_page=True)
    for name in (
        "comparison-jupyterlab",
        "comparison-jupyterlab-untrusted",
        "table-1-jupyterlab",
        "comparison-standalone",
    ):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_checks_catch_the_old_right_aligned_comparison():
    """The checks bite: the comparison as it was styled before (unscoped `th, td { text-align: left }`,
    no inline layout) comes out right-aligned in the JupyterLab-like host, as issue #14 saw it."""
    old = (
        "<style>th, td { text-align: left; vertical-align: top; } pre { white-space: pre-wrap; }"
        " table.side { width: 100%; table-layout: fixed; }</style>"
        '<table class="side"><tr><th class="phi-cell">m</th></tr>'
        '<tr><td class="phi-cell"><pre class="phi-completion">    return 1\n</pre></td></tr></table>'
    )
    with chromium_browser() as browser:
        m = _show_in_host(browser.new_page(viewport=VIEWPORT), old)
    assert m["codes"][0]["cellAlign"] == "right" and m["codes"][0]["firstCharOffset"] > 300
    with pytest.raises(AssertionError):
        _assert_readable(m, expected_codes=1, expected_diffs=0)
