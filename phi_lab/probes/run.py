"""A §3 probe comparison as one typed call: `run_probes(...)`, what `phi-lab probe` and notebook 05 run.

Writes into `out`: completions.jsonl (the completion cache: a rerun regenerates nothing),
probes.jsonl (one row per probe and model), comparison.html, manifest.json, and with
`import_stats` Figure 3.1 as figure_3_1.png.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json, atomic_write_jsonl
from phi_lab.probes.compare import Comparison, DecodingConfig

DEFAULT_PROBES = "phi_lab/probes/data/probes.jsonl"


@dataclass
class ProbeRun:
    """What a probe run wrote: the comparison (None with only `import_stats`) and the figure's path."""

    out: Path
    comparison: Comparison | None
    figure: Path | None
    manifest: dict[str, Any] | None


def run_probes(
    models: Sequence[str | Path],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    probes: str | Path | None = None,
    ids: Sequence[str] | None = None,
    decoding: DecodingConfig | None = None,
    timeout: float = 20.0,
    device: str = "cpu",
    import_stats: str | Path | None = None,
    progress: bool = True,
    allow_unisolated: bool | None = None,
) -> ProbeRun:
    """Run every checkpoint in `models` on the probes with the same decoding and seeds, check every
    completion (parses, runs in the sandbox, right APIs, passes its test), and write the outputs.

    `decoding` defaults to greedy, 256 new tokens; `import_stats` ({module: count} JSON or an
    exercises .jsonl) also draws Figure 3.1."""
    from phi_lab.probes.compare import CompletionCache, compare, default_sandbox, load_models
    from phi_lab.probes.figures import load_import_counts, plot_imports
    from phi_lab.probes.probeset import load_probes, select_probes
    from phi_lab.probes.report import write_html

    if not models and not import_stats:
        raise ValueError("give --models DIR [DIR ...] (and/or --import-stats FILE)")
    decoding = decoding or DecodingConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot_imports(load_import_counts(import_stats), out / "figure_3_1.png") if import_stats else None
    if not models:
        return ProbeRun(out, None, figure, None)

    chosen = select_probes(load_probes(probes), list(ids) if ids else None)
    entries = load_models([str(m) for m in models], list(names) if names else None, device=device)
    comparison = compare(
        entries,
        chosen,
        decoding,
        sandbox=default_sandbox(timeout, allow_unisolated),
        cache=CompletionCache(out / "completions.jsonl"),
        progress=progress,
    )
    # ASCII-escaped: a completion may hold lone surrogates, which UTF-8 cannot encode
    atomic_write_jsonl(out / "probes.jsonl", comparison.records(), ensure_ascii=True)
    write_html(comparison, out / "comparison.html", figure_png=figure.read_bytes() if figure else None)
    manifest = {
        "command": "phi-lab probe",
        "models": {m.name: m.path for m in entries},
        "probes": str(probes) if probes else DEFAULT_PROBES,
        "probe_ids": [p.id for p in chosen],
        "decoding": decoding.to_json(),
        "sandbox": {"timeout": timeout, "isolation": comparison.isolation},
        "scores": [s.to_json() for s in comparison.scores()],
    }
    atomic_write_json(out / "manifest.json", manifest, indent=2)
    return ProbeRun(out, comparison, figure, manifest)


def scores_text(comparison: Comparison) -> str:
    """The per-model rates as a plain-text table (the CLI's summary)."""

    def fmt(rate: float | None) -> str:
        return "n/a" if rate is None else f"{rate:6.1%}"

    lines = [f"{'model':<30} {'parses':>7} {'runs':>7} {'APIs':>7} {'tests':>7} {'answers':>7} {'topic':>7}"]
    for s in comparison.scores():
        lines.append(
            f"{s.model:<30} {fmt(s.parse_rate):>7} {fmt(s.run_rate):>7} {fmt(s.api_rate):>7} {fmt(s.pass_rate):>7}"
            f" {fmt(s.answer_rate):>7} {fmt(s.topic_rate):>7}"
        )
    judged = Counter(r.test_decided_by for r in comparison.results.values() if r.test_decided_by)
    how = ", ".join(
        f"{n} by the {d}" if d == "trusted checker" else f"{n} {d}" for d, n in sorted(judged.items())
    )
    lines.append(f"isolation: {comparison.isolation}; tests judged: {how or 'none'}")
    return "\n".join(lines)
