"""Checks across tenants: unique slugs, domains and networks; no overlap with the platform's ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.errors import WerkraumError
from werkraum.tenants.fleet import load_fleet, next_free_prefix


def _fleet_problems(stacks: Path) -> list[str]:
    return [str(p) for p in load_fleet(stacks).all_problems]


def test_samples_have_no_cross_tenant_problems(stacks: Path) -> None:
    assert _fleet_problems(stacks) == []


def test_domain_used_twice(stacks: Path) -> None:
    write_tenant(stacks, "copycat", MINIMAL.replace("ki.minimal.example", "ki.mustermann.example"))
    problems = _fleet_problems(stacks)
    assert any("ki.mustermann.example is already used by" in p and "Pulumi.copycat.yaml" in p for p in problems)


def test_overlapping_tenant_networks(stacks: Path) -> None:
    write_tenant(stacks, "overlap", MINIMAL.replace("10.100.40.0/24", "10.100.12.128/25"))
    problems = _fleet_problems(stacks)
    assert any("10.100.12.128/25 overlaps 10.100.12.0/24 of" in p for p in problems), problems


@pytest.mark.parametrize(
    ("cidr", "what"),
    [("10.10.0.0/24", "management network"), ("10.42.3.0/24", "reserved range 10.42.0.0/16")],
)
def test_platform_ranges_are_reserved(stacks: Path, cidr: str, what: str) -> None:
    write_tenant(stacks, "clash", MINIMAL.replace("10.100.40.0/24", cidr))
    assert any(f"overlaps the platform's {what}" in p for p in _fleet_problems(stacks))


def test_reserved_slug(stacks: Path) -> None:
    write_tenant(stacks, "platform", MINIMAL)
    assert any("slug 'platform' is reserved" in p for p in _fleet_problems(stacks))


def test_next_free_prefix_skips_used_and_reserved(stacks: Path) -> None:
    fleet = load_fleet(stacks)
    assert next_free_prefix(fleet.platform, ["10.100.0.0/24", "10.100.1.0/24"]) == "10.100.2.0/24"


def test_exhausted_pool_is_an_error(stacks: Path) -> None:
    platform = load_fleet(stacks).platform.model_copy(update={"tenant_pool": "10.100.0.0/23"})
    with pytest.raises(WerkraumError, match="no free /24 left"):
        next_free_prefix(platform, ["10.100.0.0/24", "10.100.1.0/24"])
