"""Shared fixtures: a tiny tokenizer and a tiny random Phi checkpoint, built once per session."""

from __future__ import annotations

import itertools
import os
import sysconfig
from pathlib import Path

import pytest

# Never reach a hub from tests; embedders load from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from phi_lab.data import read_sources
    from phi_lab.model.tokenizer import PhiTokenizer

    docs = read_sources([STDLIB / "json", STDLIB / "textwrap.py", STDLIB / "string.py"])
    return PhiTokenizer.train((d.text for d in itertools.islice(docs, 50)), vocab_size=512)


def save_tiny_model(path, tokenizer, seed: int = 0):
    """A transformers-format directory with a random `smoke`-shaped Phi (weights from `seed`) and `tokenizer`."""
    import torch

    from phi_lab.model.loading import save_model
    from phi_lab.model.phi import Phi, PhiConfig

    torch.manual_seed(seed)
    cfg = PhiConfig.from_preset(
        "smoke", vocab_size=tokenizer.padded_vocab_size(), eos_token_id=tokenizer.eos_id
    )
    return save_model(Phi(cfg), tokenizer, path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"), tiny_tokenizer, seed=0)
