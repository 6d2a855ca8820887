"""Packing: round trip, manifest, held-out split, atomic and resumable writes (SIGKILL included)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from phi_lab.data.documents import Document, SkipLog
from phi_lab.data.pack import PackConfig, pack, split_of, token_dtype
from phi_lab.data.packed import PackedDataset, WindowSampler
from phi_lab.model.tokenizer import EOS_TOKEN, PhiTokenizer


def make_docs(n: int = 60) -> list[Document]:
    docs = []
    for i in range(n):
        body = "\n".join(f"    x{j} = {i} * {j} + len('doc {i}')" for j in range(i % 7 + 3))
        text = f"def f{i}(a, b):\n    '''Document {i}: é ✓'''\n{body}\n    return a + b\n"
        docs.append(Document(text, "synthetic", f"mem://{i}", {"i": i}))
    docs.append(Document(docs[3].text, "synthetic", "mem://dup", {}))  # a duplicate
    return docs


@pytest.fixture()
def docs() -> list[Document]:
    return make_docs()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_round_trip_and_manifest(tmp_path: Path, tiny_tokenizer: PhiTokenizer, docs) -> None:
    skips = SkipLog()
    config = PackConfig(sources=["synthetic"], val_fraction=0.2, shard_tokens=1000)
    m = pack(docs, tiny_tokenizer, tmp_path / "p", config, skips=skips, progress=False)
    unique = docs[:-1]
    for split in ("train", "val"):
        chosen = [d for d in unique if split_of(d.sha256, 0.2) == split]
        assert chosen, f"the test corpus should put documents into {split}"
        ds = PackedDataset(tmp_path / "p", split)
        tokens = ds.read(0, len(ds))
        assert tiny_tokenizer.decode(tokens.tolist()) == "".join(d.text + EOS_TOKEN for d in chosen)
        assert int((tokens == tiny_tokenizer.eos_id).sum()) == len(chosen) == ds.n_documents
        rows = ds.documents()
        assert [r["path"] for r in rows] == [d.path for d in chosen]
        for r, d in zip(rows, chosen):  # the index locates every document's tokens
            got = tiny_tokenizer.decode(ds.read(r["offset"], r["tokens"]).tolist())
            assert got == d.text + EOS_TOKEN and r["sha256"] == d.sha256
    assert m["status"] == "complete" and m["dtype"] == "uint16"
    assert (
        m["documents"] == len(unique)
        and m["splits"]["train"]["documents"] + m["splits"]["val"]["documents"] == 60
    )
    assert m["tokenizer"]["fingerprint"] == tiny_tokenizer.fingerprint()
    assert m["tokenizer"]["eos_id"] == tiny_tokenizer.eos_id
    assert (
        PhiTokenizer.from_pretrained(tmp_path / "p" / m["tokenizer"]["path"]).fingerprint()
        == tiny_tokenizer.fingerprint()
    )
    assert m["sources"] == ["synthetic"] and m["source_stats"]["synthetic"]["documents"] == 60
    assert m["source_stats"]["synthetic"]["tokens"] == m["tokens"]
    shards = m["splits"]["train"]["shards"]
    assert len(shards) > 2 and all(s["tokens"] >= 1000 for s in shards[:-1])
    for s in shards:
        assert sha(tmp_path / "p" / s["file"]) == s["sha256"]
        assert (tmp_path / "p" / s["file"]).stat().st_size == 2 * s["tokens"]
    assert m["skipped"] == {"count": 1, "by_reason": {"duplicate": 1}, "file": "skipped.jsonl"}
    assert json.loads((tmp_path / "p" / "skipped.jsonl").read_text())["path"] == "mem://dup"
    PackedDataset(tmp_path / "p", verify=True)  # every shard's sha256 checks out
    # packing again is a no-op; other settings into the same directory are refused
    assert pack(docs, tiny_tokenizer, tmp_path / "p", config, progress=False) == m
    with pytest.raises(FileExistsError, match="--overwrite"):
        pack(docs, tiny_tokenizer, tmp_path / "p", PackConfig(val_fraction=0.5), progress=False)


def test_split_and_dtype_rules() -> None:
    assert (
        token_dtype(50295) == np.uint16
        and token_dtype(65536) == np.uint16
        and token_dtype(65537) == np.uint32
    )
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    frac = sum(split_of(h, 0.1) == "val" for h in hashes) / len(hashes)
    assert 0.08 < frac < 0.12
    assert all(split_of(h, 0.0) == "train" for h in hashes)
    with pytest.raises(ValueError):
        PackConfig(val_fraction=1.0)


def test_parallel_workers_write_the_same_bytes(tmp_path: Path, tiny_tokenizer, docs) -> None:
    config = PackConfig(val_fraction=0.2, shard_tokens=1500)
    m1 = pack(docs, tiny_tokenizer, tmp_path / "a", config, workers=1, batch_docs=8, progress=False)
    m2 = pack(docs, tiny_tokenizer, tmp_path / "b", config, workers=2, batch_docs=8, progress=False)
    assert m1["splits"] == m2["splits"]


class Killed(Exception):
    pass


def interrupted(docs, after: int):
    for i, d in enumerate(docs):
        if i == after:
            raise Killed
        yield d


def test_interrupted_pack_resumes_to_identical_output(tmp_path: Path, tiny_tokenizer, docs) -> None:
    config = PackConfig(val_fraction=0.2, shard_tokens=800)
    ref = pack(docs, tiny_tokenizer, tmp_path / "ref", config, batch_docs=4, progress=False)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        pack(interrupted(docs, 35), tiny_tokenizer, out, config, batch_docs=4, progress=False)
    partial = json.loads((out / "manifest.json").read_text())
    assert partial["status"] == "in_progress" and partial["splits"]["train"]["shards"]
    with pytest.raises(ValueError, match="did not finish"):
        PackedDataset(out)
    # debris of a crash between writing a shard and the manifest: it must not be trusted
    (out / "train-00042.bin").write_bytes(b"\x01\x02" * 10)
    (out / "train-00042.bin.tmp").write_bytes(b"\x01")
    # changed inputs are detected instead of silently mixed
    changed = [Document(d.text + "# edit\n", d.source, d.path) for d in docs]
    with pytest.raises(ValueError, match="inputs differ"):
        pack(changed, tiny_tokenizer, out, config, batch_docs=4, progress=False)
    got = pack(docs, tiny_tokenizer, out, config, batch_docs=4, progress=False)
    assert got["splits"] == ref["splits"]
    assert not (out / "train-00042.bin").exists() and not list(out.glob("*.tmp"))
    assert sorted(p.name for p in out.glob("*.bin")) == sorted(
        p.name for p in (tmp_path / "ref").glob("*.bin")
    )


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from phi_lab.data.pack import PackConfig, pack
    from phi_lab.model.tokenizer import PhiTokenizer
    sys.path.insert(0, {tests!r})
    from test_data_pack import make_docs

    def slow(docs):
        for i, d in enumerate(docs):
            if i >= 30:
                time.sleep(0.2)  # the parent kills us in here
            yield d

    tok = PhiTokenizer.from_pretrained({tok!r})
    pack(slow(make_docs()), tok, {out!r}, PackConfig(val_fraction=0.2, shard_tokens=800), batch_docs=2, progress=False)
    """
)


