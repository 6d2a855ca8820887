"""The codegen-style tokenizer: layout, loading from Hugging Face formats, lossless round trips."""

from __future__ import annotations

import json

import pytest
from conftest import STDLIB

from phi_lab.model.tokenizer import (
    CODEGEN_VOCAB_SIZE,
    EOS_TOKEN,
    WHITESPACE_TOKENS,
    PhiTokenizer,
    pad_vocab_size,
)


def test_codegen_layout_constants():
    assert len(WHITESPACE_TOKENS) == 38
    assert WHITESPACE_TOKENS[0] == " " * 31 and WHITESPACE_TOKENS[29] == "  "
    assert WHITESPACE_TOKENS[30] == "\t" * 9 and WHITESPACE_TOKENS[-1] == "\t\t"
    assert CODEGEN_VOCAB_SIZE == 50295 and pad_vocab_size(CODEGEN_VOCAB_SIZE) == 50304
    assert pad_vocab_size(CODEGEN_VOCAB_SIZE, 1024) == 51200  # the published phi-1 embedding


def test_trained_tokenizer_layout(tiny_tokenizer):
    tok = tiny_tokenizer
    assert tok.eos_id == 511  # last id of the 512-token BPE, as 50256 is for GPT-2
    assert tok.vocab_size == 512 + 38
    assert [tok.token_to_id(ws) for ws in WHITESPACE_TOKENS] == list(range(512, 550))
    assert tok.encode(" " * 8) == [tok.token_to_id(" " * 8)]
    assert tok.encode(EOS_TOKEN) == [tok.eos_id]
    assert tok.padded_vocab_size() == 576


def test_hf_directory_layouts_load_identically(tiny_tokenizer, tmp_path):
    text = "def f(x):\n\t\treturn x  # é 😀\n" + " " * 40 + "pass\n"
    want = tiny_tokenizer.encode(text)
    # 1. our own save (tokenizer.json), and transformers reading it
    tiny_tokenizer.save(tmp_path / "a")
    assert PhiTokenizer.from_pretrained(tmp_path / "a").encode(text) == want
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path / "a").encode(text) == want
    # 2. GPT-2/codegen layout: vocab.json + merges.txt + added_tokens.json
    b = tmp_path / "b"
    b.mkdir()
    tiny_tokenizer.backend.model.save(str(b))
    added = {EOS_TOKEN: tiny_tokenizer.eos_id} | {
        ws: tiny_tokenizer.token_to_id(ws) for ws in WHITESPACE_TOKENS
    }
    vocab = json.loads((b / "vocab.json").read_text())
    vocab[EOS_TOKEN] = tiny_tokenizer.eos_id
    (b / "vocab.json").write_text(json.dumps(vocab))
    (b / "added_tokens.json").write_text(json.dumps({k: v for k, v in added.items() if k != EOS_TOKEN}))
    loaded = PhiTokenizer.from_pretrained(b)
    assert loaded.encode(text) == want and loaded.eos_id == tiny_tokenizer.eos_id
    assert (
        loaded.fingerprint() != ""
        and tiny_tokenizer.fingerprint() == PhiTokenizer.from_pretrained(tmp_path / "a").fingerprint()
    )


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        PhiTokenizer.from_pretrained(tmp_path / "nope")


@pytest.mark.slow
def test_round_trip_every_stdlib_file(tiny_tokenizer):
    files = sorted(f for f in STDLIB.rglob("*.py") if "site-packages" not in f.parts)
    texts, undecodable = [], 0
    for f in files:
        try:
            texts.append(f.read_text(encoding="utf-8"))
        except UnicodeDecodeError:  # a handful of test fixtures are deliberately latin-1
            undecodable += 1
    assert len(texts) > 1000 and undecodable < 10
    decoded = tiny_tokenizer.decode_batch(tiny_tokenizer.encode_batch(texts))
    bad = [f for f, a, b in zip(files, texts, decoded) if a != b]
    assert not bad, bad[:5]
