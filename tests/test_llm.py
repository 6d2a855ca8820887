"""LLMClient against a real local OpenAI-compatible server (tests/fake_openai.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:
    from fake_openai import FakeOpenAI
except ImportError:  # tests/ imported as a package
    from tests.fake_openai import FakeOpenAI

from phi_lab.llm.client import LLMClient, LLMConfig, LLMError, TokenBucket, Usage
from phi_lab.llm.prices import parse_price
from phi_lab.llm.replies import render_prompt

FAKE_KEY = "sk-phi-lab-TEST-KEY-0123456789abcdef"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with FakeOpenAI(api_key=FAKE_KEY, retry_after=0.3, slow_s=1.0) as srv:
        yield srv


def make_client(server, tmp_path, **kw) -> LLMClient:
    cfg = dict(
        model="gpt-4o-mini",
        base_url=server.base_url,
        cache_dir=tmp_path / "cache",
        max_retries=4,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        timeout_s=5.0,
    )
    cfg.update(kw)
    return LLMClient(LLMConfig(**cfg))


def msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_chat_cache_and_cost(server, tmp_path):
    client = make_client(server, tmp_path)
    r = client.chat(msgs("hello there"), temperature=0.0, max_tokens=16, template_version="v1")
    assert r.text == "Reply to: hello there" and not r.cached
    assert (r.prompt_tokens, r.completion_tokens) == (4, 4)
    # 4 in + 4 out at gpt-4o-mini prices (0.15 / 0.60 USD per 1M)
    assert client.usage.cost_usd == pytest.approx((4 * 0.15 + 4 * 0.60) / 1e6)
    again = make_client(server, tmp_path).chat(
        msgs("hello there"), temperature=0.0, max_tokens=16, template_version="v1"
    )
    assert again.cached and again.text == r.text and server.n_answered == 1
    # Any change of model params or template version is a different key: a new request.
    client.chat(msgs("hello there"), temperature=0.0, max_tokens=16, template_version="v2")
    client.chat(msgs("hello there"), temperature=0.7, max_tokens=16, template_version="v1")
    assert server.n_answered == 3
    blobs = [p.read_text() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(blobs) == 3 and not any(FAKE_KEY in b for b in blobs)


def test_retries_on_429_500_malformed(server, tmp_path):
    client = make_client(server, tmp_path)
    server.inject("429", "500", "malformed", "malformed_shape")
    t0 = time.monotonic()
    r = client.chat(msgs("retry me"))
    assert r.text == "Reply to: retry me"
    assert time.monotonic() - t0 >= 0.3  # Retry-After (0.3 s) was honoured, not the 0.05 s backoff cap
    assert len(server.requests) == 5 and server.n_answered == 1
    # 429 and 500 were retried by the SDK, the two malformed 2xx bodies by the client: all counted.
    assert client.usage.retries == 4 and client.usage.malformed == 2 and client.usage.requests == 1


def test_timeout_is_retried(server, tmp_path):
    client = make_client(server, tmp_path, timeout_s=0.3)
    server.inject("slow")
    r = client.chat(msgs("slowly"))
    assert r.text == "Reply to: slowly" and len(server.requests) == 2


def test_gives_up_with_clear_error(server, tmp_path):
    client = make_client(server, tmp_path, max_retries=2)
    server.inject("500", "500", "500", "500")
    with pytest.raises(LLMError, match=r"answered HTTP 500: server error \(gave up after 2 retries\)"):
        client.chat(msgs("doomed"))
    assert len(server.requests) == 3 and client.usage.retries == 2


@pytest.mark.parametrize(
    "fault,message",
    [
        ("400", "refused the request with HTTP 400: max_tokens is too large"),  # OpenAI's error.message
        ("422", "refused the request with HTTP 422: Unexpected fields in the request"),  # FastAPI's detail
    ],
)
def test_a_refused_request_is_not_retried_and_the_server_says_why(server, tmp_path, fault, message):
    client = make_client(server, tmp_path)
    server.inject(fault)
    t0 = time.monotonic()
    with pytest.raises(LLMError, match=message) as info:
        client.chat(msgs("wrong request"))
    assert "not retried" in str(info.value) and "Error code" not in str(info.value)
    assert len(server.requests) == 1 and client.usage.retries == 0 and time.monotonic() - t0 < 2


def test_a_plain_text_error_body_reaches_the_user(server, tmp_path):
    client = make_client(server, tmp_path, max_retries=0)
    server.inject("500_text")
    with pytest.raises(LLMError, match="answered HTTP 500: Internal Server Error"):
        client.chat(msgs("x"))


def test_a_server_without_chat_template_is_used_through_completions(monkeypatch, tmp_path):
    """A base model served without a chat template: chat fails with the server's own words and a hint;
    the completions endpoint gets the same conversation as one prompt, cached under its own key."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    why = "Cannot use chat template functions because tokenizer.chat_template is not set"
    with FakeOpenAI(api_key=FAKE_KEY, chat_error=why) as srv:
        chat = make_client(srv, tmp_path, max_retries=1)
        with pytest.raises(LLMError, match=why) as info:
            chat.chat(msgs("def add(a, b):"))
        assert "endpoint='completions'" in str(info.value) and len(srv.requests) == 2
        base = make_client(srv, tmp_path, endpoint="completions")
        r = base.chat(msgs("def add(a, b):"), max_tokens=8)
        assert (
            srv.requests[-1]["prompt"]
            == render_prompt(msgs("def add(a, b):"))
            == "be brief\n\ndef add(a, b):\n\n"
        )
        assert r.text == "Reply to: " + render_prompt(msgs("def add(a, b):")) and r.completion_tokens > 0
        assert base.usage.requests == 1 and base.usage.prompt_tokens == 5
        # Same messages, other endpoint: a different cache key (a chat reply is not a completion).
        assert r.key != chat.key(msgs("def add(a, b):"), chat.params(0.0, 8, {}), "")
        assert (
            make_client(srv, tmp_path, endpoint="completions")
            .chat(msgs("def add(a, b):"), max_tokens=8)
            .cached
        )


