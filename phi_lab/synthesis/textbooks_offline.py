"""Offline synthetic textbook sections: a topic, its explanation and verified code examples.

Each section draws an audience and a style (the phi-1 sampler's slots), takes a concept's notes
(data/concept_notes.json), and builds its worked example from a procedural exercise of that
concept. The example program (solution + checks) is attached as a sandbox check: a section is
kept only if its code runs, so no section teaches broken code.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from phi_lab.synthesis.families import FAMILIES
from phi_lab.synthesis.procedural import build_exercise
from phi_lab.synthesis.records import Textbook, stable_id
from phi_lab.synthesis.samplers import load_data


def families_by_concept() -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    probe = random.Random(0)
    for name in sorted(FAMILIES):
        by.setdefault(FAMILIES[name](probe).concept, []).append(name)
    return by


def build_section(r: random.Random, seed: int, by_concept: dict[str, list[str]]) -> Textbook:
    notes = load_data("concept_notes")
    phr = load_data("offline_textbook")
    topics = load_data("textbook_topics")
    concept = r.choice(sorted(c for c in by_concept if c in notes))
    audience = r.choice(topics["audiences"])
    style = r.choice(sorted(phr["openings"]))
    fam_a, fam_b = (
        r.sample(by_concept[concept], 2) if len(by_concept[concept]) > 1 else [by_concept[concept][0]] * 2
    )
    ex = build_exercise(fam_a, FAMILIES[fam_a](r), seed, with_example=False)
    practice = build_exercise(fam_b, FAMILIES[fam_b](r), seed + 1, with_example=True)
    n_notes = r.randint(1, len(notes[concept]["notes"]))
    explanation = "\n\n".join(notes[concept]["notes"][:n_notes])
    checks = ex.tests.splitlines()[: r.randint(2, 4)]
    title = notes[concept]["title"]
    text = (
        "\n\n".join(
            [
                f"## {title}: {ex.meta['function'].replace('_', ' ')}",
                phr["openings"][style].format(subject=title.lower()) + " " + phr["audience_notes"][audience],
                explanation,
                r.choice(phr["example_intros"]),
                f"```python\n{ex.prompt}{ex.solution}```",
                r.choice(phr["check_intros"]),
                "```python\n" + "\n".join(checks) + "\n```",
                r.choice(phr["practice_intros"]),
                f"```python\n{practice.prompt}    ...\n```",
            ]
        )
        + "\n"
    )
    meta = {
        "backend": "offline",
        "source": "offline_textbook",
        "kind": "textbook",
        "topic": concept,
        "seed": seed,
        "slots": {
            "concept": concept,
            "audience": audience,
            "style": style,
            "example_family": fam_a,
            "practice_family": fam_b,
            "n_notes": n_notes,
            "n_checks": len(checks),
            "example_slots": ex.meta["slots"],
            "practice_slots": practice.meta["slots"],
        },
    }
    program = f"{ex.prompt}{ex.solution}\n\n" + "\n".join(checks) + "\n"
    return Textbook(stable_id("tb", text), text, meta, checks=[program, practice.prompt + "    ...\n"])


def generate_offline_textbooks(n: int, seed: int = 0) -> Iterator[Textbook]:
    by = families_by_concept()
    for i in range(n):
        s = seed * 1_000_003 + i
        yield build_section(random.Random(s), s, by)
