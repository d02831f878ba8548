"""Tenant networks from NetBox IPAM: one prefix per tenant, recorded against a NetBox tenant.

Allocation goes through NetBox's ``available-prefixes`` endpoint on the pool,
which NetBox serialises with a database lock, so two tenants never get the same
prefix. A tenant that already holds a prefix gets that one back. When two runs
allocate for the same new tenant at once, both end with the lowest-numbered
prefix recorded for it and the other one is released again.

Explicit CIDRs from tenant files are checked against what NetBox holds and then
recorded, so NetBox and stacks/ never disagree silently.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pynetbox

from werkraum.errors import WerkraumError
from werkraum.netbox.client import TAG, session, translate_errors
from werkraum.tenants.fleet import Fleet
from werkraum.tenants.loader import TenantFile


@dataclass(frozen=True)
class TenantNetwork:
    slug: str
    name: str
    cidr: str | None  # the file's network.cidr, or None to allocate


def _tag_id(api: pynetbox.api) -> int:
    tag = api.extras.tags.get(slug=TAG)
    if tag is None:
        raise WerkraumError(
            f"NetBox has no tag '{TAG}': the rack was never synced into it",
            hint="run `werkraum netbox sync --inventory INVENTORY` first",
        )
    return int(tag.id)


def ensure_tenant(api: pynetbox.api, slug: str, name: str) -> int:
    """The NetBox tenant for a Werkraum tenant (created once; a racing creator is tolerated)."""
    found = api.tenancy.tenants.get(slug=slug)
    # NetBox wants unique tenant names too; a display name taken by another tenant gets the slug added.
    for display in (name, f"{name} ({slug})"):
        if found is not None:
            break
        try:
            found = api.tenancy.tenants.create(
                name=display, slug=slug, tags=[_tag_id(api)], description="Werkraum tenant (stacks/)"
            )
        except pynetbox.RequestError:
            found = api.tenancy.tenants.get(slug=slug)  # another run created it a moment ago, or the name is taken
    if found is None:
        raise WerkraumError(f"NetBox refused to create a tenant {slug!r} ({name!r})")
    return int(found.id)


def _pool(api: pynetbox.api, pool: str) -> Any:
    record = api.ipam.prefixes.get(prefix=pool, status="container")
    if record is None:
        raise WerkraumError(
            f"NetBox has no tenant pool {pool} (a prefix with status container)",
            hint="run `werkraum netbox sync --inventory INVENTORY`; it records the pool from pulumi/platform",
        )
    return record


def _held(api: pynetbox.api, tenant_id: int) -> list[Any]:
    return sorted(api.ipam.prefixes.filter(tenant_id=tenant_id, tag=TAG), key=lambda p: int(p.id))


def _conflicts(api: pynetbox.api, cidr: str, tenant_id: int) -> list[str]:
    """Prefixes overlapping ``cidr`` that belong to someone else (containers such as the pool excepted)."""
    net = ipaddress.IPv4Network(cidr)
    found = {int(p.id): p for p in api.ipam.prefixes.filter(within_include=cidr)}
    found.update({int(p.id): p for p in api.ipam.prefixes.filter(contains=cidr)})
    out = []
    for p in found.values():
        if p.status.value == "container" or (p.tenant and int(p.tenant.id) == tenant_id):
            continue
        if ipaddress.IPv4Network(p.prefix).overlaps(net):
            owner = f"tenant {p.tenant.slug}" if p.tenant else (p.description or p.status.value)
            out.append(f"{p.prefix} ({owner})")
    return sorted(out)


def record_explicit(api: pynetbox.api, tenant: TenantNetwork, tenant_id: int) -> tuple[str, bool]:
    """Check a file's own CIDR against NetBox and record it; returns (cidr, recorded now)."""
    assert tenant.cidr
    held = [p.prefix for p in _held(api, tenant_id)]
    if held and tenant.cidr not in held:
        raise WerkraumError(
            f"tenant {tenant.slug}: its file says network.cidr {tenant.cidr}, NetBox records {', '.join(held)} for it",
            hint="put NetBox's prefix in the file, or release the old one in NetBox if the move is intended",
        )
    conflicts = _conflicts(api, tenant.cidr, tenant_id)
    if conflicts:
        raise WerkraumError(
            f"tenant {tenant.slug}: network.cidr {tenant.cidr} overlaps what NetBox holds: {', '.join(conflicts)}",
            hint="pick another network, or drop network.cidr to get the next free prefix of the pool",
        )
    if held:
        return tenant.cidr, False
    created = api.ipam.prefixes.create(
        prefix=tenant.cidr, status="active", tenant=tenant_id, tags=[_tag_id(api)],
        description=f"Werkraum tenant {tenant.slug}",
    )  # fmt: skip
    if _conflicts(api, tenant.cidr, tenant_id):  # another run recorded an overlap at the same moment
        created.delete()
        raise WerkraumError(f"tenant {tenant.slug}: {tenant.cidr} was taken by another allocation just now; run again")
    return tenant.cidr, True


