"""`werkraum rack converge`: the site playbook through ansible-runner, for CI and for people."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from werkraum.cli.common import handle_errors, inventory_option
from werkraum.errors import WerkraumError
from werkraum.paths import repo_root


@click.group()
def rack() -> None:
    """The real rack: validate its inventory, converge ansible/site.yml against it (from NetBox, or a file)."""


def check_inventory(source: Path) -> int:
    """`rack validate`'s checks of one inventory source; raises naming every problem, else returns its host count."""
    from werkraum.rack.validate import validate_inventory

    problems = validate_inventory(source)
    if problems:
        raise WerkraumError(
            f"inventory {source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
            + "".join(f"\n    {p}" for p in problems),
            hint="fix each one where it names; nothing was converged",
        )
    from werkraum.inventory import load_inventory

    return len(load_inventory(source)["_meta"]["hostvars"])


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
    import os

    from werkraum.rack.inventory import NETBOX, STATIC, resolve_source

    path = resolve_source(inventory)  # a path that does not exist stops here
    folder = inventory.resolve()
    if not folder.is_dir():
        sources = [path]
    else:
        sources = [folder / STATIC] if (folder / STATIC).is_file() else []
        if (folder / NETBOX).is_file() and (os.environ.get("NETBOX_API") or not sources):
            sources.append(folder / NETBOX)
        sources = sources or [path]  # a folder of another layout: Ansible reads it whole
    for source in sources:
        hosts = check_inventory(source)
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
    from werkraum.playbook import raise_for_result, run_playbook
    from werkraum.rack.inventory import resolve_source

    inventory = resolve_source(inventory or repo_root() / "inventories" / "office")
    # The source it converges; this also refuses an empty one (a plugin that failed quietly).
    hosts = check_inventory(inventory)
    click.echo(f"{'checking' if check else 'converging'} {hosts} hosts of {inventory}", err=True)
    result = run_playbook(
        repo_root() / "ansible" / "site.yml",
        inventory,
        private_data_dir=artifacts.resolve(),
        check=check,
        limit=limit,
    )
    summary = artifacts / "summary.json"
    summary.write_text(json.dumps(result.to_dict(), indent=2))
    latest = artifacts / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink() if latest.is_symlink() else shutil.rmtree(latest)
    latest.symlink_to(Path(result.artifacts).resolve())
    click.echo(f"{'check' if check else 'converge'}: {result.summary()}; artifacts: {result.artifacts}")
    if check and result.total_changed:
        click.echo(f"check mode: {result.total_changed} tasks would change", err=True)
    raise_for_result(result, hint=f"events and stats: {result.artifacts} ({summary})")
    if result.rc != 0:
        raise WerkraumError(f"ansible-playbook exited {result.rc}")
