"""Emergent-ability probes (§3): probe set, checks, side-by-side comparison, HTML, CLI, widget, Figure 3.1."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from phi_lab.model import generation
from phi_lab.model.generation import Completion
from phi_lab.probes import checks
from phi_lab.probes.compare import (
    Comparison,
    CompletionCache,
    DecodingConfig,
    ProbeResult,
    compare,
    complete,
    default_sandbox,
    evaluate,
    load_models,
    probe_seed,
)
from phi_lab.probes.probeset import PROBE_STOPS, Probe, load_probes, select_probes
from phi_lab.probes.report import render_html, write_html

PROBES = load_probes()
BY_ID = {p.id: p for p in PROBES}
# cheap to run in the sandbox (no torch import), covering both categories and an n/a library
QUICK = [
    "cond-shipping",
    "cond-divisible",
    "cond-labels",
    "cond-game",
    "lib-numpy-solve",
    "lib-tkinter-counter",
    "lib-pygame-frame",
]


@pytest.fixture(scope="module")
def sandbox():
    return default_sandbox(timeout=20)


@pytest.fixture(scope="module")
def second_model_dir(tmp_path_factory, tiny_tokenizer):
    from conftest import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny_model_b"), tiny_tokenizer, seed=1)


@pytest.fixture(scope="module")
def models(tiny_model_dir, second_model_dir):
    return load_models([tiny_model_dir, second_model_dir], names=["base", "finetuned"])


# -- probe set --------------------------------------------------------------------------------------


def test_shipped_probe_set_is_complete_and_well_formed():
    assert len(PROBES) >= 20
    cats = {p.category for p in PROBES}
    assert cats == {"understanding", "library"}
    libs = {m for p in PROBES for m in p.requires}
    assert {"pygame", "tkinter", "numpy", "torch", "pandas", "matplotlib"} <= libs
    for p in PROBES:
        assert p.reference and checks.parse_error(checks.program(p, p.reference)) is None, p.id
        assert p.test or p.apis, f"{p.id} has no automatic check"
        if p.category == "library":
            assert p.apis, p.id


def test_bad_probe_file_names_file_and_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(
        json.dumps({"id": "a", "prompt": "def f():\n"}) + "\n" + json.dumps({"id": "a", "prompt": "x"}) + "\n"
    )
    with pytest.raises(ValueError, match=r"p\.jsonl:2: duplicate probe id"):
        load_probes(f)
    f.write_text(json.dumps({"id": "a", "prompt": "def f():\n", "colour": 1}) + "\n")
    with pytest.raises(ValueError, match=r"p\.jsonl:1: bad probe: unknown probe fields"):
        load_probes(f)
    with pytest.raises(KeyError, match="nope"):
        select_probes(PROBES, ["nope"])


# -- static checks ----------------------------------------------------------------------------------


def test_api_check_resolves_imports_and_ignores_the_prompt():
    solve = BY_ID["lib-numpy-solve"]
    assert checks.api_report(solve, "    return np.linalg.solve(a, b)\n").ok
    assert checks.api_report(solve, "    from numpy.linalg import inv\n    return inv(a) @ b\n").ok
    assert checks.api_report(solve, "    import numpy.linalg as la\n    return la.lstsq(a, b)[0]\n").ok
    miss = checks.api_report(solve, "    return np.linalg.det(a)\n")
    assert not miss.ok and miss.missing == list(solve.apis)
    # a name that appears only in the prompt (np) is not earned by the completion
    assert not checks.api_report(solve, "    return a\n").ok
    # code that does not parse references nothing
    assert not checks.api_report(solve, "    return np.linalg.solve(a, b\n").ok
    tk = Probe(
        "t", "from tkinter import *\n\n\ndef app():\n", category="library", apis=("tkinter.Tk", ".mainloop")
    )
    assert checks.api_report(tk, "    root = Tk()\n    root.mainloop()\n").ok
    kw = Probe("k", "import pandas as pd\n\n\ndef f(p):\n", apis=("pandas.to_datetime|kw:parse_dates",))
    assert checks.api_report(kw, '    return pd.read_csv(p, parse_dates=["date"])\n').ok
    assert checks.api_report(BY_ID["cond-labels"], "    return 'x'\n") is None


def test_verdicts_on_hand_written_completions(sandbox):
    probes = [BY_ID[i] for i in QUICK]
    correct = [Completion(p.reference, 0, False, 0.0) for p in probes]
    wrong = [Completion("    return 1\n", 0, False, 0.0) for p in probes]
    broken = [Completion("    return (\n", 0, False, 0.0) for p in probes]
    crash = [Completion("    raise RuntimeError('boom')\n", 0, False, 0.0) for p in probes]
    res = evaluate(probes, {"correct": correct, "wrong": wrong, "broken": broken, "crash": crash}, sandbox)
    for p in probes:
        good, bad, syn, boom = (res[(m, p.id)] for m in ("correct", "wrong", "broken", "crash"))
        assert good.parses and bad.parses and not syn.parses and boom.parses
        if p.apis:
            assert good.api_ok is True and bad.api_ok is False and syn.api_ok is False, p.id
        if p.id == "lib-pygame-frame":  # pygame is not installed in the sandbox: n/a, not a failure
            assert good.runs is None and good.passes is None and "pygame" in good.skipped
            continue
        assert good.runs is True, (p.id, good.run_detail)
        assert syn.runs is False and syn.run_outcome == "error"
        if p.test:
            assert good.passes is True, (p.id, good.test_detail)
            assert bad.passes is False and syn.passes is False and boom.passes is False
        if p.run:  # the run program calls the function: a crash inside it is a failed run
            assert boom.runs is False and "RuntimeError" in boom.run_detail


@pytest.mark.slow  # ~25 s: imports torch/numpy/matplotlib in the sandbox for each library probe
def test_every_reference_completion_passes_its_own_checks(sandbox):
    """Validates the probe set itself: each hand-written reference parses, names the right APIs,
    runs and passes its test wherever the sandbox can import what the probe needs."""
    res = evaluate(PROBES, {"ref": [Completion(p.reference, 0, False, 0.0) for p in PROBES]}, sandbox)
    for p in PROBES:
        r = res[("ref", p.id)]
        assert r.parses and r.api_ok in (True, None), (p.id, r.api_missing)
        if r.skipped:
            continue
        assert r.runs, (p.id, r.run_detail)
        if p.test:
            assert r.passes, (p.id, r.test_detail)


# -- comparison on two tiny checkpoints ------------------------------------------------------------


def test_compare_two_checkpoints_same_seeds_scores_and_diff(models, sandbox, tmp_path):
    probes = [BY_ID[i] for i in ("cond-divisible", "cond-labels", "lib-numpy-solve")]
    dec = DecodingConfig(
        max_new_tokens=24, temperature=0.8, top_p=0.95, seed=3, stop_strings=(), batch_size=2
    )
    cmp = compare(models, probes, dec, sandbox=sandbox)
    assert cmp.models == ["base", "finetuned"]
    assert set(cmp.results) == {(m, p.id) for m in cmp.models for p in probes}
    for r in cmp.results.values():
        assert r.n_tokens > 0 and r.prompt_truncated  # smoke window (128) < prompt + 24 new tokens
        assert isinstance(r.parses, bool) and r.passes in (True, False, None)
    # per-probe seeds: a probe alone (as the widget runs it) samples what it samples in the batch
    alone = complete(models[0], [probes[1]], DecodingConfig(**{**dec.to_json(), "batch_size": 1}))
    assert alone[0].text == cmp.result("base", probes[1].id).completion
    # different weights, same seeds -> different completions, shown as a unified diff
    differing = [
        p.id
        for p in probes
        if cmp.result("base", p.id).completion != cmp.result("finetuned", p.id).completion
    ]
    assert differing
    d = cmp.diff(differing[0], "base", "finetuned")
    assert d.startswith("--- base\n+++ finetuned\n")
    scores = cmp.scores()
    assert [s.model for s in scores] == ["base", "finetuned"]
    for s in scores:
        assert s.n == 3 and s.test_n == 3 and s.api_n == 1
        assert s.parse_rate == sum(cmp.result(s.model, p.id).parses for p in probes) / 3
    rows = cmp.records()
    assert len(rows) == 6 and {r["model"] for r in rows} == {"base", "finetuned"}
    # the completion cache makes a rerun generate nothing new, and returns identical completions
    cache = CompletionCache(tmp_path / "c.jsonl")
    first = complete(models[1], probes, dec, cache=cache)
    n_lines = len((tmp_path / "c.jsonl").read_text().splitlines())
    again = complete(models[1], probes, dec, cache=CompletionCache(tmp_path / "c.jsonl"))
    assert (
        [c.text for c in again]
        == [c.text for c in first]
        == [cmp.result("finetuned", p.id).completion for p in probes]
    )
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == n_lines == 3


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_probe_completions_take_the_one_completion_path(models, tmp_path, temperature):
    """compare.complete is generation.complete with per-probe seeds and the probe set's stop list."""
    probes = [BY_ID[i] for i in QUICK[:5]]
    dec = DecodingConfig(max_new_tokens=30, temperature=temperature, top_p=0.95, seed=4, batch_size=2)
    assert DecodingConfig().stop_strings == dec.stop_strings == PROBE_STOPS
    entry = models[0]
    want = generation.complete(
        entry.model,
        entry.tokenizer,
        [p.prompt for p in probes],
        [probe_seed(4, p.id) for p in probes],
        max_new_tokens=30,
        temperature=temperature,
        top_p=0.95,
        stop_strings=PROBE_STOPS,
    )
    got = complete(entry, probes, dec, cache=CompletionCache(tmp_path / "c.jsonl"))
    assert [(c.text, c.n_tokens, c.prompt_truncated) for c in got] == [
        (c.text, c.n_tokens, c.prompt_truncated) for c in want
    ]
    # a crash mid-append tears the cache's last line: it is cut, the rest is reused, appends resume
    path = tmp_path / "c.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    again = complete(entry, probes, dec, cache=CompletionCache(path))
    assert [c.text for c in again] == [c.text for c in got]
    after = path.read_bytes().splitlines(keepends=True)
    assert after[:3] == lines[:3] and len(after) == 5  # the two lost rows regenerated, nothing else
    key = lambda line: json.loads(line)["key"]  # noqa: E731
    assert sorted(map(key, after)) == sorted(map(key, lines))
    # damage before the end is not a crash artefact: an error that says what to do
    path.write_bytes(b"".join(lines[:1]) + b"{oops\n" + b"".join(lines[1:]))
    with pytest.raises(ValueError, match=r"c\.jsonl:2: invalid JSON.*delete .*c\.jsonl"):
        CompletionCache(path)


