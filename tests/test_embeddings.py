"""Embedders: parity with sentence-transformers, chunking instead of truncation, padding invariance."""

from __future__ import annotations

import numpy as np
import pytest

from phi_lab.model.embeddings import CausalLMEmbedder, MiniLMEmbedder, chunk_ids, get_embedder

SHORT = ["def add(a, b):\n    return a + b\n", "import tkinter\nroot = tkinter.Tk()\n", ""]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    emb = get_embedder("minilm")  # the process-wide shared instance: loaded once for all test files
    assert isinstance(emb, MiniLMEmbedder) and get_embedder("minilm") is emb
    return emb


def test_chunk_ids_cover_everything():
    assert chunk_ids([], 4) == [[]]
    assert chunk_ids(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError):
        chunk_ids([1], 0)


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm.path), device="cpu")
    ref = st.encode(SHORT[:2], convert_to_numpy=True)
    got = minilm.embed(SHORT[:2])
    assert got.dtype == np.float32 and got.shape == (2, 384)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_minilm_long_text_is_chunked_not_truncated(minilm):
    head = "def bubble_sort(xs):\n    for i in range(len(xs)):\n        pass\n" * 20
    tail_a = "class Window(QMainWindow):\n    def setup_ui(self):\n        self.button = QPushButton()\n" * 20
    tail_b = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n" * 20
    a, b = minilm.embed([head + tail_a, head + tail_b])
    # Same first window, different later windows: a truncating embedder would return equal rows.
    assert float(a @ b) < 0.99
    # And the document vector is the token-weighted mean of its window vectors.
    ids = minilm.tokenizer.encode(head + tail_a, add_special_tokens=False).ids
    windows = chunk_ids(ids, minilm.max_tokens - 2)
    assert len(windows) > 2
    vecs = minilm._run(windows)
    expect = (vecs * np.array([len(w) for w in windows])[:, None]).sum(0)
    np.testing.assert_allclose(a, expect / np.linalg.norm(expect), atol=1e-5)


def test_minilm_rows_independent_of_batch(minilm):
    texts = [*SHORT, "x = 1\n" * 120]
    together = minilm.embed(texts, batch_size=3)
    alone = np.stack([minilm.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    import torch
    from transformers import PhiConfig, PhiForCausalLM

    from phi_lab.model.tokenizer import PhiTokenizer

    d = tmp_path_factory.mktemp("tiny_phi")
    corpus = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(200)]
    tok = PhiTokenizer.train(corpus, vocab_size=400)
    torch.manual_seed(0)
    cfg = PhiConfig(
        vocab_size=tok.padded_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
    )
    PhiForCausalLM(cfg).save_pretrained(d)
    tok.save(d)
    return d


def test_causal_lm_mean_pools_all_tokens(tiny_causal_lm):
    import torch
    from transformers import AutoModel

    emb = get_embedder(str(tiny_causal_lm), max_tokens=16)
    assert isinstance(emb, CausalLMEmbedder) and emb.dim == 32
    text = "def f3(x):\n    return x * 3 + 3\n" * 6
    ids = emb.tokenizer.encode(text)
    assert len(ids) > 32  # several windows
    got = emb.embed([text, "x", ""], batch_size=2)
    assert got.shape == (3, 32)
    # Reference: run each 16-token window alone, average all token states, normalize.
    model = AutoModel.from_pretrained(str(tiny_causal_lm)).eval()
    states = []
    with torch.no_grad():
        for w in chunk_ids(ids, 16):
            states.append(model(input_ids=torch.tensor([w])).last_hidden_state[0])
    ref = torch.cat(states).mean(0).numpy()
    np.testing.assert_allclose(got[0], ref / np.linalg.norm(ref), atol=1e-5)
    np.testing.assert_allclose(emb.embed(["x"])[0], got[1], atol=1e-5)  # padding does not leak


def test_causal_lm_embedder_reads_phi_lab_checkpoints(tiny_model_dir):
    # conftest's tiny_model_dir is written by phi_lab.model.loading.save_model (transformers Phi format).
    emb = get_embedder(str(tiny_model_dir), max_tokens=32)
    texts = ["def f(x):\n    return x + 1\n", "import os\n" * 40]
    got = emb.embed(texts)
    assert got.shape == (2, emb.dim) and np.isfinite(got).all()
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb.embed(texts[1:])[0], got[1], atol=1e-5)
    assert emb.name.startswith("causal-lm:") and emb.name.endswith(":w32")
    assert emb.name == get_embedder(str(tiny_model_dir), max_tokens=32).name


def test_get_embedder_rejects_unknown(tmp_path):
    with pytest.raises(ValueError, match="unknown embedder"):
        get_embedder(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        CausalLMEmbedder(tmp_path)


def test_minilm_bfloat16_is_close_and_named(minilm):
    half = MiniLMEmbedder(dtype="bfloat16")
    assert half.name == minilm.name + ":bfloat16"  # classifiers trained on one refuse the other
    cos = (half.embed(SHORT) * minilm.embed(SHORT)).sum(1)
    assert cos.min() > 0.999
    with pytest.raises(ValueError, match="dtype"):
        MiniLMEmbedder(dtype="int8")
