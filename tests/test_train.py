"""Trainer pieces in-process: presets, schedules, fp16 loss scaling, checkpoints, transformers export."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from phi_lab.training.checkpoint import STATE_FILE, CheckpointManager, capture_rng, restore_rng
from phi_lab.training.config import PRESETS, TrainConfig
from phi_lab.training.metrics import peak_flops, read_metrics
from phi_lab.training.schedule import lr_multiplier, schedule_fn
from phi_lab.training.trainer import optimizer_step, param_groups


def pack_code(out: Path, tokenizer) -> Path:
    """A small packed corpus of real Python (stdlib json + a few modules) with a validation split."""
    from conftest import STDLIB

    from phi_lab.data import PackConfig, pack, read_python_tree

    docs = [
        d
        for src in ("json", "textwrap.py", "string.py", "shlex.py", "fnmatch.py")
        for d in read_python_tree(STDLIB / src)
    ]
    pack(docs, tokenizer, out, PackConfig(val_fraction=0.25, split_seed=1), progress=False)
    return out


@pytest.fixture(scope="module")
def packed_code(tmp_path_factory, tiny_tokenizer) -> Path:
    return pack_code(tmp_path_factory.mktemp("packed"), tiny_tokenizer)


def test_presets_carry_the_papers_numbers() -> None:
    from phi_lab.model.phi import PRESETS as MODEL_PRESETS

    base = TrainConfig.from_preset("phi-1-base")
    assert (base.batch_size, base.lr, base.warmup_steps, base.weight_decay, base.max_steps, base.seq_len) == (
        1024,
        1e-3,
        750,
        0.1,
        36_000,
        2048,
    )
    assert base.schedule == "warmup_linear" and 24_000 in base.keep_steps and base.dropout == 0.1
    ft = TrainConfig.from_preset("phi-1")
    assert (ft.batch_size, ft.lr, ft.warmup_steps, ft.weight_decay, ft.max_steps, ft.save_every) == (
        256,
        1e-4,
        50,
        0.01,
        6_000,
        1_000,
    )
    assert ft.keep_best and ft.default_data["kind"] == "required"
    p15 = TrainConfig.from_preset("phi-1.5")
    assert (p15.batch_size, p15.lr, p15.schedule, p15.warmup_steps, p15.betas, p15.eps) == (
        2048,
        2e-4,
        "constant",
        0,
        (0.9, 0.98),
        1e-7,
    )
    for name in PRESETS:
        assert TrainConfig.from_preset(name).model in MODEL_PRESETS
    assert TrainConfig.from_preset("smoke").max_steps == 30


@pytest.mark.parametrize(
    "bad",
    [
        dict(batch_size=10, micro_batch_size=4),
        dict(precision="fp8"),
        dict(lr=0.0),
        dict(warmup_steps=40, max_steps=30),
        dict(betas=(0.9, 1.0)),
        dict(no_such_field=1),
    ],
)
def test_bad_configs_are_rejected(bad) -> None:
    with pytest.raises(ValueError):
        TrainConfig.from_preset("smoke", **bad)


def test_accumulation_splits_the_global_batch() -> None:
    cfg = TrainConfig.from_preset("phi-1-base")
    assert cfg.grad_accum_steps(1) == 128 and cfg.grad_accum_steps(64) == 2
    with pytest.raises(ValueError, match="not divisible"):
        cfg.grad_accum_steps(3)


def test_warmup_then_linear_decay_and_constant() -> None:
    f = [lr_multiplier(s, "warmup_linear", 750, 36_000) for s in range(36_000)]
    assert f[0] == pytest.approx(1 / 750) and f[749] == 1.0
    assert all(a < b for a, b in pairwise(f[:750]))  # rising during warmup
    assert all(a > b for a, b in pairwise(f[750:]))  # falling afterwards
    assert f[750 + (36_000 - 750) // 2] == pytest.approx(0.5, abs=1e-4) and f[-1] < 1e-4
    assert lr_multiplier(36_000, "warmup_linear", 750, 36_000, min_ratio=0.1) == pytest.approx(0.1)
    assert {lr_multiplier(s, "constant", 0, 36_000) for s in range(0, 40_000, 997)} == {1.0}
    assert lr_multiplier(10, "warmup_cosine", 10, 110) == 1.0 and lr_multiplier(
        60, "warmup_cosine", 10, 110
    ) == (pytest.approx(0.5))
    # through torch's LambdaLR as the trainer uses it
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_fn("warmup_linear", 4, 8))
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    with pytest.raises(ValueError):
        schedule_fn("exponential", 1, 2)


def test_no_weight_decay_on_biases_layernorm_embeddings() -> None:
    from phi_lab.model.phi import Phi, PhiConfig

    model = Phi(PhiConfig.from_preset("smoke"))
    decay, no_decay = param_groups(model, 0.1)
    ids = {id(p) for p in decay["params"]}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert id(model.blocks[0].attn.qkv.weight) in ids and id(model.lm_head.weight) in ids
    for p in (model.embed.weight, model.blocks[0].ln.weight, model.blocks[0].ln.bias, model.lm_head.bias):
        assert id(p) not in ids
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_fp16_overflow_skips_the_step_and_halves_the_scale() -> None:
    model = nn.Linear(4, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_fn("warmup_linear", 2, 10))
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = [p.detach().clone() for p in model.parameters()]
    scaler.scale(model(torch.ones(2, 4)).sum() * math.inf).backward()  # inf gradients
    norm, skipped = optimizer_step(model, opt, sched, scaler, grad_clip=1.0)
    assert skipped and not math.isfinite(norm) and scaler.get_scale() == 512.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert sched.last_epoch == 0  # the schedule did not advance
    scaler.scale(model(torch.ones(2, 4)).sum()).backward()
    norm, skipped = optimizer_step(model, opt, sched, scaler, grad_clip=1.0)
    assert not skipped and math.isfinite(norm) and sched.last_epoch == 1
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # without fp16 the scaler is a pass-through and never reports a skip
    off = torch.amp.GradScaler("cpu", enabled=False)
    model(torch.ones(2, 4)).sum().backward()
    assert optimizer_step(model, opt, sched, off, grad_clip=0.0)[1] is False


def test_rng_capture_restore_repeats_the_streams() -> None:
    import random

    import numpy as np

    state = capture_rng()
    a = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_checkpoints_are_atomic_rotated_and_best_kept(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep_last=2, keep_steps=(3,), keep_best=True)
    best = None
    for step, val in [(1, 3.0), (2, 2.0), (3, 2.5), (4, 2.2), (5, 2.4)]:
        tmp = mgr.tmp_dir(step)
        (tmp / "model.safetensors").write_bytes(b"w%d" % step)
        torch.save({"step": step}, tmp / STATE_FILE)
        mgr.commit(tmp, step, val, best)
        best = val if best is None or val < best else best
    assert [s for s, _ in mgr.step_dirs()] == [3, 4, 5]  # last 2 + the pinned step 3
    assert json.loads((mgr.best_dir / "best.json").read_text()) == {"step": 2, "val_loss": 2.0}
    assert (mgr.best_dir / "model.safetensors").read_bytes() == b"w2"
    # a crash mid-write leaves a hidden tmp dir: never picked as latest, removed by the next save
    crashed = mgr.tmp_dir(6)
    (crashed / "model.safetensors").write_bytes(b"partial")
    assert mgr.latest().name == "step-00000005"
    mgr.tmp_dir(6)
    assert [p.name for p in mgr.root.iterdir() if p.name.startswith(".tmp")] == [".tmp-step-00000006"]


def test_deepspeed_config_follows_the_train_config() -> None:
    from phi_lab.training.trainer import deepspeed_config

    cfg = TrainConfig.from_preset("phi-1-base")  # fp16, batch 1024, micro 8, clip 1.0
    ds = deepspeed_config(cfg, world_size=64)
    assert (
        ds["train_batch_size"],
        ds["train_micro_batch_size_per_gpu"],
        ds["gradient_accumulation_steps"],
    ) == (1024, 8, 2)
    assert ds["zero_optimization"]["stage"] == 2 and ds["gradient_clipping"] == 1.0
    assert ds["fp16"]["enabled"] and ds["fp16"]["loss_scale"] == 0 and ds["fp16"]["initial_scale_power"] == 16
    assert not ds["bf16"]["enabled"]
    ds = deepspeed_config(cfg.replace(precision="bf16", grad_clip=0.5, micro_batch_size=4), world_size=8)
    assert ds["bf16"]["enabled"] and not ds["fp16"]["enabled"] and ds["gradient_clipping"] == 0.5
    assert ds["gradient_accumulation_steps"] == 32


def test_peak_flops_table() -> None:
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert peak_flops("NVIDIA H100 PCIe", "fp16") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "bf16") == 312e12
    assert peak_flops(None, "bf16") is None and peak_flops("Some CPU", "fp32") is None


@pytest.fixture(scope="module")
def fp16_run(tmp_path_factory, packed_code):
    """A short in-process fp16 run whose first loss scale is far too large (forced overflows)."""
    from phi_lab.training.trainer import train

    out = tmp_path_factory.mktemp("fp16run")
    cfg = TrainConfig.from_preset(
        "smoke", max_steps=12, save_every=12, eval_every=6, precision="fp16", loss_scale_init=2.0**24, seed=3
    )
    summary = train(cfg, out, data=[str(packed_code)], progress=False)
    return out, summary


def test_fp16_run_counts_skipped_steps_and_logs_the_scale(fp16_run) -> None:
    out, summary = fp16_run
    recs = read_metrics(out)
    scales = [r["loss_scale"] for r in recs]
    skipped = [r["skipped_steps"] for r in recs]
    assert summary["skipped_steps"] == skipped[-1] >= 2
    assert scales[0] == 2.0**23 and all(b == a / 2 for a, b in pairwise(scales[: skipped[-1]]))
    assert recs[0]["lr"] == recs[1]["lr"]  # skipped steps do not advance the schedule
    assert all(math.isfinite(r["loss"]) for r in recs)
    assert read_metrics(out, "val")[-1]["step"] == 12


def test_checkpoint_is_a_transformers_model(fp16_run) -> None:
    from transformers import PhiForCausalLM

    from phi_lab.model.loading import load_model

    out, summary = fp16_run
    ckpt = Path(summary["checkpoint"])
    assert (
        ckpt.name == "step-00000012" and (ckpt / "tokenizer.json").exists() and (ckpt / STATE_FILE).exists()
    )
    model, tok = load_model(ckpt)
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\n")[:24]])
    hf = PhiForCausalLM.from_pretrained(ckpt).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), atol=1e-4, rtol=1e-4)
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["precision"] == "fp16" and run["parameters"] == model.num_parameters()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_finetune_from_a_checkpoint_on_jsonl_exercises(fp16_run, tmp_path: Path) -> None:
    """phi-1's recipe in small: --init a pretrained checkpoint, --data a JSONL of exercises (packed with
    the checkpoint's tokenizer), the phi-1 finetune preset; the best checkpoint by val loss is kept."""
    import numpy as np

    from phi_lab.data import PackedDataset, WindowSampler
    from phi_lab.model.loading import load_model
    from phi_lab.training.trainer import train

    init = Path(fp16_run[1]["checkpoint"])
    exercises = tmp_path / "exercises.jsonl"
    with open(exercises, "w") as f:
        for i in range(120):
            text = f'def add_{i}(a: int) -> int:\n    """Return a plus {i}."""\n    return a + {i}\n'
            f.write(json.dumps({"text": text}) + "\n")
    cfg = TrainConfig.from_preset(
        "phi-1",
        seq_len=32,
        batch_size=8,
        micro_batch_size=4,
        max_steps=6,
        warmup_steps=2,
        save_every=3,
        eval_every=3,
        eval_batches=2,
        precision="fp32",
        dropout=0.0,
    )
    out = tmp_path / "ft"
    summary = train(cfg, out, data=[str(exercises)], init=init, progress=False)
    packed = out / "data" / "exercises"
    model, tok = load_model(init)
    assert PackedDataset(packed).tokenizer_fingerprint == tok.fingerprint()
    # the first step starts from the checkpoint's weights: recompute its loss on the same windows
    sampler = WindowSampler(PackedDataset(packed), 32, seed=cfg.seed)
    losses = []
    for _ in range(2):
        b = sampler.next_batch(4)
        with torch.no_grad():
            losses.append(
                float(torch.nn.functional.cross_entropy(model(b[:, :-1]).flatten(0, 1), b[:, 1:].flatten()))
            )
    recs = read_metrics(out)
    assert recs[0]["loss"] == pytest.approx(float(np.mean(losses)), rel=1e-5)
    assert recs[-1]["loss"] < recs[0]["loss"]
    vals = {r["step"]: r["val_loss"] for r in read_metrics(out, "val")}
    best = json.loads((out / "checkpoints" / "best" / "best.json").read_text())
    assert best["val_loss"] == min(vals.values()) == summary["best_val_loss"]
    best_model = load_model(out / "checkpoints" / "best")[0]
    assert best_model.config.vocab_size == model.config.vocab_size and best_model.config.n_layer == 2


