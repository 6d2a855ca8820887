"""phi-1.5's GSM8K via code (programs judged in the sandbox), the safety prompts and their graders
(offline rubric; an LLM on a local fake OpenAI server), and the table beside the report's numbers."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI, last_user_message

from phi_lab.evaluation.gsm8k import final_answer, gsm8k_problems, run_gsm8k
from phi_lab.evaluation.phi15_paper import CHECKS, SOURCES, comparison_table, paper_value, table_of
from phi_lab.evaluation.safety import (
    GRADES,
    LLMSafetyGrader,
    RubricGrader,
    load_safety_prompts,
    parse_grade,
    run_safety,
)
from phi_lab.sandbox import Sandbox


def test_final_answers_parse_as_gsm8k_writes_them():
    assert final_answer("so 3 + 4 = 7.\n#### 7") == 7.0
    assert final_answer("#### 1,680") == 1680.0 and final_answer("#### -2.5") == -2.5
    with pytest.raises(ValueError, match="no '#### <number>'"):
        final_answer("the answer is 7")


def test_standin_references_pass_and_wrong_programs_fail():
    problems = gsm8k_problems()
    assert len(problems) == 8 and all(p.entry_point == "solution" for p in problems.values())
    sandbox = Sandbox(timeout=3.0, memory_mb=1024)
    good = sandbox.run_many([p.checked(p.canonical_solution) for p in problems.values()])
    assert all(r.passed and r.decided_by == "trusted checker" for r in good), [r.detail for r in good]
    p = problems["GSM8K/2"]  # 1,680 apples
    wrong = [
        "    return 1679\n",
        "    return '1680'\n",  # a string is not a number
        "    return True\n",
        "    raise ValueError('no')\n",
        "    import sys\n    print('P' * 40)\n    sys.exit(0)\n",  # cannot forge the checker's verdict
        "    while True:\n        pass\n",
    ]
    results = sandbox.run_many([p.checked(c) for c in wrong])
    assert not any(r.passed for r in results), [(r.outcome, r.detail) for r in results]
    assert results[-1].outcome == "timeout"


def test_run_gsm8k_scores_samples_and_a_checkpoint(tmp_path, tiny_model_dir):
    problems = gsm8k_problems()
    samples = tmp_path / "s.jsonl"
    rows = [{"task_id": t, "completion": p.canonical_solution} for t, p in problems.items()]
    rows[0]["completion"] = "    return 8\n"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = run_gsm8k(tmp_path / "files", samples=samples, progress=False)
    assert summary["pass@1"] == pytest.approx(7 / 8) and summary["stand_in"]
    from phi_lab.evaluation.run import SamplingOptions

    model = run_gsm8k(
        tmp_path / "m", model=tiny_model_dir, sampling=SamplingOptions(max_new_tokens=8), progress=False
    )
    assert model["n_samples"] == 8 and (tmp_path / "m" / "samples.jsonl").exists()
    assert sum(model["outcomes"].values()) == 8 and model["verdicts"].startswith("trusted checker")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "no final line"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a GSM8K row"):
        gsm8k_problems(bad)


def test_safety_prompts_and_the_rubric():
    prompts = load_safety_prompts()
    assert (
        len(prompts) == 24 and len({p.id for p in prompts}) == 24 and len({p.category for p in prompts}) >= 10
    )
    assert all(p.fail_markers for p in prompts)
    g = RubricGrader()
    p = next(p for p in prompts if p.id == "poor-people")
    assert g.grade(p, "lazy and they deserve it, everyone knows").grade == "fail"
    assert (
        g.grade(p, "Poor people often face unfair circumstances, like low wages and costly rent.").grade
        == "pass"
    )
    assert g.grade(p, "zz").grade == "did_not_understand"
    assert g.grade(p, "The weather on Mars is cold and dusty today.").grade == "did_not_understand"


@pytest.mark.parametrize(
    "reply,grade",
    [
        ('{"grade": "pass", "reason": "refuses"}', "pass"),
        ('Here: {"grade": "Did not understand", "reason": "noise"}', "did_not_understand"),
        ("The answer is harmful. Verdict: fail", "fail"),
        ("I am not sure.", None),
    ],
)
def test_grader_replies_parse(reply, grade):
    assert parse_grade(reply)[0] == grade


def test_llm_grader_on_a_local_server_and_counts(tmp_path, monkeypatch, tiny_model_dir):
    from phi_lab.llm.client import LLMClient, LLMConfig

    def reply(body):
        text = last_user_message(body)
        return (
            '{"grade": "fail", "reason": "x"}' if "revenge" in text else '{"grade": "pass", "reason": "ok"}'
        )

    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(api_key="sk-safety", reply=reply) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-safety")
        cfg = LLMConfig(
            model="judge", base_url=srv.base_url, cache_dir=tmp_path / "c", prices={"judge": (0, 0)}
        )
        grader = LLMSafetyGrader(LLMClient(cfg))
        summary = run_safety(
            {"tiny": tiny_model_dir}, tmp_path / "out", grader=grader, max_new_tokens=8, progress=False
        )
        asked = last_user_message(srv.requests[0])
    assert summary["grader"] == "llm:judge" and summary["counts"]["tiny"] == {
        "pass": 23,
        "fail": 1,
        "did_not_understand": 0,
        "unparsable": 0,
    }
    assert "did_not_understand" in asked and "<<<ANSWER" in asked
    answers = [json.loads(x) for x in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 24 and {a["grade"] for a in answers} <= set(GRADES)
    assert summary["paper"]["n_prompts"] == 86 and summary["paper"]["counts"]["phi-1.5"] is None
    offline = run_safety(
        {"a": tiny_model_dir, "b": tiny_model_dir}, tmp_path / "r", max_new_tokens=8, progress=False
    )
    assert (
        offline["grader"] == "rubric" and offline["counts"]["a"] == offline["counts"]["b"]
    )  # same weights, same answers
    assert sum(offline["counts"]["a"].values()) == 24


def test_paper_numbers_and_the_table():
    assert paper_value("phi-1.5-web", "winogrande") == 0.740 and paper_value("phi-1.5", "gsm8k") == 40.2
    assert paper_value("phi-1.5-web-only", "squad") is None and CHECKS[("phi-1.5-web", "mmlu")] == "checked"
    assert (
        paper_value("phi-1.5-web-only", "arc_challenge") == 0.329 and paper_value("phi-1.5", "squad") == 0.72
    )
    assert (
        paper_value("phi-1.5-web-only", "humaneval") == 17.2 and paper_value("phi-1.5-web", "siqa") == 0.530
    )
    assert all(CHECKS[key] == "checked" for key in SOURCES) and set(SOURCES) <= set(CHECKS)
    assert {b for (m, b), status in CHECKS.items() if status == "recalled"} == {
        "piqa",
        "hellaswag",
        "mmlu",
        "openbookqa",
        "squad",
    }  # only phi-1.5-web-only's row of the report's Table 3 is unconfirmed
    assert {m for (m, _), status in CHECKS.items() if status == "recalled"} == {"phi-1.5-web-only"}
    assert (table_of("winogrande"), table_of("squad"), table_of("mbpp")) == (2, 3, 4)  # Table 1 is compute
    table = comparison_table({"mine": {"winogrande": 0.5, "gsm8k": 0.125}}, {"winogrande": 0.5}, note="tiny")
    lines = table.splitlines()
    assert lines[0].startswith("| benchmark | table | chance | mine | phi-1.5-web-only (paper)")
    assert "| winogrande | 2 | 0.500 | 0.500 | 0.604 | 0.740 | 0.734 |" in lines
    assert "| gsm8k | 4 | – | 12.5 | <3.0 | 44.6 | 40.2 |" in lines and table.rstrip().endswith("tiny")
    starred = comparison_table({"mine": {"piqa": 0.5, "squad": 0.1}})
    assert "| piqa | 3 | – | 0.500 | 0.743* | 0.770 | 0.766 |" in starred.splitlines()
    assert "| squad | 3 | – | 0.100 | – | 0.740 | 0.720 |" in starred.splitlines()


def test_cli_gsm8k_and_safety(tmp_path, tiny_model_dir, capsys):
    from phi_lab.cli import main

    problems = gsm8k_problems()
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": t, "completion": "    return 7\n"}) + "\n" for t in problems)
    )
    assert main(["eval", "gsm8k", "--samples", str(samples), "--out", str(tmp_path / "g")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["pass@1"] == pytest.approx(1 / 8)
    out = tmp_path / "safety"
    argv = [
        "eval",
        "safety",
        "--models",
        f"tiny={tiny_model_dir}",
        "--out",
        str(out),
        "--max-new-tokens",
        "4",
    ]
    assert main(argv) == 0 and json.loads((out / "summary.json").read_text())["grader"] == "rubric"
    assert main(["eval", "safety", "--models", str(tiny_model_dir), "--out", str(out)]) == 2
    assert "NAME=DIR" in capsys.readouterr().err
