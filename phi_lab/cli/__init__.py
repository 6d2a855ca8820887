"""The `phi-lab` console command.

One module per verb in `phi_lab/cli/` exposes `register(subparsers, name, help) -> None`, which
adds its parser and sets `func` to a handler named `run_<verb>` (or `run_<verb>_<sub>` for nested
verbs). Handlers only translate the command line into calls of typed `phi_lab` functions; every
error reaches the user through `phi_lab.cli.common.run_handler` (one line, one exit code).
Heavy imports happen inside handlers so `phi-lab --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from phi_lab.cli.common import BAD_INPUT, run_handler

# subcommand -> (module, one-line help). Order is the order of the paper's recipe.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "model": ("phi_lab.cli.model", "inspect presets, count parameters, convert checkpoints"),
    "tokenizer": ("phi_lab.cli.tokenizer", "train, inspect and test tokenizers"),
    "data": ("phi_lab.cli.data", "read corpora and pack them into token shards (§2.3)"),
    "filter": ("phi_lab.cli.filter", "annotate, fit and apply the educational-value filter (§2.1)"),
    "synth": ("phi_lab.cli.synth", "synthesize textbooks and exercises (§2.2)"),
    "train": ("phi_lab.cli.train", "pretrain or finetune Phi models (§2.3)"),
    "eval": ("phi_lab.cli.eval", "HumanEval / MBPP pass@k, likelihood and LLM grading (§4)"),
    "probe": ("phi_lab.cli.probe", "compare checkpoints on emergent-ability probes (§3)"),
    "prune": ("phi_lab.cli.prune", "decontaminate and prune exercises (§5)"),
    "reproduce": ("phi_lab.cli.reproduce", "run the whole recipe as notebooks with papermill"),
}


def _not_built(name: str, module: str):
    def run(_args: argparse.Namespace) -> int:
        print(f"phi-lab {name}: not built yet ({module} does not exist in this checkout).", file=sys.stderr)
        return BAD_INPUT

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phi-lab",
        description="phi-lab: reproduce 'Textbooks Are All You Need' (phi-1) step by step.",
    )
    from phi_lab import __version__

    parser.add_argument("--version", action="version", version=f"phi-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            # Only a missing *subcommand module* means "not built"; a missing dependency is a real error.
            if e.name is None or not module.startswith(e.name):
                raise
            p = sub.add_parser(name, help=f"{help_text} [not built yet]")
            p.set_defaults(func=_not_built(name, module))
            continue
        mod.register(sub, name=name, help=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return run_handler(args.command, args.func, args)


if __name__ == "__main__":
    sys.exit(main())
