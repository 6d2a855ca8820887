"""Prompt samplers: where the diversity of synthetic data comes from (phi-1 §2.2, phi-1.5 §2).

Each sampler draws its random slots from composable lists (data/*.json), fills a versioned
template (templates/*.txt) and returns a `PromptSample` whose `slots` go into the record's meta.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


@cache
def load_data(name: str) -> dict[str, Any]:
    return json.loads((HERE / "data" / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Template:
    """A prompt template file: `## system` and `## user` sections with {slot} fields.

    `version` is `<name>@<sha256[:10] of the file>`: editing a template changes the version,
    which changes every LLM cache key built from it (no stale replies after an edit).
    """

    name: str
    system: str
    user: str
    version: str

    @classmethod
    def load(cls, name: str, directory: Path | None = None) -> Template:
        path = (directory or HERE / "templates") / f"{name}.txt"
        if not path.exists():
            known = sorted(p.stem for p in (directory or HERE / "templates").glob("*.txt"))
            raise FileNotFoundError(f"no prompt template {path}; known templates: {known}")
        raw = path.read_text(encoding="utf-8")
        parts = re.split(r"^## (system|user)\s*$", raw, flags=re.M)
        sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
        if "user" not in sections:
            raise ValueError(f"{path}: template needs a '## user' section")
        digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
        return cls(name, sections.get("system", ""), sections["user"], f"{name}@{digest}")

    def messages(self, slots: dict[str, Any]) -> list[dict[str, str]]:
        try:
            user = self.user.format(**slots)
        except KeyError as e:
            raise KeyError(f"template {self.name} needs slot {e}") from None
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return [*msgs, {"role": "user", "content": user}]


@dataclass
class PromptSample:
    kind: str
    messages: list[dict[str, str]]
    slots: dict[str, Any]
    template_version: str
    meta: dict[str, Any] = field(default_factory=dict)


class TextbookPromptSampler:
    """phi-1 textbooks: topic x subtopic x audience x style (x length)."""

    kind = "textbook"

    def __init__(self, template: str = "textbook_v1"):
        self.template = Template.load(template)
        self.data = load_data("textbook_topics")

    def sample(self, r: random.Random) -> PromptSample:
        topic = r.choice(sorted(self.data["topics"]))
        slots = {
            "topic": topic,
            "subtopic": r.choice(self.data["topics"][topic]),
            "audience": r.choice(self.data["audiences"]),
            "style": r.choice(self.data["styles"]),
            "length": r.choice([300, 500, 800]),
        }
        return PromptSample(self.kind, self.template.messages(slots), slots, self.template.version)


def constrained_function_name(r: random.Random) -> str:
    c = load_data("exercise_concepts")
    return f"{r.choice(c['verbs'])}_{r.choice(c['nouns'])}"


class ExercisePromptSampler:
    """phi-1 CodeExercises: a constrained function name and two concepts per prompt."""

    kind = "exercise"

    def __init__(self, template: str = "exercise_v1"):
        self.template = Template.load(template)
        self.data = load_data("exercise_concepts")

    def sample(self, r: random.Random) -> PromptSample:
        a, b = r.sample(self.data["concepts"], 2)
        slots = {
            "function_name": constrained_function_name(r),
            "concept_a": a,
            "concept_b": b,
            "difficulty": r.choice(self.data["difficulties"]),
        }
        return PromptSample(self.kind, self.template.messages(slots), slots, self.template.version)


def seed_topics(n: int = 20_000, seed: int = 0) -> list[str]:
    """Up to `n` distinct phi-1.5 seed topics composed from subjects x aspects x angles (data/seed_parts.json).

    Deterministic for a seed; the order is a seeded shuffle of the full product, so any prefix is
    spread over all subjects instead of exhausting the first one.
    """
    parts = load_data("seed_parts")
    total = len(parts["subjects"]) * len(parts["aspects"]) * len(parts["angles"])
    if n > total:
        raise ValueError(
            f"asked for {n} seed topics but the lists compose only {total}; extend data/seed_parts.json"
        )
    order = random.Random(seed).sample(range(total), n)
    na, ng = len(parts["aspects"]), len(parts["angles"])
    out = []
    for idx in order:
        s, rest = divmod(idx, na * ng)
        a, g = divmod(rest, ng)
        out.append(f"{parts['subjects'][s]} | {parts['aspects'][a]} | {parts['angles'][g]}")
    return out


class CommonSensePromptSampler:
    """phi-1.5 common-sense textbooks from a seed topic (subject | aspect | angle)."""

    kind = "commonsense"

    def __init__(self, n_topics: int = 20_000, seed: int = 0, template: str = "commonsense_v1"):
        self.template = Template.load(template)
        self.topics = seed_topics(n_topics, seed)
        self.audiences = load_data("textbook_topics")["audiences"]

    def sample(self, r: random.Random) -> PromptSample:
        i = r.randrange(len(self.topics))
        subject, aspect, angle = self.topics[i].split(" | ")
        slots = {
            "seed_topic_index": i,
            "subject": subject,
            "aspect": aspect,
            "angle": angle,
            "audience": r.choice(self.audiences),
            "length": r.choice([300, 500, 800]),
        }
        return PromptSample(self.kind, self.template.messages(slots), slots, self.template.version)


class WebSeedPromptSampler:
    """phi-1.5: an extract of web text (any text records) seeds a textbook-style rewrite."""

    kind = "webseed"

    def __init__(self, texts: list[str], extract_chars: int = 800, template: str = "webseed_v1"):
        self.texts = [t for t in texts if len(t.strip()) >= 200]
        if not self.texts:
            raise ValueError("web-seed sampler needs at least one text of >= 200 characters")
        self.template = Template.load(template)
        self.extract_chars = extract_chars
        self.data = load_data("textbook_topics")

    def sample(self, r: random.Random) -> PromptSample:
        i = r.randrange(len(self.texts))
        text = self.texts[i]
        start = r.randrange(max(1, len(text) - self.extract_chars))
        extract = text[start : start + self.extract_chars].strip()
        slots = {
            "seed_text_index": i,
            "extract_start": start,
            "extract": extract,
            "audience": r.choice(self.data["audiences"]),
            "style": r.choice(self.data["styles"]),
            "length": r.choice([300, 500, 800]),
        }
        return PromptSample(self.kind, self.template.messages(slots), slots, self.template.version)
