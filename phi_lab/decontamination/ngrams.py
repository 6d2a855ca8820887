"""N-gram overlap between training data and a benchmark (phi-1 §5.2, "N-gram overlap").

Text is normalized to lowercase word tokens (`\\w+`: letters, digits, underscore); whitespace, case and
punctuation are ignored. Every n-gram (n=13 by default) of every benchmark problem's prompt/docstring
and reference solution goes into an in-memory index (a few thousand n-grams for HumanEval or MBPP);
training documents are then streamed and each of their n-grams looked up. Consecutive matching n-grams
against the same benchmark field at the same offset are merged into one hit, so a hit is a maximal
matching span, reported with both sides' text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

from phi_lab.benchmarks import Problem

_WORD = re.compile(r"\w+")
CONTEXT_CHARS = 80
FIELDS = ("prompt", "solution")  # a hit's `field`: the problem's description or its reference solution


def _field_text(problem: Problem, field: str) -> str:
    return problem.description if field == "prompt" else problem.canonical_solution


def words(text: str) -> list[tuple[str, int, int]]:
    """Normalized word tokens of `text` with their character spans in the original text."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class NGramHit:
    doc_id: str
    task_id: str
    field: str  # "prompt" or "solution": which side of the benchmark problem matched
    n_words: int  # length of the maximal matching span in words (>= n)
    doc_span: tuple[int, int]  # character span of the match in the training document
    doc_text: str  # the matching span as it is in the training document
    benchmark_text: str  # the matching span as it is in the benchmark problem
    context: str  # the training document around the match

    def to_json(self) -> dict:
        return asdict(self)


class NGramIndex:
    """Normalized n-grams of benchmark prompts and solutions -> where they occur."""

    def __init__(self, problems: Sequence[Problem], n: int = 13):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.problems = list(problems)
        self._words: dict[tuple[int, str], list[tuple[str, int, int]]] = {}
        self._index: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        for pi, prob in enumerate(self.problems):
            for field in FIELDS:
                toks = words(_field_text(prob, field))
                self._words[(pi, field)] = toks
                for j in range(len(toks) - n + 1):
                    self._index[" ".join(t for t, _, _ in toks[j : j + n])].append((pi, field, j))
        self._index = dict(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def find(self, doc_id: str, text: str) -> list[NGramHit]:
        """All maximal matching spans between `text` and the benchmark."""
        toks = words(text)
        n = self.n
        # (problem, field, diagonal offset) -> document positions of matching n-grams
        runs: dict[tuple[int, str, int], list[int]] = defaultdict(list)
        for i in range(len(toks) - n + 1):
            where = self._index.get(" ".join(t for t, _, _ in toks[i : i + n]))
            if where:
                for pi, field, j in where:
                    runs[(pi, field, j - i)].append(i)
        hits = []
        for (pi, field, diag), starts in runs.items():
            run_start = prev = starts[0]
            for i in [*starts[1:], None]:
                if i is not None and i == prev + 1:
                    prev = i
                    continue
                hits.append(self._hit(doc_id, text, toks, pi, field, diag, run_start, prev))
                if i is not None:
                    run_start = prev = i
        hits.sort(key=lambda h: (h.doc_span, h.task_id, h.field))
        return hits

    def _hit(self, doc_id, text, toks, pi, field, diag, first, last) -> NGramHit:
        n_words = last - first + self.n
        start, end = toks[first][1], toks[first + n_words - 1][2]
        btoks = self._words[(pi, field)]
        bsrc = _field_text(self.problems[pi], field)
        bstart, bend = btoks[first + diag][1], btoks[first + diag + n_words - 1][2]
        lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
        return NGramHit(
            doc_id=doc_id,
            task_id=self.problems[pi].task_id,
            field=field,
            n_words=n_words,
            doc_span=(start, end),
            doc_text=text[start:end],
            benchmark_text=bsrc[bstart:bend],
            context=text[lo:hi],
        )

    def scan(self, docs: Iterable[tuple[str, str]], progress: bool = False) -> Iterator[NGramHit]:
        """Stream (doc_id, text) pairs and yield every hit."""
        from tqdm.auto import tqdm

        for doc_id, text in tqdm(docs, desc=f"{self.n}-gram scan", unit="doc", disable=not progress):
            yield from self.find(doc_id, text)


def summarize(hits: Iterable[NGramHit]) -> dict:
    """Counts for a report: hits, contaminated documents, and benchmark problems touched."""
    docs, tasks, n = set(), defaultdict(int), 0
    for h in hits:
        n += 1
        docs.add(h.doc_id)
        tasks[h.task_id] += 1
    return {"hits": n, "documents": len(docs), "tasks": dict(sorted(tasks.items()))}
