"""All tenant files together: loading them, and the checks across tenants."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.paths import repo_root
from werkraum.tenants.loader import SPEC_KEY, TenantFile, load_tenant_file, stack_file
from werkraum.tenants.model import Problem
from werkraum.tenants.platform import PlatformSpec, load_platform


def stacks_dir() -> Path:
    return repo_root() / "stacks"


def tenant_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("Pulumi.*.yaml"))


@dataclass
class Fleet:
    directory: Path
    tenants: list[TenantFile]
    platform: PlatformSpec
    problems: list[Problem] = field(default_factory=list)

    @property
    def all_problems(self) -> list[Problem]:
        return [p for t in self.tenants for p in t.problems] + self.problems

    def by_slug(self, slug: str) -> TenantFile:
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant
        raise WerkraumError(
            f"no tenant {slug!r}: {stack_file(self.directory, slug)} does not exist",
            hint="`werkraum tenant validate` lists the tenants; `werkraum tenant new SLUG` creates one",
        )


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(repo_root()))
    except ValueError:
        return str(path)


def load_fleet(directory: Path | None = None, platform: PlatformSpec | None = None) -> Fleet:
    directory = directory or stacks_dir()
    if not directory.is_dir():
        raise WerkraumError(f"{directory} is not a folder of tenant files")
    tenants = [load_tenant_file(p, stacks_dir=directory, display=display_path(p)) for p in tenant_paths(directory)]
    fleet = Fleet(directory, tenants, platform or load_platform())
    fleet.problems.extend(cross_tenant_problems(fleet.tenants, fleet.platform))
    return fleet


def cross_tenant_problems(tenants: Iterable[TenantFile], platform: PlatformSpec) -> list[Problem]:
    """Unique slugs, domains and networks; no overlap between tenants or with the platform's ranges."""
    problems: list[Problem] = []
    reserved = platform.reserved_networks()
    domains: dict[str, TenantFile] = {}
    slugs: dict[str, TenantFile] = {}
    nets: list[tuple[ipaddress.IPv4Network, TenantFile]] = []
    users: dict[str, TenantFile] = {}
    for t in tenants:
        if t.slug.lower() in slugs:
            problems.append(
                Problem(t.display, "", f"slug {t.slug!r} is already used by {slugs[t.slug.lower()].display}")
            )
        slugs[t.slug.lower()] = t
        if t.slug in ("platform", "werkraum", "admin"):
            problems.append(Problem(t.display, "", f"slug {t.slug!r} is reserved for the platform"))
        if t.spec is None:
            continue
        domain = t.spec.branding.domain.lower()
        if domain == platform.domain or domain.endswith("." + platform.domain):
            path = f"{SPEC_KEY}.branding.domain"
            problems.append(Problem(t.display, path, f"{domain} is inside the platform's own domain", t.line_of(path)))
        if domain in domains:
            path = f"{SPEC_KEY}.branding.domain"
            problems.append(
                Problem(t.display, path, f"{domain} is already used by {domains[domain].display}", t.line_of(path))
            )
        domains[domain] = t
        problems.extend(_users_elsewhere(t, users))
        if t.spec.network.cidr:
            net = ipaddress.IPv4Network(t.spec.network.cidr)
            path = f"{SPEC_KEY}.network.cidr"
            for what, rnet in reserved:
                if net.overlaps(rnet):
                    problems.append(
                        Problem(t.display, path, f"{net} overlaps the platform's {what} ({rnet})", t.line_of(path))
                    )
            for other_net, other in nets:
                if net.overlaps(other_net):
                    problems.append(
                        Problem(
                            t.display,
                            path,
                            f"{net} overlaps {other_net} of {other.display}",
                            t.line_of(path),
                        )
                    )
            nets.append((net, t))
    return problems


def _users_elsewhere(t: TenantFile, users: dict[str, TenantFile]) -> list[Problem]:
    """A user (admin or workspace member) belongs to one tenant: its groups and its seat.

    A partner who looks after several tenants is not a member of each (docs/identity.md).
    """
    assert t.spec is not None
    problems: list[Problem] = []
    named = [(f"{SPEC_KEY}.admins[{i}]", a) for i, a in enumerate(t.spec.admins)]
    named += [
        (f"{SPEC_KEY}.workspaces[{i}].members[{j}]", m)
        for i, w in enumerate(t.spec.workspaces)
        for j, m in enumerate(w.members)
    ]
    for path, email in named:
        other = users.get(email.lower())
        if other is not None and other is not t:
            problems.append(
                Problem(
                    t.display,
                    path,
                    f"{email} is already a user of tenant {other.slug} ({other.display}); a user belongs to one tenant",
                    t.line_of(path),
                )
            )
        users.setdefault(email.lower(), t)
    return problems


def next_free_prefix(platform: PlatformSpec, used: Iterable[str]) -> str:
    """The lowest prefix of the tenant pool that overlaps no used network and no reserved range."""
    pool = ipaddress.IPv4Network(platform.tenant_pool)
    taken = [ipaddress.IPv4Network(c) for c in used] + [n for _, n in platform.reserved_networks()]
    for candidate in pool.subnets(new_prefix=platform.tenant_prefix_length):
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise WerkraumError(
        f"the tenant pool {pool} has no free /{platform.tenant_prefix_length} left",
        hint="widen platform:spec.tenant_pool in pulumi/platform/Pulumi.rack.yaml",
    )