# -- static HTML ----------------------------------------------------------------------------------


class _Balance(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "input", "link"})

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.scripts += tag == "script"

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _hostile_comparison() -> Comparison:
    evil = '</pre><script>alert("x")</script><img src=x onerror=alert(1)> ]]> &amp; \x00\x1b\ud800 end'
    probes = [
        BY_ID["cond-labels"],
        Probe("evil<b>", "def f():\n    '''<script>bad()</script>'''\n", title="<i>t</i>"),
    ]
    results = {}
    for m in ("base", 'fine"<tuned>'):
        for p in probes:
            results[(m, p.id)] = ProbeResult(
                p.id,
                m,
                evil if m == "base" else "    return 1\n",
                n_tokens=3,
                parses=False,
                parse_error="SyntaxError: <bad>",
                runs=False,
                run_outcome="error",
                run_detail="<x>",
                passes=False,
                test_outcome="failed",
                test_detail="AssertionError: <y>",
            )
    return Comparison(["base", 'fine"<tuned>'], probes, DecodingConfig(), results, isolation="namespaces")


def test_html_is_well_formed_escaped_and_complete(tmp_path):
    cmp = _hostile_comparison()
    page = render_html(cmp, figure_png=b"\x89PNG fake")
    assert (
        write_html(cmp, tmp_path / "c.html", figure_png=b"\x89PNG fake").read_text(encoding="utf-8") == page
    )
    root = ET.fromstring(page.split("\n", 1)[1])  # XHTML-compatible: a strict XML parser accepts it
    assert root.tag.endswith("html")
    checker = _Balance()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack
    assert checker.scripts == 0 and "<script" not in page.lower() and "<img src=x" not in page
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    # every completion comes back as the same text, with XML-forbidden characters made visible
    evil = cmp.result("base", "evil<b>").completion
    shown = ["".join(pre.itertext()) for pre in root.iter("pre") if "phi-completion" in pre.get("class", "")]
    visible = evil.replace("\x00", "\\x00").replace("\x1b", "\\x1b").replace("\ud800", "\ufffd")
    assert shown == [visible, "    return 1\n"] * 2
    assert [h.text for h in root.iter("h3")] == [f"{p.id} \u2014 {p.title}" for p in cmp.probes]
    assert [th.text for th in root.iter("th")][-2:] == ["base", 'fine"<tuned>']
    # the completions' cells are laid out inline (left, top, wrapped): JupyterLab's styles cannot win
    cells = [td for td in root.iter("td") if td.find("pre") is not None]
    assert cells and all("text-align: left" in td.get("style") for td in cells)
    assert all("white-space: pre-wrap" in td.find("pre").get("style") for td in cells)
    img = root.find(".//img")
    assert img.get("src") == "data:image/png;base64,iVBORyBmYWtl"  # the one inline-image helper


