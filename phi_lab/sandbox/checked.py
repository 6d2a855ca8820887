"""A benchmark solution judged by trusted tests (`CheckedSolution`), and which names its tests take
from the solution: the part of a job the trusted checker (`rpc.py`) gets, everything but the solution.
"""

from __future__ import annotations

import builtins
import functools
import json
import symtable
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckedSolution:
    """A solution (untrusted: prompt + completion) and the tests that judge it (trusted benchmark code).

    `test` runs in the checker; if `entry_point` is given it must define `check(candidate)`, called as
    `check(<entry_point>)` (HumanEval's convention), otherwise its top-level asserts are the tests
    (MBPP's). Names the tests use but do not define come from the solution, except those `prelude`
    (trusted code such as HumanEval's prompt with its canonical solution) defines, and builtins.
    """

    solution: str
    test: str
    entry_point: str | None = None
    prelude: str = ""
    # Names the solution is meant to define even where they shadow a builtin (MBPP/126's `sum`).
    provides: tuple[str, ...] = ()

    def job(self, seq: int, nonce: str) -> bytes:
        """What the checker gets: everything but the solution."""
        names = solution_names(self.test, self.entry_point, self.provides)
        uses_prelude = self.prelude and names & _top_level_names(self.prelude) - {self.entry_point}
        return json.dumps(
            {
                "seq": seq,
                "nonce": nonce,
                "test": self.test,
                "entry_point": self.entry_point,
                "names": sorted(names),
                "prelude": self.prelude if uses_prelude else "",
            }
        ).encode("utf-8", "surrogatepass")


@functools.lru_cache(maxsize=4096)
def solution_names(
    test: str, entry_point: str | None = None, provides: tuple[str, ...] = ()
) -> frozenset[str]:
    """The global names `test` reads but never binds (plus the entry point), builtins aside unless
    the solution `provides` them."""
    top = symtable.symtable(test, "<test>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()
    stack = [top]
    while stack:
        table = stack.pop()
        for sym in table.get_symbols():
            if sym.is_referenced() and (table is top or sym.is_global()):
                used.add(sym.get_name())
            if sym.is_declared_global() and sym.is_assigned():
                bound.add(sym.get_name())
        stack.extend(table.get_children())
    names = used - bound - (set(dir(builtins)) - set(provides))
    return frozenset(names | {entry_point} if entry_point else names)


@functools.lru_cache(maxsize=1024)
def _top_level_names(code: str) -> frozenset[str]:
    """Names trusted code binds at its top level (none if it does not compile)."""
    try:
        top = symtable.symtable(code, "<trusted>", "exec")
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported())


def defined_names(code: str) -> tuple[str, ...]:
    """The top-level names of a trusted reference solution: what a candidate is expected to define."""
    return tuple(sorted(_top_level_names(code)))
