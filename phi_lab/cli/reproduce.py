"""`phi-lab reproduce`: the whole recipe as notebooks (see `phi_lab.reproduce`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phi_lab import reproduce as R
from phi_lab.cli.common import fail
from phi_lab.paths import runs_dir


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(
        name, help=help, description=R.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--preset", default="micro", help="parameter set in params/ (smoke, micro, gpu-small, paper)"
    )
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<preset>)")
    p.add_argument(
        "--kernel", default=None, help="Jupyter kernel (default: phi-lab if registered, else python3)"
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds one notebook cell may run; 0: no limit (default: the preset's, else 1800; paper: none)",
    )
    p.add_argument("--only", nargs="+", default=None, help="run only these stages (others must be cached)")
    p.add_argument("--force", action="store_true", help="ignore the stage cache")
    p.add_argument("--list", action="store_true", help="print the stages and their parameters, run nothing")
    p.set_defaults(func=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    if args.list:
        for stage in R.plan(args.preset):
            state = "" if stage.exists else "  [not built yet]"
            print(f"{stage.name:<11} {stage.notebook.name}{state}\n    {json.dumps(stage.params)}")
        return 0
    out = args.out or runs_dir() / args.preset
    try:
        timeout = "preset" if args.cell_timeout is None else (args.cell_timeout or None)
        manifest = R.reproduce(args.preset, out, args.kernel, timeout, args.only, args.force)
    except R.StageFailed as e:
        cause = e.__cause__
        fail(f"{e}\n  {type(cause).__name__}: {str(cause).strip()[-2000:]}", code=1)
    built = [s for s, e in manifest["stages"].items() if e["status"] != "not built"]
    missing = [s for s, e in manifest["stages"].items() if e["status"] == "not built"]
    print(f"reproduce {args.preset}: {len(built)} stage(s) done in {out}")
    if missing:
        print(f"not built yet: {', '.join(missing)}")
    return 0
