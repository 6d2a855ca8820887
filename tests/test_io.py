"""phi_lab.io: atomic writes leave the old file or the new one, never half of one, and no temp files."""

from __future__ import annotations

import json

import pytest

from phi_lab.io import (
    append_jsonl,
    atomic_open,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_jsonl,
)


def test_writers_replace_and_leave_no_temp_file(tmp_path):
    target = tmp_path / "deep" / "dir" / "out.json"  # parents are created
    atomic_write_json(target, {"b": 1, "a": "é"}, sort_keys=True)
    assert target.read_bytes() == b'{\n  "a": "\\u00e9",\n  "b": 1\n}\n'
    atomic_write_json(target, {"a": "é"}, indent=1, ensure_ascii=False)
    assert target.read_text(encoding="utf-8") == '{\n "a": "é"\n}\n'
    atomic_write_text(target, "plain")
    assert target.read_text() == "plain"  # no newline added
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_jsonl_bytes_and_lone_surrogates(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"z": 1, "a": "\ud800"}, {"k": "ü"}]
    atomic_write_jsonl(path, iter(rows), sort_keys=True)  # a generator is streamed
    assert path.read_bytes() == b'{"a": "\\ud800", "z": 1}\n{"k": "\\u00fc"}\n'
    assert [r for _, r in read_jsonl(path)] == rows
    # ensure_ascii=False cannot encode a lone surrogate: the write fails and the old file survives
    with pytest.raises(UnicodeEncodeError):
        atomic_write_jsonl(path, [{"ok": 1}, {"bad": "\ud800"}], ensure_ascii=False)
    assert path.read_bytes() == b'{"a": "\\ud800", "z": 1}\n{"k": "\\u00fc"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_failure_mid_write_keeps_old_file(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("old\n")

    def rows():
        yield {"i": 0}
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write_jsonl(path, rows())
    with pytest.raises(KeyboardInterrupt), atomic_open(path) as f:
        f.write("half")
        raise KeyboardInterrupt

    def bad_writer(tmp):
        tmp.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, bad_writer, suffix=".tmp.png")
    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": object()})  # not serializable: nothing is written at all
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_atomic_write_gives_the_writer_a_name_with_its_suffix(tmp_path):
    seen = []
    out = atomic_write(
        tmp_path / "fig.png", lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"png")), suffix=".tmp.png"
    )
    assert out.read_bytes() == b"png"
    assert seen[0].startswith(".fig.png.") and seen[0].endswith(".tmp.png")


def test_read_jsonl_skips_blank_lines_and_names_bad_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (3, {"a": 2})]
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"in\.jsonl:2: invalid JSON"):
        list(read_jsonl(path))
    path.write_text('{"a": 1}\n\n' + json.dumps([1, 2]) + "\n")
    with pytest.raises(ValueError, match=r"in\.jsonl:3: expected a JSON object, got list"):
        list(read_jsonl(path))


# -- read_jsonl's torn-line policies and append_jsonl ---------------------------------------------

ROWS = [{"i": 0, "s": "x" * 50}, {"i": 1, "s": "é"}, {"i": 2, "s": "\ud800"}]


def _torn_file(tmp_path, tail: bytes):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, ROWS[:2])
    good = path.read_bytes()
    path.write_bytes(good + tail)
    return path, good


@pytest.mark.parametrize(
    "tail",
    [
        json.dumps(ROWS[2]).encode()[:-1],  # cut before the closing brace
        b'{"i": 2, "s": "\xc3',  # cut inside a UTF-8 character
        b"\x00" * 16,  # a block the filesystem extended but never wrote (power cut)
        b"12",  # a prefix that parses, but rows are objects
    ],
)
def test_torn_last_line_policies(tmp_path, tail):
    path, good = _torn_file(tmp_path, tail)
    with pytest.raises(ValueError, match=r"log\.jsonl:3: torn last line .*no newline"):
        list(read_jsonl(path))  # "raise" is the default
    assert [r for _, r in read_jsonl(path, on_torn="skip")] == ROWS[:2]
    assert path.read_bytes() == good + tail  # skip never writes
    assert list(read_jsonl(path, on_torn="truncate")) == [(1, ROWS[0]), (2, ROWS[1])]
    assert path.read_bytes() == good  # cut at the last whole row: appends resume cleanly
    append_jsonl(path, ROWS[2:])
    assert [r for _, r in read_jsonl(path)] == ROWS


