"""Side-by-side comparison of checkpoints on probes (paper §3: phi-1-base vs phi-1).

Every model completes every probe with the same decoding settings and the same per-probe seed
(derived from the probe id, so a probe samples identically whether it runs alone in the widget or
with the whole set in batch). Each completion then gets its verdicts: parses (ast), references the
right API names (ast), runs and passes its test (in `phi_lab.sandbox`). No widget or HTML code here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import weakref
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi_lab import io
from phi_lab.probes import checks
from phi_lab.probes.probeset import PROBE_STOPS, Probe

if TYPE_CHECKING:
    from phi_lab.model.generation import Completion
    from phi_lab.sandbox import CheckedSolution, Sandbox, SandboxResult


@dataclass(frozen=True)
class DecodingConfig:
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop_strings: tuple[str, ...] = PROBE_STOPS
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_strings"] = list(self.stop_strings)
        return d

    def fingerprint(self) -> str:
        d = self.to_json()
        d.pop("batch_size")  # completions do not depend on batching
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def probe_seed(seed: int, probe_id: str) -> int:
    """The sampling seed of one probe: depends on the run seed and the probe, nothing else."""
    return seed + zlib.crc32(probe_id.encode("utf-8", "surrogatepass"))


@dataclass
class ModelEntry:
    """A loaded checkpoint under a display name."""

    name: str
    model: Any  # phi_lab.model.phi.Phi
    tokenizer: Any  # phi_lab.model.tokenizer.PhiTokenizer
    path: str = ""

    @property
    def key(self) -> str:
        """Identifies the weights for the completion cache: path plus the weight file's size and mtime."""
        weights = Path(self.path) / "model.safetensors"
        stamp = f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}" if weights.is_file() else ""
        return f"{Path(self.path).resolve() if self.path else self.name}|{stamp}"


def model_names(paths: Sequence[str | Path]) -> list[str]:
    """Short unique display names: the directory name, with parents added until names differ."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{n}#{i}" for i, n in enumerate(str(p) for p in paths)]


def load_models(
    paths: Sequence[str | Path], names: Sequence[str] | None = None, device: str = "cpu"
) -> list[ModelEntry]:
    """Load checkpoints (phi_lab or transformers-format directories) for comparison."""
    from phi_lab.model.loading import load_model

    if len(paths) < 1:
        raise ValueError("need at least one model to probe")
    names = list(names) if names else model_names(paths)
    if len(names) != len(paths) or len(set(names)) != len(names):
        raise ValueError(f"need one unique name per model, got {names} for {len(paths)} paths")
    entries = []
    for name, path in zip(names, paths):
        if not Path(path).is_dir():
            raise NotADirectoryError(f"model directory not found: {path}")
        model, tok = load_model(path, device=device)
        entries.append(ModelEntry(name=name, model=model, tokenizer=tok, path=str(path)))
    return entries


class CompletionCache:
    """Completions already generated, keyed by (weights, prompt, decoding, seed); appended as they
    come so an interrupted run resumes without regenerating."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._rows: dict[str, dict] = {}
        if not self.path.is_file():
            return
        try:
            # a torn last line is a crash mid-append: cut it, the next add() appends after the last row
            for lineno, row in io.read_jsonl(self.path, on_torn="truncate"):
                if not isinstance(row.get("key"), str):
                    raise ValueError(f"{self.path}:{lineno}: a cache row without a key")
                self._rows[row["key"]] = row
        except ValueError as e:
            raise ValueError(f"{e}; delete {self.path} to regenerate its completions") from None

    @staticmethod
    def key(entry: ModelEntry, probe: Probe, decoding: DecodingConfig) -> str:
        parts = [entry.key, probe.prompt, decoding.fingerprint(), probe_seed(decoding.seed, probe.id)]
        if probe.is_text:  # a text probe ends at its format's stops, not the decoding's
            parts.append(list(probe.stop_strings or ()))
        raw = json.dumps(parts)
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> dict | None:
        return self._rows.get(key)

    def add(self, rows: list[dict]) -> None:
        io.append_jsonl(self.path, rows)
        self._rows.update((row["key"], row) for row in rows)


