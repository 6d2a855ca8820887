"""The sandbox against hostile samples: every attack in issue #4 must read as the right outcome,
and nothing may outlive a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings

import pytest

from phi_lab.sandbox import CheckedSolution, Sandbox, SandboxResult, detect_isolation
from phi_lab.sandbox.isolation import base_env

NAMESPACES = detect_isolation().startswith("namespaces")
needs_ns = pytest.mark.skipif(not NAMESPACES, reason="kernel namespaces not permitted here")


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return Sandbox(timeout=1.0, memory_mb=512, workers=2)


@pytest.fixture(scope="module")
def sb_limits() -> Sandbox:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Sandbox(timeout=1.0, memory_mb=512, workers=2, isolation="limits", allow_unisolated=True)


def run(sb: Sandbox, src: str) -> SandboxResult:
    return sb.run(textwrap.dedent(src))


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _processes_of_uids(lo: int, hi: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    uid_line = next(line for line in f if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if lo <= int(uid_line.split()[1]) < hi:
                found.append(int(entry))
    return found


def test_outcomes_and_result_fields(sb):
    ok = run(sb, "x = 2\nassert x * 2 == 4\nprint('hello')\n")
    assert ok.outcome == "passed" and ok.passed and ok.stdout == "hello\n"
    assert ok.isolation == sb.isolation and ok.duration_s > 0
    bad = run(sb, "assert 1 == 2, 'nope'")
    assert bad.outcome == "failed" and not bad.passed and "AssertionError: nope" in bad.detail
    assert "AssertionError" in bad.stderr
    syn = run(sb, "def f(:\n  pass")
    assert syn.outcome == "error" and "SyntaxError" in syn.detail


@pytest.mark.parametrize(
    "name,src",
    [
        ("os._exit(0)", "import os\nos._exit(0)\nassert False"),
        ("sys.exit(0)", "import sys\nsys.exit(0)"),
        ("exit()", "exit(0)"),
        ("atexit", "import atexit, os\natexit.register(lambda: os._exit(0))\nassert False"),
        ("excepthook", "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\nraise ValueError"),
        (
            "non-daemon thread exits 0 later",
            "import threading, time, os\n"
            "threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()\nassert False",
        ),
        ("KeyboardInterrupt", "raise KeyboardInterrupt"),
        (
            "forged verdict on every fd",
            "import os\nfor fd in range(3, 64):\n"
            "    try: os.write(fd, b'P' + b'0' * 64)\n    except OSError: pass\nos._exit(0)",
        ),
        ("printed pass", "print('passed')\nprint('P')\nimport os\nos._exit(0)"),
    ],
)
def test_exit_tricks_never_pass(sb, name, src):
    res = sb.run(src)
    assert res.outcome == "failed", (name, res)
    assert not res.passed


def test_lingering_thread_after_a_real_pass_does_not_hang(sb):
    t0 = time.monotonic()
    res = run(sb, "import threading, time\nthreading.Thread(target=time.sleep, args=(100,)).start()\n")
    assert res.outcome == "passed"
    assert time.monotonic() - t0 < 1.0


def test_ignoring_sigterm_and_sigalrm_changes_nothing(sb):
    t0 = time.monotonic()
    res = run(
        sb,
        """
        import signal, time
        for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while True:
            pass
        """,
    )
    assert res.outcome == "timeout"
    assert time.monotonic() - t0 < sb.timeout + 2.0


@pytest.mark.parametrize("fixture", ["sb", "sb_limits"])
@pytest.mark.parametrize("main_body", ["pass", "import time\ntime.sleep(30)"])
def test_setsid_grandchild_is_killed(request, fixture, main_body):
    box = request.getfixturevalue(fixture)
    marker = f"{time.time_ns() % 10**6 + 1000}.4242"
    res = box.run(
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "os.wait()\nimport time\ntime.sleep(0.2)\n" + main_body + "\n"
    )
    assert res.outcome == ("passed" if main_body == "pass" else "timeout"), res
    assert res.isolation == box.isolation
    time.sleep(0.05)
    assert _processes_with(f"sleep\0{marker}") == []


def test_fork_bomb_is_bounded_and_cleaned_up(sb):
    t0 = time.monotonic()
    res = run(
        sb,
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
    )
    assert res.outcome in ("timeout", "failed", "error")
    assert time.monotonic() - t0 < sb.timeout + 5.0
    time.sleep(0.1)
    assert _processes_of_uids(sb._uid_base, sb._uid_base + 256) == []


def test_killing_parent_and_process_group_loses_no_other_result(sb):
    killers = [
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.killpg(0, signal.SIGKILL)\n",
        "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
        "import ctypes\nctypes.string_at(0)\n",  # segfault
    ]
    good = "import time\ntime.sleep(0.3)\nassert sum(range(10)) == 45\n"
    programs = [good, *killers, good, good, "assert False"]
    results = sb.run_many(programs)
    assert [r.passed for r in results] == [True, False, False, False, True, True, False]
    assert results[3].outcome == "error" and "SIGSEGV" in results[3].detail


def test_printing_gigabytes_is_capped_and_killed(sb):
    t0 = time.monotonic()
    res = run(
        sb, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n    sys.stderr.write('y' * 65536)\n"
    )
    assert res.outcome == "timeout"
    assert len(res.stdout) == sb.max_output_bytes and len(res.stderr) == sb.max_output_bytes
    assert time.monotonic() - t0 < sb.timeout + 2.0


def test_memory_hog_is_oom(sb):
    assert run(sb, "x = bytearray(2 * 1024**3)").outcome == "oom"
    assert run(sb, "x = []\nwhile True:\n    x.append(' ' * 10**7)").outcome == "oom"


def test_file_size_limit(sb):
    box = Sandbox(timeout=2.0, memory_mb=512, max_file_mb=1)
    res = box.run("with open('big', 'wb') as f:\n    f.write(b'x' * (3 * 1024 * 1024))\n")
    assert res.outcome in ("error", "failed") and not res.passed


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(e.decode().partition("=")[::2] for e in f.read().split(b"\0") if e)


def _children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _alive_child(int(p), pid)]


def _alive_child(pid: int, parent: int) -> bool:
    try:
        return _parent_of(pid) == parent
    except OSError:
        return False


@pytest.mark.parametrize("fixture", ["sb", "sb_limits"])
def test_the_environment_is_an_allow_list_in_every_mode(request, fixture, monkeypatch):
    box = request.getfixturevalue(fixture)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-super-secret-0123")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_0123")
    monkeypatch.setenv("PYTHONPATH", "/the/harness/path")
    res = run(
        box,
        "import json, os\nprint(json.dumps(sorted(os.environ)))\n"
        "try:\n    print(open('/proc/self/environ').read())\nexcept PermissionError:\n    print('unreadable')\n",
    )
    assert res.outcome == "passed", res
    keys, initial = res.stdout.splitlines()
    assert json.loads(keys) == sorted({*base_env(), "HOME", "TMPDIR"})
    # What the process started with (what another process could read of it): the servers' allow-list.
    # A sample that dropped to its own uid is not dumpable: not even it may read that.
    started = dict(e.partition("=")[::2] for e in initial.split("\0") if e)
    assert started == base_env() or (initial == "unreadable" and box.isolation == "namespaces-root")
    assert "secret" not in res.stdout and "harness" not in res.stdout
    # What the fork servers (and their launchers) and the checkers started with: the allow-list only.
    assert box.run(CheckedSolution("def f():\n    return 1\n", "assert f() == 1\n")).passed
    helpers = [s.proc.pid for s in box._servers] + [s.checker.proc.pid for s in box._servers if s.checker]
    helpers += [c for s in box._servers for c in _children(s.proc.pid)]  # the server under its launcher
    assert len(helpers) >= 2
    assert all(_environ(pid) == base_env() for pid in helpers)


def test_fresh_temporary_working_directory(sb):
    first = run(sb, "import os\nopen('mine.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run(sb, "import os\nassert not os.path.exists('mine.txt')\nprint(os.getcwd())")
    assert first.passed and second.passed
    assert first.stdout != second.stdout
    assert not os.path.exists(first.stdout.strip())  # removed after the run


@needs_ns
def test_filesystem_is_read_only_outside_the_temp_dir(sb):
    # A world-writable directory: only the read-only mount can stop the write.
    shared = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(shared, 0o777)
        target = os.path.join(shared, "pwned")
        res = sb.run(f"open({target!r}, 'w').write('x')")
        assert res.outcome == "failed" and "No such file or directory" in res.detail  # not in the view
        assert not os.path.exists(target)
        res = sb.run("open('/tmp/pwned', 'w').write('x')")
        assert res.outcome == "failed" and "Read-only file system" in res.detail
    finally:
        shutil.rmtree(shared)
    res = sb.run("import os\nos.mkdir('sub')\nopen('sub/f', 'w').write('ok')\n")
    assert res.passed


@needs_ns
def test_no_network_and_private_pid_namespace(sb):
    res = run(
        sb,
        """
        import os, socket
        try:
            socket.create_connection(('127.0.0.1', 22), timeout=0.5)
            raise SystemExit('connected')
        except OSError:
            pass
        pids = [p for p in os.listdir('/proc') if p.isdigit()]
        assert len(pids) <= 3, pids
        assert os.getuid() != 0
        """,
    )
    assert res.outcome == "passed", res
    assert res.isolation == sb.isolation and res.isolation.startswith("namespaces")


def test_limits_fallback_warns_and_records_isolation():
    with pytest.warns(RuntimeWarning, match="no kernel isolation"):
        box = Sandbox(timeout=1.0, memory_mb=512, isolation="limits", allow_unisolated=True)
    res = box.run("print('hi')")
    assert res.passed and res.isolation == "limits"
    assert box.run("import os\nos._exit(0)").outcome == "failed"


def test_run_many_keeps_input_order(sb):
    programs = [f"import time\ntime.sleep({0.05 * (6 - i)})\nassert {i} % 2 == 0" for i in range(6)]
    results = sb.run_many(programs)
    assert [r.passed for r in results] == [True, False, True, False, True, False]


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="timeout"):
        Sandbox(timeout=0)
    with pytest.raises(ValueError, match="isolation"):
        Sandbox(isolation="docker")
    with pytest.raises(ValueError, match="workers"):
        Sandbox(workers=0)


def test_no_sandbox_process_outlives_the_runs(sb, sb_limits):
    # Runs last in this module: every uid the sandboxes handed out must have no process left.
    time.sleep(0.1)
    assert _processes_of_uids(sb._uid_base, sb._uid_base + 256) == []
    assert _processes_of_uids(sb_limits._uid_base, sb_limits._uid_base + 256) == []


# -- the fork server ----------------------------------------------------------------------------------
def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def _wait_for(predicate, timeout: float = 5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def test_server_survives_hostile_samples_and_each_sample_is_a_fresh_fork():
    with Sandbox(timeout=1.0, memory_mb=512, workers=1) as box:
        assert box.run("pass").passed
        servers = box._server_pids()
        hostile = [
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
            "import os, signal\nos.killpg(0, signal.SIGKILL)\n",
            "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
            "import os, signal\nos.kill(1, signal.SIGKILL)\nos.kill(1, signal.SIGTERM)\n",
            "import ctypes\nctypes.string_at(0)\n",
            # state a later sample could trip over, if samples shared a process
            "import math, builtins, sys\nmath.pi = 3\nbuiltins.len = None\nsys.modules['json'] = None\n",
        ]
        for src in hostile:
            box.run(src)
        res = box.run("import math, json\nassert math.pi > 3.14 and len([1]) == 1\n")
        assert res.passed, res
        assert box._server_pids() == servers  # the same server, never restarted
    assert _wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in servers))  # closed: gone


def test_crashed_server_is_replaced_without_losing_other_results():
    marker = f"{time.time_ns() % 10**6 + 1000}.4343"
    victim = f"import os\nos.execv('/bin/sleep', ['sleep', '{marker}'])\n"
    quick = [f"import time\ntime.sleep(0.05)\nassert {i} % 2 == 0\n" for i in range(8)]
    with Sandbox(timeout=10.0, memory_mb=512, workers=2) as box:
        killed = []

        def kill_victims_server():
            pids = _wait_for(lambda: _processes_with(f"sleep\0{marker}"))
            server = _parent_of(pids[0])  # the sample's process is a child of its server
            os.kill(server, signal.SIGKILL)
            killed.append(server)

        killer = threading.Thread(target=kill_victims_server)
        killer.start()
        t0 = time.monotonic()
        results = box.run_many([victim, *quick])
        killer.join()
        assert killed and time.monotonic() - t0 < 5.0  # not the 10 s timeout
        assert results[0].outcome == "error" and "fork server died" in results[0].detail
        assert [r.passed for r in results[1:]] == [i % 2 == 0 for i in range(8)]
        assert _wait_for(lambda: _processes_with(f"sleep\0{marker}") == [])
        assert all(r.passed for r in box.run_many(["pass"] * 4))  # a new server took over


def test_nothing_outlives_a_killed_harness(tmp_path):
    marker = f"{time.time_ns() % 10**6 + 1000}.4444"
    script = textwrap.dedent(
        f"""
        import sys, threading, time
        from phi_lab.sandbox import Sandbox
        box = Sandbox(timeout=30.0, memory_mb=512, workers=1)
        threading.Thread(target=box.run, args=("import os\\nos.execv('/bin/sleep', ['sleep', '{marker}'])",),
                         daemon=True).start()
        while not box._server_pids():
            time.sleep(0.01)
        print(*box._server_pids(), flush=True)
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
        servers = [int(p) for p in harness.stdout.readline().split()]
        assert servers and _wait_for(lambda: _processes_with(f"sleep\0{marker}"))
        with open(f"/proc/{servers[0]}/cmdline", "rb") as f:
            root = next(a[5:].decode() for a in f.read().split(b"\0") if a.startswith(b"root="))
        assert os.path.isdir(root)
    finally:
        harness.kill()
        harness.wait()
    assert _wait_for(lambda: _processes_with(f"sleep\0{marker}") == [])
    assert _wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in servers))
    assert _wait_for(lambda: not os.path.exists(root))  # the server's directory is gone too


