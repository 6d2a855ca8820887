"""Candidate sources: the offline generators and the LLM backend, behind one interface.

`source.candidates(indices) -> list[(record | None, drop_reason, index)]`. Candidate `i` is a
deterministic function of (seed, i) (for the LLM, the prompt is; the reply is cached), which is
what makes a killed run resumable without paying twice.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from phi_lab.synthesis.quality import code_blocks, extract_exercise
from phi_lab.synthesis.records import Exercise, Textbook, stable_id

Candidate = tuple[Any, str, int]


class OfflineExercises:
    """Procedural families, with every `mined_every`-th candidate taken from mined doctest functions."""

    def __init__(
        self,
        seed: int = 0,
        mined_every: int = 10,
        mine_from: list[Path] | None = None,
        families: list[str] | None = None,
    ):
        self.seed, self.mined_every, self.mine_from, self.families = seed, mined_every, mine_from, families
        self._mined: list[Exercise] | None = None

    def mined(self) -> list[Exercise]:
        if self._mined is None:
            from phi_lab.synthesis.mining import mine_exercises, python_sources

            if self.mine_from is None:
                sources = python_sources(seed=self.seed)
            else:
                files = [
                    f
                    for root in self.mine_from
                    for f in (sorted(Path(root).rglob("*.py")) if Path(root).is_dir() else [Path(root)])
                ]
                sources = ((str(f), f.read_text(encoding="utf-8", errors="replace")) for f in files)
            self._mined = list(mine_exercises(sources))
        return self._mined

    def candidates(self, indices: list[int]) -> list[Candidate]:
        from phi_lab.synthesis.procedural import procedural_exercise

        out = []
        for i in indices:
            if self.mined_every and i % self.mined_every == self.mined_every - 1:
                j = i // self.mined_every
                pool = self.mined()
                if j < len(pool):
                    out.append((pool[j], "", i))
                    continue
            out.append((procedural_exercise(i, self.seed, self.families), "", i))
        return out


class OfflineTextbooks:
    def __init__(self, seed: int = 0):
        from phi_lab.synthesis.textbooks_offline import families_by_concept

        self.seed = seed
        self.by_concept = families_by_concept()

    def candidates(self, indices: list[int]) -> list[Candidate]:
        from phi_lab.synthesis.textbooks_offline import build_section

        out = []
        for i in indices:
            s = self.seed * 1_000_003 + i
            out.append((build_section(random.Random(s), s, self.by_concept), "", i))
        return out


class LLMSource:
    """Prompts from a sampler, answers from `LLMClient` (cached), parsed into records."""

    def __init__(
        self,
        kind: str,
        sampler,
        client,
        *,
        seed: int = 0,
        temperature: float = 1.0,
        max_tokens: int = 1500,
        batch_dir: Path | None = None,
        batch=None,
        progress: bool = False,
    ):
        self.kind, self.sampler, self.client = kind, sampler, client
        self.seed, self.temperature, self.max_tokens = seed, temperature, max_tokens
        self.batch_dir, self.batch, self.progress = batch_dir, batch, progress  # batch: a BatchConfig

    def _requests(self, indices: list[int]):
        samples = [self.sampler.sample(random.Random(self.seed * 1_000_003 + i)) for i in indices]
        by_version: dict[str, list[int]] = {}
        for j, s in enumerate(samples):
            by_version.setdefault(s.template_version, []).append(j)
        return samples, by_version

    def _ask(self, samples, js: list[int], version: str) -> list[Any]:
        msgs = [samples[j].messages for j in js]
        kw = dict(temperature=self.temperature, max_tokens=self.max_tokens, template_version=version)
        if self.batch_dir is None:
            return self.client.chat_many(msgs, progress=False, **kw)
        # A line that failed for good is one dropped candidate, not the end of an 880K-record run.
        return self.client.chat_many_batch(
            msgs, state_dir=self.batch_dir, batch=self.batch, on_failure="none", progress=self.progress, **kw
        )

    def prefetch(self, indices: list[int]) -> None:
        """Batch API: ask for all of `indices` in full files at once; `candidates` then reads the cache."""
        samples, by_version = self._requests(indices)
        for version, js in by_version.items():
            self._ask(samples, js, version)

    def candidates(self, indices: list[int]) -> list[Candidate]:
        samples, by_version = self._requests(indices)
        replies: list[Any] = [None] * len(samples)
        for version, js in by_version.items():
            for j, r in zip(js, self._ask(samples, js, version)):
                replies[j] = r
        return [self._parse(i, s, r) for i, s, r in zip(indices, samples, replies)]

    def _meta(self, i: int, sample, reply) -> dict[str, Any]:
        return {
            "backend": "openai",
            "source": f"llm_{sample.kind}",
            "kind": sample.kind,
            "index": i,
            "seed": self.seed,
            "model": reply.model,
            "template_version": sample.template_version,
            "slots": sample.slots,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "finish_reason": reply.finish_reason,
            "cache_key": reply.key,
        }

    def _parse(self, i: int, sample, reply) -> Candidate:
        if reply is None:  # a Batch API line that failed for good
            key = self.client.key(sample.messages, self.client.params(self.temperature, self.max_tokens, {}), sample.template_version)  # fmt: skip
            return None, f"batch request failed: {self.client.batch_failures.get(key, 'no reply')}", i
        meta = self._meta(i, sample, reply)
        if self.kind == "exercises":
            got = extract_exercise(reply.text)
            if isinstance(got, str):
                return None, f"{got} (cache key {reply.key})", i
            prompt, solution, tests = got
            meta["concept"] = f"{sample.slots.get('concept_a')} + {sample.slots.get('concept_b')}"
            meta["function"] = sample.slots.get("function_name")
            return Exercise(stable_id("ex", prompt, solution), prompt, solution, tests, meta), "", i
        text = reply.text.strip()
        if len(text) < 200:
            return None, f"answer too short ({len(text)} chars; cache key {reply.key})", i
        if reply.finish_reason == "length":
            return None, f"answer cut at max_tokens (cache key {reply.key})", i
        meta["topic"] = sample.slots.get("topic") or sample.slots.get("subject")
        # Code examples in an LLM textbook must at least parse; checks are syntax-only there.
        return Textbook(stable_id("tb", text), text + "\n", meta, checks=code_blocks(text)), "", i