def complete(
    entry: ModelEntry,
    probes: Sequence[Probe],
    decoding: DecodingConfig,
    cache: CompletionCache | None = None,
    progress: bool = False,
) -> list[Completion]:
    """One completion per probe from one model, in probe order (`phi_lab.model.generation.complete`,
    the path evaluation uses too); each finished batch is appended to `cache`."""
    from phi_lab.model import generation

    results: list[Completion | None] = [None] * len(probes)
    keys = [CompletionCache.key(entry, p, decoding) if cache else "" for p in probes]
    todo = []
    for i, key in enumerate(keys):
        row = cache.get(key) if cache else None
        if row is not None:
            results[i] = generation.Completion(
                row["completion"], row["n_tokens"], row["prompt_truncated"], row["seconds"]
            )
        else:
            todo.append(i)

    def save(batch: list[int], comps: list[Completion]) -> None:
        rows = []
        for j, c in zip(batch, comps):
            i = todo[j]
            results[i] = c
            rows.append(
                {
                    "key": keys[i],
                    "model": entry.name,
                    "probe": probes[i].id,
                    "completion": c.text,
                    "n_tokens": c.n_tokens,
                    "prompt_truncated": c.prompt_truncated,
                    "seconds": c.seconds,
                }
            )
        if cache is not None:
            cache.add(rows)

    # one generation call per stop list: code probes share the decoding's, text formats have their own
    groups: dict[tuple[str, ...], list[int]] = {}
    for j, i in enumerate(todo):
        groups.setdefault(probes[i].stop_strings or decoding.stop_strings, []).append(j)
    for stops, members in groups.items():
        try:
            generation.complete(
                entry.model,
                entry.tokenizer,
                [probes[todo[j]].prompt for j in members],
                [probe_seed(decoding.seed, probes[todo[j]].id) for j in members],
                max_new_tokens=decoding.max_new_tokens,
                temperature=decoding.temperature,
                top_p=decoding.top_p,
                stop_strings=stops,
                batch_size=decoding.batch_size,
                progress=progress,
                desc=f"generate {entry.name}",
                on_batch=lambda batch, comps, members=members: save([members[b] for b in batch], comps),
            )
        except ValueError as e:  # which model's window was too small
            raise ValueError(f"{entry.name}: {e}") from None
    return results  # type: ignore[return-value]


@dataclass
class ProbeResult:
    """The verdicts on one model's completion of one probe. None means "not applicable"."""

    probe_id: str
    model: str
    completion: str
    n_tokens: int = 0
    prompt_truncated: bool = False
    parses: bool | None = False  # None: a text probe (nothing to parse)
    parse_error: str | None = None
    runs: bool | None = None
    run_outcome: str | None = None
    run_detail: str = ""
    api_ok: bool | None = None
    api_missing: list[str] = field(default_factory=list)
    passes: bool | None = None
    test_outcome: str | None = None
    test_detail: str = ""
    # who judged the test: "trusted checker" (the project's test, outside the sample) or "in-process"
    test_decided_by: str | None = None
    # text probes (phi-1.5's prompt formats): an answer of a few words at all, and on topic
    answers: bool | None = None
    on_topic: bool | None = None
    topic_missing: list[str] = field(default_factory=list)
    skipped: str = ""  # why run/test were not attempted
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_capabilities: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sandbox_capabilities(sandbox: Sandbox, modules: set[str]) -> dict[str, bool]:
    """Which modules the sandbox can import (one tiny program per module, remembered per sandbox so
    repeated widget runs do not pay for it again)."""
    known: dict[str, bool] = _capabilities.setdefault(sandbox, {})
    todo = sorted(set(modules) - known.keys())
    if todo:
        known.update({m: r.passed for m, r in zip(todo, sandbox.run_many([f"import {m}\n" for m in todo]))})
    return {m: known[m] for m in modules}


def default_sandbox(timeout: float = 20.0, allow_unisolated: bool | None = None) -> Sandbox:
    """Probes import third-party libraries (numpy, torch, ...), so site-packages stay visible (read-only)."""
    from phi_lab.sandbox import Sandbox

    return Sandbox(timeout=timeout, memory_mb=8192, site_packages=True, allow_unisolated=allow_unisolated)


def _detail(r: SandboxResult) -> str:
    return r.detail or r.outcome


def evaluate(
    probes: Sequence[Probe],
    completions: dict[str, list[Completion]],
    sandbox: Sandbox,
    progress: bool = False,
) -> dict[tuple[str, str], ProbeResult]:
    """Verdicts for every (model, probe): static checks here, run/test programs in one sandbox batch."""
    available = sandbox_capabilities(sandbox, {m for p in probes for m in p.requires})
    results: dict[tuple[str, str], ProbeResult] = {}
    jobs: list[tuple[tuple[str, str], str, str | CheckedSolution]] = []  # (result key, "run" | "test", job)
    for model, comps in completions.items():
        for probe, comp in zip(probes, comps):
            r = ProbeResult(
                probe.id, model, comp.text, comp.n_tokens, comp.prompt_truncated, seconds=comp.seconds
            )
            if probe.is_text:
                text = checks.text_report(probe, comp.text)
                r.parses, r.answers, r.on_topic, r.topic_missing = (
                    None,
                    text.answers,
                    text.on_topic,
                    text.missing,
                )
                results[(model, probe.id)] = r
                continue
            r.parse_error = checks.parse_error(checks.program(probe, comp.text))
            r.parses = r.parse_error is None
            api = checks.api_report(probe, comp.text)
            if api is not None:
                r.api_ok, r.api_missing = api.ok, api.missing
            missing = [m for m in probe.requires if not available.get(m)]
            if missing:
                r.skipped = f"not importable in the sandbox: {', '.join(missing)}"
            elif not r.parses:
                # code that does not parse cannot run; no need to spend a sandbox process on it
                r.runs, r.run_outcome, r.run_detail = False, "error", r.parse_error or ""
                if probe.test:
                    r.passes, r.test_outcome, r.test_detail = False, "error", r.parse_error or ""
            else:
                jobs.append(((model, probe.id), "run", checks.run_program(probe, comp.text)))
                if probe.test:
                    jobs.append(((model, probe.id), "test", checks.test_job(probe, comp.text)))
            results[(model, probe.id)] = r
    outs = sandbox.run_many([j[2] for j in jobs], progress=progress) if jobs else []
    for (key, kind, _), out in zip(jobs, outs):
        r = results[key]
        if kind == "run":
            r.runs, r.run_outcome, r.run_detail = out.passed, out.outcome, _detail(out)
        else:
            r.passes, r.test_outcome, r.test_detail = out.passed, out.outcome, _detail(out)
            r.test_decided_by = out.decided_by
    return results