def test_cli_writes_html_and_jsonl_and_resumes(tiny_model_dir, second_model_dir, tmp_path):
    from phi_lab.cli import main

    out = tmp_path / "out"
    ids = ["cond-labels", "lib-tkinter-counter"]
    argv = [
        "probe",
        "--models",
        str(tiny_model_dir),
        str(second_model_dir),
        "--out",
        str(out),
        "--ids",
        *ids,
        "--max-new-tokens",
        "12",
        "--seed",
        "5",
    ]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "probes.jsonl").read_text().splitlines()]
    assert [(r["probe"], r["model"]) for r in rows] == [
        (i, m) for i in ids for m in ("tiny_model0", "tiny_model_b0")
    ]
    page = (out / "comparison.html").read_text()
    ET.fromstring(page.split("\n", 1)[1])
    for needle in [*ids, "tiny_model0", "tiny_model_b0"]:
        assert needle in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["decoding"]["seed"] == 5 and len(manifest["scores"]) == 2
    cached = (out / "completions.jsonl").read_text()
    assert main(argv) == 0  # a rerun takes every completion from the cache
    assert (out / "completions.jsonl").read_text() == cached
    assert main(["probe", "--out", str(out)]) == 2  # neither models nor import stats: a clear error
    assert main(["probe", "--models", str(tmp_path / "missing"), "--out", str(out)]) == 2


