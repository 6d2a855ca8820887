"""The codegen-style tokenizer of the phi papers.

phi-1 uses codegen-350M-mono's tokenizer: GPT-2's byte-level BPE (50,257 tokens, with
`<|endoftext|>` = 50256 as the last one) plus 38 whitespace tokens (runs of 31 down to 2
spaces, then 9 down to 2 tabs), 50,295 in all; the model's embedding is padded to 51,200.

`PhiTokenizer` wraps a Hugging Face `tokenizers.Tokenizer`. It loads any tokenizer directory in
Hugging Face format (tokenizer.json, or vocab.json + merges.txt [+ added_tokens.json]) and, as the
offline default, trains a byte-level BPE of a chosen size with the same whitespace tokens and the
end-of-text token in the same places (last of the BPE vocabulary, whitespace runs after it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from phi_lab.io import atomic_write, atomic_write_json

EOS_TOKEN = "<|endoftext|>"
# codegen's added tokens, in codegen's id order: 31..2 spaces, then 9..2 tabs.
WHITESPACE_TOKENS: tuple[str, ...] = tuple(" " * n for n in range(31, 1, -1)) + tuple(
    "\t" * n for n in range(9, 1, -1)
)
CODEGEN_BPE_SIZE = 50257  # GPT-2's vocabulary, end-of-text included
CODEGEN_VOCAB_SIZE = CODEGEN_BPE_SIZE + len(WHITESPACE_TOKENS)  # 50,295
# phi-1 and phi-1.5 are base models with no chat format. Saved checkpoints still carry a chat template
# so OpenAI-compatible servers (`transformers serve`, vLLM) answer /v1/chat/completions for them: every
# message's content followed by a blank line, the text a base model continues. It renders exactly
# what `phi_lab.llm.replies.render_prompt` sends to /v1/completions.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}\n\n{% endfor %}"


def pad_vocab_size(n: int, multiple: int = 64) -> int:
    """Embedding rows to allocate for `n` tokens: a multiple of 64 keeps matmuls aligned."""
    return -(-n // multiple) * multiple


class PhiTokenizer:
    """Byte-level BPE with codegen's whitespace tokens; lossless on any UTF-8 text."""

    def __init__(self, tokenizer: Tokenizer, name: str = "custom") -> None:
        self._tok = tokenizer
        self.name = name
        eos = tokenizer.token_to_id(EOS_TOKEN)
        if eos is None:
            raise ValueError(f"tokenizer '{name}' has no {EOS_TOKEN!r} token; phi packing needs it")
        self.eos_id: int = eos

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(cls, path: str | Path) -> PhiTokenizer:
        """Load a tokenizer directory in Hugging Face format (or a tokenizer.json file)."""
        path = Path(path)
        if path.is_file():
            return cls(Tokenizer.from_file(str(path)), name=path.parent.name)
        if not path.is_dir():
            raise FileNotFoundError(f"no tokenizer at {path} (expected a directory or tokenizer.json)")
        if (path / "tokenizer.json").exists():
            return cls(Tokenizer.from_file(str(path / "tokenizer.json")), name=path.name)
        if (path / "vocab.json").exists() and (path / "merges.txt").exists():
            return cls(_from_vocab_merges(path), name=path.name)
        # Anything else transformers can read (e.g. a slow-only layout): use its fast backend.
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(f"{path}: transformers loaded a slow tokenizer only; phi-lab needs a fast one")
        return cls(backend, name=path.name)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = CODEGEN_BPE_SIZE,
        min_frequency: int = 2,
        show_progress: bool = False,
    ) -> PhiTokenizer:
        """Train a byte-level BPE whose `vocab_size` counts end-of-text (like GPT-2's 50,257).

        The whitespace-run tokens are added after it, so the full vocabulary is
        `vocab_size + 38`, exactly codegen's layout when `vocab_size` is 50,257.
        """
        if vocab_size < 257 + 1:
            raise ValueError(
                f"vocab_size must exceed the 256 byte symbols plus end-of-text, got {vocab_size}"
            )
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size - 1,  # end-of-text is appended as the last BPE id
            min_frequency=min_frequency,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[],
            show_progress=show_progress,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        base = tok.get_vocab_size()
        tok.add_special_tokens([AddedToken(EOS_TOKEN, special=True, normalized=False)])
        tok.add_tokens([AddedToken(ws, normalized=False) for ws in WHITESPACE_TOKENS])
        out = cls(tok, name=f"bpe-{vocab_size}")
        assert out.eos_id == base, (out.eos_id, base)
        return out

    def save(self, directory: str | Path) -> Path:
        """Write tokenizer.json plus the small files transformers' AutoTokenizer expects, each atomically."""
        d = Path(directory)
        atomic_write(d / "tokenizer.json", lambda tmp: self._tok.save(str(tmp)), suffix=".tmp.json")
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": EOS_TOKEN,
            "eos_token": EOS_TOKEN,
            "unk_token": EOS_TOKEN,
            "model_max_length": 2048,
            "clean_up_tokenization_spaces": False,
            "chat_template": CHAT_TEMPLATE,
        }
        atomic_write_json(d / "tokenizer_config.json", config)
        special = {"bos_token": EOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN}
        atomic_write_json(d / "special_tokens_map.json", special)
        return d

    # ---------------------------------------------------------------- use
    @property
    def backend(self) -> Tokenizer:
        return self._tok

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids, added tokens included (50,295 for codegen)."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    def padded_vocab_size(self, multiple: int = 64) -> int:
        return pad_vocab_size(self.vocab_size, multiple)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Encode many texts at once; `tokenizers` spreads the batch over all cores."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False)

    def decode_batch(self, batch: Sequence[Sequence[int]]) -> list[str]:
        return self._tok.decode_batch([list(ids) for ids in batch], skip_special_tokens=False)

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)

    def fingerprint(self) -> str:
        """sha256 of the canonical serialization: same tokenizer <=> same hash (for manifests)."""
        return hashlib.sha256(self._tok.to_str().encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"PhiTokenizer(name={self.name!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"


def _from_vocab_merges(path: Path) -> Tokenizer:
    """GPT-2 / codegen layout: vocab.json + merges.txt, whitespace runs in added_tokens.json."""
    bpe = models.BPE.from_file(str(path / "vocab.json"), str(path / "merges.txt"))
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    added_file = path / "added_tokens.json"
    if added_file.exists():
        added: dict[str, int] = json.loads(added_file.read_text())
        for token, idx in sorted(added.items(), key=lambda kv: kv[1]):
            if tok.token_to_id(token) is not None:
                continue
            if token == EOS_TOKEN:
                tok.add_special_tokens([AddedToken(token, special=True, normalized=False)])
            else:
                tok.add_tokens([AddedToken(token, normalized=False)])
            got = tok.token_to_id(token)
            if got != idx:
                raise ValueError(f"{added_file}: {token!r} should have id {idx} but got {got}")
    eos = tok.token_to_id(EOS_TOKEN)
    if eos is not None:
        # In GPT-2's vocab.json end-of-text is an ordinary entry; make it atomic so literal
        # "<|endoftext|>" in text maps to the one id, as the transformers tokenizer does.
        tok.add_special_tokens([AddedToken(EOS_TOKEN, special=True, normalized=False)])
    return tok
