"""Learning-rate schedules as multipliers of the peak lr (for torch's LambdaLR).

phi-1 (§2.3): linear warmup over `warmup` steps, then linear decay to `min_lr` at `max_steps`.
phi-1.5: constant, no warmup. Cosine is here for ablations.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_multiplier(step: int, schedule: str, warmup: int, max_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier for the lr used by optimizer step `step` (0-based)."""
    if schedule not in ("constant", "warmup_linear", "warmup_cosine"):
        raise ValueError(f"unknown schedule {schedule!r}")
    if schedule == "constant":
        return 1.0 if warmup <= 0 else min(1.0, (step + 1) / warmup)
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup  # never 0: the first step already learns
    span = max(1, max_steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    if schedule == "warmup_linear":
        decay = 1.0 - progress
    else:
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * decay


def schedule_fn(schedule: str, warmup: int, max_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    lr_multiplier(0, schedule, warmup, max_steps, min_ratio)  # fail early on an unknown name
    return lambda step: lr_multiplier(step, schedule, warmup, max_steps, min_ratio)
