"""Annotators: heuristic verdicts on hand-written files; the LLM annotator against a local fake API."""

from __future__ import annotations

import os

import pytest

from phi_lab.data.documents import Document
from phi_lab.filtering.heuristic import HeuristicAnnotator, undefined_names
from phi_lab.filtering.llm_annotator import OpenAIAnnotator, UnparseableReply, parse_reply
from phi_lab.llm.client import LLMClient, LLMConfig, LLMError
from tests.fake_openai import FakeOpenAI, last_user_message

TEXTBOOK = '''
def binary_search(items, target):
    """Return the index of target in the sorted list items, or -1.

    Each step halves the range [lo, hi] that can still hold the target.
    """
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2  # middle of the remaining range
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1  # target is in the upper half
        else:
            hi = mid - 1
    return -1


def factorial(n):
    """n! computed recursively: n * (n-1)!, with 0! = 1."""
    if n == 0:
        return 1
    return n * factorial(n - 1)
'''

CONFIG = """
from .base import *
from myapp.models import User
DEBUG = True
SECRET_KEY = "x"
DATABASE_URL = "postgres://10.0.0.5/app"
MEDIA_ROOT = "/var/www/media"
INSTALLED_APPS = ["django.contrib.admin", "myapp"]
TIMEOUT = 30
"""

GUI = """
import tkinter as tk
root = tk.Tk()
root.title("Demo")
root.geometry("400x300")
frame = tk.Frame(root)
frame.pack()
label = tk.Label(frame, text="Name")
label.grid(row=0, column=0)
entry = tk.Entry(frame)
entry.grid(row=0, column=1)
button = tk.Button(frame, text="OK", command=on_click)
button.grid(row=1, column=0)
root.mainloop()
"""

UNEXPLAINED = """
import os
def f(a):
    b = []
    for x in a:
        if x % 3:
            b.append(x * x)
    return b
def g(a, b):
    return [y for y in f(a) if y > b]
"""


def _doc(text: str, path: str = "x.py") -> Document:
    return Document(text, "test", path, {})


def test_heuristic_prefers_textbook_code():
    h = HeuristicAnnotator()
    good = h.annotate_one(_doc(TEXTBOOK))
    assert good.label == 1 and good.score > 0.85, good.reasons
    for bad_text in (CONFIG, GUI):
        bad = h.annotate_one(_doc(bad_text))
        assert bad.label == 0 and bad.score < 0.4, bad.reasons
    mid = h.annotate_one(_doc(UNEXPLAINED))
    assert bad.score < mid.score < good.score
    assert any("unexplained" in r for r in mid.reasons)
    # Every label carries its provenance and one reason per criterion.
    assert (good.annotator, good.prompt_version, good.model) == ("heuristic", "heuristic-v1", "ast+symtable")
    assert [r.split("=")[0] for r in good.reasons] == [
        "self-contained",
        "meaningful-computation",
        "explained-logic",
        "general-use",
    ]


def test_heuristic_reasons_name_the_problems():
    h = HeuristicAnnotator()
    reasons = " ".join(h.annotate_one(_doc(CONFIG)).reasons)
    assert "relative imports" in reasons and "star import" in reasons
    assert "constant/config" in reasons and "hard-coded" in reasons and "django" not in reasons
    gui = " ".join(h.annotate_one(_doc(GUI)).reasons)
    assert "GUI set-up (tkinter)" in gui and "undefined names ['on_click']" in gui
    broken = h.annotate_one(_doc("def f(:\n    pass\n"))
    assert broken.score == 0.0 and broken.label == 0 and "line 1" in broken.reasons[0]


def test_undefined_names_follow_python_scoping():
    code = """
import os
from math import sqrt as root
COUNT = 0
def f(x, *args, **kw):
    global TOTAL
    TOTAL = x
    y = [z * root(z) for z in args]
    def inner():
        nonlocal y
        return y, len(kw), helper()
    return inner, os.sep, missing_one
class C:
    attr = COUNT
    def m(self):
        return attr_not_visible + TOTAL + __name__
try:
    pass
except ValueError as err:
    print(err)
"""
    assert undefined_names(code) == ["attr_not_visible", "helper", "missing_one"]


