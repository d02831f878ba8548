"""Visible progress for long steps (image build, host start, playbook runs), on stderr through rich.

On a terminal the step lines are bold (green when done, red when failed); written
to a file or a pipe (logs, CI, a test's capture) everything is plain text, line
for line, with no colour codes and no wrapping.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

_console: Console | None = None


def console() -> Console:
    """The progress console, on whatever sys.stderr is now (a test or a CLI runner may replace it)."""
    global _console  # noqa: PLW0603 - one console per stream, made when first needed
    if _console is None or _console.file is not sys.stderr:
        _console = Console(file=sys.stderr, markup=False, highlight=False, emoji=False, soft_wrap=True)
    return _console


def say(message: str, style: str | None = None) -> None:
    console().print(message, style=style)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print ``==> title`` before a step and its duration after it."""
    say(f"==> {title}", style="bold")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"<== {title}: failed after {time.monotonic() - started:.1f}s", style="bold red")
        raise
    say(f"<== {title}: done in {time.monotonic() - started:.1f}s", style="green")
