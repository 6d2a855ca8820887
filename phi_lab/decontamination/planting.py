"""Controlled contamination: plant near-copies of known HumanEval problems into CodeExercises.

A decontamination study can only say what it finds if it knows what it should find. With
`plant_problems` > 0 (notebook 02, `plant_into`), a known set of HumanEval problems is copied into the exercises, each copy
disguised the way a paraphrasing model or a person would disguise it (all rewrites are written here
and keep the program's behaviour; every copy must still pass the problem's own tests in the sandbox):

- "renamed":   new names for the function, its arguments and its locals; a reworded docstring without
               the examples (the AST match rate ignores names and docstrings, so this copy scores 1.0);
- "reordered": renamed, plus adjacent independent statements swapped;
- "rewritten": reordered, plus `x += y` spelled `x = x + y`, `return expr` through a temporary, and
               `if c: A else: B` turned into `if not c: B else: A`.

`calibration(...)` then reports, per tau, the recall of the planted problems (found "similar") and the
false matches among the problems nothing was planted for, so Table 3's similar / non-similar split can be
read against a known truth. Off in the paper preset.
"""

from __future__ import annotations

import ast
import builtins
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phi_lab.benchmarks import Problem
from phi_lab.synthesis.records import Exercise, stable_id

LEVELS = ("renamed", "reordered", "rewritten")
_BUILTINS = frozenset(dir(builtins))
_NAME_PARTS = (
    "value", "item", "entry", "element", "total", "count", "acc", "buf", "seq", "data",
    "cursor", "probe", "cell", "unit", "token", "piece", "chunk", "record", "slot", "term",
)  # fmt: skip
# Docstring rewording: a word (as a whole word, case kept) -> what a paraphrase would say instead.
_SYNONYMS = {
    "return": "give back", "returns": "gives back", "given": "provided", "list": "sequence",
    "number": "value", "numbers": "values", "string": "text", "strings": "texts", "check": "determine",
    "function": "routine", "integer": "whole number", "integers": "whole numbers", "each": "every",
    "find": "locate", "write": "implement", "input": "argument", "output": "result", "empty": "blank",
    "element": "item", "elements": "items", "first": "initial", "largest": "biggest",
    "smallest": "tiniest", "sum": "total", "count": "tally", "whether": "if",
}  # fmt: skip
_EXAMPLE_RE = re.compile(r"^(for )?examples?\b|^e\.g\.", re.I)
_SYN_RE = re.compile(r"\b(" + "|".join(sorted(_SYNONYMS, key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True)
class PlantedCopy:
    task_id: str
    level: str
    exercise: Exercise


def reword(doc: str) -> str:
    """A paraphrase of a docstring: examples dropped, common words replaced, sentences in another order."""
    prose = []
    for line in doc.splitlines():  # the prose before the first example (what follows >>> is output)
        if line.strip().startswith(">>>") or _EXAMPLE_RE.match(line.strip()):
            break
        prose.append(line.strip())
    text = " ".join(ln for ln in prose if ln)
    text = _SYN_RE.sub(lambda m: _match_case(m.group(0), _SYNONYMS[m.group(0).lower()]), text)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    if len(sentences) > 1:
        sentences = sentences[1:] + sentences[:1]
    return " ".join(sentences) or "Implement the routine below."


def _match_case(original: str, new: str) -> str:
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


class _Renamer(ast.NodeTransformer):
    """Consistent new names for everything the source binds (functions, arguments, locals)."""

    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    imported = {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    return names - imported - _BUILTINS


def _rename_map(names: set[str], r: random.Random) -> dict[str, str]:
    mapping, used = {}, set(names)
    for name in sorted(names):
        while True:
            new = f"{r.choice(_NAME_PARTS)}_{r.choice(_NAME_PARTS)}"
            if new not in used and new not in _BUILTINS:
                break
        used.add(new)
        mapping[name] = new
    return mapping


def _reads_writes(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    reads, writes = set(), set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name):
            (writes if isinstance(n.ctx, ast.Store | ast.Del) else reads).add(n.id)
        elif isinstance(n, ast.Attribute | ast.Subscript | ast.Call):
            reads.add("<effects>")  # a call or a mutation may touch anything: never reorder those
    return reads, writes


def _swappable(a: ast.stmt, b: ast.stmt) -> bool:
    if not all(isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign) for s in (a, b)):
        return False
    ra, wa = _reads_writes(a)
    rb, wb = _reads_writes(b)
    if "<effects>" in ra | rb:
        return False
    return not (wa & (rb | wb)) and not (wb & ra)


def _reorder(body: list[ast.stmt]) -> bool:
    changed = False
    i = 0
    while i + 1 < len(body):
        if _swappable(body[i], body[i + 1]):
            body[i], body[i + 1] = body[i + 1], body[i]
            changed = True
            i += 2
        else:
            i += 1
    for stmt in body:
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                changed |= _reorder(inner)
    return changed


class _Rewriter(ast.NodeTransformer):
    """Behaviour-preserving spelling changes that move the AST (unlike names and docstrings)."""

    def __init__(self, temp: str):
        self.temp = temp

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        if isinstance(node.target, ast.Name):  # x += y  ->  x = x + y (same result for immutables)
            load = ast.Name(node.target.id, ast.Load())
            return ast.Assign([node.target], ast.BinOp(load, node.op, node.value))
        return node

    def visit_If(self, node: ast.If) -> ast.If:
        self.generic_visit(node)
        if node.orelse and not (len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If)):
            return ast.If(ast.UnaryOp(ast.Not(), node.test), node.orelse, node.body)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        last = node.body[-1]
        if isinstance(last, ast.Return) and last.value is not None:
            node.body[-1:] = [
                ast.Assign([ast.Name(self.temp, ast.Store())], last.value),
                ast.Return(ast.Name(self.temp, ast.Load())),
            ]
        return node


def near_copy(problem: Problem, level: str, seed: int = 0) -> tuple[str, str]:
    """(code, new entry point) of a disguised copy of `problem`'s reference program."""
    if level not in LEVELS:
        raise ValueError(f"unknown contamination level {level!r}; choose from {LEVELS}")
    if not problem.entry_point:
        raise ValueError(f"{problem.task_id}: near-copies need a HumanEval-style entry point")
    r = random.Random(f"{seed}:{problem.task_id}:{level}")
    tree = ast.parse(problem.prompt + problem.canonical_solution)
    mapping = _rename_map(_bound_names(tree), r)
    tree = _Renamer(mapping).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
            node.body[0] = ast.Expr(ast.Constant(reword(ast.get_docstring(node) or "")))
    if level in ("reordered", "rewritten"):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                _reorder(node.body)
    if level == "rewritten":
        tree = _Rewriter(temp=f"{r.choice(_NAME_PARTS)}_out").visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n", mapping[problem.entry_point]


def _as_exercise(problem: Problem, level: str, code: str, entry: str) -> Exercise:
    tree = ast.parse(code)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry)
    lines = code.splitlines()
    # prompt: everything up to the entry point's docstring; solution: the rest of the program
    split = fn.body[0].end_lineno if ast.get_docstring(fn) else fn.lineno
    prompt = "\n".join(lines[:split]) + "\n"
    solution = "\n".join(lines[split:]).rstrip() + "\n"
    tests = f"{problem.test}\ncheck({entry})\n"
    meta = {"source": "planted", "planted_from": problem.task_id, "level": level, "entry_point": entry}
    return Exercise(stable_id("planted", problem.task_id, level, code), prompt, solution, tests, meta)


