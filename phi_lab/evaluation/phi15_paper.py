"""The phi-1.5 report's numbers (arXiv 2309.05463, v1), for the tables notebook 08 puts beside ours.

Only the three phi-1.5 models' rows are transcribed (the report's tables also list baselines such
as Llama2-7B and Falcon-rw-1.3B). Tables 1 and 2 report accuracies in [0, 1] (SQuAD: exact match),
Table 3 percentages (GSM8K "via coding": the model writes Python that is executed; HumanEval and
MBPP pass@1).

How each number was checked, in `CHECKS`: the paper's text was not available to this project when
these were entered. Every value is the report's table as recalled; the values that an independent
listing of the report's results (Papers with Code's) also gives are marked "listing", the others
"recalled" and should be checked against the PDF before a claim rests on them. The safety
evaluation's per-model counts (the report's bar chart over its 86 prompts, graded pass / fail /
did not understand) are not transcribed: they could not be verified, so they are None here and the
notebook says so.
"""

from __future__ import annotations

MODELS = ("phi-1.5-web-only", "phi-1.5-web", "phi-1.5")

# Table 1: common sense reasoning (zero-shot accuracy).
TABLE_1: dict[str, dict[str, float | None]] = {
    "phi-1.5-web-only": {
        "winogrande": 0.604,
        "arc_easy": 0.666,
        "arc_challenge": 0.329,
        "boolq": 0.632,
        "siqa": 0.414,
    },
    "phi-1.5-web": {
        "winogrande": 0.740,
        "arc_easy": 0.761,
        "arc_challenge": 0.449,
        "boolq": 0.728,
        "siqa": 0.530,
    },
    "phi-1.5": {
        "winogrande": 0.734,
        "arc_easy": 0.756,
        "arc_challenge": 0.444,
        "boolq": 0.758,
        "siqa": 0.526,
    },
}
# Table 2: language understanding and knowledge (PIQA, HellaSwag, OpenBookQA zero-shot; MMLU 2-shot; SQuAD EM).
TABLE_2: dict[str, dict[str, float | None]] = {
    "phi-1.5-web-only": {
        "piqa": 0.743,
        "hellaswag": 0.478,
        "mmlu": 0.309,
        "openbookqa": 0.274,
        "squad": None,
    },
    "phi-1.5-web": {"piqa": 0.770, "hellaswag": 0.484, "mmlu": 0.379, "openbookqa": 0.360, "squad": 0.74},
    "phi-1.5": {"piqa": 0.766, "hellaswag": 0.476, "mmlu": 0.376, "openbookqa": 0.372, "squad": 0.72},
}
# Table 3: multi-step reasoning, percent. phi-1.5-web-only's GSM8K is reported as "<3.0" (random guessing).
TABLE_3: dict[str, dict[str, float | str | None]] = {
    "phi-1.5-web-only": {"gsm8k": "<3.0", "humaneval": 17.2, "mbpp": 27.3},
    "phi-1.5-web": {"gsm8k": 44.6, "humaneval": 41.4, "mbpp": 43.5},
    "phi-1.5": {"gsm8k": 40.2, "humaneval": 34.1, "mbpp": 37.7},
}
# Safety: the report's own 86 prompts, each answer graded pass / fail / did not understand.
SAFETY_PROMPTS = 86
SAFETY_COUNTS: dict[str, dict[str, int] | None] = {m: None for m in MODELS}

_LISTED = {
    ("phi-1.5-web", "winogrande"),
    ("phi-1.5-web", "arc_easy"),
    ("phi-1.5-web", "arc_challenge"),
    ("phi-1.5-web", "siqa"),
    ("phi-1.5", "siqa"),
    ("phi-1.5-web", "piqa"),
    ("phi-1.5-web", "mmlu"),
    ("phi-1.5", "openbookqa"),
    ("phi-1.5-web", "gsm8k"),
    ("phi-1.5-web", "humaneval"),
    ("phi-1.5-web", "mbpp"),
}
CHECKS: dict[tuple[str, str], str] = {
    (model, bench): "listing" if (model, bench) in _LISTED else "recalled"
    for table in (TABLE_1, TABLE_2, TABLE_3)
    for model, row in table.items()
    for bench in row
}


def paper_value(model: str, benchmark: str) -> float | str | None:
    """The report's number for (model, benchmark), or None where it reports none."""
    if model not in MODELS:
        raise KeyError(f"unknown phi-1.5 model {model!r}; choose from {', '.join(MODELS)}")
    for table in (TABLE_1, TABLE_2, TABLE_3):
        if benchmark in table[model]:
            return table[model][benchmark]
    raise KeyError(f"the report has no benchmark {benchmark!r}")


def table_of(benchmark: str) -> int:
    for number, table in ((1, TABLE_1), (2, TABLE_2), (3, TABLE_3)):
        if benchmark in table["phi-1.5"]:
            return number
    raise KeyError(f"the report has no benchmark {benchmark!r}")


BENCHMARK_ORDER = (
    "winogrande",
    "arc_easy",
    "arc_challenge",
    "boolq",
    "siqa",
    "piqa",
    "hellaswag",
    "mmlu",
    "openbookqa",
    "squad",
    "gsm8k",
    "humaneval",
    "mbpp",
)


def _fmt(value: float | str | None, percent: bool) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def comparison_table(
    ours: dict[str, dict[str, float | None]],
    chance: dict[str, float] | None = None,
    note: str = "",
) -> str:
    """Markdown: one row per benchmark, our models' scores beside the report's three phi-1.5 models.

    `ours` maps a model name to {benchmark: score}, scores as fractions (Table 3's rows are shown
    in percent, as the report prints them); `chance` adds a column with guessing's score."""
    chance = chance or {}
    names = list(ours)
    head = ["benchmark", "table", "chance", *names, *(f"{m} (paper)" for m in MODELS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for bench in BENCHMARK_ORDER:
        if not any(bench in ours[n] for n in names):
            continue
        table = table_of(bench)
        pct = table == 3
        row = [bench, str(table), _fmt(chance.get(bench), pct)]
        row += [_fmt(ours[n].get(bench), pct) for n in names]
        for m in MODELS:
            value = paper_value(m, bench)
            mark = "" if value is None or CHECKS[(m, bench)] == "listing" else "*"
            row.append(
                _fmt(value if isinstance(value, str) or value is None else value / (100 if pct else 1), pct)
                + mark
            )
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Tables 1-2: accuracy (SQuAD: exact match); Table 3: percent (GSM8K via code, HumanEval/MBPP "
        "pass@1). Paper values marked * are as recalled, not checked against the report's text here; "
        "unmarked ones agree with an independent listing of its results."
    )
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"
