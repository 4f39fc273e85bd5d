"""Errors a user can fix, and the exit codes of the whole CLI.

A `UserError` is printed as one line that names the problem and the fix; the CLI shows a
traceback only with `--debug`.
"""

from __future__ import annotations

from pathlib import Path

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


def read_text(path: str | Path, what: str) -> str:
    """The text of `path`, or a UserError naming `what` the file is for."""
    p = Path(path)
    try:
        return p.read_text()
    except FileNotFoundError:
        raise UserError(f"{what} {p}: no such file; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{what} {p}: is a directory, not a file") from None
    except PermissionError:
        raise UserError(f"{what} {p}: permission denied; make it readable") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {p}: not UTF-8 text") from None
