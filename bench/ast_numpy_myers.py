"""The numpy AST edit distance that `phi_lab.decontamination.ast_match` used before rapidfuzz, kept
only so `bench/prune_throughput.py` can time old against new in the same run (and check they agree).

Myers' bit-parallel algorithm (Hyyrö 2001) over uint64 bit-vectors, one column step for thousands of
pairs at a time, when either side has at most 64 tokens; otherwise one vectorized DP row per query
token, the in-row insertion chain resolved with `minimum.accumulate`. Exact.
"""

from __future__ import annotations

import numpy as np


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
