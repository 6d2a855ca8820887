"""The synthesis run: candidates -> sandbox verification -> dedup -> JSONL, resumable, with a card.

Layout of a run directory (`--out DIR`):

    exercises.jsonl | textbooks.jsonl     kept records (`text` field: ready for the packer)
    <kind>.dropped.jsonl                  dropped candidates with their reason
    progress.json                         next candidate index + accumulated usage (atomic)
    dataset_card.json / dataset_card.md   counts, backend, model, cost, diversity, imports
    manifest.json                         the run's configuration

Rerunning the same command resumes: kept and dropped ids are skipped, the dedup index is rebuilt
from the kept records, a torn last line (SIGKILL mid-write) is cut off, and LLM replies come from
the content-addressed cache, so nothing is paid twice.

With an LLM, the run checks the API key before anything else, and stops early (before spending
more) when its first answers are nearly all dropped: by default once 50 answers are in and 90% of
them were dropped, printing the drop reasons counted. With `batch=True` replies come through the
Batch API in full files (`phi_lab.llm.batch`): a pilot of `early_stop_answers` requests first, then
rounds sized from the observed keep rate, at most `max_in_flight` full files each.
"""

from __future__ import annotations

import ast
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import append_jsonl, atomic_write_text, read_jsonl
from phi_lab.synthesis.quality import Deduplicator, verify_in_sandbox
from phi_lab.synthesis.records import Exercise, Textbook

KINDS = ("exercises", "textbooks")
BACKENDS = ("offline", "openai")
TEXTBOOK_KINDS = ("code", "commonsense", "webseed")


@dataclass
class SynthConfig:
    kind: str
    out: Path
    n: int
    backend: str = "offline"
    seed: int = 0
    chunk: int = 64
    max_candidates: int | None = None  # default: 20 * n + 100 (stop if the generator is that unproductive)
    dedup_threshold: float = 0.85
    sandbox_timeout: float = 5.0
    sandbox_workers: int | None = None
    # Run generated code without kernel isolation even next to secrets (an LLM backend's key); None:
    # PHI_LAB_ALLOW_UNISOLATED decides (see phi_lab.sandbox.isolation).
    allow_unisolated: bool | None = None
    # offline
    mined_every: int = 10
    mine_from: list[Path] | None = None
    # openai
    model: str | None = None
    textbook_kind: str = "code"
    seed_texts: Path | None = None
    temperature: float = 1.0
    max_tokens: int = 1500
    batch: bool = False
    batch_options: dict[str, Any] = field(default_factory=dict)  # BatchConfig fields (limits, in flight)
    llm: dict[str, Any] = field(default_factory=dict)  # extra LLMConfig fields (endpoint, limits, prices)
    # Stop an LLM run once this many answers are in if at least this share was dropped (0: never).
    early_stop_answers: int = 50
    early_stop_drop_fraction: float = 0.9

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.n < 1 or self.chunk < 1:
            raise ValueError("n and chunk must be >= 1")
        if self.textbook_kind not in TEXTBOOK_KINDS:
            raise ValueError(f"textbook_kind must be one of {TEXTBOOK_KINDS}, got {self.textbook_kind!r}")
        if self.backend == "openai" and not self.model:
            raise ValueError("--backend openai needs --model")
        if self.backend == "offline" and self.kind == "textbooks" and self.textbook_kind != "code":
            # the offline generator writes code textbooks only: never label them commonsense / webseed
            raise ValueError(
                f"textbook kind {self.textbook_kind!r} needs an LLM (--backend openai --model M): the offline "
                "backend writes code textbooks only"
            )
        if self.textbook_kind == "webseed" and self.seed_texts is None and self.backend == "openai":
            raise ValueError("textbook kind 'webseed' needs --seed-texts (a JSONL file with a text field)")
        if any(k in ("api_key", "key") for k in self.llm):
            raise ValueError("API keys come from the environment (OPENAI_API_KEY), never from config")
        if self.early_stop_answers < 0 or not 0.0 < self.early_stop_drop_fraction <= 1.0:
            raise ValueError("early_stop_answers must be >= 0 and early_stop_drop_fraction in (0, 1]")