def plant(
    problems: Mapping[str, Problem],
    n: int,
    levels: Sequence[str] = LEVELS,
    seed: int = 0,
    sandbox=None,
) -> list[PlantedCopy]:
    """Near-copies of `n` problems drawn with `seed` (levels assigned in turn), each checked against
    the problem's own tests in the sandbox; a copy that fails (a rewrite that changed behaviour) is
    replaced by the next problem, so exactly `n` problems are planted when enough exist."""
    from phi_lab.sandbox import Sandbox

    if n < 0 or n > len(problems):
        raise ValueError(f"cannot plant {n} of {len(problems)} problems")
    order = sorted(problems)
    random.Random(seed).shuffle(order)
    own = sandbox is None
    sandbox = sandbox or Sandbox(timeout=10.0)
    planted: list[PlantedCopy] = []
    try:
        for task_id in order:
            if len(planted) == n:
                break
            level = levels[len(planted) % len(levels)]
            try:
                code, entry = near_copy(problems[task_id], level, seed)
            except (SyntaxError, ValueError, StopIteration):
                continue
            ex = _as_exercise(problems[task_id], level, code, entry)
            if sandbox.run(ex.program()).passed:
                planted.append(PlantedCopy(task_id, level, ex))
    finally:
        if own:
            sandbox.close()
    return planted


