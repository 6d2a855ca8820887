"""LLMClient: an OpenAI-compatible chat client for synthesis, annotation and grading.

- Works against any OpenAI-compatible base URL (OpenAI, vLLM, llama.cpp server, Ollama).
  The key is read from the environment (`LLMConfig.api_key_env`, default OPENAI_API_KEY) at
  request time and is never stored in the config, the cache, logs or outputs.
- Async concurrency bounded by `max_concurrency`, plus requests/min and tokens/min token buckets.
- Bounded retries with exponential backoff on 429 (honouring Retry-After), 5xx, timeouts,
  connection errors and malformed bodies; then `LLMError` with the last cause.
- A content-addressed on-disk cache keyed on (model, messages, sampling params, template version).
  Each reply is written atomically to its own file the moment it arrives, so a run killed at any
  moment never pays twice for a reply it already received.
- Token and cost accounting (`client.usage`) from a configurable price table.
- The OpenAI Batch API for large jobs: `chat_many_batch` writes the JSONL, uploads, submits, polls,
  collects into the same cache, and resumes from its state file after a crash.

Usage::

    client = LLMClient(LLMConfig(model="gpt-4o-mini"))
    res = client.chat([{"role": "user", "content": "hi"}], temperature=0.0, max_tokens=64)
    results = client.chat_many([msgs1, msgs2], temperature=1.0, max_tokens=512, template_version="v1")
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_text

Messages = list[dict[str, str]]

# USD per 1M tokens (input, output). Unknown models cost 0 and are reported as such.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4-turbo": (10.00, 30.00),
}
BATCH_DISCOUNT = 0.5  # the Batch API bills half price


class LLMError(RuntimeError):
    """A request failed for good (non-retryable status, or retries exhausted)."""


class MalformedResponse(Exception):
    """The server answered 2xx with a body that is not a usable chat completion."""


@dataclass
class LLMConfig:
    model: str
    base_url: str | None = None  # None: OPENAI_BASE_URL, else the SDK default (api.openai.com)
    api_key_env: str = "OPENAI_API_KEY"
    cache_dir: Path | str | None = None  # None: paths.cache_dir()/"llm"
    max_concurrency: int = 8
    requests_per_minute: float = 500.0
    tokens_per_minute: float = 200_000.0
    max_retries: int = 6
    timeout_s: float = 120.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("LLMConfig.model must be a non-empty model name")
        for name in ("max_concurrency", "requests_per_minute", "tokens_per_minute", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"LLMConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_retries < 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("LLMConfig.max_retries/backoff_* must be >= 0")
        if self.api_key_env.startswith("sk-"):
            raise ValueError("LLMConfig.api_key_env names an environment variable, not the key itself")
        if self.base_url is None:
            self.base_url = os.environ.get("OPENAI_BASE_URL") or None
        self.cache_dir = Path(self.cache_dir) if self.cache_dir is not None else None

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        from phi_lab.paths import cache_dir

        return cache_dir() / "llm"

    def price(self, model: str) -> tuple[float, float]:
        if model in self.prices:
            return self.prices[model]
        # Dated snapshots ("gpt-4o-mini-2024-07-18") bill like their base name: longest prefix wins.
        best = max((m for m in self.prices if model.startswith(m)), key=len, default=None)
        return self.prices[best] if best else (0.0, 0.0)


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    model: str
    finish_reason: str | None = None
    key: str = ""  # the cache key: stable id of (model, messages, params, template version)


@dataclass
class Usage:
    requests: int = 0  # replies paid for (HTTP or batch), not counting cache hits
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_key(model: str, messages: Messages, params: dict[str, Any], template_version: str) -> str:
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params, "template_version": template_version},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplyCache:
    """One JSON file per reply under `root/ab/abcdef....json`; a half-written entry never exists."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self.path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # unreadable entry (disk trouble): treat as a miss and overwrite

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write_text(self.path(key), json.dumps(entry, ensure_ascii=False))


