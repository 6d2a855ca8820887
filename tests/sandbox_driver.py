"""The hostile suite as a script, so that the same attacks meet both kinds of kernel isolation: the
tests run it as root ("namespaces-root") and as `nobody` through `phi_lab.sandbox.asuser`
("namespaces-user"), and once more where user namespaces are disabled ("limits": the refusal).

    python sandbox_driver.py CONTEXT.json

CONTEXT (written by tests/test_sandbox_isolation.py) names what the attacks go after, all of it the
harness user's: a planted secret (in this process's environment and in a sibling process's), a mode-600
key file, ~/.netrc, a file to append to, the checker's own source, the working directory (holding a
marker file) and a TCP port on 127.0.0.1. Prints one JSON object on stdout: who ran, the isolation,
and per attack the sample's result and whether it was contained (with the reason when not).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings

import phi_lab
from phi_lab.sandbox import Sandbox, UnisolatedRefused, detect_isolation, isolation_reason

# name -> (program, expectation). Expectations: "contained" (the program asserts its own containment:
# it must pass), "fails" (it tries something that must not work: it must not pass); placeholders are
# filled from the context. Every result is also checked for the secret and the marker (see `check`).
ATTACKS: dict[str, tuple[str, str]] = {
    "scan /proc/*/environ": (
        "import os\nseen = []\nfor p in os.listdir('/proc'):\n    if p.isdigit() or p == 'self':\n"
        "        try:\n            seen.append(open(f'/proc/{{p}}/environ', 'rb').read().decode('latin-1'))\n"
        "        except OSError as e:\n            seen.append(f'{{p}}: {{type(e).__name__}}')\nprint(seen)\n",
        "contained",
    ),
    "see other processes": (
        "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nassert len(pids) <= 3, pids\n",
        "contained",
    ),
    "read the mode-600 key file": ("print(open({key_file!r}).read())\n", "fails"),
    "read ~/.netrc": ("print(open({netrc!r}).read())\n", "fails"),
    "append to a file of the harness user": ("open({append_file!r}, 'a').write('pwned')\n", "fails"),
    "append to the checker's source": (
        "open({checker_source!r}, 'a').write('\\nVERDICT = \"P\"\\n')\n",
        "fails",
    ),
    "read the checker's source": ("print(open({checker_source!r}).read())\n", "fails"),
    "list the harness's working directory": ("print(sorted(__import__('os').listdir({cwd!r})))\n", "fails"),
    "list the harness user's home": ("print(sorted(__import__('os').listdir({home!r})))\n", "fails"),
    "connect to 127.0.0.1": (
        "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'pwned')\n",
        "fails",
    ),
    "bring the loopback up, then connect": (
        "import fcntl, socket, struct\ns = socket.socket()\n"
        "try:\n    fcntl.ioctl(s, 0x8914, struct.pack('16sH22x', b'lo', 0x41))  # SIOCSIFFLAGS: UP|RUNNING\n"
        "except OSError as e:\n    print('ioctl', e)\n"
        "socket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'pwned')\n",
        "fails",
    ),
    "remount read-write, then write": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "for t in ('/', '/usr', '/etc', '/proc/sys'):\n"
        "    print(t, libc.mount(None, t.encode(), None, 32 | 4096, None), ctypes.get_errno())\n"
        "open('/usr/phi-sandbox-pwned', 'w').write('x')\n",
        "fails",
    ),
    "a user namespace of its own, then remount and unmount": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nuid, gid = os.geteuid(), os.getegid()\n"
        "if libc.unshare(0x10000000 | 0x20000) == 0:\n"
        "    for name, text in (('setgroups', 'deny'), ('uid_map', f'0 {{uid}} 1'), ('gid_map', f'0 {{gid}} 1')):\n"
        "        try:\n            open(f'/proc/self/{{name}}', 'w').write(text)\n"
        "        except OSError as e:\n            print(name, e)\n"
        "    for t in ('/', '/usr', '/etc', '/proc/sys'):\n"
        "        print('remount', t, libc.mount(None, t.encode(), None, 32 | 4096, None))\n"
        "    for t in ('/usr', '/etc', '/proc', '/'):\n        print('umount', t, libc.umount2(t.encode(), 2))\n"
        "    print(sorted(os.listdir('/')))\n"
        "for path in ({key_file!r}, {netrc!r}):\n"
        "    try:\n        print(open(path).read())\n    except OSError as e:\n        print(path, e)\n"
        "try:\n    print(os.listdir({cwd!r}))\nexcept OSError as e:\n    print(e)\n"
        "open('/usr/phi-sandbox-pwned', 'w').write('x')\n",
        "fails",
    ),
    "signal the fork server": (
        "import os, signal\n"
        "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP, signal.SIGKILL):\n"
        "    try:\n        os.kill(1, s)\n    except OSError as e:\n        print(s, e)\n",
        "contained",
    ),
    # With namespaces-user the fd numbers can be listed (a permission check on the same host uid),
    # never opened or resolved; everything else of the server is refused.
    "the fork server's environ, fds, root and memory": (
        "import os\nfds = os.listdir('/proc/1/fd') if os.access('/proc/1/fd', os.R_OK) else []\n"
        "paths = [f'/proc/1/fd/{{fd}}' for fd in fds] + ['/proc/1/' + n for n in "
        "('environ', 'mem', 'maps', 'root', 'cwd', 'exe', 'fdinfo/0')]\n"
        "for p in paths:\n    for how in (os.readlink, lambda p: os.open(p, os.O_RDONLY)):\n"
        "        try:\n            how(p)\n            raise SystemExit(f'reached {{p}}')\n"
        "        except PermissionError:\n            pass\n        except OSError as e:\n"
        "            assert e.errno == 22, (p, e)  # readlink of a file that is no link\n",
        "contained",
    ),
    "ptrace the fork server": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.ptrace(16, 1, 0, 0) == -1  # ATTACH\n",
        "contained",
    ),
    "write a network sysctl": ("open('/proc/sys/net/ipv4/ip_forward', 'w').write('1')\n", "fails"),
    "leave files for the next sample": (
        "import os\nup = os.path.dirname(os.getcwd())\nopen(os.path.join(up, 'planted'), 'w').write('x')\n"
        "os.mkdir(os.path.join(up, 'w99999'))\n",
        "any",
    ),
    # issue #4's attacks, in both modes
    "os._exit(0)": ("import os\nos._exit(0)\nassert False\n", "fails"),
    "atexit exits 0": ("import atexit, os\natexit.register(lambda: os._exit(0))\nassert False\n", "fails"),
    "forged verdict on every fd": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'P' + b'0' * 64)\n"
        "    except OSError:\n        pass\nos._exit(0)\n",
        "fails",
    ),
    "fork bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "fails",
    ),
    "setsid grandchild": (
        "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.execv('/bin/sleep', ['sleep', {marker!r}])\n    os._exit(0)\nos.wait()\n",
        "any",
    ),
    "kill everything it can": (
        "import os, signal\nos.kill(-1, signal.SIGKILL)\nos.killpg(0, signal.SIGKILL)\n",
        "fails",
    ),
    "memory hog": ("x = bytearray(2 * 1024**3)\n", "fails"),
}
# Run right after the attack of the same name: nothing of it may be left.
FOLLOW_UPS = {
    "leave files for the next sample": (
        "import os\nassert os.listdir(os.path.dirname(os.getcwd())) == [os.path.basename(os.getcwd())]\n"
    ),
    "signal the fork server": "assert sum(range(10)) == 45\n",
    "kill everything it can": "assert sum(range(10)) == 45\n",
}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


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


def check(name: str, expect: str, res, ctx: dict, before: dict) -> str | None:
    """Why the attack was not contained, or None."""
    seen = res.stdout + res.stderr + res.detail
    if ctx["secret"] in seen:
        return "the secret reached the sample"
    if ctx["cwd_marker"] in seen or ctx["home_marker"] in seen:
        return "the sample listed the harness user's directory"
    if expect == "contained" and not res.passed:
        return f"expected to pass, got {res.outcome}: {res.detail}"
    if expect == "fails" and res.passed:
        return "expected not to pass"
    for path, content in before.items():
        if _read(path) != content:
            return f"{path} changed"
    if os.path.exists("/usr/phi-sandbox-pwned"):
        return "wrote to the host's /usr"
    if name == "memory hog" and res.outcome != "oom":
        return f"expected oom, got {res.outcome}"
    return None


def hostile(ctx: dict) -> dict:
    sibling = subprocess.Popen(
        ["sleep", "120"], env={"PLANTED_TOKEN": ctx["secret"]}
    )  # another process of ours
    files = ("key_file", "netrc", "append_file", "checker_source")
    before = {ctx[k]: _read(ctx[k]) for k in files}
    with socket.create_connection(("127.0.0.1", ctx["port"]), timeout=2):
        pass  # the control: this process reaches the port, so a sample failing to is the namespace's doing
    out: dict = {"attacks": {}}
    try:
        allow = ctx.get("allow_unisolated", False)
        with Sandbox(timeout=2.0, memory_mb=512, workers=2, allow_unisolated=allow) as box:
            out["isolation"] = box.isolation
            for name, (template, expect) in ATTACKS.items():
                if name in ctx.get("skip", ()):
                    continue
                servers = box._server_pids()
                res = box.run(template.format(**ctx))
                why = check(name, expect, res, ctx, before)
                if why is None and name in FOLLOW_UPS:
                    follow = box.run(FOLLOW_UPS[name])
                    if not follow.passed:
                        why = f"the next sample failed: {follow.outcome} {follow.detail}"
                    elif servers and box._server_pids() != servers and name == "signal the fork server":
                        why = "the fork server was replaced"
                out["attacks"][name] = {"result": res.to_dict(), "contained": why is None, "why": why}
            if not ctx.get("skip"):
                out["checked"] = checked_attacks(box)
    finally:
        sibling.kill()
        sibling.wait()
    time.sleep(0.2)
    out["survivors"] = _processes_with(f"sleep\0{ctx['marker']}")
    return out


def checked_attacks(box: Sandbox) -> dict:
    """The forgeries of `phi_lab.evaluation.attacks` and every HumanEval canonical solution."""
    from phi_lab.benchmarks import humaneval_problems
    from phi_lab.evaluation.attacks import ATTACKS as FORGERIES

    he = humaneval_problems()
    forged = {name: box.run(he[task].checked(c)) for name, (task, c) in FORGERIES.items()}
    canonical = box.run_many([p.checked(p.canonical_solution) for p in he.values()])
    wrong = box.run_many([p.checked("    return None\n") for p in list(he.values())[:20]])
    return {
        "forged_passes": sorted(n for n, r in forged.items() if r.passed),
        "canonical_failing": [p for p, r in zip(he, canonical) if not r.passed],
        "wrong_passing": sum(r.passed for r in wrong),
        "decided_by": sorted({r.decided_by for r in canonical}),
        "isolation": sorted({r.isolation for r in canonical}),
    }


def refusal(ctx: dict) -> dict:
    """Where user namespaces are disabled: the refusal next to a secret, and the labels once allowed."""
    from phi_lab.benchmarks import humaneval_problems
    from phi_lab.evaluation.functional import evaluate_samples

    out: dict = {"isolation": detect_isolation(), "reason": isolation_reason()}
    try:
        Sandbox(timeout=2.0, memory_mb=512, workers=1)
        out["refused"] = None
    except UnisolatedRefused as e:
        out["refused"] = str(e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Sandbox(timeout=2.0, memory_mb=512, workers=1, allow_unisolated=True) as box:
            res = box.run("print('ran')\n")
            he = humaneval_problems()
            samples = [{"task_id": t, "completion": he[t].canonical_solution} for t in list(he)[:2]]
            rows, summary = evaluate_samples(samples, he, box)
    out.update(
        result=res.to_dict(),
        summary={k: summary[k] for k in ("isolation", "verdicts", "outcomes")},
        rows=[{k: r[k] for k in ("passed", "isolation", "decided_by")} for r in rows],
        warned=[str(w.message) for w in caught],
    )
    secret_names = [k for k, v in os.environ.items() if v == ctx["secret"]]
    for name in secret_names:
        del os.environ[name]
    try:
        with Sandbox(timeout=2.0, memory_mb=512, workers=1) as box:  # nothing to protect: runs
            out["without_secrets"] = box.run("pass\n").passed
    except UnisolatedRefused as e:
        out["without_secrets"] = str(e)
    return out


def main() -> None:
    with open(sys.argv[1]) as f:
        ctx = json.load(f)
    info = {"uid": os.getuid(), "phi_lab": phi_lab.__file__, "cwd": os.getcwd()}
    body = refusal(ctx) if ctx["mode"] == "refusal" else hostile(ctx)
    json.dump({**info, **body}, sys.stdout)


if __name__ == "__main__":
    main()
