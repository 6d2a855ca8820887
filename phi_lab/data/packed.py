"""Reading packed token shards and drawing training windows from them, deterministically.

`PackedDataset(dir, split)` memory-maps the shards a `pack()` run wrote and reads any token
range across shard boundaries. `WindowSampler` cuts the split into non-overlapping windows of
`seq_len + 1` tokens (inputs plus shifted targets; neighbouring windows share one token), visits
them in a seeded permutation per epoch, and keeps its whole position in one integer: the number
of windows of the *global* stream consumed so far. That makes it

- seekable: `seek(n)` jumps anywhere in O(1) (one permutation per epoch, cached);
- resumable: `state_dict()` goes into every checkpoint, `load_state_dict()` continues exactly;
- data-parallel: with `rank/world_size`, every rank takes the same global batch of
  `batch_size * world_size` windows and keeps its own contiguous slice, so N processes see exactly
  the samples one process sees with the same global batch, and the state is identical on all ranks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
DEFAULT_SEQ_LEN = 2048


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"{directory}: no {MANIFEST}; is this a directory written by `phi-lab data pack`?"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: broken manifest ({e})") from e


class PackedDataset:
    """One split of a packed directory as a flat, read-only array of token ids."""

    def __init__(self, directory: str | Path, split: str = "train", verify: bool = False) -> None:
        self.directory = Path(directory)
        self.split = split
        self.manifest = read_manifest(self.directory)
        if self.manifest.get("status") != "complete":
            raise ValueError(
                f"{self.directory}: packing did not finish (status {self.manifest.get('status')!r}); "
                "run the same `phi-lab data pack` command again to resume it"
            )
        splits = self.manifest["splits"]
        if split not in splits:
            raise KeyError(f"{self.directory}: no split {split!r} (have {', '.join(splits)})")
        self.dtype = np.dtype(self.manifest["dtype"])
        self.eos_id: int = int(self.manifest["tokenizer"]["eos_id"])
        self.vocab_size: int = int(self.manifest["tokenizer"]["vocab_size"])
        self.tokenizer_fingerprint: str = self.manifest["tokenizer"]["fingerprint"]
        self.n_documents: int = int(splits[split]["documents"])
        self._shards: list[np.memmap] = []
        offsets = [0]
        for shard in splits[split]["shards"]:
            path = self.directory / shard["file"]
            expected = int(shard["tokens"]) * self.dtype.itemsize
            size = path.stat().st_size if path.exists() else -1
            if size != expected:
                raise ValueError(f"{path}: {size} bytes on disk, the manifest says {expected}; re-pack it")
            if verify and _sha256_file(path) != shard["sha256"]:
                raise ValueError(f"{path}: sha256 differs from the manifest; the shard is corrupt")
            self._shards.append(np.memmap(path, dtype=self.dtype, mode="r"))
            offsets.append(offsets[-1] + int(shard["tokens"]))
        self._offsets = np.asarray(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def n_tokens(self) -> int:
        return len(self)

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) as a fresh int64 array (crosses shard boundaries)."""
        if start < 0 or length < 0 or start + length > len(self):
            raise IndexError(f"tokens [{start}, {start + length}) outside 0..{len(self)} of {self.split}")
        out = np.empty(length, dtype=np.int64)
        pos = start
        filled = 0
        k = int(np.searchsorted(self._offsets, start, side="right")) - 1
        while filled < length:
            shard_start = int(self._offsets[k])
            lo = pos - shard_start
            take = min(length - filled, len(self._shards[k]) - lo)
            out[filled : filled + take] = self._shards[k][lo : lo + take]
            filled += take
            pos += take
            k += 1
        return out

    def documents(self) -> list[dict[str, Any]]:
        """The per-document index (source, path, sha256, token offset/length) of this split."""
        rows: list[dict[str, Any]] = []
        base = 0
        for shard in self.manifest["splits"][self.split]["shards"]:
            with open(self.directory / shard["index"], encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    row["offset"] += base
                    rows.append(row)
            base += int(shard["tokens"])
        return rows

    def __repr__(self) -> str:
        return (
            f"PackedDataset({str(self.directory)!r}, split={self.split!r}, tokens={len(self):,}, "
            f"documents={self.n_documents:,}, dtype={self.dtype.name})"
        )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class WindowSampler:
    """Seeded, seekable stream of `seq_len + 1`-token windows over a `PackedDataset`."""

    def __init__(
        self,
        dataset: PackedDataset,
        seq_len: int = DEFAULT_SEQ_LEN,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be positive, got {seq_len}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}")
        self.dataset = dataset
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.n_windows = (len(dataset) - 1) // seq_len
        if self.n_windows < 1:
            raise ValueError(
                f"{dataset.directory} ({dataset.split}): the corpus has {len(dataset):,} tokens, shorter than "
                f"one training window of seq_len + 1 = {seq_len + 1:,} tokens; pack more data or lower seq_len"
            )
        self.consumed = 0  # windows of the global stream taken so far (all ranks together)
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None

    # ---------------------------------------------------------------- position
    @property
    def epoch(self) -> int:
        return self.consumed // self.n_windows

    @property
    def tokens_per_epoch(self) -> int:
        return self.n_windows * self.seq_len

    def seek(self, consumed: int) -> None:
        """Jump to global stream position `consumed` (windows already used by all ranks)."""
        if consumed < 0:
            raise ValueError(f"position must be >= 0, got {consumed}")
        self.consumed = int(consumed)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly here; the same on every rank."""
        return {
            "consumed": self.consumed,
            "epoch": self.epoch,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "n_windows": self.n_windows,
            "shuffle": self.shuffle,
            "tokenizer_fingerprint": self.dataset.tokenizer_fingerprint,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "seq_len", "n_windows", "shuffle"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"sampler state has {key}={state[key]!r} but this sampler has {getattr(self, key)!r}; "
                    "resuming on different data or settings would not continue the same stream"
                )
        self.seek(int(state["consumed"]))

    # ---------------------------------------------------------------- drawing
    def _window_index(self, position: int) -> int:
        epoch, i = divmod(position, self.n_windows)
        if not self.shuffle:
            return i
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(self.n_windows)
            self._perm_epoch = epoch
        assert self._perm is not None
        return int(self._perm[i])

    def take(self, n: int) -> list[int]:
        """Advance the global stream by `n` windows and return their indices."""
        out = [self._window_index(self.consumed + j) for j in range(n)]
        self.consumed += n
        return out

    def read_window(self, index: int) -> np.ndarray:
        return self.dataset.read(index * self.seq_len, self.seq_len + 1)

    def next_indices(self, batch_size: int) -> list[int]:
        """This rank's `batch_size` window indices of the next global batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        global_batch = self.take(batch_size * self.world_size)
        return global_batch[self.rank * batch_size : (self.rank + 1) * batch_size]

    def next_batch_numpy(self, batch_size: int) -> np.ndarray:
        return np.stack([self.read_window(i) for i in self.next_indices(batch_size)])

    def next_batch(self, batch_size: int):
        """A LongTensor (batch_size, seq_len + 1): inputs are [:, :-1], targets [:, 1:]."""
        import torch

        return torch.from_numpy(self.next_batch_numpy(batch_size))

    def __repr__(self) -> str:
        return (
            f"WindowSampler(seq_len={self.seq_len}, windows={self.n_windows:,}, seed={self.seed}, "
            f"rank={self.rank}/{self.world_size}, consumed={self.consumed:,})"
        )
