"""StackOverflow as published: the Stack Exchange dump's `Posts.xml`, or a JSONL/Parquet export of posts.

phi-1's code corpus is The Stack plus StackOverflow (Python). A post table holds questions and
answers as separate rows; a training document is one question followed by its answers, best score
first, kept when the question is tagged Python (`python`, `python-3.x`, `python-2.7`, ...; tags
written `<python><pandas>` in the XML dump, `|python|pandas|` in newer dumps and exports).

`Posts.xml` is tens of GB, so it is streamed once with `iterparse` and nothing but Python posts is
kept: questions by id and answers by their question's id go to hash buckets on disk (in the dump an
answer always follows its question, so answers of other questions are dropped on the way; an export
may be in any order, so its answers are all bucketed and unmatched ones dropped at the join). Each
bucket is then joined in memory on its own, and buckets are the units that distributed tasks split.
HTML bodies become text; code blocks are kept verbatim between ``` fences.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from tqdm.auto import tqdm

from phi_lab.data.documents import Document, SkipLog
from phi_lab.data.formats import open_binary, sniff_file
from phi_lab.io import atomic_write_json

PYTHON_TAG = re.compile(r"python(-[0-9][0-9.x]*)?")  # python, python-3.x, python-2.7, python-3.10
BUCKET_BYTES = 256 << 20  # ~ input bytes per bucket: a bucket's Python posts are a few MB to join
ALIASES = {
    "id": ("Id", "id", "post_id"),
    "type": ("PostTypeId", "post_type_id", "PostType", "post_type"),
    "parent": ("ParentId", "parent_id"),
    "score": ("Score", "score"),
    "tags": ("Tags", "tags"),
    "title": ("Title", "title"),
    "body": ("Body", "body"),
    "accepted": ("AcceptedAnswerId", "accepted_answer_id"),
}


def looks_like_posts(columns: Iterable[str]) -> bool:
    cols = set(columns)
    return all(any(a in cols for a in ALIASES[k]) for k in ("id", "type", "body"))


def parse_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, list | tuple):
        return [str(t) for t in tags]
    tags = str(tags)
    if "<" in tags:
        return re.findall(r"<([^<>]+)>", tags)
    return [t for t in re.split(r"[|,\s]+", tags) if t]


def is_python(tags: list[str]) -> bool:
    return any(PYTHON_TAG.fullmatch(t.lower()) for t in tags)


HTML_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
)


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pre = 0
        self.code = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "pre":
            self.pre += 1
            self.parts.append("\n\n```\n")
        elif tag == "code" and not self.pre:
            self.code += 1
            self.parts.append("`")
        elif tag in HTML_BLOCKS:
            self.parts.append("\n- " if tag == "li" else "\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.pre:
            self.pre -= 1
            if self.parts and not self.parts[-1].endswith("\n"):
                self.parts.append("\n")
            self.parts.append("```\n\n")
        elif tag == "code" and self.code:
            self.code -= 1
            self.parts.append("`")
        elif tag in HTML_BLOCKS and tag != "li":  # the next item starts its own line
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of a post body: paragraphs, lists, inline `code`, and ``` fenced code blocks."""
    p = _HTMLText()
    p.feed(html or "")
    p.close()
    text = "".join(p.parts)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _get(rec: dict[str, Any], key: str) -> Any:
    for a in ALIASES[key]:
        if a in rec and rec[a] is not None:
            return rec[a]
    return None


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _post_type(v: Any) -> str | None:
    s = str(v).lower()
    return {"1": "question", "question": "question", "2": "answer", "answer": "answer"}.get(s)


def _xml_rows(f: IO[bytes]) -> Iterator[dict[str, Any]]:
    context = ET.iterparse(f, events=("start", "end"))
    _, root = next(context)
    for event, elem in context:
        if event == "end" and elem.tag == "row":
            yield dict(elem.attrib)
            root.clear()  # the dump has tens of millions of rows: keep none of them in the tree


def iter_posts(path: str | Path) -> Iterator[dict[str, Any]]:
    """Raw post records of Posts.xml (plain or compressed), a JSONL export or a Parquet export."""
    path = Path(path)
    kind = sniff_file(path)
    if kind == "posts-xml":
        with open_binary(path) as f:
            yield from _xml_rows(f)
    elif kind == "jsonl":
        with open_binary(path) as f:
            for raw in f:
                if raw.strip():
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(rec, dict):
                        yield rec
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    else:
        raise ValueError(f"{path}: not Posts.xml or a JSONL/Parquet export of posts")


