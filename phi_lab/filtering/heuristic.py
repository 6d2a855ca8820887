"""HeuristicAnnotator: the offline stand-in for GPT-4's educational-value labels (§2.1).

The paper names what makes a file instructive for a student learning basic coding concepts;
each becomes one criterion scored in [0, 1] from the syntax tree and symbol table:

1. self-contained: no relative or project imports, no star imports, no undefined names;
2. meaningful computation rather than boilerplate (constants, configuration, GUI set-up);
3. algorithmic logic that is explained (docstrings and comments next to loops and branches);
4. not skewed towards one narrow use (one library's API, one platform, hard-coded paths/hosts).

The score is the mean of the four; every criterion contributes one reason, so a verdict can be
read and argued with.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
import sys
from collections import Counter
from dataclasses import dataclass

from phi_lab.data.documents import Document
from phi_lab.filtering.labels import Label

PROMPT_VERSION = "heuristic-v1"
MODULE_DUNDERS = {
    "__name__",
    "__file__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__path__",
    "__annotations__",
    "__dict__",
    "__class__",
    "__qualname__",
    "__module__",
}
GUI_MODULES = {
    "tkinter",
    "Tkinter",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "wx",
    "kivy",
    "gi",
    "pygame",
    "curses",
    "turtle",
}
NARROW_MODULES = {
    "ctypes",
    "winreg",
    "_winapi",
    "msvcrt",
    "win32api",
    "win32con",
    "fcntl",
    "termios",
    "django",
    "flask",
    "boto3",
    "botocore",
    "selenium",
    "scrapy",
    "bpy",
}
CONTROL = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.If,
    ast.IfExp,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Try,
    ast.Match,
)
HARDCODED = re.compile(r"^(/(home|usr|etc|var|opt|tmp)/|[A-Za-z]:\\|https?://|\d{1,3}(\.\d{1,3}){3})")


@dataclass(frozen=True)
class Criterion:
    name: str
    score: float
    reason: str


@dataclass
class Parsed:
    """A file parsed once: every node in walk order, and the function enclosing each one."""

    code: str
    tree: ast.Module
    nodes: list[ast.AST]
    in_function: list[str | None]  # name of the innermost enclosing def, per node

    @classmethod
    def of(cls, code: str, filename: str = "<file>") -> Parsed:
        tree = ast.parse(code, filename)
        nodes: list[ast.AST] = []
        owners: list[str | None] = []
        stack: list[tuple[ast.AST, str | None]] = [(tree, None)]
        while stack:
            node, owner = stack.pop()
            nodes.append(node)
            owners.append(owner)
            inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else owner
            stack.extend((c, inner) for c in ast.iter_child_nodes(node))
        return cls(code, tree, nodes, owners)

    def of_type(self, *types: type) -> list[ast.AST]:
        return [n for n in self.nodes if isinstance(n, types)]


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def undefined_names(code: str, filename: str = "<file>") -> list[str]:
    """Names read somewhere but bound nowhere in the file and not builtins (symtable analysis)."""
    top = symtable.symtable(code, filename, "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()
    stack = [top]
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        for s in table.get_symbols():
            name = s.get_name()
            if s.is_declared_global() and s.is_assigned():
                bound.add(name)  # `global x; x = ...` inside a function binds a module name
            if not s.is_referenced():
                continue
            if table is top or s.is_global():
                used.add(name)
    known = bound | set(dir(builtins)) | MODULE_DUNDERS
    return sorted(used - known)


def _imports(p: Parsed) -> tuple[list[str], list[str], bool]:
    """(absolute top-level modules, relative imports, star import?)"""
    absolute: list[str] = []
    relative: list[str] = []
    star = False
    for node in p.of_type(ast.Import, ast.ImportFrom):
        if isinstance(node, ast.Import):
            absolute += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            star |= any(a.name == "*" for a in node.names)
            if node.level:
                relative.append("." * node.level + (node.module or ""))
            elif node.module:
                absolute.append(node.module.split(".")[0])
    return absolute, relative, star


def self_contained(p: Parsed, filename: str) -> Criterion:
    absolute, relative, star = _imports(p)
    external = sorted({m for m in absolute if m not in sys.stdlib_module_names and m != "__future__"})
    undefined = [] if star else undefined_names(p.code, filename)
    score = 1.0
    problems = []
    if relative:
        score -= 0.6
        problems.append(f"relative imports {sorted(set(relative))[:3]}")
    if star:
        score -= 0.4
        problems.append("star import")
    if undefined:
        score -= min(0.6, 0.15 * len(undefined))
        problems.append(f"undefined names {undefined[:5]}")
    if external:
        score -= min(0.3, 0.1 * len(external))
        problems.append(f"non-stdlib imports {external[:5]}")
    if not problems:
        return Criterion("self-contained", 1.0, "self-contained: stdlib imports only, every name defined")
    return Criterion("self-contained", _clip(score), "not self-contained: " + "; ".join(problems))


def _is_constant_expr(node: ast.AST | None) -> bool:
    if node is None:
        return True
    return all(
        isinstance(
            n, ast.Constant | ast.List | ast.Tuple | ast.Dict | ast.Set | ast.Load | ast.UnaryOp | ast.USub
        )
        or (isinstance(n, ast.Name | ast.Attribute) and isinstance(getattr(n, "ctx", None), ast.Load))
        for n in ast.walk(node)
    )


def meaningful_computation(p: Parsed) -> Criterion:
    tree = p.tree
    stmts = p.of_type(ast.stmt)
    funcs = p.of_type(ast.FunctionDef, ast.AsyncFunctionDef)
    if len(stmts) < 3:
        return Criterion("meaningful-computation", 0.0, "boilerplate: fewer than 3 statements")
    top = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    constants = sum(isinstance(n, ast.Assign | ast.AnnAssign) and _is_constant_expr(n.value) for n in top)
    imports = sum(isinstance(n, ast.Import | ast.ImportFrom) for n in top)
    logic_types = (*CONTROL, ast.Return, ast.AugAssign, ast.BinOp, ast.Compare)
    logic = sum(isinstance(n, logic_types) and f is not None for n, f in zip(p.nodes, p.in_function))
    calls = p.of_type(ast.Call)
    absolute, _, _ = _imports(p)
    gui = sorted(set(absolute) & GUI_MODULES)
    setup_calls = sum(
        isinstance(c.func, ast.Attribute)
        and re.match(
            r"(pack|grid|place|add_argument|addWidget|setText|connect|config|configure|"
            r"setdefault|set_defaults|setLayout|bind|title|geometry|mainloop)$",
            c.func.attr,
        )
        is not None
        for c in calls
    )
    decl = (constants + imports) / max(len(top), 1)
    density = logic / max(len(stmts), 1)
    score = 0.35 * min(1.0, len(funcs) / 2) + 0.65 * min(1.0, density / 0.5)
    problems = []
    if decl > 0.6:
        score *= 0.4
        problems.append(
            f"{constants} constant/config assignments and {imports} imports make up "
            f"{decl:.0%} of top-level code"
        )
    if gui:
        score *= 0.5
        problems.append(f"GUI set-up ({', '.join(gui)})")
    if setup_calls > max(5, len(calls) // 3):
        score *= 0.6
        problems.append(f"{setup_calls} set-up/config calls")
    if not funcs:
        problems.append("no functions")
    if problems:
        return Criterion("meaningful-computation", _clip(score), "boilerplate: " + "; ".join(problems))
    return Criterion(
        "meaningful-computation",
        _clip(score),
        f"computation: {len(funcs)} functions, {logic} logic nodes in {len(stmts)} statements",
    )


COMMENT = re.compile(r"^[ \t]*#(?!!)|[^\s#'\"][ \t]+#[ \t]", re.M)  # full-line or trailing, not a shebang


def _comment_lines(code: str) -> int:
    # A regex instead of `tokenize`: 10x faster, and a '#' inside a string literal is rare enough.
    return len(COMMENT.findall(code))


def explained_logic(p: Parsed) -> Criterion:
    code, tree = p.code, p.tree
    defs = p.of_type(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    loops = len(p.of_type(ast.For, ast.While, ast.AsyncFor, ast.ListComp, ast.GeneratorExp))
    branches = len(p.of_type(ast.If, ast.IfExp, ast.Match))
    recursion = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == f
        for n, f in zip(p.nodes, p.in_function)
    )
    code_lines = sum(bool(line.strip()) for line in code.splitlines())
    comments = _comment_lines(code)
    documented = sum(ast.get_docstring(d) is not None for d in defs)
    coverage = documented / len(defs) if defs else (1.0 if ast.get_docstring(tree) else 0.0)
    comment_ratio = comments / max(code_lines, 1)
    explained = 0.6 * coverage + 0.4 * min(1.0, comment_ratio / 0.12)
    algorithmic = min(1.0, (loops + branches + 2 * recursion) / 4)
    score = explained * (0.4 + 0.6 * algorithmic)
    what = f"{loops} loops, {branches} branches{', recursion' if recursion else ''}"
    how = f"docstrings on {documented}/{len(defs)} defs, {comments} comment lines / {code_lines} lines"
    if algorithmic < 0.5:
        return Criterion("explained-logic", _clip(score), f"little algorithmic logic ({what}); {how}")
    verdict = "explained" if explained >= 0.5 else "unexplained"
    return Criterion("explained-logic", _clip(score), f"{verdict} algorithmic logic ({what}); {how}")


def general_use(p: Parsed) -> Criterion:
    absolute, _, _ = _imports(p)
    narrow = sorted(set(absolute) & NARROW_MODULES)
    imported = set(absolute)
    call_nodes = p.of_type(ast.Call)
    roots = [r for c in call_nodes if (r := _root_name(c.func)) in imported]
    calls = len(call_nodes)
    top_mod, top_n = Counter(roots).most_common(1)[0] if roots else ("", 0)
    hardcoded = sorted(
        {
            n.value[:40]
            for n in p.of_type(ast.Constant)
            if isinstance(n.value, str) and HARDCODED.match(n.value)
        }
    )
    platform = sum(
        n.attr in {"platform", "name"} and _root_name(n) in {"sys", "os"} for n in p.of_type(ast.Attribute)
    )
    score = 1.0
    problems = []
    if narrow:
        score -= 0.4
        problems.append(f"platform/framework-specific imports {narrow}")
    gui = sorted(set(absolute) & GUI_MODULES)
    if gui:
        score -= 0.5
        problems.append(f"tied to a GUI toolkit {gui}")
    if calls >= 10 and top_n / calls > 0.4 and top_mod not in sys.stdlib_module_names:
        score -= 0.3
        problems.append(f"{top_n}/{calls} calls go to {top_mod}")
    if hardcoded:
        score -= min(0.4, 0.15 * len(hardcoded))
        problems.append(f"hard-coded paths/hosts {hardcoded[:3]}")
    if platform:
        score -= 0.2
        problems.append("platform checks")
    if problems:
        return Criterion("general-use", _clip(score), "narrow use: " + "; ".join(problems))
    return Criterion("general-use", 1.0, "general: no platform, framework or hard-coded environment ties")


class HeuristicAnnotator:
    """Scores a file on the paper's four criteria; label 1 when the mean reaches `threshold`."""

    name = "heuristic"
    prompt_version = PROMPT_VERSION
    model = "ast+symtable"

    def __init__(self, threshold: float = 0.65) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold

    def criteria(self, code: str, filename: str = "<file>") -> list[Criterion]:
        try:
            p = Parsed.of(code, filename)
            # symtable compiles further than ast.parse (misplaced __future__, bad nonlocal...).
            return [
                self_contained(p, filename),
                meaningful_computation(p),
                explained_logic(p),
                general_use(p),
            ]
        except (SyntaxError, ValueError, RecursionError) as e:
            where = f"line {e.lineno}" if isinstance(e, SyntaxError) else type(e).__name__
            return [
                Criterion("compiles", 0.0, f"does not compile as Python ({where}: {getattr(e, 'msg', e)})")
            ]

    def score(self, code: str, filename: str = "<file>") -> tuple[float, list[str]]:
        crits = self.criteria(code, filename)
        score = round(sum(c.score for c in crits) / len(crits), 4)
        return score, [f"{c.name}={c.score:.2f}: {c.reason}" for c in crits]

    def annotate_one(self, doc: Document) -> Label:
        score, reasons = self.score(doc.text, doc.path)
        return Label(
            doc.path,
            doc.source,
            doc.sha256,
            score,
            int(score >= self.threshold),
            reasons,
            self.name,
            self.prompt_version,
            self.model,
            meta={"threshold": self.threshold},
            text=doc.text,
        )

    def annotate(self, docs: list[Document], progress: bool = False) -> list[Label]:
        from tqdm.auto import tqdm

        return [self.annotate_one(d) for d in tqdm(docs, desc="annotate heuristic", disable=not progress)]
