"""Shared fixtures: a tiny tokenizer and a tiny random Phi checkpoint, built once per session."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
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


# Planted in the environment of the shared smoke reproduction: no output of it may contain these.
FAKE_SECRET = "phi-lab-test-secret-3f9a1c7e5b"


@dataclass
class SmokeRun:
    path: Path
    first: subprocess.CompletedProcess
    env: dict[str, str]

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "phi_lab.cli",
            "reproduce",
            "--preset",
            "smoke",
            "--out",
            str(self.path),
        ]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> SmokeRun:
    """One `phi-lab reproduce --preset smoke` per test session (minutes), shared by the reproduction,
    notebook and browser tests. Fake secrets sit in its environment; tests check none leaks."""
    env = {**os.environ, "OPENAI_API_KEY": FAKE_SECRET, "PHI_LAB_TEST_TOKEN": FAKE_SECRET}
    reuse = os.environ.get("PHI_LAB_TEST_SMOKE_RUN")  # developing a test: reuse a finished smoke run
    out = Path(reuse) if reuse else tmp_path_factory.mktemp("smoke") / "run"
    run = SmokeRun(out, subprocess.CompletedProcess([], 0), env)
    if reuse:
        return run
    run.first = subprocess.run(run.command(), env=env, capture_output=True, text=True, timeout=1200)
    return run
