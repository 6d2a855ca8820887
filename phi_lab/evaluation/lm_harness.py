"""phi-1.5's common-sense, language and knowledge benchmarks through EleutherAI's lm-eval harness.

The report (Tables 1 and 2) scores WinoGrande, ARC-Easy, ARC-Challenge, BoolQ, SIQA, PIQA,
HellaSwag and OpenBookQA zero-shot, MMLU 2-shot and SQuAD by exact match. Here lm-eval does all of
it: its Hugging Face model class (`lm_eval.models.huggingface.HFLM`) loads the checkpoint directory
(every phi_lab checkpoint is a transformers `PhiForCausalLM` directory) and its tasks build the
prompts, run the log-likelihood or generation requests and score them. Nothing of the scoring is
re-implemented here; this module only chooses tasks, groups them by shot count, and writes lm-eval's
results JSON, its Markdown table and a per-benchmark summary.

Two suites:

- "hub": lm-eval's own tasks by name (winogrande, arc_easy, ..., mmlu with 2 shots, squadv2's
  exact match), which download their datasets from the Hugging Face hub: never a default.
- "standin" (the default, offline): tasks of the same names prefixed `phi15_standin_`, whose data
  (`data/phi15_standin_tasks.json`, six items each, written for this project, not benchmark items)
  has the hub datasets' fields and whose YAMLs use the hub tasks' prompt formats, read by lm-eval
  from local JSON files (`dataset_path: json`). They exercise the same machinery; their scores are
  not comparable with the paper's.

Resumable: lm-eval's request cache (`use_cache`) keeps every answered request in
`<out>/cache/`, keyed by the checkpoint's weights, so a killed run recomputes only what is missing.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json, atomic_write_jsonl, atomic_write_text

SUITES = ("standin", "hub")
STANDIN_PREFIX = "phi15_standin_"
ALL = "phi15"  # shorthand for every benchmark of Tables 1 and 2


@dataclass(frozen=True)
class Benchmark:
    key: str  # the name used here and in the paper's tables
    hub_task: str  # lm-eval's task (or group) name
    num_fewshot: int
    metric: str  # what the paper reports, as lm-eval names it for the hub task
    table: int  # the phi-1.5 report's table
    chance: float  # the score of guessing uniformly (0 for exact match)
    standin_metric: str = ""  # the stand-in task's name for the same metric (default: `metric`)


BENCHMARKS: dict[str, Benchmark] = {
    b.key: b
    for b in (
        Benchmark("winogrande", "winogrande", 0, "acc", 1, 0.5),
        Benchmark("arc_easy", "arc_easy", 0, "acc", 1, 0.25),
        Benchmark("arc_challenge", "arc_challenge", 0, "acc", 1, 0.25),
        Benchmark("boolq", "boolq", 0, "acc", 1, 0.5),
        Benchmark("siqa", "social_iqa", 0, "acc", 1, 1 / 3),
        Benchmark("piqa", "piqa", 0, "acc", 2, 0.5),
        Benchmark("hellaswag", "hellaswag", 0, "acc", 2, 0.25),
        Benchmark("openbookqa", "openbookqa", 0, "acc", 2, 0.25),
        Benchmark("mmlu", "mmlu", 2, "acc", 2, 0.25),
        # lm-eval's SQuAD task is v2 (its metric `exact`); the report says "SQUAD (EM)".
        Benchmark("squad", "squadv2", 0, "exact", 2, 0.0, standin_metric="exact_match"),
    )
}

_MC = {"output_type": "multiple_choice"}
_ACC = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]
_ACC_NORM = [*_ACC, {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]
# The stand-in tasks: the hub tasks' prompt formats (lm-eval's YAMLs), without their custom Python.
STANDIN_YAML: dict[str, dict[str, Any]] = {
    # lm-eval's partial scoring: the choices are the sentence up to the blank with each option, the
    # target is the rest of the sentence; doc_to_text gives the index of the right context.
    "winogrande": {
        **_MC,
        "doc_to_text": "{{ answer | int - 1 }}",
        "doc_to_target": "{{ sentence[sentence.index('_') + 1:].strip() }}",
        "doc_to_choice": "{{ [sentence[:sentence.index('_')] + option1, sentence[:sentence.index('_')] + option2] }}",
        "metric_list": _ACC,
    },
    "arc_easy": {
        **_MC,
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{choices.label.index(answerKey)}}",
        "doc_to_choice": "{{choices.text}}",
        "metric_list": _ACC_NORM,
    },
    "boolq": {
        **_MC,
        "doc_to_text": "{{passage}}\nQuestion: {{question}}?\nAnswer:",
        "doc_to_target": "label",
        "doc_to_choice": ["no", "yes"],
        "metric_list": _ACC,
    },
    "siqa": {
        **_MC,
        "doc_to_text": "Q: {{context}} {{question}}\nA:",
        "target_delimiter": " ",
        "doc_to_choice": "{{[answerA, answerB, answerC]}}",
        "doc_to_target": "{{ (label|int) - 1 }}",
        "metric_list": _ACC,
    },
    "piqa": {
        **_MC,
        "doc_to_text": "Question: {{goal}}\nAnswer:",
        "doc_to_target": "label",
        "doc_to_choice": "{{[sol1, sol2]}}",
        "metric_list": _ACC_NORM,
    },
    "hellaswag": {
        **_MC,
        "doc_to_text": "{{ctx}}",
        "doc_to_target": "{{label | int}}",
        "doc_to_choice": "{{endings}}",
        "metric_list": _ACC_NORM,
    },
    "openbookqa": {
        **_MC,
        "doc_to_text": "question_stem",
        "doc_to_target": "{{choices.label.index(answerKey.lstrip())}}",
        "doc_to_choice": "{{choices.text}}",
        "metric_list": _ACC_NORM,
    },
    "mmlu": {
        **_MC,
        "fewshot_split": "dev",
        "fewshot_config": {"sampler": "first_n"},
        "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
        "doc_to_choice": ["A", "B", "C", "D"],
        "doc_to_target": "answer",
        "metric_list": _ACC,
    },
    "squad": {
        "output_type": "generate_until",
        "doc_to_text": "Title: {{title}}\n\nBackground: {{context}}\n\nQuestion: {{question}}\n\nAnswer:",
        "doc_to_target": "{{answers.text[0]}}",
        "target_delimiter": " ",
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 16, "do_sample": False},
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": True,
            }
        ],
    },
}
STANDIN_YAML["arc_challenge"] = STANDIN_YAML["arc_easy"]


def standin_data() -> dict[str, Any]:
    path = resources.files("phi_lab.evaluation") / "data" / "phi15_standin_tasks.json"
    return json.loads(path.read_text(encoding="utf-8"))


def write_standin_tasks(directory: str | Path) -> Path:
    """The stand-in suite as lm-eval task YAMLs + JSONL data in `directory` (absolute data paths, a
    datasets cache inside it); pass the directory as lm-eval's `include_path`."""
    import yaml

    directory = Path(directory).resolve()
    data = standin_data()
    for key, spec in STANDIN_YAML.items():
        files = {}
        for split, rows in data[key].items():
            files[split] = str(atomic_write_jsonl(directory / "data" / f"{key}.{split}.jsonl", rows))
        task = {
            "task": STANDIN_PREFIX + key,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files, "cache_dir": str(directory / "hf_datasets")},
            "test_split": "test",
            **spec,
            "metadata": {"version": 1.0, "stand_in": True},
        }
        atomic_write_text(directory / f"{STANDIN_PREFIX}{key}.yaml", yaml.safe_dump(task, sort_keys=False))
    return directory