class Teacher:
    """The fake model's replies: keyed by what the file contains, in assorted formats."""

    def __call__(self, body):
        msg = last_user_message(body)
        if "binary_search" in msg:
            return '```json\n{"score": 9, "reason": "Clear, documented algorithm."}\n```'
        if "tkinter" in msg:
            return "Educational value: low. It only builds a window."
        if "INSTALLED_APPS" in msg:
            return "Score: 1/10 - configuration only"
        if "GIBBERISH" in msg:
            return "I cannot say."
        return '{"score": "6", "reason": "ok"}'


@pytest.fixture()
def fake_api(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_TEST_KEY", "sk-test-123")
    with FakeOpenAI(api_key="sk-test-123", reply=Teacher(), retry_after=0.05) as srv:
        yield srv


def _annotator(srv, tmp_path, **cfg):
    config = LLMConfig(model="fake-teacher", base_url=srv.base_url, api_key_env="PHI_TEST_KEY",
                       cache_dir=tmp_path / "llm-cache", backoff_base_s=0.01, backoff_max_s=0.05, **cfg)  # fmt: skip
    return OpenAIAnnotator(client=LLMClient(config), batch_size=3)


def test_openai_annotator_against_local_server(fake_api, tmp_path):
    docs = [_doc(TEXTBOOK, "a.py"), _doc(GUI, "b.py"), _doc(CONFIG, "c.py"), _doc("# GIBBERISH\n", "d.py"),
            _doc(UNEXPLAINED, "e.py")]  # fmt: skip
    ann = _annotator(fake_api, tmp_path)
    fake_api.inject("429", "500")  # retried by the client; the labels must not notice
    labels = ann.annotate(docs)
    assert [lab.path for lab in labels] == ["a.py", "b.py", "c.py", "d.py", "e.py"]
    assert [lab.score for lab in labels] == [0.9, 0.2, 0.1, None, 0.6]
    assert [lab.label for lab in labels] == [1, 0, 0, None, 1]
    assert labels[0].reasons == ["Clear, documented algorithm."]
    assert labels[3].error is not None and "unparseable reply" in labels[3].error and not labels[3].ok
    for lab in labels:
        assert (lab.annotator, lab.prompt_version, lab.model) == ("openai", "edu-value-v1", "fake-teacher")
    prompt = fake_api.requests[-1]["messages"][-1]["content"]
    assert "for a student whose goal is to learn basic coding concepts" in prompt
    assert ann.client.usage.retries >= 2 and ann.client.usage.prompt_tokens > 0
    # The key never lands in labels or the cache.
    blob = "".join(lab.to_json() for lab in labels)
    blob += "".join(p.read_text() for p in (tmp_path / "llm-cache").rglob("*.json"))
    assert "sk-test-123" not in blob
    # A second pass is served from the cache: no new requests, same labels.
    n = len(fake_api.requests)
    again = ann.annotate(docs)
    assert len(fake_api.requests) == n
    assert [a.score for a in again] == [lab.score for lab in labels]


class PoisonedAPI(FakeOpenAI):
    """Answers every request, except that files containing POISON get a body with no choices."""

    poisoned = True

    def completion(self, body):
        if self.poisoned and "POISON" in last_user_message(body):
            return {"object": "chat.completion", "choices": []}
        return super().completion(body)


def test_openai_annotator_failure_is_per_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_TEST_KEY", "sk-test-123")
    docs = [_doc(TEXTBOOK, "a.py"), _doc("# POISON\nx = 1\n", "p.py"), _doc(GUI, "b.py")]
    with PoisonedAPI(api_key="sk-test-123", reply=Teacher()) as srv:
        ann = _annotator(srv, tmp_path, max_retries=1)
        labels = ann.annotate(docs)
        assert [lab.ok for lab in labels] == [True, False, True]
        assert "request failed" in labels[1].error and "malformed" in labels[1].error
        assert labels[1].label is None and labels[1].score is None
        # Once the server recovers, a rerun asks only for the failed file; the rest is cached.
        srv.poisoned = False
        n = len(srv.requests)
        labels = ann.annotate(docs)
        assert all(lab.ok for lab in labels) and len(srv.requests) == n + 1


def test_openai_annotator_marks_truncated_prompts(fake_api, tmp_path):
    ann = _annotator(fake_api, tmp_path)
    ann.max_chars = 100
    (lab,) = ann.annotate([_doc(TEXTBOOK)])
    assert lab.meta["truncated_to_chars"] == 100
    assert "only its first 100 of" in fake_api.requests[-1]["messages"][-1]["content"]


@pytest.mark.parametrize(
    "reply,score",
    [
        ('{"score": 7, "reason": "fine"}', 7.0),
        ('Sure!\n```json\n{"Educational_Value": "8/10"}\n```', 8.0),
        ("Score: 70/100", 7.0),
        ("I'd rate it 3 out of 10.", 3.0),
        ("rating = 4", 4.0),
        ("Educational value: HIGH", 8.0),
    ],
)
def test_parse_reply_forms(reply, score):
    assert parse_reply(reply)[0] == score


@pytest.mark.parametrize(
    "reply", ["", "no idea", '{"score": 11}', '{"score": true}', "high for some, low for others"]
)
def test_parse_reply_rejects(reply):
    with pytest.raises(UnparseableReply):
        parse_reply(reply)


def test_annotate_cli_heuristic(tmp_path):
    from phi_lab.cli import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text(TEXTBOOK)
    (src / "gui.py").write_text(GUI)
    out = tmp_path / "labels.jsonl"
    assert main(["filter", "annotate", "--corpus", str(src), "--out", str(out)]) == 0
    from phi_lab.filtering.labels import read_labels, read_labels_metadata

    by_name = {os.path.basename(r.path): r for r in read_labels(out)}
    assert by_name["good.py"].label == 1 and by_name["gui.py"].label == 0
    assert by_name["good.py"].text == TEXTBOOK
    sample = read_labels_metadata(out)["sample"]  # the header says what was sampled, and how
    assert sample["corpus_size"] == 2 and sample["size"] == 2 and sample["seed"] == 0


def test_labels_roundtrip_and_bad_lines_name_file_and_line(tmp_path):
    from phi_lab.filtering.labels import read_labels, write_labels

    labels = HeuristicAnnotator().annotate([_doc(TEXTBOOK, "a.py"), _doc(GUI, "b.py")])
    path = write_labels(labels, tmp_path / "labels.jsonl")
    assert list(read_labels(path)) == labels
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match=r"labels\.jsonl:3"):
        list(read_labels(path))