def read_jsonl_repair(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file this run appends to; a torn last line (a kill mid-append) is cut off the
    file so the next append starts cleanly. Any other bad line is an error naming the file and line."""
    if not path.exists():
        return []
    return [row for _, row in read_jsonl(path, on_torn="truncate")]


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    append_jsonl(path, rows, ensure_ascii=False)  # records.dumps' serialization, one write + fsync


def _make_source(cfg: SynthConfig):
    from phi_lab.synthesis import sources

    if cfg.backend == "offline":
        if cfg.kind == "exercises":
            return sources.OfflineExercises(cfg.seed, cfg.mined_every, cfg.mine_from), None
        return sources.OfflineTextbooks(cfg.seed), None
    from phi_lab.llm.batch import BatchConfig
    from phi_lab.llm.client import LLMClient, LLMConfig
    from phi_lab.synthesis import samplers

    client = LLMClient(LLMConfig(model=cfg.model, **cfg.llm)).check()  # no key: fail before any work
    if cfg.kind == "exercises":
        sampler = samplers.ExercisePromptSampler()
    elif cfg.textbook_kind == "code":
        sampler = samplers.TextbookPromptSampler()
    elif cfg.textbook_kind == "commonsense":
        sampler = samplers.CommonSensePromptSampler(seed=cfg.seed)
    else:
        # the user's own file: a torn end is an error, never cut
        texts = [r.get("text", "") for _, r in read_jsonl(Path(cfg.seed_texts), on_torn="raise")]
        sampler = samplers.WebSeedPromptSampler(texts)
    src = sources.LLMSource(
        cfg.kind,
        sampler,
        client,
        seed=cfg.seed,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        batch_dir=cfg.out / "batch" if cfg.batch else None,
        batch=BatchConfig(**cfg.batch_options) if cfg.batch else None,
    )
    return src, client


def _dedup_text(rec: Exercise | Textbook) -> str:
    return rec.text() if isinstance(rec, Exercise) else rec.text


def _row(rec: Exercise | Textbook) -> dict[str, Any]:
    if isinstance(rec, Exercise):
        return {**rec.to_json(), "text": rec.text()}
    return rec.to_json()


def _verify(cfg: SynthConfig, recs: list[Any], sandbox) -> list[tuple[bool, str]]:
    if cfg.kind == "exercises":
        return verify_in_sandbox(recs, sandbox)
    if cfg.backend == "offline":  # offline sections: every code example must run
        flat = [(k, prog) for k, rec in enumerate(recs) for prog in rec.checks]
        results = sandbox.run_many([p for _, p in flat]) if flat else []
        verdicts = [(True, "")] * len(recs)
        for (k, _), res in zip(flat, results):
            if not res.passed and verdicts[k][0]:
                verdicts[k] = (False, f"code example failed in sandbox ({res.outcome}): {res.detail[:200]}")
        return verdicts
    verdicts = []
    for rec in recs:
        bad = None
        for j, block in enumerate(rec.checks):
            try:
                ast.parse(block)
            except SyntaxError as e:
                bad = f"code block {j + 1} has a syntax error: {e.msg} (line {e.lineno})"
                break
        verdicts.append((bad is None, bad or ""))
    return verdicts


def _reason(why: str) -> str:
    """A drop reason without its instance details (cache keys, ids, line numbers), for counting."""
    from phi_lab.synthesis.card import reason_class

    return reason_class(why)


def _early_stop(cfg: SynthConfig, kept: int, dropped: list[dict[str, Any]]) -> str | None:
    answers = kept + len(dropped)
    if cfg.backend != "openai" or not cfg.early_stop_answers or answers < cfg.early_stop_answers:
        return None
    if len(dropped) < cfg.early_stop_drop_fraction * answers:
        return None
    reasons = Counter(_reason(d.get("reason", "")) for d in dropped).most_common()
    listed = "; ".join(f"{n} x {why}" for why, n in reasons)
    return (
        f"stopped early: {len(dropped)} of the first {answers} answers were dropped "
        f"({100 * len(dropped) / answers:.0f}% >= {100 * cfg.early_stop_drop_fraction:.0f}%), before "
        f"spending more. Drop reasons: {listed}. Check the model, endpoint and prompt (answers are in "
        f"{cfg.kind}.dropped.jsonl), or raise early_stop_drop_fraction / set early_stop_answers=0"
    )


def _prefetch_size(cfg: SynthConfig, source, kept: int, answers: int, room: int) -> int:
    """Candidates for the next Batch API round: a pilot first, then what the keep rate says is needed."""
    b = source.batch
    if cfg.early_stop_answers and answers < cfg.early_stop_answers:
        size = cfg.early_stop_answers - answers
    else:
        rate = max(kept / answers if answers else 1.0, 0.05)
        size = math.ceil((cfg.n - kept) / rate * 1.1) + cfg.chunk
    return max(1, min(size, room, b.max_in_flight * b.max_requests))


def run_synthesis(cfg: SynthConfig, progress: bool = True) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from phi_lab.llm.client import Usage
    from phi_lab.sandbox import Sandbox
    from phi_lab.synthesis.card import write_card

    source, client = _make_source(cfg)  # an LLM backend without its key fails here, before any work
    cfg.out.mkdir(parents=True, exist_ok=True)
    kept_path, dropped_path = cfg.out / f"{cfg.kind}.jsonl", cfg.out / f"{cfg.kind}.dropped.jsonl"
    progress_path = cfg.out / "progress.json"
    manifest = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    manifest["mine_from"] = [str(p) for p in cfg.mine_from] if cfg.mine_from else None
    atomic_write_text(cfg.out / "manifest.json", json.dumps(manifest, indent=2, default=str))

    kept_rows, dropped_rows = read_jsonl_repair(kept_path), read_jsonl_repair(dropped_path)
    state = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    next_index = int(state.get("next_index", 0))
    usage = Usage.from_dict(state.get("usage", {}))
    seen_ids = {r["id"] for r in kept_rows} | {r["id"] for r in dropped_rows if r.get("id")}
    seen_index = {r["meta"].get("index") for r in dropped_rows if r.get("meta")} - {None}

    dedup = Deduplicator(threshold=cfg.dedup_threshold)
    for row in kept_rows:
        dedup.add(row["text"], row["id"])
    kept = len(kept_rows)
    limit = cfg.max_candidates if cfg.max_candidates is not None else 20 * cfg.n + 100
    sandbox = Sandbox(
        timeout=cfg.sandbox_timeout, workers=cfg.sandbox_workers, allow_unisolated=cfg.allow_unisolated
    )
    batched = client is not None and getattr(source, "batch_dir", None) is not None
    fetched = next_index  # Batch API: candidates below this index have their replies cached
    stop = _early_stop(cfg, kept, dropped_rows)
    bar = tqdm(
        total=cfg.n,
        initial=min(kept, cfg.n),
        desc=f"synth {cfg.kind} ({cfg.backend})",
        disable=not progress,
        unit="rec",
    )
    try:
        while stop is None and kept < cfg.n and next_index < limit:
            want = cfg.n - kept
            step = max(cfg.chunk, min(4 * want, 4 * cfg.chunk))
            answers = kept + len(dropped_rows)
            if client is not None and cfg.early_stop_answers and answers < cfg.early_stop_answers:
                step = min(step, cfg.early_stop_answers - answers)  # decide before spending more
            before = Usage.from_dict(client.usage.to_dict()) if client else None
            if batched and next_index >= fetched:
                size = _prefetch_size(cfg, source, kept, answers, limit - next_index)
                source.prefetch(list(range(next_index, next_index + size)))
                fetched = next_index + size
            if batched:
                step = min(step, fetched - next_index)
            indices = list(range(next_index, min(limit, next_index + step)))
            cands = source.candidates(indices)
            new_keep, new_drop = [], []
            fresh = [
                (rec, why, i)
                for rec, why, i in cands
                if i not in seen_index and (rec is None or rec.id not in seen_ids)
            ]
            recs = [c for c in fresh if c[0] is not None]
            verdicts = _verify(cfg, [c[0] for c in recs], sandbox) if recs else []
            verdict_of = {c[2]: v for c, v in zip(recs, verdicts)}
            last_used = indices[-1]
            for rec, why, i in fresh:
                if kept + len(new_keep) >= cfg.n:
                    last_used = i - 1
                    break
                if rec is None:
                    new_drop.append({"id": None, "reason": why, "meta": {"index": i}})
                    continue
                ok, why = verdict_of[i]
                if ok:
                    ok, why = dedup.check(_dedup_text(rec), rec.id)
                if ok:
                    new_keep.append(_row(rec))
                else:
                    new_drop.append({**_row(rec), "reason": why, "meta": {**rec.meta, "index": i}})
                seen_ids.add(rec.id)
            _append(kept_path, new_keep)
            _append(dropped_path, new_drop)
            kept += len(new_keep)
            dropped_rows += new_drop
            if client:
                usage = usage + (client.usage - before)
            next_index = last_used + 1
            atomic_write_text(progress_path, json.dumps({"next_index": next_index, "usage": usage.to_dict()}))
            bar.update(len(new_keep))
            stop = _early_stop(cfg, kept, dropped_rows)
    finally:
        bar.close()
    if stop:
        print(f"phi-lab synth: {stop}", file=sys.stderr)
    kept_rows = read_jsonl_repair(kept_path)
    verification = {
        # The generator wrote the tests as well as the solutions: they are untrusted, so they run in
        # the sample's own process, and a program written against the harness could pass them.
        "decided_by": "in-process",
        "tests": "written by the LLM (untrusted)" if cfg.backend == "openai" else "generated by phi_lab",
        "isolation": sandbox.isolation,
    }
    return write_card(
        cfg,
        kept_rows,
        dropped_rows,
        usage.to_dict(),
        next_index,
        limit,
        stop_reason=stop,
        verification=verification,
    )
