"""Weighted mixtures of packed datasets (phi-1.5: 80% synthetic textbooks, 20% phi-1's data).

Which component a sample comes from follows smooth weighted round-robin over the global
sample stream: sample n goes to the component furthest behind its share, `(n + 1) * w_k - count_k`
largest (ties to the first). Every prefix of the stream is therefore within one sample of the
exact proportions, the schedule needs no random numbers, and the state is a few integers. Each
component is an ordinary `WindowSampler` over the global stream (world_size 1); the mixture does
the rank split, so data-parallel runs see the same samples as one process with the same global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phi_lab.data.packed import DEFAULT_SEQ_LEN, PackedDataset, WindowSampler


class Mixture:
    def __init__(
        self,
        samplers: Sequence[WindowSampler],
        weights: Sequence[float],
        rank: int = 0,
        world_size: int = 1,
        names: Sequence[str] | None = None,
    ) -> None:
        if len(samplers) != len(weights) or not samplers:
            raise ValueError(
                f"need one weight per sampler, got {len(samplers)} samplers, {len(weights)} weights"
            )
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
        seq_lens = {s.seq_len for s in samplers}
        if len(seq_lens) != 1:
            raise ValueError(f"all components must use the same seq_len, got {sorted(seq_lens)}")
        if any(s.world_size != 1 for s in samplers):
            raise ValueError("component samplers must have world_size=1; give rank/world_size to the Mixture")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}")
        fingerprints = {s.dataset.tokenizer_fingerprint for s in samplers}
        if len(fingerprints) != 1:
            raise ValueError(
                "components were packed with different tokenizers; re-pack them with one tokenizer"
            )
        total = float(sum(weights))
        self.samplers = list(samplers)
        self.weights = [w / total for w in weights]
        self.names = list(names) if names else [str(s.dataset.directory) for s in samplers]
        self.seq_len = samplers[0].seq_len
        self.rank = rank
        self.world_size = world_size
        self.counts = [0] * len(samplers)

    @classmethod
    def from_dirs(
        cls,
        dirs: Sequence[str | Path],
        weights: Sequence[float],
        seq_len: int = DEFAULT_SEQ_LEN,
        seed: int = 0,
        split: str = "train",
        rank: int = 0,
        world_size: int = 1,
    ) -> Mixture:
        samplers = [
            WindowSampler(PackedDataset(d, split), seq_len, seed=seed + k) for k, d in enumerate(dirs)
        ]
        return cls(samplers, weights, rank, world_size, names=[str(d) for d in dirs])

    @property
    def consumed(self) -> int:
        return sum(self.counts)

    def _choose(self) -> int:
        n = self.consumed + 1
        deficits = [n * w - c for w, c in zip(self.weights, self.counts)]
        return int(np.argmax(deficits))

    def take(self, n: int) -> list[tuple[int, int]]:
        """Advance the global stream by `n` samples: (component, window index) for each."""
        out = []
        for _ in range(n):
            k = self._choose()
            self.counts[k] += 1
            out.append((k, self.samplers[k].take(1)[0]))
        return out

    def next_indices(self, batch_size: int) -> list[tuple[int, int]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        global_batch = self.take(batch_size * self.world_size)
        return global_batch[self.rank * batch_size : (self.rank + 1) * batch_size]

    def next_batch_numpy(self, batch_size: int) -> np.ndarray:
        return np.stack([self.samplers[k].read_window(i) for k, i in self.next_indices(batch_size)])

    def next_batch(self, batch_size: int):
        """A LongTensor (batch_size, seq_len + 1) drawn from the components by weight."""
        import torch

        return torch.from_numpy(self.next_batch_numpy(batch_size))

    def state_dict(self) -> dict[str, Any]:
        return {
            "counts": list(self.counts),
            "weights": list(self.weights),
            "components": [s.state_dict() for s in self.samplers],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["components"]) != len(self.samplers):
            raise ValueError(
                f"state has {len(state['components'])} components, this mixture {len(self.samplers)}"
            )
        if not np.allclose(state["weights"], self.weights):
            raise ValueError(f"state has weights {state['weights']}, this mixture {self.weights}")
        for s, st in zip(self.samplers, state["components"]):
            s.load_state_dict(st)
        self.counts = [int(c) for c in state["counts"]]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={w:.2f}" for n, w in zip(self.names, self.weights))
        return f"Mixture({parts}, rank={self.rank}/{self.world_size}, consumed={self.consumed:,})"