def test_sigkilled_pack_resumes(tmp_path: Path, tiny_tokenizer, docs) -> None:
    tiny_tokenizer.save(tmp_path / "tok")
    config = PackConfig(val_fraction=0.2, shard_tokens=800)
    ref = pack(docs, tiny_tokenizer, tmp_path / "ref", config, batch_docs=2, progress=False)
    out = tmp_path / "run"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), tok=str(tmp_path / "tok"), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline:
        m = out / "manifest.json"
        if m.exists() and json.loads(m.read_text())["splits"]["train"]["shards"]:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((out / "manifest.json").read_text())["status"] == "in_progress"
    got = pack(docs, tiny_tokenizer, out, config, batch_docs=2, progress=False)
    assert got["splits"] == ref["splits"]


def test_corpus_shorter_than_one_window(tmp_path: Path, tiny_tokenizer) -> None:
    pack(
        [Document("x = 1\n", "s", "a.py")],
        tiny_tokenizer,
        tmp_path / "p",
        PackConfig(val_fraction=0),
        progress=False,
    )
    ds = PackedDataset(tmp_path / "p")
    with pytest.raises(ValueError, match="shorter than one training window"):
        WindowSampler(ds, seq_len=2048)
    with pytest.raises(KeyError, match="no split"):
        PackedDataset(tmp_path / "p", "test")


def test_no_usable_documents_is_a_clear_error(tmp_path: Path, tiny_tokenizer) -> None:
    skips = SkipLog()
    skips.add("a.py", "empty")
    with pytest.raises(ValueError, match=r"no usable documents in src \(1 inputs skipped"):
        pack([], tiny_tokenizer, tmp_path / "p", PackConfig(sources=["src"]), skips=skips, progress=False)
    assert (tmp_path / "p" / "skipped.jsonl").read_text().count("\n") == 1
