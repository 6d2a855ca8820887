"""The package's shape: no import cycles, no private names crossing modules, a registry complete on import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import phi_lab

PKG = Path(phi_lab.__file__).parent
# Stdlib-only scripts the sandbox runs by path; they import each other as top-level modules.
SCRIPTS = {
    "phi_lab.sandbox.server",
    "phi_lab.sandbox.wrapper",
    "phi_lab.sandbox.rpc",
    "phi_lab.sandbox.namespaces",
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = ["phi_lab", *f.relative_to(PKG).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _imports(path: Path):
    """(module, names) for every `import` / `from ... import` in the file, at any depth (a lazy import
    inside a function is still a dependency: the families bug hid behind one)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [a.name for a in node.names]


def import_graph() -> dict[str, set[str]]:
    mods = _modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        for target, names in _imports(path):
            if not target.startswith("phi_lab"):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
            deps.update(subs or [owner(target)])
        deps.discard(None)
        deps.discard(mod)
        graph[mod] = deps  # type: ignore[assignment]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_phi_lab():
    assert cycles(import_graph()) == []


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for mod, path in _modules().items():
        for target, names in _imports(path):
            if target.startswith("phi_lab"):
                offenders += [
                    f"{mod}: from {target} import {n}"
                    for n in names
                    if n.startswith("_") and not n.startswith("__")
                ]
    assert offenders == []


def test_sandbox_scripts_never_import_phi_lab():
    mods = _modules()
    for name in SCRIPTS:
        assert not [t for t, _ in _imports(mods[name]) if t.startswith("phi_lab")], name


def test_exercise_families_are_registered_in_a_fresh_interpreter():
    # Before the families became a package with an explicit table, this raised
    # "unknown exercise families ['count_vowels']; known: []".
    code = (
        "from phi_lab.synthesis.procedural import procedural_exercise\n"
        "ex = procedural_exercise(0, families=['count_vowels'])\n"
        "print(ex.meta['family'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "count_vowels"
