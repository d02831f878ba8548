"""Fixtures for tenant tests: a private copy of stacks/ and offline plans of the samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from werkraum.infra.offline import OfflinePlan
from werkraum.infra.plan import offline_plan
from werkraum.tenants.fleet import Fleet, load_fleet

SAMPLES = ("mustermann", "schmidt", "weber")


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """A copy of stacks/ that a test may change."""
    dest = tmp_path / "stacks"
    shutil.copytree(ROOT / "stacks", dest)
    return dest


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return load_fleet(ROOT / "stacks")


@pytest.fixture(scope="session")
def plans(fleet: Fleet) -> dict[str, OfflinePlan]:
    return {t.slug: offline_plan(t, fleet.platform, fleet.directory) for t in fleet.tenants}


def write_tenant(directory: Path, slug: str, body: str) -> Path:
    path = directory / f"Pulumi.{slug}.yaml"
    path.write_text(body)
    return path


MINIMAL = """\
config:
  tenant:spec:
    name: Minimal KG
    plan: bronze
    seats: 10
    contact: {name: Mia Minimal, email: mia@minimal.example}
    network: {cidr: 10.100.40.0/24}
    branding:
      domain: ki.minimal.example
      logo: logos/mustermann.svg
      primary_color: "#111111"
      secondary_color: "#222222"
      assistant_name: Minimal AI
      welcome_message: Hallo
"""
