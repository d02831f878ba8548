"""A whole tenant: its OpenStack half and its Kubernetes half, and the outputs a partner reads.

Each half is a ComponentResource with typed inputs (what it takes from the platform):
the tenant program composes both; a program that can reach only one cloud composes
one (the end-to-end run's Kubernetes-only program, tests/harness/e2e/stacks.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
from werkraum.infra.identity import TenantIdentity
from werkraum.infra.network import TenantNetwork
from werkraum.infra.sso import IdentityPlatform, TenantIdentityProvider
from werkraum.infra.tenant_apps import BrandingInput, TenantApps, WorkspaceInput
from werkraum.infra.tenant_kubernetes import TenantKubernetes
from werkraum.infra.tenant_quotas import TenantQuotas
from werkraum.tenants.model import TenantSpec
from werkraum.tenants.platform import PlatformSpec


@dataclass(frozen=True)
class OpenStackPlatform:
    """What the tenant's OpenStack half takes from the platform: its stack's outputs and settings."""

    external_network_id: pulumi.Input[str]
    compute_service_id: pulumi.Input[str]
    flavor_ids: pulumi.Input[Mapping[str, str]]
    management_cidr: pulumi.Input[str]
    dns_nameservers: pulumi.Input[Sequence[str]]
    gpu_resource_class: str
    gpu_flavors: tuple[str, ...] = ()  # the private GPU flavors a tenant with GPUs is given

    @classmethod
    def read(cls, ref: pulumi.StackReference, spec: PlatformSpec) -> OpenStackPlatform:
        return cls(
            external_network_id=ref.require_output("external_network_id"),
            compute_service_id=ref.require_output("compute_service_id"),
            flavor_ids=ref.require_output("flavor_ids"),
            management_cidr=ref.require_output("management_cidr"),
            dns_nameservers=ref.require_output("dns_nameservers"),
            gpu_resource_class=spec.gpu_resource_class,
            gpu_flavors=tuple(f.name for f in spec.flavors if f.gpus),
        )


@dataclass(frozen=True)
class KubernetesPlatform:
    """What the tenant's Kubernetes half takes from the platform stack's outputs."""

    ingress_namespace: pulumi.Input[str]
    storage_class: pulumi.Input[str]
    ingress_class: pulumi.Input[str]
    certificate_resolver: pulumi.Input[str]
    image_registry: pulumi.Input[str]
    # PlatformSpec.kubernetes_requests_percent: the apps' CPU and memory requests, in percent.
    requests_percent: pulumi.Input[int] = 100
    # PlatformSpec.gpu_runtime_class ("": the default runtime).
    gpu_runtime_class: pulumi.Input[str] = ""

    @classmethod
    def read(cls, ref: pulumi.StackReference) -> KubernetesPlatform:
        return cls(
            ingress_namespace=ref.require_output("ingress_namespace"),
            storage_class=ref.require_output("storage_class"),
            ingress_class=ref.require_output("ingress_class"),
            certificate_resolver=ref.require_output("certificate_resolver"),
            image_registry=ref.require_output("image_registry"),
            # A platform stack applied before the setting existed has no such output: requests as asked.
            requests_percent=ref.get_output("requests_percent").apply(lambda v: 100 if v is None else int(v)),
            gpu_runtime_class=ref.get_output("gpu_runtime_class").apply(lambda v: str(v or "")),
        )


def _flavor_id(flavor_ids: pulumi.Input[Mapping[str, str]], name: str) -> pulumi.Output[str]:
    return pulumi.Output.from_input(flavor_ids).apply(lambda ids: str(ids[name]))


def _moved_from(opts: pulumi.ResourceOptions | None) -> list[pulumi.Alias]:
    """An alias to the parent a component had before the halves were components of their own.

    Identity, network, quotas, namespace and apps were children of the Tenant component;
    the alias keeps their URNs (and so their state) where the halves sit under it.
    """
    parent = opts.parent if opts is not None else None
    return [pulumi.Alias(parent=parent)] if parent is not None else []


class TenantOpenStack(pulumi.ComponentResource):
    """The tenant's OpenStack half: project with admin group, network, quotas and GPU limit."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(
        self,
        slug: str,
        spec: TenantSpec,
        platform: OpenStackPlatform,
        *,
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not spec.network.cidr:
            raise ValueError(f"tenant {slug}: network.cidr is not allocated (run `werkraum tenant allocate {slug}`)")
        super().__init__("werkraum:tenant:OpenStack", slug, None, opts)
        child = pulumi.ResourceOptions(parent=self, aliases=_moved_from(opts))
        quotas = spec.effective_quotas()
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
        self.quotas = TenantQuotas(
            slug,
            quotas,
            project_id=self.identity.project_id,
            compute_service_id=platform.compute_service_id,
            gpu_resource_class=platform.gpu_resource_class,
            gpu_flavors={name: _flavor_id(platform.flavor_ids, name) for name in platform.gpu_flavors},
            opts=child,
        )
        self.outputs = {
            "project_id": self.identity.project_id,
            "network": {
                "network_id": self.network.network.id,
                "subnet_cidr": spec.network.cidr,
                "router_id": self.network.router.id,
            },
        }
        self.register_outputs(self.outputs)


