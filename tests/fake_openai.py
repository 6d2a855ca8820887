"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests (stdlib only, runs in a thread).

It speaks enough of the API for `openai.AsyncOpenAI` / `phi_lab.llm.client.LLMClient`:
POST /v1/chat/completions, POST /v1/files, GET /v1/files/{id}/content, POST /v1/batches,
GET /v1/batches, GET /v1/batches/{id}.

Scripting faults: `server.inject("429", "500", "slow", "malformed", "malformed_shape", "hang")`
queues faults consumed, in order, by the next chat requests; anything else is answered by
`server.reply(body) -> str` (default: a deterministic echo). Counting: `server.requests`
(every chat request body received), `server.answered` (Counter: last user message -> number of
200 replies actually sent), `server.n_answered`.

    with FakeOpenAI(api_key="sk-test") as srv:      # picks a free port
        os.environ["OPENAI_API_KEY"] = "sk-test"
        client = LLMClient(LLMConfig(model="fake", base_url=srv.base_url, ...))

Run standalone (e.g. for a notebook or a subprocess test): `python tests/fake_openai.py --port 0`
prints the base URL on its first line and serves until killed.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "503", "slow", "malformed", "malformed_shape", "hang", "ok")


def last_user_message(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def echo_reply(body: dict[str, Any]) -> str:
    return f"Reply to: {last_user_message(body)}"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeOpenAI:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        reply: Callable[[dict[str, Any]], str] | None = None,
        retry_after: float = 0.2,
        slow_s: float = 2.0,
        batch_polls_until_done: int = 1,
        model: str = "fake-model",
    ):
        self.api_key = api_key  # None: accept any bearer token
        self.reply = reply or echo_reply
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.batch_polls_until_done = batch_polls_until_done
        self.model = model
        self.lock = threading.Lock()
        self.script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.answered: Counter[str] = Counter()
        self.n_answered = 0
        self.unauthorized = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.release = threading.Event()  # set to let "hang" requests fail out
        self.hanging = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeOpenAI:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- scripting --------------------------------------------------------------------------
    def inject(self, *faults: str) -> None:
        for f in faults:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; choose from {FAULTS}")
        with self.lock:
            self.script.extend(faults)

    def wait_for(self, predicate: Callable[[FakeOpenAI], bool], timeout: float = 30.0) -> bool:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        return False

    # ---- responses --------------------------------------------------------------------------
    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.reply(body)
        prompt = " ".join(str(m.get("content") or "") for m in body.get("messages") or [])
        pt, ct = _tokens(prompt), _tokens(text)
        return {
            "id": f"chatcmpl-{int(time.time() * 1e6)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
            ],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }

    def _run_batch(self, batch: dict[str, Any]) -> None:
        out = []
        for i, line in enumerate(self.files[batch["input_file_id"]].decode().splitlines()):
            if not line.strip():
                continue
            row = json.loads(line)
            body = self.completion(row["body"])
            with self.lock:
                self.answered[last_user_message(row["body"])] += 1
                self.n_answered += 1
            out.append(
                json.dumps(
                    {
                        "id": f"batch_req_{i}",
                        "custom_id": row["custom_id"],
                        "response": {"status_code": 200, "request_id": f"r{i}", "body": body},
                        "error": None,
                    }
                )
            )
        fid = f"file-out-{len(self.files)}"
        self.files[fid] = ("\n".join(out) + "\n").encode()
        batch.update(
            status="completed",
            output_file_id=fid,
            request_counts={"total": len(out), "completed": len(out), "failed": 0},
        )


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
    ):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": "fake_error", "code": status}}, headers)

    def _authorized(self) -> bool:
        want = self.fake.api_key
        if want is None or self.headers.get("Authorization") == f"Bearer {want}":
            return True
        with self.fake.lock:
            self.fake.unauthorized += 1
        self._error(401, "invalid api key")
        return False

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _path(self) -> str:
        path = self.path.split("?")[0]
        return path[3:] if path.startswith("/v1/") else path

    def do_GET(self) -> None:
        if not self._authorized():
            return
        fake, parts = self.fake, self._path().strip("/").split("/")
        if parts == ["batches"]:
            with fake.lock:
                data = list(fake.batches.values())[::-1]
            self._send(200, {"object": "list", "data": data, "has_more": False})
        elif len(parts) == 2 and parts[0] == "batches" and parts[1] in fake.batches:
            b = fake.batches[parts[1]]
            with fake.lock:
                b["_polls"] += 1
                done = b["_polls"] >= fake.batch_polls_until_done and b["status"] != "completed"
                if b["status"] == "validating":
                    b["status"] = "in_progress"
            if done:
                fake._run_batch(b)
            self._send(200, {k: v for k, v in b.items() if not k.startswith("_")})
        elif len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and parts[1] in fake.files:
            self._send(200, None, raw=fake.files[parts[1]])
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        raw = self._body()
        if not self._authorized():
            return
        path = self._path()
        if path == "/chat/completions":
            self._chat(raw)
        elif path == "/files":
            msg = email.parser.BytesParser().parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw
            )
            content = next(
                (
                    p.get_payload(decode=True)
                    for p in msg.get_payload()
                    if p.get_param("name", header="content-disposition") == "file"
                ),
                None,
            )
            if content is None:
                return self._error(400, "multipart upload without a 'file' part")
            with self.fake.lock:
                fid = f"file-{len(self.fake.files)}"
                self.fake.files[fid] = content
            self._send(
                200,
                {
                    "id": fid,
                    "object": "file",
                    "bytes": len(content),
                    "created_at": 0,
                    "filename": "input.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                },
            )
        elif path == "/batches":
            req = json.loads(raw)
            if req.get("input_file_id") not in self.fake.files:
                return self._error(400, "unknown input_file_id")
            with self.fake.lock:
                bid = f"batch_{len(self.fake.batches)}"
                b = {
                    "id": bid,
                    "object": "batch",
                    "endpoint": req.get("endpoint"),
                    "errors": None,
                    "input_file_id": req["input_file_id"],
                    "completion_window": "24h",
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": int(time.time()),
                    "_polls": 0,
                }
                self.fake.batches[bid] = b
            self._send(200, {k: v for k, v in b.items() if not k.startswith("_")})
        else:
            self._error(404, f"no route POST {self.path}")

    def _chat(self, raw: bytes) -> None:
        fake = self.fake
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "request body is not JSON")
        with fake.lock:
            fake.requests.append(body)
            fault = fake.script.popleft() if fake.script else "ok"
        if fault == "429":
            return self._error(429, "rate limited", {"Retry-After": str(fake.retry_after)})
        if fault in ("500", "503"):
            return self._error(int(fault), "server error")
        if fault == "malformed":
            return self._send(200, None, raw=b'{"choices": [ {"message": trunc')
        if fault == "malformed_shape":
            return self._send(200, {"object": "chat.completion", "choices": []})
        if fault == "hang":
            with fake.lock:
                fake.hanging += 1
            fake.release.wait()
            return self._error(503, "released from hang")
        if fault == "slow":
            time.sleep(fake.slow_s)
        payload = fake.completion(body)
        self._send(200, payload)
        with fake.lock:
            fake.answered[last_user_message(body)] += 1
            fake.n_answered += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default=None)
    args = ap.parse_args()
    srv = FakeOpenAI(api_key=args.api_key).start(args.port)
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
