"""phi-1.5's seed topics from WordNet (a small WordNet-format directory the test writes, and the real
Princeton WordNet 3.0 where Debian's wordnet-base is installed) and the common-sense prompt sampler."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from phi_lab.synthesis import samplers
from phi_lab.synthesis.topics import (
    DEFAULT_WORDNET_DIR,
    SeedTopic,
    TopicSet,
    WordNetMissing,
    load_topics,
    wordnet_topics,
)

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def _data_line(offset: str, lex: int, words: list[str], pointers: list[str], gloss: str) -> str:
    ws = " ".join(f"{w} 0" for w in words)
    ptrs = " ".join(f"{p} 00000000 n 0000" for p in pointers)
    return f"{offset} {lex:02d} n {len(words):02x} {ws} {len(pointers):03d} {ptrs} | {gloss}  \n".replace(
        "  |", " |"
    )


def write_wordnet(d: Path) -> Path:
    """data.noun, index.noun and cntlist.rev in WordNet 3.0's formats, with one case for every rule."""
    synsets = {
        "00000001": (13, ["apple"], ["@"], 'fruit with red or green skin; "an apple a day"'),
        "00000002": (20, ["apple", "orchard_apple_tree"], ["@"], "native Eurasian tree widely cultivated"),
        "00000003": (15, ["Paris", "City_of_Light"], ["@i"], "the capital of France"),  # an instance
        "00000004": (5, ["genus_Felis"], ["@"], "type genus of the Felidae"),  # taxonomy
        "00000005": (19, ["rain", "rainfall"], ["@"], "water falling in drops from vapor"),
        "00000006": (23, ["F1"], ["@"], "a function key"),  # digits
        "00000007": (6, ["traffic_light"], ["@"], "a visual signal to control traffic"),
        "00000008": (6, ["Rain"], ["@"], "a second sense whose lemma differs only in case"),
    }
    lines = [HEADER] + [_data_line(o, *v) for o, v in synsets.items()]
    (d / "data.noun").write_text("".join(lines))
    index = {  # lemma -> offsets, most frequent sense first (as WordNet orders them)
        "apple": ["00000001", "00000002"],
        "orchard_apple_tree": ["00000002"],
        "paris": ["00000003"],
        "city_of_light": ["00000003"],
        "genus_felis": ["00000004"],
        "rain": ["00000005", "00000008"],
        "rainfall": ["00000005"],
        "f1": ["00000006"],
        "traffic_light": ["00000007"],
    }
    rows = [HEADER] + [
        f"{lemma} n {len(offs)} 1 @ {len(offs)} 0 {' '.join(offs)}  \n"
        for lemma, offs in sorted(index.items())
    ]
    (d / "index.noun").write_text("".join(rows))
    (d / "cntlist.rev").write_text("rain%1:19:00:: 1 40\napple%1:13:00:: 1 12\napple%2:30:00:: 1 99\n")
    return d


def test_topics_follow_the_rules_and_record_provenance(tmp_path):
    ts = wordnet_topics(write_wordnet(tmp_path))
    names = [t.topic for t in ts.topics]
    # instances, taxonomy and digits are gone; each lemma once, with its most frequent sense
    assert set(names) == {"apple", "orchard apple tree", "rain", "rainfall", "traffic light"}
    apple = next(t for t in ts.topics if t.topic == "apple")
    assert (
        apple.category == "food"
        and apple.gloss == "fruit with red or green skin"
        and apple.synset == "n00000001"
    )
    # ranked by SemCor familiarity (noun senses only: apple's verb-like count 99 is not a noun's)
    assert names[:2] == ["rain", "apple"] and apple.familiarity == 12
    dropped = ts.provenance["dropped"]
    assert (
        dropped["taxonomic name"] == 1
        and dropped["has digits"] == 1
        and dropped["only named individuals"] == 2
    )
    assert set(ts.provenance["files"]) == {
        str(tmp_path / f) for f in ("data.noun", "index.noun", "cntlist.rev")
    }
    assert all(len(v["sha256"]) == 64 for v in ts.provenance["files"].values())
    assert wordnet_topics(tmp_path).topics == ts.topics  # deterministic


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(WordNetMissing, match="apt-get install -y wordnet-base"):
        wordnet_topics(tmp_path)
    with pytest.raises(ValueError, match="WordNet gives 5"):
        load_topics(6, wordnet_dir=write_wordnet(tmp_path))
    with pytest.raises(ValueError, match="unknown topic source"):
        load_topics(5, source="wikipedia")


