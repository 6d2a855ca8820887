"""The educational-value filter's decisions (§2.1): its settings, the threshold, per-source summaries.

The corpus-wide work (read, embed, classify, write kept and dropped with reasons) runs as a
datatrove pipeline in `phi_lab.pipelines.edu_filter`; this module holds what that pipeline decides
with: `FilterConfig`, how the threshold is chosen once every score exists (a probability cut, or the
score that keeps a target fraction), the histogram group of a document, and the histogram plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phi_lab.reporting.figures import save_figure, score_histograms

HISTOGRAM_BINS = 20


@dataclass
class FilterConfig:
    shard_size: int = 256  # .py files per work unit (and rows x 16 of a saved dataset)
    threshold: float | None = None  # probability cut; None: the classifier's own threshold
    keep_fraction: float | None = None  # alternatively: keep this fraction of the best-scored files
    batch_size: int = 32  # embedder batch size (chunks per forward pass)
    merge: bool = True  # also write kept.jsonl / dropped.jsonl (else only the per-task parts)

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.threshold is not None and self.keep_fraction is not None:
            raise ValueError("give either threshold or keep_fraction, not both")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.keep_fraction is not None and not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")


def source_group(source: str, meta: dict[str, Any] | None) -> str:
    """The histogram group of a document: its source, split by origin when the corpus records one."""
    origin = (meta or {}).get("origin")
    return f"{source}/{origin}" if origin else source


def choose_threshold(scores: np.ndarray, config: FilterConfig, default: float) -> tuple[float, str]:
    """The cut and how it was chosen: keep a fraction of the best, a fixed cut, or `default`."""
    if config.keep_fraction is not None:
        if len(scores) == 0:
            return 1.0, f"keep_fraction {config.keep_fraction}"
        k = max(1, round(config.keep_fraction * len(scores)))
        # ties at the cut are all kept
        return float(np.sort(scores)[::-1][k - 1]), f"keep_fraction {config.keep_fraction}"
    if config.threshold is not None:
        return float(config.threshold), "fixed"
    return float(default), "classifier"


def histogram_counts(scores: list[float] | np.ndarray) -> list[int]:
    counts, _ = np.histogram(np.asarray(scores, dtype=np.float64), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


def plot_histograms(scores_by_group: dict[str, list[float]], threshold: float, path: Path) -> Path:
    """One histogram of classifier scores per source group, the threshold marked, written atomically
    (the figure itself: `phi_lab.reporting.score_histograms`)."""
    return save_figure(score_histograms(scores_by_group, threshold, bins=HISTOGRAM_BINS), path, dpi=100)
