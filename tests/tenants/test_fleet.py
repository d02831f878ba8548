"""Checks across tenants: unique slugs, domains and networks; no overlap with the platform's ranges."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.errors import WerkraumError
from werkraum.tenants.fleet import Fleet, load_fleet, next_free_prefix


def _fleet_problems(stacks: Path) -> list[str]:
    return [str(p) for p in load_fleet(stacks).all_problems]


def test_fixtures_have_no_cross_tenant_problems(stacks: Path) -> None:
    assert _fleet_problems(stacks) == []


def test_domain_used_twice(stacks: Path, fleet: Fleet) -> None:
    taken = fleet.tenants[0]
    assert taken.spec is not None
    domain = taken.spec.branding.domain
    write_tenant(stacks, "copycat", MINIMAL.replace("ki.minimal.example", domain))
    problems = _fleet_problems(stacks)
    hit = [p for p in problems if f"{domain} is already used by" in p]
    assert hit and all("Pulumi.copycat.yaml" in p and taken.path.name in p for p in hit), problems


def test_overlapping_tenant_networks(stacks: Path, fleet: Fleet) -> None:
    taken = fleet.tenants[0]
    assert taken.spec is not None and taken.spec.network.cidr
    net = ipaddress.IPv4Network(taken.spec.network.cidr)
    upper_half = list(net.subnets(prefixlen_diff=1))[1]
    write_tenant(stacks, "overlap", MINIMAL.replace("10.100.40.0/24", str(upper_half)))
    problems = _fleet_problems(stacks)
    # Reported on whichever of the two files is read second (files are read in name order).
    hit = [p for p in problems if f"{upper_half} overlaps {net} of" in p or f"{net} overlaps {upper_half} of" in p]
    assert hit and all("Pulumi.overlap.yaml" in p and taken.path.name in p for p in hit), problems


@pytest.mark.parametrize("what", ["management network", "reserved range"])
def test_platform_ranges_are_reserved(stacks: Path, fleet: Fleet, what: str) -> None:
    name, net = next((n, r) for n, r in fleet.platform.reserved_networks() if n.startswith(what))
    cidr = str(next(net.subnets(new_prefix=max(net.prefixlen, 24))))  # a tenant-sized network inside it
    write_tenant(stacks, "clash", MINIMAL.replace("10.100.40.0/24", cidr))
    problems = _fleet_problems(stacks)
    assert any(f"{cidr} overlaps the platform's {name} ({net})" in p for p in problems), problems


def test_reserved_slug(stacks: Path) -> None:
    write_tenant(stacks, "platform", MINIMAL)
    assert any("slug 'platform' is reserved" in p for p in _fleet_problems(stacks))


def test_slug_used_twice(stacks: Path, fleet: Fleet) -> None:
    """Slugs differing only in case name one stack twice (on a file system that tells them apart)."""
    taken = fleet.tenants[0].slug
    write_tenant(stacks, taken.upper(), MINIMAL)
    problems = _fleet_problems(stacks)
    assert any(f"slug {taken!r} is already used by" in p and f"Pulumi.{taken.upper()}.yaml" in p for p in problems), (
        problems
    )


def test_next_free_prefix_skips_used_and_reserved(fleet: Fleet) -> None:
    platform = fleet.platform.model_copy(update={"tenant_pool": "10.99.0.0/16", "reserved_cidrs": ["10.99.2.0/23"]})
    assert next_free_prefix(platform, ["10.99.0.0/24", "10.99.1.0/24"]) == "10.99.4.0/24"
    assert next_free_prefix(platform, ["10.99.1.0/24"]) == "10.99.0.0/24"


def test_exhausted_pool_is_an_error(stacks: Path) -> None:
    platform = load_fleet(stacks).platform.model_copy(update={"tenant_pool": "10.100.0.0/23"})
    with pytest.raises(WerkraumError, match="no free /24 left"):
        next_free_prefix(platform, ["10.100.0.0/24", "10.100.1.0/24"])
