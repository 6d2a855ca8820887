"""Uncertainty for every number the reproduction reports: bootstrap intervals and claims.

- `mean_interval(values)`: a 95% interval for a mean over problems (pass@1 as 0/1 per problem, or a
  per-problem NLL), by `scipy.stats.bootstrap` with the BCa method (bias-corrected and accelerated; it
  falls back to the percentile method where BCa's jackknife is degenerate, and to a zero-width interval
  where every value is equal, e.g. pass@1 = 0 on every problem).
- `paired_difference(a, b)`: the per-problem paired difference of two models, averaged over seeds, with
  a paired bootstrap over problems within seeds (the problems are resampled once per replicate and the
  same resample is applied to every seed, so the seeds' per-problem differences stay paired).
- `hierarchical_difference(a, b)`: the same effect, resampling seeds and then problems (wider: it also
  counts the seed-to-seed variation; percentile method).
- `statistic_interval(fn, labels, scores)`: a paired percentile bootstrap of any statistic over items
  (a classifier's held-out kappa, ROC AUC, F1).
- `Claim`: a claim of the paper with its effect and interval; it is "supported" only where the interval
  excludes zero in the paper's direction, "contradicted" where it excludes zero the other way, and
  "not separated at this scale" otherwise.

Effects are always oriented so that positive means "as the paper says" (e.g. NLL of the worse model minus
NLL of the better one). Everything is seeded: the same inputs give the same intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.95
N_RESAMPLES = 9999
SUPPORTED, CONTRADICTED, NOT_SEPARATED = "supported", "contradicted", "not separated at this scale"


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    method: str  # "BCa", "percentile", "hierarchical percentile" or "degenerate (all values equal)"
    n: int  # problems (the resampled unit)
    n_seeds: int = 1

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"


def _as_matrix(values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """(seeds, problems) float array from one row of per-problem values or one row per seed."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"expected per-problem values (one row per seed), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("values must be finite (a missing problem is not a zero)")
    return arr


def _scipy_mean_interval(
    x: np.ndarray, level: float, n_resamples: int, seed: int
) -> tuple[float, float, str]:
    from scipy.stats import bootstrap

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's degenerate-jackknife warning: we fall back instead
            res = bootstrap(
                (x,),
                np.mean,
                confidence_level=level,
                n_resamples=n_resamples,
                method=method,
                random_state=np.random.default_rng(seed),
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high, method
    raise ValueError("bootstrap gave no finite interval")


def mean_interval(
    values: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
    *,
    level: float = LEVEL,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Mean over problems (averaged over seeds first when several rows) with a bootstrap interval
    over problems."""
    m = _as_matrix(values)
    x = m.mean(axis=0)
    est = float(x.mean())
    if np.ptp(x) == 0:
        return Interval(est, est, est, level, "degenerate (all values equal)", x.size, m.shape[0])
    if x.size < 2:
        raise ValueError("an interval over problems needs at least two problems")
    low, high, method = _scipy_mean_interval(x, level, n_resamples, seed)
    return Interval(est, low, high, level, method, x.size, m.shape[0])


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    ma, mb = _as_matrix(a), _as_matrix(b)
    if ma.shape != mb.shape:
        raise ValueError(f"paired values need the same (seeds, problems) shape, got {ma.shape} vs {mb.shape}")
    return ma, mb


def paired_difference(
    a, b, *, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> Interval:
    """mean(a - b): per-problem differences, averaged over seeds, bootstrapped over problems (BCa).

    Resampling problems and averaging over seeds commutes with the mean, so this is the paired
    bootstrap over problems within seeds."""
    ma, mb = _paired(a, b)
    return mean_interval(ma - mb, level=level, n_resamples=n_resamples, seed=seed)


def hierarchical_difference(
    a, b, *, level: float = LEVEL, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> Interval:
    """mean(a - b) with seeds resampled, then problems resampled (percentile interval)."""
    ma, mb = _paired(a, b)
    d = ma - mb
    n_seeds, n_problems = d.shape
    est = float(d.mean())
    if np.ptp(d) == 0:
        return Interval(est, est, est, level, "degenerate (all values equal)", n_problems, n_seeds)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples)
    for i in range(n_resamples):
        seeds = rng.integers(0, n_seeds, n_seeds)
        problems = rng.integers(0, n_problems, n_problems)
        stats[i] = d[np.ix_(seeds, problems)].mean()
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Interval(est, float(low), float(high), level, "hierarchical percentile", n_problems, n_seeds)


def statistic_interval(
    statistic,
    *samples: Sequence[float] | np.ndarray,
    level: float = LEVEL,
    n_resamples: int = 1999,
    seed: int = 0,
) -> Interval:
    """A percentile bootstrap interval of `statistic(*samples)` over items resampled jointly (paired):
    for agreement metrics of a classifier on its held-out files (kappa, ROC AUC, F1), where each item is
    one file's (label, score). Replicates where the statistic is undefined (one class only) are dropped."""
    arrays = [np.asarray(a) for a in samples]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError("need at least two items, the same number in every sample")
    est = float(statistic(*arrays))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        try:
            value = float(statistic(*(a[idx] for a in arrays)))
        except ValueError:  # e.g. ROC AUC of a resample holding one class
            continue
        if np.isfinite(value):
            stats.append(value)
    if len(stats) < n_resamples // 2:
        raise ValueError(
            f"the statistic is undefined on most resamples ({len(stats)} of {n_resamples} usable)"
        )
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Interval(est, float(low), float(high), level, "percentile (paired items)", n)


def seed_spread(per_seed: Sequence[float]) -> dict[str, float | int]:
    """Mean, standard deviation (ddof=1, 0 for one seed), min and max of a metric across seeds."""
    x = np.asarray(per_seed, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no seeds")
    return {
        "n_seeds": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
    }


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, measured: `effect` is oriented so that positive agrees with the paper."""

    claim: str
    effect: Interval
    metric: str = ""

    @property
    def verdict(self) -> str:
        if self.effect.low > 0:
            return SUPPORTED
        if self.effect.high < 0:
            return CONTRADICTED
        return NOT_SEPARATED

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED

    def to_dict(self) -> dict:
        return {"claim": self.claim, "metric": self.metric, "verdict": self.verdict, **self.effect.to_dict()}


def claim_from_runs(
    claim: str,
    better: Mapping[int, Sequence[float]],
    worse: Mapping[int, Sequence[float]],
    *,
    lower_is_better: bool = True,
    metric: str = "",
    hierarchical: bool = False,
    seed: int = 0,
) -> Claim:
    """A claim "`better` beats `worse`" from per-seed, per-problem values of the same problems.

    Only seeds both sides have are paired. With lower_is_better (NLL) the effect is worse - better."""
    seeds = sorted(set(better) & set(worse))
    if not seeds:
        raise ValueError(f"{claim}: the two sides share no seed")
    b = [better[s] for s in seeds]
    w = [worse[s] for s in seeds]
    hi, lo = (w, b) if lower_is_better else (b, w)
    fn = hierarchical_difference if hierarchical and len(seeds) > 1 else paired_difference
    return Claim(claim, fn(hi, lo, seed=seed), metric)
