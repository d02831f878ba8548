"""What every CLI command shares: turning WerkraumError into a message and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from werkraum.errors import WerkraumError


def handle_errors[F: Callable[..., Any]](func: F) -> F:
    """Turn WerkraumError into `error: ...` on stderr and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WerkraumError as exc:
            click.secho(f"error: {exc.what}", fg="red", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def inventory_option(help_text: str, *, required: bool = False) -> Callable[[Any], Any]:
    """The `--inventory/-i PATH` option every command that reads an inventory takes."""
    return click.option(
        "--inventory", "-i", type=click.Path(path_type=Path), required=required, default=None, help=help_text
    )
