"""Syntax-based similarity between code snippets: the AST match rate of phi-1 §5.2.

The paper compares "the (string) edit distance between the abstract syntax trees" of two snippets, a
measure "agnostic to non-syntax text such as variable/function naming, comments, and Python
Docstrings". Our exact definition:

1. **Parse** the snippet with `ast.parse` (the whole module: helper functions count too).
2. **Drop** docstrings and every other bare string statement (`Expr(Constant(str))`, which is what a
   docstring is), `import`/`from ... import` statements (boilerplate such as `from typing import List`,
   not problem content) and expression contexts (`Load`/`Store`/`Del`, redundant with the tree).
   Comments never reach the AST.
3. **Anonymize** identifiers: every `Name` becomes `Name`, every function/class/argument/keyword/alias
   name is erased (only the node type remains), every `Attribute` becomes `Attribute` — *except* names
   of Python builtins (`len`, `range`, `sorted`, ...) and attributes that are methods of builtin types
   (`.append`, `.split`, `.items`, ...), which are vocabulary of the language rather than naming
   choices and are kept as `Name:len`, `Attribute:append`. Literals keep only their type
   (`Constant:int`, `Constant:str`). Shadowing a builtin (a variable called `max`) is not detected.
4. **Linearize** the tree in pre-order into a sequence of these node tokens.
5. **Match rate** ``tau(a, b) = 1 - lev(a, b) / max(len(a), len(b))`` where ``lev`` is the Levenshtein
   distance between the two token sequences (unit cost insert/delete/substitute). It is 1 for
   identical normalized trees, 0 for entirely different ones, symmetric, and never above
   ``min(len) / max(len)`` — a snippet that only *contains* a benchmark solution inside a much larger
   program scores lower than a copy; normalizing by the longer side keeps short unrelated snippets
   from matching each other by chance.

Code that does not parse falls back to a **token-level** sequence (regex tokens; strings, numbers and
non-builtin identifiers anonymized to `STR`/`NUM`/`ID`; keywords, builtins and operators kept; comments
dropped) and the same match rate; the pair's `method` says which was used ("ast" only when both sides
parse). Tokens are mapped to stable 31-bit integers (crc32) so sequences made in different worker
processes compare equal.

`pair_match_rates` computes many pairs at once with rapidfuzz's Levenshtein distance (Hyyrö's
bit-parallel algorithm in C++, exact), each token sequence encoded as a string over a per-call alphabet
(`as_strings`). It replaced a numpy Myers kernel (kept in bench/ast_numpy_myers.py, which
bench/prune_throughput.py times against it in the same run): the same distances, 13x faster (1.45M
against 110K pairs/s in one process, HumanEval x MBPP-made exercises; the bench also checks that
every score agrees). Tests check it against a plain dynamic-programming Levenshtein on random and real
code pairs. This is what makes 879.5K exercises x 164 problems feasible.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

AST_DEFINITION_VERSION = "ast-lev-v1"  # bump when the normalization changes: it keys the score cache

_BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_")) | {"self", "cls"}
_BUILTIN_ATTRS = frozenset(
    a
    for t in (str, bytes, list, tuple, dict, set, frozenset, int, float, complex)
    for a in dir(t)
    if not a.startswith("_")
)
_SKIP = (ast.expr_context, ast.Import, ast.ImportFrom)

_TOKEN_RE = re.compile(
    r'(?P<str>[rRbBuUfF]{0,2}(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'))'
    r"|(?P<comment>#[^\n]*)"
    r"|(?P<num>\d[\w.]*)"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^<>=!]=|[^\s\w])"
)
_KEYWORDS = frozenset(keyword.kwlist)

METHOD_AST, METHOD_TOKENS = 0, 1
METHOD_NAMES = {METHOD_AST: "ast", METHOD_TOKENS: "tokens"}


def _is_string_statement(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _node_token(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"Name:{node.id}" if node.id in _BUILTIN_NAMES else "Name"
    if isinstance(node, ast.Attribute):
        return f"Attribute:{node.attr}" if node.attr in _BUILTIN_ATTRS else "Attribute"
    if isinstance(node, ast.Constant):
        return f"Constant:{type(node.value).__name__}"
    return type(node).__name__


def ast_tokens(code: str) -> list[str] | None:
    """Pre-order anonymized node tokens of `code`, or None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    out: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:  # iterative pre-order: deeply nested code must not hit the recursion limit
        node = stack.pop()
        if isinstance(node, _SKIP) or _is_string_statement(node):
            continue
        out.append(_node_token(node))
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def lexical_tokens(code: str) -> list[str]:
    """Token-level fallback for code that does not parse (see the module docstring)."""
    out: list[str] = []
    for m in _TOKEN_RE.finditer(code):
        kind = m.lastgroup
        if kind == "comment":
            continue
        if kind == "str":
            out.append("STR")
        elif kind == "num":
            out.append("NUM")
        elif kind == "name":
            word = m.group()
            out.append(word if word in _KEYWORDS or word in _BUILTIN_NAMES else "ID")
        else:
            out.append(m.group())
    return out


