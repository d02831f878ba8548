"""`werkraum lab vm`: qemu guests for roles that need a kernel and disks (Ceph)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from werkraum.cli.common import handle_errors
from werkraum.errors import WerkraumError


@click.group("vm")
def vm() -> None:
    """Lab guests under qemu (software emulation): real kernels, real block devices.

    \b
    A spec file (YAML or JSON) names the guests:
      name: molecule-ceph          # the guest lab, one bridge and state folder
      network: 10.77.0.0/24        # this machine takes the first address
      suite: bookworm              # Debian release of the guest image
      preload: [ceph-osd, ...]     # packages baked into the image
      guests:
        - {name: ceph-01, address: 10.77.0.11, memory_mb: 3072, cpus: 2,
           disks: [{serial: osd-a, size_gb: 12}, {serial: old, size_gb: 1, filesystem: ext4}]}
    """


@vm.command("up")
@click.option("--spec", "spec_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option(
    "--instance-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Molecule's instance config (address, user, key of each guest) here.",
)
@handle_errors
def vm_up(spec_path: Path, instance_config: Path | None) -> None:
    """Build the guest image if needed, then start every guest of SPEC and wait for SSH."""
    from tests.harness.vm import VmImageRecipe, VmLab, ensure_vm_image

    try:
        spec = yaml.safe_load(spec_path.read_text())
    except yaml.YAMLError as exc:
        raise WerkraumError(f"{spec_path}: not YAML or JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise WerkraumError(f"{spec_path}: expected a mapping with name, network and guests")
    lab = VmLab.from_spec(spec)
    recipe = VmImageRecipe(suite=str(spec.get("suite", "bookworm")), preload=tuple(spec.get("preload", ())))
    lab.up(ensure_vm_image(recipe))
    if instance_config:
        instance_config.write_text(yaml.safe_dump(lab.instance_config(), sort_keys=False))
    click.echo(json.dumps({"lab": lab.name, "key": str(lab.key), "guests": lab.instance_config()}, indent=2))


@vm.command("stop")
@click.argument("lab_name")
@click.argument("guest")
@click.option("--graceful", is_flag=True, help="Shut down through ACPI instead of pulling the power.")
@handle_errors
def vm_stop(lab_name: str, guest: str, graceful: bool) -> None:
    """Stop GUEST of LAB_NAME: by default as a failed host (power pulled)."""
    from tests.harness.vm import VmLab

    VmLab.load(lab_name).stop(guest, hard=not graceful)


@vm.command("start")
@click.argument("lab_name")
@click.argument("guest")
@handle_errors
def vm_start(lab_name: str, guest: str) -> None:
    """Start GUEST of LAB_NAME again (its disks are kept) and wait for SSH."""
    from tests.harness.vm import VmLab

    lab = VmLab.load(lab_name)
    if not lab.running(guest):
        lab.start(guest)
    lab.wait_ssh([guest])


@vm.command("status")
@click.argument("lab_name")
@handle_errors
def vm_status(lab_name: str) -> None:
    """Show each guest of LAB_NAME: address and whether it runs."""
    from tests.harness.vm import VmLab

    lab = VmLab.load(lab_name)
    for guest in lab.guests:
        state = "running" if lab.running(guest.name) else "stopped"
        click.echo(f"{guest.name:12} {guest.address:15} {state}")


@vm.command("down")
@click.argument("lab_name")
@handle_errors
def vm_down(lab_name: str) -> None:
    """Stop every guest of LAB_NAME and remove its disks, bridge and state (no error if it is not up)."""
    from tests.harness.vm import VmLab

    try:
        lab = VmLab.load(lab_name)
    except WerkraumError:
        click.echo(f"guest lab {lab_name} is not up", err=True)
        return
    lab.down()
    click.echo(f"guest lab {lab_name} removed", err=True)
