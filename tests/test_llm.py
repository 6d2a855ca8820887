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

from phi_lab.llm.client import LLMClient, LLMConfig, LLMError, TokenBucket

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
    assert client.usage.retries == 4 and client.usage.requests == 1


def test_timeout_is_retried(server, tmp_path):
    client = make_client(server, tmp_path, timeout_s=0.3)
    server.inject("slow")
    r = client.chat(msgs("slowly"))
    assert r.text == "Reply to: slowly" and len(server.requests) == 2


def test_gives_up_with_clear_error(server, tmp_path):
    client = make_client(server, tmp_path, max_retries=2)
    server.inject("500", "500", "500", "500")
    with pytest.raises(LLMError, match=r"after 3 attempts; last error: HTTP 500"):
        client.chat(msgs("doomed"))
    assert len(server.requests) == 3


def test_auth_errors_not_retried_and_key_not_leaked(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-XYZ")
    client = make_client(server, tmp_path)
    with pytest.raises(LLMError, match="HTTP 401") as info:
        client.chat(msgs("x"))
    assert "sk-wrong-key-XYZ" not in str(info.value) and server.unauthorized == 1
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        make_client(server, tmp_path).chat(msgs("y"))


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


def test_config_validation():
    with pytest.raises(ValueError, match="max_concurrency"):
        LLMConfig(model="m", max_concurrency=0)
    with pytest.raises(ValueError, match="environment variable"):
        LLMConfig(model="m", api_key_env="sk-abc")
    assert LLMConfig(model="gpt-4o-mini-2024-07-18").price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)


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