@dataclass(frozen=True)
class TaskRequest:
    task: str  # lm-eval's task name
    num_fewshot: int | None
    benchmark: str | None = None  # the paper's benchmark it stands for
    metric: str | None = None  # the metric reported for it (None: every metric lm-eval gives)


def resolve_tasks(
    tasks: Sequence[str], suite: str = "standin", num_fewshot: int | None = None
) -> list[TaskRequest]:
    """Benchmark keys (or 'phi15' for all ten) -> the suite's tasks with the paper's shot counts;
    any other name is an lm-eval task passed through as is (with `num_fewshot`, default lm-eval's)."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    if not tasks:
        raise ValueError(
            f"give at least one task: a benchmark ({', '.join(BENCHMARKS)}), {ALL!r} or an lm-eval task"
        )
    names = [k for t in tasks for k in (BENCHMARKS if t == ALL else [t])]
    out, seen = [], set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        b = BENCHMARKS.get(name)
        if b is None:
            out.append(TaskRequest(name, num_fewshot))
        elif suite == "hub":
            out.append(
                TaskRequest(
                    b.hub_task, b.num_fewshot if num_fewshot is None else num_fewshot, b.key, b.metric
                )
            )
        else:
            shots = b.num_fewshot if num_fewshot is None else num_fewshot
            out.append(TaskRequest(STANDIN_PREFIX + b.key, shots, b.key, b.standin_metric or b.metric))
    return out


@dataclass
class HarnessConfig:
    tasks: list[str] = field(default_factory=lambda: [ALL])
    suite: str = "standin"
    num_fewshot: int | None = None  # override every task's shot count
    include_path: list[str] = field(default_factory=list)  # extra directories of task YAMLs
    limit: int | None = None  # documents per task (lm-eval's --limit)
    batch_size: int = 8
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    bootstrap_iters: int = 1000  # lm-eval's stderr bootstrap (100,000 by default; slow for many tasks)
    log_samples: bool = True
    verbosity: str = "WARNING"

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"unknown suite {self.suite!r}; choose from {', '.join(SUITES)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.batch_size < 1 or self.bootstrap_iters < 0:
            raise ValueError("batch_size must be >= 1 and bootstrap_iters >= 0")


def _weights_key(model: Path) -> str:
    """The checkpoint's identity for the request cache: path plus weight files' sizes and mtimes."""
    stamp = [str(model.resolve())]
    for f in sorted(model.glob("*.safetensors")) + sorted(model.glob("*.bin")):
        st = f.stat()
        stamp.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]


def _check_model(model: Path) -> None:
    if not (model / "config.json").is_file():
        raise FileNotFoundError(
            f"{model} is not a transformers checkpoint directory (no config.json): pass a phi_lab "
            "checkpoint (every checkpoint directory is one) or `phi-lab model export` output"
        )


def _task_manager(requests: list[TaskRequest], include: list[str], verbosity: str):
    from lm_eval.tasks import TaskManager

    # Indexing lm-eval's thousands of bundled YAMLs takes tens of seconds: only when a task needs them.
    tm = None
    if include:
        tm = TaskManager(verbosity=verbosity, include_path=include, include_defaults=False)
        if not {r.task for r in requests} <= set(tm.all_tasks):
            tm = None
    if tm is None:
        tm = TaskManager(verbosity=verbosity, include_path=include or None, include_defaults=True)
    known = set(tm.all_tasks)
    for r in requests:
        if r.task not in known:
            close = difflib.get_close_matches(r.task, sorted(known), n=5)
            raise ValueError(
                f"unknown lm-eval task {r.task!r}" + (f"; did you mean {close}?" if close else "")
            )
    return tm


def _metric_value(task_results: dict[str, Any], metric: str | None) -> tuple[str, float | None, float | None]:
    """(metric, value, stderr) from lm-eval's `<metric>,<filter>` keys (the first filter)."""
    keys = [k for k in task_results if "," in k and not k.split(",")[0].endswith("_stderr")]
    if metric is not None:
        keys = [k for k in keys if k.split(",")[0] == metric] or keys
    if not keys:
        return metric or "", None, None
    key = keys[0]
    name, filt = key.split(",", 1)
    stderr = task_results.get(f"{name}_stderr,{filt}")
    value = task_results[key]
    return name, float(value), (float(stderr) if isinstance(stderr, int | float) else None)


