"""phi_lab.io: atomic writes leave the old file or the new one, never half of one, and no temp files."""

from __future__ import annotations

import json

import pytest

from phi_lab.io import (
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
