"""Corpus readers and the offline corpus: bad inputs are skipped with reasons, never crash."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phi_lab.data import offline
from phi_lab.data.documents import SkipLog, read_python_tree
from phi_lab.data.sources import read_source
from phi_lab.data.tables import read_hf_dataset, read_jsonl, read_parquet


@pytest.fixture()
def bad_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "good.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "héllo.py").write_text("s = 'héllo wörld'\n", encoding="utf-8")
    (root / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (root / "empty.py").write_text("")
    (root / "blank.py").write_text("\n   \n")
    (root / "binary.py").write_bytes(b"abc\x00def")
    (root / "notes.txt").write_text("not python")
    (root / "pkg" / "__pycache__" / "good.cpython-311.py").write_text("cached = 1\n")
    os.symlink(root / "missing.py", root / "dangling.py")
    (root / "locked.py").write_text("secret = 1\n")
    return root


def test_python_tree_skips_bad_files_with_reasons(bad_tree: Path, monkeypatch) -> None:
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # root ignores chmod 000, so deny this one file explicitly
        if self.name == "locked.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    skips = SkipLog()
    docs = list(read_python_tree(bad_tree, skips, source="t"))
    assert sorted(Path(d.path).name for d in docs) == ["good.py", "héllo.py"]
    assert all(d.source == "t" for d in docs)
    assert {d.meta["relpath"] for d in docs} == {"pkg/good.py", "pkg/héllo.py"}
    reasons = {Path(s.path).name: s.reason.split(":")[0] for s in skips.items}
    assert reasons == {
        "latin1.py": "non-utf8",
        "empty.py": "empty",
        "blank.py": "empty",
        "binary.py": "binary",
        "dangling.py": "unreadable",
        "locked.py": "permission-denied",
    }
    out = skips.write(bad_tree.parent / "skipped.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(r["reason"] and r["path"] for r in rows)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_python_tree_chmod_unreadable(bad_tree: Path) -> None:
    (bad_tree / "locked.py").chmod(0)
    skips = SkipLog()
    list(read_python_tree(bad_tree, skips))
    assert any(s.reason.startswith("permission-denied") for s in skips.items)


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(read_source(tmp_path / "nope"))
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unknown corpus format"):
        list(read_source(tmp_path / "data.csv"))


def test_jsonl_reader_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    lines = [
        json.dumps({"content": "print(1)\n", "id": 7}).encode(),
        b"{not json",
        json.dumps({"other": "x"}).encode(),
        json.dumps({"content": 3}).encode(),
        json.dumps({"content": "  "}).encode(),
        b'{"content": "caf\xe9"}',
        b"",
        json.dumps({"content": "x = 2\n", "tags": ["a"]}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    skips = SkipLog()
    docs = list(read_jsonl(path, "content", skips))
    assert [d.text for d in docs] == ["print(1)\n", "x = 2\n"]
    assert docs[0].path == f"{path}:1" and docs[0].meta == {"id": 7}
    assert docs[1].meta == {}  # non-scalar fields stay out of provenance
    assert [(s.path.rsplit(":", 1)[1], s.reason.split(":")[0]) for s in skips.items] == [
        ("2", "invalid-json"),
        ("3", "no-text-field"),
        ("4", "not-a-string"),
        ("5", "empty"),
        ("6", "non-utf8"),
    ]
    with pytest.raises(ValueError, match="'text'"):
        list(read_jsonl(path, "text"))


def test_parquet_reader(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.table({"code": ["a = 1\n", None, "", "b = 2\n"], "repo": ["r1", "r2", "r3", "r4"]}), path
    )
    skips = SkipLog()
    docs = list(read_source(path, text_field="code", skips=skips))
    assert [(d.text, d.meta["repo"], d.path) for d in docs] == [
        ("a = 1\n", "r1", f"{path}:0"),
        ("b = 2\n", "r4", f"{path}:3"),
    ]
    assert len(skips) == 2
    with pytest.raises(ValueError, match=r"no text column found: looked for 'content'.*'code', 'repo'"):
        list(read_parquet(path))
    with pytest.raises(ValueError, match="no column 'text'"):
        list(read_parquet(path, "text"))


def test_hf_dataset_without_datasets_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ImportError, match="pip install datasets"):
        list(read_hf_dataset(tmp_path))


def test_offline_corpus_dedups_and_keeps_provenance(tmp_path: Path, monkeypatch) -> None:
    std, site = tmp_path / "lib", tmp_path / "site"
    (std / "json").mkdir(parents=True)
    (std / "site-packages" / "ignored").mkdir(parents=True)
    (site / "mypkg").mkdir(parents=True)
    (std / "os.py").write_text("import sys\n")
    (std / "json" / "decoder.py").write_text("class Decoder: pass\n")
    (std / "site-packages" / "ignored" / "x.py").write_text("not = 'on the path'\n")
    (site / "mypkg" / "copy.py").write_text("import sys\n")  # same content as os.py
    (site / "mypkg" / "core.py").write_text("def core(): pass\n")
    roots = [offline.CorpusRoot("stdlib", std), offline.CorpusRoot("site-packages", site)]
    monkeypatch.setattr(offline, "corpus_roots", lambda include_site_packages=True: roots)
    skips = SkipLog()
    docs = list(offline.offline_python_corpus(skips=skips))
    assert len(docs) == 3
    assert len({d.sha256 for d in docs}) == 3
    assert [s.reason.split(":")[0] for s in skips.items] == ["duplicate"]
    by_rel = {d.meta["relpath"]: d.meta for d in docs}
    assert by_rel["json/decoder.py"]["origin"] == "stdlib" and by_rel["json/decoder.py"]["package"] == "json"
    assert (
        by_rel["mypkg/core.py"]["origin"] == "site-packages" and by_rel["mypkg/core.py"]["package"] == "mypkg"
    )
    assert "x.py" not in {Path(d.path).name for d in docs}
    # bounded subsets are prefixes of the same seeded order; another seed gives another order
    assert [d.path for d in offline.offline_python_corpus(max_documents=2)] == [d.path for d in docs[:2]]
    assert [d.path for d in offline.offline_python_corpus(max_bytes=1)] == [docs[0].path]


def test_real_offline_corpus_is_deterministic() -> None:
    a = list(offline.offline_python_corpus(max_documents=25, include_site_packages=False))
    b = list(offline.offline_python_corpus(max_documents=25, include_site_packages=False))
    c = list(offline.offline_python_corpus(max_documents=25, include_site_packages=False, seed=1))
    assert [d.path for d in a] == [d.path for d in b] != [d.path for d in c]
    assert len(a) == 25 and len({d.sha256 for d in a}) == 25
    assert all(d.meta["origin"] == "stdlib" and d.meta["package"] for d in a)
    # ~10% of the files are stdlib: 200 seeded draws hold both origins unless the order were broken
    site = list(offline.offline_python_corpus(max_documents=200))
    assert {d.meta["origin"] for d in site} == {"stdlib", "site-packages"}
    assert any(d.meta["distribution"] for d in site if d.meta["origin"] == "site-packages")


def test_hf_dataset_saved_to_disk(tmp_path: Path) -> None:
    """A real `datasets` dataset written with save_to_disk, read back offline (no hub involved)."""
    datasets = pytest.importorskip("datasets")

    one = datasets.Dataset.from_list(
        [{"text": "a = 1\n", "n": 1}, {"text": "", "n": 2}, {"text": "b = 2\n", "n": 3}]
    )
    one.save_to_disk(str(tmp_path / "one"))
    two = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["t\n"]}),
        test=datasets.Dataset.from_dict({"text": ["v\n"]}),
    )
    two.save_to_disk(str(tmp_path / "two"))
    skips = SkipLog()
    docs = list(read_hf_dataset(tmp_path / "one", skips=skips))
    assert [(d.text, d.meta, d.path) for d in docs] == [
        ("a = 1\n", {"n": 1}, f"{tmp_path / 'one'}[0]"),
        ("b = 2\n", {"n": 3}, f"{tmp_path / 'one'}[2]"),
    ]
    assert [s.reason for s in skips.items] == ["empty"]
    with pytest.raises(ValueError, match="choose one with --split"):
        list(read_hf_dataset(tmp_path / "two"))
    assert [d.text for d in read_hf_dataset(tmp_path / "two", split="test")] == ["v\n"]
    with pytest.raises(ValueError, match="no column 'code'"):
        list(read_hf_dataset(tmp_path / "one", text_field="code"))
