"""The paper's own numbers, shown only in clearly labelled reference rows beside this run's.

Transcribed from arXiv 2306.11644v2 ("Textbooks Are All You Need"), checked in two full-text copies
(arXiv and the double-blind version). Nothing here is ever computed or used as a result of a run.
"""

from __future__ import annotations

# (model, size, training tokens, HumanEval pass@1, MBPP pass@1): some rows of the paper's Table 1.
# Source: arXiv 2306.11644v2, Table 1.
PAPER_TABLE_1: list[tuple[str, str, str, str, str]] = [
    ("Codex-12B", "12B", "100B", "28.8%", "-"),
    ("CodeGen-Mono-16.1B", "16.1B", "577B", "29.3%", "35.3%"),
    ("StarCoder", "15.5B", "1T", "33.6%", "52.7%"),
    ("WizardCoder", "16B", "1T", "57.3%", "51.8%"),
    ("GPT-3.5", "175B", "N.A.", "47%", "-"),
    ("GPT-4", "N.A.", "N.A.", "67%", "-"),
    ("phi-1", "1.3B", "7B", "50.6%", "55.5%"),
]

# (model, size, training tokens, graded score, HumanEval) from the paper's Table 2 (whole percents).
# Source: arXiv 2306.11644v2, Table 2 (StarCoder's HumanEval there is 34%, i.e. Table 1's 33.6%, not 33%).
PAPER_TABLE_2: list[tuple[str, str, str, str, str]] = [
    ("CodeGen-Mono-350M", "350M", "577B", "19%", "13%"),
    ("CodeGen-Mono-16.1B", "16.1B", "577B", "38%", "29%"),
    ("Replit", "2.7B", "525B", "37%", "22%"),
    ("StarCoder", "15.5B", "1T", "51%", "34%"),
    ("phi-1-base", "1.3B", "7B", "37%", "29%"),
    ("phi-1-small", "350M", "7B", "45%", "45%"),
    ("phi-1", "1.3B", "7B", "52%", "51%"),
]

# The three pretraining corpora of Figure 2.1, in the paper's words (§2).
DATA_LABELS: dict[str, str] = {
    "unfiltered": "unfiltered corpus (The Stack+)",
    "filtered": "filtered corpus",
    "codetextbook": "CodeTextbook (filtered + textbooks)",
}
