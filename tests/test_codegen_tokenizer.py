"""`codegen` is the published codegen-350M-mono tokenizer (a directory in the hub's layout, or the
hub); the CPU stand-ins keep names that say they were trained here."""

from __future__ import annotations

import json

import pytest

from phi_lab.model.codegen import CODEGEN_ENV, CodegenTokenizerUnavailable, codegen_tokenizer
from phi_lab.model.tokenizer import EOS_TOKEN, WHITESPACE_TOKENS, PhiTokenizer

TEXT = "def add(a, b):\n    return a + b\n\n\nclass Point:\n        x = 1\n\t\ty = 2\n" * 40


def _hub_layout(tmp_path, vocab_size=300):
    """A tokenizer written as the hub ships codegen's: vocab.json + merges.txt + added_tokens.json."""
    tok = PhiTokenizer.train([TEXT], vocab_size=vocab_size, min_frequency=1)
    d = tmp_path / "codegen-layout"
    d.mkdir()
    tok.backend.model.save(str(d))  # vocab.json, merges.txt (end-of-text is added below, as in GPT-2's)
    vocab = json.loads((d / "vocab.json").read_text())
    vocab[EOS_TOKEN] = tok.eos_id
    (d / "vocab.json").write_text(json.dumps(vocab))
    added = {EOS_TOKEN: tok.eos_id} | {ws: tok.token_to_id(ws) for ws in WHITESPACE_TOKENS}
    (d / "added_tokens.json").write_text(json.dumps(added))
    return tok, d


def test_a_local_directory_in_the_hub_layout_is_the_codegen_tokenizer(tmp_path, monkeypatch):
    ref, d = _hub_layout(tmp_path)
    monkeypatch.setenv(CODEGEN_ENV, str(d))
    with pytest.warns(UserWarning, match="not codegen-350M-mono's 50,295"):
        tok = codegen_tokenizer()
    assert tok.encode(TEXT) == ref.encode(TEXT) and tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.eos_id == ref.eos_id and tok.name.startswith("codegen-layout:")
    from phi_lab.data.defaults import default_tokenizer

    with pytest.warns(UserWarning):
        assert default_tokenizer("codegen").encode(TEXT) == ref.encode(TEXT)  # the presets' name reaches it


def test_codegen_offline_without_a_directory_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv(CODEGEN_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CodegenTokenizerUnavailable, match=CODEGEN_ENV):
        codegen_tokenizer()
    with pytest.raises(CodegenTokenizerUnavailable, match="no directory"):
        codegen_tokenizer(tmp_path / "absent")


def test_a_directory_not_in_codegen_layout_is_refused(tmp_path):
    tok = PhiTokenizer.train([TEXT], vocab_size=300, min_frequency=1)
    d = tmp_path / "plain"
    d.mkdir()
    tok.backend.model.save(str(d))
    vocab = json.loads((d / "vocab.json").read_text())
    vocab[EOS_TOKEN] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))  # end-of-text, but no whitespace tokens
    with pytest.raises(ValueError, match="not in codegen's layout"):
        codegen_tokenizer(d)
