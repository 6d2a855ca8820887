"""The sandbox's fork server (zygote): started once per worker by `phi_lab.sandbox`, it forks a fresh
process tree for every sample from an interpreter that is already running, so no sample pays for
interpreter start-up. Run as a script with `python -I -B [-S]`; stdlib only, never imports phi_lab.

Single-threaded by design (it forks). It speaks over one AF_UNIX SOCK_SEQPACKET socket, one sample at
a time:

    harness -> server   R key=value NUL key=value... + 5 fds: stdout, stderr and verdict pipes (write
                                                     ends), the program's text (a memfd) and a pipe
                                                     holding the verdict nonce (the server never reads
                                                     it, so no forked process inherits a copy)
    harness -> server   K<seq>                       (kill sample <seq>: its wall clock ran out)
    server  -> harness  X<seq> <exit code>           (nothing of the sample is left; code < 0: signal)

With kernel isolation ("namespaces-root", or "namespaces-user" for a harness that is not root: see
`namespaces`) the server is pid 1 of a pid namespace of its own, in a mount namespace whose `/` shows
the samples nothing but the system directories and the interpreter (read-only) and a private tmpfs for
their working directories, and in an empty network namespace; each sample is a fresh fork with its own
IPC namespace (and user namespace), and after each sample the server kills and reaps everything left
in its pid namespace and empties the samples' tmpfs (see `wrapper`). The launcher (the process the
harness started) stays outside; the server dies with it (PDEATHSIG), and everything in the namespace
dies with the server.
"""

import contextlib
import fcntl
import gc
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import namespaces as ns
import rpc  # noqa: F401  (loaded once here: every checked sample serves through it)
import wrapper as w

del sys.path[0]  # samples must not import the harness's package modules as top-level modules

# Stdlib modules most samples import (HumanEval prompts start with `from typing import List`): imported
# once here, every forked sample finds them loaded. Importing a module has no effect a sample could see.
_PRELOAD = (
    "typing",
    "re",
    "math",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "string",
    "bisect",
    "random",
    "hashlib",
    "fractions",
    "resource",
    "decimal",
    "statistics",
    "copy",
    "operator",
)


def _high(fd: int) -> int:
    """Move `fd` to a number >= 10 (close-on-exec), so the sample's init can dup2 onto 0..3 freely."""
    if fd >= 10:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def _parse(fields: list[str]) -> dict:
    cfg: dict = {"env": {}}
    for field in fields:
        key, _, value = field.partition("=")
        if key == "env":
            name, _, val = value.partition("=")
            cfg["env"][name] = val
        elif key in ("mode", "root"):
            cfg[key] = value
        else:
            cfg[key] = None if value == "" else int(value)
    return cfg


# The checkout (or site-packages) holding phi_lab: never in the samples' view (the checker's source is there).
_PACKAGE_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Server:
    def __init__(self, cfg: dict, ctrl: socket.socket):
        self.mode = cfg["mode"]
        self.namespaces = self.mode != "limits"
        self.root = cfg["root"]
        self.ctrl = ctrl
        self.retire = False
        self.warm: tuple[int, socket.socket] | None = None

    def serve_forever(self) -> None:
        for name in _PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
        # As init of a pid namespace the server gets only the signals it handles: none, so no sample
        # can interrupt it (Python's own SIGINT handler would be one).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.mode == "namespaces-user":
            ns.warm()  # every sample drops its capabilities: resolved once here, inherited by the forks
        gc.collect()
        gc.freeze()  # forked samples then leave the server's objects alone: fewer pages copied
        self.warm = self.prefork()
        self.ctrl.sendall(b"READY")
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.ctrl, 1 << 16, 5)
            except OSError:
                return
            if not msg:
                return  # the harness is gone
            if msg[:1] != b"R" or len(fds) != 5:
                for fd in fds:
                    os.close(fd)
                continue  # a late kill for a sample that already ended
            cfg = _parse(msg[1:].decode("utf-8", "surrogateescape").split("\0"))
            code = self.run_one(cfg, msg, fds)
            if code is None:
                return
            try:
                self.ctrl.sendall(b"X%d %d%s" % (cfg["seq"], code, b" retire" if self.retire else b""))
            except OSError:
                return
            if self.retire:
                return
            self.warm = self.prefork()  # while the harness reads the result and sends the next sample

    def prefork(self) -> tuple[int, socket.socket] | None:
        """A child forked ahead of its sample, waiting for it: the ~1.4 ms a fork of this process
        takes is spent while the harness is busy anyway. Forked only after the previous sample's
        sweep, so no sample ever shares the namespace with it. None if fork fails (run_one retries)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return None
        if pid == 0:
            try:
                ours.close()
                self.ctrl.close()  # the harness's socket is the server's alone
                try:
                    w.prepare_sample(self.mode)
                    error = ""
                except OSError as e:  # reported as the sample's setup failure once it arrives
                    error = repr(e)
                msg, fds, _flags, _addr = socket.recv_fds(theirs, 1 << 16, 5)
                if not msg or len(fds) != 5:
                    os._exit(0)  # the server is gone (or sent nonsense): nothing to run
                theirs.close()
                self.start_sample(msg, [_high(fd) for fd in fds], error)
            finally:
                os._exit(3)  # never back into the server loop, whatever happened
        theirs.close()
        return pid, ours

    def start_sample(self, msg: bytes, fds: list[int], error: str) -> None:
        """In the (pre)forked child: the sample's own process. Never returns."""
        cfg = _parse(msg[1:].decode("utf-8", "surrogateescape").split("\0"))
        cfg.update(root=self.root, workdir=f"{self.root}/w{cfg['seq']}", mode=self.mode, setup_error=error)
        start = w.start_checked if cfg.get("checked") else w.start_sample
        start(cfg, *fds)

    def hand_over(self, msg: bytes, fds: list[int]) -> int:
        """Give the sample to the waiting child (forking one now if there is none); its pid, or -1."""
        for _attempt in range(2):
            warm, self.warm = self.warm or self.prefork(), None
            if warm is None:
                continue
            pid, sock = warm
            try:
                socket.send_fds(sock, [msg], fds)
                return pid
            except OSError:  # it died while waiting: reap it and fork another
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            finally:
                sock.close()
        return -1

    def run_one(self, cfg: dict, msg: bytes, fds: list[int]) -> int | None:
        """The sample's exit code once nothing of it is left; None when the harness went away."""
        try:
            pid = self.hand_over(msg, fds)
        finally:
            for fd in fds:
                os.close(fd)
        if pid < 0:
            return 3  # no process for it: the harness reads an empty verdict as a failure
        status, harness_gone = None, False
        while status is None:
            status = w.wait_child_or_fd(pid, self.ctrl.fileno())
            if status is not None:
                break
            msg = self.ctrl.recv(64)
            if msg == b"K%d" % cfg["seq"] or not msg:
                harness_gone = not msg
                # The wall clock ran out: take the whole sample down now (the sweep does the rest).
                os.kill(pid, signal.SIGKILL)
                status = os.waitpid(pid, 0)[1]
        if self.namespaces:
            w.sweep_namespace(pid)
        else:
            w.sweep_limits(cfg.get("uid"))
        # Only now, with nothing of the sample running, can what it wrote go for good; if it cannot,
        # this server retires (its tmpfs goes with it) rather than let a later sample see it.
        self.retire = not w.empty_dir(self.root)
        return None if harness_gone else os.waitstatus_to_exitcode(status)


