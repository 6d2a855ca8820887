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

import math
import os
import secrets
import selectors
import signal
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

from phi_lab.sandbox.checked import CheckedSolution
from phi_lab.sandbox.isolation import (
    SERVER,
    allow_unisolated_default,
    base_env,
    check_unisolated,
    closed_ancestor,
    isolation_reason,
    resolve,
)
from phi_lab.sandbox.processes import ForkServer, ServerDied, close_servers
from phi_lab.sandbox.wrapper import kill_uid

OUTCOMES = ("passed", "failed", "timeout", "oom", "error")
# Who decided a result: the benchmark's tests in the trusted checker (CheckedSolution), or the
# sample's own process (a program: "ran to its end without raising"; forgeable by code written for it).
DECIDED_BY = ("trusted checker", "in-process")
_CHECKER = str(Path(__file__).with_name("rpc.py"))
# Forking the sample's tree is not the sample's time: the wall-clock limit gets this much on top.
_START_GRACE_S = 0.05
_KILL_GRACE_S = 10.0  # a killed sample's namespace is torn down well within this
# After its sample is gone, a checker reports within this or is replaced (stuck in trusted test code).
_CHECKER_GRACE_S = 1.0


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
            or (self.isolation == "limits" and not any(closed_ancestor(p) for p in expose))
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
        self._servers: set[ForkServer] = set()
        self._started = 0  # servers started so far: the next one's CPU, round robin
        self._idle: list[ForkServer] = []
        self._finalizer = weakref.finalize(self, close_servers, self._servers_lock, self._servers, self._idle)

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

    def _acquire(self, checked: bool = False) -> ForkServer:
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
        server = ForkServer(self._server_argv(), base_env(), cpu, self._checker_argv() if checked else None)
        with self._servers_lock:
            self._servers.add(server)
        return server

    def _release(self, server: ForkServer, healthy: bool) -> None:
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
                    fields["cpu"] = server.cpu  # beside its checker: see Checker
                try:
                    seq = server.start(fields, sample_fds)
                    break
                except ServerDied:
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
            except ServerDied:
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