def test_openai_annotator_without_a_key_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("PHI_TEST_KEY", raising=False)
    config = LLMConfig(model="gpt-4", base_url="http://127.0.0.1:9/v1", api_key_env="PHI_TEST_KEY",
                       cache_dir=tmp_path / "llm-cache")  # fmt: skip
    with pytest.raises(LLMError, match="PHI_TEST_KEY is not set"):
        OpenAIAnnotator(config)


def test_openai_annotator_stops_when_the_first_files_all_fail_the_same_way(tmp_path, monkeypatch):
    """A refused request (here: HTTP 400 for every file) stops the run with the server's message
    instead of labelling a whole corpus 'request failed'."""
    monkeypatch.setenv("PHI_TEST_KEY", "sk-test-123")
    docs = [_doc(f"# file {i}\n" + TEXTBOOK, f"{i}.py") for i in range(6)]
    with FakeOpenAI(api_key="sk-test-123", reply=Teacher()) as srv:
        srv.inject(*["400"] * 20)  # every request is refused
        ann = _annotator(srv, tmp_path)
        with pytest.raises(
            LLMError, match=r"first 3 files failed; first: .*HTTP 400: max_tokens is too large"
        ):
            ann.annotate(docs)
        asked = "".join(last_user_message(r) for r in srv.requests)
        assert "# file 2" in asked and "# file 3" not in asked  # nothing for the other 3 files
