"""`werkraum lab ...`: the lab rack, one podman systemd host per node group on this machine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from werkraum.cli.common import handle_errors, inventory_option
from werkraum.errors import WerkraumError
from werkraum.paths import repo_root

if TYPE_CHECKING:
    from werkraum.lab.rack import LabRack
    from werkraum.lab.tenants import LabTenantsResult
    from werkraum.tenants.platform import PlatformSpec

INVENTORY_OPTION = inventory_option("Lab inventory (default: inventories/lab).")


def _rack(inventory: Path | None) -> Any:
    from werkraum.lab.rack import load_rack

    return load_rack((inventory or repo_root() / "inventories" / "lab").resolve())


@click.group()
def lab() -> None:
    """The lab rack: one podman systemd host per node group, on a network of its own."""


@lab.command("up")
@INVENTORY_OPTION
@click.option("--no-converge", is_flag=True, help="Start the hosts but do not run ansible/site.yml.")
@click.option("--rebuild-image", is_flag=True, help="Rebuild the lab image even if its recipe is unchanged.")
@handle_errors
def lab_up(inventory: Path | None, no_converge: bool, rebuild_image: bool) -> None:
    """Build the image (once), start the hosts and converge ansible/site.yml. Safe to repeat."""
    from werkraum.lab import lab as labmod

    started = time.monotonic()
    rack = _rack(inventory)
    fill = _mirror_filler(rack) if rack.kubernetes_hosts else None
    result = labmod.up(rack, converge=not no_converge, rebuild_image=rebuild_image, after_service=fill)
    click.echo(f"lab {rack.name} is up: {len(rack.hosts)} hosts in {time.monotonic() - started:.1f}s")
    if result.converge:
        click.echo(f"converge: {result.converge.summary()}")
        if rack.kubernetes_hosts:
            _echo_tenants(_apply_tenants(rack))
            click.echo(f"make lab took {time.monotonic() - started:.1f}s")


def _apply_tenants(rack: LabRack) -> LabTenantsResult:
    """The engine (cached), the stand-in app image in the lab's registry, then the platform stack and every tenant."""
    from werkraum.cli.mirror import report_builds
    from werkraum.lab.lab import lab_pki, service_host
    from werkraum.lab.tenants import LabTenants
    from werkraum.mirror import engine, stand_in
    from werkraum.mirror.push import lab_push_target
    from werkraum.progress import step

    with step(f"Building the Pulumi engine from the Go module proxy (cached in {engine.engine_dir()})"):
        components = engine.load_components()
        results = engine.build_all(components[name] for name in engine.KUBERNETES_ENGINE)
        report_builds(results, engine.VERSIONS_FILE)
    service = service_host(rack)
    if service is None:
        raise WerkraumError(f"lab {rack.name} has no service host: nowhere to serve the stand-in app image")

    def publish(spec: PlatformSpec) -> None:
        with step("Building the lab's stand-in app image and pushing it to the lab's registry"):
            built = stand_in.build(spec.image_registry)
            stand_in.push(built, lab_push_target(rack), lab_pki(rack).trust_dir())

    return LabTenants(rack, engine.engine_dir()).apply(publish)


def _echo_tenants(result: LabTenantsResult) -> None:
    click.echo(f"platform stack lab: {result.platform_changes or 'no changes'} in {result.platform_s}s")
    for pods in result.tenants:
        nodes = sorted({node for _phase, node in pods.pods.values()})
        click.echo(
            f"tenant {pods.slug}: {result.changes.get(pods.slug) or 'no changes'} in {result.seconds[pods.slug]}s; "
            f"{len(pods.deployments)} Deployments Available, {len(pods.pods)} pods running on {', '.join(nodes)}, "
            f"{len(pods.claims)} claims Bound"
        )


@lab.command("tenants")
@INVENTORY_OPTION
@handle_errors
def lab_tenants(inventory: Path | None) -> None:
    """Apply the platform stack `lab` and every tenant under stacks/ to the lab cluster (make lab's last phase).

    The real Pulumi engine (built from the Go module proxy, cached) runs the product's
    programs through the driver, as `werkraum tenant apply` does; the tenants' apps are
    the lab's STAND-IN image (werkraum/mirror/stand_in.py). Exits 1 unless every
    tenant's Deployments are Available, its pods Running and its claims Bound.
    """
    rack = _rack(inventory)
    if not rack.kubernetes_hosts:
        raise WerkraumError(
            f"lab {rack.name} runs no Kubernetes (werkraum_kubernetes_enabled is false)",
            hint="its tenants have no cluster to run on",
        )
    _echo_tenants(_apply_tenants(rack))


