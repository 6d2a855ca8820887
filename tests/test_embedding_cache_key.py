"""The causal-LM embedder's name (the key of cached vectors) follows the checkpoint's content, not its shape."""

from __future__ import annotations

import hashlib
import os
import shutil

from conftest import save_tiny_model

from phi_lab.model import embeddings
from phi_lab.model.embeddings import checkpoint_fingerprint, get_embedder


def test_two_checkpoints_of_one_shape_get_different_keys(tmp_path, tiny_tokenizer):
    a = save_tiny_model(tmp_path / "a", tiny_tokenizer, seed=0)
    b = save_tiny_model(tmp_path / "b", tiny_tokenizer, seed=1)
    sizes = lambda d: sorted((f.name, f.stat().st_size) for f in d.iterdir())  # noqa: E731
    assert sizes(a) == sizes(b)  # the same shape: a size-based key could not tell them apart
    assert checkpoint_fingerprint(a) != checkpoint_fingerprint(b)
    name_a = get_embedder(str(a), max_tokens=16).name
    name_b = get_embedder(str(b), max_tokens=16).name
    assert name_a != name_b
    # A copy of a checkpoint holds the same weights: the same key, wherever it lies.
    c = tmp_path / "copy" / a.name
    shutil.copytree(a, c)
    assert checkpoint_fingerprint(c) == checkpoint_fingerprint(a)


def test_rewritten_weights_change_the_key_and_each_file_is_hashed_once(tmp_path, tiny_tokenizer, monkeypatch):
    ckpt = save_tiny_model(tmp_path / "m", tiny_tokenizer, seed=0)
    before = checkpoint_fingerprint(ckpt)
    reads = []
    real = hashlib.sha256

    def counting_sha256(*args):
        reads.append(1)
        return real(*args)

    monkeypatch.setattr(embeddings.hashlib, "sha256", counting_sha256)
    assert checkpoint_fingerprint(ckpt) == before  # every file's digest comes from this process's memo
    assert len(reads) == 1  # only the combining hash ran, no file was read again
    monkeypatch.undo()

    weights = next(ckpt.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one byte of one weight, same size
    tmp = weights.with_suffix(".tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, weights)
    assert weights.stat().st_size == len(data)
    assert checkpoint_fingerprint(ckpt) != before
