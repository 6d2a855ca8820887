"""The one error path of `phi-lab`: handlers raise, `run_handler` turns errors into one line + exit code.

A handler either returns an exit code or raises. `fail(msg)` (a `CLIError`) is for errors the CLI
itself detects; the library's own bad-input errors (`ValueError`, `KeyError`, a missing file, ...)
are shown the same way, without a traceback. `PHI_LAB_DEBUG=1` re-raises to show the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

# Errors that mean "the input is wrong": the user fixes them, a traceback would not help.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    ImportError,
    PermissionError,  # incl. phi_lab.sandbox.UnisolatedRefused: no isolation, secrets in the environment
)
BAD_INPUT = 2  # argparse's own exit code for a bad command line


class CLIError(Exception):
    """An error to show as `phi-lab <command>: error: <message>` and exit with `code`."""

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    raise CLIError(message, code)


Handler = Callable[[argparse.Namespace], "int | None"]


def _message(e: BaseException) -> str:
    # KeyError's str() is the repr of its key: show the message it was raised with instead
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def run_handler(command: str, handler: Handler, args: argparse.Namespace) -> int:
    """Call `handler(args)`; a `CLIError` or a user error becomes one line on stderr and its exit code."""
    try:
        return int(handler(args) or 0)
    except CLIError as e:
        if os.environ.get("PHI_LAB_DEBUG"):
            raise
        print(f"phi-lab {command}: error: {e.message}", file=sys.stderr)
        return e.code
    except USER_ERRORS as e:
        if os.environ.get("PHI_LAB_DEBUG"):
            raise
        print(f"phi-lab {command}: error: {_message(e)}", file=sys.stderr)
        return BAD_INPUT


def add_verbs(
    parser: argparse.ArgumentParser, dest: str, metavar: str = "VERB"
) -> argparse._SubParsersAction:
    """Nested verbs (`phi-lab data pack`): a required sub-command under `parser`."""
    return parser.add_subparsers(dest=dest, metavar=metavar, required=True)
