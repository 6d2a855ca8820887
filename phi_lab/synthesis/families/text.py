"""Exercise families on strings, words and text (see phi_lab/synthesis/procedural.py for the contract)."""

from __future__ import annotations

import collections
import re
from random import Random

from phi_lab.synthesis.families.base import Spec, fname, pick, rand_sentence, rand_words, registry

FAMILIES, family = registry()


@family
def count_vowels(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["s", "text", "word", "phrase"], s, "arg")
    with_y = r.random() < 0.3
    vowels = "aeiouy" if with_y else "aeiou"
    s["vowels"] = vowels
    doc = pick(
        r,
        [
            f"Return the number of vowels ({', '.join(vowels)}) in {arg}, ignoring case.",
            f"Count how many characters of {arg} are vowels. The vowels are {vowels!r}; "
            "upper-case letters count too.",
        ],
        s,
        "doc",
    )
    body = f"count = 0\nfor ch in {arg}.lower():\n    if ch in {vowels!r}:\n        count += 1\nreturn count"
    if r.random() < 0.5:
        body = f"return sum(1 for ch in {arg}.lower() if ch in {vowels!r})"
    inputs = [(rand_sentence(r).title() if r.random() < 0.5 else rand_sentence(r),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["count_vowels", "vowel_count", "num_vowels"], s),
        [(arg, "str")],
        "int",
        doc,
        body,
        lambda t: sum(c in vowels for c in t.lower()),
        inputs,
        slots=s,
    )


