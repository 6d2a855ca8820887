"""`phi-lab model`: presets, parameter counts, random initialisation and checkpoint export."""

from __future__ import annotations

import argparse
import json

from phi_lab.cli.common import add_verbs
from phi_lab.model.tools import DTYPES


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(name, help=help, description=help)
    verbs = add_verbs(p, "verb")

    info = verbs.add_parser("info", help="shape and parameter count of a preset or a checkpoint")
    src = info.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="model preset name (phi-1, phi-1-small, phi-1.5, micro, smoke)")
    src.add_argument("--path", help="transformers-format checkpoint directory")
    info.set_defaults(func=run_model_info)

    init = verbs.add_parser(
        "init", help="write a randomly initialised model (with a tokenizer) to a directory"
    )
    init.add_argument("--preset", required=True)
    init.add_argument("--tokenizer", required=True, help="tokenizer directory; sets the vocabulary size")
    init.add_argument("--out", required=True)
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=run_model_init)

    export = verbs.add_parser(
        "export", help="copy a checkpoint to a clean transformers directory (optionally cast)"
    )
    export.add_argument("--path", required=True)
    export.add_argument("--out", required=True)
    export.add_argument("--dtype", choices=DTYPES, default=None)
    export.set_defaults(func=run_model_export)


def run_model_info(args: argparse.Namespace) -> int:
    from phi_lab.model.tools import model_info

    print(json.dumps(model_info(preset=args.preset, path=args.path), indent=2))
    return 0


def run_model_init(args: argparse.Namespace) -> int:
    from phi_lab.model.tools import init_model

    path = init_model(args.preset, args.tokenizer, args.out, seed=args.seed)
    print(f"wrote a random {args.preset} model to {path}")
    return 0


def run_model_export(args: argparse.Namespace) -> int:
    from phi_lab.model.tools import export_model

    print(f"exported to {export_model(args.path, args.out, dtype=args.dtype)}")
    return 0
