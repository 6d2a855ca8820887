"""phi-1.5's benchmarks through EleutherAI's lm-eval, offline: task data and YAMLs written here (and
the shipped stand-in suite) run for real through lm-eval's HFLM on an exported tiny checkpoint."""

from __future__ import annotations

import json

import pytest

from phi_lab.evaluation.lm_harness import (
    BENCHMARKS,
    STANDIN_PREFIX,
    HarnessConfig,
    resolve_tasks,
    run_lm_harness,
)

DOCS = [
    {"question": "What falls from clouds?", "choices": ["rain", "bricks"], "label": 0},
    {"question": "What do cows drink?", "choices": ["oil", "water"], "label": 1},
    {"question": "Ice is made of?", "choices": ["water", "sand"], "label": 0},
    {"question": "What do bees make?", "choices": ["honey", "glass"], "label": 0},
]


def write_task(d):
    """A two-choice task in lm-eval's YAML format over a local JSONL file."""
    (d / "data.jsonl").write_text("".join(json.dumps(x) + "\n" for x in DOCS))
    (d / "toy.yaml").write_text(
        "task: phi_lab_toy\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {d / 'data.jsonl'}\n  cache_dir: {d / 'hf'}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        "doc_to_target: label\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return d


def oracle_loglikelihoods(model_dir, context: str, continuations: list[str]) -> list[float]:
    """Sum of log-probabilities of each continuation after the context, computed with phi_lab's own
    Phi (not transformers), tokenized as lm-eval does (whole minus context)."""
    import torch

    from phi_lab.model.loading import load_model

    net, tok = load_model(model_dir)
    out = []
    for cont in continuations:
        ctx_ids = tok.encode(context)
        whole = tok.encode(context + cont)
        with torch.no_grad():
            logits = net(torch.tensor([whole]))
            logits = logits[0] if isinstance(logits, tuple) else logits
            logp = torch.log_softmax(logits[0].float(), -1)
        out.append(sum(logp[i - 1, whole[i]].item() for i in range(len(ctx_ids), len(whole))))
    return out


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tiny_model_dir):
    d = write_task(tmp_path_factory.mktemp("tasks"))
    out = tmp_path_factory.mktemp("lmh")
    cfg = HarnessConfig(tasks=["phi_lab_toy"], include_path=[str(d)], bootstrap_iters=0)
    return out, run_lm_harness(tiny_model_dir, out, cfg), d


def test_lm_eval_scores_our_checkpoint_as_our_model_does(toy_run, tiny_model_dir):
    out, summary, _ = toy_run
    rows = [json.loads(x) for x in (out / "samples" / "phi_lab_toy.jsonl").read_text().splitlines()]
    assert len(rows) == len(DOCS)
    correct = 0
    for row in sorted(rows, key=lambda r: r["doc_id"]):
        doc = DOCS[row["doc_id"]]
        theirs = [r[0][0] if isinstance(r[0], list) else r[0] for r in row["filtered_resps"]]
        ours = oracle_loglikelihoods(
            tiny_model_dir, f"Question: {doc['question']}\nAnswer:", [" " + c for c in doc["choices"]]
        )
        assert theirs == pytest.approx(ours, abs=1e-3)
        correct += max(range(2), key=lambda i: ours[i]) == doc["label"]
    (row,) = summary["rows"]
    assert row["task"] == "phi_lab_toy" and row["metric"] == "acc" and row["n"] == len(DOCS)
    assert row["value"] == pytest.approx(correct / len(DOCS))
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["phi_lab_toy"]["acc,none"] == row["value"] and results["lm_eval_version"]
    assert "phi_lab_toy" in (out / "table.md").read_text()


def test_a_rerun_answers_from_the_request_cache(toy_run, tiny_model_dir):
    out, summary, d = toy_run
    assert list((out / "cache").glob("*.db"))
    again = run_lm_harness(
        tiny_model_dir, out, HarnessConfig(tasks=["phi_lab_toy"], include_path=[str(d)], bootstrap_iters=0)
    )
    assert again["rows"] == summary["rows"]


def test_the_standin_suite_runs_every_benchmark_of_tables_1_and_2(tmp_path, tiny_model_dir):
    summary = run_lm_harness(tiny_model_dir, tmp_path, HarnessConfig(limit=2, bootstrap_iters=0))
    by = {r["benchmark"]: r for r in summary["rows"]}
    assert set(by) == set(BENCHMARKS) and summary["stand_in"]
    for key, r in by.items():
        assert r["task"] == STANDIN_PREFIX + key and r["n"] == 2 and 0.0 <= r["value"] <= 1.0, r
    assert by["mmlu"]["num_fewshot"] == 2 and by["winogrande"]["num_fewshot"] == 0
    assert by["squad"]["metric"] == "exact_match" and by["piqa"]["metric"] == "acc"
    mmlu = json.loads((tmp_path / "samples" / f"{STANDIN_PREFIX}mmlu.jsonl").read_text().splitlines()[0])
    assert mmlu["arguments"][0][0].count("Answer:") == 3  # two shots, then the question
    wino = json.loads(
        (tmp_path / "samples" / f"{STANDIN_PREFIX}winogrande.jsonl").read_text().splitlines()[0]
    )
    # partial scoring: the sentence up to the blank with each option, then the same rest of the sentence
    assert (
        len({ctx for ctx, _ in wino["arguments"]}) == 2 and len({cont for _, cont in wino["arguments"]}) == 1
    )


def test_task_names_map_to_the_hub_and_fail_early(tmp_path, tiny_model_dir):
    hub = {r.benchmark: r for r in resolve_tasks(["phi15"], "hub")}
    assert (
        hub["siqa"].task == "social_iqa" and hub["squad"].task == "squadv2" and hub["squad"].metric == "exact"
    )
    assert hub["mmlu"].num_fewshot == 2 and {r.num_fewshot for k, r in hub.items() if k != "mmlu"} == {0}
    assert [r.task for r in resolve_tasks(["arc_easy", "arc_easy", "lambada"], "hub")] == [
        "arc_easy",
        "lambada",
    ]
    with pytest.raises(ValueError, match="did you mean"):
        run_lm_harness(tiny_model_dir, tmp_path, HarnessConfig(tasks=[f"{STANDIN_PREFIX}winogrand"]))
    with pytest.raises(FileNotFoundError, match="not a transformers checkpoint"):
        run_lm_harness(tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="unknown suite"):
        HarnessConfig(suite="web")


def test_cli_writes_results_and_a_table(toy_run, tiny_model_dir, tmp_path, capsys):
    from phi_lab.cli import main

    _, _, d = toy_run
    argv = [
        "eval",
        "lm-harness",
        "--model",
        str(tiny_model_dir),
        "--tasks",
        "phi_lab_toy",
        "--include-path",
        str(d),
    ]
    assert main([*argv, "--out", str(tmp_path), "--bootstrap-iters", "0"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert printed[0]["task"] == "phi_lab_toy" and (tmp_path / "results.json").exists()
    assert main(["eval", "lm-harness", "--model", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
