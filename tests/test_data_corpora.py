"""Real corpora as published: The Stack's parquet shards, the Stack Exchange dump, compressed JSONL, the hub.

Every input is generated here, laid out and typed like the real thing; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from phi_lab.data.documents import EmptySourceError
from phi_lab.data.sample import BottomK, merge_bottom_k, sample_documents, sample_priority
from phi_lab.data.sources import detect, read_source, read_sources
from phi_lab.data.stackexchange import html_to_text
from phi_lab.data.units import plan_corpus, read_unit
from phi_lab.filtering.labels import Label, read_labels, read_labels_metadata, write_labels

STACK_SHARDS = [7, 5, 9]  # rows per shard; row 3 of shard 1 has empty content


def _stack_table(shard: int, n: int) -> pa.Table:
    """Columns and types of bigcode/the-stack-dedup (data/python/*.parquet)."""
    rows = range(n)
    s = pa.string()
    lic = pa.list_(pa.string())
    repo = [f"owner{shard}/repo{i % 3}" for i in rows]
    cols: dict[str, pa.Array] = {
        "hexsha": pa.array([f"{shard:02x}{i:038x}" for i in rows], s),
        "size": pa.array([40 + i for i in rows], pa.int64()),
        "ext": pa.array(["py"] * n, s),
        "lang": pa.array(["Python"] * n, s),
    }
    for kind in ("stars", "issues", "forks"):
        cols[f"max_{kind}_repo_path"] = pa.array([f"pkg/mod_{i}.py" for i in rows], s)
        cols[f"max_{kind}_repo_name"] = pa.array(repo, s)
        cols[f"max_{kind}_repo_head_hexsha"] = pa.array(["ab" * 20] * n, s)
        cols[f"max_{kind}_repo_licenses"] = pa.array([["MIT"]] * n, lic)
        cols[f"max_{kind}_count"] = pa.array([None if i % 2 else i for i in rows], pa.int64())
        event = {"stars": "stars", "issues": "issues", "forks": "forks"}[kind]
        cols[f"max_{kind}_repo_{event}_event_min_datetime"] = pa.array(["2015-01-01T00:00:00.000Z"] * n, s)
        cols[f"max_{kind}_repo_{event}_event_max_datetime"] = pa.array(["2022-03-01T00:00:00.000Z"] * n, s)
    content = [f"def f_{shard}_{i}():\n    return {i}\n" for i in rows]
    if shard == 1:
        content[3] = ""
    cols["content"] = pa.array(content, s)
    cols["avg_line_length"] = pa.array([12.5] * n, pa.float64())
    cols["max_line_length"] = pa.array([20] * n, pa.int64())
    cols["alphanum_fraction"] = pa.array([0.7] * n, pa.float64())
    return pa.table(cols)


@pytest.fixture()
def the_stack(tmp_path: Path) -> Path:
    root = tmp_path / "the-stack-dedup"
    shards = root / "data" / "python"
    shards.mkdir(parents=True)
    for i, n in enumerate(STACK_SHARDS):
        name = f"data-{i:05d}-of-{len(STACK_SHARDS):05d}.parquet"
        pq.write_table(_stack_table(i, n), shards / name, row_group_size=4)
    (root / "README.md").write_text("---\nlicense: other\n---\n# The Stack (dedup)\n")
    (root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    return root


def test_the_stack_parquet_directory_is_read_as_parquet(the_stack: Path) -> None:
    assert detect(the_stack).kind == "parquet"  # not a .py tree with no .py files (0 documents, no error)
    docs = list(read_source(the_stack))
    assert len(docs) == sum(STACK_SHARDS) - 1
    assert {d.source for d in docs} == {"the-stack-dedup"}
    first = docs[0]
    assert first.text == "def f_0_0():\n    return 0\n" and first.path.endswith(
        "data-00000-of-00003.parquet:0"
    )
    assert first.meta["max_stars_repo_name"] == "owner0/repo0" and first.meta["size"] == 40
    assert "max_stars_repo_licenses" not in first.meta  # lists stay out of provenance
    # Row groups are the work units; reading them one by one gives the same documents.
    plan = plan_corpus([the_stack], the_stack.parent / "work")
    assert (
        len(plan.units) == sum((n + 3) // 4 for n in STACK_SHARDS) and plan.units[0].text_field == "content"
    )
    assert [d.path for u in plan.units for d in read_unit(u)] == [d.path for d in docs]
    capped = plan_corpus([the_stack], the_stack.parent / "work", max_documents=6)
    assert [d.path for u in capped.units for d in read_unit(u)] == [d.path for d in docs[:6]]


def _row(**attrs) -> str:
    return "  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />"


POSTS = [
    dict(
        Id=1,
        PostTypeId=1,
        AcceptedAnswerId=3,
        Score=5,
        Title="How to reverse a list?",
        Tags="<python><list>",
        Body="<p>I have <code>xs</code>:</p>\n<pre><code>xs = [1, 2]\nif xs &lt; 3:\n    print(xs)\n</code></pre>",
    ),
    dict(
        Id=2, PostTypeId=2, ParentId=1, Score=2, Body="<p>Use slicing:</p><pre><code>xs[::-1]\n</code></pre>"
    ),
    dict(Id=3, PostTypeId=2, ParentId=1, Score=10, Body="<p>Use <code>reversed</code> &amp; a list.</p>"),
    dict(
        Id=4,
        PostTypeId=1,
        Score=3,
        Title="Java streams",
        Tags="<java><java-stream>",
        Body="<p>In Java...</p>",
    ),
    dict(Id=5, PostTypeId=2, ParentId=4, Score=1, Body="<p>Use collect.</p>"),
    dict(
        Id=6, PostTypeId=1, Score=1, Title="await in a loop", Tags="<python-3.x><asyncio>", Body="<p>How?</p>"
    ),
    dict(Id=7, PostTypeId=5, Score=0, Body="<p>Tag wiki of python</p>"),
    dict(Id=8, PostTypeId=1, Score=2, Title="IPython magics", Tags="<ipython>", Body="<p>%timeit</p>"),
    dict(Id=9, PostTypeId=2, ParentId=6, Score=0, Body="<p>Use <code>asyncio.gather</code>.</p>"),
    dict(
        Id=10,
        PostTypeId=1,
        Score=4,
        Title="Pandas groupby",
        Tags="|python|pandas|",
        Body="<p>df.groupby?</p>",
    ),
    dict(Id=11, PostTypeId=2, ParentId=10, Score=7, Body="<p>Yes.</p>"),
]


@pytest.fixture()
def posts_xml(tmp_path: Path) -> Path:
    """A Stack Exchange dump directory: Posts.xml (as the dump writes it) next to the other tables."""
    dump = tmp_path / "stackoverflow.com"
    dump.mkdir()
    common = {"CreationDate": "2012-01-01T00:00:00.000", "OwnerUserId": 42, "ContentLicense": "CC BY-SA 3.0"}
    rows = [_row(**{**p, **common}) for p in POSTS]
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n"
    (dump / "Posts.xml").write_text(xml, encoding="utf-8")
    (dump / "Comments.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<comments>\n</comments>\n')
    (dump / "Users.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<users>\n</users>\n')
    return dump


def test_stack_exchange_dump_joins_python_questions_with_answers(posts_xml: Path) -> None:
    assert detect(posts_xml).kind == "stackexchange"
    docs = list(read_source(posts_xml))
    assert [d.meta["question_id"] for d in docs] == [1, 6, 10]  # java, ipython and the wiki are out
    assert {d.source for d in docs} == {"stackoverflow"}
    first = docs[0].text
    assert first.startswith("# How to reverse a list?\n\nI have `xs`:\n\n```\nxs = [1, 2]\nif xs < 3:\n")
    assert first.index("## Answer (score 10, accepted)") < first.index("## Answer (score 2)")
    assert "Use `reversed` & a list." in first and "```\nxs[::-1]\n```" in first
    assert docs[0].meta["answers"] == 2 and docs[0].meta["tags"] == "python|list"
    assert docs[1].meta["answers"] == 1 and docs[2].meta["tags"] == "python|pandas"
    # Buckets are the work units: three of them give the same documents.
    plan = plan_corpus([f"{posts_xml}?buckets=3"], posts_xml.parent / "work")
    assert len(plan.units) == 3
    assert sorted(d.text for u in plan.units for d in read_unit(u)) == sorted(d.text for d in docs)


def test_posts_export_in_any_order_is_joined(tmp_path: Path) -> None:
    """A JSONL export with snake_case columns (as BigQuery's), answers before their questions."""
    rename = {
        "Id": "id",
        "PostTypeId": "post_type_id",
        "ParentId": "parent_id",
        "Score": "score",
        "Tags": "tags",
        "Title": "title",
        "Body": "body",
        "AcceptedAnswerId": "accepted_answer_id",
    }
    recs = [{rename[k]: v for k, v in p.items()} for p in reversed(POSTS)]
    for r in recs:
        if isinstance(r.get("tags"), str):
            r["tags"] = r["tags"].strip("<>|").replace("><", "|")
    path = tmp_path / "posts.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in recs).encode()))
    assert detect(path).kind == "stackexchange"
    docs = list(read_source(path))
    assert [d.meta["question_id"] for d in docs] == [1, 6, 10]
    assert docs[0].meta["answers"] == 2 and "## Answer (score 10, accepted)" in docs[0].text


def test_compressed_jsonl_shards_by_content(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    lines = [json.dumps({"text": f"x = {i}\n", "id": i}) for i in range(6)]
    (shards / "a.jsonl.gz").write_bytes(gzip.compress("\n".join(lines[:2]).encode() + b"\n"))
    (shards / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress("\n".join(lines[2:4]).encode()))
    (shards / "c-00000").write_bytes(gzip.compress("\n".join(lines[4:]).encode()))  # no telling name
    assert detect(shards).kind == "jsonl"
    assert [d.meta["id"] for d in read_source(shards)] == list(range(6))


def test_a_plain_jsonl_file_is_split_into_line_ranges(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"text": f"y = {i}\n", "n": i}) for i in range(10)]
    lines[4] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    plan = plan_corpus([path], tmp_path / "work", shard_size=3)
    assert [u.part["first_line"] for u in plan.units] == [1, 4, 7, 10]
    got = [d for u in plan.units for d in read_unit(u)]
    assert [(d.path, d.meta["n"]) for d in got] == [(d.path, d.meta["n"]) for d in read_source(path)]
    assert got[4].path == f"{path}:6" and len(got) == 9  # line 5 is skipped, the count goes on


def test_text_field_is_detected_or_an_error_listing_the_columns(tmp_path: Path) -> None:
    both = tmp_path / "both.jsonl"
    both.write_text(json.dumps({"content": "a = 1\n", "text": "b", "repo": "r"}) + "\n")
    with pytest.raises(ValueError, match=r"ambiguous text column.*'content', 'text', 'repo'"):
        list(read_source(both))
    assert [d.text for d in read_source(f"{both}?text_field=text")] == ["b"]
    assert [d.text for d in read_source(both, text_field="content")] == ["a = 1\n"]


def test_hub_reader_streams_through_load_dataset(the_stack: Path) -> None:
    """hf://<builder>?data_files=... goes through the same `load_dataset(..., streaming=True)` call as a hub repo."""
    pytest.importorskip("datasets")
    files = sorted((the_stack / "data" / "python").glob("*.parquet"))
    spec = "hf://parquet?data_files=" + ",".join(map(str, files))
    docs = list(read_source(spec))
    assert len(docs) == sum(STACK_SHARDS) - 1 and docs[0].path.startswith("hf://parquet[")
    assert docs[0].meta["max_stars_repo_name"] == "owner0/repo0"
    plan = plan_corpus([spec], the_stack.parent / "work")
    assert len(plan.units) == len(files) and plan.units[0].text_field == "content"
    assert sorted(d.text for u in plan.units for d in read_unit(u)) == sorted(d.text for d in docs)


def test_sources_combine_and_keep_their_source(the_stack: Path, posts_xml: Path) -> None:
    docs = list(read_sources([the_stack, posts_xml / "Posts.xml"]))
    assert Counter(d.source for d in docs) == {"the-stack-dedup": sum(STACK_SHARDS) - 1, "stackoverflow": 3}
    plan = plan_corpus([f"{the_stack}?name=stack", posts_xml], the_stack.parent / "work")
    assert set(plan.sources) == {"stack", "stackoverflow"}


def test_a_source_without_documents_is_an_error_naming_path_and_what(tmp_path: Path) -> None:
    shards = tmp_path / "empty-stack"
    shards.mkdir()
    pq.write_table(pa.table({"content": ["", "  "], "size": [0, 2]}), shards / "data-00000.parquet")
    with pytest.raises(
        EmptySourceError,
        match=r"empty-stack: no documents: looked for rows with a non-empty .*'content'.*2 skipped",
    ):
        list(read_source(shards))
    other = tmp_path / "notes"
    other.mkdir()
    (other / "README.md").write_text("no data here")
    with pytest.raises(EmptySourceError, match=r"notes: no corpus files: looked for \.py files, Parquet"):
        list(read_source(other))
    posts = tmp_path / "Posts.xml"
    posts.write_text('<?xml version="1.0"?>\n<posts>\n' + _row(**POSTS[3]) + "\n</posts>\n")
    with pytest.raises(
        EmptySourceError, match=r"Posts\.xml: no documents: looked for questions tagged python"
    ):
        list(read_source(posts))
    with pytest.raises(EmptySourceError, match="1 questions, none tagged python"):
        plan_corpus([posts], tmp_path / "work")


def test_html_bodies_become_text_with_fenced_code() -> None:
    html = "<h1>Title</h1><p>A <em>b</em>&nbsp;c</p><ul><li>one</li><li>two</li></ul><pre><code>  x = 1\n\n  y = 2\n</code></pre>"
    assert html_to_text(html) == "Title\n\nA b c\n\n- one\n- two\n\n```\n  x = 1\n\n  y = 2\n```"


def test_sample_is_uniform_and_the_same_for_any_sharding() -> None:
    items = [(f"src{i % 3}", f"file{i}.py") for i in range(20)]
    hits: Counter[str] = Counter()
    for seed in range(2000):
        bk: BottomK[str] = BottomK(5)
        for source, path in items:
            bk.offer(sample_priority(seed, source, path), path)
        hits.update(p for _, p in bk.items())
    # each file is in 5 of 20 = 25% of the samples: 2000 draws put all within 5 sigma (0.049)
    assert all(abs(hits[p] / 2000 - 0.25) < 0.05 for _, p in items)
    whole: BottomK[str] = BottomK(5)
    shards = [BottomK[str](5) for _ in range(3)]
    for i, (source, path) in enumerate(items):
        whole.offer(sample_priority(7, source, path), path)
        shards[i % 3].offer(sample_priority(7, source, path), path)
    assert merge_bottom_k([s.items() for s in shards], 5) == whole.items()


def test_sample_documents_is_not_the_first_files(the_stack: Path) -> None:
    docs = list(read_source(the_stack))
    sample, n = sample_documents(docs, 5, seed=0)
    assert n == len(docs) and len(sample) == 5
    assert [d.path for d in sample] != [d.path for d in docs[:5]]
    assert sample_documents(reversed(docs), 5, seed=0)[0] == sample  # order of reading does not matter


def test_labels_file_records_its_sample(tmp_path: Path) -> None:
    lab = Label("a.py", "src", "0" * 64, 0.8, 1, ["ok"], "heuristic", "v1", "ast", text="x = 1\n")
    path = write_labels([lab], tmp_path / "labels.jsonl", {"sample": {"seed": 3, "corpus_size": 10}})
    assert list(read_labels(path)) == [lab]
    assert read_labels_metadata(path) == {"sample": {"seed": 3, "corpus_size": 10}}
    plain = write_labels([lab], tmp_path / "plain.jsonl")
    assert read_labels_metadata(plain) == {} and list(read_labels(plain)) == [lab]
