"""Procedural CodeExercises: the offline backend's exercises, one family draw at a time.

A family (see `phi_lab.synthesis.families`) draws a function name, argument names, a docstring
phrasing and its parameters at random, and gives both the solution's source text and an
independent Python reference (`ref`) that computes the expected outputs for the tests. The sandbox
later checks that the text agrees with the reference, so a typo in either is caught and dropped
with its reason instead of becoming training data.
"""

from __future__ import annotations

import copy
import random
import textwrap
from typing import Any

from phi_lab.synthesis.families import FAMILIES
from phi_lab.synthesis.families.base import Spec
from phi_lab.synthesis.records import Exercise, stable_id


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
