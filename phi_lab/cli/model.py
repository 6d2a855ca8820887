"""`phi-lab model`: presets, parameter counts, random initialisation and checkpoint export."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(name, help=help, description=help)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    info = verbs.add_parser("info", help="shape and parameter count of a preset or a checkpoint")
    src = info.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="model preset name (phi-1, phi-1-small, phi-1.5, micro, smoke)")
    src.add_argument("--path", help="transformers-format checkpoint directory")
    info.set_defaults(func=_info)

    init = verbs.add_parser(
        "init", help="write a randomly initialised model (with a tokenizer) to a directory"
    )
    init.add_argument("--preset", required=True)
    init.add_argument("--tokenizer", required=True, help="tokenizer directory; sets the vocabulary size")
    init.add_argument("--out", required=True)
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=_init)

    export = verbs.add_parser(
        "export", help="copy a checkpoint to a clean transformers directory (optionally cast)"
    )
    export.add_argument("--path", required=True)
    export.add_argument("--out", required=True)
    export.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None)
    export.set_defaults(func=_export)


def _info(args: argparse.Namespace) -> int:
    import torch

    from phi_lab.model.hf_format import read_config
    from phi_lab.model.phi import Phi, PhiConfig

    if args.preset:
        config = PhiConfig.from_preset(args.preset)
    else:
        config = read_config(args.path)
    with torch.device("meta"):  # count without allocating 1.4B floats
        model = Phi(config)
    out = {
        "config": config.__dict__,
        "parameters": model.num_parameters(),
        "non_embedding_parameters": model.num_parameters(exclude_embeddings=True),
    }
    print(json.dumps(out, indent=2))
    return 0


def _init(args: argparse.Namespace) -> int:
    import torch

    from phi_lab.model.loading import save_model
    from phi_lab.model.phi import Phi, PhiConfig
    from phi_lab.model.tokenizer import PhiTokenizer

    tok = PhiTokenizer.from_pretrained(args.tokenizer)
    torch.manual_seed(args.seed)
    config = PhiConfig.from_preset(args.preset, vocab_size=tok.padded_vocab_size(), eos_token_id=tok.eos_id)
    path = save_model(Phi(config), tok, args.out)
    print(f"wrote a random {args.preset} model to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import torch

    from phi_lab.model.loading import load_model, save_model

    model, tok = load_model(args.path)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    print(f"exported to {save_model(model, tok, args.out, dtype=dtype)}")
    return 0