@needs_ns
def test_working_directory_is_a_private_capped_tmpfs():
    box = Sandbox(timeout=5.0, memory_mb=512, workers=1, max_file_mb=1)  # tmpfs cap: 64 MiB
    res = box.run(
        "import os\n"
        "assert os.listdir('.') == [] and os.environ['TMPDIR'] == os.getcwd()\n"
        "for i in range(80):\n"
        "    with open(f'f{i}', 'wb') as f:\n"
        "        f.write(b'x' * (1024 * 1024 - 1))\n"
    )
    assert res.outcome == "failed" and "No space left on device" in res.detail, res
    box.close()


def test_a_samples_directory_is_removed_before_the_next_sample():
    with Sandbox(timeout=5.0, memory_mb=512, workers=1) as box:
        deep = box.run(  # deeper than shutil.rmtree's recursion can go
            "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\nopen('f', 'w').write('x')\n"
        )
        assert deep.passed, deep
        servers = box._server_pids()
        res = box.run(
            "import os\nassert os.listdir(os.path.dirname(os.getcwd())) == [os.path.basename(os.getcwd())]"
        )
        assert res.passed, res  # only its own directory: the previous one is gone
        assert box._server_pids() == servers


def test_a_forked_copy_of_a_sandbox_uses_its_own_servers():
    with Sandbox(timeout=2.0, memory_mb=512, workers=1) as box:
        assert box.run("pass").passed
        servers = box._server_pids()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child must neither use nor tear down the parent's servers
            try:
                ok = box.run("print('child')").stdout == "child\n" and box._server_pids() != servers
                box.close()
                os.write(w, b"ok" if ok else b"bad")
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        assert os.read(r, 8) == b"ok"
        os.close(r)
        assert box.run("pass").passed and box._server_pids() == servers
