"""Which embedder a task loads, on which device: the part of a pipeline that travels to the workers.

A pipeline is pickled to its workers (processes, Slurm jobs, Ray actors), so it carries the
embedder's *description* and each task loads the model itself, once per process. `device="cuda"`
means one GPU per task: under Slurm or Ray a task sees only its own GPU; on one machine with several,
task r takes GPU r mod n.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from phi_lab.filtering.hashing_embedder import parse_hashing_spec
from phi_lab.model.embeddings import Embedder, get_embedder


@dataclass(frozen=True)
class EmbedderSpec:
    spec: Any = "minilm"  # 'minilm', a causal-LM directory, 'hashing[:DIM]', or an Embedder object
    device: str = "cpu"
    dtype: str | None = None  # None or 'float32': the embedder's default precision

    def describe(self) -> dict[str, Any]:
        """The spec as recorded in run.json: an object or a hashing spec by its embedder's name."""
        if isinstance(self.spec, str):
            hashing = parse_hashing_spec(self.spec)
            spec = hashing.name if hashing is not None else self.spec
        else:
            spec = getattr(self.spec, "name", repr(self.spec))
        return {"spec": spec, "device": self.device, "dtype": self.dtype}


def task_device(device: str, rank: int) -> str:
    """'cuda' on a machine with several visible GPUs -> 'cuda:<rank mod n>'; anything else unchanged."""
    if device != "cuda":
        return device
    import torch

    n = torch.cuda.device_count()
    return f"cuda:{rank % n}" if n > 1 else device


@lru_cache(maxsize=4)
def _load(spec: str, device: str, dtype: str | None) -> Embedder:
    hashing = parse_hashing_spec(spec)
    if hashing is not None:
        return hashing  # type: ignore[return-value]
    kwargs: dict[str, Any] = {}
    if device != "cpu":
        kwargs["device"] = device
    if dtype not in (None, "float32"):
        kwargs["dtype"] = dtype
    return get_embedder(spec, **kwargs)


def load_embedder(spec: EmbedderSpec, rank: int = 0, threads: int | None = None) -> Embedder:
    """The embedder a task uses (loaded once per process and spec)."""
    neural = isinstance(spec.spec, str) and parse_hashing_spec(spec.spec) is None
    if threads and (neural or "torch" in sys.modules):
        import torch

        torch.set_num_threads(threads)  # concurrent tasks share the cores instead of fighting for them
    if not isinstance(spec.spec, str):
        return spec.spec
    return _load(spec.spec, task_device(spec.device, rank), spec.dtype)
