"""phi-1.5's three training mixtures, as named weights over named data components.

The report trains three 1.3B models with one recipe and three mixtures:

- phi-1.5: 20% phi-1's training data (CodeTextbook: filtered code + synthetic code textbooks) and
  80% new synthetic natural-language textbooks (the 20K seed topics);
- phi-1.5-web-only: filtered web data only, about 80% natural language and 20% code (phi-1's
  filtered code);
- phi-1.5-web: about 40% filtered web, 20% phi-1's code data, 40% synthetic natural language.

`mixture_data(variant, components)` turns a variant and the directories (or raw JSONL/Parquet
files) of its components into the `--data PATH=WEIGHT` specs `phi-lab train` and
`training.trainer.train(data=...)` take; the weights then drive `phi_lab.data.Mixture`'s smooth
round-robin, so every prefix of the stream is within one sample of the shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# What each component is, and how this project produces it.
COMPONENTS: dict[str, str] = {
    "synthetic_nl": "synthetic natural-language textbooks from the 20K seed topics "
    "(`phi-lab synth textbooks --textbook-kind commonsense`)",
    "phi1": "phi-1's training data, CodeTextbook: filtered code (notebook 01) + synthetic code textbooks",
    "web_nl": "natural-language web text filtered for educational value (`phi_lab.filtering.web.filter_web`)",
    "web_code": "code filtered for educational value: phi-1's filtered Stack + StackOverflow (notebook 01)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    weights: Mapping[str, float]  # component -> share of training samples (sums to 1)
    paper: str  # how the report describes the mixture

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"{self.name}: unknown data components {unknown}; known: {sorted(COMPONENTS)}")
        if abs(sum(self.weights.values()) - 1.0) > 1e-9 or any(w <= 0 for w in self.weights.values()):
            raise ValueError(f"{self.name}: weights must be positive and sum to 1, got {dict(self.weights)}")


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "phi-1.5",
            {"synthetic_nl": 0.8, "phi1": 0.2},
            "20% phi-1's training data, 80% newly created synthetic NLP data",
        ),
        Variant(
            "phi-1.5-web-only",
            {"web_nl": 0.8, "web_code": 0.2},
            "filtered web data only: about 80% NLP data sources and 20% code datasets",
        ),
        Variant(
            "phi-1.5-web",
            {"web_nl": 0.4, "phi1": 0.2, "synthetic_nl": 0.4},
            "about 40% filtered web data, 20% phi-1's code data, 40% new synthetic NLP data",
        ),
    )
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise KeyError(f"unknown phi-1.5 variant {name!r}; choose from {', '.join(VARIANTS)}")
    return VARIANTS[name]


def mixture_data(name: str, components: Mapping[str, str | Path]) -> list[str]:
    """`PATH=WEIGHT` specs for `variant(name)`, in the variant's component order.

    Every component the variant uses must be given and exist; extra ones are an error too (a typo
    must not silently train on a different mixture)."""
    v = variant(name)
    missing = [c for c in v.weights if c not in components]
    extra = sorted(set(components) - set(v.weights))
    if missing or extra:
        need = "; ".join(f"{c}: {COMPONENTS[c]}" for c in missing)
        raise ValueError(
            f"{name} trains on {sorted(v.weights)}"
            + (f"; missing {missing} ({need})" if missing else "")
            + (f"; not part of this mixture: {extra}" if extra else "")
        )
    specs = []
    for c, w in v.weights.items():
        path = Path(components[c])
        if not path.exists():
            raise FileNotFoundError(f"{name}: component {c} ({COMPONENTS[c]}) not found at {path}")
        specs.append(f"{path}={w}")
    return specs


def required_data(name: str) -> dict[str, object]:
    """The preset's `default_data`: there is no offline default, say what to pass."""
    v = variant(name)
    parts = ", ".join(f"{c} {w:.0%}" for c, w in v.weights.items())
    hint = (
        f"{name} trains on a mixture ({parts}): pass one --data PATH=WEIGHT per component, e.g. from "
        f"phi_lab.training.phi15.mixture_data({name!r}, {{...}}); components: "
        + "; ".join(f"{c} = {COMPONENTS[c]}" for c in v.weights)
    )
    return {"kind": "required", "hint": hint, "mixture": dict(v.weights)}
