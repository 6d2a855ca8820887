"""The harness's own wrapper around one untrusted sample (run as a script by `phi_lab.sandbox`).

Runs with `python -I -S`, stdlib only, and never imports phi_lab. Process layout:

    supervisor (this script; pid 1 of a fresh pid namespace when namespaces are available)
      ├─ reads the nonce from an inherited pipe, makes the filesystem read-only except the sample's
      │  temporary directory, then forks
      └─ sample process: drops to an unprivileged uid, applies rlimits, execs the sample, and writes
         `P<nonce>` on the verdict pipe only if the sample ran to its end without raising.

The supervisor stays privileged so the sample can neither signal it nor undo the mounts; when it exits,
the kernel kills everything left in its pid namespace. Its exit code encodes the sample's wait status
(code, or 128 + signal).
"""

import os
import sys

# Captured before the sample runs, so a sample that patches `os` cannot change what the wrapper calls.
_write, _exit, _close = os.write, os._exit, os.close

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
_FLAG_NAMES = {
    "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME,
}


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and i + 3 < len(path) and path[i + 1 : i + 4].isdigit():
            out.append(chr(int(path[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def _closed_ancestor(path: str) -> str | None:
    """The top-most ancestor of `path` that other users cannot traverse (e.g. /root), if any."""
    parts = os.path.abspath(path).split("/")[1:]
    for i in range(1, len(parts) + 1):
        prefix = "/" + "/".join(parts[:i])
        try:
            if not os.stat(prefix).st_mode & 0o001:
                return prefix
        except OSError:
            return None
    return None


def make_readonly(keep_writable: str, expose: list[str]) -> None:
    """In a private mount namespace: every mount read-only except `keep_writable` (a bind mount).

    An interpreter installed under a directory the sample's uid cannot enter (pyenv under /root) is
    exposed by hiding that directory behind an empty tmpfs and binding only the interpreter back in,
    so the rest of it (keys, histories) stays invisible.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]

    def mount(src, target, flags, fstype=None, data=None):
        if libc.mount(src, target.encode(), fstype, flags, data) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount({target}): {os.strerror(err)}")

    mount(None, "/", MS_REC | MS_PRIVATE)
    mount(keep_writable.encode(), keep_writable, MS_BIND)
    hidden: dict[str, list[str]] = {}
    for path in expose:
        top = _closed_ancestor(path)
        if top is not None and top != path and os.path.isdir(path):
            hidden.setdefault(top, []).append(path)
    for top, paths in hidden.items():
        stages = []
        for i, path in enumerate(paths):
            stage = os.path.join(keep_writable, f".expose{i}")
            os.mkdir(stage)
            mount(path.encode(), stage, MS_BIND | MS_REC)
            stages.append(stage)
        mount(b"tmpfs", top, 0, b"tmpfs", b"mode=0755,size=64k")
        for stage, path in zip(stages, paths):
            os.makedirs(path, exist_ok=True)
            mount(stage.encode(), path, 8192)  # MS_MOVE
            os.rmdir(stage)
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        target, options = _unescape(fields[4]), fields[5].split(",")
        if target == keep_writable or target == "/proc" or target.startswith("/proc/"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in options:
            flags |= _FLAG_NAMES.get(opt, 0)
        # Over-mounted or vanished mount points cannot be remounted; anything that stays writable
        # under them is still owned by root, and the sample runs unprivileged.
        try:
            mount(None, target, flags)
        except OSError:
            continue


def run_sample(cfg: dict, nonce: bytes, vfd: int) -> None:
    """The sample process: never returns."""
    import resource

    try:
        os.chdir(cfg["tmpdir"])
        uid = cfg.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        limits = {
            resource.RLIMIT_AS: cfg["memory_bytes"],
            resource.RLIMIT_CPU: cfg["cpu_seconds"],
            resource.RLIMIT_FSIZE: cfg["fsize_bytes"],
            resource.RLIMIT_NOFILE: cfg["nofile"],
            resource.RLIMIT_CORE: 0,
        }
        if uid is not None:  # RLIMIT_NPROC counts per uid and is ignored for root
            limits[resource.RLIMIT_NPROC] = cfg["nproc"]
        for key, value in limits.items():
            _soft, hard = resource.getrlimit(key)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(key, (value, value))
        with open(cfg["program"], encoding="utf-8") as f:
            source = f.read()
    except BaseException as e:
        _write(vfd, b"E sandbox setup failed: " + repr(e).encode()[:500])
        _exit(3)

    try:
        code = compile(source, "<sample>", "exec")
    except BaseException as e:  # SyntaxError, ValueError (null bytes), MemoryError, RecursionError
        _write(vfd, f"S {type(e).__name__}: {e}".encode()[:1000])
        _exit(1)
    del source
    sample_globals = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(code, sample_globals)
        sys.stdout.flush()
        sys.stderr.flush()
    except MemoryError:
        _write(vfd, b"M MemoryError")
        _exit(1)
    except BaseException as e:  # SystemExit and KeyboardInterrupt are failures too
        try:
            msg = f"F {type(e).__name__}: {e}"
            _print_traceback(e, msg[2:])
        except BaseException:
            msg = "F exception"
        _write(vfd, msg.encode("utf-8", "replace")[:1000])
        _exit(1)
    # The program ran to its end: only now does the nonce leave this process. Lingering threads,
    # atexit handlers and excepthooks never run: we leave with _exit straight away.
    _write(vfd, b"P" + nonce)
    _exit(0)


def _print_traceback(e: BaseException, last: str) -> None:
    """A traceback without importing `traceback` (its imports cost more than most samples run)."""
    lines = ["Traceback (most recent call last):\n"]
    tb = e.__traceback__.tb_next if e.__traceback__ else None  # skip this wrapper's frame
    while tb is not None:
        code = tb.tb_frame.f_code
        lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}\n')
        tb = tb.tb_next
    sys.stderr.write("".join(lines) + last + "\n")
    sys.stderr.flush()


def _parse_config(argv: list[str]) -> dict:
    """key=value arguments (json would import `re` and friends: tens of ms per sample)."""
    cfg: dict = {"expose": []}
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "expose":
            cfg["expose"].append(value)
        elif key in ("mode", "tmpdir", "program"):
            cfg[key] = value
        else:
            cfg[key] = None if value == "" else int(value)
    return cfg


def _kill_uid(uid: int) -> None:
    """Kill every process of the sandbox uid (kill(-1) from that uid reaches exactly those)."""
    import signal

    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            _exit(0)
    os.waitpid(pid, 0)


def _kill_descendants() -> None:
    """SIGKILL every descendant (orphans included: we are their subreaper) and reap them."""
    import signal

    me = os.getpid()
    for _ in range(50):
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        stack, found = [me], []
        while stack:
            for child in children.get(stack.pop(), []):
                found.append(child)
                stack.append(child)
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


def main() -> None:
    cfg = _parse_config(sys.argv[1:])
    nonce = os.read(cfg["nonce_fd"], 256)
    _close(cfg["nonce_fd"])
    vfd = cfg["verdict_fd"]
    if cfg["mode"] == "namespaces":
        try:
            make_readonly(cfg["tmpdir"], cfg.get("expose", []))
        except OSError as e:
            _write(vfd, f"E read-only filesystem setup failed: {e}".encode())
            _exit(3)
    elif sys.platform.startswith("linux"):
        import ctypes

        # Without a pid namespace, orphaned descendants reparent to us so the sweep below finds them.
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    pid = os.fork()
    if pid == 0:
        run_sample(cfg, nonce, vfd)
    _close(vfd)
    del nonce
    _, status = os.waitpid(pid, 0)
    if cfg["mode"] != "namespaces":
        if cfg.get("uid") is not None:
            _kill_uid(cfg["uid"])
        _kill_descendants()
    code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    _exit(code)


if __name__ == "__main__":
    main()
