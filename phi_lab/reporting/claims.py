"""Figure 2.1's claims, measured on a run: each a paired per-problem difference with a 95% interval.

The claims (§2 of the paper, Figure 2.1):
- the filtered corpus beats the unfiltered one, and CodeTextbook (filtered + synthetic textbooks) beats
  the filtered corpus, at each model size, token budget and stage (base / finetuned);
- CodeExercises finetuning improves each base model;
- the larger model beats the smaller at equal data (same dataset, token count and stage).

The metric is the mean per-token NLL of each problem's canonical solution (lower is better), on every
problem of the benchmark; pass@1 at CPU scale is 0 everywhere and says nothing. The effect is the
worse side's NLL minus the better side's, so positive agrees with the paper. With one seed the
interval is a paired bootstrap over problems (BCa); with several, over problems within seeds
(`stats.paired_difference`; a row's `seed` field says which seed a model was trained with). A claim is
"supported" only where its interval excludes zero in the paper's direction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from phi_lab.stats import Claim, Interval, claim_from_runs, mean_interval

DATA_ORDER = ("unfiltered", "filtered", "codetextbook")


def problem_nll(eval_dir: str | Path, name: str, benchmark: str = "humaneval") -> dict[str, float]:
    """task_id -> mean per-token NLL of its canonical solution, from the evaluation stage's files."""
    path = Path(eval_dir) / name / f"nll-{benchmark}" / "likelihood.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no per-problem likelihoods for {name}: {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["task_id"]: float(r["nll_mean"]) for r in rows}


