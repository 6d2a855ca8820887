"""`phi-lab train`: pretrain or finetune Phi (paper §2.3) from a preset, in this or launched processes.

    phi-lab train --preset smoke --out runs/smoke                      # offline default data, seconds
    phi-lab train --preset micro --out runs/micro --resume             # continue after a crash
    phi-lab train --preset phi-1 --init runs/base/checkpoints/step-00024000 --data exercises.jsonl --out runs/ft
    phi-lab train --preset smoke --out runs/ddp --launcher torchrun --nproc 2
    phi-lab train --preset phi-1-base --out runs/base --launcher deepspeed --hostfile hosts.txt

A checkpoint is already a transformers-format model; `phi-lab model export --path CKPT --out DIR`
copies one out (optionally in fp16/bf16).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

# (flag, dest, TrainConfig field): options that override the preset.
_OVERRIDES = [
    ("--max-steps", "max_steps", int),
    ("--save-every", "save_every", int),
    ("--eval-every", "eval_every", int),
    ("--keep-last", "keep_last", int),
    ("--batch-size", "batch_size", int),
    ("--micro-batch-size", "micro_batch_size", int),
    ("--seq-len", "seq_len", int),
    ("--lr", "lr", float),
    ("--warmup-steps", "warmup_steps", int),
    ("--weight-decay", "weight_decay", float),
    ("--grad-clip", "grad_clip", float),
    ("--dropout", "dropout", float),
    ("--seed", "seed", int),
    ("--log-every", "log_every", int),
    ("--eval-batches", "eval_batches", int),
    ("--loss-scale-init", "loss_scale_init", float),
    ("--precision", "precision", str),
    ("--engine", "engine", str),
    ("--schedule", "schedule", str),
]
_FLAGS = [("--gradient-checkpointing", "gradient_checkpointing"), ("--compile", "compile")]


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(
        name, help=help, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", help="training preset: phi-1-base, phi-1, phi-1.5, micro, smoke")
    p.add_argument("--out", help="run directory (checkpoints/, metrics.jsonl, run.json, tensorboard/)")
    p.add_argument(
        "--data",
        action="append",
        metavar="PATH[=WEIGHT]",
        help="packed directory or raw source (.jsonl/.parquet with 'text', dir of .py); repeat for a "
        "weighted mixture; default: the preset's offline data, built and cached on first use",
    )
    p.add_argument("--init", help="start from this checkpoint (finetuning); its tokenizer packs raw --data")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines only)")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    g = p.add_argument_group("overrides of the preset")
    from phi_lab.training.config import ENGINES, PRECISIONS, SCHEDULES

    choices = {"precision": PRECISIONS, "engine": ENGINES, "schedule": SCHEDULES}
    for flag, dest, typ in _OVERRIDES:
        g.add_argument(flag, dest=dest, type=typ, default=None, choices=choices.get(dest))
    for flag, dest in _FLAGS:
        g.add_argument(flag, dest=dest, action="store_true", default=None)
    lg = p.add_argument_group("launchers")
    lg.add_argument(
        "--launcher",
        choices=["none", "torchrun", "deepspeed"],
        default="none",
        help="none: train in this process; torchrun: DDP workers; deepspeed: ZeRO workers",
    )
    lg.add_argument("--nproc", type=int, default=None, help="processes per node (default: GPUs, or 1)")
    lg.add_argument("--nnodes", type=int, default=1)
    lg.add_argument("--node-rank", type=int, default=0)
    lg.add_argument("--master-addr", default="127.0.0.1")
    lg.add_argument("--master-port", type=int, default=None)
    lg.add_argument("--hostfile", default=None, help="DeepSpeed hostfile for several nodes")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from phi_lab.training.config import TrainConfig

    if not args.preset:
        raise ValueError("--preset is required (see --list-presets)")
    overrides = {dest: getattr(args, dest) for _, dest, _ in _OVERRIDES if getattr(args, dest) is not None}
    overrides.update({dest: True for _, dest in _FLAGS if getattr(args, dest)})
    return TrainConfig.from_preset(args.preset, **overrides)


def worker_args(args: argparse.Namespace) -> list[str]:
    """The same run as CLI options, for the workers a launcher starts."""
    out = ["--preset", args.preset, "--out", args.out]
    for d in args.data or []:
        out += ["--data", d]
    for flag, dest in (("--init", "init"), ("--device", "device")):
        if getattr(args, dest):
            out += [flag, str(getattr(args, dest))]
    for flag, dest, _ in _OVERRIDES:
        if getattr(args, dest) is not None and dest != "engine":
            out += [flag, str(getattr(args, dest))]
    out += [flag for flag, dest in _FLAGS if getattr(args, dest)]
    if args.resume:
        out.append("--resume")
    if args.no_progress:
        out.append("--no-progress")
    return out


def run(args: argparse.Namespace) -> int:
    if args.list_presets:
        import json

        from phi_lab.training.config import PRESETS

        for name, preset in PRESETS.items():
            print(f"{name}: {json.dumps(preset, default=str)}")
        return 0
    if not args.out:
        raise ValueError("--out is required")
    cfg = config_from_args(args)  # validate before starting any process
    if args.launcher == "none":
        from phi_lab.training.trainer import train

        summary = train(
            cfg,
            args.out,
            data=args.data,
            init=args.init,
            resume=args.resume,
            device=args.device,
            progress=not args.no_progress,
            argv=sys.argv[1:],
        )
        if summary.get("checkpoint"):
            print(f"done: step {summary['step']:,}, last checkpoint {summary['checkpoint']}", flush=True)
        return 0

    from phi_lab.training.distributed import free_port
    from phi_lab.training.launch import deepspeed_command, launcher_env, torchrun_command

    nproc = args.nproc or _gpu_count() or 1
    port = args.master_port or free_port()
    if args.launcher == "torchrun":
        if cfg.engine != "ddp":
            raise ValueError("--launcher torchrun runs DDP; use --launcher deepspeed for DeepSpeed")
        cmd = torchrun_command(worker_args(args), nproc, args.nnodes, args.node_rank, args.master_addr, port)
    else:
        cmd = deepspeed_command(worker_args(args), None if args.hostfile else nproc, args.hostfile, port)
    print("launching: " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, env=launcher_env())


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()
