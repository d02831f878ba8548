"""A whole tenant: the components of one tenant file, and the outputs a partner reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from werkraum.infra.identity import TenantIdentity
from werkraum.infra.network import TenantNetwork
from werkraum.infra.tenant_apps import BrandingInput, TenantApps, WorkspaceInput
from werkraum.infra.tenant_kubernetes import TenantKubernetes
from werkraum.infra.tenant_quotas import TenantQuotas
from werkraum.tenants.model import TenantSpec
from werkraum.tenants.plans import QuotaName
from werkraum.tenants.platform import PlatformSpec


class PlatformOutputs:
    """What a tenant reads from the platform stack (a StackReference).

    ``with_openstack=False`` reads only the Kubernetes settings: the end-to-end run uses it,
    where no OpenStack provider plugin can be built (docs/testing.md).
    """

    def __init__(self, ref: pulumi.StackReference, *, with_openstack: bool = True) -> None:
        if with_openstack:
            self.external_network_id = ref.require_output("external_network_id")
            self.compute_service_id = ref.require_output("compute_service_id")
            self.flavor_ids = ref.require_output("flavor_ids")
        self.management_cidr = ref.require_output("management_cidr")
        self.dns_nameservers = ref.require_output("dns_nameservers")
        self.storage_class = ref.require_output("storage_class")
        self.ingress_class = ref.require_output("ingress_class")
        self.ingress_namespace = ref.require_output("ingress_namespace")
        self.cluster_issuer = ref.require_output("cluster_issuer")
        self.image_registry = ref.require_output("image_registry")


def _flavor_id(flavor_ids: pulumi.Output[Any], name: str) -> pulumi.Output[str]:
    return flavor_ids.apply(lambda ids: str(ids[name]))


class TenantStack(pulumi.ComponentResource):
    def __init__(
        self,
        slug: str,
        spec: TenantSpec,
        *,
        platform: PlatformOutputs,
        platform_spec: PlatformSpec,
        stacks_dir: Path,
        offboard: bool = False,
        with_openstack: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``with_openstack=False`` declares only the Kubernetes half (identity, network and quotas left out)."""
        super().__init__("werkraum:tenant:Tenant", slug, None, opts)
        if not spec.network.cidr:
            raise ValueError(f"tenant {slug}: network.cidr is not allocated (run `werkraum tenant allocate {slug}`)")
        protect = not offboard
        child = pulumi.ResourceOptions(parent=self)
        quotas = spec.effective_quotas()
        features = spec.effective_features()
        openstack_outputs: dict[str, pulumi.Input[object]] = {}
        if with_openstack:
            openstack_outputs = self._openstack(
                slug,
                spec=spec,
                platform=platform,
                platform_spec=platform_spec,
                quotas=quotas,
                protect=protect,
                child=child,
            )
        self.kubernetes = TenantKubernetes(
            slug,
            spec.plan,
            quotas,
            workspaces=len(spec.workspaces),
            egress_https=bool(spec.apps),
            ingress_namespace=platform.ingress_namespace,
            protect=protect,
            opts=child,
        )
        b = spec.branding
        self.apps = TenantApps(
            slug,
            spec.plan,
            namespace=self.kubernetes.namespace_name,
            features=features,
            apps=spec.apps,
            workspaces=[WorkspaceInput(w.name, w.profile, w.members) for w in spec.workspaces],
            branding=BrandingInput(
                domain=b.domain,
                display_name=spec.name,
                assistant_name=b.assistant_name,
                primary_color=b.primary_color,
                secondary_color=b.secondary_color,
                welcome_message=b.welcome_message,
                logo_file=Path(b.logo).name,
                logo=(stacks_dir / b.logo).read_bytes(),
            ),
            image_registry=platform.image_registry,
            storage_class=platform.storage_class,
            ingress_class=platform.ingress_class,
            cluster_issuer=platform.cluster_issuer,
            protect=protect,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.kubernetes]),
        )
        self.partner_outputs: dict[str, pulumi.Input[object]] = {
            "tenant": slug,
            "name": spec.name,
            "plan": spec.plan,
            "seats": spec.seats,
            "monthly_seat_revenue_eur": spec.seats * spec.plan_info.price_eur_per_seat,
            **openstack_outputs,
            "namespace": self.kubernetes.namespace_name,
            "urls": self.apps.urls,
            "quotas": dict(quotas),
            "features": features,
            "protected": protect,
        }
        self.register_outputs(self.partner_outputs)

    def _openstack(
        self,
        slug: str,
        *,
        spec: TenantSpec,
        platform: PlatformOutputs,
        platform_spec: PlatformSpec,
        quotas: Mapping[QuotaName, int],
        protect: bool,
        child: pulumi.ResourceOptions,
    ) -> dict[str, pulumi.Input[object]]:
        """The OpenStack half: project, network and quotas; returns the outputs a partner reads."""
        assert spec.network.cidr is not None
        self.identity = TenantIdentity(slug, spec.name, spec.plan, protect=protect, opts=child)
        self.network = TenantNetwork(
            slug,
            spec.network.cidr,
            project_id=self.identity.project_id,
            external_network_id=platform.external_network_id,
            management_cidr=platform.management_cidr,
            dns_nameservers=platform.dns_nameservers,
            opts=child,
        )
        gpu_flavors = {f.name: _flavor_id(platform.flavor_ids, f.name) for f in platform_spec.flavors if f.gpus}
        self.quotas = TenantQuotas(
            slug,
            quotas,
            project_id=self.identity.project_id,
            compute_service_id=platform.compute_service_id,
            gpu_resource_class=platform_spec.gpu_resource_class,
            gpu_flavors=gpu_flavors,
            opts=child,
        )
        return {
            "project_id": self.identity.project_id,
            "network": {
                "network_id": self.network.network.id,
                "subnet_cidr": spec.network.cidr,
                "router_id": self.network.router.id,
            },
        }
