"""Nova, Neutron and Cinder quotas with every field set, and the tenant's GPU limit.

GPUs are no Nova quota field: they are a Keystone unified limit on the
placement resource class of the platform's GPUs, and the private GPU flavors
are shared with the tenant only when it has GPUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi_openstack as openstack

import pulumi
from werkraum.infra.quotas import compute_quota, network_quota, volume_quota
from werkraum.tenants.plans import QuotaName


class TenantQuotas(pulumi.ComponentResource):
    def __init__(
        self,
        slug: str,
        quotas: Mapping[QuotaName, int],
        *,
        project_id: pulumi.Input[str],
        compute_service_id: pulumi.Input[str],
        gpu_resource_class: str,
        gpu_flavors: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("werkraum:tenant:Quotas", slug, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.compute = openstack.compute.QuotaSetV2(
            f"{slug}-compute-quota", project_id=project_id, opts=child, **cast(dict[str, Any], compute_quota(quotas))
        )
        self.network = openstack.networking.QuotaV2(
            f"{slug}-network-quota", project_id=project_id, opts=child, **cast(dict[str, Any], network_quota(quotas))
        )
        self.volume = openstack.blockstorage.QuoteSetV3(
            f"{slug}-volume-quota",
            project_id=project_id,
            opts=child,
            **cast(dict[str, Any], volume_quota(quotas)),
        )
        # The limit's `resource_name` field is `resource_name_` in Python (Pulumi's first argument has that name).
        self.gpu_limit = openstack.identity.LimitV3(
            f"{slug}-gpu-limit",
            project_id=project_id,
            service_id=compute_service_id,
            resource_name_=f"class:{gpu_resource_class}",
            resource_limit=quotas["gpus"],
            description=f"GPUs of tenant {slug}",
            opts=child,
        )
        # GPU flavors are private: a tenant with GPUs is given access to each of them.
        self.flavor_access = [
            openstack.compute.FlavorAccess(
                f"{slug}-flavor-{name}", flavor_id=flavor_id, tenant_id=project_id, opts=child
            )
            for name, flavor_id in sorted(gpu_flavors.items())
            if quotas["gpus"] > 0
        ]
        self.register_outputs({"quotas": dict(quotas)})
