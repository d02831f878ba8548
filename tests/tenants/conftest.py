"""Fixtures for tenant tests: the made-up tenants of tests/fixtures/tenants, never the samples in stacks/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures import TENANTS, copy_tenants
from werkraum.infra.offline import OfflinePlan
from werkraum.infra.plan import offline_plan
from werkraum.tenants.fleet import Fleet, load_fleet


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """A copy of the fixture tenants that a test may change (passed to the CLI as ``--stacks``)."""
    return copy_tenants(tmp_path / "stacks")


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(TENANTS)


@pytest.fixture(scope="session")
def plans(fleet: Fleet) -> dict[str, OfflinePlan]:
    return {t.slug: offline_plan(t, fleet.platform, fleet.directory) for t in fleet.tenants}


# The logo MINIMAL names; write_tenant puts it beside a file that uses it.
MINIMAL_LOGO = "logos/test-minimal.svg"


def write_tenant(directory: Path, slug: str, body: str) -> Path:
    """Write ``Pulumi.<slug>.yaml``, and MINIMAL's logo if the body uses it and ``directory`` lacks it.

    So MINIMAL validates in any folder of tenant files: a copy of the fixtures, or of stacks/.
    """
    path = directory / f"Pulumi.{slug}.yaml"
    path.write_text(body)
    logo = directory / MINIMAL_LOGO
    if MINIMAL_LOGO in body and not logo.exists():
        logo.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TENANTS / MINIMAL_LOGO, logo)
    return path


MINIMAL = f"""\
config:
  tenant:spec:
    name: Minimal KG
    plan: bronze
    seats: 10
    contact: {{name: Mia Minimal, email: mia@minimal.example}}
    admins: [mia@minimal.example]
    network: {{cidr: 10.100.40.0/24}}
    branding:
      domain: ki.minimal.example
      logo: {MINIMAL_LOGO}
      primary_color: "#111111"
      secondary_color: "#222222"
      assistant_name: Minimal AI
      welcome_message: Hallo
"""