def test_auto_source_is_wordnet_where_installed_else_composed(tmp_path):
    (tmp_path / "wn").mkdir()
    wordnet = load_topics(4, source="auto", wordnet_dir=write_wordnet(tmp_path / "wn"))
    assert wordnet.provenance["selected"] == 4 and all(t.category != "composed" for t in wordnet.topics)
    composed = load_topics(4, source="auto", wordnet_dir=tmp_path / "absent")
    assert all(t.category == "composed" for t in composed.topics)
    assert composed.provenance["source"].startswith("composed")


def test_topic_set_saves_and_loads(tmp_path):
    ts = load_topics(4, wordnet_dir=write_wordnet(tmp_path))
    back = TopicSet.load(ts.save(tmp_path / "out"))
    assert back.topics == ts.topics and back.provenance["selected"] == 4


@pytest.mark.skipif(
    not (DEFAULT_WORDNET_DIR / "data.noun").exists(), reason="Debian's wordnet-base is not installed"
)
def test_princeton_wordnet_gives_20k_distinct_familiar_topics():
    ts = load_topics(20_000)
    names = [t.topic.lower() for t in ts.topics]
    assert len(names) == len(set(names)) == 20_000
    assert ts.provenance["distinct_topics"] > 90_000 and ts.provenance["noun_synsets"] == 82_115
    assert {"water", "bread", "volcano", "friendship"} <= set(names)  # everyday words are in
    assert not any(any(ch.isdigit() for ch in n) or n.startswith("genus ") for n in names)
    assert len({t.category for t in ts.topics}) >= 20  # spread over WordNet's lexicographer categories


def test_common_sense_sampler_draws_topic_audience_form_and_web_seed(tmp_path):
    topics = load_topics(5, wordnet_dir=write_wordnet(tmp_path))
    web = ["A rainbow forms when sunlight is bent by raindrops into its colours. " * 8]
    s = samplers.CommonSensePromptSampler(topics, web_texts=web, web_fraction=1.0)
    a, b = s.sample(random.Random(3)), s.sample(random.Random(3))
    assert a.messages == b.messages and a.template_version.startswith("commonsense_v2@")
    user = a.messages[-1]["content"]
    assert a.slots["topic"] in user and a.slots["gloss"] in user and a.slots["audience"] in user
    assert a.slots["extract_start"] >= 0 and "web extract" in user
    extract = user.split('"""')[1].strip()
    assert extract in web[0] and not extract[0].isspace()  # starts and ends on word boundaries
    plain = samplers.CommonSensePromptSampler(topics, web_texts=web, web_fraction=0.0).sample(
        random.Random(3)
    )
    assert "web extract" not in plain.messages[-1]["content"]
    drawn = {
        samplers.CommonSensePromptSampler(topics).sample(random.Random(i)).slots["topic"] for i in range(40)
    }
    assert drawn == {t.topic for t in topics.topics}  # every topic reachable


def test_composed_source_keeps_working():
    ts = load_topics(300, source="composed", seed=1)
    assert len({t.topic for t in ts.topics}) == 300 and ts.topics[0] == SeedTopic(
        samplers.seed_topics(1, seed=1)[0], "composed", "", "composed:0"
    )
    s = samplers.CommonSensePromptSampler(n_topics=50, source="composed")
    assert " | " in s.sample(random.Random(0)).slots["topic"]
