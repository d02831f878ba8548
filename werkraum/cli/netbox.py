"""`werkraum netbox ...`: keep NetBox, the source of truth, in step with the rack."""

from __future__ import annotations

import time
from pathlib import Path

import click

from werkraum.cli.common import handle_errors, inventory_option

URL_OPTION = click.option("--url", envvar="NETBOX_API", help="NetBox URL (default: $NETBOX_API).")
TOKEN_OPTION = click.option("--token", envvar="NETBOX_TOKEN", help="API token (default: $NETBOX_TOKEN).")


@click.group()
def netbox() -> None:
    """NetBox: sync the rack into it; the inventory and tenant networks come from it."""


@netbox.command("sync")
@inventory_option(
    "The rack written down: an inventory folder such as inventories/office (its hosts.yml) or a hosts.yml.",
    required=True,
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@URL_OPTION
@TOKEN_OPTION
@handle_errors
def netbox_sync(inventory: Path, dry_run: bool, url: str | None, token: str | None) -> None:
    """Create or update the site, rack, roles, device types, devices, addresses and prefix pool.

    Idempotent: a second run changes nothing and says so. Never deletes anything.
    """
    from werkraum.netbox.client import session
    from werkraum.netbox.rack import load_rack_description
    from werkraum.netbox.sync import sync_rack

    started = time.monotonic()
    description = load_rack_description(inventory.resolve())
    with session(url, token) as api:
        report = sync_rack(api, description, dry_run=dry_run)
    where = f"NetBox {api.werkraum_version} at {api.werkraum_url}"
    for line in report.lines():
        click.echo(line)
    took = f"[{time.monotonic() - started:.1f}s]"
    counts = (len(report.created), len(report.updated))
    if not report.changed:
        click.echo(
            f"{where} already matches {inventory} ({len(description.devices)} devices): nothing to change {took}"
        )
    elif dry_run:
        click.echo(f"dry run: {counts[0]} to create, {counts[1]} to update in {where}; nothing written {took}")
    else:
        click.echo(f"{where}: {counts[0]} created, {counts[1]} updated {took}")


@netbox.command("inventory")
@inventory_option("Rack inventory folder or NetBox source file (default: inventories/office, its netbox.yml).")
@click.option("--json", "as_json", is_flag=True, help="Print ansible-inventory's --list output.")
@handle_errors
def netbox_inventory(inventory: Path | None, as_json: bool) -> None:
    """Read the inventory from NetBox and show the hosts by role; exit 1 if it is empty or NetBox is unreachable."""
    import json

    from werkraum.inventory import groups_of, load_inventory
    from werkraum.netbox.client import settings
    from werkraum.netbox.rack import ROLES
    from werkraum.paths import repo_root
    from werkraum.rack.inventory import resolve_source

    settings()  # NETBOX_API and NETBOX_TOKEN must be set: say so before Ansible does it obscurely
    source = resolve_source(inventory or repo_root() / "inventories" / "office", "netbox")
    started = time.monotonic()
    data = load_inventory(source)
    took = time.monotonic() - started
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    by_role: dict[str, list[str]] = {}
    for host, groups in sorted(groups_of(data).items()):
        for group in groups:
            if group in ROLES:
                by_role.setdefault(group, []).append(host)
    for role in ROLES:
        click.echo(f"{role:<8} {' '.join(by_role.get(role, [])) or '-'}")
    click.echo(f"{len(data['_meta']['hostvars'])} hosts from {source} in {took:.1f}s", err=True)
