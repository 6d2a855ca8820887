"""Synthesis parses what models write (issue 17 item 6): every usual shape of an exercise answer yields
the exercise, its tests still run in the sandbox, and a run whose first answers are nearly all dropped
stops before spending more. The model is the local fake OpenAI server (tests/fake_openai.py)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

try:
    from fake_openai import FakeOpenAI, last_user_message
except ImportError:  # tests/ imported as a package
    from tests.fake_openai import FakeOpenAI, last_user_message

from phi_lab.llm.client import LLMError
from phi_lab.sandbox import Sandbox
from phi_lab.synthesis.pipeline import SynthConfig, run_synthesis
from phi_lab.synthesis.quality import extract_exercise
from phi_lab.synthesis.records import Exercise

FUNC = '''def double(xs: list[int]) -> list[int]:
    """Return every value of xs doubled."""
    return [2 * x for x in xs]
'''

SHAPES = {
    "same_block": f"Here you go:\n```python\n{FUNC}\nassert double([]) == []\nassert double([1, 2]) == [2, 4]\n```\n",
    "later_block": f"```python\n{FUNC}```\nTests:\n```python\nassert double([3]) == [6]\n```\n",
    "test_functions": f"```python\n{FUNC}```\n\n```python\nimport pytest\n\ndef test_empty():\n    assert double([]) == []\n\n"
    "def test_two():\n    assert double([1, 2]) == [2, 4]\n```\n",
    "main_section": f'```python\n{FUNC}\nif __name__ == "__main__":\n    data = [5]\n    assert double(data) == [10]\n'
    '    print("all tests passed")\n```\n',
    "tests_called_in_main": f"```python\n{FUNC}\ndef test_double():\n    assert double([4]) == [8]\n\n\n"
    'if __name__ == "__main__":\n    test_double()\n```\n',
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_yields_the_exercise(shape):
    got = extract_exercise(SHAPES[shape])
    assert not isinstance(got, str), got
    prompt, solution, tests = got
    assert prompt.startswith("def double(") and prompt.rstrip().endswith('"""')
    assert solution.strip() == "return [2 * x for x in xs]"  # tests never leak into the training text
    assert "assert" in tests and "__main__" not in tests and "print(" not in tests
    if shape in ("test_functions", "tests_called_in_main"):
        assert re.search(r"^test_\w+\(\)$", tests, re.M)  # each test function is called exactly once
        assert len(re.findall(r"^test_double\(\)$", tests, re.M)) <= 1


def test_the_extracted_tests_really_run_in_the_sandbox():
    sandbox = Sandbox(timeout=5.0)
    good = [Exercise(s, *extract_exercise(a), {}) for s, a in SHAPES.items()]
    wrong = [Exercise(s, *extract_exercise(a.replace("2 * x", "3 * x")), {}) for s, a in SHAPES.items()]
    results = sandbox.run_many([e.program() for e in good + wrong])
    assert [r.passed for r in results] == [True] * len(good) + [False] * len(wrong)


def test_helpers_stay_with_the_solution_and_setup_with_the_tests():
    answer = (
        '```python\ndef total(xs):\n    """Sum of squares."""\n    return sum(_sq(x) for x in xs)\n\n\n'
        "def _sq(x):\n    return x * x\n\n\nvalues = [1, 2]\nprint(total(values))\nassert total(values) == 5\n```\n"
    )
    prompt, solution, tests = extract_exercise(answer)
    assert "def _sq(x):" in solution and "values = [1, 2]" in tests and "print(" not in tests
    assert Sandbox(timeout=5.0).run_many([Exercise("h", prompt, solution, tests).program()])[0].passed


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("I cannot help with that.", "no function with a docstring"),
        (f"```python\n{FUNC}\nprint(double([1]))\n```", "no tests with assert"),
        ("```python\ndef f(x):\n    return x\n\nassert f(1) == 1\n```", "no function with a docstring"),
    ],
)
def test_answers_without_an_exercise_say_why(answer, reason):
    got = extract_exercise(answer)
    assert isinstance(got, str) and got.startswith(reason)


# ---- end to end through the pipeline and the fake server ------------------------------------------
KEY = "sk-phi-lab-PARSING-KEY-123"


