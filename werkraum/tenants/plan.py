"""`werkraum tenant plan`: the resources a tenant stack declares, computed offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from werkraum.infra.offline import OfflinePlan, run_offline
from werkraum.infra.programs import tenant_program
from werkraum.tenants.loader import TenantFile
from werkraum.tenants.platform import PlatformSpec

TENANT_PROJECT = "werkraum-tenant"


def mock_platform_outputs(platform: PlatformSpec) -> dict[str, Any]:
    """The platform stack's outputs as an offline plan assumes them (ids are placeholders)."""
    return {
        "external_network_id": "external-network-id",
        "compute_service_id": "nova-service-id",
        "flavor_ids": {f.name: f"flavor-{f.name}-id" for f in platform.flavors},
        "management_cidr": platform.management_cidr,
        "dns_nameservers": platform.dns_nameservers,
        "storage_class": next(
            (s.name for s in platform.storage_classes if s.default), platform.storage_classes[0].name
        ),
        "ingress_class": platform.ingress_class,
        "ingress_namespace": platform.ingress_namespace,
        "cluster_issuer": platform.cluster_issuer,
        "image_registry": platform.image_registry,
        "domain": platform.domain,
    }


def offline_plan(tenant: TenantFile, platform: PlatformSpec, stacks_dir: Path) -> OfflinePlan:
    return run_offline(
        lambda: tenant_program(stacks_dir=stacks_dir, platform_spec=platform),
        project=TENANT_PROJECT,
        stack=tenant.slug,
        config=tenant.config,
        stack_outputs=mock_platform_outputs(platform),
        outputs=lambda t: t.partner_outputs,
    )
