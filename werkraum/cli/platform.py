"""`werkraum platform ...`: the platform stack's settings, derived from the rack; its preview, apply and drift."""

from __future__ import annotations

import json
from typing import Any

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


STACK_OPTION = click.option(
    "--stack", default="rack", show_default=True, help="Platform stack (pulumi/platform/Pulumi.STACK.yaml)."
)


def _driver(stack: str) -> Any:
    from werkraum.infra.driver import platform as platform_driver

    return platform_driver(stack, on_output=click.echo)


@platform.command("preview")
@STACK_OPTION
@handle_errors
def platform_preview(stack: str) -> None:
    """`pulumi preview --diff` of the platform stack, through the driver (needs a Pulumi CLI)."""
    _driver(stack).preview()


@platform.command("apply")
@STACK_OPTION
@handle_errors
def platform_apply(stack: str) -> None:
    """`pulumi up` of the platform stack, through the driver; prints its outputs (secrets masked)."""
    applied = _driver(stack).up()
    click.echo(json.dumps(applied.shown(), indent=2, default=str))


@platform.command("drift")
@STACK_OPTION
@handle_errors
def platform_drift(stack: str) -> None:
    """Refresh and preview the platform stack, expecting no change: exit 0 no drift, 3 drifted, else an error."""
    from werkraum.cli.tenant import drift_exit

    drift_exit(_driver(stack))