def _mirror_filler(rack: LabRack) -> Callable[[], None]:
    """Build what the mirror lacks (cached) and fill the lab's registry and files mirror with it.

    Run by `lab up` once the service node (the registry) is converged and before
    the Kubernetes hosts are, which install from it.
    """

    def fill() -> None:
        from werkraum.cli.mirror import build_mirror
        from werkraum.mirror import files, images, pins, push
        from werkraum.progress import say, step

        pinned = pins.load(repo_root())
        with step(f"Building the mirror's binaries from the Go module proxy (cached in {files.cache().root})"):
            build_mirror(pinned)
        with step("Building the mirror's images (cached)"):
            built = images.build_all(pinned)
            say(f"    {len(built)} images, {sum(1 for *_, cached in built if not cached)} built now")
        with step(f"Filling the lab's mirror on its service node (lab {rack.name})"):
            filled = push.fill_lab(rack, pinned)
            say(f"    registry {filled.registry}: {len(filled.images)} images; files mirror: {filled.files} files")

    return fill


@lab.command("converge")
@INVENTORY_OPTION
@click.option("--limit", default=None, help="Ansible --limit pattern (NetBox must already run on the service node).")
@handle_errors
def lab_converge(inventory: Path | None, limit: str | None) -> None:
    """Run ansible/site.yml against the running lab hosts (from NetBox's inventory when the lab has NetBox)."""
    from werkraum.lab import lab as labmod

    rack = _rack(inventory)
    if labmod.service_host(rack):
        result = labmod.converge_from_netbox(rack, limit=limit)
    else:
        result = labmod.run_converge(rack, limit=limit)
    click.echo(f"converge: {result.summary()}")


@lab.command("mirror")
@INVENTORY_OPTION
@handle_errors
def lab_mirror(inventory: Path | None) -> None:
    """Fill the lab's registry and files mirror (on its service node) from what `werkraum mirror` built.

    Pushes every pinned image, verifying the registry's certificate against the
    lab's CA, and copies the files tree with its index.json.
    """
    from werkraum.mirror import pins, push

    fill = push.fill_lab(_rack(inventory), pins.load(repo_root()))
    for item in fill.images:
        click.echo(f"{item.source:<64} -> {item.target}")
    click.echo(f"lab registry {fill.registry}: {len(fill.images)} images; files mirror: {fill.files} files")


@lab.command("seats")
@INVENTORY_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@handle_errors
def lab_seats(inventory: Path | None, fmt: str) -> None:
    """`werkraum tenant seats` for the lab's tenants, from the lab's Keycloak (its hand-over, its platform stack)."""
    import os

    from werkraum.lab import lab as labmod
    from werkraum.tenants.platform import platform_file

    rack = _rack(inventory)
    os.environ["WERKRAUM_KEYCLOAK_FETCH_DIR"] = str(labmod.keycloak_handover_dir(rack))
    stacks = labmod.lab_state_dir(rack) / "tenants" / "stacks"
    if not stacks.is_dir():
        raise WerkraumError(f"lab {rack.name} has applied no tenants yet ({stacks})", hint="run `werkraum lab up`")
    from werkraum.cli.tenant import tenant_seats

    ctx = click.get_current_context()
    ctx.invoke(tenant_seats, slugs=(), platform_path=platform_file("lab"), fmt=fmt, stacks_dir=stacks)


@lab.command("kubeconfig")
@INVENTORY_OPTION
@handle_errors
def lab_kubeconfig(inventory: Path | None) -> None:
    """Write the lab cluster's admin kubeconfig (0600) and print an export: eval "$(werkraum lab kubeconfig)"."""
    import shlex

    from werkraum.lab import lab as labmod

    click.echo(f"export KUBECONFIG={shlex.quote(str(labmod.kubeconfig(_rack(inventory))))}")


