"""What `phi-lab model` does, as typed functions: describe a preset or checkpoint, write a randomly
initialised model, export a checkpoint (optionally cast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DTYPES = ("float32", "float16", "bfloat16")


def model_info(preset: str | None = None, path: str | Path | None = None) -> dict[str, Any]:
    """Config and parameter counts of a preset or a checkpoint, counted on the meta device (no memory)."""
    import torch

    from phi_lab.model.hf_format import read_config
    from phi_lab.model.phi import Phi, PhiConfig

    if (preset is None) == (path is None):
        raise ValueError("give exactly one of a preset or a checkpoint path")
    config = PhiConfig.from_preset(preset) if preset is not None else read_config(path)
    with torch.device("meta"):  # count without allocating 1.4B floats
        model = Phi(config)
    return {
        "config": config.__dict__,
        "parameters": model.num_parameters(),
        "non_embedding_parameters": model.num_parameters(exclude_embeddings=True),
    }


def init_model(preset: str, tokenizer: str | Path, out: str | Path, seed: int = 0) -> Path:
    """A random `preset` model sized for `tokenizer`'s vocabulary, saved with it to `out`."""
    import torch

    from phi_lab.model.loading import save_model
    from phi_lab.model.phi import Phi, PhiConfig
    from phi_lab.model.tokenizer import PhiTokenizer

    tok = PhiTokenizer.from_pretrained(tokenizer)
    torch.manual_seed(seed)
    config = PhiConfig.from_preset(preset, vocab_size=tok.padded_vocab_size(), eos_token_id=tok.eos_id)
    return save_model(Phi(config), tok, out)


def export_model(path: str | Path, out: str | Path, dtype: str | None = None) -> Path:
    """Copy a checkpoint to a clean transformers-format directory, cast to `dtype` if given."""
    import torch

    from phi_lab.model.loading import load_model, save_model

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    model, tok = load_model(path)
    return save_model(model, tok, out, dtype=getattr(torch, dtype) if dtype else None)
