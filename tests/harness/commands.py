"""The development commands the `werkraum` CLI adds when it runs from a checkout (werkraum/cli/__init__.py)."""

from __future__ import annotations

import click

from tests.harness.cli_e2e import e2e
from tests.harness.cli_engine import engine
from tests.harness.cli_vm import vm


def register(main: click.Group, lab: click.Group) -> None:
    main.add_command(engine)
    main.add_command(e2e)
    lab.add_command(vm)
