"""The offline default corpus: the Python source shipped with the running interpreter.

It stands in for The Stack's Python subset (phi-1's "filtered code-language" base): the
standard library plus every installed site-packages tree, deduplicated by content hash,
each document keeping its provenance (path, origin stdlib/site-packages, top-level package
and the distribution that installed it). Files are visited in a seeded pseudo-random order
so that a size-bounded subset (`max_documents` / `max_bytes`) is a deterministic, varied sample
instead of the alphabetically first packages.
"""

from __future__ import annotations

import hashlib
import site
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from phi_lab.data.documents import Document, SkipLog, content_hash, iter_python_files, read_file_text

SOURCE_NAME = "offline"
DEFAULT_MAX_FILE_BYTES = 1_000_000  # generated tables (unicode data, protobufs) are not code to learn from


@dataclass(frozen=True)
class CorpusRoot:
    origin: str  # "stdlib" or "site-packages"
    path: Path


def corpus_roots(include_site_packages: bool = True) -> list[CorpusRoot]:
    """The stdlib directory and the site-packages directories of this interpreter."""
    site_dirs: list[Path] = []
    if include_site_packages:
        candidates = [
            *site.getsitepackages(),
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
        ]
        for d in candidates:
            p = Path(d).resolve()
            if p.is_dir() and p not in site_dirs:
                site_dirs.append(p)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    return [CorpusRoot("stdlib", stdlib)] + [CorpusRoot("site-packages", d) for d in site_dirs]


@lru_cache(maxsize=1)
def _module_to_distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    try:
        return dict(packages_distributions())
    except Exception:  # broken metadata in some installed package must not stop the corpus
        return {}


def _package_of(relpath: Path) -> str:
    top = relpath.parts[0]
    return top[:-3] if top.endswith(".py") else top


def _list_files(roots: list[CorpusRoot], skips: SkipLog) -> list[tuple[CorpusRoot, Path]]:
    """All candidate files; the walk (tens of thousands of files) is done once per process."""
    files, walk_skips = _walk(tuple(roots))
    skips.items.extend(walk_skips.items)
    return list(files)


@lru_cache(maxsize=4)
def _walk(roots: tuple[CorpusRoot, ...]) -> tuple[tuple[tuple[CorpusRoot, Path], ...], SkipLog]:
    skips = SkipLog()
    files: list[tuple[CorpusRoot, Path]] = []
    other_roots = {r.path for r in roots}
    for root in roots:
        for f in iter_python_files(root.path, skips, SOURCE_NAME):
            # The base interpreter's own site-packages lives inside the stdlib tree; it is either
            # one of our roots (then it is listed there) or not on this interpreter's path at all.
            if root.origin == "stdlib" and any(
                part in ("site-packages", "dist-packages") for part in f.relative_to(root.path).parts
            ):
                continue
            if root.origin == "site-packages" and any(
                o != root.path and o.is_relative_to(root.path) and f.is_relative_to(o) for o in other_roots
            ):
                continue
            files.append((root, f))
    return tuple(files), skips


def _order_key(seed: int, root: CorpusRoot, f: Path) -> bytes:
    rel = f.relative_to(root.path).as_posix()
    return hashlib.sha256(f"{seed}:{root.origin}:{rel}".encode()).digest()


def offline_python_corpus(
    max_documents: int | None = None,
    max_bytes: int | None = None,
    seed: int = 0,
    include_site_packages: bool = True,
    max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES,
    skips: SkipLog | None = None,
) -> Iterator[Document]:
    """Deduplicated Python files of this interpreter, in a seeded order, up to the given bounds.

    `max_bytes` counts UTF-8 bytes of the yielded texts; the document that crosses it is the last.
    Duplicates (same content hash) are listed in `skips` with the path they duplicate.
    """
    skips = skips if skips is not None else SkipLog()
    roots = corpus_roots(include_site_packages)
    files = _list_files(roots, skips)
    files.sort(key=lambda rf: _order_key(seed, *rf))
    seen: dict[str, str] = {}
    n_docs = n_bytes = 0
    for root, f in files:
        if max_documents is not None and n_docs >= max_documents:
            return
        if max_bytes is not None and n_bytes >= max_bytes:
            return
        text = read_file_text(f, skips, SOURCE_NAME, max_file_bytes)
        if text is None:
            continue
        h = content_hash(text)
        if h in seen:
            skips.add(f, f"duplicate: same content as {seen[h]}", SOURCE_NAME)
            continue
        seen[h] = str(f)
        rel = f.relative_to(root.path)
        package = _package_of(rel)
        dists = _module_to_distributions().get(package, []) if root.origin == "site-packages" else []
        meta = {
            "origin": root.origin,
            "package": package,
            "distribution": dists[0]
            if dists
            else (f"python-{sys.version_info[0]}.{sys.version_info[1]}" if root.origin == "stdlib" else None),
            "relpath": rel.as_posix(),
        }
        n_docs += 1
        n_bytes += len(text.encode("utf-8"))
        yield Document(text, SOURCE_NAME, str(f), meta)