def calibration(
    similar_by_tau: Mapping[float, Sequence[str]],
    planted: Sequence[PlantedCopy],
    all_tasks: Sequence[str],
) -> list[dict]:
    """Per tau: how many planted problems were found similar (recall, overall and per level) and how
    many problems with nothing planted were flagged (false matches: real look-alikes or errors)."""
    planted_tasks = {p.task_id for p in planted}
    by_level = {lvl: {p.task_id for p in planted if p.level == lvl} for lvl in LEVELS}
    rows = []
    for tau in sorted(similar_by_tau, reverse=True):
        similar = set(similar_by_tau[tau])
        found = similar & planted_tasks
        rest = [t for t in all_tasks if t not in planted_tasks]
        row = {
            "tau": tau,
            "planted": len(planted_tasks),
            "found": len(found),
            "recall": len(found) / len(planted_tasks) if planted_tasks else None,
            "false_matches": len(similar - planted_tasks),
            "not_planted": len(rest),
        }
        for lvl, tasks in by_level.items():
            if tasks:
                row[f"recall_{lvl}"] = len(similar & tasks) / len(tasks)
        rows.append(row)
    return rows


PLANTED_FILE = "planted.jsonl"  # beside the exercises it was planted into


def plant_into(
    exercises: str | Path,
    n: int,
    seed: int = 0,
    problems: Mapping[str, Problem] | None = None,
    sandbox=None,
) -> dict:
    """Append near-copies of `n` HumanEval problems to a CodeExercises JSONL (records as synthesis
    writes them) and record which in `planted.jsonl` beside it, written first: a rerun after a kill
    appends only the copies still missing; a rerun with other settings is refused."""
    from collections import Counter

    from phi_lab.benchmarks import load_benchmark
    from phi_lab.io import append_jsonl, atomic_write_jsonl, read_jsonl

    exercises = Path(exercises)
    record = exercises.with_name(PLANTED_FILE)
    if record.exists():
        copies = load_planted(record)
        rows = [row for _, row in read_jsonl(record)]
        if {(r["n"], r["seed"]) for r in rows} != {(n, seed)}:
            raise ValueError(
                f"{record} holds copies planted with other settings; use a fresh output directory"
            )
    else:
        copies = plant(problems or load_benchmark("humaneval"), n, seed=seed, sandbox=sandbox)
        atomic_write_jsonl(
            record,
            [{"task_id": c.task_id, "level": c.level, "n": n, "seed": seed, "exercise": c.exercise.to_json()}
             for c in copies],
        )  # fmt: skip
    present = {row.get("id") for _, row in read_jsonl(exercises, on_torn="truncate")}
    missing = [c for c in copies if c.exercise.id not in present]
    if missing:
        append_jsonl(exercises, [{**c.exercise.to_json(), "text": c.exercise.text()} for c in missing])
    return {"planted": len(copies), "levels": dict(Counter(c.level for c in copies)), "file": str(record)}


def load_planted(path: str | Path) -> list[PlantedCopy]:
    """The copies `plant_into` recorded."""
    from phi_lab.io import read_jsonl

    return [
        PlantedCopy(row["task_id"], row["level"], Exercise.from_json(row["exercise"]))
        for _, row in read_jsonl(path)
    ]
