"""Exercises mined from documented functions of a Python corpus (doctests are the tests).

A top-level function qualifies when it has a docstring with `>>>` examples, no decorators, and
refers to nothing but its own locals, builtins and modules the file imports (so the function plus
those imports is a self-contained program). The doctests become the exercise's tests; the sandbox
later drops the ones that do not pass on their own (e.g. examples that call the module by name).
"""

from __future__ import annotations

import ast
import builtins
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

from phi_lab.synthesis.records import Exercise, stable_id

BUILTIN_NAMES = frozenset(dir(builtins))


def python_sources(max_files: int | None = None, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(path, text) of the corpus to mine: the offline corpus (stdlib only) when phi_lab.data has it,
    else the interpreter's stdlib read directly."""
    try:
        from phi_lab.data.offline import offline_python_corpus
    except ImportError:
        offline_python_corpus = None
    if offline_python_corpus is not None:
        for doc in offline_python_corpus(max_documents=max_files, seed=seed, include_site_packages=False):
            yield str(doc.path), doc.text
        return
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    for p in files[:max_files]:
        try:
            yield str(p), p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def _imports(tree: ast.Module, text: str) -> dict[str, str]:
    """Top-level imported name -> the import statement that binds it."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and not (
            isinstance(node, ast.ImportFrom) and (node.level or node.module == "__future__")
        ):
            for alias in node.names:
                if alias.name == "*":
                    continue
                bound = alias.asname or alias.name.split(".")[0]
                if isinstance(node, ast.Import):
                    stmt = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                else:
                    stmt = f"from {node.module} import {alias.name}" + (
                        f" as {alias.asname}" if alias.asname else ""
                    )
                out[bound] = stmt
    return out


def _free_names(fn: ast.FunctionDef) -> set[str]:
    bound = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    loaded: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not fn:
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            return {"<global>"}
    return loaded - bound - BUILTIN_NAMES - {fn.name}


def doctest_harness(name: str, docstring: str) -> str:
    return (
        "import doctest as _doctest\n"
        f"_examples = {docstring!r}\n"
        f"_test = _doctest.DocTestParser().get_doctest(_examples, dict(globals()), {name!r}, None, 0)\n"
        "_runner = _doctest.DocTestRunner(verbose=False, "
        "optionflags=_doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE)\n"
        "_runner.run(_test)\n"
        "assert _runner.tries > 0 and _runner.failures == 0, 'doctest examples failed'"
    )


def exercises_from_source(path: str, text: str) -> Iterator[Exercise]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    lines = text.splitlines()
    imports = _imports(tree, text)
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or fn.decorator_list:
            continue
        doc = ast.get_docstring(fn, clean=False)
        if not doc or ">>>" not in doc or len(fn.body) < 2:
            continue
        free = _free_names(fn)
        if not free <= imports.keys():
            continue
        header = "".join(imports[n] + "\n" for n in sorted(free))
        doc_end = fn.body[0].end_lineno
        start = fn.lineno - 1
        prompt = header + ("\n" if header else "") + "\n".join(lines[start:doc_end]) + "\n"
        solution = "\n".join(lines[doc_end : fn.end_lineno]).rstrip() + "\n"
        if not solution.strip():
            continue
        tests = doctest_harness(fn.name, ast.get_docstring(fn) or doc)
        meta = {
            "backend": "offline",
            "source": "mined",
            "origin_path": path,
            "function": fn.name,
            "concept": "documented function",
            "n_tests": doc.count(">>>"),
            "slots": {"origin_path": path, "function": fn.name},
        }
        yield Exercise(stable_id("ex", prompt, solution), prompt, solution, tests, meta)


def mine_exercises(sources: Iterable[tuple[str, str]], limit: int | None = None) -> Iterator[Exercise]:
    n = 0
    for path, text in sources:
        parts = Path(path).parts
        if "test" in parts or "tests" in parts or Path(path).name.startswith("test_"):
            continue  # test suites' doctests test doctest itself, not the function
        for ex in exercises_from_source(path, text):
            yield ex
            n += 1
            if limit is not None and n >= limit:
                return