def _enter_server_namespaces(cfg: dict) -> None:
    """In pid 1 of the new pid namespace: the mount and network namespaces and the samples' view."""
    ns.unshare(w.SERVER_NAMESPACES)  # mounts out of the launcher's view; no network
    expose = ns.interpreter_paths(sys.executable, sys.path, _PACKAGE_HOME)
    ns.build_root(cfg["root"], cfg["root"], cfg["tmpfs_bytes"], expose)


def probe(cfg: dict) -> int:
    """0 when this process may build what a server and a sample need (the same calls, in the same
    order, on an empty directory `root`); else 1, with the reason on stderr."""
    try:
        if cfg["mode"] == "namespaces-user":
            ns.enter_user_namespace(0)
        ns.unshare(ns.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            try:
                _enter_server_namespaces(cfg)
                sample = os.fork()
                if sample == 0:
                    try:
                        w.prepare_sample(cfg["mode"])
                        if cfg["mode"] == "namespaces-user":
                            ns.drop_capabilities()
                        os._exit(0 if os.listdir("/proc") and os.path.isdir(sys.base_prefix) else 1)
                    except BaseException as e:
                        sys.stderr.write(f"sample: {e!r}\n")
                        os._exit(1)
                code = os.waitstatus_to_exitcode(os.waitpid(sample, 0)[1])
                os._exit(code if os.getpid() == 1 else 1)
            except BaseException as e:
                sys.stderr.write(f"server: {e!r}\n")
                os._exit(1)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except OSError as e:
        sys.stderr.write(f"launcher: {e!r}\n")
        return 1


def launch(cfg: dict, ctrl: socket.socket) -> None:
    """Build the server's namespaces; in the namespace case this process stays outside as launcher."""
    if cfg["mode"] == "limits":
        ns.set_subreaper()  # orphans of a sample come to us for the sweep
        return
    # The launcher removes the (empty) root directory through this when the server is gone, even if
    # the harness was killed.
    parent_fd = os.open(os.path.dirname(cfg["root"]), os.O_RDONLY | os.O_DIRECTORY)
    if cfg["mode"] == "namespaces-user":
        ns.enter_user_namespace(0)  # root here, the harness's uid outside: what the server needs
    ns.unshare(ns.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:  # pid 1 of the new namespace: the server itself
        os.close(parent_fd)
        ns.prctl(ns.PR_SET_PDEATHSIG, signal.SIGKILL)  # the harness kills us via the launcher
        _enter_server_namespaces(cfg)
        return
    # The launcher: the server holds the socket now; just mirror its fate.
    ctrl.close()
    status = os.waitpid(pid, 0)[1]
    with contextlib.suppress(OSError):
        os.rmdir(os.path.basename(cfg["root"]), dir_fd=parent_fd)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main() -> None:
    if sys.argv[1:2] == ["--probe"]:
        sys.exit(probe({"tmpfs_bytes": 1 << 20, **_parse(sys.argv[2:])}))
    cfg = _parse(sys.argv[1:])
    ctrl = socket.socket(fileno=_high(cfg["ctrl"]))
    with contextlib.suppress(OSError):  # samples go back to 0 in `_confine`
        os.setpriority(os.PRIO_PROCESS, 0, w.HELPER_NICE)
    try:
        launch(cfg, ctrl)
        server = Server(cfg, ctrl)
    except Exception as e:
        ctrl.sendall(b"ERROR " + str(e).encode()[:500])
        sys.exit(1)
    server.serve_forever()
    if cfg["mode"] == "limits":
        w.remove_tree(cfg["root"])  # with namespaces the launcher does it
    # Leaving: as init of the pid namespace, our exit takes every process left in it down.


if __name__ == "__main__":
    main()