def default_buckets(paths: list[Path]) -> int:
    return max(1, min(4096, sum(p.stat().st_size for p in paths) // BUCKET_BYTES + 1))


def _stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def split_posts(
    paths: str | Path | list[Path], work_dir: str | Path, n_buckets: int | None = None
) -> dict[str, Any]:
    """One streaming pass: Python questions and their answers into `n_buckets` JSONL files under work_dir.

    Returns the summary written to work_dir/done.json (bucket files, counts); a finished split of the
    same unchanged files is reused, a half-written one is redone.
    """
    paths = [Path(p) for p in paths] if isinstance(paths, list) else [Path(paths)]
    work = Path(work_dir)
    n_buckets = n_buckets or default_buckets(paths)
    done = work / "done.json"
    stamp = {"files": [_stamp(p) for p in paths], "buckets": n_buckets}
    if done.exists():
        summary = json.loads(done.read_text())
        if summary.get("stamp") == stamp:
            return summary
    tmp = work.with_name(f".{work.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # Many bucket files stay open for the whole pass; all are closed in the `finally` below.
    files = [open(tmp / f"bucket-{i:05d}.jsonl", "w", encoding="utf-8") for i in range(n_buckets)]  # noqa: SIM115
    python_questions: set[int] = set()
    counts = {"posts": 0, "questions": 0, "python_questions": 0, "answers_kept": 0}
    try:
        for path in paths:
            # The dump lists posts by id, a question before its answers; an export may be in any order.
            ordered = sniff_file(path) == "posts-xml"
            with tqdm(desc=f"split {path.name}", unit=" posts", mininterval=2, disable=None) as bar:
                for rec in iter_posts(path):
                    counts["posts"] += 1
                    _bucket_post(rec, ordered, python_questions, files, counts)
                    bar.update()
    finally:
        for f in files:
            f.close()
    summary = {
        "stamp": stamp,
        "buckets": [str(work / f"bucket-{i:05d}.jsonl") for i in range(n_buckets)],
        "counts": counts,
    }
    atomic_write_json(tmp / "done.json", summary)
    if work.exists():
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, work)
    return summary


def _bucket_post(
    rec: dict[str, Any],
    ordered: bool,
    python_questions: set[int],
    files: list[IO[str]],
    counts: dict[str, int],
) -> None:
    kind, pid = _post_type(_get(rec, "type")), _int(_get(rec, "id"))
    if pid is None:
        return
    n = len(files)
    if kind == "question":
        counts["questions"] += 1
        tags = parse_tags(_get(rec, "tags"))
        if not is_python(tags):
            return
        python_questions.add(pid)
        counts["python_questions"] += 1
        q = {
            "q": pid,
            "title": str(_get(rec, "title") or ""),
            "body": html_to_text(str(_get(rec, "body") or "")),
            "tags": tags,
            "score": _int(_get(rec, "score")) or 0,
            "accepted": _int(_get(rec, "accepted")),
        }
        files[pid % n].write(json.dumps(q, ensure_ascii=False) + "\n")
    elif kind == "answer":
        parent = _int(_get(rec, "parent"))
        if parent is None or (ordered and parent not in python_questions):
            return
        a = {"a": pid, "parent": parent, "body": html_to_text(str(_get(rec, "body") or ""))}
        a["score"] = _int(_get(rec, "score")) or 0
        files[parent % n].write(json.dumps(a, ensure_ascii=False) + "\n")
        counts["answers_kept"] += 1


def _document_text(q: dict[str, Any], answers: list[dict[str, Any]]) -> str:
    parts = [f"# {q['title']}".rstrip(), q["body"]]
    for a in answers:
        flag = ", accepted" if a["a"] == q.get("accepted") else ""
        parts.append(f"## Answer (score {a['score']}{flag})\n\n{a['body']}")
    return "\n\n".join(p for p in parts if p.strip()) + "\n"


def read_bucket(
    bucket: str | Path, posts_path: str, source: str, skips: SkipLog | None = None
) -> Iterator[Document]:
    """The documents of one bucket: each Python question with its answers by score, questions by id."""
    skips = skips if skips is not None else SkipLog()
    questions: dict[int, dict[str, Any]] = {}
    answers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with open(bucket, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if "q" in rec:
                questions[rec["q"]] = rec
            else:
                answers[rec["parent"]].append(rec)
    for qid in sorted(questions):
        q = questions[qid]
        ans = sorted(answers.get(qid, []), key=lambda a: (-a["score"], a["a"]))
        where = f"{posts_path}#{qid}"
        if not q["body"].strip() and not ans:
            skips.add(where, "empty: question without body or answers", source)
            continue
        meta = {
            "question_id": qid,
            "score": q["score"],
            "tags": "|".join(q["tags"]),
            "answers": len(ans),
            "accepted_answer_id": q.get("accepted"),
        }
        yield Document(_document_text(q, ans), source, where, meta)


def read_stackexchange(
    paths: str | Path | list[Path],
    work_dir: str | Path | None = None,
    skips: SkipLog | None = None,
    source: str | None = None,
    n_buckets: int | None = None,
) -> Iterator[Document]:
    """Documents of posts files, read in one process (buckets in a temporary directory unless given)."""
    import tempfile

    paths = [Path(p) for p in paths] if isinstance(paths, list) else [Path(paths)]
    source = source or "stackoverflow"
    skips = skips if skips is not None else SkipLog()
    where = str(paths[0]) if len(paths) == 1 else str(paths[0].parent)
    with tempfile.TemporaryDirectory(prefix="phi-lab-posts-") as tmp:
        summary = split_posts(paths, Path(work_dir) if work_dir else Path(tmp) / "buckets", n_buckets)
        for bucket in summary["buckets"]:
            yield from read_bucket(bucket, where, source, skips)