def problem_passes(eval_dir: str | Path, name: str, benchmark: str = "humaneval") -> dict[str, float]:
    """task_id -> share of its samples that passed (pass@1 per problem for one greedy sample)."""
    path = Path(eval_dir) / name / benchmark / "results.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no per-problem verdicts for {name}: {path}")
    passed: dict[str, list[bool]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            passed.setdefault(r["task_id"], []).append(bool(r["passed"]))
    return {t: sum(v) / len(v) for t, v in passed.items()}


def figure_2_1_intervals(
    results: Sequence[Mapping[str, Any]], eval_dir: str | Path, benchmark: str = "humaneval", seed: int = 0
) -> dict[tuple, dict[str, Interval]]:
    """Per bar of Figure 2.1, (preset, tokens, data, finetuned): 95% bootstrap intervals over problems
    of pass@1 and of solution NLL, per-problem values averaged over the bar's seeds first."""
    bars: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in results:
        bars.setdefault((r["preset"], r["tokens"], r["data"], bool(r["finetuned"])), []).append(r)
    out: dict[tuple, dict[str, Interval]] = {}
    for key, rows in bars.items():
        out[key] = {}
        for metric, read in (("humaneval_nll", problem_nll), ("humaneval_pass1", problem_passes)):
            per_model = [read(eval_dir, r["name"], benchmark) for r in rows]
            tasks = sorted(per_model[0])
            if any(sorted(v) != tasks for v in per_model):
                raise ValueError(f"the seeds of {key} were scored on different problems")
            out[key][metric] = mean_interval([[v[t] for t in tasks] for v in per_model], seed=seed)
    return out


def _side(
    rows: Sequence[Mapping[str, Any]], nll: Mapping[str, Mapping[str, float]]
) -> dict[int, list[float]]:
    """seed -> per-problem values (in task order) of the models in `rows` (one per seed)."""
    out: dict[int, list[float]] = {}
    for r in rows:
        values = nll[r["name"]]
        out[int(r.get("seed", 0))] = [values[t] for t in sorted(values)]
    return out


def figure_2_1_claims(
    results: Sequence[Mapping[str, Any]],
    eval_dir: str | Path,
    parameters: Mapping[str, int],
    benchmark: str = "humaneval",
    seed: int = 0,
) -> list[Claim]:
    """Every claim of Figure 2.1 this run's grid can test (see the module docstring)."""
    nll = {r["name"]: problem_nll(eval_dir, r["name"], benchmark) for r in results}
    tasks = {n: sorted(v) for n, v in nll.items()}
    if len({tuple(t) for t in tasks.values()}) > 1:
        raise ValueError("the models were scored on different problems: their differences cannot be paired")
    metric = f"{benchmark} solution NLL (nats/token)"

    def group(**keys: Any) -> list[Mapping[str, Any]]:
        return [r for r in results if all(r.get(k) == v for k, v in keys.items())]

    def claim(text: str, better: Sequence[Mapping[str, Any]], worse: Sequence[Mapping[str, Any]]) -> Claim:
        return claim_from_runs(text, _side(better, nll), _side(worse, nll), metric=metric, seed=seed)

    claims: list[Claim] = []
    cells = sorted({(r["preset"], r["steps"], r["tokens"], bool(r["finetuned"])) for r in results}, key=str)
    for preset, steps, tokens, tuned in cells:
        stage = "finetuned" if tuned else "base"
        at = f"{preset}, {steps} steps ({tokens:,} tokens), {stage}"
        side = {d: group(preset=preset, steps=steps, finetuned=tuned, data=d) for d in DATA_ORDER}
        for worse, better, what in (
            ("unfiltered", "filtered", "filtered beats unfiltered"),
            ("filtered", "codetextbook", "CodeTextbook beats filtered"),
        ):
            if side[worse] and side[better]:
                claims.append(claim(f"{what} ({at})", side[better], side[worse]))
    for preset, steps, data in sorted({(r["preset"], r["steps"], r["data"]) for r in results}, key=str):
        bases = group(preset=preset, steps=steps, data=data, finetuned=False)
        names = {b["name"] for b in bases}
        tuned_rows = [r for r in results if r.get("finetuned") and r.get("base") in names]
        if bases and tuned_rows:
            text = f"CodeExercises finetuning improves {preset}-{steps}-{data}"
            claims.append(claim(text, tuned_rows, bases))
    presets = {r["preset"] for r in results}
    missing = sorted({r["name"] for r in results} - set(parameters)) if len(presets) > 1 else []
    if missing:
        raise ValueError(f"comparing model sizes needs every model's parameter count; missing {missing}")
    sizes = (
        sorted(presets, key=lambda p: min(parameters[r["name"]] for r in results if r["preset"] == p))
        if len(presets) > 1
        else []
    )
    for small, large in pairwise(sizes):
        for r in group(preset=large):
            twin = group(preset=small, data=r["data"], tokens=r["tokens"], finetuned=r["finetuned"])
            if twin:
                stage = "finetuned" if r["finetuned"] else "base"
                text = f"{large} beats {small} ({r['data']}, {r['tokens']:,} tokens, {stage})"
                claims.append(claim(text, [r], twin))
    return claims


def claims_table(claims: Sequence[Claim]) -> str:
    """The report's "claim, effect, 95% interval, supported?" table, with how each interval was made."""
    from phi_lab.reporting.tables import markdown_table

    rows = [
        (
            c.claim,
            f"{c.effect.estimate:+.4f}",
            f"[{c.effect.low:+.4f}, {c.effect.high:+.4f}]",
            c.verdict,
            f"{c.effect.method}, {c.effect.n} problems x {c.effect.n_seeds} seed(s)",
        )
        for c in claims
    ]
    n_supported = sum(c.supported for c in claims)
    head = (
        "# Figure 2.1's claims on this run\n\n"
        f"{n_supported} of {len(claims)} supported. Effect: NLL of the side the paper calls worse minus the "
        "other's (nats/token; positive agrees with the paper), averaged over seeds; 95% bootstrap interval "
        'over problems. "Supported" only where the interval excludes zero.\n\n'
    )
    return head + markdown_table(["claim", "effect", "95% interval", "verdict", "interval"], rows) + "\n"
