"""Bootstrap intervals and claims: agreement with scipy, found effects, null effects, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

from phi_lab import stats


def test_mean_interval_is_scipys_bca_interval_on_the_same_resamples():
    x = np.random.default_rng(1).normal(4.5, 0.7, size=164)
    got = stats.mean_interval(x, seed=7)
    ref = bootstrap(
        (x,), np.mean, method="BCa", n_resamples=stats.N_RESAMPLES, random_state=np.random.default_rng(7)
    )
    assert got.method == "BCa" and got.n == 164
    assert got.estimate == pytest.approx(x.mean())
    assert (got.low, got.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert got.low < got.estimate < got.high


def test_seeds_are_averaged_per_problem_before_resampling():
    rows = np.random.default_rng(2).normal(size=(3, 50))
    multi, single = stats.mean_interval(rows, seed=0), stats.mean_interval(rows.mean(axis=0), seed=0)
    assert (multi.estimate, multi.low, multi.high) == (single.estimate, single.low, single.high)
    assert (multi.n_seeds, single.n_seeds) == (3, 1)


def test_all_equal_values_give_a_zero_width_interval_and_binary_rates_work():
    zeros = stats.mean_interval([0.0] * 164)
    assert (zeros.low, zeros.estimate, zeros.high) == (0, 0, 0) and zeros.method.startswith("degenerate")
    rate = stats.mean_interval([1.0] * 20 + [0.0] * 144, seed=0)
    assert 0 < rate.low < 20 / 164 < rate.high < 0.25


def test_a_planted_effect_is_supported_and_a_null_effect_is_not():
    rng = np.random.default_rng(3)
    problems = rng.normal(5.0, 1.0, size=164)  # per-problem difficulty, shared by both models
    per_seed = lambda shift, s: problems + shift + np.random.default_rng(s).normal(0, 0.3, 164)  # noqa: E731
    better = {s: per_seed(0.0, s) for s in range(3)}
    worse = {s: per_seed(0.15, 100 + s) for s in range(3)}
    same = {s: per_seed(0.0, 200 + s) for s in range(3)}
    found = stats.claim_from_runs("better beats worse", better, worse, metric="nll")
    assert found.supported and found.verdict == stats.SUPPORTED
    assert found.effect.estimate == pytest.approx(0.15, abs=0.05) and found.effect.n_seeds == 3
    null = stats.claim_from_runs("better beats same", better, same, metric="nll")
    assert null.verdict == stats.NOT_SEPARATED and not null.supported
    backwards = stats.claim_from_runs("worse beats better", worse, better, metric="nll")
    assert backwards.verdict == stats.CONTRADICTED
    # hierarchical resampling also counts seed-to-seed variation: never narrower here
    hier = stats.claim_from_runs("h", better, worse, hierarchical=True)
    assert hier.effect.method == "hierarchical percentile"
    assert hier.effect.high - hier.effect.low >= 0.9 * (found.effect.high - found.effect.low)
    assert hier.supported


def test_same_inputs_same_numbers_and_a_different_seed_moves_only_the_resampling():
    x = np.random.default_rng(4).normal(size=80)
    assert stats.mean_interval(x, seed=5) == stats.mean_interval(x, seed=5)
    other = stats.mean_interval(x, seed=6)
    assert other.estimate == stats.mean_interval(x, seed=5).estimate
    assert other.low != stats.mean_interval(x, seed=5).low


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="share no seed"):
        stats.claim_from_runs("x", {0: [1.0, 2.0]}, {1: [1.0, 2.0]})
    assert stats.seed_spread([1.0, 3.0]) == {
        "n_seeds": 2,
        "mean": 2.0,
        "std": pytest.approx(2**0.5),
        "min": 1.0,
        "max": 3.0,
    }


def test_statistic_interval_agrees_with_scipys_paired_percentile_bootstrap():
    from scipy.stats import bootstrap

    from phi_lab.stats import statistic_interval

    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 200), rng.normal(0.3, 1, 200)

    def stat(x, y):
        return float(np.mean(y - x))

    ours = statistic_interval(stat, a, b, n_resamples=4000)
    ref = bootstrap((a, b), stat, paired=True, vectorized=False, n_resamples=4000, method="percentile",
                    random_state=np.random.default_rng(0)).confidence_interval  # fmt: skip
    assert ours.estimate == pytest.approx(0.3, abs=0.15)
    assert ours.low == pytest.approx(ref.low, abs=0.03) and ours.high == pytest.approx(ref.high, abs=0.03)
    with pytest.raises(ValueError, match="undefined on most"):
        statistic_interval(lambda x: float("nan"), a)
