"""LLMClient: an OpenAI-compatible client for annotation (§2.1), synthesis (§2.2) and grading (§4).

- Any OpenAI-compatible base URL (OpenAI, vLLM, llama.cpp, Ollama, `transformers serve`), through
  `/v1/chat/completions` (`endpoint="chat"`) or `/v1/completions` (`endpoint="completions"`: how
  servers expose base models, which have no chat format; the messages become one prompt).
- The key is read from the environment (`LLMConfig.api_key_env`) when needed, never stored in the
  config, the cache, logs or outputs. `check()` fails at once, before any work, without one.
- The openai SDK retries HTTP 408/409/429/5xx, timeouts and connection errors (honouring
  Retry-After); this client adds what the SDK does not do: a retry when a 2xx body is malformed,
  and requests/tokens-per-minute buckets that live on the client, so limits hold across calls. A
  refused request (any other 4xx) is not retried, and the server's own message reaches the user.
- Every reply lands in the content-addressed `ReplyCache` the moment it arrives: never paid twice.
- `client.usage` counts replies, cache hits, retries, tokens and cost; a model without a price has
  an unknown cost (None, one warning), never $0.
- The Batch API (`chat_many_batch`, in `phi_lab.llm.batch`) for paper-scale jobs at half price.

Usage::

    client = LLMClient(LLMConfig(model="gpt-4o-mini")).check()
    res = client.chat([{"role": "user", "content": "hi"}], temperature=0.0, max_tokens=64)
    results = client.chat_many([msgs1, msgs2], temperature=1.0, max_tokens=512, template_version="v1")
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from phi_lab.llm.cache import Messages, ReplyCache, cache_key
from phi_lab.llm.prices import BATCH_DISCOUNT, DEFAULT_PRICES, Price, check_price, lookup_price, parse_prices
from phi_lab.llm.ratelimit import TokenBucket
from phi_lab.llm.replies import (
    ENDPOINTS,
    LLMError,
    MalformedResponse,
    Reply,
    estimate_tokens,
    parse_reply,
    render_prompt,
    server_message,
)

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_PRICES",
    "ChatResult",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "MalformedResponse",
    "ReplyCache",
    "TokenBucket",
    "Usage",
    "cache_key",
]

OPENAI_URL = "https://api.openai.com/v1"


@dataclass
class LLMConfig:
    model: str
    base_url: str | None = None  # None: OPENAI_BASE_URL, else the SDK default (api.openai.com)
    api_key_env: str = "OPENAI_API_KEY"
    endpoint: str = "chat"  # "chat" (/v1/chat/completions) or "completions" (/v1/completions)
    cache_dir: Path | str | None = None  # None: paths.cache_dir()/"llm"
    max_concurrency: int = 8
    requests_per_minute: float = 500.0
    tokens_per_minute: float = 200_000.0
    rate_burst_s: float = 60.0  # a bucket holds this many seconds of its rate
    # HTTP retries (by the SDK) and, separately, retries of malformed 2xx bodies (by the client).
    max_retries: int = 6
    timeout_s: float = 120.0
    backoff_base_s: float = 1.0  # malformed-body retries; the SDK backs off HTTP errors itself
    backoff_max_s: float = 60.0
    # USD per 1M tokens (input, output), over DEFAULT_PRICES; also ["MODEL=IN,OUT", ...].
    prices: dict[str, Price] | list[str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("LLMConfig.model must be a non-empty model name")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"LLMConfig.endpoint must be one of {ENDPOINTS}, got {self.endpoint!r}")
        for name in (
            "max_concurrency",
            "requests_per_minute",
            "tokens_per_minute",
            "timeout_s",
            "rate_burst_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"LLMConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_retries < 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("LLMConfig.max_retries/backoff_* must be >= 0")
        if self.api_key_env.startswith("sk-"):
            raise ValueError("LLMConfig.api_key_env names an environment variable, not the key itself")
        if isinstance(self.prices, list | tuple):
            self.prices = parse_prices(self.prices)
        self.prices = {m: check_price(m, p) for m, p in dict(self.prices).items()}
        if self.base_url is None:
            self.base_url = os.environ.get("OPENAI_BASE_URL") or None
        self.cache_dir = Path(self.cache_dir) if self.cache_dir is not None else None

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        from phi_lab.paths import cache_dir

        return cache_dir() / "llm"

    def price(self, model: str) -> Price | None:
        """(input, output) USD per 1M tokens, or None when neither `prices` nor the defaults know it."""
        return lookup_price({**DEFAULT_PRICES, **self.prices}, model)  # type: ignore[dict-item]

    def url(self) -> str:
        return self.base_url or OPENAI_URL


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    model: str
    finish_reason: str | None = None
    key: str = ""  # the cache key: stable id of (model, endpoint, messages, params, template version)


@dataclass
class Usage:
    requests: int = 0  # replies paid for (HTTP or batch), not counting cache hits
    cache_hits: int = 0
    retries: int = 0  # every retry: the SDK's HTTP retries and the client's malformed-body retries
    malformed: int = 0  # 2xx replies whose body was unusable (each retried)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    priced_cost_usd: float = 0.0  # cost of the replies whose model has a price
    unpriced_requests: int = 0  # replies from a model without a price: their cost is unknown

    @property
    def cost_usd(self) -> float | None:
        """Total cost in USD, or None ("unknown") when any reply came from a model with no price."""
        return None if self.unpriced_requests else self.priced_cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Usage:
        """Inverse of `to_dict`; also reads older records whose only cost field was `cost_usd`."""
        names = {f.name for f in fields(cls)}
        u = cls(**{k: type(getattr(cls(), k))(v) for k, v in d.items() if k in names and v is not None})
        if "priced_cost_usd" not in d and isinstance(d.get("cost_usd"), int | float):
            u.priced_cost_usd = float(d["cost_usd"])
        return u

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __sub__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})


class LLMClient:
    def __init__(self, config: LLMConfig):
        self.config = config
        self.cache = ReplyCache(config.resolved_cache_dir())
        self.usage = Usage()
        # On the client, not per call: limits hold across calls (see phi_lab.llm.ratelimit).
        self.rpm = TokenBucket(config.requests_per_minute, config.rate_burst_s)
        self.tpm = TokenBucket(config.tokens_per_minute, config.rate_burst_s)
        self.batch_failures: dict[str, str] = {}  # cache key -> why its batch line failed for good
        self._lock = threading.Lock()
        self._warned_unpriced: set[str] = set()

    # ---- before any work --------------------------------------------------------------------
    def require_api_key(self) -> str:
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise LLMError(
                f"environment variable {self.config.api_key_env} is not set: export the API key for "
                f"{self.config.url()} there (a local server without auth accepts any non-empty value)"
            )
        return key

    def check(self) -> LLMClient:
        """Fail now, not after hours of work: the key must be set; warn once if cost will be unknown."""
        self.require_api_key()
        self._warn_if_unpriced(self.config.model)
        return self

    def _warn_if_unpriced(self, model: str) -> None:
        if self.config.price(model) is not None or model in self._warned_unpriced:
            return
        self._warned_unpriced.add(model)
        warnings.warn(
            f"no price known for model {model!r}: its cost is reported as unknown; set one with "
            f"LLMConfig(prices={{{model!r}: (usd_per_1M_in, usd_per_1M_out)}}) or --price {model}=IN,OUT",
            UserWarning,
            stacklevel=3,
        )

    # ---- plumbing shared with phi_lab.llm.batch ----------------------------------------------
    def sdk(self):
        """An `openai.AsyncOpenAI` whose every HTTP attempt passes the requests bucket and is counted."""
        import openai

        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [self._on_request]})
        return openai.AsyncOpenAI(
            api_key=self.require_api_key(),
            base_url=self.config.base_url,
            max_retries=self.config.max_retries,
            timeout=self.config.timeout_s,
            http_client=http,
        )

    async def _on_request(self, request) -> None:
        if request.headers.get("x-stainless-retry-count", "0") != "0":
            with self._lock:
                self.usage.retries += 1
        if request.url.path.endswith("/completions"):  # a retry counts against the server's RPM too
            await self.rpm.acquire(1)

    def params(self, temperature: float, max_tokens: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        params = {"temperature": float(temperature), "max_tokens": max_tokens}
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def key(self, messages: Messages, params: dict[str, Any], template_version: str) -> str:
        # "endpoint" enters the key only when it is not chat, so chat keys of older caches stay valid.
        if self.config.endpoint != "chat":
            params = {**params, "endpoint": self.config.endpoint}
        return cache_key(self.config.model, list(messages), params, template_version)

    def request_body(self, messages: Messages, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of one request to the configured endpoint (also a Batch API line's body)."""
        if self.config.endpoint == "chat":
            return {"model": self.config.model, "messages": list(messages), **params}
        return {"model": self.config.model, "prompt": render_prompt(messages), **params}

    def store(self, key: str, reply: Reply, est_prompt_tokens: int = 0, **meta: Any) -> dict[str, Any]:
        """Cache a reply the moment it arrives; returns the cache entry."""
        entry = {
            "model": reply.model or self.config.model,
            "text": reply.text,
            "prompt_tokens": reply.prompt_tokens if reply.prompt_tokens >= 0 else est_prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "finish_reason": reply.finish_reason,
            "created": time.time(),
            **meta,
        }
        self.cache.put(key, entry)
        return entry

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, discount: float = 1.0) -> None:
        """Account one paid reply in `usage`."""
        price = self.config.price(model)
        if price is None:
            self._warn_if_unpriced(model)
        with self._lock:
            u = self.usage
            u.requests += 1
            u.prompt_tokens += max(prompt_tokens, 0)
            u.completion_tokens += completion_tokens
            if price is None:
                u.unpriced_requests += 1
            else:
                u.priced_cost_usd += (
                    discount * (max(prompt_tokens, 0) * price[0] + completion_tokens * price[1]) / 1e6
                )

    def from_cache(self, key: str) -> ChatResult | None:
        entry = self.cache.get(key)
        if entry is None:
            return None
        with self._lock:
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

    def refusal(self, err) -> str:
        """The user-facing message of an `openai.APIStatusError`, with the server's own words."""
        status, url = err.status_code, self.config.url()
        msg = server_message(err)
        if status not in (408, 409, 429) and status < 500:
            return f"{url} refused the request with HTTP {status}: {msg} (not retried)"
        text = f"{url} answered HTTP {status}: {msg} (gave up after {self.config.max_retries} retries)"
        if status >= 500 and self.config.endpoint == "chat" and self.config.base_url:
            text += (
                "; if this server hosts a base model without a chat template (transformers serve logs "
                "'Cannot use chat template functions ...'), use endpoint='completions' "
                "(--endpoint completions) or a checkpoint whose tokenizer has a chat template"
            )
        return text

    # ---- one request --------------------------------------------------------------------------
    async def _call(self, sdk, messages: Messages, params: dict[str, Any]) -> Reply:
        if self.config.endpoint == "chat":
            raw = await sdk.chat.completions.with_raw_response.create(
                model=self.config.model, messages=messages, **params
            )
        else:
            raw = await sdk.completions.with_raw_response.create(
                model=self.config.model, prompt=render_prompt(messages), **params
            )
        try:
            body = json.loads(raw.http_response.text)
        except ValueError as e:
            raise MalformedResponse(f"reply is not JSON: {e}") from None
        return parse_reply(body, self.config.endpoint)

    async def _request(self, sdk, messages: Messages, params: dict[str, Any], key: str, sem) -> ChatResult:
        import openai

        cfg = self.config
        est = estimate_tokens(messages, params.get("max_tokens"))
        last = ""
        for attempt in range(cfg.max_retries + 1):
            async with sem:
                await self.tpm.acquire(est)
                try:
                    reply = await self._call(sdk, messages, params)
                except openai.APIStatusError as e:
                    raise LLMError(self.refusal(e)) from None
                except openai.APITimeoutError:
                    raise LLMError(
                        f"{cfg.url()} did not answer within {cfg.timeout_s}s "
                        f"(gave up after {cfg.max_retries} retries)"
                    ) from None
                except openai.APIConnectionError as e:
                    raise LLMError(
                        f"cannot reach {cfg.url()}: {e} (gave up after {cfg.max_retries} retries)"
                    ) from None
                except (MalformedResponse, openai.APIResponseValidationError) as e:
                    last = str(e).replace("\n", " ")[:300]
                    self.tpm.refund(est)
                else:
                    # First thing after receipt: cache it, so no crash can make us pay twice.
                    entry = self.store(key, reply, est - (params.get("max_tokens") or 256))
                    pt, ct = entry["prompt_tokens"], entry["completion_tokens"]
                    self.tpm.refund(max(0, est - pt - ct))
                    self.record(entry["model"], pt, ct)
                    return ChatResult(reply.text, pt, ct, False, entry["model"], reply.finish_reason, key)
            if attempt == cfg.max_retries:
                break
            with self._lock:
                self.usage.retries += 1
                self.usage.malformed += 1
            wait = min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt) * (0.5 + random.random() / 2)
            await asyncio.sleep(wait)
        raise LLMError(f"{cfg.url()} sent {cfg.max_retries + 1} malformed replies in a row; last: {last}")

    # ---- many requests ------------------------------------------------------------------------
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
        params = self.params(temperature, max_tokens, extra)
        keys = [self.key(m, params, template_version) for m in list_of_messages]
        results: list[ChatResult | None] = [self.from_cache(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return results  # type: ignore[return-value]
        from tqdm.auto import tqdm

        sem = asyncio.Semaphore(self.config.max_concurrency)
        bar = tqdm(total=len(todo), desc=f"LLM {self.config.model}", disable=not progress, unit="req")
        sdk = self.sdk()
        try:

            async def one(i: int) -> None:
                results[i] = await self._request(sdk, list(list_of_messages[i]), params, keys[i], sem)
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
        return run_sync(self.achat_many(list_of_messages, **kw))

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

    def chat_many_batch(
        self,
        list_of_messages: Sequence[Messages],
        *,
        state_dir: Path | str,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        template_version: str = "",
        poll_s: float | None = None,
        max_wait_s: float | None = None,
        batch=None,
        on_failure: str = "raise",
        progress: bool = False,
        **extra: Any,
    ) -> list[ChatResult | None]:
        """Like `chat_many` but through the Batch API (half price, up to 24 h); see `phi_lab.llm.batch`.

        `batch` is a `BatchConfig` (file limits, batches in flight, attempts per line). Requests that
        still fail after their last attempt raise `LLMError` (`on_failure="raise"`) or come back as
        None with the reason in `self.batch_failures[key]` (`on_failure="none"`).
        """
        from dataclasses import replace

        from phi_lab.llm.batch import BatchConfig, BatchRunner

        if on_failure not in ("raise", "none"):
            raise ValueError(f"on_failure must be 'raise' or 'none', got {on_failure!r}")
        cfg = batch or BatchConfig()
        if poll_s is not None or max_wait_s is not None:
            cfg = replace(
                cfg,
                poll_s=cfg.poll_s if poll_s is None else poll_s,
                max_wait_s=cfg.max_wait_s if max_wait_s is None else max_wait_s,
            )
        params = self.params(temperature, max_tokens, extra)
        keys = [self.key(m, params, template_version) for m in list_of_messages]
        bodies = {k: self.request_body(m, params) for k, m in zip(keys, list_of_messages)}
        failures = run_sync(BatchRunner(self, cfg, Path(state_dir)).run(bodies, progress=progress))
        self.batch_failures.update(failures)
        results = [None if k in failures else self.from_cache(k) for k in keys]
        missing = [k for k, r in zip(keys, results) if r is None]
        if missing and on_failure == "raise":
            reasons: dict[str, int] = {}
            for k in missing:
                why = failures.get(k, "no reply in the cache")
                reasons[why] = reasons.get(why, 0) + 1
            raise LLMError(
                f"{len(missing)} of {len(keys)} batch requests failed for good ({reasons}); state in "
                f"{state_dir}; raise BatchConfig.max_attempts or call again to retry them"
            )
        return results


def run_sync(coro):
    """Run a coroutine to completion, also from inside a running event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
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
