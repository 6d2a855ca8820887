"""The dataset card of a synthesis run (markdown + JSON), with diversity and import statistics."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from phi_lab.io import atomic_write_text
from phi_lab.synthesis.report import diversity_report, import_statistics


def reason_class(reason: str) -> str:
    """Group drop reasons: strip ids, keys and line numbers so the card counts kinds, not instances."""
    reason = re.sub(r"\b(ex|tb)-[0-9a-f]{16}\b", "<id>", reason)
    reason = re.sub(r"cache key [0-9a-f]+", "cache key <key>", reason)
    return re.split(r": |\(line", reason, maxsplit=1)[0][:120]


def write_card(
    cfg,
    kept: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
    usage: dict[str, float],
    next_index: int,
    limit: int,
    stop_reason: str | None = None,
    verification: dict[str, Any] | None = None,
) -> dict[str, Any]:
    texts = [r["text"] for r in kept]
    topics = [(r.get("meta") or {}).get("concept") or (r.get("meta") or {}).get("topic") for r in kept]
    card: dict[str, Any] = {
        "name": f"phi-lab synthetic {cfg.kind}",
        "kind": cfg.kind,
        "backend": cfg.backend,
        "model": cfg.model if cfg.backend == "openai" else None,
        "textbook_kind": cfg.textbook_kind if cfg.kind == "textbooks" else None,
        "seed": cfg.seed,
        "n_requested": cfg.n,
        "n_kept": len(kept),
        "n_dropped": len(dropped),
        "candidates_used": next_index,
        "complete": len(kept) >= cfg.n,
        "dropped_by_reason": dict(Counter(reason_class(d.get("reason", "")) for d in dropped).most_common()),
        "sources": dict(Counter((r.get("meta") or {}).get("source") for r in kept).most_common()),
        "usage": usage,
        # None when a model had no price: the cost is unknown, not $0 (phi_lab.llm.prices).
        "cost_usd": None
        if usage.get("cost_usd", 0.0) is None
        else round(float(usage.get("cost_usd", 0.0)), 6),
        "diversity": diversity_report(texts, topics),
    }
    if verification is not None:  # how "passes its tests" was decided (phi_lab.sandbox, issue #15)
        card["verification"] = verification
    if not card["complete"] and stop_reason:
        card["incomplete_reason"] = stop_reason
    elif not card["complete"]:
        card["incomplete_reason"] = (
            f"stopped after {next_index} candidates (limit {limit}) with "
            f"{len(kept)}/{cfg.n} kept: the generator is not diverse enough for n"
        )
    if cfg.kind == "exercises":
        stats = import_statistics([r["prompt"] + r["solution"] for r in kept])
        card["imports"] = stats
        atomic_write_text(cfg.out / "import_stats.json", json.dumps(stats, indent=2))
    atomic_write_text(cfg.out / "dataset_card.json", json.dumps(card, indent=2, default=str))
    atomic_write_text(cfg.out / "dataset_card.md", render_markdown(card))
    return card


def render_markdown(card: dict[str, Any]) -> str:
    d = card["diversity"]
    cost = "unknown (a model had no price; set one with --price MODEL=IN,OUT)"
    if card["cost_usd"] is not None:
        cost = f"${card['cost_usd']:.4f}"
    lines = [
        f"# {card['name']}",
        "",
        f"- backend: **{card['backend']}**"
        + (f" (model `{card['model']}`)" if card["model"] else " (procedural and mined; no LLM output)"),
        f"- records: {card['n_kept']} kept of {card['n_requested']} requested; {card['n_dropped']} dropped;"
        f" {card['candidates_used']} candidates used",
        f"- cost: {cost} ({int(card['usage'].get('requests', 0))} paid requests, "
        f"{int(card['usage'].get('cache_hits', 0))} cache hits)",
        f"- sources: {card['sources']}",
    ]
    if "verification" in card:
        v = card["verification"]
        lines.append(
            f"- verified: tests {v['tests']}, judged {v['decided_by']} (isolation: {v['isolation']})"
        )
    if not card["complete"]:
        lines.append(f"- **incomplete**: {card['incomplete_reason']}")
    lines += ["", "## Dropped, by reason", ""]
    lines += [f"- {k}: {v}" for k, v in card["dropped_by_reason"].items()] or ["- none"]
    lines += [
        "",
        "## Diversity",
        "",
        f"- distinct 1/2/3/4-grams: {d.get('distinct_1grams')} / {d.get('distinct_2grams')} / "
        f"{d.get('distinct_3grams')} / {d.get('distinct_4grams')} (ratios {d.get('distinct_1gram_ratio')} / "
        f"{d.get('distinct_2gram_ratio')} / {d.get('distinct_3gram_ratio')} / {d.get('distinct_4gram_ratio')})",
        f"- distinct openings (first 8 words): {d['distinct_openings']}; share with a repeated opening: "
        f"{d['share_with_repeated_opening']}",
        f"- topics covered: {d['topic_coverage']['distinct_topics']}",
        f"- length ({d['length_unit']}): total {d['total_length']}, mean {d['mean_length']}, max {d['max_length']}",
    ]
    if "imports" in card:
        lines += ["", "## Imports (paper Figure 3.1 data; also import_stats.json)", ""]
        lines += [
            f"- {p['package']}: {p['count']} ({100 * p['share']:.1f}%)"
            for p in card["imports"]["packages"][:20]
        ]
        if not card["imports"]["packages"]:
            lines.append("- no imports")
    return "\n".join(lines) + "\n"
