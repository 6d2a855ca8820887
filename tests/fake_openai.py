"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests (stdlib only, runs in a thread).

It speaks enough of the API for `openai.AsyncOpenAI` / `phi_lab.llm.client.LLMClient`:
POST /v1/chat/completions, POST /v1/completions, POST /v1/files, GET /v1/files/{id}/content,
POST /v1/batches, GET /v1/batches, GET /v1/batches/{id}.

Scripting faults: `server.inject("429", "500", "slow", "malformed", "malformed_shape", "hang", ...)`
queues faults consumed, in order, by the next completion requests (either endpoint); "400" and
"422" are refusals with a JSON body (OpenAI's `error.message`, FastAPI's `detail`), "500_text" a
plain-text 500 like uvicorn's. `chat_error="..."` answers every chat request with HTTP 500 and
that message (a server whose model has no chat template). Anything else is answered by
`server.reply(body) -> str` (default: a deterministic echo). Counting: `server.requests` (every
completion request body received), `server.answered` (Counter: last user message, or the prompt,
-> number of 200 replies actually sent), `server.n_answered`.

Batch API scripting: `batch_outcomes` (a deque of "completed", "expired", "cancelled", "failed",
consumed one per batch as it runs; default completed), `line_status(body, attempt) -> int` (a
non-200 status fails that line; `attempt` counts the line's submissions from 1), and limits
`max_batch_requests` / `max_batch_bytes` that a batch over them is refused with (HTTP 400).
`max_in_flight_seen` is the most batches that were ever validating or in progress at once.

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

FAULTS = (
    "429",
    "500",
    "503",
    "500_text",
    "400",
    "422",
    "slow",
    "malformed",
    "malformed_shape",
    "hang",
    "ok",
)


def last_user_message(body: dict[str, Any]) -> str:
    """The last user message of a chat body, or the prompt of a completions body."""
    if "prompt" in body:
        return str(body["prompt"])
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
        chat_error: str | None = None,
    ):
        self.api_key = api_key  # None: accept any bearer token
        self.reply = reply or echo_reply
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.batch_polls_until_done = batch_polls_until_done
        self.model = model
        self.chat_error = chat_error
        self.batch_outcomes: deque[str] = deque()
        self.line_status: Callable[[dict[str, Any], int], int] | None = None
        self.line_attempts: Counter[str] = Counter()
        self.max_batch_requests = 50_000
        self.max_batch_bytes = 200 * 1024 * 1024
        self.max_in_flight_seen = 0
        self.batch_lines: list[int] = []  # lines of each batch created
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
        if "prompt" in body:  # /v1/completions
            pt, ct = _tokens(str(body["prompt"])), _tokens(text)
            choice = {"index": 0, "finish_reason": "stop", "text": text}
            kind = "text_completion"
        else:
            prompt = " ".join(str(m.get("content") or "") for m in body.get("messages") or [])
            pt, ct = _tokens(prompt), _tokens(text)
            choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
            kind = "chat.completion"
        return {
            "id": f"cmpl-{int(time.time() * 1e6)}",
            "object": kind,
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [choice],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }

    def _run_batch(self, batch: dict[str, Any]) -> None:
        with self.lock:
            outcome = self.batch_outcomes.popleft() if self.batch_outcomes else "completed"
        rows = [json.loads(x) for x in self.files[batch["input_file_id"]].decode().splitlines() if x.strip()]
        if outcome == "failed":
            batch.update(
                status="failed",
                errors={
                    "object": "list",
                    "data": [{"code": "invalid_request", "message": "scripted failure"}],
                },
                request_counts={"total": len(rows), "completed": 0, "failed": len(rows)},
            )
            return
        # An expired or cancelled batch still returns what it finished: here, the first half.
        n_run = len(rows) if outcome == "completed" else len(rows) // 2
        out, err = [], []
        for i, row in enumerate(rows):
            if i >= n_run:
                code = "batch_expired" if outcome == "expired" else "batch_cancelled"
                err.append({"id": f"batch_req_{i}", "custom_id": row["custom_id"], "response": None,
                            "error": {"code": code, "message": f"This request could not be executed ({outcome})."}})  # fmt: skip
                continue
            with self.lock:
                self.line_attempts[row["custom_id"]] += 1
                attempt = self.line_attempts[row["custom_id"]]
            status = self.line_status(row["body"], attempt) if self.line_status else 200
            if status != 200:
                body = {"error": {"message": f"scripted line failure {status}", "type": "server_error"}}
                err.append({"id": f"batch_req_{i}", "custom_id": row["custom_id"],
                            "response": {"status_code": status, "request_id": f"r{i}", "body": body}, "error": None})  # fmt: skip
                continue
            body = self.completion(row["body"])
            with self.lock:
                self.answered[last_user_message(row["body"])] += 1
                self.n_answered += 1
            out.append({"id": f"batch_req_{i}", "custom_id": row["custom_id"],
                        "response": {"status_code": 200, "request_id": f"r{i}", "body": body}, "error": None})  # fmt: skip
        with self.lock:
            for rows_, name in ((out, "output_file_id"), (err, "error_file_id")):
                if rows_:
                    fid = f"file-{name[:-8]}-{len(self.files)}"
                    self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows_).encode()
                    batch[name] = fid
        batch.update(
            status=outcome,
            request_counts={"total": len(rows), "completed": len(out), "failed": len(rows) - len(out)},
        )

    def in_flight(self) -> int:
        return sum(b["status"] in ("validating", "in_progress") for b in self.batches.values())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
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
                running = b["status"] in ("validating", "in_progress")
                done = b["_polls"] >= fake.batch_polls_until_done and running
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
        if path in ("/chat/completions", "/completions"):
            self._chat(raw, path)
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
            data = self.fake.files[req["input_file_id"]]
            n_lines = sum(1 for x in data.splitlines() if x.strip())
            if n_lines > self.fake.max_batch_requests or len(data) > self.fake.max_batch_bytes:
                return self._error(400, f"batch input over the limits: {n_lines} lines, {len(data)} bytes")
            with self.fake.lock:
                self.fake.batch_lines.append(n_lines)
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
                self.fake.max_in_flight_seen = max(self.fake.max_in_flight_seen, self.fake.in_flight())
            self._send(200, {k: v for k, v in b.items() if not k.startswith("_")})
        else:
            self._error(404, f"no route POST {self.path}")

    def _chat(self, raw: bytes, path: str = "/chat/completions") -> None:
        fake = self.fake
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "request body is not JSON")
        if ("prompt" in body) != (path == "/completions"):
            return self._error(422, f"{path} takes {'prompt' if path == '/completions' else 'messages'}")
        with fake.lock:
            fake.requests.append(body)
            fault = fake.script.popleft() if fake.script else "ok"
        if fake.chat_error and path == "/chat/completions" and fault == "ok":
            return self._error(500, fake.chat_error)
        if fault == "400":
            return self._error(400, "max_tokens is too large: 99999999 (scripted refusal)")
        if fault == "422":
            return self._send(422, {"detail": "Unexpected fields in the request: {'bogus'}"})
        if fault == "500_text":
            return self._send(
                500, None, raw=b"Internal Server Error", content_type="text/plain; charset=utf-8"
            )
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
