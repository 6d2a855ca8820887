"""The harness's ends of its helper processes: fork servers (`server.py`) and checkers (`rpc.py`),
each driven over one AF_UNIX SOCK_SEQPACKET socket, plus the handshakes they share."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

SERVER_START_S = 30.0  # a fork server's start-up (interpreter + mount setup) on a loaded machine


class ServerDied(Exception):
    pass


class ForkServer:
    """The harness's end of one fork server (`server.py`): one sample at a time."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cpu: int | None = None,
        checker_argv: list[str] | None = None,
    ):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.cpu = cpu  # where its checked samples and their checker run (see Checker)
        self.env = env
        self.checker: Checker | None = None  # started with the first checked sample
        # Where the server's samples get their working directories (with kernel isolation a
        # private tmpfs is mounted over it in the server's own mount namespace).
        self.root = tempfile.mkdtemp(prefix="phi-sandbox-")
        os.chmod(self.root, 0o755)
        try:
            self.proc = subprocess.Popen(
                [*argv, f"root={self.root}", f"ctrl={theirs.fileno()}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=env,
                cwd="/",
                start_new_session=True,  # a Ctrl-C meant for the harness does not reach it
            )
        finally:
            theirs.close()
        self.sock = ours
        self.owner = os.getpid()
        self.seq = 0
        self.retiring = False
        if checker_argv is not None:
            self.checker = Checker(checker_argv, env, cpu, wait=False)
        await_ready(self.sock, "fork server", self.close)

    def alive(self) -> bool:
        return not self.retiring and self.proc.poll() is None

    def start(self, fields: dict, fds: list[int]) -> int:
        self.seq += 1
        payload = b"R" + "\0".join(config_args({"seq": self.seq, **fields})).encode(
            "utf-8", "surrogateescape"
        )
        send_with_fds(self.sock, payload, fds)
        return self.seq

    def start_checker(self, job: bytes, fds: list[int], argv: list[str]) -> Checker:
        """Hand the job to this worker's checker (started, or replaced if it died, on demand)."""
        for attempt in range(2):
            if self.checker is None:
                self.checker = Checker(argv, self.env, self.cpu)
            try:
                self.checker.start(job, fds)
                return self.checker
            except ServerDied:
                self.drop_checker()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def drop_checker(self) -> None:
        if self.checker is not None:
            self.checker.close()
            self.checker = None

    def kill(self, seq: int) -> None:
        try:
            self.sock.send(b"K%d" % seq)
        except OSError as e:
            raise ServerDied(str(e)) from None

    def wait(self, seq: int, timeout: float) -> int | None:
        """The sample's exit code once its tree is gone; None if that takes longer than `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self.sock.settimeout(remaining)
                msg = self.sock.recv(64)
            except TimeoutError:
                return None
            except OSError as e:
                raise ServerDied(str(e)) from None
            if not msg:
                raise ServerDied("connection closed")
            tag, code, *retire = msg[1:].split(b" ")
            if msg[:1] == b"X" and int(tag) == seq:
                self.retiring = bool(retire)  # it could not clean up after the sample and will exit
                return int(code)

    def close(self) -> None:
        """Closing the socket makes the server exit, and everything in its pid namespace with it."""
        self.drop_checker()
        self.sock.close()
        if os.getpid() != self.owner:
            return  # a forked copy: the server and its directory belong to the parent
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class Checker:
    """The harness's end of one checker (`rpc.py` run as a script): trusted, outside the
    sandbox, one job at a time; it runs a benchmark's tests against a sample over pipes."""

    def __init__(self, argv: list[str], env: dict[str, str], cpu: int | None = None, wait: bool = True):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [*argv, f"ctrl={theirs.fileno()}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=env,
                cwd="/",
                start_new_session=True,
            )
        finally:
            theirs.close()
        # A test calls the sample once per assert, each a round trip over pipes: with both processes
        # on one CPU that is a direct switch (~8 us here) instead of a cross-CPU wake-up (~65 us).
        if cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {cpu})
        self.sock = ours
        self.owner = os.getpid()
        self.ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        await_ready(self.sock, "checker", self.close)
        self.ready = True

    def start(self, job: bytes, fds: list[int]) -> None:
        if not self.ready:
            self.wait_ready()
        send_with_fds(self.sock, job, fds)

    def done(self, seq: int, timeout: float) -> bool:
        """True once the checker reports job `seq` finished within `timeout`."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.sock.settimeout(remaining)
                msg = self.sock.recv(64)
            except OSError:
                return False
            if not msg:
                return False
            if msg == b"D%d" % seq:
                return True
        return False

    def close(self) -> None:
        self.sock.close()
        if os.getpid() != self.owner:
            return
        self.proc.kill()  # it may be stuck in a test's own code; it holds nothing worth a goodbye
        self.proc.wait()


def send_with_fds(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    """One message and its file descriptors to a helper process; ServerDied if it is gone."""
    try:
        sock.settimeout(SERVER_START_S)
        if socket.send_fds(sock, [payload], fds) != len(payload):
            raise ServerDied("short write")
    except OSError as e:
        raise ServerDied(str(e)) from None


def await_ready(sock: socket.socket, what: str, close) -> None:
    """A helper process's first word is READY; anything else (or silence) closes it and raises."""
    try:
        sock.settimeout(SERVER_START_S)
        hello = sock.recv(1024)
    except OSError as e:
        hello = repr(e).encode()
    if hello != b"READY":
        close()
        raise RuntimeError(f"phi_lab.sandbox: {what} failed to start: {hello.decode(errors='replace')}")


def close_servers(lock: threading.Lock, servers: set[ForkServer], idle: list[ForkServer]) -> None:
    with lock:
        todo = list(servers)
        servers.clear()
        idle.clear()
    for server in todo:
        server.close()


def config_args(cfg: dict) -> list[str]:
    args = []
    for key, value in cfg.items():
        for v in value if isinstance(value, list) else [value]:
            if "\0" in str(v):
                raise ValueError(f"sandbox config {key} contains a NUL byte")
            args.append(f"{key}={'' if v is None else v}")
    return args
