"""Hardened execution of untrusted programs (model completions are hostile input).

Every sample runs in its own process tree, under `phi_lab/_sandbox_wrapper.py`:

- isolation "namespaces" (root + util-linux `unshare`): fresh pid, mount and network namespaces; the
  filesystem is read-only except the sample's temporary directory; the sample runs as an unprivileged
  uid of its own (so RLIMIT_NPROC bounds fork bombs per sample) and cannot signal the harness; when the
  namespace's init exits or is killed, the kernel kills every process left in it, `setsid` or not.
- isolation "limits" (fallback, with a loud warning): rlimits, its own session, a subreaper sweep of
  all descendants, and a per-sample uid sweep when running as root.

Limits: wall clock (enforced by this process with SIGKILL; the sample cannot ignore it), address space
(-> outcome `oom`), CPU time, file size, open files, processes. Environment scrubbed; stdout/stderr
drained and capped. A sample *passes* only when the wrapper writes `P<nonce>` on a private pipe after
the program ran to its end: exit codes and printed text never count.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("passed", "failed", "timeout", "oom", "error")
_WRAPPER = str(Path(__file__).with_name("_sandbox_wrapper.py"))
_UNSHARE = ("--fork", "--pid", "--mount-proc", "--net", "--mount", "--kill-child=SIGKILL")
# Startup of the interpreter is not the sample's time: the wall-clock limit gets this much on top.
_STARTUP_GRACE_S = 0.5


@dataclass
class SandboxResult:
    outcome: str
    passed: bool
    isolation: str
    detail: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_isolation_lock = threading.Lock()
_isolation_probe: dict[str, str] = {}
_instances = 0


def detect_isolation() -> str:
    """'namespaces' where this process may create pid/mount/net namespaces, else 'limits' (cached)."""
    with _isolation_lock:
        if "auto" not in _isolation_probe:
            _isolation_probe["auto"] = _probe_namespaces()
        return _isolation_probe["auto"]


def _probe_namespaces() -> str:
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None or os.geteuid() != 0:
        return "limits"
    try:
        proc = subprocess.run([unshare, *_UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "limits"
    return "namespaces" if proc.returncode == 0 else "limits"


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
    ):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        if memory_mb < 64:
            raise ValueError(f"memory_mb must be >= 64 (the interpreter needs it), got {memory_mb}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if isolation not in ("auto", "namespaces", "limits"):
            raise ValueError(f"isolation must be auto, namespaces or limits, got {isolation!r}")
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
        detected = detect_isolation()
        if isolation == "namespaces" and detected != "namespaces":
            raise RuntimeError("isolation='namespaces' requested but this machine does not permit it")
        self.isolation = detected if isolation == "auto" else isolation
        if self.isolation == "limits":
            warnings.warn(
                "phi_lab.sandbox: kernel isolation unavailable (needs root and util-linux unshare); "
                "running untrusted code with rlimits and process sweeps ONLY: no read-only filesystem, "
                "network is reachable. Every result records isolation='limits'.",
                RuntimeWarning,
                stacklevel=2,
            )
        # Namespaces can expose an interpreter living under /root; plain limits cannot, so there the
        # sample keeps the harness's uid when the interpreter is unreadable to others.
        self._expose = sorted({sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(self.python))})
        self._drop_uid = os.geteuid() == 0 and (
            self.isolation == "namespaces" or not any(_closed(p) for p in self._expose)
        )
        # Each concurrent sample gets its own uid so per-uid limits and sweeps never cross samples.
        global _instances
        with _isolation_lock:
            _instances += 1
            self._uid_base = 100_000 + (os.getpid() % 3000) * 4096 + (_instances % 16) * 256
        self._free_slots = list(range(256))
        self._slot_lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------------
    def run(self, program: str) -> SandboxResult:
        with self._slot_lock:
            slot = self._free_slots.pop()
        try:
            return self._run(program, slot)
        finally:
            with self._slot_lock:
                self._free_slots.append(slot)

    def run_many(self, programs: list[str], progress: bool = False) -> list[SandboxResult]:
        """Results in input order."""
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

    # -- one sample ---------------------------------------------------------------------------------
    def _env(self, tmpdir: str) -> dict[str, str]:
        # Nothing from the harness's environment: no keys, tokens, proxies or PYTHON* settings.
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": tmpdir, "TMPDIR": tmpdir,
                "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}

    def _run(self, program: str, slot: int) -> SandboxResult:
        start = time.monotonic()
        uid = self._uid_base + slot if self._drop_uid else None
        tmpdir = tempfile.mkdtemp(prefix="phi-sandbox-")
        nonce = secrets.token_hex(32).encode()
        nonce_r, nonce_w = os.pipe()
        verdict_r, verdict_w = os.pipe()
        proc = None
        try:
            prog_path = os.path.join(tmpdir, "sample.py")
            with open(prog_path, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(program)
            if uid is not None:
                os.chown(tmpdir, uid, uid)
            os.write(nonce_w, nonce)
            os.close(nonce_w)
            nonce_w = -1
            cfg = {
                "mode": self.isolation, "tmpdir": tmpdir, "expose": self._expose, "program": prog_path, "uid": uid,
                "nonce_fd": nonce_r, "verdict_fd": verdict_w,
                "memory_bytes": self.memory_mb * 2**20, "cpu_seconds": self.cpu_seconds,
                "fsize_bytes": self.max_file_mb * 2**20, "nofile": self.max_open_files,
                "nproc": self.max_processes,
            }
            py = [self.python, "-I", "-B"] + ([] if self.site_packages else ["-S"])
            argv = [*py, _WRAPPER, *_config_args(cfg)]
            if self.isolation == "namespaces":
                argv = ["unshare", *_UNSHARE, *argv]
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(nonce_r, verdict_w), env=self._env(tmpdir), cwd=tmpdir,
                start_new_session=True,
            )
            os.close(nonce_r)
            os.close(verdict_w)
            nonce_r = verdict_w = -1
            deadline = start + self.timeout + _STARTUP_GRACE_S
            out, err, verdict, timed_out = self._collect(proc, verdict_r, deadline)
            if timed_out:
                self._kill(proc, uid)
            status = proc.wait()
        finally:
            for fd in (nonce_r, nonce_w, verdict_w, verdict_r):
                if fd >= 0:
                    os.close(fd)
            if proc is not None and proc.poll() is None:  # an exception above: never leave it running
                self._kill(proc, uid)
                proc.wait()
            shutil.rmtree(tmpdir, ignore_errors=True)
        outcome, detail = _classify(verdict, nonce, status, timed_out, self.timeout)
        cap = self.max_output_bytes
        return SandboxResult(
            outcome=outcome, passed=outcome == "passed", isolation=self.isolation, detail=detail,
            stdout=out[:cap].decode("utf-8", "replace"), stderr=err[:cap].decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
        )

    def _collect(self, proc: subprocess.Popen, verdict_r: int, deadline: float):
        """Drain stdout, stderr and the verdict pipe until all close or the deadline passes.

        Output beyond the cap is read and dropped, so a sample printing gigabytes neither blocks
        on a full pipe nor grows this process.
        """
        cap = self.max_output_bytes
        # insertion order: stdout, stderr, verdict
        bufs = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray(), verdict_r: bytearray()}
        limits = {proc.stdout.fileno(): cap, proc.stderr.fileno(): cap, verdict_r: 4096}
        sel = selectors.DefaultSelector()
        for fd in bufs:
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
            proc.stdout.close()
            proc.stderr.close()
        if not timed_out:  # all pipes closed: the tree is gone or going; wait for the status
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
            except subprocess.TimeoutExpired:
                timed_out = True
        out, err, verdict = bufs.values()
        return bytes(out), bytes(err), bytes(verdict), timed_out

    def _kill(self, proc: subprocess.Popen, uid: int | None) -> None:
        """SIGKILL the sample's whole tree. In a pid namespace, killing init kills everything in it."""
        victims = _descendants(proc.pid)
        for pid in [proc.pid, *victims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self.isolation == "limits":
            if uid is not None:
                _kill_uid(uid)
            for _ in range(20):  # fork storms: sweep until nothing is left
                rest = _descendants(proc.pid)
                if not rest:
                    break
                for pid in rest:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


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
    if sig == signal.SIGXCPU:
        return "timeout", "CPU time limit exceeded"
    text = verdict.decode("utf-8", "replace")
    kind, _, msg = text.partition(" ")
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


def _proc_children() -> dict[int, list[int]]:
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
    return children


def _descendants(root: int) -> list[int]:
    children, stack, found = _proc_children(), [root], []
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_uid(uid: int) -> None:
    """From a helper running as `uid`, kill(-1) reaches every process of that uid and nothing else."""
    code = f"import os\nos.setgid({uid})\nos.setuid({uid})\nos.kill(-1, 9)"
    subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, timeout=10)
