"""`phi-lab tokenizer train / encode / info`."""

from __future__ import annotations

import json
from pathlib import Path

from phi_lab.cli import main
from phi_lab.model.tokenizer import PhiTokenizer


def test_tokenizer_train_encode_info(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"m{i}.py").write_text(f"def function_{i}(value):\n    return value * {i}\n" * 20)
    (src / "latin.py").write_bytes(b"x = '\xe9'\n")
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--source", str(src), "--vocab-size", "300", "--out", str(out)]) == 0
    tok = PhiTokenizer.from_pretrained(out)
    assert tok.vocab_size == 338 and tok.eos_id == 299
    meta = json.loads((out / "phi_lab_tokenizer.json").read_text())
    assert meta["documents"] == 20 and meta["skipped"] == {"non-utf8": 1}
    capsys.readouterr()
    text = "def function_3(value):\n        return value"
    assert main(["tokenizer", "encode", "--tokenizer", str(out), text]) == 0
    ids = [int(x) for x in capsys.readouterr().out.split()]
    assert ids == tok.encode(text) and tok.decode(ids) == text
    assert main(["tokenizer", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fingerprint"] == tok.fingerprint() and info["padded_vocab_size"] == 384
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--source",
                str(tmp_path / "nothing"),
                "--vocab-size",
                "300",
                "--out",
                str(tmp_path / "t2"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