class TenantOnKubernetes(pulumi.ComponentResource):
    """The tenant's Kubernetes half: its namespace with the guard rails, and its apps."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(
        self,
        slug: str,
        spec: TenantSpec,
        platform: KubernetesPlatform,
        *,
        stacks_dir: Path,
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``stacks_dir`` is the folder of tenant files the branding's logo path is relative to."""
        super().__init__("werkraum:tenant:OnKubernetes", slug, None, opts)
        moved = _moved_from(opts)
        quotas = spec.effective_quotas()
        self.kubernetes = TenantKubernetes(
            slug,
            spec.plan,
            quotas,
            workspaces=len(spec.workspaces),
            egress_https=bool(spec.apps),
            ingress_namespace=platform.ingress_namespace,
            protect=protect,
            opts=pulumi.ResourceOptions(parent=self, aliases=moved),
        )
        b = spec.branding
        self.apps = TenantApps(
            slug,
            spec.plan,
            namespace=self.kubernetes.namespace_name,
            features=spec.effective_features(),
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
            certificate_resolver=platform.certificate_resolver,
            requests_percent=platform.requests_percent,
            gpu_runtime_class=platform.gpu_runtime_class,
            protect=protect,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.kubernetes], aliases=moved),
        )
        self.outputs = {"namespace": self.kubernetes.namespace_name, "urls": self.apps.urls}
        self.register_outputs(self.outputs)


def partner_outputs(
    slug: str,
    spec: TenantSpec,
    *,
    protect: bool,
    kubernetes: TenantOnKubernetes,
    openstack: TenantOpenStack | None = None,
    identity: TenantIdentityProvider | None = None,
) -> dict[str, pulumi.Input[object]]:
    """The outputs a partner reads, from the halves a program declared."""
    return {
        "tenant": slug,
        "name": spec.name,
        "plan": spec.plan,
        "seats": spec.seats,
        "monthly_seat_revenue_eur": spec.seats * spec.plan_info.price_eur_per_seat,
        **(openstack.outputs if openstack is not None else {}),
        **kubernetes.outputs,
        **(identity.outputs if identity is not None else {}),
        "quotas": dict(spec.effective_quotas()),
        "features": spec.effective_features(),
        "protected": protect,
    }


class TenantStack(pulumi.ComponentResource):
    """A whole tenant: the OpenStack half and the Kubernetes half of one tenant file.

    ``openstack`` None: the platform runs no OpenStack (PlatformSpec.openstack), only the Kubernetes half.
    ``identity``: the platform's Keycloak, where the tenant's groups and its apps' clients are declared.
    """

    def __init__(
        self,
        slug: str,
        spec: TenantSpec,
        *,
        openstack: OpenStackPlatform | None,
        kubernetes: KubernetesPlatform,
        stacks_dir: Path,
        identity: IdentityPlatform | None = None,
        offboard: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``offboard`` lifts the protection of the project, the namespace and the workspace volumes."""
        super().__init__("werkraum:tenant:Tenant", slug, None, opts)
        protect = not offboard
        child = pulumi.ResourceOptions(parent=self)
        self.openstack = (
            TenantOpenStack(slug, spec, openstack, protect=protect, opts=child) if openstack is not None else None
        )
        self.kubernetes = TenantOnKubernetes(slug, spec, kubernetes, stacks_dir=stacks_dir, protect=protect, opts=child)
        self.identity = (
            TenantIdentityProvider(
                slug,
                identity,
                display_name=spec.name,
                admins=spec.admins,
                members=[m for w in spec.workspaces for m in w.members],
                app_urls={f: u for f, u in self.kubernetes.apps.urls.items() if "/" not in f},
                namespace=self.kubernetes.kubernetes.namespace_name,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.kubernetes.kubernetes]),
            )
            if identity is not None
            else None
        )
        self.partner_outputs = partner_outputs(
            slug, spec, protect=protect, kubernetes=self.kubernetes, openstack=self.openstack, identity=self.identity
        )
        self.register_outputs(self.partner_outputs)
