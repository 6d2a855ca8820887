"""Where a run's tokens come from: `--data` specs, or the preset's cached offline default.

A spec is a packed directory (has manifest.json), or a raw source (a .jsonl/.parquet file with a
'text' field, a directory of .py files, a saved dataset) that is packed on first use into
`OUT/data/NAME` with the run's tokenizer (resumable, like every `pack`). `SPEC=WEIGHT` gives
mixture weights (phi-1.5: `--data textbooks=0.8 --data phi1=0.2`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phi_lab.data import Mixture, PackConfig, PackedDataset, SkipLog, WindowSampler, pack, read_source
from phi_lab.data.defaults import default_packed_corpus, default_tokenizer
from phi_lab.model.tokenizer import PhiTokenizer


def parse_spec(spec: str) -> tuple[str, float]:
    head, sep, tail = spec.rpartition("=")
    if sep:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return spec, 1.0


def is_packed(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").exists()


def resolve_data(
    specs: list[str] | None,
    default: dict[str, Any],
    out_dir: Path,
    init: str | Path | None,
    progress: bool = True,
) -> tuple[list[Path], list[float]]:
    """Packed directories and their weights; packs raw sources and builds the default if needed."""
    if not specs:
        kind = default.get("kind")
        if kind == "required":
            raise ValueError(f"this preset has no offline default data: {default['hint']}")
        if kind != "offline":
            raise ValueError(f"unknown default data kind {kind!r}")
        path = default_packed_corpus(
            default["tokenizer"], max_bytes=default.get("max_bytes"), progress=progress
        )
        return [path], [1.0]
    dirs, weights = [], []
    for spec in specs:
        raw, weight = parse_spec(spec)
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"--data {raw}: no such file or directory")
        if not is_packed(path):
            tok = run_tokenizer(init, default)
            target = out_dir / "data" / (path.stem or path.name)
            skips = SkipLog()
            manifest = pack(
                read_source(path, skips=skips),
                tok,
                target,
                PackConfig(sources=[str(path)]),
                skips=skips,
                progress=progress,
            )
            if not manifest.get("tokens"):
                raise ValueError(f"--data {raw}: no usable documents (skipped: {skips.counts()})")
            path = target
        dirs.append(path)
        weights.append(weight)
    return dirs, weights


def run_tokenizer(init: str | Path | None, default: dict[str, Any]) -> PhiTokenizer:
    """The tokenizer raw sources are packed with: the --init checkpoint's, else the preset's default."""
    if init is not None:
        return PhiTokenizer.from_pretrained(init)
    name = default.get("tokenizer", "cpu-2k")
    return default_tokenizer(name)


def data_tokenizer(directory: Path) -> PhiTokenizer:
    return PhiTokenizer.from_pretrained(directory / "tokenizer")


def train_stream(dirs: list[Path], weights: list[float], seq_len: int, seed: int, rank: int, world: int):
    """One seekable stream of training windows (a Mixture when there are several directories)."""
    if len(dirs) == 1:
        return WindowSampler(PackedDataset(dirs[0], "train"), seq_len, seed=seed, rank=rank, world_size=world)
    samplers = [WindowSampler(PackedDataset(d, "train"), seq_len, seed=seed + k) for k, d in enumerate(dirs)]
    return Mixture(samplers, weights, rank=rank, world_size=world, names=[str(d) for d in dirs])


def val_windows(directory: Path, seq_len: int, n: int) -> WindowSampler | None:
    """The first `n` held-out windows, in order (the same set at every validation), or None."""
    try:
        ds = PackedDataset(directory, "val")
    except KeyError:
        return None
    if (len(ds) - 1) // seq_len < 1:
        return None
    return WindowSampler(ds, seq_len, shuffle=False)