def test_auth_errors_not_retried_and_key_not_leaked(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-XYZ")
    client = make_client(server, tmp_path)
    with pytest.raises(LLMError, match="HTTP 401") as info:
        client.chat(msgs("x"))
    assert "sk-wrong-key-XYZ" not in str(info.value) and server.unauthorized == 1
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        make_client(server, tmp_path).chat(msgs("y"))


def test_check_fails_before_any_request_without_a_key(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    client = make_client(server, tmp_path)
    with pytest.raises(
        LLMError, match=f"OPENAI_API_KEY is not set: export the API key for {server.base_url}"
    ):
        client.check()
    assert server.requests == [] and server.unauthorized == 0
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert client.check() is client


def test_chat_many_order_concurrency_and_faults(server, tmp_path):
    client = make_client(server, tmp_path, max_concurrency=4)
    server.inject("429", "ok", "500", "ok", "malformed")
    prompts = [msgs(f"item {i}") for i in range(20)]
    res = client.chat_many(prompts, temperature=1.0, max_tokens=8, progress=False)
    assert [r.text for r in res] == [f"Reply to: item {i}" for i in range(20)]
    assert server.n_answered == 20 and client.usage.requests == 20
    # Duplicates inside one call share the cache key but each is looked up independently.
    res2 = client.chat_many(prompts[:5], temperature=1.0, max_tokens=8, progress=False)
    assert all(r.cached for r in res2) and server.n_answered == 20


def test_token_bucket_limits_rate():
    async def go() -> float:
        bucket = TokenBucket(600)  # 10 per second, burst 600
        await bucket.acquire(600)
        t0 = time.monotonic()
        for _ in range(4):
            await bucket.acquire(1)
        return time.monotonic() - t0

    assert 0.3 <= asyncio.run(go()) < 1.5


def test_rate_limits_hold_across_calls(server, tmp_path):
    """The buckets live on the client: a second call does not start with a fresh burst."""
    client = make_client(server, tmp_path, requests_per_minute=120, rate_burst_s=2.0)  # 2/s, burst 4
    t0 = time.monotonic()
    client.chat_many([msgs(f"first {i}") for i in range(4)], progress=False)
    first = time.monotonic() - t0
    t1 = time.monotonic()
    client.chat_many([msgs(f"second {i}") for i in range(4)], progress=False)
    second = time.monotonic() - t1
    assert first < 1.5 and second >= 1.5  # 4 more requests at 2/s from an empty bucket
    assert server.n_answered == 8


def test_token_bucket_is_shared_by_event_loops():
    bucket = TokenBucket(60, burst_s=1.0)  # 1 a second, holds 1

    async def take() -> float:
        t0 = time.monotonic()
        await bucket.acquire(1)
        return time.monotonic() - t0

    assert asyncio.run(take()) < 0.2
    assert 0.7 <= asyncio.run(take()) < 3.0  # a new loop waits for the same bucket


def test_config_validation():
    with pytest.raises(ValueError, match="max_concurrency"):
        LLMConfig(model="m", max_concurrency=0)
    with pytest.raises(ValueError, match="environment variable"):
        LLMConfig(model="m", api_key_env="sk-abc")
    with pytest.raises(ValueError, match="endpoint must be one of"):
        LLMConfig(model="m", endpoint="responses")
    with pytest.raises(ValueError, match="price of 'm'"):
        LLMConfig(model="m", prices={"m": (1.0, -2.0)})


def test_prices_snapshots_and_unknown_models():
    cfg = LLMConfig(model="gpt-4")
    assert cfg.price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert cfg.price("gpt-4") == cfg.price("gpt-4-0613") == (30.0, 60.0)  # the paper preset's annotator
    assert cfg.price("gpt-4-32k") is None and cfg.price("gpt-4.5-preview") is None  # no prefix guessing
    assert cfg.price("my-local-model") is None
    assert parse_price("my-local-model=0.5,1.25") == ("my-local-model", (0.5, 1.25))
    assert LLMConfig(model="x", prices=["x=1,2"]).price("x") == (1.0, 2.0)
    for bad in ("x=1", "=1,2", "x=a,b", "x=1,-2"):
        with pytest.raises(ValueError, match=r"MODEL=IN,OUT|>= 0"):
            parse_price(bad)


def test_unknown_price_is_unknown_not_zero_with_one_warning(server, tmp_path):
    client = make_client(server, tmp_path, model="local-base-model")
    with pytest.warns(UserWarning, match="no price known for model 'local-base-model'") as record:
        client.check()
        client.chat_many([msgs(f"q{i}") for i in range(3)], progress=False)
    assert len(record) == 1
    assert client.usage.cost_usd is None and client.usage.to_dict()["cost_usd"] is None
    assert client.usage.unpriced_requests == 3 and client.usage.prompt_tokens > 0
    priced = make_client(server, tmp_path, model="local-base-model", prices={"local-base-model": (1.0, 2.0)})
    r = priced.chat(msgs("priced"))
    assert priced.usage.cost_usd == pytest.approx((r.prompt_tokens * 1.0 + r.completion_tokens * 2.0) / 1e6)


def test_usage_adds_subtracts_and_reads_old_records():
    a = Usage(requests=2, prompt_tokens=10, priced_cost_usd=0.5)
    b = Usage(requests=1, unpriced_requests=1)
    assert (a + b).cost_usd is None and (a + b - b) == a
    assert Usage.from_dict(a.to_dict()) == a
    assert Usage.from_dict({"requests": 3, "cost_usd": 0.25}).cost_usd == 0.25  # an older progress.json


def test_batch_api_submit_poll_collect_resume(server, tmp_path):
    server.batch_polls_until_done = 3
    client = make_client(server, tmp_path)
    prompts = [msgs(f"batch {i}") for i in range(6)]
    with pytest.raises(LLMError, match="still in_progress"):
        client.chat_many_batch(prompts, state_dir=tmp_path / "batch", poll_s=0.01, max_wait_s=0.0)
    assert len(server.batches) == 1 and server.n_answered == 0
    # A fresh process resumes polling the same batch instead of submitting another.
    client2 = make_client(server, tmp_path)
    res = client2.chat_many_batch(prompts, state_dir=tmp_path / "batch", poll_s=0.01)
    assert [r.text for r in res] == [f"Reply to: batch {i}" for i in range(6)]
    assert len(server.batches) == 1 and server.n_answered == 6
    assert client2.usage.requests == 6 and client2.usage.cost_usd > 0
    # Results now live in the normal cache: chat_many pays nothing.
    assert all(r.cached for r in client2.chat_many(prompts, progress=False))
    assert server.n_answered == 6


CHILD = textwrap.dedent("""
    import sys
    from phi_lab.llm.client import LLMClient, LLMConfig
    c = LLMClient(LLMConfig(model="gpt-4o-mini", base_url=sys.argv[1], cache_dir=sys.argv[2],
                            max_concurrency=1, backoff_base_s=0.01))
    res = c.chat_many([[{"role": "user", "content": f"p{i}"}] for i in range(10)], progress=False)
    print("DONE", sum(r.cached for r in res))
""")


def test_sigkill_mid_run_never_pays_twice(server, tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    cmd = [sys.executable, "-c", CHILD, server.base_url, str(tmp_path / "cache")]
    server.inject("ok", "ok", "ok", "ok", "hang")  # the 5th request never gets an answer
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.wait_for(lambda s: s.hanging == 1, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert server.n_answered == 4
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["DONE", "4"]
    assert server.n_answered == 10 and set(server.answered.values()) == {1}
    assert not any(FAKE_KEY in p.read_text() for p in Path(tmp_path / "cache").rglob("*.json"))
