"""Automatic checks of one completion against one probe.

Static checks run here: does prompt + completion parse, and does the completion reference the
probe's API names (resolved through the program's imports, so `import numpy as np; np.linalg.solve`
counts as `numpy.linalg.solve`). Dynamic checks only build jobs: they run in `phi_lab.sandbox`
(model output is hostile input), driven by `compare`.

The probes' tests are the project's own code, so where they can they are judged like the benchmarks:
by the trusted checker, calling the completion's functions in the sandboxed sample over plain-data
pipes (`test_job` returns a `CheckedSolution`). A library probe's test works on the library's own
objects (arrays, tensors, figures), which cannot cross those pipes, so it runs in the sample's own
process, as does every "runs" check; such a verdict says "in-process" (`SandboxResult.decided_by`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from phi_lab.probes.probeset import Probe
from phi_lab.sandbox import CheckedSolution


def program(probe: Probe, completion: str) -> str:
    """The code under test: the prompt followed by the model's completion."""
    return probe.prompt + completion


def parse_error(code: str) -> str | None:
    """None when `code` parses, else a one-line reason."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    except (ValueError, MemoryError, RecursionError) as e:  # null bytes, absurd nesting
        return f"{type(e).__name__}: {e}"
    return None


def run_program(probe: Probe, completion: str) -> str:
    """Exercises the code (definitions plus the probe's `run` statements) without judging it."""
    return (
        f"{program(probe, completion)}\n\n{probe.run}\n" if probe.run else f"{program(probe, completion)}\n"
    )


def test_program(probe: Probe, completion: str) -> str:
    """Passes in the sandbox iff the completion satisfies the probe's asserts (judged in-process)."""
    return f"{program(probe, completion)}\n\n{probe.test}\n"


def test_job(probe: Probe, completion: str) -> CheckedSolution | str:
    """The probe's test as the sandbox should judge it: by the trusted checker where its values are
    plain (no `requires`), else in the sample's own process (`test_program`)."""
    if probe.requires:
        return test_program(probe, completion)
    return CheckedSolution(solution=program(probe, completion), test=probe.test)


def _dotted(node: ast.AST) -> list[str] | None:
    """['a', 'b', 'c'] for the expression a.b.c, None when the chain does not start at a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


@dataclass
class References:
    """What a piece of code refers to: fully qualified names, attribute names, keyword names."""

    names: set[str] = field(default_factory=set)
    attrs: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)

    def matches(self, spec: str) -> bool:
        for alt in spec.split("|"):
            alt = alt.strip()
            if alt.startswith("kw:"):
                hit = alt[3:] in self.keywords
            elif alt.startswith("."):
                hit = alt[1:] in self.attrs
            else:
                hit = alt in self.names
            if hit:
                return True
        return False


def references(tree: ast.Module, first_line: int = 1) -> References:
    """Names referenced on lines >= first_line, resolved through every import in `tree`."""
    aliases: dict[str, str] = {}
    star: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:  # `import a.b` binds `a`
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if a.name == "*":
                    star.append(node.module)
                else:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    refs = References()
    for node in ast.walk(tree):
        if getattr(node, "lineno", first_line) < first_line:
            continue
        if isinstance(node, ast.keyword) and node.arg:
            refs.keywords.add(node.arg)
        if isinstance(node, ast.Attribute):
            refs.attrs.add(node.attr)
        if isinstance(node, (ast.Attribute, ast.Name)):
            parts = _dotted(node)
            if parts is None:
                continue
            head, rest = parts[0], parts[1:]
            if head in aliases:
                refs.names.add(".".join([aliases[head], *rest]))
            else:
                refs.names.update(".".join([m, head, *rest]) for m in star)
    return refs


@dataclass
class ApiReport:
    ok: bool
    found: list[str]
    missing: list[str]


def api_report(probe: Probe, completion: str) -> ApiReport | None:
    """Which of the probe's API specs the completion references (None: the probe names none).
    Code that does not parse references nothing."""
    if not probe.apis:
        return None
    code = program(probe, completion)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ApiReport(ok=False, found=[], missing=list(probe.apis))
    # only the completion counts: the prompt's own imports and annotations are given, not earned
    refs = references(tree, first_line=probe.prompt.count("\n") + 1)
    found = [s for s in probe.apis if refs.matches(s)]
    missing = [s for s in probe.apis if s not in found]
    return ApiReport(ok=not missing, found=found, missing=missing)


@dataclass
class TextReport:
    """A text-format probe's verdicts: did the model answer at all, and on topic."""

    answers: bool
    on_topic: bool | None  # None: the probe expects no keywords
    missing: list[str]


MIN_ANSWER_WORDS = 3


def text_report(probe: Probe, completion: str) -> TextReport:
    """`answers`: the completion (already cut at the format's stops) has at least three words;
    `on_topic`: it mentions every `expect` spec (one of its "|" alternatives, as a whole word)."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", completion)
    low = completion.lower()
    missing = [
        spec
        for spec in probe.expect
        if not any(re.search(rf"\b{re.escape(alt.strip().lower())}\b", low) for alt in spec.split("|"))
    ]
    return TextReport(
        answers=len(words) >= MIN_ANSWER_WORDS,
        on_topic=(not missing) if probe.expect else None,
        missing=missing,
    )
