"""AST match rate (phi-1 §5.2): the edit distance (rapidfuzz) against a plain DP, and the normalization it
runs on."""

import random

import numpy as np

from phi_lab.decontamination.ast_match import (
    METHOD_AST,
    METHOD_TOKENS,
    as_strings,
    ast_tokens,
    code_sequence,
    edit_distances,
    lexical_tokens,
    match_rates,
    pair_match_rates,
    pair_rate,
)


def _levenshtein(a, b) -> int:
    """The oracle: the textbook dynamic programme, unit costs."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a):
        cur = [i + 1]
        for j, y in enumerate(b):
            cur.append(min(prev[j + 1] + 1, cur[j] + 1, prev[j] + (x != y)))
        prev = cur
    return prev[-1]


def test_vectorized_edit_distance_equals_reference():
    rng = random.Random(0)
    for _ in range(150):
        q = np.array([rng.randrange(4) for _ in range(rng.randrange(0, 14))], dtype=np.int32)
        seqs = [
            np.array([rng.randrange(4) for _ in range(rng.randrange(0, 17))], dtype=np.int32)
            for _ in range(6)
        ]
        assert edit_distances(q, seqs).tolist() == [_levenshtein(q.tolist(), s.tolist()) for s in seqs]


def _rate(a, b) -> float:
    return 1 - _levenshtein(list(a), list(b)) / max(len(a), len(b), 1)


def test_pair_match_rates_equal_the_oracle_on_random_pairs():
    """Lengths around 64 (the old kernel's word size), empty sequences, repeated query objects."""
    rng = random.Random(1)
    queries = [
        np.array([rng.randrange(5) for _ in range(n)], dtype=np.int32) for n in (0, 1, 2, 30, 63, 64, 65, 90)
    ]
    q_idx = np.array([rng.randrange(len(queries)) for _ in range(300)])
    cands = [
        np.array([rng.randrange(5) for _ in range(rng.choice([0, 1, 7, 64, 65, 80]))], dtype=np.int32)
        for _ in range(300)
    ]
    got = pair_match_rates(queries, q_idx, cands)
    assert got.tolist() == [_rate(queries[q], c) for q, c in zip(q_idx, cands)]  # exactly


def test_pair_match_rates_equal_the_oracle_on_real_code():
    """HumanEval's reference programs against each other, AST and lexical sequences: real token ids
    (crc32, 31-bit) and real lengths (up to a few hundred tokens)."""
    from phi_lab.benchmarks import humaneval_problems

    seqs = [code_sequence(p.code) for p in humaneval_problems().values()]
    rng = random.Random(2)
    pairs = [(rng.randrange(len(seqs)), rng.randrange(len(seqs))) for _ in range(120)]
    for form in ("ast_ids", "lex_ids"):
        queries = [getattr(s, form) for s in seqs]
        q_idx = np.array([a for a, _ in pairs])
        cands = [getattr(seqs[b], form) for _, b in pairs]  # the same array objects many times
        got = pair_match_rates(queries, q_idx, cands)
        assert got.tolist() == [_rate(queries[a], c) for a, c in zip(q_idx, cands)], form
        assert max(len(c) for c in cands) > 128


def test_token_strings_are_exact_for_any_alphabet():
    """Tokens map to characters one to one even past the surrogate block (U+D800..U+DFFF, which no
    UTF-32 codec takes): a call with 60,000 distinct tokens still compares ids, not accidents."""
    big = np.arange(60_000, dtype=np.int64) * 7919 + 2**31  # ids beyond int32, far apart
    tail = big[-40:]
    shifted = np.concatenate([tail[:10], big[:1], tail[11:]])  # one substitution
    texts = as_strings([big, tail, shifted, big])
    assert len(set(texts[0])) == 60_000 and texts[0] == texts[3]
    assert not any(0xD800 <= ord(ch) < 0xE000 for ch in texts[0])
    rates = pair_match_rates([big, tail], np.array([0, 1, 1]), [big[1:], shifted, tail[::-1]])
    assert rates[0] == 1 - 1 / 60_000 and rates[1] == 1 - 1 / 40
    assert rates[2] == _rate(tail, tail[::-1])


def test_match_rate_definition():
    a = np.array([1, 2, 3, 4], dtype=np.int32)
    rates = match_rates(
        a, [a, np.array([1, 2, 3], dtype=np.int32), np.array([9, 9, 9, 9, 9, 9, 9, 9], dtype=np.int32)]
    )
    assert rates.tolist() == [1.0, 0.75, 0.0]  # 1 - lev / max(len)


ORIGINAL = '''
from typing import List

def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than threshold."""
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False
'''

RENAMED = '''
def near_pair(values: List[float], eps: float) -> bool:
    # reworded: is there a pair of entries within eps of one another?
    """Tell whether two different entries of `values` lie within `eps`."""
    for i, x in enumerate(values):
        for j, y in enumerate(values):
            if i != j:
                gap = abs(x - y)  # absolute difference
                if gap < eps:
                    return True
    return False
'''

UNRELATED = '''
def word_frequencies(path):
    """Count how often each word appears in a text file."""
    counts = {}
    with open(path) as fh:
        for line in fh:
            for word in line.split():
                counts[word] = counts.get(word, 0) + 1
    return counts
'''


def test_renaming_docstrings_comments_and_imports_do_not_change_the_tree():
    assert ast_tokens(ORIGINAL) == ast_tokens(RENAMED)
    rate, method = pair_rate(code_sequence(ORIGINAL), code_sequence(RENAMED))
    assert (rate, method) == (1.0, METHOD_AST)


def test_unrelated_code_scores_low_and_structure_matters():
    rate, _ = pair_rate(code_sequence(ORIGINAL), code_sequence(UNRELATED))
    assert rate < 0.5
    # builtins and builtin-type methods are vocabulary, not naming: they are kept
    assert ast_tokens("len(x)") != ast_tokens("abs(x)")
    assert ast_tokens("x.append(1)") != ast_tokens("x.pop(1)")
    assert ast_tokens("x.foo(1)") == ast_tokens("y.bar(1)")
    assert ast_tokens("a + b") != ast_tokens("a * b")


def test_unparseable_code_falls_back_to_tokens_and_says_so():
    broken = "def f(a, b)\n    return a + b  # missing colon\n"
    renamed = "def g(x, y)\n    return x + y\n"
    assert ast_tokens(broken) is None
    assert lexical_tokens(broken) == lexical_tokens(renamed)
    rate, method = pair_rate(code_sequence(broken), code_sequence(renamed))
    assert (rate, method) == (1.0, METHOD_TOKENS)
    # one side parsing is not enough for an AST comparison
    assert (
        pair_rate(code_sequence(broken), code_sequence("def g(x, y):\n    return x + y\n"))[1]
        == METHOD_TOKENS
    )


def test_deeply_nested_code_does_not_crash():
    deep = "x = " + "(" * 150 + "1" + ")" * 150 + "\n"
    seq = code_sequence(deep)
    assert seq.lex_ids.size > 0
    nested = (
        "def f(x):\n"
        + "".join("    " * (i + 1) + f"if x > {i}:\n" for i in range(80))
        + "    " * 81
        + "return x\n"
    )
    assert code_sequence(nested).parsed
