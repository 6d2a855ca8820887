"""Exercise families on numbers, lists and algorithms (see phi_lab/synthesis/procedural.py for the contract)."""

from __future__ import annotations

import itertools
import math
from random import Random

from phi_lab.synthesis.families.base import Spec, fname, pick, rand_ints, registry

FAMILIES, family = registry()

LIST_ARGS = ["nums", "numbers", "values", "items", "data", "xs"]


@family
def sum_of_multiples(r: Random) -> Spec:
    s: dict = {}
    k = r.randint(2, 9)
    s["k"] = k
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = pick(
        r,
        [
            f"Return the sum of the elements of {arg} that are divisible by {k}.",
            f"Add up every number in {arg} that is a multiple of {k} and return the total.",
        ],
        s,
        "doc",
    )
    body = pick(
        r,
        [
            f"return sum(x for x in {arg} if x % {k} == 0)",
            f"total = 0\nfor x in {arg}:\n    if x % {k} == 0:\n        total += x\nreturn total",
        ],
        s,
        "impl",
    )
    return Spec(
        "lists",
        fname(r, [f"sum_multiples_of_{k}", "sum_of_multiples", "multiples_total"], s),
        [(arg, "list[int]")],
        "int",
        doc,
        body,
        lambda a: sum(x for x in a if x % k == 0),
        [(rand_ints(r),) for _ in range(5)],
        slots=s,
    )