def shaped_reply(body: dict) -> str:
    """An answer to the exercise template in one of the shapes, chosen by the prompt's hash."""
    user = last_user_message(body)
    m = re.search(r"function named `(\w+)`", user)
    if not m:
        return "Sorry, I can only talk about the weather."
    name, h = m.group(1), int(hashlib.sha256(user.encode()).hexdigest(), 16)
    shape = sorted(SHAPES)[h % len(SHAPES)]
    k = h % 50 + 2
    func = FUNC.replace("double", name).replace("2 * x", f"{k} * x").replace("doubled", f"times {k}")
    text = SHAPES[shape].replace(FUNC, func).replace("double(", f"{name}(")
    for a, b in (
        ("[2, 4]", f"[{k}, {2 * k}]"),
        ("[6]", f"[{3 * k}]"),
        ("[10]", f"[{5 * k}]"),
        ("[8]", f"[{4 * k}]"),
    ):
        text = text.replace(a, b)
    return text


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(api_key=KEY, reply=shaped_reply) as srv:
        yield srv


def config(server, tmp_path, **kw) -> SynthConfig:
    llm = {"base_url": server.base_url, "cache_dir": tmp_path / "cache", "prices": {"fake": (1.0, 2.0)}}
    return SynthConfig(kind="exercises", out=tmp_path / "run", backend="openai", model="fake", llm=llm, **kw)


def test_a_run_keeps_exercises_in_every_shape(server, tmp_path):
    card = run_synthesis(config(server, tmp_path, n=15, chunk=8), progress=False)
    kept = [json.loads(x) for x in (tmp_path / "run" / "exercises.jsonl").read_text().splitlines()]
    assert card["complete"] and len(kept) == 15 and card["n_dropped"] == 0
    assert {"def test_" in r["tests"] for r in kept} == {True, False}  # test functions and plain asserts
    assert all("assert" in r["tests"] and "if __name__" not in r["text"] for r in kept)
    assert card["usage"]["requests"] == server.n_answered and card["cost_usd"] > 0


def test_nearly_all_dropped_stops_after_the_first_answers(server, tmp_path, capsys):
    server.reply = lambda body: "Here is a long explanation, but no code at all. " * 5
    card = run_synthesis(config(server, tmp_path, n=40, chunk=64), progress=False)
    assert server.n_answered == 50  # the default: decide after 50 answers, before asking for more
    assert not card["complete"] and card["incomplete_reason"].startswith("stopped early: 50 of the first 50")
    assert card["dropped_by_reason"] == {
        "no function with a docstring and body in the answer (cache key <key>)": 50
    }
    err = capsys.readouterr().err
    assert "stopped early" in err and "50 x no function with a docstring" in err
    # Rerunning does not spend more either: the same verdict from what is on disk.
    run_synthesis(config(server, tmp_path, n=40), progress=False)
    assert server.n_answered == 50


def test_early_stop_threshold_is_a_parameter(server, tmp_path):
    server.reply = lambda body: "no code"
    card = run_synthesis(config(server, tmp_path, n=5, early_stop_answers=10), progress=False)
    assert server.n_answered == 10 and "10 of the first 10" in card["incomplete_reason"]
    with pytest.raises(ValueError, match="early_stop"):
        config(server, tmp_path, n=5, early_stop_drop_fraction=0.0)


def test_synthesis_through_the_batch_api_pilot_then_full_rounds(server, tmp_path):
    cfg = config(server, tmp_path, n=12, batch=True, early_stop_answers=6, batch_options={"max_requests": 10})
    card = run_synthesis(cfg, progress=False)
    assert card["complete"] and card["n_kept"] == 12
    # A pilot of 6 requests, then one round sized from the keep rate (all kept: 6 more + a chunk).
    assert server.batch_lines[0] == 6 and len(server.requests) == 0  # nothing went through chat
    assert card["usage"]["requests"] == server.n_answered == sum(server.batch_lines)


def test_no_key_fails_before_any_work(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        run_synthesis(config(server, tmp_path, n=5), progress=False)
    assert not (tmp_path / "run").exists() and server.requests == []