def allocate(api: pynetbox.api, tenant: TenantNetwork, pool: str, prefix_length: int) -> tuple[str, bool]:
    """The tenant's prefix: the one NetBox holds for it, or the next free one. Returns (cidr, allocated now)."""
    tenant_id = ensure_tenant(api, tenant.slug, tenant.name)
    if tenant.cidr:
        return record_explicit(api, tenant, tenant_id)
    held = _held(api, tenant_id)
    if held:
        return str(held[0].prefix), False
    pool_record = _pool(api, pool)
    try:
        mine = pool_record.available_prefixes.create(
            {"prefix_length": prefix_length, "status": "active", "tenant": tenant_id, "tags": [_tag_id(api)],
             "description": f"Werkraum tenant {tenant.slug}"}
        )  # fmt: skip
    except pynetbox.RequestError as exc:
        raise WerkraumError(
            f"NetBox could not allocate a /{prefix_length} for tenant {tenant.slug} from {pool}: {exc.error}",
            hint="the pool may be full: widen platform:spec.tenant_pool and run `werkraum netbox sync`",
        ) from None
    mine_id = int(mine["id"] if isinstance(mine, dict) else mine.id)
    held = _held(api, tenant_id)
    winner = held[0]
    if int(winner.id) != mine_id:  # a concurrent run for this tenant got there first
        api.ipam.prefixes.get(mine_id).delete()
        return str(winner.prefix), False
    return str(winner.prefix), True


def record_fleet(api: pynetbox.api, tenants: list[TenantNetwork]) -> list[str]:
    """Check and record every explicit CIDR of the fleet; returns the tenants recorded now."""
    recorded = []
    for tenant in tenants:
        if tenant.cidr:
            _, now = record_explicit(api, tenant, ensure_tenant(api, tenant.slug, tenant.name))
            if now:
                recorded.append(tenant.slug)
    return recorded


def allocate_in_fleet(api: pynetbox.api, fleet: Fleet, tenant: TenantNetwork) -> tuple[str, bool]:
    """Record the other tenants' own CIDRs, then allocate (or check) this tenant's. Returns (cidr, allocated now)."""
    others = [
        TenantNetwork(t.slug, t.spec.name, t.spec.network.cidr)
        for t in fleet.tenants
        if t.spec is not None and t.slug != tenant.slug
    ]
    record_fleet(api, others)
    return allocate(api, tenant, fleet.platform.tenant_pool, fleet.platform.tenant_prefix_length)


def release(api: pynetbox.api, slug: str, cidr: str) -> None:
    """Give back a prefix allocated a moment ago (its tenant file could not be written)."""
    for prefix in api.ipam.prefixes.filter(prefix=cidr, tenant=slug, tag=TAG):
        prefix.delete()


def netbox_allocator(api: pynetbox.api) -> Callable[[TenantFile, Fleet], str]:
    """An allocator for `allocate_network`: NetBox IPAM, after checking and recording the fleet's own CIDRs."""

    def allocator(tenant: TenantFile, fleet: Fleet) -> str:
        assert tenant.spec is not None
        network = TenantNetwork(tenant.slug, tenant.spec.name, tenant.spec.network.cidr)
        return allocate_in_fleet(api, fleet, network)[0]

    return allocator


@contextlib.contextmanager
def new_tenant_prefix(slug: str, name: str, fleet: Fleet) -> Iterator[tuple[str, str]]:
    """A new tenant's prefix from NetBox IPAM, as (cidr, NetBox URL).

    If the block fails (the tenant file was not written), a prefix allocated here is
    given back, so a failed `tenant new` leaves nothing behind in NetBox.
    """
    with session() as api:
        cidr, now = allocate_in_fleet(api, fleet, TenantNetwork(slug, name, None))
    try:
        yield cidr, api.werkraum_url
    except BaseException:
        if now:
            with translate_errors(api.werkraum_url):
                release(api, slug, cidr)
        raise


def allocate_from_netbox(slug: str, fleet: Fleet) -> tuple[str, bool, str]:
    """`tenant allocate` with NetBox: (cidr, whether the file changed, NetBox URL)."""
    from werkraum.tenants.scaffold import allocate_network

    with session() as api:
        cidr, changed = allocate_network(slug, fleet, netbox_allocator(api))
    return cidr, changed, api.werkraum_url
