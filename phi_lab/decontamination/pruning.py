"""Pruning CodeExercises against a benchmark for a sweep of AST match-rate thresholds tau (phi-1 §5.2).

At threshold tau a pair (exercise, problem) is *close* when its embedding distance is within the fixed
embedding threshold and its AST match rate is >= tau. An exercise close to any problem is *removed*; a
problem with at least one close exercise is *similar* (Table 3's "similar" subset), the others are
*non-similar*. Lower tau removes more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phi_lab.benchmarks import Problem
from phi_lab.decontamination.ast_match import METHOD_NAMES
from phi_lab.decontamination.exercises import Exercise
from phi_lab.decontamination.similarity import PairScores
from phi_lab.io import atomic_write_jsonl

DEFAULT_TAUS = (0.95, 0.9, 0.85, 0.8)
TOP_MATCHES = 3  # closest exercises listed per similar problem in pruning.json


def tau_key(tau: float) -> str:
    """The JSON key of a threshold: '0.95', '0.9', '0.85', '0.8'."""
    return f"{tau:g}"


def parse_taus(spec: str) -> tuple[float, ...]:
    try:
        taus = tuple(float(t) for t in spec.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--taus must be comma-separated numbers, got {spec!r}") from None
    if not taus or any(not 0.0 < t <= 1.0 for t in taus):
        raise ValueError(f"every tau must be in (0, 1], got {spec!r}")
    return tuple(sorted(set(taus), reverse=True))


@dataclass
class TauDecision:
    tau: float
    similar_tasks: list[str]
    non_similar_tasks: list[str]
    removed_ids: list[str]
    reasons: dict[str, dict] = field(default_factory=dict)  # removed id -> closest problem and scores
    matches: dict[str, list[dict]] = field(default_factory=dict)  # similar task -> closest exercises

    def to_json(self) -> dict:
        return {
            "similar_tasks": self.similar_tasks,
            "non_similar_tasks": self.non_similar_tasks,
            "removed_ids": self.removed_ids,
            "n_similar": len(self.similar_tasks),
            "n_removed": len(self.removed_ids),
            "matches": self.matches,
        }


def _pair_json(pairs: PairScores, k: int, exercises, problems) -> dict:
    return {
        "id": exercises[pairs.ex_index[k]].id,
        "task_id": problems[pairs.prob_index[k]].task_id,
        "ast_match": round(float(pairs.ast_match[k]), 4),
        "embedding_distance": round(float(pairs.embedding_distance[k]), 4),
        "method": METHOD_NAMES[int(pairs.method[k])],
    }


def decide(
    pairs: PairScores,
    exercises: Sequence[Exercise],
    problems: Sequence[Problem],
    taus: Sequence[float] = DEFAULT_TAUS,
) -> dict[float, TauDecision]:
    """Removed exercises and similar problems for each tau (cheap: the scores are already computed)."""
    out = {}
    for tau in taus:
        close = np.flatnonzero(pairs.close(tau))
        # closest first, so the first pair seen per exercise / problem is its best match
        close = close[np.lexsort((pairs.embedding_distance[close], -pairs.ast_match[close]))]
        reasons: dict[str, dict] = {}
        matches: dict[str, list[dict]] = {}
        for k in close:
            info = _pair_json(pairs, k, exercises, problems)
            reasons.setdefault(info["id"], info)
            best = matches.setdefault(info["task_id"], [])
            if len(best) < TOP_MATCHES:
                best.append({k2: v for k2, v in info.items() if k2 != "task_id"})
        similar = set(matches)
        out[tau] = TauDecision(
            tau=tau,
            similar_tasks=[p.task_id for p in problems if p.task_id in similar],
            non_similar_tasks=[p.task_id for p in problems if p.task_id not in similar],
            removed_ids=[e.id for e in exercises if e.id in reasons],
            reasons=reasons,
            matches={p.task_id: matches[p.task_id] for p in problems if p.task_id in similar},
        )
    return out


def write_pruned_sets(
    out_dir: Path, exercises: Sequence[Exercise], decisions: dict[float, TauDecision]
) -> dict[str, dict[str, str]]:
    """Per tau: `exercises/tau-<tau>.jsonl` (kept, ready for retraining) and `removed/tau-<tau>.jsonl`
    (each removed exercise with the reason: its closest problem and scores). Returns the paths."""
    paths = {}
    for tau, dec in decisions.items():
        key = tau_key(tau)
        kept_path = out_dir / "exercises" / f"tau-{key}.jsonl"
        removed_path = out_dir / "removed" / f"tau-{key}.jsonl"
        atomic_write_jsonl(
            kept_path, (e.to_json() for e in exercises if e.id not in dec.reasons), ensure_ascii=False
        )
        atomic_write_jsonl(
            removed_path,
            (
                {
                    **e.to_json(),
                    "reason": f"close to {dec.reasons[e.id]['task_id']} at tau={key}",
                    **{k: v for k, v in dec.reasons[e.id].items() if k != "id"},
                }
                for e in exercises
                if e.id in dec.reasons
            ),
            ensure_ascii=False,
        )
        paths[key] = {
            "kept": str(kept_path.relative_to(out_dir)),
            "removed": str(removed_path.relative_to(out_dir)),
        }
    return paths
