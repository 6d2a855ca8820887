"""`phi-lab data` end to end, and the cached default tokenizer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from phi_lab.cli import main
from phi_lab.data.packed import PackedDataset, WindowSampler
from phi_lab.model.tokenizer import EOS_TOKEN, PhiTokenizer


def test_data_pack_and_info(tmp_path: Path, tiny_tokenizer, capsys) -> None:
    tiny_tokenizer.save(tmp_path / "tok")
    tree = tmp_path / "src"
    tree.mkdir()
    for i in range(12):
        (tree / f"m{i}.py").write_text(f"def g{i}(x):\n    return x + {i}\n" * (i + 2))
    (tree / "bad.py").write_bytes(b"\xff\xfe")
    rows = [{"content": f"print({i})\n"} for i in range(5)]
    (tmp_path / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "packed"
    argv = [
        "data",
        "pack",
        "--source",
        str(tree),
        str(tmp_path / "extra.jsonl"),
        "--out",
        str(out),
        "--tokenizer",
        str(tmp_path / "tok"),
        "--val-fraction",
        "0",
        "--text-field",
        "content",
        "--quiet",
    ]
    assert main(argv) == 0
    summary = capsys.readouterr().out
    assert "17 documents" in summary and "non-utf8 1" in summary
    ds = PackedDataset(out)
    text = tiny_tokenizer.decode(ds.read(0, len(ds)).tolist())
    expected = [(tree / f"m{i}.py").read_text() for i in sorted(range(12), key=lambda i: f"m{i}.py")]
    expected += [r["content"] for r in rows]
    assert text == "".join(t + EOS_TOKEN for t in expected)
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["source_stats"]) == {"src", "extra"}
    assert [
        json.loads(x)["reason"].split(":")[0] for x in (out / "skipped.jsonl").read_text().splitlines()
    ] == ["non-utf8"]
    assert main(["data", "info", str(out), "--verify"]) == 0
    assert "all shards match" in capsys.readouterr().out
    # clear errors, no tracebacks
    assert (
        main(
            [
                "data",
                "pack",
                "--source",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path / "x"),
                "--tokenizer",
                str(tmp_path / "tok"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    with pytest.raises(ValueError, match="shorter than one"):
        WindowSampler(ds, seq_len=100_000)


def test_default_tokenizer_is_cached(tmp_path: Path, monkeypatch) -> None:
    from phi_lab.data import defaults

    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    kwargs = {"train_bytes": 150_000, "include_site_packages": False}
    tok = defaults.default_tokenizer(300, **kwargs)
    assert tok.eos_id == 299 and tok.vocab_size == 300 + 38
    start = time.perf_counter()
    again = defaults.default_tokenizer(300, **kwargs)
    assert time.perf_counter() - start < 0.5
    assert again.fingerprint() == tok.fingerprint()
    (cached,) = (tmp_path / "cache" / "tokenizers").glob("bpe-300-*/phi_lab_tokenizer.json")
    meta = json.loads(cached.read_text())
    assert meta["fingerprint"] == tok.fingerprint() and meta["documents"] > 0
    assert PhiTokenizer.from_pretrained(cached.parent).fingerprint() == tok.fingerprint()
    assert (
        defaults.TOKENIZER_PRESETS["stdlib-bpe-50k"] == 50257 and "codegen" not in defaults.TOKENIZER_PRESETS
    )
    with pytest.raises(ValueError, match="preset"):
        defaults.default_tokenizer("nope")


def test_default_packed_corpus_is_cached(tmp_path: Path, monkeypatch, tiny_tokenizer) -> None:
    from phi_lab.data import defaults

    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    kwargs = {
        "max_documents": 12,
        "max_bytes": None,
        "val_fraction": 0.2,
        "tokenizer": tiny_tokenizer,
        "include_site_packages": False,
        "progress": False,
    }
    path = defaults.default_packed_corpus(**kwargs)
    m = json.loads((path / "manifest.json").read_text())
    assert m["status"] == "complete" and m["documents"] == 12 and m["sources"] == ["offline"]
    assert m["tokenizer"]["fingerprint"] == tiny_tokenizer.fingerprint()
    mtime = (path / "manifest.json").stat().st_mtime_ns
    assert defaults.default_packed_corpus(**kwargs) == path
    assert (path / "manifest.json").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert defaults.default_packed_corpus(**{**kwargs, "max_documents": 13}) != path
    rows = PackedDataset(path).documents()
    assert all(r["meta"]["origin"] == "stdlib" and r["meta"]["package"] for r in rows)
