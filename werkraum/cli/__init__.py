"""The `werkraum` command line: one module per command group, each command thin (parse, call, print).

The development commands (`engine`, `e2e`, `lab vm`) are not part of the package:
they live in the checkout's test harness (tests/harness/commands.py) and are added
when the CLI runs from a checkout that has it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from werkraum import __version__
from werkraum.cli.lab import lab
from werkraum.cli.mirror import mirror
from werkraum.cli.netbox import netbox
from werkraum.cli.platform import platform
from werkraum.cli.rack import rack
from werkraum.cli.tenant import tenant

HARNESS_COMMANDS = "tests.harness.commands"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="werkraum")
def main() -> None:
    """Werkraum: run a self-hosted, multi-tenant AI workspace platform from one repository.

    \b
    lab     a lab rack of systemd hosts on this machine, converged by ansible/site.yml
    tenant  tenant files under stacks/: new, validate, allocate, plan, changed, preview, apply, drift,
            offboard, destroy (every engine call through one Pulumi driver, after the policy rules)
    rack    the real rack: validate its inventory, converge ansible/site.yml through ansible-runner
    netbox  NetBox, the source of truth: sync the rack into it
    platform  the platform stack: its settings (derived from the rack), preview, apply, drift
    mirror  the Kubernetes binaries of the artifact mirror, built from Go modules, in kubespray's layout
    engine  the Pulumi CLI and its provider plugins, built from Go modules (development)
    e2e     onboarding end to end: the real engine against the lab cluster (make e2e; development)
    """


for group in (tenant, rack, netbox, platform, mirror, lab):
    main.add_command(group)


def _add_development_commands() -> None:
    """`engine`, `e2e` and `lab vm` from the checkout's harness, when this package runs from a checkout."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "tests" / "harness" / "commands.py").is_file():
        return
    if str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    importlib.import_module(HARNESS_COMMANDS).register(main, lab)


_add_development_commands()

if __name__ == "__main__":
    main()
