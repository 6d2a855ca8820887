"""Table 3: pass@1 on similar / non-similar problems from results files, beside the paper's numbers."""

import json

import pytest

from phi_lab.decontamination.table3 import (
    PAPER_TABLE3,
    read_task_likelihood,
    read_task_results,
    table3,
    table3_csv,
)

TASKS = [f"HumanEval/{i}" for i in range(10)]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_rates_from_results_files(tmp_path):
    # original: tasks 0-4 pass; retrained at 0.9: 2 samples per task, task i passes (i % 2 == 0) once
    orig = read_task_results(
        _write(
            tmp_path / "o.jsonl",
            [
                {"task_id": t, "completion": "x", "result": "passed" if i < 5 else "failed", "passed": i < 5}
                for i, t in enumerate(TASKS)
            ],
        )
    )
    re9 = read_task_results(
        _write(
            tmp_path / "r.jsonl",
            [{"task_id": t, "passed": ok} for i, t in enumerate(TASKS) for ok in (i % 2 == 0, False)],
        )
    )
    assert orig["HumanEval/0"] == 1.0 and re9["HumanEval/0"] == 0.5 and re9["HumanEval/1"] == 0.0
    similar = {0.95: TASKS[:2], 0.9: TASKS[:4]}
    rows = table3(similar, TASKS, orig, {0.9: re9})
    by = {(r["tau"], r["subset"]): r for r in rows}
    assert [(r["tau"], r["subset"]) for r in rows][:3] == [
        (0.95, "similar"),
        (0.95, "non-similar"),
        (0.95, "total"),
    ]
    assert by[(0.95, "similar")]["problem_count"] == 2 and by[(0.95, "non-similar")]["problem_count"] == 8
    assert by[(0.95, "similar")]["original_pass@1"] == 100.0
    assert by[(0.95, "non-similar")]["original_pass@1"] == pytest.approx(100 * 3 / 8)
    assert by[(0.9, "similar")]["retrained_pass@1"] == pytest.approx(100 * (0.5 + 0 + 0.5 + 0) / 4)
    assert by[(0.9, "total")]["retrained_pass@1"] == pytest.approx(25.0)
    assert by[(0.95, "total")]["retrained_pass@1"] is None
    assert (
        by[(0.9, "similar")]["paper_problem_count"] == 93
        and by[(0.9, "similar")]["paper_phi1_pass@1"] == 63.4
    )
    csv_text = table3_csv(rows)
    assert csv_text.splitlines()[4] == "0.9,similar,4,100.0,25.0,,,93,63.4,51.6,48.4"
    no_ref = table3(similar, TASKS, orig, paper_reference=False)
    assert all(r["paper_problem_count"] is None for r in no_ref)


def test_missing_tasks_and_bad_records_are_errors(tmp_path):
    partial = read_task_results(_write(tmp_path / "p.jsonl", [{"task_id": TASKS[0], "passed": True}]))
    with pytest.raises(ValueError, match="no results for 9 task"):
        table3({0.9: TASKS[:1]}, TASKS, partial)
    with pytest.raises(ValueError, match=r"p.jsonl:1: `passed` must be true or false"):
        read_task_results(_write(tmp_path / "p.jsonl", [{"task_id": "a", "passed": "yes"}]))
    with pytest.raises(ValueError, match=r"p.jsonl:2: need a JSON object"):
        read_task_results(_write(tmp_path / "p.jsonl", [{"task_id": "a", "passed": True}, {"passed": True}]))
    with pytest.raises(ValueError, match="no pruning decision"):
        table3({0.9: TASKS[:1]}, TASKS, None, {0.8: partial})


def test_paper_reference_is_internally_consistent():
    """The transcribed paper numbers: counts add up to 164 and every rate is a whole number of problems."""
    assert sorted(PAPER_TABLE3) == [0.8, 0.85, 0.9, 0.95]
    for tau, t in PAPER_TABLE3.items():
        assert t["similar"][0] + t["non-similar"][0] == t["total"][0] == 164, tau
        for col in (1, 2, 3):
            subsets = ("similar", "non-similar", "total")
            solved = [t[s][0] * t[s][col] / 100 for s in subsets]
            # a rate printed to 0.1% is off by at most 0.05% of the count
            assert all(abs(x - round(x)) <= t[s][0] * 0.0005 + 1e-9 for x, s in zip(solved, subsets)), (
                tau,
                col,
            )
            assert round(solved[0]) + round(solved[1]) == round(solved[2]), (tau, col)
    assert {t["total"][1] for t in PAPER_TABLE3.values()} == {50.6}  # the original phi-1


def test_solution_likelihood_is_token_weighted_per_subset(tmp_path):
    nll = read_task_likelihood(
        _write(
            tmp_path / "l.jsonl",
            [
                {
                    "task_id": t,
                    "n_tokens": 10 * (i + 1),
                    "nll_sum": 10.0 * (i + 1) * (1 + i % 2),
                    "nll_mean": 1.0 + i % 2,
                }
                for i, t in enumerate(TASKS)
            ],
        )
    )
    rows = table3({0.9: TASKS[:2]}, TASKS, original_nll=nll, retrained_nll={0.9: nll})
    by = {r["subset"]: r for r in rows}
    assert by["similar"]["original_nll_per_token"] == pytest.approx((10 * 1 + 20 * 2) / 30)
    assert by["total"]["retrained_nll_per_token"] == pytest.approx(sum(nll[t][0] for t in TASKS) / 550)
    assert table3_csv(rows).splitlines()[1].split(",")[5] == "1.6667"
    with pytest.raises(ValueError, match=r"l.jsonl:1: need `task_id`, `nll_sum`, `n_tokens`"):
        read_task_likelihood(_write(tmp_path / "l.jsonl", [{"task_id": "a", "nll_mean": 1.0}]))
