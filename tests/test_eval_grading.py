"""Table 2 grading: the unconventional problems, grade parsing, the LLM grader against a local fake
OpenAI server, and the test-running default without an API."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI, last_user_message

from phi_lab.benchmarks import load_unconventional
from phi_lab.cli import main
from phi_lab.evaluation.grading import TEST_GRADER, parse_grade
from phi_lab.sandbox import Sandbox


def test_unconventional_problems_are_real_and_solved_by_their_references():
    problems = load_unconventional()
    assert len(problems) >= 20
    assert len({p.entry_point for p in problems.values()}) == len(problems)
    sandbox = Sandbox(timeout=3.0, memory_mb=1024)
    good = sandbox.run_many([p.checked(p.canonical_solution) for p in problems.values()])
    assert all(r.passed for r in good), [(t, r.detail) for t, r in zip(problems, good) if not r.passed]
    # the tests bite: an empty body fails every problem
    bad = sandbox.run_many([p.checked("    return None\n") for p in problems.values()])
    assert not any(r.passed for r in bad)


@pytest.mark.parametrize(
    "reply,grade",
    [
        ("Correct and clear.\nGrade: 8/10", 8.0),
        ("Handles edge cases.\n**Grade:** 9 / 10", 9.0),
        ("It misses the empty list. I'd give it 6 out of 10.", 6.0),
        ("Score: 7.5", 7.5),
        ("The grade is 3", 3.0),
        ("An early 10/10 thought... on reflection the loop is wrong.\nGrade: 4/10", 4.0),
        ("grade: 0/10 - does nothing", 0.0),
        ("Looks fine to me.", None),
        ("Grade: 42/10", None),
    ],
)
def test_parse_grade(reply, grade):
    assert parse_grade(reply) == grade


def _samples(tmp_path, problems):
    rows = []
    for i, (tid, p) in enumerate(problems.items()):
        rows.append(
            {"task_id": tid, "completion": p.canonical_solution if i % 2 == 0 else "    return None\n"}
        )
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_grading_through_an_openai_compatible_server(tmp_path, monkeypatch):
    problems = load_unconventional()
    path, rows = _samples(tmp_path, problems)

    def reply(body):
        text = last_user_message(body)
        if "crease_pattern" in text:
            return "I cannot decide."  # unparsable: kept, excluded from the mean
        return "Plausible.\nGrade: 9/10" if "return None" not in text else "Does nothing.\nGrade: 1/10"

    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(api_key="sk-test-grader", reply=reply) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-grader")
        out = tmp_path / "graded"
        argv = [
            "eval",
            "grade",
            "--samples",
            str(path),
            "--out",
            str(out),
            "--llm-model",
            "fake-model",
            "--base-url",
            srv.base_url,
        ]
        assert main(argv) == 0
        n_requests = len(srv.requests)
        assert n_requests == len(rows)
        prompt = srv.requests[0]["messages"][-1]["content"]
        assert "verbal evaluation" in prompt and "Grade: X/10" in prompt
        # cached: a second run sends nothing
        assert main(argv) == 0
        assert len(srv.requests) == n_requests
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grader"] == "llm:fake-model" and summary["n_unparsable"] == 1
    n_good = sum(1 for r in rows[1:] if r["completion"] != "    return None\n")
    n_bad = len(rows) - 1 - n_good
    assert summary["score_percent"] == pytest.approx(10 * (9 * n_good + 1 * n_bad) / (n_good + n_bad))
    assert summary["pass@1"] == pytest.approx(
        sum(1 for r in rows if r["completion"] != "    return None\n") / len(rows)
    )
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert results[0]["grade"] is None and results[1]["grade"] == 1.0 and results[2]["grade"] == 9.0
    assert "sk-test-grader" not in (out / "summary.json").read_text() + (out / "results.jsonl").read_text()


def test_grading_without_an_api_runs_the_tests_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("PHI_LAB_GRADER_MODEL", raising=False)
    problems = load_unconventional()
    path, rows = _samples(tmp_path, problems)
    out = tmp_path / "graded"
    assert main(["eval", "grade", "--samples", str(path), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grader"] == TEST_GRADER and "no LLM API" in summary["grader"]
    expected = 100.0 * sum(1 for r in rows if r["completion"] != "    return None\n") / len(rows)
    assert summary["score_percent"] == pytest.approx(expected)
    assert summary["pass@1"] * 100 == pytest.approx(expected)


def test_llm_grading_without_a_key_fails_before_any_request(tmp_path, monkeypatch):
    from phi_lab.evaluation.grading import grade_with_llm
    from phi_lab.llm.client import LLMClient, LLMConfig, LLMError

    monkeypatch.delenv("PHI_TEST_GRADER_KEY", raising=False)
    problems = load_unconventional()
    _, rows = _samples(tmp_path, problems)
    with FakeOpenAI(reply=lambda body: "Grade: 9/10") as srv:
        client = LLMClient(LLMConfig(model="gpt-4", base_url=srv.base_url, api_key_env="PHI_TEST_GRADER_KEY",
                                     cache_dir=tmp_path / "cache"))  # fmt: skip
        with pytest.raises(LLMError, match="PHI_TEST_GRADER_KEY is not set"):
            grade_with_llm(problems, rows, client, progress=False)
        assert srv.requests == []
