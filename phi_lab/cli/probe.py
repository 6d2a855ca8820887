"""`phi-lab probe`: compare checkpoints on the §3 probes and write comparison.html + probes.jsonl.

Completions are cached in DIR/completions.jsonl as they are generated, so rerunning the same
command after an interruption regenerates nothing that was already done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from phi_lab.io import atomic_write_json, atomic_write_jsonl


def register(sub: argparse._SubParsersAction, name: str, help: str) -> None:
    p = sub.add_parser(
        name,
        help=help,
        description="Run two or more checkpoints on the same probes with the same decoding settings and "
        "seeds; check every completion (parses, runs in the sandbox, right API names, passes its test); "
        "write DIR/comparison.html (static page) and DIR/probes.jsonl (one row per probe and model). "
        "With --import-stats, also draw Figure 3.1 (imports across CodeExercises).",
    )
    p.add_argument(
        "--models", nargs="+", metavar="DIR", help="checkpoint directories (phi_lab or transformers format)"
    )
    p.add_argument(
        "--names", nargs="+", metavar="NAME", help="display names, one per model (default: directory names)"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--probes", metavar="FILE", help="probe set JSONL (default: the shipped set)")
    p.add_argument("--ids", nargs="+", metavar="ID", help="only these probe ids")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--timeout", type=float, default=20.0, help="sandbox wall-clock limit per program, seconds"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--import-stats",
        metavar="FILE",
        help="import statistics JSON ({module: count}) or an exercises .jsonl: writes DIR/figure_3_1.png",
    )
    p.set_defaults(func=run)


def _fmt(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:6.1%}"


def run(args: argparse.Namespace) -> int:
    from phi_lab.probes.figures import load_import_counts, plot_imports

    if not args.models and not args.import_stats:
        raise ValueError("give --models DIR [DIR ...] (and/or --import-stats FILE)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure_png = None
    if args.import_stats:
        fig_path = plot_imports(load_import_counts(args.import_stats), out / "figure_3_1.png")
        figure_png = fig_path.read_bytes()
        print(f"wrote {fig_path}")
    if not args.models:
        return 0

    from phi_lab.probes.compare import CompletionCache, DecodingConfig, compare, default_sandbox, load_models
    from phi_lab.probes.probeset import load_probes, select_probes
    from phi_lab.probes.report import write_html

    probes = select_probes(load_probes(args.probes), args.ids)
    decoding = DecodingConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    models = load_models(args.models, args.names, device=args.device)
    comparison = compare(
        models,
        probes,
        decoding,
        sandbox=default_sandbox(args.timeout),
        cache=CompletionCache(out / "completions.jsonl"),
        progress=True,
    )
    # ASCII-escaped: a completion may hold lone surrogates, which UTF-8 cannot encode
    atomic_write_jsonl(out / "probes.jsonl", comparison.records(), ensure_ascii=True)
    write_html(comparison, out / "comparison.html", figure_png=figure_png)
    manifest = {
        "command": "phi-lab probe",
        "models": {m.name: m.path for m in models},
        "probes": args.probes or "phi_lab/probes/data/probes.jsonl",
        "probe_ids": [p.id for p in probes],
        "decoding": decoding.to_json(),
        "sandbox": {"timeout": args.timeout, "isolation": comparison.isolation},
        "scores": [s.to_json() for s in comparison.scores()],
    }
    atomic_write_json(out / "manifest.json", manifest, indent=2)
    print(f"{'model':<30} {'parses':>7} {'runs':>7} {'APIs':>7} {'tests':>7}")
    for s in comparison.scores():
        print(
            f"{s.model:<30} {_fmt(s.parse_rate):>7} {_fmt(s.run_rate):>7} {_fmt(s.api_rate):>7} {_fmt(s.pass_rate):>7}"
        )
    print(f"wrote {out / 'comparison.html'} and {out / 'probes.jsonl'}", file=sys.stderr)
    return 0
