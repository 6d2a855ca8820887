"""Training as real processes: the CLI end to end, resume after SIGKILL, 2-process DDP (gloo) parity."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phi_lab.training.metrics import read_metrics

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # 2 cores: no oversubscription


def phi_lab_train(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "phi_lab.cli", "train", "--no-progress", *args]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def packed_code(tmp_path_factory, tiny_tokenizer) -> Path:
    from test_train import pack_code

    return pack_code(tmp_path_factory.mktemp("packed"), tiny_tokenizer)


def test_smoke_preset_end_to_end_through_the_cli(tmp_path: Path, monkeypatch) -> None:
    """Started the way a notebook starts it (launch + stream), with no --data: the preset's offline
    default corpus is built (or found cached) and trained on."""
    from phi_lab.training.launch import launch, stream

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "smoke"
    proc = launch("smoke", out)
    lines = list(stream(proc))
    log = "\n".join(lines)
    assert proc.returncode == 0, log[-3000:]
    recs = read_metrics(out)
    assert [r["step"] for r in recs] == list(range(1, 31))
    first, last = sum(r["loss"] for r in recs[:5]) / 5, sum(r["loss"] for r in recs[-5:]) / 5
    assert last < first - 0.5, (first, last)
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "tokens", "skipped_steps"} <= set(recs[0])
    assert [r["step"] for r in read_metrics(out, "val")] == [10, 20, 30]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000020", "step-00000030"]
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["name"] == "smoke" and "offline-" in run["data"][0]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert any(line.startswith("step 30/30 | loss") for line in lines) and "val_loss" in log


def test_run_training_returns_checkpoint_resumes_and_raises(tmp_path: Path, monkeypatch) -> None:
    """The notebooks' entry point: log lines reach the callback, a rerun of a finished run resumes
    (trains nothing more, same checkpoint), and a failing run raises instead of returning."""
    from phi_lab.training.launch import run_training

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out, lines = tmp_path / "smoke", []
    ckpt = run_training("smoke", out, "--max-steps", "6", "--save-every", "3", log=lines.append)
    assert ckpt.name == "step-00000006" and any(line.startswith("[smoke] step") for line in lines)
    lines.clear()
    assert run_training("smoke", out, "--max-steps", "6", log=lines.append) == ckpt
    assert any("resuming from" in line for line in lines)
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(RuntimeError, match="exit code"):
        run_training("phi-1", tmp_path / "bad", log=None)  # phi-1 finetuning needs --data


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "phi_lab.cli", "train", "--preset", "phi-1", "--out", str(tmp_path / "x")]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "CodeExercises" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*cmd[:4], "--preset", "nope", "--out", str(tmp_path / "y")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown training preset 'nope'" in proc.stderr


def train_until_killed(
    common: list[str], out: Path, after_steps: int, timeout: float = 120, group: bool = False
) -> int:
    """Start `phi-lab train`, SIGKILL it (its whole process group with `group`, so launched workers
    die too) once `after_steps` train steps are logged; the last step logged."""
    cmd = [sys.executable, "-m", "phi_lab.cli", "train", "--no-progress", *common, "--out", str(out)]
    proc = subprocess.Popen(
        cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=group
    )
    metrics = out / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count('"kind": "train"') >= after_steps:
            break
        time.sleep(0.01)
    (os.killpg if group else os.kill)(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    while group:  # SIGKILL is asynchronous: wait until no process of the group is left
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.time() < deadline + 30, f"processes of group {proc.pid} outlived SIGKILL"
        time.sleep(0.05)
    return read_metrics(out)[-1]["step"]


@pytest.mark.slow
def test_resume_after_sigkill_logs_the_same_losses(tmp_path: Path, packed_code: Path) -> None:
    # dropout stays on (0.1): equal losses also prove the RNG states were restored
    common = [
        "--preset",
        "smoke",
        "--data",
        str(packed_code),
        "--max-steps",
        "40",
        "--save-every",
        "10",
        "--eval-every",
        "20",
    ]
    full = tmp_path / "full"
    phi_lab_train(*common, "--out", str(full))

    run = tmp_path / "killed"
    killed_at = train_until_killed(common, run, after_steps=12)
    assert 12 <= killed_at < 40

    resumed = phi_lab_train(*common, "--out", str(run), "--resume")
    assert_resumed_run_equals(full, run, resumed.stdout, first_checkpoint=10, killed_at=killed_at, steps=40)


def assert_resumed_run_equals(
    full: Path, run: Path, resume_log: str, first_checkpoint: int, killed_at: int, steps: int
) -> None:
    """The resumed `run` started from a checkpoint no later than the kill and logged, bit for bit, the
    losses, grad norms, lr and validation losses of the uninterrupted `full` run."""
    m = re.search(r"resuming from \S+step-(\d+) ", resume_log)
    assert m and first_checkpoint <= int(m.group(1)) <= killed_at, (killed_at, resume_log[-2000:])
    ref, got = read_metrics(full), read_metrics(run)
    assert [r["step"] for r in got] == list(range(1, steps + 1))
    assert [r["loss"] for r in got] == [r["loss"] for r in ref], (killed_at, m.group(1))
    assert [r["grad_norm"] for r in got] == [r["grad_norm"] for r in ref]
    assert [r["lr"] for r in got] == [r["lr"] for r in ref]
    assert [r["val_loss"] for r in read_metrics(run, "val")] == [
        r["val_loss"] for r in read_metrics(full, "val")
    ]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path, packed_code: Path) -> None:
    # same global batch (8): 1 process x 2 micro-steps of 4 vs 2 processes x 1 micro-step of 4
    common = [
        "--preset",
        "smoke",
        "--data",
        str(packed_code),
        "--max-steps",
        "8",
        "--save-every",
        "8",
        "--eval-every",
        "4",
        "--micro-batch-size",
        "4",
        "--batch-size",
        "8",
        "--dropout",
        "0",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    phi_lab_train(*common, "--out", str(one))
    proc = phi_lab_train(*common, "--out", str(two), "--launcher", "torchrun", "--nproc", "2")
    assert "2 processes" in proc.stdout
    a, b = read_metrics(one), read_metrics(two)
    assert len(a) == len(b) == 8
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-5, rel=1e-5)
        assert y["grad_norm"] == pytest.approx(x["grad_norm"], rel=1e-4)
    va, vb = read_metrics(one, "val"), read_metrics(two, "val")
    assert [v["val_loss"] for v in vb] == pytest.approx([v["val_loss"] for v in va], rel=1e-5)
    assert json.loads((two / "run.json").read_text())["world_size"] == 2
    from phi_lab.model.loading import load_model

    m1, _ = load_model(one / "checkpoints" / "step-00000008")
    m2, _ = load_model(two / "checkpoints" / "step-00000008")
    for (n, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert (p1 - p2).abs().max() < 1e-4, n


@pytest.mark.slow
def test_a_launched_worker_trains_with_the_config_of_the_command_line(
    tmp_path: Path, packed_code: Path
) -> None:
    """torchrun's worker parses the options the launcher derived from TrainConfig's fields: the
    config it records in run.json is the one this command line describes, field for field."""
    from test_train_flags import parse

    from phi_lab.cli.train import config_from_args
    from phi_lab.training.config import TrainConfig

    out = tmp_path / "run"
    argv = ["--preset", "smoke", "--data", str(packed_code), "--out", str(out), "--max-steps", "2", "--warmup-steps", "1",
            "--save-every", "2", "--eval-every", "2", "--betas", "0.85", "0.97", "--eps", "1e-7",
            "--min-lr", "1e-4", "--keep-steps", "1", "--keep-best", "--grad-clip", "0.5", "--name", "launched"]  # fmt: skip
    proc = phi_lab_train(*argv, "--launcher", "torchrun", "--nproc", "1")
    assert "launching: " in proc.stdout and "torch.distributed.run" in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert TrainConfig.from_dict(run["config"]) == config_from_args(parse(*argv))
    assert run["config"]["betas"] == [0.85, 0.97] and run["config"]["name"] == "launched"
