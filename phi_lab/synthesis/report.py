"""Diversity report and import statistics of a synthetic dataset (data for the paper's Figure 3.1)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def _words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())


def diversity_report(
    texts: Sequence[str],
    topics: Iterable[str | None] = (),
    ngram_sizes=(1, 2, 3, 4),
    opening_words: int = 8,
    tokenizer=None,
) -> dict[str, Any]:
    """Distinct-n ratios, repeated openings, topic coverage and token counts of `texts`."""
    report: dict[str, Any] = {"n_records": len(texts)}
    toks = [_words(t) for t in texts]
    for n in ngram_sizes:
        grams = Counter(tuple(w[i : i + n]) for w in toks for i in range(len(w) - n + 1))
        total = sum(grams.values())
        report[f"distinct_{n}grams"] = len(grams)
        report[f"distinct_{n}gram_ratio"] = round(len(grams) / total, 4) if total else 0.0
    openings = Counter(" ".join(w[:opening_words]) for w in toks if w)
    repeated = {k: v for k, v in openings.most_common(10) if v > 1}
    report["distinct_openings"] = len(openings)
    report["repeated_openings_top"] = repeated
    report["share_with_repeated_opening"] = (
        round(sum(v for v in openings.values() if v > 1) / len(texts), 4) if texts else 0.0
    )
    topic_counts = Counter(t for t in topics if t)
    report["topic_coverage"] = {
        "distinct_topics": len(topic_counts),
        "counts": dict(topic_counts.most_common()),
    }
    if tokenizer is not None:
        lens = [len(x) for x in tokenizer.encode_batch(list(texts))] if texts else []
        unit = "tokens"
    else:
        lens = [len(w) for w in toks]  # word/punctuation pieces when no tokenizer is given
        unit = "words"
    report["length_unit"] = unit
    report["total_length"] = int(sum(lens))
    report["mean_length"] = round(sum(lens) / len(lens), 2) if lens else 0.0
    report["max_length"] = max(lens, default=0)
    return report


def imports_of(code: str) -> list[str]:
    """Top-level package names a program imports (e.g. `from os.path import join` -> `os`)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [m.split(".")[0] for m in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", code, re.M)]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
    return names


def import_statistics(programs: Sequence[str], exclude: Iterable[str] = ("doctest",)) -> dict[str, Any]:
    """For each package: how many exercises import it, and the share of exercises (Figure 3.1's axes)."""
    skip = set(exclude)
    counts: Counter[str] = Counter()
    for p in programs:
        counts.update(set(imports_of(p)) - skip)
    n = len(programs)
    return {
        "n_exercises": n,
        "n_with_imports": sum(1 for p in programs if set(imports_of(p)) - skip),
        "packages": [{"package": k, "count": v, "share": round(v / n, 4)} for k, v in counts.most_common()],
    }
