"""The online paths against a real OpenAI-compatible server no one here wrote: `transformers serve`
(transformers' own FastAPI server, the `transformers[serving]` extra), serving a checkpoint saved by
this project, on 127.0.0.1, started and stopped here (issue 17 items 7 and 10).

The tiny random model writes noise, so every synthetic exercise is dropped; what is checked is that
every request, reply, usage count and drop reason goes through as it would with a hosted API, through
both endpoints, and that a checkpoint without a chat template fails with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="transformers serve needs the transformers[serving] extra")
pytest.importorskip("uvicorn", reason="transformers serve needs the transformers[serving] extra")

from conftest import save_tiny_model

from phi_lab.llm.client import LLMClient, LLMConfig, LLMError
from phi_lab.llm.replies import render_prompt

TRANSFORMERS_CLI = Path(sys.executable).with_name("transformers")
KEY = "sk-local-no-auth"  # transformers serve has no auth; the client still wants a key set


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_tokenizer):
    """A checkpoint as this project saves it (with its chat template), and a copy without one."""
    root = tmp_path_factory.mktemp("served")
    with_template = save_tiny_model(root / "phi-tiny", tiny_tokenizer, seed=0)
    bare = root / "phi-tiny-no-template"
    shutil.copytree(with_template, bare)
    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    assert cfg.pop("chat_template")  # saved by PhiTokenizer.save
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    return Path(with_template), bare


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """`transformers serve` on 127.0.0.1 (models loaded on demand by path), stopped at the end."""
    if not TRANSFORMERS_CLI.exists():
        pytest.skip(f"no transformers CLI next to {sys.executable}")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [str(TRANSFORMERS_CLI), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
           "--log-level", "info", "--default-seed", "0"]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"base_url": f"http://127.0.0.1:{port}/v1", "log": log}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _posts(log: Path, path: str) -> list[str]:
    return [ln for ln in log.read_text().splitlines() if f'"POST {path} HTTP/1.1"' in ln]


def test_synth_exercises_through_completions(serve, checkpoints, tiny_tokenizer, tmp_path, monkeypatch):
    from phi_lab.cli import main
    from phi_lab.synthesis.samplers import ExercisePromptSampler

    model, _ = checkpoints
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "run"
    before = len(_posts(serve["log"], "/v1/completions"))
    argv = ["synth", "exercises", "--backend", "openai", "--endpoint", "completions", "--model", str(model),
            "--base-url", serve["base_url"], "--n", "3", "--max-tokens", "48", "--chunk", "4",
            "--early-stop-answers", "8", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"]  # fmt: skip
    with pytest.warns(UserWarning, match="no price known for model"):
        code = main(argv)
    assert code == 3  # incomplete: stopped early, all 8 answers dropped
    card = json.loads((out / "dataset_card.json").read_text())
    dropped = [json.loads(x) for x in (out / "exercises.dropped.jsonl").read_text().splitlines()]
    assert card["incomplete_reason"].startswith("stopped early: 8 of the first 8 answers were dropped")
    assert len(dropped) == 8 and card["n_kept"] == 0
    assert all(
        d["reason"].startswith(("no function with a docstring", "no tests with assert")) for d in dropped
    )
    # Every request went to the real server's /v1/completions and was answered 200.
    posts = _posts(serve["log"], "/v1/completions")[before:]
    assert len(posts) == 8 and all(p.endswith("200 OK") for p in posts)
    usage = card["usage"]
    assert usage["requests"] == 8 and usage["retries"] == 0 and usage["malformed"] == 0
    assert card["cost_usd"] is None and usage["unpriced_requests"] == 8  # a local model: cost unknown
    # The server's usage counts are the tokenizer's own: the prompt is exactly render_prompt(messages).
    sampler = ExercisePromptSampler()
    prompts = [render_prompt(sampler.sample(random.Random(i)).messages) for i in range(8)]
    assert usage["prompt_tokens"] == sum(len(tiny_tokenizer.encode(p)) for p in prompts)
    assert 8 <= usage["completion_tokens"] <= 8 * 48
    # Rerun: complete from the cache, nothing new asked.
    assert main(argv) == 3 and len(_posts(serve["log"], "/v1/completions")) == before + 8


def test_grading_and_annotation_through_the_chat_template(
    serve, checkpoints, tiny_tokenizer, tmp_path, monkeypatch
):
    """The saved chat template makes /v1/chat/completions work, with the same prompt as completions."""
    from phi_lab.benchmarks import load_unconventional
    from phi_lab.data.documents import Document
    from phi_lab.evaluation.grading import grade_with_llm, grader_messages
    from phi_lab.filtering.llm_annotator import OpenAIAnnotator

    model, _ = checkpoints
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    prices = {str(model): (0.0, 0.0)}  # priced at 0 on purpose: a known cost, no warning
    client = LLMClient(
        LLMConfig(model=str(model), base_url=serve["base_url"], cache_dir=tmp_path / "c", prices=prices)
    )
    problems = load_unconventional()
    samples = [{"task_id": t, "completion": p.canonical_solution} for t, p in list(problems.items())[:2]]
    rows, summary = grade_with_llm(problems, samples, client, max_tokens=24, progress=False)
    assert summary["usage"]["requests"] == 2 and summary["usage"]["cost_usd"] == 0.0
    assert summary["n_graded"] + summary["n_unparsable"] == 2 and all(
        isinstance(r["evaluation"], str) for r in rows
    )
    expected = sum(len(tiny_tokenizer.encode(render_prompt(grader_messages(problems[s["task_id"]], s["completion"])))) for s in samples)  # fmt: skip
    assert summary["usage"]["prompt_tokens"] == expected  # the chat template rendered render_prompt's text

    doc = Document(path="a.py", text="def add(a, b):\n    return a + b\n", source="test")
    ann = OpenAIAnnotator(LLMConfig(model=str(model), base_url=serve["base_url"], endpoint="completions",
                                    cache_dir=tmp_path / "c", prices=prices), max_tokens=16)  # fmt: skip
    (label,) = ann.annotate([doc])
    assert label.model == str(model) and ann.client.usage.requests == 1
    # Noise has no score: an error on the label, never a guessed verdict.
    assert (label.label is None and "unparseable reply" in label.error) or label.score is not None


def test_a_checkpoint_without_chat_template_says_what_to_do(serve, checkpoints, tmp_path, monkeypatch):
    _, bare = checkpoints
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    before = len(_posts(serve["log"], "/v1/chat/completions"))
    client = LLMClient(
        LLMConfig(model=str(bare), base_url=serve["base_url"], cache_dir=tmp_path / "c", max_retries=1)
    )
    t0 = time.monotonic()
    with pytest.raises(LLMError) as info:
        client.chat([{"role": "user", "content": "def add(a, b):"}], max_tokens=8)
    msg = str(info.value)
    # The server's body is only "Internal Server Error" (its log has the ValueError); the user gets it,
    # the status, and the way out, within seconds rather than minutes of retries.
    assert "answered HTTP 500: Internal Server Error" in msg and "endpoint='completions'" in msg
    assert time.monotonic() - t0 < 30 and client.usage.retries == 1
    assert "Cannot use chat template functions" in serve["log"].read_text()
    assert len(_posts(serve["log"], "/v1/chat/completions")) == before + 2
    base = LLMClient(
        LLMConfig(
            model=str(bare), base_url=serve["base_url"], cache_dir=tmp_path / "c", endpoint="completions"
        )
    )
    r = base.chat([{"role": "user", "content": "def add(a, b):"}], max_tokens=8)
    assert r.completion_tokens >= 1 and base.usage.requests == 1
