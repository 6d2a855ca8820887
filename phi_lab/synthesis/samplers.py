"""Prompt samplers: where the diversity of synthetic data comes from (phi-1 §2.2, phi-1.5 §2).

Each sampler draws its random slots from composable lists (data/*.json), fills a versioned
template (templates/*.txt) and returns a `PromptSample` whose `slots` go into the record's meta.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from phi_lab.synthesis.topics import TopicSet, composed_topic_strings, load_topics

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


def word_extract(text: str, chars: int, r: random.Random) -> tuple[int, str]:
    """A random extract of about `chars` characters that starts and ends on word boundaries."""
    start = r.randrange(max(1, len(text) - chars))
    if start:  # move to the start of the next word
        nxt = re.search(r"\s", text[start:])
        start = start + nxt.end() if nxt else start
    piece = text[start : start + chars]
    if start + chars < len(text) and " " in piece:
        piece = piece[: piece.rfind(" ")]
    return start, piece.strip()


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
    """Up to `n` distinct composed topics, "subject | aspect | angle" (the older source; phi-1.5's
    default is WordNet's, `topics.load_topics`). See `topics.composed_topic_strings`."""
    return composed_topic_strings(n, seed)


class CommonSensePromptSampler:
    """phi-1.5 common-sense textbooks: a seed topic, an audience and a form per textbook, and (with
    `web_texts`, a share `web_fraction` of prompts) an extract of web text "for diversity".

    `topics` defaults to `topics.load_topics(n_topics, source, wordnet_dir, seed)`: the 20K most
    familiar WordNet topics (source 'composed': the older subject | aspect | angle lists, whose
    order `seed` shuffles); or give any `TopicSet`."""

    kind = "commonsense"

    def __init__(
        self,
        topics: TopicSet | None = None,
        n_topics: int = 20_000,
        seed: int = 0,
        source: str = "wordnet",
        wordnet_dir: str | Path | None = None,
        template: str = "commonsense_v2",
        web_texts: Sequence[str] = (),
        web_fraction: float = 0.5,
        extract_chars: int = 400,
    ):
        if not 0.0 <= web_fraction <= 1.0:
            raise ValueError(f"web_fraction must be in [0, 1], got {web_fraction}")
        self.template = Template.load(template)
        if topics is None:
            where = {"wordnet_dir": wordnet_dir} if wordnet_dir is not None else {}
            topics = load_topics(n_topics, source=source, seed=seed, **where)
        self.topics = topics
        if not len(self.topics):
            raise ValueError("the common-sense sampler needs at least one seed topic")
        parts = load_data("commonsense_parts")
        self.audiences, self.angles = parts["audiences"], parts["angles"]
        self.web = [t for t in web_texts if len(t.strip()) >= 200]
        self.web_fraction = web_fraction if self.web else 0.0
        self.extract_chars = extract_chars

    def sample(self, r: random.Random) -> PromptSample:
        i, topic = self.topics.sample(r)
        slots: dict[str, Any] = {
            "seed_topic_index": i,
            "topic": topic.topic,
            "category": topic.category,
            "gloss": topic.gloss or topic.topic,
            "synset": topic.synset,
            "audience": r.choice(self.audiences),
            "angle": r.choice(self.angles),
            "length": r.choice([300, 500, 800]),
            "web_seed": "",
        }
        if self.web and r.random() < self.web_fraction:
            j = r.randrange(len(self.web))
            start, extract = word_extract(self.web[j], self.extract_chars, r)
            slots.update(seed_text_index=j, extract_start=start)
            slots["web_seed"] = (
                "For variety, borrow the register or a detail from this web extract (do not copy it, "
                f'and correct anything wrong in it):\n"""\n{extract}\n"""\n'
            )
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
        start, extract = word_extract(text, self.extract_chars, r)
        slots = {
            "seed_text_index": i,
            "extract_start": start,
            "extract": extract,
            "audience": r.choice(self.data["audiences"]),
            "style": r.choice(self.data["styles"]),
            "length": r.choice([300, 500, 800]),
        }
        return PromptSample(self.kind, self.template.messages(slots), slots, self.template.version)
