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

`pair_match_rates` computes many pairs at once with numpy: Myers' bit-parallel algorithm over uint64
bit-vectors when the query (the benchmark side) has at most 64 tokens (most HumanEval problems), one
column step for thousands of pairs at a time; `match_rates` (one vectorized DP row per query token, the
in-row insertion chain resolved with `minimum.accumulate`) for longer ones. Both are exact and tested
against a plain Levenshtein; they are what make 879.5K exercises x 164 problems feasible.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import zlib
from dataclasses import dataclass

import numpy as np

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


def edit_distances(query: np.ndarray, seqs: list[np.ndarray]) -> np.ndarray:
    """Levenshtein distance between `query` and each sequence in `seqs`, vectorized over `seqs`."""
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if len(seqs) == 0:
        return lens
    width = int(lens.max())
    if width == 0 or len(query) == 0:
        return np.abs(lens - len(query))
    dtype = np.int16 if max(width, len(query)) < 30000 else np.int32
    mat = np.full((len(seqs), width), -1, dtype=np.int32)  # -1 never equals a (non-negative) token id
    for i, s in enumerate(seqs):
        mat[i, : len(s)] = s
    cols = np.arange(width + 1, dtype=dtype)
    prev = np.broadcast_to(cols, (len(seqs), width + 1)).copy()
    cur = np.empty_like(prev)
    one = dtype(1)
    for i, tok in enumerate(query):
        cur[:, 0] = i + 1
        # substitution (diagonal, +1 on mismatch) vs deletion (from above, +1)
        np.minimum(prev[:, 1:] + one, prev[:, :-1] + (mat != tok), out=cur[:, 1:], casting="unsafe")
        # insertion chains within the row: D[j] = min_k<=j (tmp[k] + j - k)
        cur -= cols
        np.minimum.accumulate(cur, axis=1, out=cur)
        cur += cols
        prev, cur = cur, prev
    return prev[np.arange(len(seqs)), lens].astype(np.int64)


def match_rates(query: np.ndarray, seqs: list[np.ndarray]) -> np.ndarray:
    """`1 - lev / max(len)` of `query` against each of `seqs` (float64, in [0, 1])."""
    if not seqs:
        return np.zeros(0)
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    denom = np.maximum(np.maximum(lens, len(query)), 1)
    return 1.0 - edit_distances(query, seqs) / denom


def _myers_distances(eq: np.ndarray, lens: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Levenshtein distances by Myers' bit-parallel algorithm (global variant, Hyyrö 2001), one uint64
    bit-vector state per row: `eq[r, j]` has bit i set when query_r[i] == text_r[j]; `m[r]` <= 64 is the
    query length and `lens[r]` the text length. One pass over the columns updates every row at once."""
    one = np.uint64(1)
    high = np.left_shift(one, (m - 1).astype(np.uint64))
    pv = np.full(len(lens), np.uint64(0xFFFFFFFFFFFFFFFF))
    mv = np.zeros(len(lens), dtype=np.uint64)
    score = m.astype(np.int64)
    for j in range(eq.shape[1]):
        e = eq[:, j]
        xv = e | mv
        xh = (((e & pv) + pv) ^ pv) | e
        ph = mv | ~(xh | pv)
        mh = pv & xh
        active = lens > j
        score += ((ph & high) != 0) & active
        score -= ((mh & high) != 0) & active
        ph = (ph << one) | one  # row 0 grows by one per column: D[0][j] = j
        mh = mh << one
        pv = mh | ~(xv | ph)
        mv = ph & xv
    return score


def _pattern_table(patterns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys (pattern id << 32 | token) and the bit mask of the token's positions in the pattern
    (plus a trailing 0 mask for "absent"), built for all patterns at once."""
    lens = np.fromiter((len(p) for p in patterns), dtype=np.int64, count=len(patterns))
    toks = np.concatenate(patterns).astype(np.int64) if len(patterns) else np.zeros(0, np.int64)
    pid = np.repeat(np.arange(len(patterns), dtype=np.int64), lens)
    pos = np.arange(len(toks), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    keys, inv = np.unique((pid << 32) | toks, return_inverse=True)
    masks = np.zeros(len(keys) + 1, dtype=np.uint64)
    np.bitwise_or.at(masks, inv, np.left_shift(np.uint64(1), pos.astype(np.uint64)))
    return keys, masks


def pair_match_rates(
    queries: list[np.ndarray], q_idx: np.ndarray, cands: list[np.ndarray], slab: int = 4096
) -> np.ndarray:
    """Match rate of each pair (queries[q_idx[i]], cands[i]). When either side has 1..64 tokens it is
    the bit-parallel pattern (the distance is symmetric) and the pair goes through Myers' kernel, rows
    sorted by text length and batched `slab` at a time across all queries; otherwise through the
    row-vectorized DP (`edit_distances`)."""
    n = len(cands)
    if n == 0:
        return np.zeros(0)
    q_idx = np.asarray(q_idx, dtype=np.int64)
    qlen = np.array([len(q) for q in queries], dtype=np.int64)
    clen = np.fromiter((len(c) for c in cands), dtype=np.int64, count=n)
    m = qlen[q_idx]
    dist = np.abs(m - clen).astype(np.float64)  # exact when one side is empty
    nonempty = (m >= 1) & (clen >= 1)
    use_q = nonempty & (m <= 64)
    use_c = nonempty & ~use_q & (clen <= 64)
    rows_c = np.flatnonzero(use_c)
    rows = np.flatnonzero(use_q | use_c)
    if len(rows):
        # pattern ids: queries are 0..len(queries)-1, a swapped pair's candidate is len(queries) + k
        pid = np.where(use_q, q_idx, -1)
        pid[rows_c] = len(queries) + np.arange(len(rows_c))
        plen = np.where(use_q, m, clen)
        tlen = np.where(use_q, clen, m)
        keys, masks = _pattern_table([*queries, *(cands[i] for i in rows_c)])
        rows = rows[np.argsort(tlen[rows], kind="stable")]
        for s in range(0, len(rows), slab):
            r = rows[s : s + slab]
            text = np.full((len(r), int(tlen[r].max())), -1, dtype=np.int64)
            for k, i in enumerate(r):
                t = cands[i] if use_q[i] else queries[q_idx[i]]
                text[k, : len(t)] = t
            key = (pid[r, None] << 32) | text
            pos = np.searchsorted(keys, key).clip(0, max(len(keys) - 1, 0))
            eq = (
                masks[np.where(keys[pos] == key, pos, len(keys))]
                if len(keys)
                else np.zeros(key.shape, np.uint64)
            )
            dist[r] = _myers_distances(eq, tlen[r], plen[r])
    slow = nonempty & ~use_q & ~use_c
    for qi in np.unique(q_idx[slow]):
        r = np.flatnonzero(slow & (q_idx == qi))
        dist[r] = edit_distances(queries[qi], [cands[i] for i in r])
    return 1.0 - dist / np.maximum(np.maximum(m, clen), 1)


def pair_rate(a: CodeSequence, b: CodeSequence) -> tuple[float, int]:
    """Match rate of one pair and the method used (METHOD_AST when both parse, else METHOD_TOKENS)."""
    if a.parsed and b.parsed:
        return float(match_rates(a.ast_ids, [b.ast_ids])[0]), METHOD_AST
    return float(match_rates(a.lex_ids, [b.lex_ids])[0]), METHOD_TOKENS