@lab.command("netbox-env")
@INVENTORY_OPTION
@handle_errors
def lab_netbox_env(inventory: Path | None) -> None:
    """Print shell exports for the lab's NetBox: eval "$(werkraum lab netbox-env)".

    Then `werkraum netbox ...`, `werkraum tenant allocate` and
    `ansible-inventory -i inventories/lab/netbox.yml --graph` talk to the lab's NetBox.
    """
    import shlex

    from werkraum.lab import lab as labmod

    for key, value in labmod.netbox_env(_rack(inventory)).items():
        click.echo(f"export {key}={shlex.quote(value)}")


@lab.command("status")
@INVENTORY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def lab_status(inventory: Path | None, as_json: bool) -> None:
    """Hosts, addresses and the last converge. Exits 1 unless every host runs and the last converge succeeded."""
    from werkraum.lab import lab as labmod

    report = labmod.status(_rack(inventory))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"lab {report['name']}  network {report['network'] or '(missing)'}  subnet {report['subnet']}")
        click.echo(f"image {report['image'] or '(not built by this lab yet)'}")
        click.echo(_hosts_table(report["hosts"]))
        last = report["last_converge"]
        if last:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["started"]))
            hosts = set(last["ok"]) | set(last["failures"]) | set(last["unreachable"])
            click.echo(
                f"last converge {when}: {last['status']}, {len(hosts)} hosts, "
                f"{sum(last['changed'].values())} changed, {sum(last['failures'].values())} failed, "
                f"{len(last['unreachable'])} unreachable, {last['duration_s']:.1f}s"
            )
        else:
            click.echo("last converge: never")
    if report["converge_failed"]:
        from werkraum.playbook import describe_failures

        last = report["last_converge"]
        details = describe_failures(last.get("failed_tasks", []), last.get("errors", []))
        raise WerkraumError(
            f"lab {report['name']}: the last converge failed ({last['status']})"
            + "".join(f"\n    {line}" for line in details or ["(no failed task recorded: see the artifacts)"]),
            hint=f"fix the cause, then `werkraum lab converge`; events and output: {last.get('artifacts')}",
        )
    if not report["healthy"]:
        raise WerkraumError(
            f"lab {report['name']} is not fully up",
            hint="run `werkraum lab up` (`make lab` from a fresh checkout)",
        )


def _hosts_table(hosts: list[dict[str, Any]]) -> str:
    """The hosts as a rich table: coloured states on a terminal, plain aligned columns in a file or pipe."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("HOST", "GROUPS", "ADDRESS", "STATE", "CONTAINER"):
        table.add_column(column, no_wrap=True)
    colour = {"running": "green", "stopped": "red", "missing": "yellow"}
    for h in hosts:
        state = Text(h["state"], style=colour.get(h["state"], ""))
        table.add_row(Text(h["name"]), Text(",".join(h["groups"])), Text(h["address"]), state, Text(h["container"]))
    console = Console()
    if not console.is_terminal:
        console = Console(width=1000)  # a file or a pipe: no wrapping (and rich writes no colour codes there)
    with console.capture() as out:
        console.print(table)
    return "\n".join(line.rstrip() for line in out.get().splitlines())


@lab.command("down")
@INVENTORY_OPTION
@handle_errors
def lab_down(inventory: Path | None) -> None:
    """Remove the lab's containers, network and state; nothing else (the image cache stays)."""
    from werkraum.lab import lab as labmod

    rack = _rack(inventory)
    removed = labmod.down(rack.name)
    click.echo(
        f"lab {rack.name} is down: removed {len(removed['containers'])} containers, "
        f"{len(removed['volumes'])} volumes, {len(removed['networks'])} networks"
    )


@lab.command("image")
@click.option("--rebuild", is_flag=True, help="Rebuild even if the recipe is unchanged.")
@click.option("--prune", is_flag=True, help="Remove lab images of older recipes.")
@click.option(
    "--suite", type=click.Choice(["bookworm", "trixie"]), default="bookworm", show_default=True, help="Debian release."
)
@handle_errors
def lab_image(rebuild: bool, prune: bool, suite: str) -> None:
    """Build the lab's Debian systemd image (12, or 13 with --suite trixie) if needed and print its reference."""
    from werkraum.lab.image import ImageRecipe, ensure_image, remove_images

    recipe = ImageRecipe(suite=suite)
    ref = ensure_image(recipe, rebuild=rebuild)
    if prune:
        for old in remove_images(recipe):
            click.echo(f"removed {old}", err=True)
    click.echo(ref)
