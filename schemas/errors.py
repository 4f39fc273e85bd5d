"""Errors a user can fix, and the exit codes of the whole CLI.

A `UserError` is printed as one line that names the problem and the fix; the CLI shows a
traceback only with `--debug`.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

OK = 0
INPUT_PROBLEMS = 1  # the command ran and found problems in its input (a policy, skipped lines)
USAGE = 2  # a usage or environment mistake: bad option or setting, missing file, unreachable service
FAILED = 3  # the command started but could not finish (a worker died, a wait stalled)


class UserError(Exception):
    """A mistake in the command line, the settings or the environment."""

    exit_code = USAGE


class RunFailed(Exception):
    """A command that started but could not finish; the message says where to look."""

    exit_code = FAILED


def open_file(path: str | Path, mode: str, what: str) -> IO[Any]:
    """`open(path, mode)`, or a UserError naming `what` the file is for and what is wrong."""
    try:
        return open(path, mode)
    except FileNotFoundError:
        raise UserError(f"{what} {path}: no such file; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path}: is a directory, not a file") from None
    except PermissionError:
        raise UserError(f"{what} {path}: permission denied; make it readable") from None


def read_text(path: str | Path, what: str) -> str:
    """The text of `path`, or a UserError naming `what` the file is for."""
    with open_file(path, "r", what) as f:
        try:
            return str(f.read())
        except UnicodeDecodeError:
            raise UserError(f"{what} {path}: not UTF-8 text") from None
