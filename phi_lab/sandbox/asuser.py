"""Run a command as an unprivileged user, from root: how the tests and `bench/sandbox_throughput.py`
exercise the sandbox as the researchers run it (no root), on machines where they are root (CI).

    python -m phi_lab.sandbox.asuser [--uid 65534] [--gid 65534] [--expose PATH]...
                                     [--no-user-namespaces] -- COMMAND [ARG]...

The command runs in a private mount namespace where the directories on the way to each `--expose`
path that the user could not traverse (a pyenv interpreter under /root, mode 700) are replaced by
an empty tmpfs holding only that path, so the user can run the interpreter and nothing else of them
becomes visible. The command gets exactly the caller's environment. `--no-user-namespaces` runs it
inside a user namespace whose limit on nested user namespaces is 0: what a kernel with unprivileged
user namespaces disabled looks like to the sandbox (its probe fails, isolation falls back to "limits").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from phi_lab.sandbox import namespaces as ns
from phi_lab.sandbox.isolation import closed_ancestor


def expose(paths: list[str]) -> None:
    """In this process's private mount namespace: make each path reachable for other users by hiding its
    closed ancestor behind an empty tmpfs and binding only the path back in."""
    hidden: dict[str, list[str]] = {}
    wanted = {os.path.abspath(p) for p in paths}
    for path in sorted(wanted):
        if any(path.startswith(other + "/") for other in wanted):
            continue  # inside another exposed path: bound with it
        top = closed_ancestor(path)
        if top is not None and top != path and os.path.isdir(path):
            hidden.setdefault(top, []).append(os.path.abspath(path))
    if not hidden:
        return
    stage_dir = tempfile.mkdtemp(prefix="phi-asuser-")
    try:
        for top, inner in hidden.items():
            stages = []
            for i, path in enumerate(inner):
                stage = os.path.join(stage_dir, str(i))
                os.mkdir(stage)
                ns.mount(path, stage, ns.MS_BIND | ns.MS_REC)
                stages.append(stage)
            ns.mount(b"tmpfs", top, 0, b"tmpfs", b"mode=0755,size=64k")
            for stage, path in zip(stages, inner):
                os.makedirs(path, exist_ok=True)
                ns.mount(stage, path, ns.MS_BIND | ns.MS_REC)
                ns.libc().umount2(stage.encode(), ns.MNT_DETACH)
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_limited_user_namespace() -> None:
    """Become root of a new user namespace mapping every id to itself, with no nested user namespace
    allowed. A process cannot map its own new namespace beyond itself, so a helper child does it."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    parent = os.getpid()
    helper = os.fork()
    if helper == 0:
        try:
            os.read(ready_r, 1)
            _write(f"/proc/{parent}/uid_map", "0 0 4294967295\n")
            _write(f"/proc/{parent}/gid_map", "0 0 4294967295\n")
            os.write(done_w, b"x")
        finally:
            os._exit(0)
    ns.unshare(ns.CLONE_NEWUSER)
    os.write(ready_w, b"x")
    if os.read(done_r, 1) != b"x":
        raise OSError("the helper could not map the user namespace")
    os.waitpid(helper, 0)
    _write("/proc/sys/user/max_user_namespaces", "0\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uid", type=int, default=65534)
    ap.add_argument("--gid", type=int, default=None, help="default: the uid")
    ap.add_argument("--expose", action="append", default=[], help="a path the user must reach")
    ap.add_argument("--no-user-namespaces", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given")
    if os.geteuid() != 0:
        ap.error("must run as root (it switches to --uid)")
    gid = args.uid if args.gid is None else args.gid
    if args.no_user_namespaces:
        _enter_limited_user_namespace()
    ns.unshare(ns.CLONE_NEWNS)
    ns.mount(None, "/", ns.MS_REC | ns.MS_PRIVATE)
    expose([*args.expose, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(args.uid)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
