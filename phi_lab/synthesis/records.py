"""The records synthesis produces: exercises (prompt + solution + tests) and textbook sections.

Exercise convention (HumanEval-like): `prompt` is the imports, signature and docstring;
`solution` is the body, so `prompt + solution` is the complete function; `tests` is a block of
top-level statements (asserts) that raise when the function is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def stable_id(prefix: str, *parts: str) -> str:
    h = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{h}"


@dataclass
class Exercise:
    id: str
    prompt: str
    solution: str
    tests: str
    meta: dict[str, Any] = field(default_factory=dict)

    def program(self) -> str:
        """The program the sandbox runs: passes iff the solution satisfies the tests."""
        return f"{self.prompt}{self.solution}\n\n{self.tests}\n"

    def text(self) -> str:
        """What the packer trains on (CodeExercises): the function with its docstring and body."""
        return f"{self.prompt}{self.solution}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Exercise:
        return cls(row["id"], row["prompt"], row["solution"], row["tests"], dict(row.get("meta") or {}))


@dataclass
class Textbook:
    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    # Programs that must pass in the sandbox for the section to be kept (its code examples).
    checks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "meta": self.meta}


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=False)
