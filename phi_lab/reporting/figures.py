"""The paper's figures as `matplotlib.figure.Figure` objects, built without pyplot.

No pyplot and no `matplotlib.use(...)`: both act on process-wide state, and in a notebook kernel
switching the backend breaks the user's own inline plots. A `ReportFigure` shows itself in a
notebook as PNG (`_repr_png_`), and `save_figure` writes one atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from phi_lab.io import atomic_write
from phi_lab.reporting.paper import DATA_LABELS
from phi_lab.reporting.tables import tokens
from phi_lab.training.metrics import read_metrics

_BAR_COLORS = ["#9e9e9e", "#4c72b0", "#dd8452"]


class ReportFigure(Figure):
    """A Figure that IPython displays as PNG: matplotlib registers its own notebook formatter only
    once pyplot is imported, and these figures never import it."""

    dpi_png = 110

    def _repr_png_(self) -> bytes:
        return png_bytes(self, dpi=self.dpi_png)


def png_bytes(fig: Figure, dpi: int = 130) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 130) -> Path:
    """Write `fig` to `path` atomically (format from the suffix: .png, .pdf, .svg); returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    # the temporary name hides the suffix, so the format is passed explicitly
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))


def figure_2_1(
    results: Sequence[Mapping[str, Any]],
    path: str | Path | None = None,
    intervals: Mapping[tuple, Mapping[str, Any]] | None = None,
) -> ReportFigure:
    """Bars of HumanEval pass@1 and of solution NLL for each (size, tokens) x dataset, base and finetuned.

    `results` rows need: preset, tokens, data, finetuned, humaneval_pass1, humaneval_nll. Several rows
    of one bar (seeds) are averaged. `intervals` maps (preset, tokens, data, finetuned) to
    {"humaneval_pass1": Interval, "humaneval_nll": Interval} (`reporting.claims.figure_2_1_intervals`),
    drawn as error bars. At small scale pass@1 is often 0: the NLL panel is where the paper's effect
    shows. With `path`, the figure is also saved there (as `save_figure` does).
    """
    unknown = sorted({str(r["data"]) for r in results} - set(DATA_LABELS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown} in results; known: {sorted(DATA_LABELS)}")
    groups = sorted({(r["preset"], r["tokens"]) for r in results}, key=lambda g: (g[1], g[0]))
    datas = [d for d in DATA_LABELS if any(r["data"] == d for r in results)]
    by_key: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in results:
        by_key.setdefault((r["preset"], r["tokens"], r["data"], bool(r["finetuned"])), []).append(r)
    n_seeds = max((len(rows) for rows in by_key.values()), default=1)
    fig = ReportFigure(figsize=(12, 4.2), layout="tight")
    axes = fig.subplots(1, 2)
    width = 0.8 / max(1, 2 * len(datas))
    values: dict[str, list[float]] = {"humaneval_pass1": [], "humaneval_nll": []}
    for ax, key, ylabel in (
        (axes[0], "humaneval_pass1", "HumanEval pass@1 (%)"),
        (axes[1], "humaneval_nll", "canonical-solution NLL (nats/token, lower is better)"),
    ):
        for di, data in enumerate(datas):
            for fi, ft in enumerate((False, True)):
                xs, ys, errs = [], [], [[], []]
                scale = 100 if key == "humaneval_pass1" else 1
                for gi, (preset, n_tokens) in enumerate(groups):
                    rows = [r for r in by_key.get((preset, n_tokens, data, ft), []) if r.get(key) is not None]
                    if not rows:
                        continue
                    y = scale * sum(r[key] for r in rows) / len(rows)
                    xs.append(gi + (2 * di + fi - len(datas) + 0.5) * width)
                    ys.append(y)
                    iv = ((intervals or {}).get((preset, n_tokens, data, ft)) or {}).get(key)
                    errs[0].append(max(0.0, y - scale * iv.low) if iv else 0.0)
                    errs[1].append(max(0.0, scale * iv.high - y) if iv else 0.0)
                bars = ax.bar(
                    xs,
                    ys,
                    width,
                    yerr=errs if intervals else None,
                    capsize=2,
                    error_kw={"elinewidth": 0.6},
                    color=_BAR_COLORS[di % len(_BAR_COLORS)],
                    hatch="//" if ft else None,
                    edgecolor="black",
                    linewidth=0.4,
                    label=DATA_LABELS[data] + (" + CodeExercises" if ft else ""),
                )
                ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
                values[key] += ys
        ax.set_xticks(range(len(groups)), [f"{p}\n{tokens(t)} tokens" for p, t in groups])
        ax.set_ylabel(ylabel)
    # pass@1 is often 0 at small scale; keep a visible axis. NLL differences are small: zoom in on them.
    axes[0].set_ylim(0, max(5.0, 1.25 * max(values["humaneval_pass1"], default=0)))
    if values["humaneval_nll"]:
        lo, hi = min(values["humaneval_nll"]), max(values["humaneval_nll"])
        pad = max(0.05, 0.25 * (hi - lo))
        axes[1].set_ylim(max(0.0, lo - pad), hi + pad)
    axes[0].legend(fontsize=7, loc="upper left")
    what = "Figure 2.1 (this run): data quality x size x tokens, before and after CodeExercises"
    if n_seeds > 1:
        what += f"; bars: mean of up to {n_seeds} seeds"
    if intervals:
        what += "; error bars: 95% bootstrap interval over problems"
    fig.suptitle(what, fontsize=9 if intervals or n_seeds > 1 else None)
    if path is not None:
        save_figure(fig, path)
    return fig


def loss_curves(runs: Mapping[str, str | Path], log_scale: bool = True) -> ReportFigure:
    """Training loss per step of each run (name -> training run directory holding metrics.jsonl),
    validation losses as dots in the same colour. A run still training is fine: a cut last line
    of metrics.jsonl is skipped."""
    if not runs:
        raise ValueError("loss_curves needs at least one run")
    fig = ReportFigure(figsize=(7, 4), layout="tight")
    ax = fig.subplots()
    plotted = 0
    for name, run_dir in runs.items():
        train = [(r["step"], r["loss"]) for r in read_metrics(run_dir, "train") if r.get("loss") is not None]
        val = [
            (r["step"], r["val_loss"]) for r in read_metrics(run_dir, "val") if r.get("val_loss") is not None
        ]
        if not train:
            continue
        (line,) = ax.plot(*zip(*train), label=name, lw=1)
        if val:
            ax.plot(*zip(*val), "o", ms=3, color=line.get_color())
        plotted += 1
    if not plotted:
        raise ValueError(f"no training loss recorded in any of {[str(p) for p in runs.values()]}")
    ax.set(xlabel="step", ylabel="loss (dots: validation)", yscale="log" if log_scale else "linear")
    ax.legend(fontsize=6)
    return fig


def score_histograms(
    scores_by_group: Mapping[str, Sequence[float]], threshold: float, bins: int = 20
) -> ReportFigure:
    """§2.1 filtering: one histogram of classifier scores (in [0, 1]) per source group, the
    threshold marked."""
    groups = sorted(scores_by_group) or ["(empty)"]
    fig = ReportFigure(figsize=(7, 2.2 * len(groups) + 0.6), layout="tight")
    axes = fig.subplots(len(groups), 1, squeeze=False)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, g in zip(axes[:, 0], groups):
        s = list(scores_by_group.get(g, []))
        ax.hist(s, bins=edges, color="tab:blue", alpha=0.8)
        ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.3f}")
        kept = sum(x >= threshold for x in s)
        ax.set_title(f"{g}: {len(s)} files, {kept} kept", fontsize=10)
        ax.set_ylabel("files")
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("educational-value score (classifier probability)")
    return fig


def figure_3_1(
    counts: Mapping[str, int], top: int | None = 30, title: str = "Imports across CodeExercises"
) -> ReportFigure:
    """§3 Figure 3.1: how many exercises import each module, most imported first (ties by name)."""
    if not counts:
        raise ValueError("no import counts to plot")
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if top:
        items = items[:top]
    names, values = zip(*items)
    fig = ReportFigure(figsize=(max(6.0, 0.35 * len(items) + 2), 4.5), layout="tight")
    ax = fig.subplots()
    ax.bar(range(len(names)), values, color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_ylabel("exercises importing the module")
    ax.set_title(title)
    return fig