def test_a_bad_middle_line_is_an_error_under_every_policy(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n{"a": 3}\n')
    for policy in ("raise", "skip", "truncate"):
        with pytest.raises(ValueError, match=r"log\.jsonl:2: invalid JSON"):
            list(read_jsonl(path, on_torn=policy))
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(ValueError, match=r"log\.jsonl:2: not UTF-8"):
        list(read_jsonl(path, on_torn="truncate"))
    # a bad last line that does end with a newline is no crash artefact (appends write whole rows)
    path.write_bytes(b'{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"log\.jsonl:2: invalid JSON"):
        list(read_jsonl(path, on_torn="skip"))
    assert path.read_bytes() == b'{"a": 1}\n{"a": \n'
    with pytest.raises(ValueError, match="on_torn must be one of"):
        list(read_jsonl(path, on_torn="ignore"))


def test_complete_last_row_without_newline_is_kept_and_truncate_terminates_it(tmp_path):
    path = tmp_path / "hand.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}')  # hand-written files often lack the final newline
    assert [r for _, r in read_jsonl(path)] == [{"a": 1}, {"a": 2}]
    assert [r for _, r in read_jsonl(path, on_torn="skip")] == [{"a": 1}, {"a": 2}]
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}'
    assert [r for _, r in read_jsonl(path, on_torn="truncate")] == [{"a": 1}, {"a": 2}]
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'  # the next append starts its own line
    append_jsonl(path, [{"a": 3}])
    assert [r for _, r in read_jsonl(path)] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_append_jsonl_writes_whole_rows_or_nothing(tmp_path):
    path = tmp_path / "new" / "rows.jsonl"  # parents are created
    assert append_jsonl(path, []) == 0 and not path.exists()
    assert append_jsonl(path, iter(ROWS[:2]), sort_keys=True) == 2
    assert append_jsonl(path, ROWS[2:]) == 1  # ensure_ascii=True (default) writes a lone surrogate
    before = path.read_bytes()
    assert before.endswith(b"\n") and before.count(b"\n") == 3
    with pytest.raises(UnicodeEncodeError):  # the third row cannot be UTF-8: not even rows 1-2 go in
        append_jsonl(path, [{"ok": 1}, {"ok": 2}, {"bad": "\ud800"}], ensure_ascii=False)
    with pytest.raises(TypeError, match="must be dicts"):
        append_jsonl(path, [{"ok": 1}, [1, 2]])
    with pytest.raises(TypeError):
        append_jsonl(path, [{"ok": 1}, {"x": object()}])
    assert path.read_bytes() == before
    assert append_jsonl(path, [{"k": "ü"}], ensure_ascii=False, fsync=False) == 1
    assert path.read_bytes() == before + '{"k": "ü"}\n'.encode()


_WRITER = r"""
import json, os, sys
from phi_lab.io import append_jsonl
path = sys.argv[1]
append_jsonl(path, [{"i": i} for i in range(3)])
line = (json.dumps({"i": 3, "pad": "y" * 4096}) + "\n").encode()
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, line[:1000])  # the first part of a row reaches the file ...
os.fsync(fd)
print("half", flush=True)
sys.stdin.read()  # ... and the writer is killed before the rest
"""


def test_a_writer_killed_mid_line_resumes_exactly(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "half\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not path.read_bytes().endswith(b"\n")
    with pytest.raises(ValueError, match=r"log\.jsonl:4: torn last line \(1000 bytes"):
        list(read_jsonl(path))
    assert [r["i"] for _, r in read_jsonl(path, on_torn="skip")] == [0, 1, 2]
    assert [r["i"] for _, r in read_jsonl(path, on_torn="truncate")] == [0, 1, 2]
    append_jsonl(path, [{"i": 3}])
    assert [(n, r["i"]) for n, r in read_jsonl(path)] == [(1, 0), (2, 1), (3, 2), (4, 3)]


# -- the artifact writers that go through phi_lab.io ----------------------------------------------


def _no_temp_files(folder):
    return [p.name for p in folder.rglob(".*") if ".tmp" in p.name]


def test_tokenizer_save_is_atomic(tmp_path, tiny_tokenizer):
    from phi_lab.model.tokenizer import PhiTokenizer

    tiny_tokenizer.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert PhiTokenizer.from_pretrained(tmp_path).encode("def f(x):\n") == tiny_tokenizer.encode(
        "def f(x):\n"
    )

    class DiesMidWrite:
        def save(self, path):
            with open(path, "w") as f:
                f.write('{"version": "1.0", "trunc')
            raise OSError("disk full")

    broken = PhiTokenizer.__new__(PhiTokenizer)
    broken.__dict__.update(tiny_tokenizer.__dict__, _tok=DiesMidWrite())
    with pytest.raises(OSError, match="disk full"):
        broken.save(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before and not _no_temp_files(tmp_path)


def test_embedding_cache_write_is_atomic(tmp_path, monkeypatch):
    import numpy as np

    from phi_lab.filtering import embed_cache

    class Counting:
        name, dim = "counting", 3

        def embed(self, texts, progress=False):
            return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    path = tmp_path / "emb.npz"
    X = embed_cache.embed_with_cache(Counting(), ["a", "bb"], ["ka", "kb"], path, progress=False)
    assert X.tolist() == [[1, 1, 0], [2, 1, 0]]
    before = path.read_bytes()
    real = np.savez

    def dies(file, **arrays):
        real(file, **arrays)
        with open(file, "r+b") as f:
            f.truncate(100)  # half the archive on disk
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies)
    with pytest.raises(KeyboardInterrupt):
        embed_cache.embed_with_cache(Counting(), ["ccc"], ["kc"], path, progress=False)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["emb.npz"]
    monkeypatch.setattr(np, "savez", real)
    X = embed_cache.embed_with_cache(Counting(), ["ccc", "a"], ["kc", "ka"], path, progress=False)
    assert X.tolist() == [[3, 1, 0], [1, 1, 0]]


def test_metrics_log_survives_a_torn_line_and_resumes(tmp_path):
    from phi_lab.training.metrics import MetricsLogger, read_metrics

    log = MetricsLogger(tmp_path, tensorboard=False)
    for step in range(1, 6):
        log.log({"step": step, "loss": 1.0 / step, "bad": float("nan")})
    log.log({"step": 4, "kind": "val", "val_loss": 0.5}, prefix="val")
    log.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    assert read_metrics(tmp_path)[0]["bad"] is None  # NaN is not JSON
    path = tmp_path / "metrics.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"step": 6, "lo')  # killed mid-append
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]  # a live reader skips it
    # the resumed run (checkpoint at step 4) drops what it logs again, the torn line with it
    resumed = MetricsLogger(tmp_path, tensorboard=False)
    resumed.truncate_after(4)
    resumed.log({"step": 5, "loss": 0.25})
    resumed.close()
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path)] == [
        (1, 1.0),
        (2, 0.5),
        (3, 1 / 3),
        (4, 0.25),
        (5, 0.25),
    ]
    assert read_metrics(tmp_path, "val") == [{"step": 4, "kind": "val", "val_loss": 0.5}]
    assert path.read_bytes().endswith(b"\n") and not _no_temp_files(tmp_path)
