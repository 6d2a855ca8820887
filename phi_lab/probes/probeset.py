"""Probe sets (paper §3): prompts that test abilities the finetuning data never taught directly.

A probe is a HumanEval-shaped prompt (imports, signature, docstring) whose completion is the
function body, plus what an automatic check needs:

- `requires`: top-level modules the program imports (the run/test checks are skipped, not failed,
  when the sandbox cannot import them: pygame is rarely installed, a judgement about the model
  should not depend on the machine);
- `apis`: API names the completion must reference, checked with `ast` (see `checks.api_report`);
  each entry is one name or alternatives joined by "|"; ".name" matches any attribute `.name`,
  "kw:name" any keyword argument `name=`;
- `run`: statements appended to prompt + completion for the "runs" check (exercises the code
  without judging it); `test`: asserts appended for the "passes" check;
- `reference`: a hand-written correct completion, used only to validate the probe set itself.

Categories follow §3: "understanding" (logical relations between conditions, several
constraints) and "library" (external libraries absent from the CodeExercises), plus
"prompt-format": phi-1.5's prompting formats for base models (`data/prompt_formats.jsonl`).

`format` says what the completion is: "code" (the default: a function body, checked as above) or one
of phi-1.5's text formats, "completion" (plain text continued), "qa" (an "Answer:" after a question)
and "chat" ("Alice: ... Bob:", Bob's turn). A text completion is not parsed, run or tested; it ends at
its format's stop strings (`FORMAT_STOPS`) and is checked for being an answer at all (`answers`: at
least three words) and for being on topic (`expect`: keyword specs, alternatives joined by "|",
matched as whole words, case-insensitive).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from phi_lab.io import read_jsonl

CATEGORIES = ("understanding", "library", "prompt-format", "custom")
PROMPT_FORMATS = ("code", "completion", "qa", "chat")
# Where a text answer ends: the next speaker's turn, the next question, or a paragraph break.
FORMAT_STOPS: dict[str, tuple[str, ...]] = {
    "completion": ("\n\n",),
    "qa": ("\nQuestion:", "\n\n"),
    "chat": ("\nAlice:", "\n\n"),
}

# Where a probe's completion (a function body) ends: a new top-level definition, decorator, main guard,
# print or comment. It differs from HumanEval's list (`benchmarks.humaneval.HUMANEVAL_STOPS`: "\ndef",
# "\nif", ...), which is Codex's published list kept verbatim so pass@k compares with published numbers:
# probes are read side by side by people (§3), so this one matches whole keywords ("\ndef " does not stop
# at `default = ...`, "\nif __name__" not at any top-level `if`). Changing it changes every probe
# completion (it is part of the decoding fingerprint that keys the completion cache).
PROBE_STOPS: tuple[str, ...] = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n@")
_FIELDS = {
    "id",
    "category",
    "title",
    "prompt",
    "apis",
    "requires",
    "run",
    "test",
    "reference",
    "format",
    "expect",
}


@dataclass(frozen=True)
class Probe:
    id: str
    prompt: str
    category: str = "custom"
    title: str = ""
    apis: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    run: str = ""
    test: str = ""
    reference: str = ""
    format: str = "code"
    expect: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise ValueError("a probe needs a non-empty string id")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"probe {self.id!r} has an empty prompt")
        if self.category not in CATEGORIES:
            raise ValueError(
                f"probe {self.id!r}: category must be one of {CATEGORIES}, got {self.category!r}"
            )
        for spec in (*self.apis, *self.expect):
            if not isinstance(spec, str) or not all(alt.strip() for alt in spec.split("|")):
                raise ValueError(f"probe {self.id!r}: bad api or expect spec {spec!r}")
        if self.format not in PROMPT_FORMATS:
            raise ValueError(
                f"probe {self.id!r}: format must be one of {PROMPT_FORMATS}, got {self.format!r}"
            )
        if self.is_text and (self.apis or self.run or self.test or self.requires):
            raise ValueError(f"probe {self.id!r}: a {self.format} probe has no apis, requires, run or test")

    @property
    def is_text(self) -> bool:
        """A natural-language completion (phi-1.5's text formats), not code."""
        return self.format != "code"

    @property
    def stop_strings(self) -> tuple[str, ...] | None:
        """The format's own stop strings; None for code (the decoding's list applies)."""
        return FORMAT_STOPS.get(self.format)

    @classmethod
    def from_json(cls, row: dict) -> Probe:
        unknown = set(row) - _FIELDS
        if unknown:
            raise ValueError(f"unknown probe fields {sorted(unknown)}")
        missing = {"id", "prompt"} - set(row)
        if missing:
            raise ValueError(f"missing probe fields {sorted(missing)}")
        return cls(
            id=row["id"],
            prompt=row["prompt"],
            category=row.get("category", "custom"),
            title=row.get("title", ""),
            apis=tuple(row.get("apis") or ()),
            requires=tuple(row.get("requires") or ()),
            run=row.get("run", "") or "",
            test=row.get("test", "") or "",
            reference=row.get("reference", "") or "",
            format=row.get("format", "code") or "code",
            expect=tuple(row.get("expect") or ()),
        )

    def to_json(self) -> dict:
        d = asdict(self)
        d["apis"], d["requires"], d["expect"] = list(self.apis), list(self.requires), list(self.expect)
        return d


def custom_probe(prompt: str, test: str = "", apis: tuple[str, ...] = ()) -> Probe:
    """A probe for a prompt typed by hand (widget, notebooks): its id is a hash of the prompt, so
    the same text always gets the same sampling seed."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return Probe(
        id=f"custom-{digest}",
        prompt=prompt,
        category="custom",
        title="typed prompt",
        apis=tuple(apis),
        test=test,
    )


def default_probes_path() -> Path:
    return Path(str(resources.files("phi_lab.probes") / "data" / "probes.jsonl"))


def prompt_formats_path() -> Path:
    """phi-1.5's prompt formats for base models as a probe set."""
    return Path(str(resources.files("phi_lab.probes") / "data" / "prompt_formats.jsonl"))


def load_probes(path: str | Path | None = None) -> list[Probe]:
    """Probes from a JSONL file (the shipped set by default). Errors name the file and line."""
    path = Path(path) if path is not None else default_probes_path()
    if not path.is_file():
        raise FileNotFoundError(f"probe file not found: {path}")
    probes: list[Probe] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, on_torn="raise"):
        try:
            probe = Probe.from_json(row)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}:{lineno}: bad probe: {e}") from e
        if probe.id in seen:
            raise ValueError(
                f"{path}:{lineno}: duplicate probe id {probe.id!r} (first on line {seen[probe.id]})"
            )
        seen[probe.id] = lineno
        probes.append(probe)
    if not probes:
        raise ValueError(f"{path}: no probes")
    return probes


def select_probes(probes: list[Probe], ids: list[str] | None) -> list[Probe]:
    """The probes with these ids, in the order given (all of them when ids is None)."""
    if not ids:
        return list(probes)
    by_id = {p.id: p for p in probes}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise KeyError(f"unknown probe ids {unknown}; known: {sorted(by_id)}")
    return [by_id[i] for i in ids]
