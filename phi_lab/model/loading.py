"""One entry point for "give me a model and its tokenizer" from any checkpoint directory.

Every directory phi-lab writes (an exported model, and every training checkpoint) is in the
transformers format: config.json + model.safetensors, with tokenizer.json beside them. Directories
written by transformers itself (e.g. a local copy of microsoft/phi-1) load the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from phi_lab.model.hf_format import load_pretrained, save_pretrained
from phi_lab.model.phi import Phi
from phi_lab.model.tokenizer import PhiTokenizer


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    tokenizer: str | Path | PhiTokenizer | None = None,
) -> tuple[Phi, PhiTokenizer]:
    """(model in eval mode, tokenizer). `tokenizer` overrides the one stored beside the weights."""
    path = Path(path)
    model = load_pretrained(path, dtype=dtype, device=device).eval()
    if isinstance(tokenizer, PhiTokenizer):
        tok = tokenizer
    else:
        src = Path(tokenizer) if tokenizer is not None else path
        try:
            tok = PhiTokenizer.from_pretrained(src)
        except (FileNotFoundError, OSError, ValueError) as e:
            raise FileNotFoundError(
                f"no usable tokenizer in {src} ({e}); pass tokenizer=PATH to a tokenizer directory"
            ) from e
    if tok.vocab_size > model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tok.vocab_size} tokens but the model embeds only {model.config.vocab_size}"
        )
    return model, tok


_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[Phi, PhiTokenizer]] = {}


def _files_key(path: Path) -> tuple:
    """What a checkpoint directory's contents are, cheaply: name, size and mtime of every file."""
    return tuple(
        sorted(
            (f.name, st.st_size, st.st_mtime_ns) for f in path.iterdir() if f.is_file() and (st := f.stat())
        )
    )


def load_model_cached(
    path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[Phi, PhiTokenizer]:
    """`load_model`, remembering the last model loaded in this process.

    An evaluation loads the same checkpoint once per benchmark (HumanEval, MBPP, two likelihoods,
    grading): at 1.3B parameters that is seconds each, and memory for one model. A checkpoint
    rewritten on disk (any file's size or mtime changed) is loaded afresh. Callers must not modify
    the returned model."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"not a checkpoint directory: {path}")
    key = (str(path), str(device), str(dtype), _files_key(path))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None:
            _cache.clear()  # one model at a time: the previous one's memory goes first
            hit = _cache[key] = load_model(path, device=device, dtype=dtype)
        return hit


def save_model(
    model: Phi, tokenizer: PhiTokenizer, path: str | Path, dtype: torch.dtype | None = None
) -> Path:
    """Write a self-contained transformers-format directory (weights, config, tokenizer)."""
    path = Path(path)
    save_pretrained(model, path, dtype=dtype)
    tokenizer.save(path)
    return path
