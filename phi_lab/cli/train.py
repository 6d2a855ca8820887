"""`phi-lab train`: pretrain or finetune Phi (paper §2.3) from a preset, in this or launched processes.

    phi-lab train --preset smoke --out runs/smoke                      # offline default data, seconds
    phi-lab train --preset micro --out runs/micro --resume             # continue after a crash
    phi-lab train --preset phi-1 --init runs/base/checkpoints/step-00024000 --data exercises.jsonl --out runs/ft
    phi-lab train --preset smoke --out runs/ddp --launcher torchrun --nproc 2
    phi-lab train --preset phi-1-base --out runs/base --launcher deepspeed --hostfile hosts.txt
    phi-lab train --preset phi-1.5 --out runs/p15 --betas 0.9 0.98 --eps 1e-7 --keep-steps 24000 --no-keep-best

Every `TrainConfig` field is an option (`phi_lab.training.flags`); an option not given keeps the
preset's value. A checkpoint is already a transformers-format model; `phi-lab model export --path
CKPT --out DIR` copies one out (optionally in fp16/bf16).
"""

from __future__ import annotations

import argparse
import json
import sys

from phi_lab.cli.common import fail
from phi_lab.training.flags import TRAIN_FLAGS
from phi_lab.training.launch import LAUNCHERS


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
    TRAIN_FLAGS.add_to(p.add_argument_group("TrainConfig fields (override the preset)"))
    lg = p.add_argument_group("launchers")
    lg.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="none",
        help="none: train in this process; torchrun: DDP workers; deepspeed: ZeRO workers",
    )
    lg.add_argument("--nproc", type=int, default=None, help="processes per node (default: GPUs, or 1)")
    lg.add_argument("--nnodes", type=int, default=1)
    lg.add_argument("--node-rank", type=int, default=0)
    lg.add_argument("--master-addr", default="127.0.0.1")
    lg.add_argument("--master-port", type=int, default=None)
    lg.add_argument("--hostfile", default=None, help="DeepSpeed hostfile for several nodes")
    p.set_defaults(func=run_train)


def config_from_args(args: argparse.Namespace):
    """The `TrainConfig` this command line describes (validated)."""
    from phi_lab.training.config import TrainConfig

    if not args.preset:
        fail("--preset is required (see --list-presets)")
    # replace(), not from_preset(**): the `name` field would collide with from_preset's own argument
    return TrainConfig.from_preset(args.preset).replace(**TRAIN_FLAGS.overrides(args))


def worker_args(args: argparse.Namespace) -> list[str]:
    """The same run as `phi-lab train` options, for the workers a launcher starts."""
    from phi_lab.training.launch import train_argv

    return train_argv(
        args.preset,
        args.out,
        TRAIN_FLAGS.overrides(args),
        data=args.data,
        init=args.init,
        device=args.device,
        resume=args.resume,
        progress=not args.no_progress,
    )


def run_train(args: argparse.Namespace) -> int:
    if args.list_presets:
        from phi_lab.training.config import PRESETS

        for name, preset in PRESETS.items():
            print(f"{name}: {json.dumps(preset, default=str)}")
        return 0
    if not args.out:
        fail("--out is required")
    cfg = config_from_args(args)  # validate before starting any process
    if args.launcher != "none":
        from phi_lab.training.launch import launch_workers

        return launch_workers(
            args.launcher,
            worker_args(args),
            cfg.engine,
            nproc=args.nproc,
            nnodes=args.nnodes,
            node_rank=args.node_rank,
            master_addr=args.master_addr,
            master_port=args.master_port,
            hostfile=args.hostfile,
        )
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
