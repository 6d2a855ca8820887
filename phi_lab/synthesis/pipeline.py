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
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_text
from phi_lab.synthesis.quality import Deduplicator, verify_in_sandbox
from phi_lab.synthesis.records import Exercise, Textbook, dumps

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
    llm: dict[str, Any] = field(default_factory=dict)  # extra LLMConfig fields (concurrency, limits, prices)

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
        if self.textbook_kind == "webseed" and self.seed_texts is None and self.backend == "openai":
            raise ValueError("textbook kind 'webseed' needs --seed-texts (a JSONL file with a text field)")
        if any(k in ("api_key", "key") for k in self.llm):
            raise ValueError("API keys come from the environment (OPENAI_API_KEY), never from config")


def read_jsonl_repair(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (no trailing newline) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    rows = []
    for lineno, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{path}:{lineno}: not valid JSON ({e.msg}); fix or delete the line"
                ) from None
    return rows


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(dumps(r) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())


def _make_source(cfg: SynthConfig):
    from phi_lab.synthesis import sources

    if cfg.backend == "offline":
        if cfg.kind == "exercises":
            return sources.OfflineExercises(cfg.seed, cfg.mined_every, cfg.mine_from), None
        return sources.OfflineTextbooks(cfg.seed), None
    from phi_lab.llm.client import LLMClient, LLMConfig
    from phi_lab.synthesis import samplers

    client = LLMClient(LLMConfig(model=cfg.model, **cfg.llm))
    if cfg.kind == "exercises":
        sampler = samplers.ExercisePromptSampler()
    elif cfg.textbook_kind == "code":
        sampler = samplers.TextbookPromptSampler()
    elif cfg.textbook_kind == "commonsense":
        sampler = samplers.CommonSensePromptSampler(seed=cfg.seed)
    else:
        texts = [r.get("text", "") for r in read_jsonl_repair(Path(cfg.seed_texts))]
        sampler = samplers.WebSeedPromptSampler(texts)
    src = sources.LLMSource(
        cfg.kind,
        sampler,
        client,
        seed=cfg.seed,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        batch_dir=cfg.out / "batch" if cfg.batch else None,
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


def run_synthesis(cfg: SynthConfig, progress: bool = True) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from phi_lab.sandbox import Sandbox
    from phi_lab.synthesis.card import write_card

    cfg.out.mkdir(parents=True, exist_ok=True)
    kept_path, dropped_path = cfg.out / f"{cfg.kind}.jsonl", cfg.out / f"{cfg.kind}.dropped.jsonl"
    progress_path = cfg.out / "progress.json"
    manifest = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    manifest["mine_from"] = [str(p) for p in cfg.mine_from] if cfg.mine_from else None
    atomic_write_text(cfg.out / "manifest.json", json.dumps(manifest, indent=2, default=str))

    kept_rows, dropped_rows = read_jsonl_repair(kept_path), read_jsonl_repair(dropped_path)
    state = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    next_index = int(state.get("next_index", 0))
    usage: dict[str, float] = state.get("usage", {})
    seen_ids = {r["id"] for r in kept_rows} | {r["id"] for r in dropped_rows if r.get("id")}
    seen_index = {r["meta"].get("index") for r in dropped_rows if r.get("meta")} - {None}

    dedup = Deduplicator(threshold=cfg.dedup_threshold)
    for row in kept_rows:
        dedup.add(row["text"], row["id"])
    kept = len(kept_rows)
    limit = cfg.max_candidates if cfg.max_candidates is not None else 20 * cfg.n + 100
    source, client = _make_source(cfg)
    sandbox = Sandbox(timeout=cfg.sandbox_timeout, workers=cfg.sandbox_workers)
    bar = tqdm(
        total=cfg.n,
        initial=min(kept, cfg.n),
        desc=f"synth {cfg.kind} ({cfg.backend})",
        disable=not progress,
        unit="rec",
    )
    try:
        while kept < cfg.n and next_index < limit:
            want = cfg.n - kept
            indices = list(
                range(next_index, min(limit, next_index + max(cfg.chunk, min(4 * want, 4 * cfg.chunk))))
            )
            before = client.usage.to_dict() if client else None
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
                now = client.usage.to_dict()
                for k, v in now.items():
                    usage[k] = usage.get(k, 0) + v - before[k]
            next_index = last_used + 1
            atomic_write_text(progress_path, json.dumps({"next_index": next_index, "usage": usage}))
            bar.update(len(new_keep))
    finally:
        bar.close()
    kept_rows = read_jsonl_repair(kept_path)
    return write_card(cfg, kept_rows, dropped_rows, usage, next_index, limit)
