"""`phi-lab synth --backend openai` against the local fake OpenAI server: faults, SIGKILL resume, no key leaks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from fake_openai import FakeOpenAI, last_user_message
except ImportError:  # tests/ imported as a package
    from tests.fake_openai import FakeOpenAI, last_user_message

FAKE_KEY = "sk-phi-lab-SYNTH-FAKE-KEY-9f8e7d6c5b4a"


def exercise_reply(body: dict) -> str:
    """A plausible LLM answer for the exercise template; every 4th (by prompt hash) has a wrong test."""
    user = last_user_message(body)
    m = re.search(r"function named `(\w+)` that uses (.+?) and (.+?)\.\n", user)
    if not m:
        return "Here is a long explanation about programming. " * 10
    name, a, b = m.groups()
    h = int(hashlib.sha256(user.encode()).hexdigest(), 16)
    k = h % 97 + 2
    wrong = h % 4 == 0
    return (
        f"Sure, here is an exercise about {a} and {b}.\n\n```python\nfrom functools import reduce\n\n"
        f"def {name}(values: list[int], factor: int = {k}) -> int:\n"
        f'    """Combine the values for a lesson on {a} with {b}.\n\n'
        f'    Multiply each value by {k}, add them up, and add {h % 13}.\n    """\n'
        f"    return reduce(lambda acc, v: acc + v * factor, values, 0) + {h % 13}\n```\n\n"
        f"```python\nassert {name}([]) == {h % 13}\nassert {name}([1]) == {k + h % 13 + (1 if wrong else 0)}\n"
        f"assert {name}([1, 2], factor=1) == {3 + h % 13}\n```\n"
    )


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("PHI_LAB_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(api_key=FAKE_KEY, reply=exercise_reply, retry_after=0.1, slow_s=0.3) as srv:
        yield srv


def files_text(*dirs: Path) -> str:
    return "".join(p.read_text(errors="replace") for d in dirs for p in d.rglob("*") if p.is_file())


def synth_args(server, out: Path, n: int, *extra: str) -> list[str]:
    return [
        "synth",
        "exercises",
        "--backend",
        "openai",
        "--model",
        "gpt-4o-mini",
        "--base-url",
        server.base_url,
        "--n",
        str(n),
        "--out",
        str(out),
        "--chunk",
        "6",
        "--quiet",
        "--max-retries",
        "4",
        *extra,
    ]


def test_openai_exercises_with_faults_and_no_key_leak(server, tmp_path):
    from phi_lab.cli import main

    server.inject("429", "500", "malformed", "slow", "malformed_shape")
    out = tmp_path / "run"
    assert main(synth_args(server, out, 10)) == 0
    kept = [json.loads(x) for x in (out / "exercises.jsonl").read_text().splitlines()]
    dropped = [json.loads(x) for x in (out / "exercises.dropped.jsonl").read_text().splitlines()]
    assert len(kept) == 10 and dropped and all(d["reason"].startswith("sandbox failed") for d in dropped)
    assert {r["meta"]["backend"] for r in kept} == {"openai"}
    r0 = kept[0]
    assert r0["prompt"].startswith("from functools import reduce\n\ndef ") and '"""' in r0["prompt"]
    assert r0["meta"]["slots"]["function_name"] in r0["prompt"] and r0["meta"]["template_version"]
    card = json.loads((out / "dataset_card.json").read_text())
    assert card["cost_usd"] > 0 and card["usage"]["requests"] == server.n_answered
    assert card["imports"]["packages"][0]["package"] == "functools"
    # Same command again: complete already, nothing new is paid.
    before = server.n_answered
    assert main(synth_args(server, out, 10)) == 0 and server.n_answered == before
    assert FAKE_KEY not in files_text(out, tmp_path / "cache")


def test_openai_textbooks_commonsense(server, tmp_path):
    import random

    from phi_lab.cli import main

    def textbook_reply(body: dict) -> str:
        user = last_user_message(body)
        r = random.Random(user)
        words = [
            "sun",
            "rain",
            "seed",
            "river",
            "bread",
            "clock",
            "maybe",
            "because",
            "then",
            "later",
            "water",
            "light",
            "people",
            "share",
        ]
        return (
            "# Lesson\n\n" + " ".join(r.choice(words) for _ in range(120)) + "\n\n```python\nprint(1)\n```\n"
        )

    server.reply = textbook_reply
    out = tmp_path / "tb"
    args = [
        "synth",
        "textbooks",
        "--backend",
        "openai",
        "--model",
        "m",
        "--base-url",
        server.base_url,
        "--textbook-kind",
        "commonsense",
        "--n",
        "4",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    kept = [json.loads(x) for x in (out / "textbooks.jsonl").read_text().splitlines()]
    assert len(kept) == 4 and all(r["meta"]["kind"] == "commonsense" for r in kept)
    assert all({"topic", "gloss", "angle", "audience"} <= set(r["meta"]["slots"]) for r in kept)


def test_synth_sigkill_and_restart_pays_nothing_twice(server, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "phi_lab.cli", *synth_args(server, out, 12, "--concurrency", "1")]
    env = {**os.environ}
    server.inject(*["ok"] * 8, "hang")  # killed while waiting for the 9th reply
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.wait_for(lambda s: s.hanging == 1, timeout=90)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert server.n_answered == 8
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    kept = [json.loads(x) for x in (out / "exercises.jsonl").read_text().splitlines()]
    assert len(kept) == 12 and len({r["id"] for r in kept}) == 12
    assert set(server.answered.values()) == {1}  # every prompt was paid for exactly once
    assert FAKE_KEY not in files_text(out, tmp_path / "cache")