def run_lm_harness(model: str | Path, out: str | Path, config: HarnessConfig | None = None) -> dict[str, Any]:
    """Evaluate the checkpoint `model` on `config.tasks` with lm-eval; write into `out`:
    results.json (lm-eval's results, configs, versions, n-shot...), samples/<task>.jsonl (every
    document's requests and responses), table.md (lm-eval's Markdown table), summary.json (one row per
    task: the paper's metric, value, stderr, documents). Returns the summary."""
    config = config or HarnessConfig()
    model, out = Path(model), Path(out)
    _check_model(model)
    requests = resolve_tasks(config.tasks, config.suite, config.num_fewshot)
    out.mkdir(parents=True, exist_ok=True)
    include = [str(Path(p).resolve()) for p in config.include_path]
    if any(r.task.startswith(STANDIN_PREFIX) for r in requests):
        include.append(str(write_standin_tasks(out / "standin_tasks")))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.utils import handle_non_serializable, make_table

    tm = _task_manager(requests, include, config.verbosity)
    lm = HFLM(pretrained=str(model), device=config.device, batch_size=config.batch_size, dtype=config.dtype)
    merged: dict[str, Any] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    cache = out / "cache" / _weights_key(model)
    cache.parent.mkdir(parents=True, exist_ok=True)
    groups: dict[int | None, list[str]] = {}
    for r in requests:
        groups.setdefault(r.num_fewshot, []).append(r.task)
    for shots, names in groups.items():
        res = lm_eval.simple_evaluate(
            model=lm,
            tasks=names,
            num_fewshot=shots,
            task_manager=tm,
            limit=config.limit,
            bootstrap_iters=config.bootstrap_iters,
            log_samples=config.log_samples,
            use_cache=str(cache),
            random_seed=config.seed,
            numpy_random_seed=config.seed,
            torch_random_seed=config.seed,
            fewshot_random_seed=config.seed,
            verbosity=config.verbosity,
        )
        if res is None:  # not rank 0 of a distributed run
            continue
        samples.update(res.pop("samples", {}) or {})
        for key, value in res.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged.setdefault(key, value)
    merged["phi_lab"] = {
        "model": str(model),
        "suite": config.suite,
        "requests": [r.__dict__ for r in requests],
        "stand_in": config.suite == "standin",
    }
    atomic_write_text(
        out / "results.json", json.dumps(merged, indent=2, default=handle_non_serializable) + "\n"
    )
    for task, rows in samples.items():
        atomic_write_jsonl(
            out / "samples" / f"{task}.jsonl", json.loads(json.dumps(rows, default=handle_non_serializable))
        )
    table = make_table(merged)
    if merged.get("groups"):
        table += "\n" + make_table(merged, "groups")
    atomic_write_text(out / "table.md", table)
    rows = []
    for r in requests:
        task_res = (merged.get("groups") or {}).get(r.task) or merged["results"].get(r.task, {})
        metric, value, stderr = _metric_value(task_res, r.metric)
        rows.append(
            {
                "benchmark": r.benchmark or r.task,
                "task": r.task,
                "num_fewshot": (merged.get("n-shot") or {}).get(r.task, r.num_fewshot),
                "metric": metric,
                "value": value,
                "stderr": stderr,
                "n": ((merged.get("n-samples") or {}).get(r.task) or {}).get("effective"),
            }
        )
    summary = {
        "model": str(model),
        "suite": config.suite,
        "stand_in": config.suite == "standin",
        "lm_eval_version": merged.get("lm_eval_version"),
        "rows": rows,
    }
    atomic_write_json(out / "summary.json", summary, indent=2)
    return summary