def _ids(tokens: list[str]) -> np.ndarray:
    return np.fromiter(
        (zlib.crc32(t.encode()) & 0x7FFFFFFF for t in tokens), dtype=np.int32, count=len(tokens)
    )


@dataclass(frozen=True)
class CodeSequence:
    """A snippet's comparable forms: AST token ids (None when it does not parse) and lexical token ids."""

    ast_ids: np.ndarray | None
    lex_ids: np.ndarray

    @property
    def parsed(self) -> bool:
        return self.ast_ids is not None


def code_sequence(code: str) -> CodeSequence:
    toks = ast_tokens(code)
    return CodeSequence(None if toks is None else _ids(toks), _ids(lexical_tokens(code)))


# Code points a token can be encoded as: all of Unicode but the surrogates (no UTF-32 codec takes them).
_SURROGATES = 0xD800, 0xE000
_MAX_ALPHABET = 0x110000 - (_SURROGATES[1] - _SURROGATES[0])


def as_strings(seqs: Sequence[np.ndarray]) -> list[str]:
    """Each token-id sequence as a str, one character per token, over an alphabet local to this call:
    two sequences of one call are equal at a position exactly when their token ids are, so Levenshtein
    over the strings is Levenshtein over the ids. rapidfuzz reads a str's buffer directly, while a list
    of ints costs it a hash per element per pair. Sequences passed more than once (the same array
    object) are encoded once."""
    first: dict[int, int] = {}
    uniq: list[np.ndarray] = []
    for s in seqs:
        if id(s) not in first:
            first[id(s)] = len(uniq)
            uniq.append(s)
    if not uniq:
        return []
    lens = np.fromiter((len(s) for s in uniq), dtype=np.int64, count=len(uniq))
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in uniq])
    alphabet, codes = np.unique(flat, return_inverse=True)
    if len(alphabet) > _MAX_ALPHABET:
        raise ValueError(f"{len(alphabet):,} distinct tokens in one call: more than Unicode can encode")
    codes = codes.astype(np.uint32)
    codes[codes >= _SURROGATES[0]] += _SURROGATES[1] - _SURROGATES[0]
    ends = np.cumsum(lens)
    texts = [
        codes[e - n : e].astype("<u4").tobytes().decode("utf-32-le")
        for e, n in zip(ends.tolist(), lens.tolist())
    ]
    return [texts[first[id(s)]] for s in seqs]


def edit_distances(query: np.ndarray, seqs: list[np.ndarray]) -> np.ndarray:
    """Levenshtein distance (unit costs) between `query` and each sequence in `seqs` (int64)."""
    if not seqs:
        return np.zeros(0, dtype=np.int64)
    q, *texts = as_strings([query, *seqs])
    return process.cdist([q], texts, scorer=Levenshtein.distance, dtype=np.int64, workers=1)[0]


def match_rates(query: np.ndarray, seqs: list[np.ndarray]) -> np.ndarray:
    """`1 - lev / max(len)` of `query` against each of `seqs` (float64, in [0, 1])."""
    if not seqs:
        return np.zeros(0)
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    denom = np.maximum(np.maximum(lens, len(query)), 1)
    return 1.0 - edit_distances(query, seqs) / denom


def pair_match_rates(queries: list[np.ndarray], q_idx: np.ndarray, cands: list[np.ndarray]) -> np.ndarray:
    """Match rate of each pair (queries[q_idx[i]], cands[i]): rapidfuzz's Levenshtein (bit-parallel, in
    C++) over the pairs' token strings, in this process (the caller's pool is the parallelism)."""
    n = len(cands)
    if n == 0:
        return np.zeros(0)
    q_idx = np.asarray(q_idx, dtype=np.int64)
    texts = as_strings([*queries, *cands])
    q_texts, c_texts = texts[: len(queries)], texts[len(queries) :]
    dist = process.cpdist(
        [q_texts[i] for i in q_idx.tolist()], c_texts, scorer=Levenshtein.distance, dtype=np.int64, workers=1
    )
    m = np.array([len(q) for q in queries], dtype=np.int64)[q_idx]
    clen = np.fromiter((len(c) for c in cands), dtype=np.int64, count=n)
    return 1.0 - dist / np.maximum(np.maximum(m, clen), 1)


def pair_rate(a: CodeSequence, b: CodeSequence) -> tuple[float, int]:
    """Match rate of one pair and the method used (METHOD_AST when both parse, else METHOD_TOKENS)."""
    if a.parsed and b.parsed:
        return float(match_rates(a.ast_ids, [b.ast_ids])[0]), METHOD_AST
    return float(match_rates(a.lex_ids, [b.lex_ids])[0]), METHOD_TOKENS
