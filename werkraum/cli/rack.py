"""`werkraum rack converge`: the site playbook through ansible-runner, for CI and for people."""

from __future__ import annotations

from pathlib import Path

import click

from werkraum.cli.common import handle_errors, inventory_option
from werkraum.paths import repo_root


@click.group()
def rack() -> None:
    """The real rack: validate its inventory, converge ansible/site.yml against it (from NetBox, or a file)."""


@rack.command("validate")
@inventory_option("Rack inventory: a folder, or one source file (hosts.yml or netbox.yml).", required=True)
@handle_errors
def rack_validate(inventory: Path) -> None:
    """Check a rack inventory before any converge; exit 1 naming each problem's file, host and variable.

    Required variables per group, addresses inside the management network and
    unique, unique host names, OSD disks by /dev/disk/by-id or by-path, at least
    one control node, 0 or at least 3 Ceph hosts, admins with valid SSH keys.
    A folder's hosts.yml is checked offline; its netbox.yml too when NETBOX_API
    is set (then the same checks run on the rack as NetBox hands it back).
    """
    from werkraum.rack.inventory import NETBOX, validation_sources
    from werkraum.rack.validate import require_valid

    for source in validation_sources(inventory):
        hosts = require_valid(source)
        origin = " (from NetBox)" if source.name == NETBOX else ""
        click.echo(f"inventory {source}{origin}: {hosts} hosts, no problems")


@rack.command("converge")
@inventory_option(
    "Rack inventory: a folder (its netbox.yml, else hosts.yml) or one source file (default: inventories/office)."
)
@click.option("--check", is_flag=True, help="Check mode with diff: show what would change, change nothing.")
@click.option("--limit", default=None, help="Ansible --limit pattern.")
@click.option(
    "--artifacts",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("rack-artifacts"),
    show_default=True,
    help="Where ansible-runner keeps the run's events, stats and output (a CI artifact).",
)
@handle_errors
def rack_converge(inventory: Path | None, check: bool, limit: str | None, artifacts: Path) -> None:
    """Validate the inventory, then run ansible/site.yml; exit 1 if any host failed or was unreachable, or none matched.

    A folder holding netbox.yml converges from NetBox; pass its hosts.yml to
    converge from the written-down rack (the service node, before NetBox runs).
    """
    from werkraum.rack.converge import converge, require_success
    from werkraum.rack.inventory import resolve_source
    from werkraum.rack.validate import require_valid

    inventory = resolve_source(inventory or repo_root() / "inventories" / "office")
    # The source it converges; this also refuses an empty one (a plugin that failed quietly).
    hosts = require_valid(inventory)
    click.echo(f"{'checking' if check else 'converging'} {hosts} hosts of {inventory}", err=True)
    result = converge(inventory, artifacts, check=check, limit=limit)
    click.echo(f"{'check' if check else 'converge'}: {result.summary()}; artifacts: {result.artifacts}")
    if check and result.total_changed:
        click.echo(f"check mode: {result.total_changed} tasks would change", err=True)
    require_success(result, artifacts)