class TokenBucket:
    """`rate_per_min` units per minute, bursting up to one minute's worth."""

    def __init__(self, rate_per_min: float):
        self.capacity = float(rate_per_min)
        self.rate = float(rate_per_min) / 60.0
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, amount: float) -> None:
        amount = min(float(amount), self.capacity)  # a single huge request must still be able to go
        async with self.lock:
            while True:
                self._refill()
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)

    def refund(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


def _estimate_tokens(messages: Messages, max_tokens: int | None) -> int:
    chars = sum(len(m.get("content") or "") for m in messages)
    return chars // 4 + 8 * len(messages) + (max_tokens or 256)


def _retry_after_s(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` / `Retry-After` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(ra).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def parse_completion(body: Any) -> tuple[str, int, int, str | None, str | None]:
    """(text, prompt_tokens, completion_tokens, finish_reason, model) from a chat completion body."""
    if not isinstance(body, dict):
        raise MalformedResponse(f"body is {type(body).__name__}, not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("no choices in the reply")
    msg = choices[0].get("message")
    text = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(text, str):
        raise MalformedResponse("choices[0].message.content is missing or not a string")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    # Servers that omit usage still get accounted: a rough 4-chars-per-token estimate.
    pt = int(pt) if isinstance(pt, int) else -1
    ct = int(ct) if isinstance(ct, int) else max(1, len(text) // 4)
    return text, pt, ct, choices[0].get("finish_reason"), body.get("model")


class LLMClient:
    def __init__(self, config: LLMConfig):
        self.config = config
        self.cache = ReplyCache(config.resolved_cache_dir())
        self.usage = Usage()
        self._usage_lock = threading.Lock()

    # ---- plumbing -------------------------------------------------------------------------
    def _api_key(self) -> str:
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise LLMError(
                f"environment variable {self.config.api_key_env} is not set; export the API key there "
                "(for a local server without auth any non-empty value works)"
            )
        return key

    def _sdk(self):
        from openai import AsyncOpenAI

        # SDK retries off: we retry ourselves so Retry-After, accounting and errors are ours.
        return AsyncOpenAI(
            api_key=self._api_key(),
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
        )

    def _params(self, temperature: float, max_tokens: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        params = {"temperature": float(temperature), "max_tokens": max_tokens}
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def _account(self, model: str, pt: int, ct: int, discount: float = 1.0) -> None:
        pin, pout = self.config.price(model)
        with self._usage_lock:
            self.usage.requests += 1
            self.usage.prompt_tokens += max(pt, 0)
            self.usage.completion_tokens += ct
            self.usage.cost_usd += discount * (max(pt, 0) * pin + ct * pout) / 1e6

    def _from_cache(self, key: str) -> ChatResult | None:
        entry = self.cache.get(key)
        if entry is None:
            return None
        with self._usage_lock:
            self.usage.cache_hits += 1
        return ChatResult(
            text=entry["text"],
            prompt_tokens=entry["prompt_tokens"],
            completion_tokens=entry["completion_tokens"],
            cached=True,
            model=entry["model"],
            finish_reason=entry.get("finish_reason"),
            key=key,
        )

    # ---- one request with retries --------------------------------------------------------
    async def _request(self, sdk, messages: Messages, params: dict[str, Any], key: str, limits) -> ChatResult:
        import openai

        sem, rpm, tpm = limits
        cfg = self.config
        est = _estimate_tokens(messages, params.get("max_tokens"))
        last: str = ""
        for attempt in range(cfg.max_retries + 1):
            wait: float | None = None
            async with sem:
                await rpm.acquire(1)
                await tpm.acquire(est)
                try:
                    raw = await sdk.chat.completions.with_raw_response.create(
                        model=cfg.model, messages=messages, **params
                    )
                    try:
                        body = json.loads(raw.http_response.text)
                    except ValueError as e:
                        raise MalformedResponse(f"reply is not JSON: {e}") from None
                    text, pt, ct, finish, model = parse_completion(body)
                    if pt < 0:
                        pt = est - (params.get("max_tokens") or 256)
                    entry = {
                        "model": model or cfg.model,
                        "text": text,
                        "prompt_tokens": pt,
                        "completion_tokens": ct,
                        "finish_reason": finish,
                        "created": time.time(),
                    }
                    self.cache.put(key, entry)  # first thing after receipt: never pay twice
                    tpm.refund(max(0, est - pt - ct))
                    self._account(entry["model"], pt, ct)
                    return ChatResult(text, pt, ct, False, entry["model"], finish, key)
                except openai.RateLimitError as e:
                    last = f"429 rate limited: {_short(e)}"
                    wait = _retry_after_s(e.response.headers)
                except openai.APIStatusError as e:
                    if e.status_code < 500 and e.status_code not in (408, 409):
                        raise LLMError(
                            f"{cfg.base_url or 'api.openai.com'} refused the request with HTTP "
                            f"{e.status_code}: {_short(e)} (not retried)"
                        ) from None
                    last = f"HTTP {e.status_code}: {_short(e)}"
                except openai.APITimeoutError:
                    last = f"timed out after {cfg.timeout_s}s"
                except openai.APIConnectionError as e:
                    last = f"connection error: {_short(e)}"
                except (MalformedResponse, openai.APIResponseValidationError) as e:
                    last = f"malformed reply: {_short(e)}"
            if attempt == cfg.max_retries:
                break
            with self._usage_lock:
                self.usage.retries += 1
            if wait is None:
                wait = min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt) * (0.5 + random.random() / 2)
            await asyncio.sleep(min(wait, 600.0))  # honour Retry-After, but never hang for hours
        raise LLMError(f"request failed after {cfg.max_retries + 1} attempts; last error: {last}")

    async def achat_many(
        self,
        list_of_messages: Sequence[Messages],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        template_version: str = "",
        progress: bool = True,
        **extra: Any,
    ) -> list[ChatResult]:
        params = self._params(temperature, max_tokens, extra)
        keys = [cache_key(self.config.model, list(m), params, template_version) for m in list_of_messages]
        results: list[ChatResult | None] = [self._from_cache(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return results  # type: ignore[return-value]
        from tqdm.auto import tqdm

        cfg = self.config
        limits = (
            asyncio.Semaphore(cfg.max_concurrency),
            TokenBucket(cfg.requests_per_minute),
            TokenBucket(cfg.tokens_per_minute),
        )
        bar = tqdm(total=len(todo), desc=f"LLM {cfg.model}", disable=not progress, unit="req")
        sdk = self._sdk()
        try:

            async def one(i: int) -> None:
                results[i] = await self._request(sdk, list(list_of_messages[i]), params, keys[i], limits)
                bar.update(1)

            tasks = [asyncio.create_task(one(i)) for i in todo]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            bar.close()
            await sdk.close()
        return results  # type: ignore[return-value]

    async def achat(self, messages: Messages, **kw: Any) -> ChatResult:
        return (await self.achat_many([messages], progress=False, **kw))[0]

    # ---- sync API (works inside a running event loop too, e.g. Jupyter) -----------------------
    def chat_many(self, list_of_messages: Sequence[Messages], **kw: Any) -> list[ChatResult]:
        return _run_sync(self.achat_many(list_of_messages, **kw))

    def chat(
        self,
        messages: Messages,
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        template_version: str = "",
        **extra: Any,
    ) -> ChatResult:
        return self.chat_many(
            [messages],
            temperature=temperature,
            max_tokens=max_tokens,
            template_version=template_version,
            progress=False,
            **extra,
        )[0]

    # ---- Batch API -------------------------------------------------------------------------
    def chat_many_batch(
        self,
        list_of_messages: Sequence[Messages],
        *,
        state_dir: Path | str,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        template_version: str = "",
        poll_s: float = 30.0,
        max_wait_s: float | None = None,
        **extra: Any,
    ) -> list[ChatResult]:
        """Like `chat_many` but through the Batch API (half price, up to 24 h).

        The state file in `state_dir` records the submitted batch; calling again after a crash
        resumes polling that batch instead of submitting (and paying for) a second one.
        """
        return _run_sync(
            self._abatch(
                list_of_messages,
                Path(state_dir),
                temperature=temperature,
                max_tokens=max_tokens,
                template_version=template_version,
                poll_s=poll_s,
                max_wait_s=max_wait_s,
                extra=extra,
            )
        )

    async def _abatch(
        self,
        list_of_messages,
        state_dir: Path,
        *,
        temperature,
        max_tokens,
        template_version,
        poll_s,
        max_wait_s,
        extra,
    ) -> list[ChatResult]:
        params = self._params(temperature, max_tokens, extra)
        keys = [cache_key(self.config.model, list(m), params, template_version) for m in list_of_messages]
        state_path = state_dir / "batch_state.json"
        jobs: list[dict[str, Any]] = json.loads(state_path.read_text()) if state_path.exists() else []

        def save() -> None:
            atomic_write_text(state_path, json.dumps(jobs, indent=1))

        sdk = self._sdk()
        try:
            # 1. Resume every batch submitted earlier and not yet collected.
            for job in jobs:
                if not job.get("collected"):
                    await self._batch_finish(sdk, job, save, poll_s, max_wait_s)
            # 2. Submit one batch for whatever the cache still lacks.
            todo: dict[str, Messages] = {}
            for k, m in zip(keys, list_of_messages):
                if k not in todo and self.cache.get(k) is None:
                    todo[k] = list(m)
            if todo:
                job = {"n": len(todo), "input": str(state_dir / f"batch-{len(jobs)}-input.jsonl")}
                lines = [
                    json.dumps(
                        {
                            "custom_id": k,
                            "method": "POST",
                            "url": "/v1/chat/completions",
                            "body": {"model": self.config.model, "messages": m, **params},
                        },
                        ensure_ascii=False,
                    )
                    for k, m in todo.items()
                ]
                atomic_write_text(Path(job["input"]), "\n".join(lines) + "\n")
                with open(job["input"], "rb") as f:
                    up = await sdk.files.create(file=(Path(job["input"]).name, f.read()), purpose="batch")
                job["input_file_id"] = up.id
                jobs.append(job)
                save()  # before create: a crash in between is found again by input_file_id
                await self._batch_finish(sdk, job, save, poll_s, max_wait_s)
        finally:
            await sdk.close()
        results = [self._from_cache(k) for k in keys]
        missing = sum(r is None for r in results)
        if missing:
            raise LLMError(
                f"{missing} of {len(keys)} batch requests failed (see {state_path}); "
                "call again to resubmit just those"
            )
        return results  # type: ignore[return-value]

    async def _batch_finish(self, sdk, job: dict[str, Any], save, poll_s: float, max_wait_s) -> None:
        if not job.get("batch_id"):
            found = None
            async for b in await sdk.batches.list(limit=100):
                if b.input_file_id == job["input_file_id"]:
                    found = b
                    break
            if found is None:
                found = await sdk.batches.create(
                    input_file_id=job["input_file_id"],
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
            job["batch_id"] = found.id
            save()
        t0 = time.monotonic()
        while True:
            b = await sdk.batches.retrieve(job["batch_id"])
            job["status"] = b.status
            if b.status in ("completed", "failed", "expired", "cancelled"):
                break
            if max_wait_s is not None and time.monotonic() - t0 > max_wait_s:
                save()
                raise LLMError(
                    f"batch {job['batch_id']} still {b.status} after {max_wait_s}s; "
                    "call again later to resume polling it"
                )
            await asyncio.sleep(poll_s)
        failed = 0
        if b.output_file_id:
            content = await sdk.files.content(b.output_file_id)
            for line in content.text.splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    resp = row.get("response") or {}
                    if resp.get("status_code") != 200:
                        raise MalformedResponse(f"status {resp.get('status_code')}")
                    text, pt, ct, finish, model = parse_completion(resp.get("body"))
                except (ValueError, MalformedResponse, AttributeError):
                    failed += 1
                    continue
                model = model or self.config.model
                self.cache.put(
                    row["custom_id"],
                    {
                        "model": model,
                        "text": text,
                        "prompt_tokens": max(pt, 0),
                        "completion_tokens": ct,
                        "finish_reason": finish,
                        "created": time.time(),
                        "batch_id": job["batch_id"],
                    },
                )
                self._account(model, pt, ct, discount=BATCH_DISCOUNT)
        job["failed_lines"] = failed
        job["collected"] = True
        save()


def _short(e: BaseException, n: int = 300) -> str:
    msg = str(e).replace("\n", " ")
    return msg[:n]


def _run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Already inside an event loop (a notebook): run in a helper thread with its own loop.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
