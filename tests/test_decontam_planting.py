"""Controlled contamination: near-copies that keep behaviour, hide names, and a calibration that counts."""

from __future__ import annotations

import ast

import pytest

from phi_lab.benchmarks import humaneval_problems
from phi_lab.decontamination import planting
from phi_lab.decontamination.ast_match import code_sequence, pair_rate
from phi_lab.sandbox import Sandbox


@pytest.fixture(scope="module")
def problems():
    return humaneval_problems()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(timeout=10.0, workers=2) as sb:
        yield sb


def _rate(code: str, problem) -> float:
    return pair_rate(code_sequence(code), code_sequence(problem.prompt + problem.canonical_solution))[0]


def test_every_level_keeps_behaviour_and_hides_the_original_names(problems, sandbox):
    tasks = ["HumanEval/0", "HumanEval/12", "HumanEval/26", "HumanEval/55", "HumanEval/107"]
    for task in tasks:
        p = problems[task]
        original_names = {n.arg for n in ast.walk(ast.parse(p.prompt)) if isinstance(n, ast.arg)}
        for level in planting.LEVELS:
            code, entry = planting.near_copy(p, level, seed=1)
            assert entry != p.entry_point and f"def {p.entry_point}(" not in code
            tree = ast.parse(code)
            assert not original_names & {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
            ex = planting._as_exercise(p, level, code, entry)
            assert ex.prompt + ex.solution == code
            assert sandbox.run(ex.program()).passed, (task, level)
            broken = ex.program().replace(f"check({entry})", "check(lambda *a: None)")
            assert not sandbox.run(broken).passed  # the tests really exercise the copy
        # names and docstrings are invisible to the AST match rate; rewrites are not
        assert _rate(planting.near_copy(p, "renamed")[0], p) == 1.0


def test_rewritten_copies_move_the_ast_and_the_docstring_is_reworded(problems):
    p = problems["HumanEval/0"]
    code, _ = planting.near_copy(p, "rewritten")
    assert 0.5 < _rate(code, p) < 1.0
    doc = ast.get_docstring(ast.parse(code).body[1])
    assert ">>>" not in doc and "given" not in doc and doc != ast.get_docstring(ast.parse(p.prompt).body[1])
    assert planting.near_copy(p, "rewritten", seed=3) == planting.near_copy(p, "rewritten", seed=3)


def test_plant_draws_n_problems_with_a_seed_and_skips_copies_that_fail(problems, sandbox):
    # HumanEval/32's tests call the prompt's own helper `poly` by name: a renamed copy cannot pass
    some = {t: problems[t] for t in ("HumanEval/32", "HumanEval/0", "HumanEval/2", "HumanEval/4")}
    planted = planting.plant(some, 3, seed=0, sandbox=sandbox)
    assert len(planted) == 3 and "HumanEval/32" not in {c.task_id for c in planted}
    assert [c.level for c in planted] == list(planting.LEVELS)
    assert all(c.exercise.meta["planted_from"] == c.task_id for c in planted)
    assert [c.task_id for c in planting.plant(some, 3, seed=0, sandbox=sandbox)] == [
        c.task_id for c in planted
    ]
    with pytest.raises(ValueError, match="cannot plant"):
        planting.plant(some, 5, sandbox=sandbox)


def test_calibration_counts_recall_per_level_and_false_matches(problems):
    ex = planting._as_exercise(
        problems["HumanEval/0"], "renamed", *planting.near_copy(problems["HumanEval/0"], "renamed")
    )
    planted = [
        planting.PlantedCopy("A", "renamed", ex),
        planting.PlantedCopy("B", "rewritten", ex),
    ]
    rows = planting.calibration(
        {0.95: ["A", "C"], 0.8: ["A", "B", "C", "D"]}, planted, ["A", "B", "C", "D", "E"]
    )
    assert rows[0] == {
        "tau": 0.95,
        "planted": 2,
        "found": 1,
        "recall": 0.5,
        "false_matches": 1,
        "not_planted": 3,
        "recall_renamed": 1.0,
        "recall_rewritten": 0.0,
    }
    assert rows[1]["recall"] == 1.0 and rows[1]["false_matches"] == 2


def test_plant_into_appends_records_once_and_a_killed_run_completes(problems, sandbox, tmp_path):
    import json

    exercises = tmp_path / "exercises.jsonl"
    exercises.write_text(json.dumps({"id": "ex-0", "prompt": "def f():\n", "solution": "    return 1\n",
                                     "tests": "assert f() == 1\n", "meta": {}, "text": "x"}) + "\n")  # fmt: skip
    some = {k: problems[k] for k in list(problems)[:12]}
    summary = planting.plant_into(exercises, 3, seed=1, problems=some, sandbox=sandbox)
    rows = [json.loads(line) for line in exercises.read_text().splitlines()]
    planted = planting.load_planted(tmp_path / planting.PLANTED_FILE)
    assert summary["planted"] == 3 == len(planted) and len(rows) == 4
    assert {r["id"] for r in rows[1:]} == {c.exercise.id for c in planted}
    assert all(
        r["text"] == r["prompt"] + r["solution"] and r["meta"]["source"] == "planted" for r in rows[1:]
    )
    planting.plant_into(exercises, 3, seed=1, problems=some, sandbox=sandbox)  # a rerun adds nothing
    assert exercises.read_text().count("\n") == 4
    exercises.write_text("\n".join(exercises.read_text().splitlines()[:2]) + "\n")  # killed mid-append
    planting.plant_into(exercises, 3, seed=1, problems=some, sandbox=sandbox)
    assert [json.loads(line)["id"] for line in exercises.read_text().splitlines()] == [r["id"] for r in rows]
    with pytest.raises(ValueError, match="other settings"):
        planting.plant_into(exercises, 4, seed=1, problems=some, sandbox=sandbox)
