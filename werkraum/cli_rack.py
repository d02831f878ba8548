"""`werkraum rack converge`: the site playbook through ansible-runner, for CI and for people."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from werkraum.cli_common import handle_errors, inventory_option
from werkraum.errors import WerkraumError
from werkraum.paths import repo_root


@click.group()
def rack() -> None:
    """The real rack: converge ansible/site.yml against an inventory (NetBox's, or a file)."""


@rack.command("converge")
@inventory_option("Inventory (default: inventories/netbox.yml, the NetBox inventory).")
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
    """Run ansible/site.yml; exit 1 if any host failed or was unreachable, or no host matched."""
    from werkraum.inventory import load_inventory
    from werkraum.playbook import raise_for_result, run_playbook

    inventory = (inventory or repo_root() / "inventories" / "netbox.yml").resolve()
    data = load_inventory(inventory)  # refuses an empty inventory (a plugin that failed quietly)
    hosts = len(data["_meta"]["hostvars"])
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
