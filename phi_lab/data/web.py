"""Natural-language "web" text for phi-1.5's web variants, with an offline stand-in.

phi-1.5-web and phi-1.5-web-only train on web text filtered for educational value with phi-1's
method (a classifier on embeddings of LLM-annotated samples). At scale the web corpus is any
source `phi_lab.data.sources` reads: Parquet/JSONL shards, or `hf://` (e.g. a FineWeb or RefinedWeb
subset), with its text field.

Offline there is no web. The stand-in (`offline_web_corpus`, spec "offline-web") is natural-language
documentation that installed packages ship, which is prose of mixed educational value the way web
pages are: the Python reference's help topics (`pydoc_data.topics`, from the interpreter) and the
long descriptions of installed distributions (their METADATA: READMEs, changelogs, licences,
badges). Long texts are cut into sections of about `max_chars` at paragraph breaks, exact
duplicates dropped, and every document is marked `stand_in: true` with its origin, so no table can
pass it off as web data.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import random
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from phi_lab.data.documents import Document, content_hash

OFFLINE_WEB = "offline-web"
STAND_IN_PARTS = ("pydoc-topics", "package-descriptions")
MIN_CHARS = 200  # shorter pieces are headings, badges or one-line summaries, not pages


def _sections(text: str, max_chars: int) -> list[str]:
    """Paragraph-aligned pieces of at most about `max_chars` (a longer paragraph is its own piece)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    pieces, current = [], ""
    for p in paragraphs:
        if current and len(current) + len(p) + 2 > max_chars:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{p}" if current else p
    if current:
        pieces.append(current)
    return pieces


def _pydoc_topics() -> Iterator[tuple[str, str, dict[str, Any]]]:
    from pydoc_data.topics import topics  # the interpreter's own help() texts

    for name in sorted(topics):
        yield f"pydoc_data.topics[{name!r}]", topics[name], {"origin": "pydoc-topics", "topic": name}


def _package_descriptions() -> Iterator[tuple[str, str, dict[str, Any]]]:
    seen: set[str] = set()
    dists = sorted(importlib.metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower())
    for dist in dists:
        name = dist.metadata["Name"] or ""
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        text = dist.metadata.get_payload() or dist.metadata.get("Description") or ""  # type: ignore[attr-defined]
        if text.strip():
            meta = {"origin": "package-descriptions", "package": name, "version": dist.version}
            yield f"{name}-{dist.version}.dist-info/METADATA", text, meta


def offline_web_corpus(
    max_documents: int | None = None,
    max_chars: int = 3000,
    seed: int = 0,
    parts: Iterable[str] = STAND_IN_PARTS,
) -> Iterator[Document]:
    """The offline stand-in for web text (see the module docstring), in a seeded order."""
    parts = tuple(parts)
    unknown = sorted(set(parts) - set(STAND_IN_PARTS))
    if unknown:
        raise ValueError(f"unknown stand-in parts {unknown}; choose from {', '.join(STAND_IN_PARTS)}")
    if max_chars < MIN_CHARS:
        raise ValueError(f"max_chars must be >= {MIN_CHARS}, got {max_chars}")
    readers = {"pydoc-topics": _pydoc_topics, "package-descriptions": _package_descriptions}
    docs, hashes = [], set()
    for part in parts:
        for where, text, meta in readers[part]():
            for k, piece in enumerate(_sections(text.replace("\r\n", "\n"), max_chars)):
                h = content_hash(piece)
                if len(piece) < MIN_CHARS or h in hashes:
                    continue
                hashes.add(h)
                docs.append(Document(piece, OFFLINE_WEB, f"{where}#{k}", {**meta, "stand_in": True}))
    if not docs:
        raise ValueError("the offline web stand-in found no text: no pydoc topics or package descriptions")

    # seeded order independent of the machine's package set order: a hash of (seed, path)
    def order(d: Document) -> str:
        return hashlib.sha256(f"{seed}:{d.path}".encode()).hexdigest()

    ordered = sorted(docs, key=order)
    return iter(ordered[:max_documents] if max_documents else ordered)


def web_corpus(
    specs: Iterable[str],
    max_documents: int | None = None,
    seed: int = 0,
    text_field: str | None = None,
) -> Iterator[Document]:
    """Web documents: "offline-web" is the stand-in; any other spec is read by `phi_lab.data.sources`
    (Parquet/JSONL files or shard directories, `hf://repo[/dir]`), with `text_field`."""
    from phi_lab.data.sources import read_source

    def docs() -> Iterator[Document]:
        for spec in specs:
            if spec == OFFLINE_WEB:
                yield from offline_web_corpus(seed=seed)
            else:
                yield from read_source(spec, text_field)

    return islice(docs(), max_documents) if max_documents else docs()


def sample_texts(docs: Iterable[Document], n: int, seed: int = 0) -> list[str]:
    """`n` texts drawn uniformly without replacement (all of them when fewer), e.g. prompt seeds."""
    pool = [d.text for d in docs]
    return random.Random(seed).sample(pool, min(n, len(pool)))
