"""Errors that the CLI turns into a clear message and a non-zero exit (never a traceback)."""

from __future__ import annotations

import shutil


class WerkraumError(Exception):
    """A failure the user can act on.

    ``what`` says what went wrong and names the file, field or host; ``hint`` says
    what to do about it.
    """

    exit_code = 1

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return self.what if not self.hint else f"{self.what}\n  hint: {self.hint}"


class MissingToolError(WerkraumError):
    """A program Werkraum needs is not installed."""

    exit_code = 3


class NotInCheckoutError(WerkraumError):
    """The command needs a Werkraum checkout and none was found."""

    exit_code = 2


def require_tool(tool: str, why: str, hint: str) -> str:
    """The path of ``tool`` on PATH, else a MissingToolError saying why it is needed and how to get it."""
    path = shutil.which(tool)
    if not path:
        raise MissingToolError(f"{tool} is not installed ({why})", hint=hint)
    return path
