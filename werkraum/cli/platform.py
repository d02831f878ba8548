"""`werkraum platform ...`: the platform stack's settings, derived from the rack."""

from __future__ import annotations

import json

import click

from werkraum.cli.common import handle_errors


@click.group()
def platform() -> None:
    """The platform stack (pulumi/platform): what every tenant shares."""


@platform.command("settings")
@click.option("--stack", default="rack", show_default=True, help="Platform stack (pulumi/platform/Pulumi.STACK.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON (secrets left out).")
@handle_errors
def platform_settings(stack: str, as_json: bool) -> None:
    """Print the settings the platform program runs with, and where each rack fact came from."""
    from werkraum.tenants.platform import build_platform, platform_file, rack_settings, read_platform_file

    path = platform_file(stack)
    product, inventory = read_platform_file(path)
    spec = build_platform(product, inventory, str(path))
    sources = rack_settings(inventory, str(path))[1] if inventory else {}
    values = spec.model_dump(exclude={"ceph_kubernetes_key"})
    values["ceph_kubernetes_key"] = "(secret, set)" if spec.ceph_kubernetes_key else None
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    click.echo(f"platform stack {stack}: {path}" + (f", rack facts from {inventory}" if inventory else ""))
    for key, value in values.items():
        origin = sources.get(key, path.name if key in product else "default")
        click.echo(f"  {key:<22} {json.dumps(value)[:70]:<72} <- {origin}")
    if spec.ceph_expected and not spec.ceph_cluster_id:
        click.echo("  (the Ceph cluster's fsid is not known yet: converge the ceph nodes first)", err=True)
