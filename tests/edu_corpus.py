"""A small .py corpus for the filter tests: half textbook-like functions, half GUI boilerplate."""

from __future__ import annotations

from pathlib import Path

GOOD = '''def {name}_sum(values):
    """Add up the positive numbers in values with a running total."""
    total = 0
    for v in values:  # visit each number once
        if v > 0:
            total += v
    return total
'''
BAD = """from .ui import *
import tkinter as tk
{name}_window = tk.Tk()
{name}_window.title("{name}")
tk.Label({name}_window, text=LABEL).pack()
"""
NAMES = [
    "apple",
    "berry",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "grape",
    "heron",
    "iris",
    "jade",
    "kiwi",
    "lemon",
]


def corpus_texts() -> dict[str, str]:
    """File name -> text: even files textbook-like, odd files GUI boilerplate."""
    return {
        f"f{i:02d}_{name}.py": (GOOD if i % 2 == 0 else BAD).format(name=f"{name}{i}")
        for i, name in enumerate(NAMES)
    }


def write_corpus(src: Path) -> Path:
    src.mkdir(parents=True, exist_ok=True)
    for name, text in corpus_texts().items():
        (src / name).write_text(text)
    return src