# -- widget ---------------------------------------------------------------------------------------


def test_widget_runs_all_models_and_shows_errors(models, sandbox):
    from phi_lab.probes.widgets import ProbeExplorer

    ui = ProbeExplorer(
        models,
        probes=[BY_ID["cond-labels"], BY_ID["cond-divisible"]],
        decoding=DecodingConfig(max_new_tokens=8),
        sandbox=sandbox,
    )
    ui.picker.value = "cond-divisible"
    assert ui.prompt.value == BY_ID["cond-divisible"].prompt
    ui.run_button.click()
    assert ui.errors.outputs == ()
    html = ui.result.value
    assert html.startswith('<div class="phi-lab-report">')  # a fragment: its styles stay inside it
    for m in models:
        assert f">{m.name}</th>" in html
        r = ui.last.result(m.name, "cond-divisible")
        assert "passes test:" in html and r.passes is not None
    assert "cond-divisible" in html and "done" in ui.status.value
    # an edited prompt becomes a typed probe; an empty one raises inside the callback: shown, not swallowed
    ui.prompt.value = "def add(a, b):\n"
    ui.run_button.click()
    assert ui.last.probes[0].category == "custom" and ui.errors.outputs == ()
    ui.prompt.value = "   "
    ui.run_button.click()
    shown = "".join(o.get("text", "") for o in ui.errors.outputs)
    assert "ValueError" in shown and "empty prompt" in shown
    assert "error" in ui.status.value


def test_widget_never_offers_a_budget_the_models_window_cannot_hold(models, sandbox):
    """The default budget (256) exceeds a smoke model's 128-token window: every run failed in JupyterLab."""
    from phi_lab.probes.widgets import ProbeExplorer

    window = min(m.model.config.max_seq_len for m in models)
    ui = ProbeExplorer(models, probes=[BY_ID["cond-divisible"]], sandbox=sandbox)
    assert DecodingConfig().max_new_tokens > window
    assert ui.max_new_tokens.value == window // 2 and ui.max_new_tokens.max == window - 1
    ui.max_new_tokens.value = 8  # keep the run short
    ui.run_button.click()
    assert ui.errors.outputs == () and "done" in ui.status.value


# -- Figure 3.1 -----------------------------------------------------------------------------------


def test_figure_3_1_from_counts_and_from_exercises(tmp_path):
    from phi_lab.probes.figures import import_counts_from_exercises, load_import_counts, plot_imports

    ex = tmp_path / "exercises.jsonl"
    rows = [
        {
            "id": "1",
            "prompt": "import math\nfrom typing import List\n\ndef f(x):\n",
            "solution": "    return math.sqrt(x)\n",
            "tests": "",
        },
        {
            "id": "2",
            "prompt": "import math\nimport math.fsum\n\ndef g():\n",
            "solution": "    import random\n",
            "tests": "",
        },
        {"id": "3", "prompt": "def h(:\n", "solution": "", "tests": ""},  # does not parse: skipped
    ]
    ex.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = import_counts_from_exercises(ex)
    assert counts == {"math": 2, "typing": 1, "random": 1}
    from phi_lab.synthesis.report import import_statistics

    stats = tmp_path / "import_stats.json"  # the synthesis step's statistics file
    stats.write_text(json.dumps(import_statistics(["import numpy\n", "import numpy as np\nimport os\n"])))
    assert load_import_counts(stats) == {"numpy": 2, "os": 1}
    stats.write_text(json.dumps({"imports": {"numpy": 3, "math": 9}}))
    assert load_import_counts(stats) == {"numpy": 3, "math": 9}
    assert load_import_counts(ex) == counts
    stats.write_text(json.dumps({"numpy": "many"}))
    with pytest.raises(ValueError, match=r"import_stats\.json"):
        load_import_counts(stats)
    png = plot_imports(counts, tmp_path / "fig" / "figure_3_1.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        import_counts_from_exercises(bad)
