"""Quality steps for synthetic data: code-block parsing, sandbox verification, deduplication.

Steps follow the project's filter convention: each returns keep, or (drop, reason), and dropped
records are written with their reason by the pipeline.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from phi_lab.synthesis.records import Exercise

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)


def code_blocks(answer: str, languages: Sequence[str] = ("python", "py", "python3", "")) -> list[str]:
    """Fenced code blocks of an LLM answer, in order, of the given languages.

    Handles ``` and ~~~ fences, longer fences, info strings, indented fences and an unterminated
    last fence (answers cut by max_tokens). Without any fence, a text that parses as Python is
    itself the block.
    """
    blocks = []
    for m in FENCE.finditer(answer):
        if m.group(2).lower() in languages:
            blocks.append(_dedent_block(m.group(3)))
    if not blocks:
        m = re.search(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*)\Z", answer, re.S | re.M)
        if m and m.group(2).lower() in languages:
            blocks.append(_dedent_block(m.group(3)))  # unterminated fence
        elif m is None and answer.strip():
            try:
                ast.parse(answer)
                blocks.append(answer.strip("\n") + "\n")
            except SyntaxError:
                pass
    return [b for b in blocks if b.strip()]


def _dedent_block(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).rstrip() + "\n"


def split_function(code: str) -> tuple[str, str] | None:
    """(prompt, solution) of the first top-level function with a docstring: prompt is everything up
    to and including the docstring (imports before the function included), solution the body after it."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    lines = code.splitlines()
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and ast.get_docstring(node)
            and len(node.body) > 1
        ):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            doc_end = node.body[0].end_lineno
            preamble = [ln for ln in lines[: first - 1] if ln.strip()]
            head = "\n".join(preamble) + "\n\n" if preamble else ""
            prompt = head + "\n".join(lines[first - 1 : doc_end]) + "\n"
            solution = "\n".join(lines[doc_end : node.end_lineno]).rstrip() + "\n"
            return prompt, solution
    return None


def _has_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _is_test_def(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")


def _segment(lines: list[str], node: ast.stmt) -> str:
    first = node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno
    return "\n".join(lines[first - 1 : node.end_lineno]) + "\n"


def _imports_only_pytest(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return all(a.name == "pytest" for a in node.names)
    return isinstance(node, ast.ImportFrom) and node.module == "pytest"


def _tests_of(code: str, nodes: Sequence[ast.stmt]) -> tuple[str, list[str]]:
    """(test code, names of test functions defined) from top-level statements of `code`.

    A `__main__` section contributes its body (the sandbox need not run the file as a script);
    `def test_...` functions are kept and called later by `extract_exercise`.
    """
    import textwrap

    lines = code.splitlines()
    out, test_funcs = [], []
    for node in nodes:
        if _is_main_guard(node):
            kept = [n for n in node.body if not _is_demo_print(n)]  # type: ignore[attr-defined]
            out += [textwrap.dedent(_segment(lines, n)) for n in kept]
        elif _imports_only_pytest(node) and "pytest." not in code:
            continue  # `import pytest` for plain asserts: the sandbox has no pytest, and needs none
        else:
            out.append(_segment(lines, node))
            if _is_test_def(node):
                test_funcs.append(node.name)  # type: ignore[union-attr]
    return "".join(out), test_funcs


def _test_block(code: str) -> tuple[str, list[str]] | None:
    """A later code block that is tests only: asserts, test functions or a `__main__` section."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if not tree.body or not _has_assert(tree):
        return None
    if any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not _is_test_def(n) and ast.get_docstring(n)
        for n in tree.body
    ):
        return None  # another documented function: a second exercise, not tests
    return _tests_of(code, tree.body)


def extract_exercise(answer: str) -> tuple[str, str, str] | str:
    """(prompt, solution, tests) from a model's answer, or the reason there is none.

    Models write exercises in several shapes, all accepted: the function in one block and asserts
    in a later one; the function and its asserts in one block; tests as `def test_...` functions
    (called here, so they run without pytest); tests under `if __name__ == "__main__":`. The tests
    are then run against the solution in the sandbox like any others. Helpers defined after the
    function belong to the solution; demo prints after it are dropped.
    """
    blocks = code_blocks(answer)
    found = None
    for i, block in enumerate(blocks):
        parts = split_function(block)
        if parts:
            found = (i, block, parts)
            break
    if found is None:
        return "no function with a docstring and body in the answer"
    i, block, (prompt, solution) = found
    tree = ast.parse(block)
    lines = block.splitlines()
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and ast.get_docstring(n) and len(n.body) > 1)  # fmt: skip
    after = tree.body[tree.body.index(func) + 1 :]
    helpers = [n for n in after if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not _is_test_def(n)]  # fmt: skip
    testing = [
        n for n in after if n not in helpers and (_has_assert(n) or _is_test_def(n) or _is_main_guard(n))
    ]
    if helpers:
        solution = (
            solution.rstrip("\n")
            + "\n\n\n"
            + "\n\n".join(_segment(lines, n).rstrip("\n") for n in helpers)
            + "\n"
        )
    # Setup statements around the asserts (`data = [...]`) stay with the tests; demo prints do not.
    if testing:
        testing = [n for n in after if n not in helpers and not _is_demo_print(n)]
    tests, funcs = _tests_of(block, testing)
    parts = [tests] if tests.strip() else []
    for later in blocks[i + 1 :]:
        got = _test_block(later)
        if got:
            parts.append(got[0])
            funcs += got[1]
    code = "\n".join(p.rstrip("\n") for p in parts)
    called = {n.func.id for n in ast.walk(ast.parse(code or "pass")) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}  # fmt: skip
    calls = [f"{name}()" for name in dict.fromkeys(funcs) if name not in called]
    code = "\n".join([code, *calls]).strip("\n")
    if not code or "assert" not in code:
        return "no tests with assert statements in the answer"
    return prompt, solution, code + "\n"


def _is_demo_print(node: ast.stmt) -> bool:
    """`print(...)` at top level: a demo, not a test (it would only clutter the sandbox output)."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "print"
        and not _has_assert(node)
    )


def check_syntax(ex: Exercise) -> tuple[bool, str]:
    try:
        ast.parse(ex.program())
    except SyntaxError as e:
        return False, f"syntax error: {e.msg} (line {e.lineno})"
    if "assert" not in ex.tests and "doctest" not in ex.tests:
        return False, "tests contain no assertion"
    return True, ""


def verify_in_sandbox(
    exercises: Sequence[Exercise], sandbox, progress: bool = False
) -> list[tuple[bool, str]]:
    """Run each exercise's solution against its tests in `phi_lab.sandbox.Sandbox`; (keep, reason)."""
    verdicts: list[tuple[bool, str] | None] = [None] * len(exercises)
    runnable = []
    for i, ex in enumerate(exercises):
        ok, why = check_syntax(ex)
        if ok:
            runnable.append(i)
        else:
            verdicts[i] = (False, why)
    results = (
        sandbox.run_many([exercises[i].program() for i in runnable], progress=progress) if runnable else []
    )
    for i, res in zip(runnable, results):
        if res.passed:
            verdicts[i] = (True, "")
        else:
            tail = (res.stderr or res.detail or "").strip().splitlines()
            verdicts[i] = (False, f"sandbox {res.outcome}: {tail[-1][:200] if tail else res.detail}")
    return verdicts  # type: ignore[return-value]


# ---- deduplication ------------------------------------------------------------------------------
def normalize_for_dedup(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def shingles(text: str, n: int = 5) -> set[bytes]:
    toks = re.findall(r"\w+|[^\w\s]", text.lower())
    if len(toks) < n:
        return {" ".join(toks).encode()}
    return {" ".join(toks[i : i + n]).encode() for i in range(len(toks) - n + 1)}


@dataclass
class Deduplicator:
    """Exact (normalized hash) and MinHash-LSH near-duplicate removal, streaming and stateful.

    `check(key_text)` returns (True, "") for a new item (and remembers it) or (False, reason).
    Re-feed kept items with `add` when resuming so a restarted run dedups against its past.
    """

    threshold: float = 0.85
    num_perm: int = 64
    ngram: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1], got {self.threshold}")
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        self._exact: dict[int, str] = {}
        self._n = 0

    def _minhash(self, text: str):
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=1)
        m.update_batch(list(shingles(text, self.ngram)))
        return m

    def check(self, text: str, item_id: str) -> tuple[bool, str]:
        h = hash(normalize_for_dedup(text))
        if h in self._exact:
            return False, f"exact duplicate of {self._exact[h]}"
        mh = self._minhash(text)
        near = self._lsh.query(mh)
        if near:
            return (
                False,
                f"near duplicate (MinHash Jaccard >= {self.threshold}) of {sorted(near)[0].split('#')[0]}",
            )
        self._insert(text, item_id, h, mh)
        return True, ""

    def add(self, text: str, item_id: str) -> None:
        h = hash(normalize_for_dedup(text))
        if h not in self._exact:
            self._insert(text, item_id, h, self._minhash(text))

    def _insert(self, text: str, item_id: str, h: int, mh) -> None:
        self._exact[h] = item_id
        key = f"{item_id}#{self._n}"  # LSH keys must be unique even if ids repeat
        self._n += 1
        self._lsh.insert(key, mh)
