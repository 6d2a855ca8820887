"""Hardened execution of untrusted programs (model completions are hostile input).

Every sample runs in a fresh process tree forked from a *fork server* (`server.py`, one per
worker, started once with the interpreter already loaded), so a sample costs a few forks instead of an
interpreter start-up. What runs inside is `wrapper.py`:

- isolation "namespaces-root" (the harness is root) and "namespaces-user" (an ordinary user, where the
  kernel allows unprivileged user namespaces): each server is init of its own pid namespace, in a
  mount namespace whose `/` shows only the system directories and the interpreter, read-only, and the
  samples' private tmpfs (`namespaces.build_root`), and in a network namespace with no interface up.
  Each sample gets a fresh IPC namespace and a fresh working directory, runs as an unprivileged uid
  of its own (root) or in a user namespace of its own without any capability (user), so RLIMIT_NPROC
  bounds fork bombs per sample, and cannot see or signal the harness, its checker or the server.
  After every sample the server SIGKILLs and reaps everything else in its pid namespace (`setsid` or
  not), so the next sample starts alone; if the server dies, the kernel kills everything in it.
- isolation "limits" (fallback, with a loud warning; refused while secrets are in the environment
  unless allowed, see `isolation`): rlimits, its own session, subreaper sweeps of all descendants,
  and a per-sample uid sweep when running as root.

Limits: wall clock (enforced from this process, which tells the server to SIGKILL the sample and sweep;
the sample cannot ignore it), address space (-> outcome `oom`), CPU time, file size, open files,
processes. The environment of servers, checkers and samples is an allow-list (`isolation.base_env`);
stdout/stderr drained and capped. Each sample is a fresh fork, so nothing a sample changes
reaches the server or any other sample; if a server dies, its sample reads as `error` and the next
sample gets a new server.

Two kinds of job, two meanings of *passed* (exit codes and printed text never count in either):

- a `CheckedSolution` (benchmarks): the tests are trusted and run in a checker process of their own;
  the solution runs in the sandboxed sample process and is called over pipes that carry plain values
  only (`rpc`). The checker writes `P<nonce>` on the verdict pipe if every test held; the
  sample never holds that pipe or the nonce, so it cannot forge a pass, even written against this harness.
- a program (a string): it passes when it runs to its end without raising; the wrapper in its own
  process then writes `P<nonce>`. Every attack in issue #4 reads as failed, but code that knows this
  harness can reach the nonce in its own process, so use this only where the tests are themselves
  untrusted (LLM-written exercises) or there are none.

Every result says which of the two decided it (`decided_by`: "trusted checker" or "in-process") and
under which isolation.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import symtable
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from phi_lab.sandbox.isolation import (
    SERVER,
    allow_unisolated_default,
    base_env,
    check_unisolated,
    isolation_reason,
    resolve,
)
from phi_lab.sandbox.wrapper import kill_uid

OUTCOMES = ("passed", "failed", "timeout", "oom", "error")
# Who decided a result: the benchmark's tests in the trusted checker (CheckedSolution), or the
# sample's own process (a program: "ran to its end without raising"; forgeable by code written for it).
DECIDED_BY = ("trusted checker", "in-process")
_CHECKER = str(Path(__file__).with_name("rpc.py"))
# Forking the sample's tree is not the sample's time: the wall-clock limit gets this much on top.
_START_GRACE_S = 0.05
_SERVER_START_S = 30.0  # a fork server's start-up (interpreter + mount setup) on a loaded machine
_KILL_GRACE_S = 10.0  # a killed sample's namespace is torn down well within this
# After its sample is gone, a checker reports within this or is replaced (stuck in trusted test code).
_CHECKER_GRACE_S = 1.0


@dataclass(frozen=True)
class CheckedSolution:
    """A solution (untrusted: prompt + completion) and the tests that judge it (trusted benchmark code).

    `test` runs in the checker; if `entry_point` is given it must define `check(candidate)`, called as
    `check(<entry_point>)` (HumanEval's convention), otherwise its top-level asserts are the tests
    (MBPP's). Names the tests use but do not define come from the solution, except those `prelude`
    (trusted code such as HumanEval's prompt with its canonical solution) defines, and builtins.
    """

    solution: str
    test: str
    entry_point: str | None = None
    prelude: str = ""
    # Names the solution is meant to define even where they shadow a builtin (MBPP/126's `sum`).
    provides: tuple[str, ...] = ()

    def job(self, seq: int, nonce: str) -> bytes:
        """What the checker gets: everything but the solution."""
        names = solution_names(self.test, self.entry_point, self.provides)
        uses_prelude = self.prelude and names & _top_level_names(self.prelude) - {self.entry_point}
        return json.dumps(
            {
                "seq": seq,
                "nonce": nonce,
                "test": self.test,
                "entry_point": self.entry_point,
                "names": sorted(names),
                "prelude": self.prelude if uses_prelude else "",
            }
        ).encode("utf-8", "surrogatepass")


@functools.lru_cache(maxsize=4096)
def solution_names(
    test: str, entry_point: str | None = None, provides: tuple[str, ...] = ()
) -> frozenset[str]:
    """The global names `test` reads but never binds (plus the entry point), builtins aside unless
    the solution `provides` them."""
    top = symtable.symtable(test, "<test>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()
    stack = [top]
    while stack:
        table = stack.pop()
        for sym in table.get_symbols():
            if sym.is_referenced() and (table is top or sym.is_global()):
                used.add(sym.get_name())
            if sym.is_declared_global() and sym.is_assigned():
                bound.add(sym.get_name())
        stack.extend(table.get_children())
    names = used - bound - (set(dir(builtins)) - set(provides))
    return frozenset(names | {entry_point} if entry_point else names)


@functools.lru_cache(maxsize=1024)
def _top_level_names(code: str) -> frozenset[str]:
    """Names trusted code binds at its top level (none if it does not compile)."""
    try:
        top = symtable.symtable(code, "<trusted>", "exec")
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported())


def defined_names(code: str) -> tuple[str, ...]:
    """The top-level names of a trusted reference solution: what a candidate is expected to define."""
    return tuple(sorted(_top_level_names(code)))


@dataclass
class SandboxResult:
    outcome: str
    passed: bool
    isolation: str
    decided_by: str = "in-process"
    detail: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_instances_lock = threading.Lock()
_instances = 0


class Sandbox:
    """Run untrusted Python programs; `run_many` spreads them over `workers` parallel processes."""

    def __init__(
        self,
        timeout: float = 3.0,
        memory_mb: int = 4096,
        workers: int | None = None,
        *,
        cpu_seconds: int | None = None,
        max_output_bytes: int = 64 * 1024,
        max_file_mb: int = 64,
        max_open_files: int = 256,
        max_processes: int = 64,
        isolation: str = "auto",
        python: str | None = None,
        site_packages: bool = False,
        allow_unisolated: bool | None = None,
    ):
        """`isolation`: "auto" (the strongest available), "namespaces" (either kind, else an error),
        "namespaces-root", "namespaces-user" or "limits". `allow_unisolated`: run untrusted code under
        "limits" even while the environment holds secret-looking variables (default: refuse, unless
        PHI_LAB_ALLOW_UNISOLATED=1); see `phi_lab.sandbox.isolation`."""
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if memory_mb < 64:
            raise ValueError(f"memory_mb must be >= 64 (the interpreter needs it), got {memory_mb}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.timeout = float(timeout)
        self.memory_mb = int(memory_mb)
        self.workers = workers or os.cpu_count() or 1
        self.cpu_seconds = cpu_seconds or math.ceil(timeout) + 1
        self.max_output_bytes = max_output_bytes
        self.max_file_mb = max_file_mb
        self.max_open_files = max_open_files
        self.max_processes = max_processes
        self.python = python or sys.executable
        self.site_packages = site_packages
        self.isolation = resolve(isolation)
        self.allow_unisolated = allow_unisolated_default() if allow_unisolated is None else allow_unisolated
        check_unisolated(self.isolation, self.allow_unisolated)  # before any server starts
        if self.isolation == "limits":
            why = isolation_reason() or "isolation='limits' was asked for"
            warnings.warn(
                f"phi_lab.sandbox: no kernel isolation ({why}); running untrusted code with rlimits and "
                "process sweeps ONLY: samples run as this user, see this user's files and processes "
                "and reach the network. Every result records isolation='limits'.",
                RuntimeWarning,
                stacklevel=2,
            )
        # With "limits" the sample keeps the harness's uid when the interpreter is unreadable to
        # others (nothing could run it); namespaces bind it into the samples' view instead.
        expose = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(self.python))}
        self._drop_uid = os.geteuid() == 0 and (
            self.isolation == "namespaces-root"
            or (self.isolation == "limits" and not any(_closed(p) for p in expose))
        )
        # Each concurrent sample gets its own uid so per-uid limits and sweeps never cross samples.
        global _instances
        with _instances_lock:
            _instances += 1
            self._uid_base = 100_000 + (os.getpid() % 3000) * 4096 + (_instances % 16) * 256
        self._free_slots = list(range(256))
        self._slot_lock = threading.Lock()
        self._new_server_pool()

    def _new_server_pool(self) -> None:
        # Fork servers, one per concurrent sample, started on first use and kept until close().
        self._owner = os.getpid()
        self._servers_lock = threading.Lock()
        self._servers: set[_ForkServer] = set()
        self._started = 0  # servers started so far: the next one's CPU, round robin
        self._idle: list[_ForkServer] = []
        self._finalizer = weakref.finalize(
            self, _close_servers, self._servers_lock, self._servers, self._idle
        )

    # -- public API ---------------------------------------------------------------------------------
    def run(self, program: str | CheckedSolution) -> SandboxResult:
        check_unisolated(self.isolation, self.allow_unisolated)  # the environment may have changed
        with self._slot_lock:
            slot = self._free_slots.pop()
        try:
            return self._run(program, slot)
        finally:
            with self._slot_lock:
                self._free_slots.append(slot)

    def run_many(
        self, programs: Sequence[str | CheckedSolution], progress: bool = False
    ) -> list[SandboxResult]:
        """Results in input order."""
        check_unisolated(self.isolation, self.allow_unisolated)
        results: list[SandboxResult | None] = [None] * len(programs)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(programs), desc="sandbox", unit="sample")
        with ThreadPoolExecutor(max_workers=min(self.workers, 256)) as pool:
            futures = {pool.submit(self.run, p): i for i, p in enumerate(programs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop this sandbox's fork servers (also done when the sandbox is garbage collected)."""
        self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- fork servers -------------------------------------------------------------------------------
    def _server_argv(self) -> list[str]:
        py = [self.python, "-I", "-B"] + ([] if self.site_packages else ["-S"])
        tmpfs = max(4 * self.max_file_mb, 64) * 2**20  # room for what one sample may write
        return [
            *py,
            SERVER,
            f"mode={self.isolation}",
            f"tmpfs_bytes={tmpfs}",
        ]

    def _acquire(self, checked: bool = False) -> _ForkServer:
        if os.getpid() != self._owner:  # a forked copy of this sandbox: the servers are the parent's
            self._finalizer.detach()
            self._new_server_pool()
        with self._servers_lock:
            while self._idle:
                server = self._idle.pop()
                if server.alive():
                    return server
                self._servers.discard(server)
                server.close()
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
        with self._servers_lock:
            cpu = cpus[self._started % len(cpus)]
            self._started += 1
        # A checked sample's server starts its checker at the same time: both interpreters load at once.
        server = _ForkServer(self._server_argv(), base_env(), cpu, self._checker_argv() if checked else None)
        with self._servers_lock:
            self._servers.add(server)
        return server

    def _release(self, server: _ForkServer, healthy: bool) -> None:
        with self._servers_lock:
            if healthy and (server.retiring or not self._finalizer.alive):
                healthy = False  # it retires, or the sandbox was closed while this sample ran
            if healthy:
                self._idle.append(server)
                return
            self._servers.discard(server)
        server.close()

    def _server_pids(self) -> list[int]:
        """The processes this sandbox started (with namespaces: each server's launcher)."""
        with self._servers_lock:
            return sorted(s.proc.pid for s in self._servers)

    # -- one sample ---------------------------------------------------------------------------------
    def _run(self, program: str | CheckedSolution, slot: int) -> SandboxResult:
        start = time.monotonic()
        uid = self._uid_base + slot if self._drop_uid else None
        checked = isinstance(program, CheckedSolution)
        nonce = secrets.token_hex(32)
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, verdict
        readers = [r for r, _ in pipes]
        out_w, err_w, verdict_w = (w for _, w in pipes)
        if checked:  # the sample serves its functions on (req, resp); the checker alone holds the verdict
            req_r, req_w = os.pipe()
            resp_r, resp_w = os.pipe()
            sample_fds = [out_w, err_w, req_r, _program_fd(program.solution), resp_w]
            checker_fds = [req_w, resp_r, verdict_w]
        else:
            sample_fds = [out_w, err_w, verdict_w, _program_fd(program), _nonce_fd(nonce)]
            checker_fds = []
        writers = sample_fds + checker_fds  # our copies, closed once handed over
        server, healthy, status, timed_out, died, checker = None, False, None, False, False, None
        out = err = verdict = b""
        try:
            # The sample's working directory is made by the sample's process itself (on the server's
            # private tmpfs with kernel isolation); HOME and TMPDIR point there.
            fields = {
                "uid": uid,
                "checked": int(checked),
                "env": [f"{k}={v}" for k, v in base_env().items()],
                "memory_bytes": self.memory_mb * 2**20,
                "cpu_seconds": self.cpu_seconds,
                "fsize_bytes": self.max_file_mb * 2**20,
                "nofile": self.max_open_files,
                "nproc": self.max_processes,
            }
            for attempt in range(2):  # a server that died while idle is replaced; the sample never ran
                server = self._acquire(checked)
                if checked and server.cpu is not None:
                    fields["cpu"] = server.cpu  # beside its checker: see _Checker
                try:
                    seq = server.start(fields, sample_fds)
                    break
                except _ServerDied:
                    self._release(server, healthy=False)
                    server = None
                    if attempt:
                        raise
            if checked:
                checker = server.start_checker(program.job(seq, nonce), checker_fds, self._checker_argv())
            for fd in writers:
                os.close(fd)
            writers = []
            deadline = start + self.timeout + _START_GRACE_S
            out, err, verdict, timed_out = self._collect(readers, deadline)
            try:
                if not timed_out:  # all pipes closed: the sample is gone or going
                    status = server.wait(seq, max(0.0, deadline - time.monotonic()))
                    timed_out = status is None
                if timed_out:
                    server.kill(seq)
                    status = server.wait(seq, _KILL_GRACE_S)
                healthy = status is not None
            except _ServerDied:
                died = True
            if checker is not None and not checker.done(seq, _CHECKER_GRACE_S):
                server.drop_checker()  # stuck in the tests' own code (or dead): a fresh one next time
        finally:
            for fd in readers + writers:
                os.close(fd)
            if server is not None:
                self._release(server, healthy)
            if not healthy and uid is not None and self.isolation == "limits":
                kill_uid(uid)  # the server's own sweep may not have run
        if died and verdict != b"P" + nonce.encode():
            outcome, detail = "error", "the sandbox's fork server died during this sample"
        elif status is None and not died:
            outcome, detail = "timeout", f"killed after {self.timeout:g}s wall clock (server unresponsive)"
        else:
            outcome, detail = _classify(verdict, nonce.encode(), status or 0, timed_out, self.timeout)
        cap = self.max_output_bytes
        return SandboxResult(
            outcome=outcome,
            passed=outcome == "passed",
            isolation=self.isolation,
            decided_by="trusted checker" if checked else "in-process",
            detail=detail,
            stdout=out[:cap].decode("utf-8", "replace"),
            stderr=err[:cap].decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
        )

    def _checker_argv(self) -> list[str]:
        return [self.python, "-I", "-B", "-S", _CHECKER, f"memory_bytes={self.memory_mb * 2**20}"]

    def _collect(self, fds: list[int], deadline: float) -> tuple[bytes, bytes, bytes, bool]:
        """Drain stdout, stderr and the verdict pipe until all close or the deadline passes.

        Output beyond the cap is read and dropped, so a sample printing gigabytes neither blocks
        on a full pipe nor grows this process.
        """
        cap = self.max_output_bytes
        bufs = {fd: bytearray() for fd in fds}
        limits = dict(zip(fds, (cap, cap, 4096)))
        sel = selectors.DefaultSelector()
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        timed_out = False
        try:
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(timeout=remaining):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fd)
                        continue
                    buf = bufs[key.fd]
                    if len(buf) < limits[key.fd]:
                        buf += chunk[: limits[key.fd] - len(buf)]
        finally:
            sel.close()
        out, err, verdict = (bytes(bufs[fd]) for fd in fds)
        return out, err, verdict, timed_out


class _ServerDied(Exception):
    pass


class _ForkServer:
    """The harness's end of one fork server (`server.py`): one sample at a time."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cpu: int | None = None,
        checker_argv: list[str] | None = None,
    ):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.cpu = cpu  # where its checked samples and their checker run (see _Checker)
        self.env = env
        self.checker: _Checker | None = None  # started with the first checked sample
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
            self.checker = _Checker(checker_argv, env, cpu, wait=False)
        _await_ready(self.sock, "fork server", self.close)

    def alive(self) -> bool:
        return not self.retiring and self.proc.poll() is None

    def start(self, fields: dict, fds: list[int]) -> int:
        self.seq += 1
        payload = b"R" + "\0".join(_config_args({"seq": self.seq, **fields})).encode(
            "utf-8", "surrogateescape"
        )
        _send_with_fds(self.sock, payload, fds)
        return self.seq

    def start_checker(self, job: bytes, fds: list[int], argv: list[str]) -> _Checker:
        """Hand the job to this worker's checker (started, or replaced if it died, on demand)."""
        for attempt in range(2):
            if self.checker is None:
                self.checker = _Checker(argv, self.env, self.cpu)
            try:
                self.checker.start(job, fds)
                return self.checker
            except _ServerDied:
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
            raise _ServerDied(str(e)) from None

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
                raise _ServerDied(str(e)) from None
            if not msg:
                raise _ServerDied("connection closed")
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


class _Checker:
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
        _await_ready(self.sock, "checker", self.close)
        self.ready = True

    def start(self, job: bytes, fds: list[int]) -> None:
        if not self.ready:
            self.wait_ready()
        _send_with_fds(self.sock, job, fds)

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


def _send_with_fds(sock: socket.socket, payload: bytes, fds: list[int]) -> None:
    """One message and its file descriptors to a helper process; _ServerDied if it is gone."""
    try:
        sock.settimeout(_SERVER_START_S)
        if socket.send_fds(sock, [payload], fds) != len(payload):
            raise _ServerDied("short write")
    except OSError as e:
        raise _ServerDied(str(e)) from None


def _await_ready(sock: socket.socket, what: str, close) -> None:
    """A helper process's first word is READY; anything else (or silence) closes it and raises."""
    try:
        sock.settimeout(_SERVER_START_S)
        hello = sock.recv(1024)
    except OSError as e:
        hello = repr(e).encode()
    if hello != b"READY":
        close()
        raise RuntimeError(f"phi_lab.sandbox: {what} failed to start: {hello.decode(errors='replace')}")


def _program_fd(program: str) -> int:
    """The program's text in an anonymous file, read by the sample's process: no disk involved."""
    data = program.encode("utf-8", "surrogatepass")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("phi-sandbox-sample", os.MFD_CLOEXEC)
    else:
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _nonce_fd(nonce: str) -> int:
    """The read end of a pipe that holds the nonce: only the process that writes the verdict reads it."""
    r, w = os.pipe()
    try:
        os.write(w, nonce.encode())
    finally:
        os.close(w)
    return r


def _close_servers(lock: threading.Lock, servers: set[_ForkServer], idle: list[_ForkServer]) -> None:
    with lock:
        todo = list(servers)
        servers.clear()
        idle.clear()
    for server in todo:
        server.close()


def _config_args(cfg: dict) -> list[str]:
    args = []
    for key, value in cfg.items():
        for v in value if isinstance(value, list) else [value]:
            if "\0" in str(v):
                raise ValueError(f"sandbox config {key} contains a NUL byte")
            args.append(f"{key}={'' if v is None else v}")
    return args


def _classify(verdict: bytes, nonce: bytes, status: int, timed_out: bool, timeout: float) -> tuple[str, str]:
    if verdict == b"P" + nonce:
        return "passed", ""
    if timed_out:
        return "timeout", f"killed after {timeout:g}s wall clock"
    sig = -status if status < 0 else (status - 128 if status > 128 else 0)
    text = verdict.decode("utf-8", "replace")
    kind, _, msg = text.partition(" ")
    if kind == "X":  # the checker lost its sample: how the sample ended says why
        text = ""
        if not sig:
            return "failed", f"{msg} (exit status {status})"
    if sig == signal.SIGXCPU:
        return "timeout", "CPU time limit exceeded"
    if kind == "M":
        return "oom", "MemoryError: memory limit reached"
    if sig == signal.SIGKILL and not text:
        return "oom", "killed by SIGKILL (out of memory)"
    if sig:
        try:
            return "error", f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return "error", f"killed by signal {sig}"
    if kind in ("S", "E"):  # syntax error / sandbox setup failure
        return "error", msg
    if kind == "F":
        return "failed", msg
    if text.startswith("P"):
        return "failed", "verdict with a wrong nonce (forgery attempt)"
    return "failed", f"exited with status {status} without a verdict"


def _closed(path: str) -> bool:
    """True when some directory on the way to `path` is not traversable by other users."""
    parts = os.path.abspath(path).split("/")[1:]
    for i in range(1, len(parts) + 1):
        try:
            if not os.stat("/" + "/".join(parts[:i])).st_mode & 0o001:
                return True
        except OSError:
            return True
    return False