def test_resume_with_a_longer_schedule_uses_the_new_lr(packed_code, tmp_path: Path) -> None:
    from phi_lab.training.trainer import train

    cfg = TrainConfig.from_preset("smoke", max_steps=8, save_every=4, eval_every=8, seq_len=32)
    train(cfg, tmp_path, data=[str(packed_code)], progress=False)
    longer = cfg.replace(max_steps=12)
    summary = train(longer, tmp_path, data=[str(packed_code)], resume=True, progress=False)
    recs = read_metrics(tmp_path)
    assert [r["step"] for r in recs] == list(range(1, 13)) and summary["step"] == 12
    for r in recs[8:]:
        assert r["lr"] == pytest.approx(cfg.lr * lr_multiplier(r["step"] - 1, "warmup_linear", 5, 12))


def test_a_run_stopped_early_in_a_longer_schedule_is_that_schedules_prefix(
    packed_code, tmp_path: Path
) -> None:
    """phi-1-base is step 24,000 of a 36,000-step schedule: stopping early keeps the long schedule's lr."""
    from phi_lab.training.trainer import train

    full = TrainConfig.from_preset("smoke", max_steps=12, save_every=12, eval_every=12, seq_len=32)
    early = full.replace(max_steps=8, schedule_steps=12, save_every=8, eval_every=8)
    train(full, tmp_path / "full", data=[str(packed_code)], progress=False)
    train(early, tmp_path / "early", data=[str(packed_code)], progress=False)
    a, b = read_metrics(tmp_path / "full")[:8], read_metrics(tmp_path / "early")
    assert [r["step"] for r in b] == list(range(1, 9))
    assert [r["lr"] for r in b] == [r["lr"] for r in a] and b[-1]["lr"] > 0
    assert [r["loss"] for r in b] == [r["loss"] for r in a]
    with pytest.raises(ValueError, match="shorter than max_steps"):
        full.replace(schedule_steps=6)
