"""The trainer (paper §2.3): AdamW, the paper's schedules, mixed precision, exact resume.

`train(cfg, out, ...)` runs the whole loop in the calling process: `phi-lab train` (one process),
each torchrun worker (DDP) and each DeepSpeed worker (ZeRO-2) call it; notebooks start it with
`phi_lab.training.launch.launch()` and only read its log. Building blocks live in
`phi_lab.training` (config/presets, schedules, checkpoints, data, distributed, metrics, launch).

Weight decay applies to the matrices of linear layers only; biases, LayerNorm parameters and the
token embedding are not decayed (the usual GPT recipe: decaying them only shrinks scales/offsets).
"""

from __future__ import annotations

import contextlib
import math
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from phi_lab.io import atomic_write_json
from phi_lab.model.hf_format import config_to_hf, load_pretrained
from phi_lab.model.loading import save_model
from phi_lab.model.phi import Phi, PhiConfig, estimate_flops_per_token
from phi_lab.model.tokenizer import PhiTokenizer
from phi_lab.training import distributed as D
from phi_lab.training.checkpoint import CheckpointManager, capture_rng, load_trainer_state, restore_rng
from phi_lab.training.config import TrainConfig
from phi_lab.training.data import data_tokenizer, resolve_data, train_stream, val_windows
from phi_lab.training.metrics import MetricsLogger, device_name, peak_flops
from phi_lab.training.schedule import schedule_fn

AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (decay if isinstance(module, nn.Linear) and name == "weight" else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_model(cfg: TrainConfig, tokenizer, init: str | Path | None) -> Phi:
    if init is not None:
        model = load_pretrained(init)
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(
                f"--init {init}: embeds {model.config.vocab_size} tokens, the data's tokenizer has "
                f"{tokenizer.vocab_size}; pack the data with the checkpoint's tokenizer"
            )
    else:
        base = PhiConfig.from_preset(cfg.model)
        vocab = base.vocab_size if base.vocab_size >= tokenizer.vocab_size else tokenizer.padded_vocab_size()
        overrides = {
            "vocab_size": vocab,
            "eos_token_id": tokenizer.eos_id,
            "max_seq_len": max(base.max_seq_len, cfg.seq_len),
            **cfg.model_overrides,
        }
        model = Phi(PhiConfig.from_preset(cfg.model, **overrides))
    model.config.embd_pdrop = model.config.resid_pdrop = cfg.dropout
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = cfg.dropout
    model.gradient_checkpointing = cfg.gradient_checkpointing
    return model


def deepspeed_config(cfg: TrainConfig, world_size: int) -> dict[str, Any]:
    """The DeepSpeed config equivalent to `cfg` (ZeRO stage, precision and loss scaling, clipping, batch)."""
    return {
        "train_batch_size": cfg.batch_size,
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum_steps(world_size),
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {
            "stage": cfg.zero_stage,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "reduce_bucket_size": 5e8,
            "allgather_bucket_size": 5e8,
        },
        "fp16": {
            "enabled": cfg.precision == "fp16",
            "loss_scale": 0,
            "initial_scale_power": int(math.log2(cfg.loss_scale_init)),
            "loss_scale_window": 1000,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "bf16": {"enabled": cfg.precision == "bf16"},
        "zero_allow_untested_optimizer": True,  # torch's AdamW as a client optimizer: no op compilation
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def optimizer_step(
    model: nn.Module, optimizer, scheduler, scaler: torch.amp.GradScaler, grad_clip: float
) -> tuple[float, bool]:
    """Unscale, clip, step (unless fp16 gradients overflowed), update the loss scale; (grad_norm, skipped)."""
    scaler.unscale_(optimizer)  # no-op without fp16; clipping must see the true gradients
    grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf))
    scale_before = scaler.get_scale() if scaler.is_enabled() else None
    scaler.step(optimizer)  # skips optimizer.step() when any gradient is inf/nan
    scaler.update()  # halves the scale after an overflow, doubles it after `growth_interval` good steps
    skipped = scale_before is not None and scaler.get_scale() < scale_before
    if not skipped:  # a skipped step does not advance the schedule (as DeepSpeed does)
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, skipped


@torch.no_grad()
def evaluate(model: Phi, val, cfg: TrainConfig, dist: D.DistInfo, amp) -> float:
    """Mean token loss over the first `eval_batches * micro_batch_size` held-out windows (all ranks)."""
    n = min(val.n_windows, cfg.eval_batches * cfg.micro_batch_size)
    mine = list(range(dist.rank, n, dist.world_size))
    was_training = model.training
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=dist.device)
    for i in range(0, len(mine), cfg.micro_batch_size):
        batch = torch.from_numpy(np.stack([val.read_window(j) for j in mine[i : i + cfg.micro_batch_size]]))
        batch = batch.to(dist.device)
        with amp():
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten(), reduction="sum")
        total += torch.stack([loss.double(), torch.tensor(batch[:, 1:].numel(), device=dist.device).double()])
    model.train(was_training)
    total = D.sum_over_ranks(total)
    return float(total[0] / total[1])