@dataclass
class Score:
    """One model's row of the scoring table; each rate is over the probes where it applies."""

    model: str
    n: int = 0
    parsed: int = 0
    parse_n: int = 0  # code probes (text probes have nothing to parse)
    ran: int = 0
    run_n: int = 0
    api: int = 0
    api_n: int = 0
    passed: int = 0
    test_n: int = 0
    answered: int = 0
    answer_n: int = 0  # text probes
    on_topic: int = 0
    topic_n: int = 0

    @staticmethod
    def _rate(k: int, n: int) -> float | None:
        return k / n if n else None

    @property
    def parse_rate(self) -> float | None:
        return self._rate(self.parsed, self.parse_n)

    @property
    def run_rate(self) -> float | None:
        return self._rate(self.ran, self.run_n)

    @property
    def api_rate(self) -> float | None:
        return self._rate(self.api, self.api_n)

    @property
    def pass_rate(self) -> float | None:
        return self._rate(self.passed, self.test_n)

    @property
    def answer_rate(self) -> float | None:
        return self._rate(self.answered, self.answer_n)

    @property
    def topic_rate(self) -> float | None:
        return self._rate(self.on_topic, self.topic_n)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            parse_rate=self.parse_rate,
            run_rate=self.run_rate,
            api_rate=self.api_rate,
            pass_rate=self.pass_rate,
            answer_rate=self.answer_rate,
            topic_rate=self.topic_rate,
        )
        return d


@dataclass
class Comparison:
    models: list[str]
    probes: list[Probe]
    decoding: DecodingConfig
    results: dict[tuple[str, str], ProbeResult]
    isolation: str = ""

    def result(self, model: str, probe_id: str) -> ProbeResult:
        return self.results[(model, probe_id)]

    def scores(self) -> list[Score]:
        table = []
        for m in self.models:
            s = Score(m)
            for p in self.probes:
                r = self.result(m, p.id)
                s.n += 1
                if r.parses is not None:
                    s.parse_n += 1
                    s.parsed += r.parses
                if r.answers is not None:
                    s.answer_n += 1
                    s.answered += r.answers
                if r.on_topic is not None:
                    s.topic_n += 1
                    s.on_topic += r.on_topic
                if r.runs is not None:
                    s.run_n += 1
                    s.ran += r.runs
                if r.api_ok is not None:
                    s.api_n += 1
                    s.api += r.api_ok
                if r.passes is not None:
                    s.test_n += 1
                    s.passed += r.passes
            table.append(s)
        return table

    def diff(self, probe_id: str, a: str, b: str, context: int = 3) -> str:
        """Unified diff (difflib) of model a's completion against model b's."""
        ca, cb = self.result(a, probe_id).completion, self.result(b, probe_id).completion
        lines = difflib.unified_diff(
            ca.splitlines(keepends=True), cb.splitlines(keepends=True), fromfile=a, tofile=b, n=context
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def records(self) -> list[dict[str, Any]]:
        """One JSON row per (probe, model), probes in order: the batch output `probes.jsonl`."""
        rows = []
        for p in self.probes:
            for m in self.models:
                row = {
                    "probe": p.id,
                    "category": p.category,
                    "prompt": p.prompt,
                    **self.result(m, p.id).to_json(),
                }
                row["seed"] = probe_seed(self.decoding.seed, p.id)
                rows.append(row)
        return rows


def compare(
    models: Sequence[ModelEntry],
    probes: Sequence[Probe],
    decoding: DecodingConfig | None = None,
    sandbox: Sandbox | None = None,
    cache: CompletionCache | None = None,
    progress: bool = False,
) -> Comparison:
    """Run every model on every probe (same decoding, same seeds) and check each completion."""
    if not models:
        raise ValueError("need at least one model to compare")
    if not probes:
        raise ValueError("need at least one probe")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    decoding = decoding or DecodingConfig()
    sandbox = sandbox or default_sandbox()
    completions = {m.name: complete(m, probes, decoding, cache=cache, progress=progress) for m in models}
    results = evaluate(probes, completions, sandbox, progress=progress)
    return Comparison(names, list(probes), decoding, results, isolation=sandbox.isolation)
