"""DeepSpeed ZeRO-2 on CPU (cpu accelerator, gloo): `--launcher deepspeed` with 2 workers matches 1 process,
and a killed DeepSpeed run resumes exactly.

DeepSpeed is optional (`pip install -e '.[deepspeed]'` with DS_BUILD_OPS=0). Its first
initialize compiles a shared-memory comm op (~100 s, cached afterwards), so this is slow-marked;
the optimizer is torch's AdamW as a client optimizer, so no optimizer op is ever compiled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from phi_lab.training.metrics import read_metrics

pytest.importorskip("deepspeed")
pytestmark = [pytest.mark.deepspeed, pytest.mark.slow]


@pytest.fixture(scope="module")
def packed_code(tmp_path_factory, tiny_tokenizer) -> Path:
    from test_train import pack_code

    return pack_code(tmp_path_factory.mktemp("packed"), tiny_tokenizer)


def test_deepspeed_zero2_two_workers_match_one_process(tmp_path: Path, packed_code: Path) -> None:
    from test_train_runs import phi_lab_train

    from phi_lab.model.loading import load_model

    common = [
        "--preset",
        "smoke",
        "--data",
        str(packed_code),
        "--max-steps",
        "6",
        "--save-every",
        "6",
        "--eval-every",
        "6",
        "--micro-batch-size",
        "4",
        "--batch-size",
        "8",
        "--dropout",
        "0",
    ]
    ref, ds = tmp_path / "ref", tmp_path / "ds"
    phi_lab_train(*common, "--out", str(ref))
    proc = phi_lab_train(*common, "--out", str(ds), "--launcher", "deepspeed", "--nproc", "2", timeout=600)
    assert "deepspeed on cpu" in proc.stdout and "2 processes" in proc.stdout
    a, b = read_metrics(ref), read_metrics(ds)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-5, rel=1e-5)
        assert y["lr"] == pytest.approx(x["lr"])
    ckpt = ds / "checkpoints" / "step-00000006"
    assert (ckpt / "deepspeed" / "state").is_dir()  # the ZeRO-partitioned optimizer state
    m_ref, _ = load_model(ref / "checkpoints" / "step-00000006")
    m_ds, _ = load_model(ckpt)
    for (n, p1), (_, p2) in zip(m_ref.named_parameters(), m_ds.named_parameters()):
        assert (p1 - p2).abs().max() < 1e-4, n


def test_deepspeed_resume_after_sigkill_logs_the_same_losses(tmp_path: Path, packed_code: Path) -> None:
    """A 2-worker ZeRO-2 run SIGKILLed part-way (launcher and workers: the whole process group) and
    restarted with --resume logs bit-for-bit the losses of an uninterrupted run. Dropout stays on,
    so equality also proves every rank's RNG state, the partitioned optimizer state, the scheduler
    and the sampler position came back."""
    from test_train_runs import assert_resumed_run_equals, phi_lab_train, train_until_killed

    common = [
        "--preset",
        "smoke",
        "--data",
        str(packed_code),
        "--max-steps",
        "40",
        "--save-every",
        "4",
        "--eval-every",
        "20",
        "--launcher",
        "deepspeed",
        "--nproc",
        "2",
    ]
    full = tmp_path / "full"
    phi_lab_train(*common, "--out", str(full), timeout=600)

    run = tmp_path / "killed"
    killed_at = train_until_killed(common, run, after_steps=6, timeout=300, group=True)  # launcher + workers
    assert 6 <= killed_at < 40

    resumed = phi_lab_train(*common, "--out", str(run), "--resume", timeout=600)
    assert_resumed_run_equals(full, run, resumed.stdout, first_checkpoint=4, killed_at=killed_at, steps=40)
