"""`hf://<repo>[/<data_dir>]`: a Hugging Face hub dataset streamed with `datasets.load_dataset(..., streaming=True)`.

The Stack (`hf://bigcode/the-stack-dedup/data/python`) is hundreds of GB: streaming reads it file by
file without a local copy, and the stream's shards (its data files) are the units that tasks split.
This is a real path for machines with a network and never a default. The same call also takes a
packaged builder with local files (`load_dataset("parquet", data_files=...)`), which is how it is
tested offline and how a local copy of a hub layout can be read through the identical code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from phi_lab.data.documents import Document, SkipLog, is_scalar
from phi_lab.data.formats import resolve_text_field

PREFIX = "hf://"


@dataclass(frozen=True)
class HubSource:
    repo: str  # a hub dataset id ("bigcode/the-stack-dedup"), or a builder ("parquet") with data_files
    data_dir: str | None = None
    data_files: tuple[str, ...] | None = None
    config: str | None = None
    split: str = "train"

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> HubSource:
        """'hf://owner/name/sub/dir' -> repo 'owner/name', data_dir 'sub/dir'; 'hf://parquet' -> a builder."""
        if not uri.startswith(PREFIX):
            raise ValueError(f"{uri!r}: a hub source starts with {PREFIX}")
        parts = [p for p in uri[len(PREFIX) :].split("/") if p]
        if not parts:
            raise ValueError(f"{uri!r}: no dataset after {PREFIX}")
        repo = "/".join(parts[:2])
        data_dir = "/".join(parts[2:]) or options.get("data_dir")
        files = options.get("data_files")
        if isinstance(files, str):
            files = tuple(f for f in files.split(",") if f)
        return cls(
            repo,
            data_dir,
            tuple(files) if files else None,
            options.get("config"),
            options.get("split") or "train",
        )

    @property
    def uri(self) -> str:
        return PREFIX + self.repo + (f"/{self.data_dir}" if self.data_dir else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "data_dir": self.data_dir,
            "data_files": list(self.data_files) if self.data_files else None,
            "config": self.config,
            "split": self.split,
        }


def open_stream(src: HubSource):
    """The streaming dataset (an `IterableDataset`); nothing is downloaded up front."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError(f"reading {src.uri} needs the Hugging Face `datasets` package") from e
    kwargs: dict[str, Any] = {"split": src.split, "streaming": True}
    if src.config:
        kwargs["name"] = src.config
    if src.data_dir:
        kwargs["data_dir"] = src.data_dir
    if src.data_files:
        kwargs["data_files"] = list(src.data_files)
    return datasets.load_dataset(src.repo, **kwargs)


def stream_columns(ds) -> list[str]:
    """Column names, from the features when the builder knows them, else from the first row."""
    if ds.column_names:
        return list(ds.column_names)
    first = next(iter(ds), None)
    return list(first) if first else []


def n_shards(src: HubSource) -> int:
    return int(open_stream(src).n_shards)


def read_hub(
    src: HubSource,
    text_field: str | None = None,
    skips: SkipLog | None = None,
    source: str | None = None,
    shard: int | None = None,
) -> Iterator[Document]:
    """Rows of the stream (or of one of its shards), one Document each; paths are `URI[SHARD:ROW]`."""
    skips = skips if skips is not None else SkipLog()
    source = source or src.repo.split("/")[-1]
    ds = open_stream(src)
    if shard is not None:
        ds = ds.shard(num_shards=ds.n_shards, index=shard)
    field = resolve_text_field(stream_columns(ds), text_field, src.uri)
    prefix = f"{src.uri}[{shard}:" if shard is not None else f"{src.uri}["
    for i, rec in enumerate(ds):
        where = f"{prefix}{i}]"
        text = rec.get(field)
        if not isinstance(text, str) or not text.strip():
            skips.add(where, "empty" if text is None or isinstance(text, str) else "not-a-string", source)
            continue
        yield Document(text, source, where, {k: v for k, v in rec.items() if k != field and is_scalar(v)})
