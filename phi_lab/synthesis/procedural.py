"""Procedural exercise families: the offline backend's source of CodeExercises.

A family is a function `family(r: random.Random) -> Spec`. It draws a function name, argument
names, a docstring phrasing and its parameters at random, and gives both the solution's source
text and an independent Python reference (`ref`) that computes the expected outputs for the tests.
The sandbox later checks that the text agrees with the reference, so a typo in either is caught
and dropped with its reason instead of becoming training data.
"""

from __future__ import annotations

import copy
import random
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from phi_lab.synthesis.records import Exercise, stable_id


@dataclass
class Spec:
    concept: str
    func: str
    params: list[tuple[str, str]]  # (name, annotation)
    returns: str
    doc: str
    body: str  # unindented; indented into the function here
    ref: Callable[..., Any]
    inputs: list[tuple[Any, ...]]
    imports: tuple[str, ...] = ()
    slots: dict[str, Any] = field(default_factory=dict)


FAMILIES: dict[str, Callable[[random.Random], Spec]] = {}


def family(fn: Callable[[random.Random], Spec]) -> Callable[[random.Random], Spec]:
    FAMILIES[fn.__name__] = fn
    return fn


def pick(r: random.Random, options: list[str] | tuple[str, ...], slots: dict[str, Any], slot: str) -> str:
    """r.choice, recording the choice in `slots` (every random slot goes into the record's meta)."""
    value = r.choice(list(options))
    slots[slot] = value
    return value


VERB_PREFIXES = ("", "", "get_", "compute_", "find_", "calc_")


def fname(r: random.Random, bases: list[str], slots: dict[str, Any]) -> str:
    base = pick(r, bases, slots, "name_base")
    prefix = "" if "_" in base and r.random() < 0.5 else r.choice(VERB_PREFIXES)
    if base.startswith(("is_", "has_", "get_", "to_", "count_", "find_")):
        prefix = ""
    slots["name_prefix"] = prefix
    return prefix + base


def rand_ints(r: random.Random, lo: int = -20, hi: int = 50, n: tuple[int, int] = (0, 9)) -> list[int]:
    return [r.randint(lo, hi) for _ in range(r.randint(*n))]


WORDS = ("apple", "river", "stone", "light", "tree", "cloud", "python", "data", "green", "house",
         "music", "paper", "ocean", "bird", "code", "level", "noon", "radar", "table", "sun", "moon",
         "garden", "window", "bridge", "yellow", "a", "is", "of")


def rand_words(r: random.Random, lo: int = 0, hi: int = 7) -> list[str]:
    return [r.choice(WORDS) for _ in range(r.randint(lo, hi))]


def rand_sentence(r: random.Random, lo: int = 0, hi: int = 7) -> str:
    return " ".join(rand_words(r, lo, hi))


def _literal(value: Any) -> str:
    return repr(value)


def _assert(func: str, args: tuple[Any, ...], expected: Any) -> str:
    call = f"{func}({', '.join(_literal(a) for a in args)})"
    if isinstance(expected, float):
        return f"assert abs({call} - {expected!r}) < 1e-6"
    return f"assert {call} == {expected!r}"


def build_exercise(family_name: str, spec: Spec, seed: int, with_example: bool) -> Exercise:
    sig = ", ".join(f"{n}: {t}" for n, t in spec.params)
    # Wrap long phrasings like a person would; the example block below is left as is.
    doc = "\n\n".join(textwrap.fill(par, 84) for par in spec.doc.strip().split("\n\n"))
    expected = [spec.ref(*copy.deepcopy(args)) for args in spec.inputs]
    if with_example and spec.inputs:
        # The first non-trivial case becomes a doctest-style example in the docstring.
        i = max(range(len(spec.inputs)), key=lambda j: min(len(repr(spec.inputs[j])), 60))
        call = f"{spec.func}({', '.join(_literal(a) for a in spec.inputs[i])})"
        doc += f"\n\n>>> {call}\n{expected[i]!r}"
    header = "".join(f"{imp}\n" for imp in spec.imports) + ("\n" if spec.imports else "")
    doc_block = textwrap.indent(f'"""{doc}\n"""', "    ") if "\n" in doc else f'    """{doc}"""'
    prompt = f"{header}def {spec.func}({sig}) -> {spec.returns}:\n{doc_block}\n"
    solution = textwrap.indent(textwrap.dedent(spec.body).strip("\n"), "    ") + "\n"
    tests = "\n".join(_assert(spec.func, args, exp) for args, exp in zip(spec.inputs, expected))
    meta = {
        "backend": "offline",
        "source": "procedural",
        "family": family_name,
        "concept": spec.concept,
        "function": spec.func,
        "seed": seed,
        "slots": {**spec.slots, "docstring_example": with_example},
        "n_tests": len(spec.inputs),
    }
    return Exercise(stable_id("ex", prompt, solution), prompt, solution, tests, meta)


def family_names() -> list[str]:
    from phi_lab.synthesis import families_numeric, families_text  # noqa: F401  (registers families)

    return sorted(FAMILIES)


def procedural_exercise(i: int, seed: int = 0, families: list[str] | None = None) -> Exercise:
    """Candidate `i` of a seeded stream: the first len(families) cover every family once, then
    families are drawn at random. Deterministic in (i, seed), so a resumed run regenerates exactly."""
    names = family_names() if families is None else sorted(families)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"unknown exercise families {unknown}; known: {sorted(FAMILIES)}")
    s = seed * 1_000_003 + i
    r = random.Random(s)
    name = names[i % len(names)] if i < len(names) else r.choice(names)
    spec = FAMILIES[name](r)
    return build_exercise(name, spec, s, with_example=r.random() < 0.6)


def generate_procedural(n: int, seed: int = 0, families: list[str] | None = None):
    for i in range(n):
        yield procedural_exercise(i, seed, families)
