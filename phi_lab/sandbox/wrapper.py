"""What runs inside the sandbox, forked from the fork server (`phi_lab/sandbox/server.py`).

Stdlib only, never imports phi_lab. Process layout with kernel isolation (`namespaces` describes the
two kinds and the filesystem view):

    launcher (the harness's uid; with "namespaces-user" root of a user namespace of its own): unshares
      │              a pid namespace and forks:
      └─ server: pid 1 of that pid namespace (long-lived, dies with the launcher), in a mount
           │       namespace whose `/` is the samples' view and a network namespace with no interface up
           └─ P, one per sample, forked ahead of time: enters a fresh IPC namespace (and with
              "namespaces-user" a fresh user namespace, giving up every capability), makes its working
              directory, drops to its unprivileged uid ("namespaces-root"), applies rlimits, then either
              runs the program and writes `P<nonce>` on the verdict pipe only if it ran to its end
              without raising, or (`start_checked`) serves the solution to the trusted checker, which
              alone holds the verdict pipe.

The server is its namespace's init, so a sample cannot kill it (init ignores signals it has no
handler for, and the server has none), and it keeps privileges the samples lack, so a sample can
neither trace it nor change a mount. After every sample (finished or killed) the server SIGKILLs
every other process of its namespace and reaps until none is left, so nothing a sample started
(`setsid` or not) outlives it, then empties the samples' tmpfs: the next sample starts from a fresh
fork, alone. If the server dies, the kernel kills everything in its namespace. With isolation
"limits" there is no namespace: the server is a subreaper that sweeps every descendant (and the
sample's uid) after each sample.
"""

import contextlib
import os
import select
import sys

try:
    from . import namespaces as ns  # imported as phi_lab.sandbox.wrapper (the harness: `kill_uid`)
except ImportError:
    import namespaces as ns  # loaded by the fork server from this directory

# Captured before any sample runs, so a sample that patches `os` cannot change what the wrapper calls.
_write, _exit, _close = os.write, os._exit, os.close

# Each sample unshares these for itself: SysV IPC objects outlive their processes, so every sample
# gets a fresh IPC namespace. The pid, mount and network namespaces are the server's: nothing of a
# sample survives the server's sweep and the emptying of its tmpfs, and a sample can change nothing in
# the server's empty network namespace (no interface is up, bringing one up needs CAP_NET_ADMIN there,
# and its sysctls are read-only); a fresh one per sample would cost ~0.7 ms for nothing.
SAMPLE_NAMESPACES = ns.CLONE_NEWIPC
SERVER_NAMESPACES = ns.CLONE_NEWNS | ns.CLONE_NEWNET
HELPER_NICE = -5  # fork servers and checkers (root only; elsewhere they stay at 0 like the samples)


def prepare_sample(mode: str) -> None:
    """In a child the server forked ahead of its sample: the sample's own namespaces (before the job
    arrives, so it costs the sample nothing). Nothing here depends on the job."""
    if mode == "namespaces-user":
        # The server is root of its user namespace, mapped to the harness's uid: the sample becomes
        # SAMPLE_UID of a namespace of its own (the same host uid, so RLIMIT_NPROC counts it alone).
        ns.enter_user_namespace(ns.SAMPLE_UID, SAMPLE_NAMESPACES)
    elif mode == "namespaces-root":
        ns.unshare(SAMPLE_NAMESPACES)


def _check_prepared(cfg: dict) -> None:
    if cfg.get("setup_error"):  # `prepare_sample` failed: the sample must not run half-isolated
        raise OSError(f"preparing the sample's namespaces: {cfg['setup_error']}")


def _make_workdir(cfg: dict) -> None:
    """The sample's fresh working directory, owned by its uid (the server empties the samples' tmpfs
    afterwards). With namespaces it lives on the server's private, size-capped tmpfs, the only
    writable place in a view that is read-only everywhere else."""
    os.mkdir(cfg["workdir"], 0o700)
    uid = cfg.get("uid")
    if uid is not None:
        os.chown(cfg["workdir"], uid, uid)
    cfg["env"].update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])


def remove_tree(path: str) -> bool:
    """Remove what a sample left in its working directory; False if something is still there."""
    import shutil

    try:
        shutil.rmtree(path)
    except BaseException:  # e.g. RecursionError on a directory chain thousands deep
        try:
            import subprocess

            subprocess.run(["rm", "-rf", "--one-file-system", "--", path], timeout=60, capture_output=True)
        except BaseException:
            pass
    return not os.path.lexists(path)


def empty_dir(path: str) -> bool:
    """Remove everything in the samples' directory (a sample may have written beside its own working
    directory: with "namespaces-user" it has the directory owner's uid); False if something is left."""
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return all([remove_tree(os.path.join(path, name)) for name in entries])