@family
def reverse_words(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["sentence", "text", "line"], s, "arg")
    doc = pick(
        r,
        [
            f"Return {arg} with the order of its words reversed. Words are separated by single spaces.",
            f"Reverse the word order of {arg} (words separated by one space) and return the result.",
        ],
        s,
        "doc",
    )
    body = pick(
        r,
        [
            f"return ' '.join(reversed({arg}.split(' ')))",
            f"words = {arg}.split(' ')\nwords.reverse()\nreturn ' '.join(words)",
        ],
        s,
        "impl",
    )
    inputs = [(rand_sentence(r, 1),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["reverse_words", "flip_words", "words_backwards"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        lambda t: " ".join(t.split(" ")[::-1]),
        inputs,
        slots=s,
    )


@family
def is_palindrome(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["s", "text", "word"], s, "arg")
    strict = r.random() < 0.5
    s["ignore_non_alnum"] = not strict
    if strict:
        doc = f"Return True if {arg} reads the same forwards and backwards (case-sensitive)."
        body = f"return {arg} == {arg}[::-1]"

        def ref(t):
            return t == t[::-1]
    else:
        doc = (
            f"Return True if {arg} is a palindrome when case and every non-alphanumeric "
            "character are ignored."
        )
        body = f"cleaned = [ch.lower() for ch in {arg} if ch.isalnum()]\nreturn cleaned == cleaned[::-1]"

        def ref(t):
            c = [x.lower() for x in t if x.isalnum()]
            return c == c[::-1]

    cases = [
        "radar",
        "Noon",
        "A man, a plan, a canal: Panama",
        "python",
        "",
        "ab",
        "level!",
        "Was it a cat I saw",
    ]
    inputs = [(c,) for c in r.sample(cases, 6)]
    return Spec(
        "strings",
        fname(r, ["is_palindrome", "palindrome_check", "reads_same_both_ways"], s),
        [(arg, "str")],
        "bool",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def capitalize_words(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["sentence", "title", "text"], s, "arg")
    doc = pick(
        r,
        [
            f"Return {arg} with the first letter of every space-separated word in upper case; "
            "the other letters are left unchanged.",
            f"Upper-case the first character of each word in {arg} (split on single spaces).",
        ],
        s,
        "doc",
    )
    body = f"return ' '.join(w[:1].upper() + w[1:] for w in {arg}.split(' '))"
    inputs = [(rand_sentence(r),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["capitalize_words", "title_case", "upper_initials"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        lambda t: " ".join(w[:1].upper() + w[1:] for w in t.split(" ")),
        inputs,
        slots=s,
    )


@family
def run_length_encode(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["s", "data", "text"], s, "arg")
    doc = pick(
        r,
        [
            f"Run-length encode {arg}: each run of a repeated character becomes the character "
            "followed by the run length, e.g. 'aaab' -> 'a3b1'.",
            f"Compress {arg} by writing every maximal run of equal characters as <char><count>.",
        ],
        s,
        "doc",
    )
    body = (
        f"if not {arg}:\n    return ''\nout = []\nprev, count = {arg}[0], 1\nfor ch in {arg}[1:]:\n"
        "    if ch == prev:\n        count += 1\n    else:\n        out.append(prev + str(count))\n"
        "        prev, count = ch, 1\nout.append(prev + str(count))\nreturn ''.join(out)"
    )

    def ref(t):
        return "".join(f"{k}{len(list(g))}" for k, g in __import__("itertools").groupby(t))

    inputs = [("".join(r.choice("aab") * r.randint(1, 4) for _ in range(r.randint(0, 5))),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["run_length_encode", "rle", "compress_runs"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def caesar_shift(r: Random) -> Spec:
    s: dict = {}
    k = r.randint(1, 25)
    s["shift"] = k
    arg = pick(r, ["message", "text", "plain"], s, "arg")
    doc = (
        f"Shift every lower-case letter of {arg} forward by {k} positions in the alphabet, wrapping "
        "around from 'z' to 'a'. Other characters are unchanged."
    )
    body = (
        f"result = []\nfor ch in {arg}:\n    if 'a' <= ch <= 'z':\n"
        f"        result.append(chr((ord(ch) - ord('a') + {k}) % 26 + ord('a')))\n"
        "    else:\n        result.append(ch)\nreturn ''.join(result)"
    )

    def ref(t):
        return "".join(chr((ord(c) - 97 + k) % 26 + 97) if "a" <= c <= "z" else c for c in t)

    inputs = [(rand_sentence(r) + r.choice(["", "!", " Zz"]),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["caesar_shift", "rotate_letters", "encode_caesar"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def longest_word(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["sentence", "text"], s, "arg")
    doc = (
        f"Return the longest word in {arg} (words are separated by whitespace). If several words tie, "
        "return the first of them; return an empty string when there are no words."
    )
    body = pick(
        r,
        [
            f"best = ''\nfor w in {arg}.split():\n    if len(w) > len(best):\n        best = w\nreturn best",
            f"return max({arg}.split(), key=len, default='')",
        ],
        s,
        "impl",
    )
    inputs = [(rand_sentence(r),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["longest_word", "find_longest_word", "widest_word"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        lambda t: max(t.split(), key=len, default=""),
        inputs,
        slots=s,
    )


@family
def char_frequency(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["text", "s", "word"], s, "arg")
    skip_spaces = r.random() < 0.5
    s["skip_spaces"] = skip_spaces
    doc = f"Return a dict mapping each character of {arg} to how many times it occurs" + (
        ", not counting spaces." if skip_spaces else "."
    )
    cond = "\n    if ch == ' ':\n        continue" if skip_spaces else ""
    body = f"freq = {{}}\nfor ch in {arg}:{cond}\n    freq[ch] = freq.get(ch, 0) + 1\nreturn freq"

    def ref(t):
        return dict(collections.Counter(c for c in t if not (skip_spaces and c == " ")))

    inputs = [(rand_sentence(r, 0, 3),) for _ in range(4)]
    return Spec(
        "dicts",
        fname(r, ["char_frequency", "letter_counts", "count_characters"], s),
        [(arg, "str")],
        "dict[str, int]",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def is_anagram(r: Random) -> Spec:
    s: dict = {}
    a, b = pick(r, ["a b", "first second", "word1 word2"], s, "args").split()
    doc = f"Return True if {a} and {b} contain exactly the same letters (case-insensitive), ignoring spaces."
    body = pick(
        r,
        [
            f"return sorted({a}.replace(' ', '').lower()) == sorted({b}.replace(' ', '').lower())",
            f"from collections import Counter\nreturn Counter({a}.replace(' ', '').lower()) == "
            f"Counter({b}.replace(' ', '').lower())",
        ],
        s,
        "impl",
    )

    def ref(x, y):
        return sorted(x.replace(" ", "").lower()) == sorted(y.replace(" ", "").lower())

    pairs = [
        ("listen", "silent"),
        ("Dormitory", "dirty room"),
        ("apple", "paple"),
        ("abc", "abd"),
        ("", ""),
        ("aab", "abb"),
        ("Astronomer", "Moon starer"),
        ("python", "typhon"),
    ]
    return Spec(
        "strings",
        fname(r, ["is_anagram", "are_anagrams", "same_letters"], s),
        [(a, "str"), (b, "str")],
        "bool",
        doc,
        body,
        ref,
        r.sample(pairs, 6),
        slots=s,
    )


@family
def acronym(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["phrase", "name", "title"], s, "arg")
    doc = f"Return the acronym of {arg}: the upper-cased first letter of each whitespace-separated word."
    body = f"return ''.join(word[0].upper() for word in {arg}.split())"
    inputs = [(rand_sentence(r),) for _ in range(5)]
    return Spec(
        "strings",
        fname(r, ["acronym", "make_acronym", "initials"], s),
        [(arg, "str")],
        "str",
        doc,
        body,
        lambda t: "".join(w[0].upper() for w in t.split()),
        inputs,
        slots=s,
    )


@family
def word_count(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["text", "document", "passage"], s, "arg")
    doc = (
        f"Count the words of {arg}. Words are separated by whitespace and compared in lower case. "
        "Return a dict from word to count."
    )
    body = pick(
        r,
        [
            f"counts = {{}}\nfor w in {arg}.lower().split():\n    counts[w] = counts.get(w, 0) + 1\n"
            "return counts",
            f"from collections import Counter\nreturn dict(Counter({arg}.lower().split()))",
        ],
        s,
        "impl",
    )
    inputs = [(rand_sentence(r, 0, 9).replace("apple", "Apple"),) for _ in range(4)]
    return Spec(
        "dicts",
        fname(r, ["word_count", "count_words", "word_histogram"], s),
        [(arg, "str")],
        "dict[str, int]",
        doc,
        body,
        lambda t: dict(collections.Counter(t.lower().split())),
        inputs,
        slots=s,
    )


@family
def most_common_word(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["text", "corpus"], s, "arg")
    doc = (
        f"Return the most frequent word in {arg} (split on whitespace). Ties go to the word that "
        "appears first. Return None for an empty text."
    )
    body = (
        f"words = {arg}.split()\nif not words:\n    return None\ncounts = collections.Counter(words)\n"
        "return max(words, key=lambda w: (counts[w], -words.index(w)))"
    )

    def ref(t):
        w = t.split()
        if not w:
            return None
        c = collections.Counter(w)
        return max(w, key=lambda x: (c[x], -w.index(x)))

    inputs = [(rand_sentence(r, 0, 10),) for _ in range(5)]
    return Spec(
        "dicts",
        fname(r, ["most_common_word", "top_word", "frequent_word"], s),
        [(arg, "str")],
        "str | None",
        doc,
        body,
        ref,
        inputs,
        imports=("import collections",),
        slots=s,
    )


@family
def extract_numbers(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["text", "line", "log_entry"], s, "arg")
    doc = pick(
        r,
        [
            f"Return all non-negative integers that appear in {arg}, in order, as ints.",
            f"Find every run of digits in {arg} and return them as a list of integers.",
        ],
        s,
        "doc",
    )
    body = f"return [int(m) for m in re.findall(r'\\d+', {arg})]"

    def ref(t):
        return [int(m) for m in re.findall(r"\d+", t)]

    inputs = [
        (" ".join(r.choice([str(r.randint(0, 999)), *rand_words(r, 1, 2)]) for _ in range(r.randint(0, 6))),)
        for _ in range(5)
    ]
    return Spec(
        "regex",
        fname(r, ["extract_numbers", "find_integers", "numbers_in_text"], s),
        [(arg, "str")],
        "list[int]",
        doc,
        body,
        ref,
        inputs,
        imports=("import re",),
        slots=s,
    )


@family
def balanced_brackets(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["s", "expr", "code"], s, "arg")
    doc = (
        f"Return True if the brackets (), [] and {{}} in {arg} are balanced and properly nested. "
        "Other characters are ignored."
    )
    body = (
        f"pairs = {{')': '(', ']': '[', '}}': '{{'}}\nstack = []\nfor ch in {arg}:\n    if ch in '([{{':\n"
        "        stack.append(ch)\n    elif ch in pairs:\n        if not stack or stack.pop() != pairs[ch]:\n"
        "            return False\nreturn not stack"
    )

    def ref(t):
        p, st = {")": "(", "]": "[", "}": "{"}, []
        for c in t:
            if c in "([{":
                st.append(c)
            elif c in p and (not st or st.pop() != p[c]):
                return False
        return not st

    inputs = [("".join(r.choice("()[]{}x") for _ in range(r.randint(0, 8))),) for _ in range(3)]
    inputs += [("(a[b]{c})",), ("([)]",), ("",), ("{[()()]}",)]
    return Spec(
        "stacks",
        fname(r, ["balanced_brackets", "is_balanced", "brackets_match"], s),
        [(arg, "str")],
        "bool",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def group_by_length(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["words", "names", "tokens"], s, "arg")
    doc = f"Group {arg} by their length: return a dict from length to the list of words of that length, in input order."
    body = f"groups = {{}}\nfor w in {arg}:\n    groups.setdefault(len(w), []).append(w)\nreturn groups"

    def ref(ws):
        g: dict = {}
        for w in ws:
            g.setdefault(len(w), []).append(w)
        return g

    inputs = [(rand_words(r),) for _ in range(4)]
    return Spec(
        "dicts",
        fname(r, ["group_by_length", "bucket_by_size", "words_by_length"], s),
        [(arg, "list[str]")],
        "dict[int, list[str]]",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def json_field(r: Random) -> Spec:
    s: dict = {}
    key = pick(r, ["name", "id", "price", "status", "count"], s, "key")
    doc = (
        f"Parse the JSON object in `payload` and return its {key!r} field, or `default` when the "
        "field is missing or the text is not valid JSON."
    )
    body = (
        f"try:\n    data = json.loads(payload)\nexcept json.JSONDecodeError:\n    return default\n"
        f"if not isinstance(data, dict):\n    return default\nreturn data.get({key!r}, default)"
    )

    def ref(p, d):
        import json

        try:
            x = json.loads(p)
        except ValueError:
            return d
        return x.get(key, d) if isinstance(x, dict) else d

    inputs = [
        (f'{{"{key}": {r.randint(0, 99)}}}', None),
        ('{"other": 1}', -1),
        ("not json", 0),
        (f'{{"{key}": "x{r.randint(0, 9)}"}}', ""),
        ("[1, 2]", "d"),
    ]
    return Spec(
        "json",
        fname(r, [f"get_{key}", f"read_{key}_field", f"parse_{key}"], s),
        [("payload", "str"), ("default", "object")],
        "object",
        doc,
        body,
        ref,
        inputs,
        imports=("import json",),
        slots=s,
    )


@family
def days_between(r: Random) -> Spec:
    s: dict = {}
    doc = pick(
        r,
        [
            "Return the number of days between two ISO dates (YYYY-MM-DD), as a non-negative int.",
            "Given two dates written as 'YYYY-MM-DD', return how many days apart they are.",
        ],
        s,
        "doc",
    )
    body = "d1 = date.fromisoformat(start)\nd2 = date.fromisoformat(end)\nreturn abs((d2 - d1).days)"

    def ref(a, b):
        from datetime import date

        return abs((date.fromisoformat(b) - date.fromisoformat(a)).days)

    def d() -> str:
        return f"{r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"

    inputs = [(d(), d()) for _ in range(5)]
    return Spec(
        "dates",
        fname(r, ["days_between", "date_distance", "count_days"], s),
        [("start", "str"), ("end", "str")],
        "int",
        doc,
        body,
        ref,
        inputs,
        imports=("from datetime import date",),
        slots=s,
    )
