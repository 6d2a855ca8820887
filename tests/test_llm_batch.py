"""The Batch API at paper scale, against the local fake server: full files, batches in flight,
failed/expired/cancelled batches retried line by line, and a resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    from fake_openai import FakeOpenAI, last_user_message
except ImportError:  # tests/ imported as a package
    from tests.fake_openai import FakeOpenAI, last_user_message

from phi_lab.llm.batch import BatchConfig
from phi_lab.llm.client import LLMClient, LLMConfig, LLMError

KEY = "sk-phi-lab-BATCH-TEST-KEY-77"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY) as srv:
        yield srv


def client_for(server, tmp_path, **kw) -> LLMClient:
    return LLMClient(
        LLMConfig(model="gpt-4o-mini", base_url=server.base_url, cache_dir=tmp_path / "cache", **kw)
    )


def msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_files_fill_to_the_limits_and_several_batches_run_at_once(server, tmp_path):
    server.batch_polls_until_done = 3  # each batch stays in progress a while: they overlap
    server.max_batch_requests = 5  # the fake refuses a file over the limit, as the API does
    client = client_for(server, tmp_path)
    prompts = [msgs(f"item {i:02d}") for i in range(23)]
    cfg = BatchConfig(max_requests=5, max_in_flight=3, poll_s=0.01)
    res = client.chat_many_batch(prompts, state_dir=tmp_path / "b", batch=cfg)
    assert [r.text for r in res] == [f"Reply to: item {i:02d}" for i in range(23)]
    assert server.batch_lines == [5, 5, 5, 5, 3] and server.max_in_flight_seen == 3
    assert client.usage.requests == 23 and set(server.answered.values()) == {1}
    # Half price: the same tokens through chat_many would cost twice as much.
    full = (client.usage.prompt_tokens * 0.15 + client.usage.completion_tokens * 0.60) / 1e6
    assert client.usage.cost_usd == pytest.approx(full / 2)


def test_files_split_by_bytes(server, tmp_path):
    client = client_for(server, tmp_path)
    prompts = [msgs(f"{i:03d} " + "x" * 300) for i in range(7)]
    one_line = len(json.dumps({"custom_id": "k" * 64, "method": "POST", "url": "/v1/chat/completions",
                               "body": client.request_body(prompts[0], client.params(0.0, None, {}))}))  # fmt: skip
    cfg = BatchConfig(max_bytes=int(2.5 * one_line), poll_s=0.01)
    server.max_batch_bytes = cfg.max_bytes
    client.chat_many_batch(prompts, state_dir=tmp_path / "b", batch=cfg)
    assert server.batch_lines == [2, 2, 2, 1]
    inputs = sorted((tmp_path / "b").glob("batch-*-input.jsonl"))
    assert len(inputs) == 4 and all(p.stat().st_size <= cfg.max_bytes for p in inputs)


def test_failed_lines_and_expired_cancelled_failed_batches_are_retried_line_by_line(server, tmp_path):
    server.batch_outcomes.extend(["expired", "cancelled", "failed"])  # then: completed
    # Every "flaky" line fails with HTTP 500 the first time it runs.
    server.line_status = lambda body, attempt: (
        500 if "flaky" in last_user_message(body) and attempt == 1 else 200
    )
    client = client_for(server, tmp_path)
    prompts = [msgs(f"{'flaky' if i % 3 == 0 else 'fine'} {i}") for i in range(10)]
    cfg = BatchConfig(max_in_flight=1, max_attempts=5, poll_s=0.01)
    res = client.chat_many_batch(prompts, state_dir=tmp_path / "b", batch=cfg)
    assert [r.text for r in res] == [f"Reply to: {m[0]['content']}" for m in prompts]
    assert set(server.answered.values()) == {1} and client.usage.requests == 10  # each paid once
    # Retries carried only the lines still missing: 10, then the expired half and the 500s, ...
    assert server.batch_lines[0] == 10 and all(n < 10 for n in server.batch_lines[1:])
    assert [b["status"] for b in server.batches.values()][:4] == [
        "expired",
        "cancelled",
        "failed",
        "completed",
    ]
    state = json.loads((tmp_path / "b" / "batch_state.json").read_text())
    reasons = {r for job in state["jobs"] for r in job.get("failed_reasons", {})}
    assert any("batch_expired" in r for r in reasons) and any("batch_cancelled" in r for r in reasons)
    assert any("HTTP 500: scripted line failure" in r for r in reasons)
    assert any(r.startswith("batch failed: scripted failure") for r in reasons)
    assert KEY not in "".join(p.read_text() for p in (tmp_path / "b").iterdir())


def test_a_line_that_always_fails_gives_up_after_max_attempts(server, tmp_path):
    server.line_status = lambda body, attempt: 500 if "poison" in last_user_message(body) else 200
    client = client_for(server, tmp_path, endpoint="completions")
    prompts = [msgs("ok 1"), msgs("poison"), msgs("ok 2"), msgs("ok 3")]
    cfg = BatchConfig(max_attempts=2, poll_s=0.01)
    with pytest.raises(
        LLMError, match=r"1 of 4 batch requests failed for good .*HTTP 500: scripted line failure"
    ):
        client.chat_many_batch(prompts, state_dir=tmp_path / "b", batch=cfg)
    assert sum(server.line_attempts.values()) == 3 + 2  # the poison line was submitted twice, no more
    assert {b["endpoint"] for b in server.batches.values()} == {"/v1/completions"}
    res = client.chat_many_batch(prompts, state_dir=tmp_path / "b", batch=cfg, on_failure="none")
    assert (
        res[1] is None
        and "HTTP 500" in client.batch_failures[client.key(prompts[1], client.params(0.0, None, {}), "")]
    )
    assert [r.text for r in (res[0], res[2], res[3])] == [
        "Reply to: ok 1\n\n",
        "Reply to: ok 2\n\n",
        "Reply to: ok 3\n\n",
    ]
    assert all(r.cached for r in (res[0], res[2], res[3]))  # the good lines were not paid again


CHILD = textwrap.dedent("""
    import sys
    from phi_lab.llm.batch import BatchConfig
    from phi_lab.llm.client import LLMClient, LLMConfig
    c = LLMClient(LLMConfig(model="gpt-4o-mini", base_url=sys.argv[1], cache_dir=sys.argv[2]))
    res = c.chat_many_batch([[{"role": "user", "content": f"p{i}"}] for i in range(10)], state_dir=sys.argv[3],
                            batch=BatchConfig(max_requests=4, max_in_flight=2, poll_s=0.05))
    print("DONE", len(res), c.usage.requests)
""")


def test_resume_after_sigkill_polls_the_submitted_batches(server, tmp_path):
    server.batch_polls_until_done = 10**9  # the first run never sees a batch finish
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    cmd = [sys.executable, "-c", CHILD, server.base_url, str(tmp_path / "cache"), str(tmp_path / "b")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.wait_for(
            lambda s: len(s.batches) == 2 and all(b["_polls"] >= 2 for b in s.batches.values()), 60
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert server.n_answered == 0 and server.batch_lines == [4, 4]
    server.batch_polls_until_done = 1
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    # The two batches in flight were resumed, not submitted again; only the last 2 requests were new.
    assert server.batch_lines == [4, 4, 2] and out.stdout.split() == ["DONE", "10", "10"]
    assert server.n_answered == 10 and set(server.answered.values()) == {1}
    state = json.loads((tmp_path / "b" / "batch_state.json").read_text())
    assert state["version"] == 2 and all(j["collected"] for j in state["jobs"])
    assert not any(KEY in p.read_text() for p in Path(tmp_path).rglob("*.json*"))
