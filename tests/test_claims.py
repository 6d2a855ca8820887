"""Figure 2.1's claims from per-problem likelihood files: a planted effect is supported, a null one is
not, the orientation is the paper's, and unpaired problem sets are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phi_lab.reporting.claims import claims_table, figure_2_1_claims
from phi_lab.stats import NOT_SEPARATED, SUPPORTED

N = 164


def _write(eval_dir, name, values, tasks=None):
    d = eval_dir / name / "nll-humaneval"
    d.mkdir(parents=True)
    tasks = tasks or [f"HumanEval/{i}" for i in range(len(values))]
    with open(d / "likelihood.jsonl", "w") as f:
        for t, v in zip(tasks, values, strict=True):
            f.write(json.dumps({"task_id": t, "nll_mean": float(v), "n_tokens": 10}) + "\n")


def _row(name, data, finetuned=False, base=None, preset="micro", tokens=1000):
    return {"name": name, "preset": preset, "steps": 10, "tokens": tokens, "data": data,
            "finetuned": finetuned, "base": base}  # fmt: skip


def test_planted_effect_is_supported_and_a_null_one_is_not(tmp_path):
    rng = np.random.default_rng(0)
    unfiltered = 5.0 + rng.normal(0, 0.5, N)
    filtered = unfiltered - 0.2 + rng.normal(0, 0.05, N)  # 0.2 nats/token better on every problem
    textbook = filtered + rng.normal(0, 0.05, N)  # no effect
    tuned = textbook - 0.1 + rng.normal(0, 0.02, N)
    for name, v in [("u", unfiltered), ("f", filtered), ("t", textbook), ("t-ft", tuned)]:
        _write(tmp_path, name, v)
    results = [_row("u", "unfiltered"), _row("f", "filtered"), _row("t", "codetextbook"),
               _row("t-ft", "codetextbook", finetuned=True, base="t")]  # fmt: skip
    claims = {c.claim.split(" (")[0]: c for c in figure_2_1_claims(results, tmp_path, {})}
    assert claims["filtered beats unfiltered"].verdict == SUPPORTED
    assert claims["filtered beats unfiltered"].effect.estimate == pytest.approx(0.2, abs=0.02)
    assert claims["CodeTextbook beats filtered"].verdict == NOT_SEPARATED
    assert claims["CodeExercises finetuning improves micro-10-codetextbook"].verdict == SUPPORTED
    table = claims_table(list(claims.values()))
    assert "2 of 3 supported" in table and "not separated at this scale" in table


def test_a_worse_model_is_contradicted_and_sizes_compare_at_equal_data(tmp_path):
    rng = np.random.default_rng(1)
    small = 5.0 + rng.normal(0, 0.3, N)
    _write(tmp_path, "s", small)
    _write(tmp_path, "l", small + 0.3)  # the larger model is worse here
    results = [_row("s", "filtered", preset="smoke"), _row("l", "filtered", preset="micro")]
    (claim,) = figure_2_1_claims(results, tmp_path, {"s": 10, "l": 100})
    assert claim.claim.startswith("micro beats smoke") and claim.verdict == "contradicted"


def test_models_scored_on_different_problems_are_refused(tmp_path):
    _write(tmp_path, "u", [5.0, 5.1])
    _write(tmp_path, "f", [4.0, 4.1], tasks=["HumanEval/0", "HumanEval/9"])
    with pytest.raises(ValueError, match="different problems"):
        figure_2_1_claims([_row("u", "unfiltered"), _row("f", "filtered")], tmp_path, {})


def test_seeds_pair_within_seed_and_the_figure_gets_an_interval_per_bar(tmp_path):
    """Three seeds of each side: the effect averages the seeds' per-problem differences; each bar of
    Figure 2.1 gets an interval of its seed-averaged per-problem values."""
    from phi_lab.reporting import figure_2_1
    from phi_lab.reporting.claims import figure_2_1_intervals

    rng = np.random.default_rng(2)
    results = []
    for s in range(3):
        u = 5.0 + rng.normal(0, 0.4, N)
        f = u - 0.05 * (s + 1)  # seed s: an effect of 0.05 (s + 1); mean over seeds 0.1
        for name, data, v in ((f"u-s{s}", "unfiltered", u), (f"f-s{s}", "filtered", f)):
            _write(tmp_path, name, v)
            d = tmp_path / name / "humaneval"
            d.mkdir()
            rows = [{"task_id": f"HumanEval/{i}", "passed": bool(i % 4 == 0)} for i in range(N)]
            (d / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
            results.append(
                {**_row(name, data), "seed": s, "humaneval_pass1": 0.25, "humaneval_nll": float(v.mean())}
            )
    (claim,) = figure_2_1_claims(results, tmp_path, {})
    assert claim.effect.n_seeds == 3 and claim.effect.estimate == pytest.approx(0.1, abs=1e-9)
    assert claim.verdict == SUPPORTED
    bars = figure_2_1_intervals(results, tmp_path)
    nll = bars[("micro", 1000, "filtered", False)]["humaneval_nll"]
    assert nll.n_seeds == 3 and nll.low < nll.estimate < nll.high
    assert bars[("micro", 1000, "unfiltered", False)]["humaneval_pass1"].estimate == pytest.approx(41 / 164)
    figure_2_1(results, tmp_path / "fig.png", intervals=bars)
    assert (tmp_path / "fig.png").stat().st_size > 0
