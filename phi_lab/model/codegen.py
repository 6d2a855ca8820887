"""codegen-350M-mono's tokenizer, the one phi-1 used (§2.3), from a local directory or the hub.

The published tokenizer is GPT-2's byte-level BPE (50,257 tokens, end-of-text last) with 38 added
whitespace tokens (31..2 spaces, 9..2 tabs): 50,295 ids. It is read from, in order: the `source`
argument, `$PHI_LAB_CODEGEN_TOKENIZER`, or the hub repo `Salesforce/codegen-350M-mono` (the
tokenizer files only; a real path for machines with a network, never a default of the CPU
presets, refused under `HF_HUB_OFFLINE=1` with what to do instead). A directory in the hub's layout
(vocab.json + merges.txt + added_tokens.json, or tokenizer.json) works offline. The CPU presets use
stand-ins trained on this interpreter's stdlib (`cpu-2k`, `cpu-4k`, `stdlib-bpe-50k`), whose names
say so.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from phi_lab.model.tokenizer import CODEGEN_VOCAB_SIZE, EOS_TOKEN, WHITESPACE_TOKENS, PhiTokenizer

CODEGEN_REPO = "Salesforce/codegen-350M-mono"
CODEGEN_ENV = "PHI_LAB_CODEGEN_TOKENIZER"
CODEGEN_NAME = "codegen-350M-mono"
TOKENIZER_FILES = [
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]


class CodegenTokenizerUnavailable(RuntimeError):
    pass


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def check_codegen_layout(tok: PhiTokenizer, where: str) -> None:
    """End-of-text right after the BPE vocabulary, then codegen's 38 whitespace tokens in its order."""
    base = tok.eos_id
    got = [tok.token_to_id(ws) for ws in WHITESPACE_TOKENS]
    if got != list(range(base + 1, base + 1 + len(WHITESPACE_TOKENS))):
        raise ValueError(
            f"{where} is not in codegen's layout: its {len(WHITESPACE_TOKENS)} whitespace tokens should "
            f"follow {EOS_TOKEN!r} (id {base}) in order, got ids {got[:3]}..."
        )
    if tok.vocab_size != CODEGEN_VOCAB_SIZE:
        warnings.warn(
            f"{where} has codegen's layout but {tok.vocab_size:,} ids, not codegen-350M-mono's "
            f"{CODEGEN_VOCAB_SIZE:,}: it is another tokenizer of that shape",
            stacklevel=3,
        )


def codegen_tokenizer(source: str | Path | None = None) -> PhiTokenizer:
    """The published codegen-350M-mono tokenizer (see the module's docstring for where from)."""
    source = source or os.environ.get(CODEGEN_ENV) or CODEGEN_REPO
    path = Path(source)
    if path.exists():
        tok = PhiTokenizer.from_pretrained(path)
        where = str(path)
    elif str(source).startswith(("/", ".", "~")) or str(source).count("/") != 1:
        raise CodegenTokenizerUnavailable(f"codegen tokenizer: no directory {source}")
    elif _offline():
        raise CodegenTokenizerUnavailable(
            f"the codegen tokenizer comes from the hub ({source}) but HF_HUB_OFFLINE is set: put its files "
            f"({', '.join(TOKENIZER_FILES[:3])}) in a directory and set ${CODEGEN_ENV} to it, or unset "
            "HF_HUB_OFFLINE on a machine with a network"
        )
    else:
        from huggingface_hub import snapshot_download

        local = snapshot_download(str(source), allow_patterns=TOKENIZER_FILES)
        tok = PhiTokenizer.from_pretrained(local)
        where = f"hf://{source}"
    check_codegen_layout(tok, where)
    tok.name = CODEGEN_NAME if where.endswith(CODEGEN_REPO) else f"codegen-layout:{where}"
    return tok
