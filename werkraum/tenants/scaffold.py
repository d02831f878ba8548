"""Writing tenant files: `tenant new` (scaffold) and `tenant allocate` (network write-back).

Both write to a temporary file and rename it into place only once the result
validates, so a failure never leaves a half-written tenant file behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from werkraum.errors import WerkraumError
from werkraum.tenants.fleet import Fleet, cross_tenant_problems, display_path, load_fleet, next_free_prefix
from werkraum.tenants.loader import SPEC_KEY, TenantFile, load_tenant_file, stack_file
from werkraum.tenants.model import SLUG_RE

LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="12" fill="{color}"/>'
    '<text x="32" y="44" font-family="sans-serif" font-size="36" fill="#fff" text-anchor="middle">{letter}</text>'
    "</svg>\n"
)


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 120
    return y


@dataclass
class NewTenant:
    slug: str
    name: str
    plan: str
    seats: int
    contact_name: str
    contact_email: str
    domain: str
    cidr: str | None = None
    features: list[str] | None = None
    apps: list[str] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    primary_color: str = "#1E3A8A"
    secondary_color: str = "#60A5FA"
    assistant_name: str | None = None
    welcome_message: str | None = None
    logo: str | None = None
    workspaces: list[dict[str, Any]] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)  # empty: the contact is the first admin


def parse_quotas(items: tuple[str, ...] | list[str]) -> dict[str, int]:
    """`--quota NAME=NUMBER` flags (repeatable) as a quota mapping."""
    quotas: dict[str, int] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key or not value.isdigit():
            raise WerkraumError(f"--quota {item!r}: expected NAME=NUMBER, e.g. gpus=2")
        quotas[key] = int(value)
    return quotas


def parse_workspaces(items: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """`--workspace NAME:PROFILE[:member,member]` flags (repeatable) as workspace entries."""
    workspaces = []
    for item in items:
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise WerkraumError(f"--workspace {item!r}: expected NAME:PROFILE[:member,member]")
        members = [m for m in (parts[2] if len(parts) == 3 else "").split(",") if m]
        workspaces.append({"name": parts[0], "profile": parts[1], "members": members})
    return workspaces


def comma_list(value: str | None) -> list[str]:
    """A comma-separated flag as a list, without empty items."""
    return [item for item in (value or "").split(",") if item]


def _spec(t: NewTenant, cidr: str, logo: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": t.name,
        "plan": t.plan,
        "seats": t.seats,
        "contact": {"name": t.contact_name, "email": t.contact_email},
        "admins": list(t.admins) or [t.contact_email],
    }
    if t.quotas:
        spec["quotas"] = dict(t.quotas)
    spec["network"] = {"cidr": cidr}
    if t.features is not None:
        spec["features"] = list(t.features)
    spec["apps"] = list(t.apps)
    spec["branding"] = {
        "domain": t.domain,
        "logo": logo,
        "primary_color": t.primary_color,
        "secondary_color": t.secondary_color,
        "assistant_name": t.assistant_name or f"{t.name.split()[0]} AI",
        "welcome_message": t.welcome_message or f"Willkommen bei {t.assistant_name or t.name.split()[0] + ' AI'}",
    }
    spec["workspaces"] = list(t.workspaces)
    return spec


def create_tenant(t: NewTenant, fleet: Fleet | None = None) -> Path:
    """Write stacks/Pulumi.<slug>.yaml (and a monogram logo if none is given); refuse anything invalid."""
    if not SLUG_RE.match(t.slug):
        raise WerkraumError(
            f"slug {t.slug!r} is not valid",
            hint="3–32 lower-case letters, digits and '-', starting with a letter (e.g. acme or acme-gmbh)",
        )
    fleet = fleet or load_fleet()
    path = stack_file(fleet.directory, t.slug)
    if path.exists():
        raise WerkraumError(f"{path} already exists", hint="edit it, or choose another slug")
    cidr = t.cidr or next_free_in_fleet(fleet)
    created: list[Path] = []
    logo = t.logo
    if logo is None:
        logo = f"logos/{t.slug}.svg"
        logo_path = fleet.directory / logo
        if not logo_path.exists():
            logo_path.parent.mkdir(parents=True, exist_ok=True)
            logo_path.write_text(LOGO_SVG.format(color=t.primary_color, letter=(t.name[:1] or t.slug[:1]).upper()))
            created.append(logo_path)
    document = CommentedMap()
    document["config"] = CommentedMap({SPEC_KEY: _spec(t, cidr, logo)})
    document.yaml_set_start_comment(
        f"Tenant {t.name}: written by `werkraum tenant new {t.slug}`. docs/tenants.md describes every field."
    )
    buf = io.StringIO()
    _yaml().dump(document, buf)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue())
    try:
        checked = load_tenant_file(tmp, stacks_dir=fleet.directory, display=display_path(path), slug=t.slug)
        others = [x for x in fleet.tenants if x.slug != t.slug]
        problems = checked.problems + [
            p for p in cross_tenant_problems([*others, checked], fleet.platform) if p.file == display_path(path)
        ]
        if problems:
            raise WerkraumError(
                f"tenant {t.slug} was not written; its file would not validate:\n  " + "\n  ".join(map(str, problems))
            )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for p in created:
            p.unlink(missing_ok=True)
        raise
    return path


def next_free_in_fleet(fleet: Fleet) -> str:
    """The next free prefix of the pool as the tenant files alone see it (no NetBox)."""
    used = [x.spec.network.cidr for x in fleet.tenants if x.spec and x.spec.network.cidr]
    return next_free_prefix(fleet.platform, used)


def next_free_in_files(tenant: TenantFile, fleet: Fleet) -> str:
    """An allocator for `allocate_network`: the tenant's own CIDR, else the next free one of the files."""
    if tenant.spec and tenant.spec.network.cidr:
        return tenant.spec.network.cidr
    return next_free_in_fleet(fleet)


def allocate_network(
    slug: str, fleet: Fleet | None = None, allocator: Callable[[TenantFile, Fleet], str] = next_free_in_files
) -> tuple[str, bool]:
    """Give the tenant a prefix (by default the next free one of the pool), written into its file.

    Returns (cidr, changed). A tenant whose file has network.cidr keeps it; the
    allocator still sees it, so NetBox can check and record it.
    """
    fleet = fleet or load_fleet()
    tenant = fleet.by_slug(slug)
    if tenant.spec is None:
        raise WerkraumError(f"{tenant.display} is not valid; fix it first (`werkraum tenant validate {slug}`)")
    cidr = allocator(tenant, fleet)
    if tenant.spec.network.cidr:
        return tenant.spec.network.cidr, False
    y = _yaml()
    doc = y.load(tenant.path.read_text())
    spec = doc["config"][SPEC_KEY]
    if spec.get("network") is None:
        spec["network"] = CommentedMap()
    spec["network"]["cidr"] = cidr
    buf = io.StringIO()
    y.dump(doc, buf)
    tmp = tenant.path.with_name(f".{tenant.path.name}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, tenant.path)
    return cidr, True