@family
def filter_greater(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    strict = r.random() < 0.5
    s["strict"] = strict
    op = ">" if strict else ">="
    doc = (
        f"Return the elements of {arg} that are {'greater than' if strict else 'at least'} `limit`, in order."
    )
    body = f"return [x for x in {arg} if x {op} limit]"
    inputs = [(rand_ints(r), r.randint(-5, 30)) for _ in range(5)]
    return Spec(
        "lists",
        fname(r, ["filter_greater", "above_limit", "keep_large"], s),
        [(arg, "list[int]"), ("limit", "int")],
        "list[int]",
        doc,
        body,
        lambda a, t: [x for x in a if (x > t if strict else x >= t)],
        inputs,
        slots=s,
    )


@family
def running_sum(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = pick(
        r,
        [
            f"Return the running (prefix) sums of {arg}: element i is the sum of {arg}[0..i].",
            f"Compute the cumulative sum of {arg} as a new list of the same length.",
        ],
        s,
        "doc",
    )
    body = pick(
        r,
        [
            f"out = []\ntotal = 0\nfor x in {arg}:\n    total += x\n    out.append(total)\nreturn out",
            f"from itertools import accumulate\nreturn list(accumulate({arg}))",
        ],
        s,
        "impl",
    )

    def ref(a):
        out, t = [], 0
        for x in a:
            t += x
            out.append(t)
        return out

    return Spec(
        "lists",
        fname(r, ["running_sum", "prefix_sums", "cumulative_sum"], s),
        [(arg, "list[int]")],
        "list[int]",
        doc,
        body,
        ref,
        [(rand_ints(r),) for _ in range(5)],
        slots=s,
    )


@family
def second_largest(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = f"Return the second largest distinct value in {arg}, or None if there are fewer than two distinct values."
    body = pick(
        r,
        [
            f"distinct = sorted(set({arg}))\nreturn distinct[-2] if len(distinct) >= 2 else None",
            f"first = second = None\nfor x in set({arg}):\n    if first is None or x > first:\n"
            "        first, second = x, first\n    elif second is None or x > second:\n        second = x\n"
            "return second",
        ],
        s,
        "impl",
    )

    def ref(a):
        d = sorted(set(a))
        return d[-2] if len(d) >= 2 else None

    inputs = [(rand_ints(r, 0, 9),) for _ in range(5)] + [([4, 4],)]
    return Spec(
        "lists",
        fname(r, ["second_largest", "runner_up", "second_max"], s),
        [(arg, "list[int]")],
        "int | None",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def chunk_list(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["items", "values", "seq"], s, "arg")
    doc = f"Split {arg} into consecutive chunks of length `size` (the last chunk may be shorter)."
    body = pick(
        r,
        [
            f"return [{arg}[i:i + size] for i in range(0, len({arg}), size)]",
            f"chunks = []\nfor start in range(0, len({arg}), size):\n    chunks.append({arg}[start:start + size])\n"
            "return chunks",
        ],
        s,
        "impl",
    )
    inputs = [(rand_ints(r), r.randint(1, 4)) for _ in range(5)]
    return Spec(
        "lists",
        fname(r, ["chunk_list", "split_into_chunks", "batched"], s),
        [(arg, "list[int]"), ("size", "int")],
        "list[list[int]]",
        doc,
        body,
        lambda a, n: [a[i : i + n] for i in range(0, len(a), n)],
        inputs,
        slots=s,
    )


@family
def flatten(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["nested", "lists", "rows"], s, "arg")
    doc = f"Flatten one level of nesting: return the elements of the inner lists of {arg}, in order."
    body = pick(
        r,
        [
            f"return [x for inner in {arg} for x in inner]",
            f"flat = []\nfor inner in {arg}:\n    flat.extend(inner)\nreturn flat",
        ],
        s,
        "impl",
    )
    inputs = [([rand_ints(r, n=(0, 3)) for _ in range(r.randint(0, 4))],) for _ in range(5)]
    return Spec(
        "lists",
        fname(r, ["flatten", "flatten_once", "concat_lists"], s),
        [(arg, "list[list[int]]")],
        "list[int]",
        doc,
        body,
        lambda a: [x for i in a for x in i],
        inputs,
        slots=s,
    )


@family
def rotate_list(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["items", "values", "seq"], s, "arg")
    direction = pick(r, ["right", "left"], s, "direction")
    doc = f"Rotate {arg} to the {direction} by k positions and return the new list (k may exceed the length)."
    sl = f"{arg}[-k:] + {arg}[:-k]" if direction == "right" else f"{arg}[k:] + {arg}[:k]"
    body = f"if not {arg}:\n    return []\nk %= len({arg})\nreturn {sl}"

    def ref(a, k):
        if not a:
            return []
        k %= len(a)
        return a[-k:] + a[:-k] if direction == "right" else a[k:] + a[:k]

    inputs = [(rand_ints(r), r.randint(0, 12)) for _ in range(5)]
    return Spec(
        "lists",
        fname(r, [f"rotate_{direction}", "rotate_list", "shift_items"], s),
        [(arg, "list[int]"), ("k", "int")],
        "list[int]",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def unique_in_order(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = f"Remove duplicates from {arg}, keeping the first occurrence of each value and the original order."
    body = pick(
        r,
        [
            f"seen = set()\nout = []\nfor x in {arg}:\n    if x not in seen:\n        seen.add(x)\n"
            "        out.append(x)\nreturn out",
            f"return list(dict.fromkeys({arg}))",
        ],
        s,
        "impl",
    )
    return Spec(
        "lists",
        fname(r, ["unique_in_order", "dedupe", "remove_duplicates"], s),
        [(arg, "list[int]")],
        "list[int]",
        doc,
        body,
        lambda a: list(dict.fromkeys(a)),
        [(rand_ints(r, 0, 6),) for _ in range(5)],
        slots=s,
    )


@family
def max_subarray_sum(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = f"Return the largest sum of a non-empty contiguous sub-list of {arg} (which is non-empty)."
    body = (
        f"best = current = {arg}[0]\nfor x in {arg}[1:]:\n    current = max(x, current + x)\n"
        "    best = max(best, current)\nreturn best"
    )

    def ref(a):
        return max(sum(a[i:j]) for i in range(len(a)) for j in range(i + 1, len(a) + 1))

    return Spec(
        "algorithms",
        fname(r, ["max_subarray_sum", "best_window_sum", "kadane"], s),
        [(arg, "list[int]")],
        "int",
        doc,
        body,
        ref,
        [(rand_ints(r, -10, 10, (1, 8)),) for _ in range(5)],
        slots=s,
    )


@family
def merge_sorted(r: Random) -> Spec:
    s: dict = {}
    doc = "Merge two sorted lists `a` and `b` into one sorted list without calling sort()."
    body = (
        "i = j = 0\nmerged = []\nwhile i < len(a) and j < len(b):\n    if a[i] <= b[j]:\n"
        "        merged.append(a[i])\n        i += 1\n    else:\n        merged.append(b[j])\n        j += 1\n"
        "merged.extend(a[i:])\nmerged.extend(b[j:])\nreturn merged"
    )
    inputs = [(sorted(rand_ints(r)), sorted(rand_ints(r))) for _ in range(5)]
    return Spec(
        "algorithms",
        fname(r, ["merge_sorted", "merge_two_sorted", "combine_sorted"], s),
        [("a", "list[int]"), ("b", "list[int]")],
        "list[int]",
        doc,
        body,
        lambda a, b: sorted(a + b),
        inputs,
        slots=s,
    )


@family
def binary_search(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["sorted_items", "arr", "values"], s, "arg")
    doc = f"Return an index of `target` in the sorted list {arg} using binary search, or -1 if it is absent."
    body = (
        f"lo, hi = 0, len({arg}) - 1\nwhile lo <= hi:\n    mid = (lo + hi) // 2\n    if {arg}[mid] == target:\n"
        f"        return mid\n    if {arg}[mid] < target:\n        lo = mid + 1\n    else:\n        hi = mid - 1\n"
        "return -1"
    )

    def ref(a, t):
        lo, hi = 0, len(a) - 1
        while lo <= hi:
            m = (lo + hi) // 2
            if a[m] == t:
                return m
            lo, hi = (m + 1, hi) if a[m] < t else (lo, m - 1)
        return -1

    inputs = []
    for _ in range(5):
        a = sorted(set(rand_ints(r, 0, 40)))
        inputs.append((a, r.choice([*a, 41, -1]) if a else 3))
    return Spec(
        "algorithms",
        fname(r, ["binary_search", "find_index_sorted", "bisect_find"], s),
        [(arg, "list[int]"), ("target", "int")],
        "int",
        doc,
        body,
        ref,
        inputs,
        slots=s,
    )


@family
def transpose(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["matrix", "grid", "rows"], s, "arg")
    doc = f"Return the transpose of the rectangular {arg} (a list of equal-length rows)."
    body = pick(
        r,
        [
            f"return [list(col) for col in zip(*{arg})]",
            f"if not {arg}:\n    return []\nreturn [[row[c] for row in {arg}] for c in range(len({arg}[0]))]",
        ],
        s,
        "impl",
    )

    def mk():
        h, w = r.randint(1, 4), r.randint(1, 4)
        return [[r.randint(0, 9) for _ in range(w)] for _ in range(h)]

    return Spec(
        "matrices",
        fname(r, ["transpose", "flip_matrix", "columns_as_rows"], s),
        [(arg, "list[list[int]]")],
        "list[list[int]]",
        doc,
        body,
        lambda m: [list(c) for c in zip(*m)],
        [(mk(),) for _ in range(4)],
        slots=s,
    )


@family
def dot_product(r: Random) -> Spec:
    s: dict = {}
    a, b = pick(r, ["u v", "a b", "x y"], s, "args").split()
    doc = f"Return the dot product of the equal-length vectors {a} and {b}."
    body = pick(
        r,
        [
            f"return sum(p * q for p, q in zip({a}, {b}))",
            f"total = 0\nfor i in range(len({a})):\n    total += {a}[i] * {b}[i]\nreturn total",
        ],
        s,
        "impl",
    )
    inputs = []
    for _ in range(5):
        n = r.randint(0, 5)
        inputs.append(([r.randint(-5, 5) for _ in range(n)], [r.randint(-5, 5) for _ in range(n)]))
    return Spec(
        "matrices",
        fname(r, ["dot_product", "dot", "inner_product"], s),
        [(a, "list[int]"), (b, "list[int]")],
        "int",
        doc,
        body,
        lambda x, y: sum(p * q for p, q in zip(x, y)),
        inputs,
        slots=s,
    )


@family
def is_prime(r: Random) -> Spec:
    s: dict = {}
    doc = pick(r, ["Return True if n is a prime number.", "Check whether the integer n is prime."], s, "doc")
    body = pick(
        r,
        [
            "if n < 2:\n    return False\ni = 2\nwhile i * i <= n:\n    if n % i == 0:\n        return False\n"
            "    i += 1\nreturn True",
            "if n < 2:\n    return False\nreturn all(n % d for d in range(2, math.isqrt(n) + 1))",
        ],
        s,
        "impl",
    )
    imports = ("import math",) if "math." in body else ()
    inputs = [(r.randint(-3, 120),) for _ in range(6)] + [(97,)]
    return Spec(
        "math",
        fname(r, ["is_prime", "is_prime_number", "prime_check"], s),
        [("n", "int")],
        "bool",
        doc,
        body,
        lambda n: n >= 2 and all(n % d for d in range(2, n)),
        inputs,
        imports=imports,
        slots=s,
    )


@family
def gcd(r: Random) -> Spec:
    s: dict = {}
    doc = "Return the greatest common divisor of the non-negative integers a and b using Euclid's algorithm."
    body = pick(
        r,
        ["while b:\n    a, b = b, a % b\nreturn a", "if b == 0:\n    return a\nreturn {f}(b, a % b)"],
        s,
        "impl",
    )
    f = fname(r, ["gcd", "greatest_common_divisor", "euclid_gcd"], s)
    return Spec(
        "math",
        f,
        [("a", "int"), ("b", "int")],
        "int",
        doc,
        body.replace("{f}", f),
        math.gcd,
        [(r.randint(0, 200), r.randint(0, 200)) for _ in range(6)],
        slots=s,
    )


@family
def digit_sum(r: Random) -> Spec:
    s: dict = {}
    doc = "Return the sum of the decimal digits of n (the sign is ignored)."
    body = pick(
        r,
        [
            "return sum(int(d) for d in str(abs(n)))",
            "n = abs(n)\ntotal = 0\nwhile n:\n    total += n % 10\n    n //= 10\nreturn total",
        ],
        s,
        "impl",
    )
    return Spec(
        "math",
        fname(r, ["digit_sum", "sum_digits", "add_digits"], s),
        [("n", "int")],
        "int",
        doc,
        body,
        lambda n: sum(int(d) for d in str(abs(n))),
        [(r.randint(-9999, 99999),) for _ in range(5)],
        slots=s,
    )


@family
def fibonacci(r: Random) -> Spec:
    s: dict = {}
    start = int(pick(r, ["0", "1"], s, "index_base"))
    doc = f"Return the n-th Fibonacci number, where fib({start}) = 0 and fib({start + 1}) = 1."
    body = f"a, b = 0, 1\nfor _ in range(n - {start}):\n    a, b = b, a + b\nreturn a"

    def ref(n):
        a, b = 0, 1
        for _ in range(n - start):
            a, b = b, a + b
        return a

    return Spec(
        "math",
        fname(r, ["fibonacci", "fib", "nth_fibonacci"], s),
        [("n", "int")],
        "int",
        doc,
        body,
        ref,
        [(r.randint(start, 30),) for _ in range(5)],
        slots=s,
    )


@family
def collatz_steps(r: Random) -> Spec:
    s: dict = {}
    doc = (
        "Return how many steps the Collatz process takes to reach 1 from the positive integer n: "
        "halve n when it is even, otherwise replace it with 3n + 1."
    )
    body = (
        "steps = 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\nreturn steps"
    )

    def ref(n):
        k = 0
        while n != 1:
            n, k = (n // 2 if n % 2 == 0 else 3 * n + 1), k + 1
        return k

    return Spec(
        "math",
        fname(r, ["collatz_steps", "collatz_length", "steps_to_one"], s),
        [("n", "int")],
        "int",
        doc,
        body,
        ref,
        [(r.randint(1, 200),) for _ in range(5)],
        slots=s,
    )


@family
def to_base(r: Random) -> Spec:
    s: dict = {}
    base = r.randint(2, 9)
    s["base"] = base
    doc = f"Return the base-{base} representation of the non-negative integer n as a string of digits."
    body = (
        f"if n == 0:\n    return '0'\ndigits = []\nwhile n > 0:\n    digits.append(str(n % {base}))\n"
        f"    n //= {base}\nreturn ''.join(reversed(digits))"
    )

    def ref(n):
        out = ""
        while n:
            out = str(n % base) + out
            n //= base
        return out or "0"

    names = ["to_binary"] if base == 2 else [f"to_base_{base}", f"base{base}_string"]
    return Spec(
        "math",
        fname(r, [*names, "convert_base"], s),
        [("n", "int")],
        "str",
        doc,
        body,
        ref,
        [(r.randint(0, 5000),) for _ in range(5)] + [(0,)],
        slots=s,
    )


@family
def count_bits(r: Random) -> Spec:
    s: dict = {}
    doc = "Return the number of 1 bits in the binary representation of the non-negative integer n."
    body = pick(
        r,
        ["return bin(n).count('1')", "count = 0\nwhile n:\n    count += n & 1\n    n >>= 1\nreturn count"],
        s,
        "impl",
    )
    return Spec(
        "bits",
        fname(r, ["count_bits", "popcount", "ones_in_binary"], s),
        [("n", "int")],
        "int",
        doc,
        body,
        lambda n: bin(n).count("1"),
        [(r.randint(0, 10**6),) for _ in range(5)],
        slots=s,
    )


@family
def is_perfect_square(r: Random) -> Spec:
    s: dict = {}
    doc = "Return True if the integer n is a perfect square (negative numbers never are)."
    body = "if n < 0:\n    return False\nroot = math.isqrt(n)\nreturn root * root == n"
    inputs = [(r.randint(-5, 400),) for _ in range(4)] + [(r.randint(0, 30) ** 2,) for _ in range(2)]
    return Spec(
        "math",
        fname(r, ["is_perfect_square", "is_square", "square_check"], s),
        [("n", "int")],
        "bool",
        doc,
        body,
        lambda n: n >= 0 and math.isqrt(n) ** 2 == n,
        inputs,
        imports=("import math",),
        slots=s,
    )


@family
def mean_and_spread(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    what = pick(r, ["mean", "median", "stdev"], s, "statistic")
    label = {"mean": "mean", "median": "median", "stdev": "population standard deviation"}[what]
    doc = f"Return the {label} of the non-empty list {arg}, rounded to 3 decimal places."
    call = {"mean": "statistics.mean", "median": "statistics.median", "stdev": "statistics.pstdev"}[what]
    body = f"return round(float({call}({arg})), 3)"

    def ref(a):
        import statistics

        return round(
            float(
                {"mean": statistics.mean, "median": statistics.median, "stdev": statistics.pstdev}[what](a)
            ),
            3,
        )

    return Spec(
        "statistics",
        fname(r, [f"{what}_of", f"compute_{what}", f"{what}_value"], s),
        [(arg, "list[float]")],
        "float",
        doc,
        body,
        ref,
        [(rand_ints(r, -10, 30, (1, 8)),) for _ in range(5)],
        imports=("import statistics",),
        slots=s,
    )


@family
def roman_numerals(r: Random) -> Spec:
    s: dict = {}
    doc = "Convert the integer n (1 <= n <= 3999) to a Roman numeral string."
    body = (
        "table = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'), (50, 'L'),\n"
        "         (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]\nout = []\n"
        "for value, symbol in table:\n    while n >= value:\n        out.append(symbol)\n        n -= value\n"
        "return ''.join(out)"
    )

    def ref(n):
        out = ""
        for v, sym in zip(
            [1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1],
            ["M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"],
        ):
            out += sym * (n // v)
            n %= v
        return out

    return Spec(
        "strings",
        fname(r, ["to_roman", "int_to_roman", "roman_numeral"], s),
        [("n", "int")],
        "str",
        doc,
        body,
        ref,
        [(r.randint(1, 3999),) for _ in range(5)],
        slots=s,
    )


@family
def temperature_convert(r: Random) -> Spec:
    s: dict = {}
    to_f = r.random() < 0.5
    s["direction"] = "c_to_f" if to_f else "f_to_c"
    src, dst = ("celsius", "fahrenheit") if to_f else ("fahrenheit", "celsius")
    doc = f"Convert a temperature from {src.title()} to {dst.title()}, rounded to 2 decimal places."
    expr = f"{src} * 9 / 5 + 32" if to_f else f"({src} - 32) * 5 / 9"
    body = f"return round({expr}, 2)"

    def ref(t):
        return round(t * 9 / 5 + 32, 2) if to_f else round((t - 32) * 5 / 9, 2)

    return Spec(
        "math",
        fname(r, [f"{src}_to_{dst}", f"to_{dst}", f"convert_{src}"], s),
        [(src, "float")],
        "float",
        doc,
        body,
        ref,
        [(float(r.randint(-40, 120)),) for _ in range(5)],
        slots=s,
    )


@family
def invert_dict(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, ["mapping", "d", "table"], s, "arg")
    doc = f"Return a new dict that maps each value of {arg} to its key (the values are distinct)."
    body = pick(
        r,
        [
            f"return {{v: k for k, v in {arg}.items()}}",
            f"inverted = {{}}\nfor key, value in {arg}.items():\n    inverted[value] = key\nreturn inverted",
        ],
        s,
        "impl",
    )
    keys = ["a", "b", "c", "d", "e", "f"]
    inputs = [
        ({k: i * r.randint(1, 3) + 10 * i for i, k in enumerate(r.sample(keys, r.randint(0, 5)))},)
        for _ in range(4)
    ]
    return Spec(
        "dicts",
        fname(r, ["invert_dict", "swap_keys_values", "reverse_mapping"], s),
        [(arg, "dict[str, int]")],
        "dict[int, str]",
        doc,
        body,
        lambda d: {v: k for k, v in d.items()},
        inputs,
        slots=s,
    )


@family
def count_above_mean(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = f"Return how many elements of {arg} are strictly greater than the average of {arg} (0 for an empty list)."
    body = (
        f"if not {arg}:\n    return 0\navg = sum({arg}) / len({arg})\nreturn sum(1 for x in {arg} if x > avg)"
    )

    def ref(a):
        return sum(x * len(a) > sum(a) for x in a) if a else 0

    return Spec(
        "lists",
        fname(r, ["count_above_mean", "above_average", "count_large"], s),
        [(arg, "list[int]")],
        "int",
        doc,
        body,
        ref,
        [(rand_ints(r),) for _ in range(5)],
        slots=s,
    )


@family
def sort_by_key(r: Random) -> Spec:
    s: dict = {}
    field_name = pick(r, ["age", "score", "price", "year"], s, "field")
    desc = r.random() < 0.5
    s["descending"] = desc
    doc = (
        f"Return the records (dicts) sorted by their {field_name!r} field in "
        f"{'descending' if desc else 'ascending'} order; ties keep their input order."
    )
    body = f"return sorted(records, key=lambda rec: rec[{field_name!r}]{', reverse=True' if desc else ''})"
    inputs = [([{"id": i, field_name: r.randint(0, 5)} for i in range(r.randint(0, 5))],) for _ in range(4)]
    return Spec(
        "sorting",
        fname(r, [f"sort_by_{field_name}", f"order_by_{field_name}", "sort_records"], s),
        [("records", "list[dict]")],
        "list[dict]",
        doc,
        body,
        lambda recs: sorted(recs, key=lambda x: x[field_name], reverse=desc),
        inputs,
        slots=s,
    )


@family
def pairwise_differences(r: Random) -> Spec:
    s: dict = {}
    arg = pick(r, LIST_ARGS, s, "arg")
    doc = f"Return the differences between consecutive elements of {arg}: [{arg}[1] - {arg}[0], ...]."
    body = pick(
        r,
        [
            f"return [b - a for a, b in zip({arg}, {arg}[1:])]",
            f"return [{arg}[i + 1] - {arg}[i] for i in range(len({arg}) - 1)]",
        ],
        s,
        "impl",
    )
    return Spec(
        "lists",
        fname(r, ["pairwise_differences", "deltas", "consecutive_diffs"], s),
        [(arg, "list[int]")],
        "list[int]",
        doc,
        body,
        lambda a: [b - x for x, b in itertools.pairwise(a)],
        [(rand_ints(r),) for _ in range(5)],
        slots=s,
    )


@family
def count_paths_grid(r: Random) -> Spec:
    s: dict = {}
    doc = (
        "Return the number of paths from the top-left to the bottom-right corner of a grid with `rows` "
        "rows and `cols` columns when each step moves one cell right or down."
    )
    body = pick(
        r,
        [
            "ways = [[1] * cols for _ in range(rows)]\nfor i in range(1, rows):\n    for j in range(1, cols):\n"
            "        ways[i][j] = ways[i - 1][j] + ways[i][j - 1]\nreturn ways[-1][-1]",
            "return math.comb(rows + cols - 2, rows - 1)",
        ],
        s,
        "impl",
    )
    imports = ("import math",) if "math." in body else ()
    return Spec(
        "dynamic programming",
        fname(r, ["count_grid_paths", "lattice_paths", "grid_routes"], s),
        [("rows", "int"), ("cols", "int")],
        "int",
        doc,
        body,
        lambda a, b: math.comb(a + b - 2, a - 1),
        [(r.randint(1, 8), r.randint(1, 8)) for _ in range(5)],
        imports=imports,
        slots=s,
    )


@family
def coin_change_ways(r: Random) -> Spec:
    s: dict = {}
    coins = sorted(r.sample([1, 2, 3, 5, 7, 10, 25], r.randint(2, 4)))
    s["coins"] = coins
    doc = f"Return the number of ways to make `amount` from coins of values {coins} (unlimited supply, order ignored)."
    body = (
        f"ways = [1] + [0] * amount\nfor coin in {coins}:\n    for total in range(coin, amount + 1):\n"
        "        ways[total] += ways[total - coin]\nreturn ways[amount]"
    )

    def ref(amount):
        def go(i, rest):
            if rest == 0:
                return 1
            if i == len(coins) or rest < 0:
                return 0
            return go(i, rest - coins[i]) + go(i + 1, rest)

        return go(0, amount)

    return Spec(
        "dynamic programming",
        fname(r, ["coin_change_ways", "count_change", "ways_to_pay"], s),
        [("amount", "int")],
        "int",
        doc,
        body,
        ref,
        [(r.randint(0, 30),) for _ in range(5)],
        slots=s,
    )
