"""What every procedural exercise family shares: `Spec` and the random-choice helpers.

A family is a function `family(r: random.Random) -> Spec`. It draws a function name, argument
names, a docstring phrasing and its parameters at random, and gives both the solution's source
text and an independent Python reference (`ref`) that computes the expected outputs for the tests.
The sandbox later checks that the text agrees with the reference, so a typo in either is caught
and dropped with its reason instead of becoming training data.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


Family = Callable[[random.Random], Spec]


def registry() -> tuple[dict[str, Family], Callable[[Family], Family]]:
    """A family module's own table and the decorator that fills it: `FAMILIES, family = registry()`.
    The table is complete once its module is imported; `phi_lab.synthesis.families` imports them all."""
    table: dict[str, Family] = {}

    def family(fn: Family) -> Family:
        table[fn.__name__] = fn
        return fn

    return table, family


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


WORDS = (
    "apple",
    "river",
    "stone",
    "light",
    "tree",
    "cloud",
    "python",
    "data",
    "green",
    "house",
    "music",
    "paper",
    "ocean",
    "bird",
    "code",
    "level",
    "noon",
    "radar",
    "table",
    "sun",
    "moon",
    "garden",
    "window",
    "bridge",
    "yellow",
    "a",
    "is",
    "of",
)


def rand_words(r: random.Random, lo: int = 0, hi: int = 7) -> list[str]:
    return [r.choice(WORDS) for _ in range(r.randint(lo, hi))]


def rand_sentence(r: random.Random, lo: int = 0, hi: int = 7) -> str:
    return " ".join(rand_words(r, lo, hi))
