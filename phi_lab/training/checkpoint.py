"""Training checkpoints: atomic directories that are also transformers-format models.

    out/checkpoints/step-00001000/
        config.json, model.safetensors, tokenizer.json ...   (phi_lab.model.loading.load_model / PhiForCausalLM)
        trainer_state.pt     optimizer, scheduler, loss scaler, sampler position, every RNG state,
                             step, tokens seen, best validation loss
        deepspeed/           the ZeRO-partitioned optimizer state, for DeepSpeed runs only

A checkpoint is written into a hidden temporary directory and renamed into place, so a crash
(SIGKILL included) leaves either the previous set of checkpoints or the new one, never half of it.
`keep_last` rotating checkpoints are kept, plus pinned steps and `best` (lowest validation loss).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phi_lab.io import atomic_write_json

STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def capture_rng() -> dict[str, Any]:
    """Every random stream a training step can touch (python, numpy, torch CPU, CUDA if present)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    """The trainer state of a checkpoint, on CPU (moved to the device only by the optimizer)."""
    path = Path(ckpt) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{ckpt}: no {STATE_FILE}; not a phi-lab training checkpoint")
    # Our own file (optimizer tensors plus numpy/python RNG tuples), so full unpickling is intended.
    return torch.load(path, map_location="cpu", weights_only=False)


class CheckpointManager:
    def __init__(
        self,
        out_dir: str | Path,
        keep_last: int = 3,
        keep_steps: tuple[int, ...] = (),
        keep_best: bool = False,
    ) -> None:
        self.root = Path(out_dir) / "checkpoints"
        self.keep_last = keep_last
        self.keep_steps = set(keep_steps)
        self.keep_best = keep_best

    def step_dirs(self) -> list[tuple[int, Path]]:
        if not self.root.exists():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name))]
        return sorted(found)

    def latest(self) -> Path | None:
        dirs = [p for _, p in self.step_dirs() if (p / STATE_FILE).exists()]
        return dirs[-1] if dirs else None

    @property
    def best_dir(self) -> Path:
        return self.root / "best"

    def tmp_dir(self, step: int) -> Path:
        """A fresh hidden directory to write checkpoint `step` into (leftovers of a crash are removed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.root / f".tmp-step-{step:08d}"
        tmp.mkdir()
        return tmp

    def commit(
        self, tmp: Path, step: int, val_loss: float | None = None, best_so_far: float | None = None
    ) -> Path:
        """Rename `tmp` into place as step-NNNNNNNN, copy it to `best` if it is, then rotate."""
        final = self.root / f"step-{step:08d}"
        _fsync_tree(tmp)
        if final.exists():  # the same step written again after a resume: replace it whole
            old = self.root / f".tmp-old-{step:08d}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        if self.keep_best and val_loss is not None and (best_so_far is None or val_loss <= best_so_far):
            self._set_best(final, step, val_loss)
        self.rotate()
        return final

    def _set_best(self, src: Path, step: int, val_loss: float) -> None:
        tmp = self.root / ".tmp-best"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, copy_function=_link_or_copy)
        atomic_write_json(tmp / "best.json", {"step": step, "val_loss": val_loss}, indent=None)
        old = self.root / ".tmp-old-best"
        if self.best_dir.exists():
            os.replace(self.best_dir, old)
        os.replace(tmp, self.best_dir)
        shutil.rmtree(old, ignore_errors=True)

    def rotate(self) -> list[Path]:
        rotating = [p for s, p in self.step_dirs() if s not in self.keep_steps]
        removed = rotating[: max(0, len(rotating) - self.keep_last)]
        for p in removed:
            shutil.rmtree(p, ignore_errors=True)
        return removed


def write_checkpoint_files(tmp: Path, save_model_fn: Callable[[Path], Any], state: dict[str, Any]) -> None:
    save_model_fn(tmp)
    torch.save(state, tmp / STATE_FILE)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # files in a committed checkpoint are never modified, so sharing is safe
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(d: Path) -> None:
    for p in d.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