def train(
    cfg: TrainConfig,
    out: str | Path,
    data: list[str] | None = None,
    init: str | Path | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Run (or resume) training into `out`; returns a summary. Rank 0 writes all files."""
    out = Path(out)
    dist = D.setup(cfg.engine, device)
    say = print if dist.is_main else (lambda *a, **k: None)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank

    # Rank 0 builds or packs the data first; the others then find it cached.
    if dist.is_main:
        dirs, weights = resolve_data(data, cfg.default_data, out, init, progress=progress)
    D.barrier()
    if not dist.is_main:
        dirs, weights = resolve_data(data, cfg.default_data, out, init, progress=False)
    tokenizer = data_tokenizer(dirs[0])
    if init is not None and (Path(init) / "tokenizer.json").exists():
        init_tok = PhiTokenizer.from_pretrained(init)
        if init_tok.fingerprint() != tokenizer.fingerprint():
            raise ValueError(
                f"--data {dirs[0]} was packed with a different tokenizer than --init {init}; "
                "pass the raw source (.jsonl/.parquet) to pack it with the checkpoint's tokenizer"
            )
    stream = train_stream(dirs, weights, cfg.seq_len, cfg.seed, dist.rank, dist.world_size)
    val = val_windows(dirs[0], cfg.seq_len, cfg.eval_batches * cfg.micro_batch_size)

    ckpts = CheckpointManager(out, cfg.keep_last, cfg.keep_steps, cfg.keep_best)
    latest = ckpts.latest() if resume else None
    model = build_model(cfg, tokenizer, init if latest is None else latest)
    model.to(dist.device)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=cfg.betas,
        eps=cfg.eps,
        fused=dist.device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, schedule_fn(cfg.schedule, cfg.warmup_steps, cfg.total_schedule_steps, cfg.min_lr / cfg.lr)
    )
    fp16 = cfg.precision == "fp16"
    scaler = torch.amp.GradScaler(
        dist.device.type, init_scale=cfg.loss_scale_init, enabled=fp16 and cfg.engine != "deepspeed"
    )
    amp_dtype = AMP_DTYPES[cfg.precision]

    def amp():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(dist.device.type, dtype=amp_dtype)

    step, tokens_seen, best_val, skipped = 0, 0, None, 0
    state: dict[str, Any] | None = None
    if latest is not None:
        state = load_trainer_state(latest)
        step, tokens_seen = int(state["step"]), int(state["tokens_seen"])
        best_val, skipped = state["best_val_loss"], int(state["skipped_steps"])
        stream.load_state_dict(state["sampler"])
        if cfg.engine != "deepspeed":
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
        say(f"resuming from {latest} (step {step:,}, {tokens_seen:,} tokens)", flush=True)
    elif resume:
        say(f"--resume: no checkpoint in {ckpts.root}, starting from scratch", flush=True)

    raw = model
    engine = None
    if cfg.engine == "deepspeed":
        import deepspeed

        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=model,
            optimizer=optimizer,
            lr_scheduler=scheduler,
            config=deepspeed_config(cfg, dist.world_size),
            dist_init_required=False,
        )
        if latest is not None:
            engine.load_checkpoint(str(latest / "deepspeed"), tag="state", load_module_strict=True)
        model = engine
    elif dist.world_size > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None
        )
    if cfg.compile:
        model = torch.compile(model)

    if latest is not None:  # the schedule may differ from the saved one (e.g. a longer --max-steps)
        for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base * fn(scheduler.last_epoch)
    logger = MetricsLogger(out, enabled=dist.is_main, purge_step=step + 1 if latest is not None else None)
    if latest is not None:
        logger.truncate_after(step)
    if dist.is_main:
        run_info = {
            "config": cfg.to_dict(),
            "model": config_to_hf(raw.config),
            "data": [str(d) for d in dirs],
            "data_weights": weights,
            "init": str(init) if init else None,
            "world_size": dist.world_size,
            "device": str(dist.device),
            "device_name": device_name(dist.device) or platform.processor(),
            "parameters": raw.num_parameters(),
            "argv": argv,
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "resumed_from": str(latest) if latest else None,
        }
        atomic_write_json(out / "run.json", run_info, indent=2, default=str)

    accum = cfg.grad_accum_steps(dist.world_size)
    flops_per_token = estimate_flops_per_token(raw.config, cfg.seq_len)
    peak = peak_flops(device_name(dist.device), cfg.precision)
    say(
        f"{cfg.name}: {raw.num_parameters():,} parameters, global batch {cfg.batch_size} x {cfg.seq_len} tokens "
        f"= {accum} micro-steps x {cfg.micro_batch_size} x {dist.world_size} processes, {cfg.precision}, "
        f"{cfg.engine if dist.world_size > 1 or engine else 'single process'} on {dist.device}",
        flush=True,
    )

    def save(step_: int, val_loss: float | None) -> None:
        nonlocal best_val
        rngs = D.gather_objects(capture_rng())
        tmp = ckpts.root / f".tmp-step-{step_:08d}"
        if dist.is_main:
            tmp = ckpts.tmp_dir(step_)
        D.barrier()
        if engine is not None:
            engine.save_checkpoint(str(tmp / "deepspeed"), tag="state")
        D.barrier()
        if dist.is_main:
            prev_best = best_val
            if val_loss is not None and (best_val is None or val_loss < best_val):
                best_val = val_loss
            st = {
                "step": step_,
                "tokens_seen": tokens_seen,
                "best_val_loss": best_val,
                "skipped_steps": skipped,
                "sampler": stream.state_dict(),
                "rng": rngs,
                "world_size": dist.world_size,
                "config": cfg.to_dict(),
                "engine": cfg.engine,
            }
            if engine is None:
                st.update(
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    scaler=scaler.state_dict(),
                )
            save_model(raw, tokenizer, tmp)
            torch.save(st, tmp / "trainer_state.pt")
            logger.sync()  # the records up to this step are durable before the checkpoint is
            ckpts.commit(tmp, step_, val_loss, prev_best)
        else:
            best_val = (
                val_loss if val_loss is not None and (best_val is None or val_loss < best_val) else best_val
            )
        D.barrier()

    from tqdm.auto import tqdm

    bar = tqdm(
        total=cfg.max_steps,
        initial=step,
        disable=not (progress and dist.is_main),
        desc=cfg.name,
        unit="step",
        dynamic_ncols=True,
    )
    torch.manual_seed(cfg.seed + 1 + dist.rank)  # dropout differs per rank
    if state is not None:
        rngs = state["rng"]
        if len(rngs) == dist.world_size:
            restore_rng(rngs[dist.rank])
        else:
            say(
                f"warning: checkpoint has RNG states of {len(rngs)} ranks, this run has {dist.world_size}; "
                "dropout noise will differ from an uninterrupted run",
                flush=True,
            )
    model.train()
    last: dict[str, Any] = {}
    while step < cfg.max_steps:
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=dist.device)
        for k in range(accum):
            batch = stream.next_batch(cfg.micro_batch_size).to(dist.device, non_blocking=True)
            inputs, targets = batch[:, :-1], batch[:, 1:]
            sync = engine is not None or dist.world_size == 1 or k == accum - 1
            with contextlib.nullcontext() if sync else model.no_sync():
                with amp():
                    logits = model(inputs)
                loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
                if engine is not None:
                    engine.backward(loss)  # DeepSpeed divides by the accumulation steps itself
                    engine.step()  # an optimizer step only at the accumulation boundary
                else:
                    scaler.scale(loss / accum).backward()
            loss_sum += loss.detach()
        if engine is None:
            grad_norm, step_skipped = optimizer_step(raw, optimizer, scheduler, scaler, cfg.grad_clip)
            loss_scale = scaler.get_scale() if fp16 else None
        else:
            gn = engine.get_global_grad_norm()
            grad_norm = float(gn) if gn is not None else float("nan")
            step_skipped = bool(getattr(engine, "skipped_steps", 0) > skipped)
            loss_scale = float(optimizer.cur_scale) if fp16 and hasattr(optimizer, "cur_scale") else None
        skipped += int(step_skipped)
        loss_value = float(D.mean_over_ranks(loss_sum / accum))
        if dist.device.type == "cuda":
            torch.cuda.synchronize()
        step += 1
        tokens_seen += cfg.tokens_per_step()
        dt = time.perf_counter() - t0
        tps = cfg.tokens_per_step() / dt
        last = {
            "kind": "train",
            "step": step,
            "loss": loss_value,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens": tokens_seen,
            "tokens_per_s": tps,
            "step_time_s": dt,
            "skipped_steps": skipped,
        }
        if peak:
            last["mfu"] = tps * flops_per_token / (peak * dist.world_size)
        if loss_scale is not None:
            last["loss_scale"] = loss_scale
        logger.log(last)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", refresh=False)
        if dist.is_main and (step % cfg.log_every == 0 or step == cfg.max_steps):
            extra = f" | mfu {last['mfu']:.1%}" if "mfu" in last else ""
            print(
                f"step {step}/{cfg.max_steps} | loss {loss_value:.4f} | lr {lr:.3e} | grad_norm {grad_norm:.3f} "
                f"| {tps:,.0f} tok/s{extra}",
                flush=True,
            )
        saving = step % cfg.save_every == 0 or step == cfg.max_steps
        val_loss = None
        if val is not None and (
            step % cfg.eval_every == 0 or step == cfg.max_steps or (saving and cfg.keep_best)
        ):
            val_loss = evaluate(raw if engine is None else engine.module, val, cfg, dist, amp)
            logger.log({"kind": "val", "step": step, "val_loss": val_loss}, prefix="val")
            say(f"step {step} | val_loss {val_loss:.4f}", flush=True)
        if saving:
            save(step, val_loss)
    bar.close()
    logger.close()
    summary = {
        "step": step,
        "tokens_seen": tokens_seen,
        "best_val_loss": best_val,
        "skipped_steps": skipped,
        "last": last,
        "checkpoint": str(ckpts.latest()) if dist.is_main else None,
    }
    D.teardown()
    return summary
