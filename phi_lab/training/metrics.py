"""Run logging: metrics.jsonl (one object per step, validation records marked), TensorBoard, MFU.

MFU = achieved model FLOP/s / the device's peak dense FLOP/s for the precision in use, with
training FLOPs per token from `phi_lab.model.phi.estimate_flops_per_token` (6N + 12·L·d·T).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from phi_lab.io import append_jsonl, atomic_write_jsonl, read_jsonl

# Peak dense tensor-core FLOP/s by device-name substring (first match wins; more specific first).
# bf16/fp16 from the vendors' data sheets (without sparsity); fp32 runs use TF32 on these parts.
PEAK_FLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989e12, "fp16": 989e12, "fp32": 494e12}),
    ("H100 PCIe", {"bf16": 756e12, "fp16": 756e12, "fp32": 378e12}),
    ("H100 NVL", {"bf16": 835e12, "fp16": 835e12, "fp32": 418e12}),
    ("H100", {"bf16": 989e12, "fp16": 989e12, "fp32": 494e12}),  # SXM
    ("A100", {"bf16": 312e12, "fp16": 312e12, "fp32": 156e12}),
    ("A10G", {"bf16": 70e12, "fp16": 70e12, "fp32": 35e12}),
    ("L40S", {"bf16": 362e12, "fp16": 362e12, "fp32": 183e12}),
    ("V100", {"fp16": 125e12, "fp32": 15.7e12}),
]


def peak_flops(device_name: str | None, precision: str) -> float | None:
    """Peak FLOP/s of one device, or None when unknown (CPUs, unlisted GPUs): then no MFU is logged."""
    if not device_name:
        return None
    for key, table in PEAK_FLOPS:
        if key.lower() in device_name.lower():
            return table.get(precision)
    return None


def device_name(device: Any) -> str | None:
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return None


class MetricsLogger:
    """Writes on the main process only; every record is flushed at once so a crash loses nothing."""

    def __init__(
        self,
        out_dir: str | Path,
        enabled: bool = True,
        tensorboard: bool = True,
        purge_step: int | None = None,
    ) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"), purge_step=purge_step)
            except ImportError:  # tensorboard is a dependency, but a missing one must not stop training
                self._tb = None
        if enabled:
            self.path.touch()  # a run that logs nothing still has its (empty) metrics.jsonl

    def truncate_after(self, step: int) -> None:
        """On resume: drop records past the checkpoint's step, which the resumed run logs again (a torn
        last line, from a kill mid-append, goes with them)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [rec for _, rec in read_jsonl(self.path, on_torn="skip") if rec.get("step", 0) <= step]
        atomic_write_jsonl(self.path, keep)

    def log(self, record: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        # no fsync per step (2.6 ms each on ext4, a few % of a small model's step): a crashed process
        # loses nothing, and `sync` makes everything logged durable when a checkpoint commits
        append_jsonl(self.path, [clean], fsync=False)
        if self._tb is not None:
            step = int(record["step"])
            for k, v in record.items():
                if k not in ("step", "kind") and isinstance(v, (int, float)) and v is not None:
                    self._tb.add_scalar(f"{prefix}/{k}", v, step)

    def sync(self) -> None:
        """fsync metrics.jsonl: called before a checkpoint commits, so a power cut never leaves a
        checkpoint whose steps' records are missing (records after it are logged again on resume)."""
        if self.enabled and self.path.exists():
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())

    def close(self) -> None:
        self.sync()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(run_dir: str | Path, kind: str = "train") -> list[dict[str, Any]]:
    """Records of one kind ('train' or 'val') from a run directory's metrics.jsonl. A torn last line (a
    live run mid-append, or a killed one) is skipped; any other bad line is an error naming it."""
    path = Path(run_dir) / "metrics.jsonl"
    return [rec for _, rec in read_jsonl(path, on_torn="skip") if rec.get("kind", "train") == kind]