# -- waiting -----------------------------------------------------------------------------------------
def wait_child_or_fd(pid: int, fd: int):
    """Wait until child `pid` exits (-> its wait status) or `fd` turns readable/hung up (-> None)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # kernels before 5.3: poll the child
        pidfd = -1
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            for ready, _ in poller.poll(None if pidfd >= 0 else 10):
                if ready == fd:
                    return None
    finally:
        if pidfd >= 0:
            _close(pidfd)


# -- the sample (P) -------------------------------------------------------------------------------------
def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def start_sample(cfg: dict, out_fd: int, err_fd: int, vfd: int, prog_fd: int, nonce_fd: int) -> None:
    """Forked from the server (in its namespaces already, see `prepare_sample`): confine, then run the
    sample. Never returns.

    Here the program itself decides whether it "ran to its end", so a program written against this
    harness can forge a pass; benchmark verdicts use `start_checked` instead."""
    try:
        os.setsid()
        cfg["source"] = _read_all(prog_fd)
        cfg["nonce"] = _read_all(nonce_fd).decode()
        # The server keeps every fd it hands over above 9, so these dup2s clobber nothing.
        null = os.open(os.devnull, os.O_RDONLY)
        for src, dst in ((null, 0), (out_fd, 1), (err_fd, 2), (vfd, 3)):  # stdio + verdict as fd 3
            os.dup2(src, dst)
        os.closerange(4, 1 << 16)  # the server's socket, the program's file and anything else
        _check_prepared(cfg)
        _make_workdir(cfg)
    except BaseException as e:
        _write(3, b"E sandbox setup failed: " + repr(e).encode()[:500])
        _exit(3)
    run_sample(cfg, 3)


def _confine(cfg: dict, uid, workdir: str) -> None:
    """Drop to `uid` (or every capability) and the ordinary priority, and apply the limits."""
    import resource
    import signal

    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(cfg["env"])
    os.chdir(workdir)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    own_userns = cfg.get("mode") == "namespaces-user"
    if own_userns:
        ns.drop_capabilities()  # the creator of the sample's user namespace held them all there
    else:  # no setuid program can give a sample more than it has (drop_capabilities sets this too)
        with contextlib.suppress(OSError):
            ns.prctl(ns.PR_SET_NO_NEW_PRIVS, 1)
    # Fork servers and checkers run at a higher priority (HELPER_NICE) so that samples spinning until
    # their wall clock runs out do not slow the bookkeeping of the others; a sample itself runs at the
    # ordinary priority, as it would anywhere else.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    limits = {
        resource.RLIMIT_AS: cfg["memory_bytes"],
        resource.RLIMIT_CPU: cfg["cpu_seconds"],
        resource.RLIMIT_FSIZE: cfg["fsize_bytes"],
        resource.RLIMIT_NOFILE: cfg["nofile"],
        resource.RLIMIT_CORE: 0,
    }
    # RLIMIT_NPROC counts the processes of one uid (in one user namespace) and is ignored for root:
    # it bounds a sample alone where the sample has a uid, or a user namespace, of its own.
    if uid is not None or own_userns:
        limits[resource.RLIMIT_NPROC] = cfg["nproc"]
    for key, value in limits.items():
        _soft, hard = resource.getrlimit(key)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(key, (value, value))


def run_sample(cfg: dict, vfd: int) -> None:
    """Process P: never returns."""
    nonce = cfg.pop("nonce").encode()
    try:
        _confine(cfg, cfg.get("uid"), cfg["workdir"])
        source = cfg.pop("source").decode("utf-8")
        sys.argv = ["<sample>"]
    except BaseException as e:
        _write(vfd, b"E sandbox setup failed: " + repr(e).encode()[:500])
        _exit(3)

    try:
        code = compile(source, "<sample>", "exec")
    except BaseException as e:  # SyntaxError, ValueError (null bytes), MemoryError, RecursionError
        _write(vfd, f"S {type(e).__name__}: {e}".encode()[:1000])
        _exit(1)
    del source, cfg
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


# -- a sample judged by trusted tests --------------------------------------------------------------------
def start_checked(cfg: dict, out_fd: int, err_fd: int, req_fd: int, prog_fd: int, resp_fd: int) -> None:
    """Forked from the server (in its namespaces already): confine, then serve the solution to the
    checker.

    The process gets stdio and the two ends of its connection to the checker (`rpc`), which
    runs outside this sandbox and alone writes the verdict: nothing here can forge it. Never returns.
    """
    try:
        os.setsid()
        if cfg.get("cpu") is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {cfg["cpu"]})  # the checker's CPU: cheap round trips
        source = _read_all(prog_fd).decode("utf-8")
        null = os.open(os.devnull, os.O_RDONLY)
        for src, dst in ((null, 0), (out_fd, 1), (err_fd, 2), (req_fd, 3), (resp_fd, 4)):
            os.dup2(src, dst)
        os.closerange(5, 1 << 16)
        _check_prepared(cfg)
        _make_workdir(cfg)
        _confine(cfg, cfg.get("uid"), cfg["workdir"])
        import rpc
    except BaseException as e:
        try:  # tell the checker, if the connection is already in place
            import rpc

            rpc.send(4, ["fail", "E", f"sandbox setup failed: {e!r}"[:500]])
        except BaseException:
            pass
        _exit(3)
    del cfg
    rpc.serve_candidate(source, 3, 4, _exit)
    _exit(3)


# -- sweeps: after every sample, nothing of it may be left --------------------------------------------
def sweep_namespace(sample_pid: int) -> int | None:
    """As init of the pid namespace: SIGKILL everything else in it and reap until nothing is left.

    kill(-1) from init reaches every process of the namespace, `setsid` or not, and a process with a
    SIGKILL pending cannot fork, so no child escapes. Orphans are reparented to init, so "no child
    left" means the namespace holds init alone. Returns the sample's wait status if reaped here.
    """
    import signal

    status = None
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if pid == sample_pid:
            status = st


def sweep_limits(uid: int | None) -> None:
    """Without a pid namespace: the sample's uid, then every descendant (we are their subreaper)."""
    if uid is not None:
        kill_uid(uid)
    kill_descendants()
    reap_exited()


def reap_exited() -> None:
    """Reap every child that has already exited, without waiting for the others."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def kill_uid(uid: int) -> None:
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


def kill_descendants() -> None:
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
        reap_exited()
