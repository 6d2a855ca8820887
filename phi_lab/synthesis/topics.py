"""phi-1.5's seed topics: 20K+ distinct topics from Princeton WordNet 3.0's noun synsets, offline.

phi-1.5 "carefully selected 20K topics to seed the generation of this new synthetic data". The
paper does not publish them; here they come from a lexicon a package ships: Debian's `wordnet-base`
(`apt-get install wordnet-base`, /usr/share/wordnet). Each noun synset gives its most frequent
lemma as the topic, with its lexicographer category (noun.food, noun.phenomenon, ...) and gloss,
which disambiguates the sense in the prompt. Kept: common nouns (instances, i.e. individual
people, places and works, are left out, as are taxonomic names such as "genus Felis" and lemmas
with digits), one topic per distinct lemma (case-insensitive; the first sense WordNet lists, its
most frequent, wins; index.noun gives the order). Topics are ranked by familiarity: the SemCor sense-tag counts WordNet ships
(cntlist.rev), then polysemy, then a hash of the lemma (not the alphabet). `load_topics(n)` keeps the n most familiar, so the
selection is deterministic and every topic is a word a general reader knows first.

Provenance (`TopicSet.provenance`) records the files' SHA-256, the rule version and the counts
dropped by each rule. `composed_topics` is the older source (72 subjects x 25 aspects x 15 angles,
data/seed_parts.json), kept for comparison and for machines without WordNet.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi_lab.io import atomic_write_json, atomic_write_jsonl, read_jsonl

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
RULES_VERSION = "wordnet-topics-v1"
SOURCES = ("auto", "wordnet", "composed")  # auto: wordnet where its files are installed, else composed
# WordNet 3.0's lexicographer files for nouns (lexnames): number -> category.
NOUN_CATEGORIES = {
    3: "Tops",
    4: "act",
    5: "animal",
    6: "artifact",
    7: "attribute",
    8: "body",
    9: "cognition",
    10: "communication",
    11: "event",
    12: "feeling",
    13: "food",
    14: "group",
    15: "location",
    16: "motive",
    17: "object",
    18: "person",
    19: "phenomenon",
    20: "plant",
    21: "possession",
    22: "process",
    23: "quantity",
    24: "relation",
    25: "shape",
    26: "state",
    27: "substance",
    28: "time",
}
# Latin taxonomy reads as a list of names, not a topic a textbook can teach common sense about.
TAXON_PREFIXES = (
    "genus ",
    "family ",
    "order ",
    "class ",
    "subclass ",
    "subfamily ",
    "suborder ",
    "superfamily ",
    "superorder ",
    "phylum ",
    "subphylum ",
    "division ",
    "subgenus ",
    "tribe ",
    "kingdom ",
)
MAX_WORDS = 3


@dataclass(frozen=True)
class SeedTopic:
    topic: str  # the lemma, spaces for underscores ("photosynthesis", "traffic light")
    category: str  # lexicographer category without "noun." ("process")
    gloss: str  # the definition, without WordNet's quoted examples
    synset: str  # "n" + the synset's byte offset in data.noun (WordNet's own id)
    familiarity: int = 0  # SemCor sense-tag count of the lemma as a noun

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TopicSet:
    topics: list[SeedTopic]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.topics)

    def sample(self, r: random.Random) -> tuple[int, SeedTopic]:
        i = r.randrange(len(self.topics))
        return i, self.topics[i]

    def save(self, directory: str | Path) -> Path:
        """topics.jsonl (one topic a line) and provenance.json, both written atomically."""
        directory = Path(directory)
        atomic_write_jsonl(directory / "topics.jsonl", (t.to_json() for t in self.topics))
        atomic_write_json(directory / "provenance.json", self.provenance, indent=2)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TopicSet:
        directory = Path(directory)
        rows = [row for _, row in read_jsonl(directory / "topics.jsonl", on_torn="raise")]
        provenance = json.loads((directory / "provenance.json").read_text())
        return cls([SeedTopic(**row) for row in rows], provenance)


class WordNetMissing(FileNotFoundError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise WordNetMissing(
            f"WordNet file {path} not found: install Debian's wordnet-base (`apt-get install -y "
            "wordnet-base`, Princeton WordNet 3.0 in /usr/share/wordnet), pass the directory holding "
            "data.noun and cntlist.rev, or use the 'composed' topic source"
        )
    return path


def noun_familiarity(cntlist: Path) -> Counter[str]:
    """Lemma -> SemCor tag count summed over its noun senses (cntlist.rev: `lemma%1:... sense count`)."""
    counts: Counter[str] = Counter()
    for line in cntlist.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 3 or "%" not in parts[0]:
            continue
        lemma, key = parts[0].split("%", 1)
        if key.startswith("1:"):  # ss_type 1 = noun
            counts[lemma.lower()] += int(parts[2])
    return counts


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _gloss(raw: str) -> str:
    # "a round fruit; "she ate an apple"" -> "a round fruit": examples are quoted after the definition
    parts = [p.strip() for p in raw.split(";")]
    return "; ".join(p for p in parts if p and not p.startswith('"')).strip() or raw.strip()


def _why_dropped(lemma: str) -> str | None:
    text = lemma.replace("_", " ")
    if any(ch.isdigit() for ch in text):
        return "has digits"
    if text.lower().startswith(TAXON_PREFIXES):
        return "taxonomic name"
    if len(text) < 3:
        return "shorter than 3 characters"
    if len(text.split()) > MAX_WORDS:
        return f"more than {MAX_WORDS} words"
    return None


def _synsets(data: Path, dropped: Counter[str]) -> tuple[dict[str, tuple[str, str, dict[str, str]]], int]:
    """offset -> (category, gloss, {lowercase lemma: lemma as written}) for every common-noun synset."""
    out: dict[str, tuple[str, str, dict[str, str]]] = {}
    n = 0
    for line in data.read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):  # the license header
            continue
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        n += 1
        offset, lex, n_words = fields[0], int(fields[1]), int(fields[3], 16)
        if "@i" in fields[4 + 2 * n_words :]:  # an instance: one person, place or work
            dropped["instance synset (a named individual)"] += 1
            continue
        words = {w.lower(): w for w in fields[4 : 4 + 2 * n_words : 2]}
        out[offset] = (NOUN_CATEGORIES.get(lex, str(lex)), _gloss(gloss), words)
    return out, n


def wordnet_topics(directory: str | Path = DEFAULT_WORDNET_DIR) -> TopicSet:
    """Every distinct common-noun topic of WordNet, most familiar first (see the module docstring).

    index.noun lists each lemma's synsets most frequent sense first: the first common-noun synset
    gives the topic its category and gloss."""
    directory = Path(directory)
    data = _require(directory, "data.noun")
    index = _require(directory, "index.noun")
    cntlist = _require(directory, "cntlist.rev")
    familiarity = noun_familiarity(cntlist)
    dropped: Counter[str] = Counter()
    synsets, n_synsets = _synsets(data, dropped)
    found: list[tuple[SeedTopic, int]] = []  # (topic, number of noun senses)
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        lemma, n_senses, n_ptrs = fields[0], int(fields[2]), int(fields[3])
        offsets = fields[6 + n_ptrs :]  # after the pointer symbols, sense_cnt and tagsense_cnt
        why = _why_dropped(lemma)
        if why:
            dropped[why] += 1
            continue
        kept = [o for o in offsets if o in synsets]
        if not kept:
            dropped["only named individuals"] += 1
            continue
        category, gloss, words = synsets[kept[0]]
        written = words.get(lemma, lemma).split("(")[0].replace("_", " ")
        topic = SeedTopic(written, category, gloss, f"n{kept[0]}", familiarity.get(lemma, 0))
        found.append((topic, n_senses))
    # ties (most lemmas are untagged) by a hash of the lemma, so a cut is not alphabetical
    found.sort(key=lambda ts: (-ts[0].familiarity, -ts[1], _digest(ts[0].topic.lower())))
    provenance = {
        "source": "Princeton WordNet 3.0 noun synsets",
        "rules": RULES_VERSION,
        "files": {str(p): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in (data, index, cntlist)},
        "noun_synsets": n_synsets,
        "distinct_topics": len(found),
        "dropped": dict(sorted(dropped.items())),
        "order": "SemCor familiarity, then number of noun senses, then sha256 of the lemma",
        "package": "Debian wordnet-base (apt-get install wordnet-base)",
        "license": "WordNet 3.0 license (Princeton University), see the header of data.noun",
    }
    return TopicSet([t for t, _ in found], provenance)


def composed_topic_strings(n: int = 20_000, seed: int = 0) -> list[str]:
    """Up to `n` distinct "subject | aspect | angle" topics from data/seed_parts.json.

    Deterministic for a seed; the order is a seeded shuffle of the full product, so any prefix is
    spread over all subjects instead of exhausting the first one."""
    parts = json.loads((Path(__file__).parent / "data" / "seed_parts.json").read_text(encoding="utf-8"))
    na, ng = len(parts["aspects"]), len(parts["angles"])
    total = len(parts["subjects"]) * na * ng
    if n > total:
        raise ValueError(
            f"asked for {n} seed topics but the lists compose only {total}; extend data/seed_parts.json"
        )
    out = []
    for idx in random.Random(seed).sample(range(total), n):
        s, rest = divmod(idx, na * ng)
        a, g = divmod(rest, ng)
        out.append(f"{parts['subjects'][s]} | {parts['aspects'][a]} | {parts['angles'][g]}")
    return out


def composed_topics(n: int = 20_000, seed: int = 0) -> TopicSet:
    """The older source as a TopicSet: subject | aspect | angle (72 x 25 x 15 = 27,000)."""
    topics = [
        SeedTopic(t, "composed", "", f"composed:{i}") for i, t in enumerate(composed_topic_strings(n, seed))
    ]
    return TopicSet(topics, {"source": "composed from data/seed_parts.json", "seed": seed, "n": n})


def wordnet_available(directory: str | Path = DEFAULT_WORDNET_DIR) -> bool:
    """Whether `directory` holds the three WordNet files the topics are built from."""
    return all((Path(directory) / name).is_file() for name in ("data.noun", "index.noun", "cntlist.rev"))


def load_topics(
    n: int = 20_000,
    source: str = "wordnet",
    wordnet_dir: str | Path = DEFAULT_WORDNET_DIR,
    seed: int = 0,
) -> TopicSet:
    """The `n` seed topics phi-1.5 textbooks are drawn from: the n most familiar WordNet topics, or
    (source='composed') n composed ones; 'auto' is WordNet where it is installed, else composed. Fewer available than asked is an error, never a silent cut."""
    if source not in SOURCES:
        raise ValueError(f"unknown topic source {source!r}; choose from {', '.join(SOURCES)}")
    if n < 1:
        raise ValueError(f"need n >= 1 topics, got {n}")
    if source == "auto":  # a fresh machine without wordnet-base still reproduces; the provenance says which
        source = "wordnet" if wordnet_available(wordnet_dir) else "composed"
    if source == "composed":
        return composed_topics(n, seed)
    full = wordnet_topics(wordnet_dir)
    if n > len(full):
        raise ValueError(f"asked for {n} seed topics but WordNet gives {len(full)} distinct ones")
    return TopicSet(full.topics[:n], {**full.provenance, "selected": n})


def category_counts(topics: Sequence[SeedTopic]) -> dict[str, int]:
    return dict(Counter(t.category for t in topics).most_common())
