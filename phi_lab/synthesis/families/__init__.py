"""The procedural exercise families, by name: an explicit table, complete on import.

Each module (`numeric`, `text`) fills its own table with its `@family` functions; this package
imports both, so `FAMILIES` never depends on which module someone happened to import first.
"""

from __future__ import annotations

from phi_lab.synthesis.families import numeric, text
from phi_lab.synthesis.families.base import Family, Spec

FAMILIES: dict[str, Family] = {**numeric.FAMILIES, **text.FAMILIES}
if len(FAMILIES) != len(numeric.FAMILIES) + len(text.FAMILIES):
    raise RuntimeError("two exercise families share a name")

__all__ = ["FAMILIES", "Family", "Spec"]
