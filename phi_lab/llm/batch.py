"""The OpenAI Batch API at paper scale: full files, several batches in flight, retries line by line.

880K exercises are 18 files of 50,000 requests, not thousands of small batches waited for in turn:

- requests are packed into input files up to the API's limits (`max_requests` lines, `max_bytes`);
- up to `max_in_flight` batches are submitted at once and polled together;
- every line that comes back without a usable reply (an error line, a non-200 line, a malformed
  body, or no line at all because its batch failed, expired or was cancelled) is resubmitted in a
  later batch, up to `max_attempts` per request in one call;
- each reply is cached the moment its output file is read, and `batch_state.json` records each
  batch's input file, uploaded file id and batch id as soon as it has one, so a killed run resumes
  by polling its batches, never by submitting (and paying for) them again.

The runner uses the client's public plumbing (`sdk`, `store`, `record`, `cache`): it does not import
`phi_lab.llm.client`, so the client can import it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_text, read_jsonl
from phi_lab.llm.prices import BATCH_DISCOUNT
from phi_lab.llm.replies import ENDPOINT_PATHS, LLMError, MalformedResponse, parse_reply

TERMINAL = ("completed", "failed", "expired", "cancelled")
STATE_VERSION = 2


@dataclass(frozen=True)
class BatchConfig:
    max_requests: int = 50_000  # the Batch API's limits for one input file
    max_bytes: int = 200 * 1024 * 1024
    max_in_flight: int = 4  # batches submitted and not yet collected
    max_attempts: int = 3  # per request, counting the first submission
    poll_s: float = 30.0
    max_wait_s: float | None = None  # stop polling after this long (resume by calling again)
    completion_window: str = "24h"

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes", "max_in_flight", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"BatchConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_requests > 50_000 or self.max_bytes > 200 * 1024 * 1024:
            raise ValueError("the Batch API takes at most 50,000 requests and 200 MB per file")
        if self.poll_s < 0 or (self.max_wait_s is not None and self.max_wait_s < 0):
            raise ValueError("BatchConfig.poll_s and max_wait_s must be >= 0")


def _line(key: str, url: str, body: dict[str, Any]) -> bytes:
    row = {"custom_id": key, "method": "POST", "url": url, "body": body}
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


class BatchRunner:
    def __init__(self, client, config: BatchConfig, state_dir: Path):
        self.client, self.config, self.dir = client, config, Path(state_dir)
        self.state_path = self.dir / "batch_state.json"
        self.url = ENDPOINT_PATHS[client.config.endpoint]
        self.jobs: list[dict[str, Any]] = []
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            # Version 1 (a bare list of jobs) had no per-job key lists but the same fields.
            self.jobs = state if isinstance(state, list) else state["jobs"]

    def save(self) -> None:
        atomic_write_text(
            self.state_path, json.dumps({"version": STATE_VERSION, "jobs": self.jobs}, indent=1)
        )

    def _keys(self, job: dict[str, Any]) -> list[str]:
        # input files are written whole (atomically) before they are recorded: any damage is an error
        return [row["custom_id"] for _, row in read_jsonl(Path(job["input"]), on_torn="raise")]

    # ---- the loop ------------------------------------------------------------------------------
    async def run(self, bodies: dict[str, dict[str, Any]], progress: bool = False) -> dict[str, str]:
        """Get a cached reply for every key of `bodies`; returns {key: reason} for those that failed
        for good (every attempt used)."""
        cfg, cache = self.config, self.client.cache
        active = [j for j in self.jobs if not j.get("collected")]
        in_flight = {k for j in active for k in self._keys(j)}
        todo = [k for k in bodies if k not in in_flight and k not in cache]
        if not active and not todo:
            return {}
        attempts: Counter[str] = Counter()
        failures: dict[str, str] = {}
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo) + len(in_flight), desc="Batch API", unit="req", disable=not progress)
        sdk = self.client.sdk()
        t0 = time.monotonic()
        try:
            while True:
                while todo and len(active) < cfg.max_in_flight:
                    todo, job = self._pack(todo, bodies)
                    for k in self._keys(job):
                        attempts[k] += 1
                    active.append(job)
                for job in active:
                    await self._advance(sdk, job)
                done = [j for j in active if j.get("collected")]
                for job in (j for j in done if "failed" in j):
                    for key, why in job["failed"].items():
                        if key in bodies and attempts[key] < cfg.max_attempts:
                            todo.append(key)  # retried line by line, in a later file
                        else:
                            failures[key] = why
                    bar.update(job["answered"])
                    # The state keeps counts by reason; the keys themselves are not cached, so a
                    # later call finds them missing and submits them again.
                    job["failed_reasons"] = dict(Counter(job.pop("failed").values()))
                active = [j for j in active if not j.get("collected")]
                self.save()
                if not active and not todo:
                    break
                if active and all(j.get("status") not in TERMINAL for j in active):
                    if cfg.max_wait_s is not None and time.monotonic() - t0 >= cfg.max_wait_s:
                        states = Counter(j.get("status") for j in active)
                        raise LLMError(
                            f"{len(active)} batches still {dict(states)} after {cfg.max_wait_s}s "
                            f"(first: {active[0].get('batch_id')} still {active[0].get('status')}); "
                            f"call again to resume polling them (state in {self.state_path})"
                        )
                    await asyncio.sleep(cfg.poll_s)
        finally:
            bar.close()
            await sdk.close()
        return {k: v for k, v in failures.items() if k not in cache}

    def _pack(self, todo: list[str], bodies: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
        """Fill one input file up to the API's limits from the front of `todo`; write it, record it."""
        cfg, lines, size = self.config, [], 0
        for key in todo:
            line = _line(key, self.url, bodies[key])
            if len(line) > cfg.max_bytes:
                raise LLMError(
                    f"one batch request is {len(line)} bytes, over the {cfg.max_bytes}-byte file limit"
                )
            if len(lines) == cfg.max_requests or size + len(line) > cfg.max_bytes:
                break
            lines.append(line)
            size += len(line)
        name = f"batch-{len(self.jobs):05d}"
        job = {"name": name, "input": str(self.dir / f"{name}-input.jsonl"), "n": len(lines), "bytes": size}
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(job["input"]), b"".join(lines).decode("utf-8"))
        self.jobs.append(job)
        self.save()
        return todo[len(lines) :], job

    async def _advance(self, sdk, job: dict[str, Any]) -> None:
        """Move a job one step: upload, create (or find after a crash), poll, collect when done."""
        import openai

        try:
            if not job.get("input_file_id"):
                data = Path(job["input"]).read_bytes()
                up = await sdk.files.create(file=(Path(job["input"]).name, data), purpose="batch")
                job["input_file_id"] = up.id
                self.save()  # before create: a crash in between is found again by input_file_id
            if not job.get("batch_id"):
                found, seen = None, 0
                async for b in await sdk.batches.list(limit=100):  # the newest 100 are enough
                    seen += 1
                    if b.input_file_id == job["input_file_id"] or seen >= 100:
                        found = b if b.input_file_id == job["input_file_id"] else None
                        break
                if found is None:
                    found = await sdk.batches.create(
                        input_file_id=job["input_file_id"],
                        endpoint=self.url,  # type: ignore[arg-type]
                        completion_window=self.config.completion_window,  # type: ignore[arg-type]
                    )
                job["batch_id"] = found.id
                self.save()
            b = await sdk.batches.retrieve(job["batch_id"])
            job["status"] = b.status
            if b.status in TERMINAL:
                await self._collect(sdk, job, b)
        except openai.APIStatusError as e:
            raise LLMError(f"Batch API ({job['name']}): {self.client.refusal(e)}") from None

    async def _collect(self, sdk, job: dict[str, Any], batch) -> None:
        endpoint = self.client.config.endpoint
        answered: set[str] = set()
        failed: dict[str, str] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await sdk.files.content(file_id)
            for line in content.text.splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    key = row["custom_id"]
                except (ValueError, KeyError, TypeError):
                    continue
                resp = row.get("response") or {}
                status = resp.get("status_code")
                try:
                    if status != 200:
                        raise MalformedResponse(_line_error(row, status))
                    reply = parse_reply(resp.get("body"), endpoint)
                except MalformedResponse as e:
                    failed.setdefault(key, str(e)[:200])
                    continue
                entry = self.client.store(key, reply, 0, batch_id=job["batch_id"])
                self.client.record(
                    entry["model"], entry["prompt_tokens"], entry["completion_tokens"], BATCH_DISCOUNT
                )
                answered.add(key)
        failed = {k: v for k, v in failed.items() if k not in answered}
        why = _batch_error(batch)
        for key in self._keys(job):
            if key not in answered and key not in failed:
                failed[key] = why
        job.update(collected=True, failed=failed, answered=len(answered))


def _line_error(row: dict[str, Any], status: Any) -> str:
    err = row.get("error") or ((row.get("response") or {}).get("body") or {}).get("error") or {}
    msg = err.get("message") if isinstance(err, dict) else str(err)
    code = err.get("code") if isinstance(err, dict) else None
    head = f"HTTP {status}" if status else (f"{code}" if code else "error")
    return f"{head}: {msg}" if msg else head


def _batch_error(batch) -> str:
    """Why a line has no result at all: its batch failed, expired or was cancelled."""
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    first = data[0] if data else None
    msg = getattr(first, "message", None) if first is not None else None
    return f"batch {batch.status}" + (f": {msg}" if msg else "")
