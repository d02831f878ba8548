"""`werkraum tenant plan`: the resources a tenant stack declares, computed offline (the program under mocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkraum.infra.offline import OfflinePlan, run_offline
from werkraum.infra.programs import tenant_program
from werkraum.tenants.loader import TenantFile
from werkraum.tenants.platform import KeycloakSpec, PlatformSpec

TENANT_PROJECT = "werkraum-tenant"


def mock_platform_outputs(platform: PlatformSpec) -> dict[str, Any]:
    """The platform stack's outputs as an offline plan assumes them (ids are placeholders)."""
    return {
        "external_network_id": "external-network-id",
        "compute_service_id": "nova-service-id",
        "flavor_ids": {f.name: f"flavor-{f.name}-id" for f in platform.flavors},
        **platform.settings_outputs(),
    }


# What an offline plan's Keycloak objects name as their connection: the mocks never connect, and
# the handed-over administrator's password must not appear in a plan (`tenant plan --json`).
OFFLINE_KEYCLOAK = KeycloakSpec(url="https://keycloak.offline.invalid", admin_password="(offline plan)")


def offline_plan(tenant: TenantFile, platform: PlatformSpec, stacks_dir: Path) -> OfflinePlan:
    offline = platform.model_copy(update={"keycloak": OFFLINE_KEYCLOAK})
    return run_offline(
        lambda: tenant_program(stacks_dir=stacks_dir, platform_spec=offline),
        project=TENANT_PROJECT,
        stack=tenant.slug,
        config=tenant.config,
        stack_outputs=mock_platform_outputs(offline),
        outputs=lambda t: t.partner_outputs,
    )


def plan_document(plan: OfflinePlan) -> dict[str, Any]:
    """`tenant plan --json`: the custom resources the program declares, with their inputs, and its outputs."""
    return {
        "kind": "offline-plan",
        "stack": plan.stack,
        "resources": [
            {"type": r.type, "name": r.name, "protect": r.protect, "inputs": r.inputs}
            for r in plan.resources
            if r.custom
        ],
        "outputs": plan.outputs,
    }


def plan_lines(plan: OfflinePlan, took_s: float) -> list[str]:
    """`tenant plan`'s listing: one line per resource to create, sorted by type and name, then the totals."""
    custom = sorted((r for r in plan.resources if r.custom), key=lambda r: (r.type, r.name))
    lines = [f"  + {r.type:<56} {r.name}{'  [protected]' if r.protect else ''}" for r in custom]
    lines.append(f"\n{len(custom)} resources to create, {sum(r.protect for r in custom)} protected ({took_s:.2f}s)")
    return lines
