"""One entry point for "give me a model and its tokenizer" from any checkpoint directory.

Every directory phi-lab writes (an exported model, and every training checkpoint) is in the
transformers format: config.json + model.safetensors, with tokenizer.json beside them. Directories
written by transformers itself (e.g. a local copy of microsoft/phi-1) load the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch

from phi_lab.model import Phi
from phi_lab.tokenizer import PhiTokenizer


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    tokenizer: str | Path | PhiTokenizer | None = None,
) -> tuple[Phi, PhiTokenizer]:
    """(model in eval mode, tokenizer). `tokenizer` overrides the one stored beside the weights."""
    path = Path(path)
    model = Phi.from_pretrained(path, dtype=dtype, device=device).eval()
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


def save_model(
    model: Phi, tokenizer: PhiTokenizer, path: str | Path, dtype: torch.dtype | None = None
) -> Path:
    """Write a self-contained transformers-format directory (weights, config, tokenizer)."""
    path = Path(path)
    model.save_pretrained(path, dtype=dtype)
    tokenizer.save(path)
    return path
