"""Command-line flags derived from a config dataclass, both ways: parser options and worker argv.

Every field of the dataclass gets one option (`lr` -> `--lr`, `keep_best` -> `--keep-best /
--no-keep-best`, `betas` -> `--betas B1 B2`, `keep_steps` -> `--keep-steps [N ...]`, a dict ->
JSON). An option left out stays `None`, which means "keep the preset's value". `argv()` writes
overrides back as options, so a launcher hands its workers exactly the config it parsed; one table
serves both directions and a new field needs no CLI change.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from phi_lab.training.config import ENGINES, PRECISIONS, SCHEDULES, TrainConfig


@dataclasses.dataclass(frozen=True)
class Flag:
    """One dataclass field as a command-line option."""

    field: str
    kind: str  # "bool", "scalar", "pair" (fixed-length tuple), "list" (variable tuple), "json"
    type: type | None = None  # element type of scalars and tuples
    length: int | None = None  # fixed tuple length
    choices: tuple[str, ...] | None = None
    help: str = ""

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class body (after it on its line, else the block just above it):
    the help text is written once, beside the field."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source (frozen app): options work, help is shorter
        return {}
    out: dict[str, str] = {}
    block: list[str] = []
    for line in source.splitlines():
        if m := re.match(r"^\s+#\s?(.*)$", line):
            block.append(m.group(1).strip())
        elif m := re.match(r"^\s+(\w+):[^#]*?(?:#\s*(.+))?$", line):
            text = m.group(2) or " ".join(block)
            if text:
                out.setdefault(m.group(1), text.strip())
            block = []
        else:
            block = []
    return out


def _flag(f: dataclasses.Field, hint: Any, choices: tuple[str, ...] | None, help: str) -> Flag:
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # `int | None`: the option gives the int
        hint = next(p for p in params if p is not type(None))
        origin, params = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return Flag(f.name, "bool", help=help)
    if hint in (int, float, str):
        return Flag(f.name, "scalar", hint, choices=choices, help=help)
    if origin is tuple and len(params) == 2 and params[1] is Ellipsis:
        return Flag(f.name, "list", params[0], help=help)
    if origin is tuple and params and all(p is params[0] for p in params):
        return Flag(f.name, "pair", params[0], length=len(params), help=help)
    if origin is dict or hint is dict:
        return Flag(f.name, "json", help=help)
    raise TypeError(f"{f.name}: no command-line form for the type {hint!r}")


class ConfigFlags:
    """The options of one config dataclass: `add_to(parser)`, `overrides(namespace)`, `argv(overrides)`."""

    def __init__(self, cls: type, choices: Mapping[str, Sequence[str]] | None = None) -> None:
        hints = typing.get_type_hints(cls)
        comments = field_comments(cls)
        choices = dict(choices or {})
        self.cls = cls
        self.flags = [
            _flag(
                f,
                hints[f.name],
                tuple(choices[f.name]) if f.name in choices else None,
                comments.get(f.name, f"{cls.__name__}.{f.name}"),
            )
            for f in dataclasses.fields(cls)
        ]

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        for flag in self.flags:
            # argparse %-formats help text: a literal % in a comment must not break --help
            help = flag.help.rstrip(".").replace("%", "%%") + "; default: the preset's"
            if flag.kind == "bool":
                # two options rather than BooleanOptionalAction, whose 3.11 help adds "(default: None)"
                parser.add_argument(flag.option, dest=flag.field, action="store_const", const=True, help=help)
                parser.add_argument(
                    "--no-" + flag.option[2:],
                    dest=flag.field,
                    action="store_const",
                    const=False,
                    help="no " + flag.option,
                )
            elif flag.kind == "scalar":
                parser.add_argument(
                    flag.option,
                    dest=flag.field,
                    type=flag.type,
                    choices=flag.choices,
                    default=None,
                    help=help,
                )
            elif flag.kind == "pair":
                parser.add_argument(
                    flag.option,
                    dest=flag.field,
                    type=flag.type,
                    nargs=flag.length,
                    metavar=tuple(f"{flag.field[:-1].upper()}{i + 1}" for i in range(flag.length or 0)),
                    default=None,
                    help=help,
                )
            elif flag.kind == "list":
                parser.add_argument(
                    flag.option,
                    dest=flag.field,
                    type=flag.type,
                    nargs="*",
                    metavar="N",
                    default=None,
                    help=help,
                )
            else:
                parser.add_argument(
                    flag.option, dest=flag.field, type=_json_object, metavar="JSON", default=None, help=help
                )

    def overrides(self, args: argparse.Namespace) -> dict[str, Any]:
        """The fields given on the command line (the rest keep the preset's values)."""
        out = {}
        for flag in self.flags:
            value = getattr(args, flag.field, None)
            if value is not None:
                out[flag.field] = tuple(value) if flag.kind in ("pair", "list") else value
        return out

    def argv(self, overrides: Mapping[str, Any]) -> list[str]:
        """`overrides` as options that `add_to`'s parser reads back to the same values."""
        by_field = {flag.field: flag for flag in self.flags}
        unknown = sorted(set(overrides) - set(by_field))
        if unknown:
            raise ValueError(f"unknown {self.cls.__name__} fields: {unknown}")
        out: list[str] = []
        for name, value in overrides.items():
            flag = by_field[name]
            if flag.kind == "bool":
                out.append(flag.option if value else "--no-" + flag.option[2:])
            elif flag.kind in ("pair", "list"):
                out += [flag.option, *(_text(v) for v in value)]
            elif flag.kind == "json":
                out += [flag.option, json.dumps(value, sort_keys=True)]
            else:
                out += [flag.option, _text(value)]
        return out


def _text(value: Any) -> str:
    # repr of a float round-trips exactly (str would too on 3.11, repr says it on purpose)
    return repr(value) if isinstance(value, float) else str(value)


TRAIN_FLAGS = ConfigFlags(
    TrainConfig, choices={"schedule": SCHEDULES, "precision": PRECISIONS, "engine": ENGINES}
)
