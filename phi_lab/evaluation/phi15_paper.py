"""The phi-1.5 report's numbers (arXiv 2309.05463, v1), for the tables notebook 08 puts beside ours.

Only the three phi-1.5 models' rows are transcribed (the report's tables also list baselines such
as Llama2-7B and Falcon-rw-1.3B). The report numbers its tables from Table 1 (training compute),
so the benchmarks are its Tables 2-4: `TABLE_1` here holds the report's Table 2 (common sense),
`TABLE_2` its Table 3 (language understanding and knowledge), `TABLE_3` its Table 4 (multi-step
reasoning); `table_of` gives the report's number. Tables 2 and 3 report accuracies in [0, 1]
(SQuAD: exact match), Table 4 percentages (GSM8K "via coding": the model writes Python that is
executed; HumanEval and MBPP pass@1).

How each number was checked, in `CHECKS` and `SOURCES`: the report's PDF was not reachable from
this project, so each value was compared with public transcriptions of its tables (`SOURCES` names
them per value: two paper summaries read in full, and the parts of Papers with Code's listings
that name each value). A value that agrees with at least one is "checked"; the
others are "recalled" (entered from memory of the report) and should be checked against the PDF
before a claim rests on them. No checked value disagreed with its sources. (One further public
file, a plotting script that re-types the phi-1.5 rows, swaps the two SIQA values, 0.530 for
phi-1.5 and 0.526 for phi-1.5-web; the summary and the Papers with Code listings below agree with
each other and with the values here, so it was not followed.) The safety evaluation's per-model
counts (the report's bar chart over its 86 prompts, graded pass / fail / did not understand) are
not transcribed: they could not be verified, so they are None here and the notebook says so.
"""

from __future__ import annotations

MODELS = ("phi-1.5-web-only", "phi-1.5-web", "phi-1.5")

# The report's Table 2: common sense reasoning (zero-shot accuracy).
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
# The report's Table 3: language understanding and knowledge (PIQA, HellaSwag, OpenBookQA
# zero-shot; MMLU 2-shot; SQuAD EM).
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
# The report's Table 4: multi-step reasoning, percent. phi-1.5-web-only's GSM8K is reported as "<3.0"
# (random guessing).
TABLE_3: dict[str, dict[str, float | str | None]] = {
    "phi-1.5-web-only": {"gsm8k": "<3.0", "humaneval": 17.2, "mbpp": 27.3},
    "phi-1.5-web": {"gsm8k": 44.6, "humaneval": 41.4, "mbpp": 43.5},
    "phi-1.5": {"gsm8k": 40.2, "humaneval": 34.1, "mbpp": 37.7},
}
# Safety: the report's own 86 prompts, each answer graded pass / fail / did not understand.
SAFETY_PROMPTS = 86
SAFETY_COUNTS: dict[str, dict[str, int] | None] = {m: None for m in MODELS}

# The transcriptions each value was compared with. SUMMARY and CARD were read in full; of the two
# Papers with Code pages, the passages quoted in their strings.
SUMMARY = (
    "github.com/bzhng-development/summary-of-some-paper-in-cuda @ dae082bfb03b, "
    "docs/pretraining/TextbooksAreAllYouNeedII-phi-1.5technicalreport.md (quotes the phi-1.5 and "
    "phi-1.5-web rows of Tables 2-4)"
)
CARD = (
    "paper card 'Textbooks Are All You Need II: phi-1.5 technical report' in a public GitHub wiki "
    "(its ledger: verified 2026-09-14 against arXiv 2309.05463v1; repository not identified, "
    "code-index file id 69026534738): phi-1.5-web-only rows of Tables 2 and 4 (GSM8K given as '<3')"
)
PWC = (
    "paperswithcode.com/paper/textbooks-are-all-you-need-ii-phi-1-5, 'Results from the Paper' "
    "(phi-1.5-web ARC-Challenge 44.9, ARC-Easy 76.1, HumanEval 41.4, MBPP 43.5, MMLU 37.9)"
)
PWC_ARCHIVE = (
    "paperswithcode2.com/paper/390687 (Papers with Code archive: phi-1.5-web WinoGrande 74, SIQA 53, "
    "PIQA 77, MMLU 37.9, MBPP 43.5; phi-1.5 SIQA 52.6)"
)
_PWC_VALUES = {
    ("phi-1.5-web", "arc_challenge"): (PWC,),
    ("phi-1.5-web", "arc_easy"): (PWC,),
    ("phi-1.5-web", "humaneval"): (PWC,),
    ("phi-1.5-web", "mbpp"): (PWC, PWC_ARCHIVE),
    ("phi-1.5-web", "mmlu"): (PWC, PWC_ARCHIVE),
    ("phi-1.5-web", "winogrande"): (PWC_ARCHIVE,),
    ("phi-1.5-web", "siqa"): (PWC_ARCHIVE,),
    ("phi-1.5-web", "piqa"): (PWC_ARCHIVE,),
    ("phi-1.5", "siqa"): (PWC_ARCHIVE,),
}


def _sources() -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for model in ("phi-1.5-web", "phi-1.5"):
        for table in (TABLE_1, TABLE_2, TABLE_3):
            for bench in table[model]:
                found[(model, bench)] = (SUMMARY, *_PWC_VALUES.get((model, bench), ()))
    for table in (TABLE_1, TABLE_3):
        for bench in table["phi-1.5-web-only"]:
            found[("phi-1.5-web-only", bench)] = (CARD,)
    return found


# Where each checked value was confirmed: (model, benchmark) -> citations.
SOURCES: dict[tuple[str, str], tuple[str, ...]] = _sources()
# Not found in any transcription read: phi-1.5-web-only's row of Table 3 (PIQA, HellaSwag, MMLU,
# OpenBookQA, and the missing SQuAD entry). Those stay "recalled".

CHECKS: dict[tuple[str, str], str] = {
    (model, bench): "checked" if (model, bench) in SOURCES else "recalled"
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
    """The number of the report's table that holds `benchmark` (2, 3 or 4; its Table 1 is compute)."""
    for number, table in ((2, TABLE_1), (3, TABLE_2), (4, TABLE_3)):
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

    `ours` maps a model name to {benchmark: score}, scores as fractions (Table 4's rows are shown
    in percent, as the report prints them); `chance` adds a column with guessing's score."""
    chance = chance or {}
    names = list(ours)
    head = ["benchmark", "table", "chance", *names, *(f"{m} (paper)" for m in MODELS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for bench in BENCHMARK_ORDER:
        if not any(bench in ours[n] for n in names):
            continue
        table = table_of(bench)
        pct = table == 4
        row = [bench, str(table), _fmt(chance.get(bench), pct)]
        row += [_fmt(ours[n].get(bench), pct) for n in names]
        for m in MODELS:
            value = paper_value(m, bench)
            mark = "" if value is None or CHECKS[(m, bench)] == "checked" else "*"
            row.append(
                _fmt(value if isinstance(value, str) or value is None else value / (100 if pct else 1), pct)
                + mark
            )
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        "Tables 2-3: accuracy (SQuAD: exact match); Table 4: percent (GSM8K via code, HumanEval/MBPP "
        "pass@1). Paper values marked * are as recalled, not found in a transcription of the report's "
        "tables; unmarked ones agree with the transcriptions named in phi15_paper.SOURCES."
    )
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"
