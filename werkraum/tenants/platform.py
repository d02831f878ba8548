"""The platform's shared settings: the product's choices plus the rack's facts.

``pulumi/platform/Pulumi.<stack>.yaml`` holds the product's choices
(``platform:spec``: flavors, storage classes, the GPU resource class) and names
the rack inventory (``platform:inventory``) whose facts complete them
(werkraum/rack/facts.py): networks, DNS servers, tenant pool, registry and
ingress names from its group_vars, the Ceph cluster's fsid, monitors and
Kubernetes key from what the ceph role handed over. Tenant validation reads the
reserved ranges and the tenant prefix pool from the result; the platform Pulumi
program creates what tenants share from it.

A settings file without ``platform:inventory`` must hold every setting itself
(test fixtures do); one with it may not repeat a rack fact.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from werkraum.errors import WerkraumError
from werkraum.paths import repo_root


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExternalNetwork(_Strict):
    name: str = "public"
    physical_network: str = "physnet1"
    cidr: str
    gateway: str
    pool_start: str
    pool_end: str


class FlavorSpec(_Strict):
    name: str
    vcpus: Annotated[StrictInt, Field(gt=0)]
    ram_gib: Annotated[StrictInt, Field(gt=0)]
    disk_gib: Annotated[StrictInt, Field(ge=0)]
    gpus: Annotated[StrictInt, Field(ge=0)] = 0


class StorageClassSpec(_Strict):
    """A storage class the platform stack declares for tenants' volumes.

    ``ceph-rbd`` (the rack's): an RBD pool of the Ceph cluster, through ceph-csi.
    ``local-path``: a folder on the node that runs the pod (rancher's
    local-path-provisioner, roles/kubernetes_addons): for a rack without Ceph
    and the lab; the volume lives and dies with its node.
    """

    name: str
    provisioner: Literal["ceph-rbd", "local-path"] = "ceph-rbd"
    pool: str = ""
    default: bool = False

    @model_validator(mode="after")
    def _pool_for_rbd(self) -> StorageClassSpec:
        if self.provisioner == "ceph-rbd" and not self.pool:
            raise ValueError(f"storage class {self.name!r}: a ceph-rbd class names its RBD pool (pool:)")
        if self.provisioner != "ceph-rbd" and self.pool:
            raise ValueError(f"storage class {self.name!r}: pool: is for ceph-rbd classes, not {self.provisioner}")
        return self


class KeycloakSpec(_Strict):
    """How the programs reach the platform's Keycloak: the keycloak role's hand-over (werkraum/rack/facts.py)."""

    url: str
    admin_user: str = "admin"
    admin_password: str = Field(repr=False)
    ca_file: str = ""  # a CA bundle that verifies Keycloak; "": the system's
    address: str = ""  # where to reach the URL's host when no DNS knows it (the lab); "": DNS


class PlatformSpec(_Strict):
    domain: str
    management_cidr: str
    tenant_pool: str
    tenant_prefix_length: Annotated[StrictInt, Field(ge=16, le=28)] = 24
    reserved_cidrs: list[str] = Field(default_factory=list)
    dns_nameservers: list[str]
    external_network: ExternalNetwork
    flavors: list[FlavorSpec]
    gpu_resource_class: str = "CUSTOM_NVIDIA_GPU"
    storage_classes: list[StorageClassSpec]
    # From the ceph role's hand-over (ceph.conf, the client.kubernetes keyring); None before it ran.
    ceph_cluster_id: str | None = None
    ceph_monitors: list[str] = Field(default_factory=list)
    ceph_kubernetes_key: str | None = Field(default=None, repr=False)
    # The rack has Ceph hosts that run the ceph role (so RBD storage classes need the fsid).
    ceph_expected: bool = True
    # Traefik (roles/kubernetes_addons) serves Ingresses of this class from this namespace.
    ingress_class: str = "traefik"
    ingress_namespace: str = "traefik"
    ingress_controller: str = "traefik.io/ingress-controller"
    # Traefik's ACME certificate resolver (roles/kubernetes_addons) that issues and renews
    # each tenant domain's certificate: Let's Encrypt on a rack, the lab's test CA in the lab.
    certificate_resolver: str = "werkraum"
    # The RuntimeClass of the GPU workspaces' pods (roles/kubernetes_addons declares it with
    # the NVIDIA device plugin; its handler is gpu_node's containerd runtime): it gives the
    # container the GPU's driver libraries. None: the pods run with the default runtime
    # (the lab, whose advertised GPUs have no device behind them).
    gpu_runtime_class: str | None = "nvidia"
    image_registry: str
    kubernetes_version: str = "1.33"
    # The rack runs OpenStack (issue 18 brings it to the lab): false declares only the
    # Kubernetes half of the platform and of every tenant.
    openstack: bool = True
    # Every app's CPU and memory requests, in percent of what the tenant program asks
    # (the limits stay; GPUs are whole devices and stay too). 100 on a rack: what a pod
    # asks is reserved for it. The lab's worker is a container on a 2-core machine.
    kubernetes_requests_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 100
    # The identity provider (docs/identity.md): one realm holds every tenant's groups and
    # clients; kube-apiserver trusts its issuer for this client id (the audience).
    keycloak_realm: str = "werkraum"
    keycloak_kubernetes_client: str = "kubernetes"
    # From the keycloak role's hand-over; None before the service nodes were converged.
    keycloak: KeycloakSpec | None = None

    @property
    def oidc_issuer(self) -> str:
        """The issuer every app and kube-apiserver trusts ("" before Keycloak is known)."""
        return f"{self.keycloak.url}/realms/{self.keycloak_realm}" if self.keycloak else ""

    def require_keycloak(self) -> KeycloakSpec:
        if self.keycloak is None:
            raise WerkraumError(
                "the platform's Keycloak is not known yet: its realm, the tenants' groups and their apps' "
                "OIDC clients need it",
                hint="converge the service nodes first (ansible/service.yml): the keycloak role hands its URL "
                "and administrator to the controller (keycloak_fetch_dir, ~/.werkraum/keycloak by default; "
                "WERKRAUM_KEYCLOAK_FETCH_DIR names another)",
            )
        return self.keycloak

    @property
    def rbd_storage_classes(self) -> list[StorageClassSpec]:
        return [s for s in self.storage_classes if s.provisioner == "ceph-rbd"]

    @property
    def default_storage_class(self) -> str:
        return next((s.name for s in self.storage_classes if s.default), self.storage_classes[0].name)

    def settings_outputs(self) -> dict[str, Any]:
        """The platform stack's outputs that come from these settings (the rest are resource ids)."""
        return {
            "management_cidr": self.management_cidr,
            "dns_nameservers": self.dns_nameservers,
            "storage_class": self.default_storage_class,
            "ingress_class": self.ingress_class,
            "ingress_namespace": self.ingress_namespace,
            "certificate_resolver": self.certificate_resolver,
            "gpu_runtime_class": self.gpu_runtime_class or "",
            "image_registry": self.image_registry,
            "domain": self.domain,
            "requests_percent": self.kubernetes_requests_percent,
            "oidc_issuer": self.oidc_issuer,
        }

    def reserved_networks(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        """Ranges no tenant network may overlap, with what each is."""
        named = [("management network", self.management_cidr), ("external network", self.external_network.cidr)]
        named += [(f"reserved range {c}", c) for c in self.reserved_cidrs]
        return [(what, ipaddress.IPv4Network(c)) for what, c in named]


def platform_file(stack: str = "rack") -> Path:
    return repo_root() / "pulumi" / "platform" / f"Pulumi.{stack}.yaml"


def rack_settings(inventory: str, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings derived from the rack inventory ``inventory`` (relative to the checkout), with their sources."""
    from werkraum.rack.facts import load_rack_facts

    folder = Path(inventory) if Path(inventory).is_absolute() else repo_root() / inventory
    if not folder.is_dir():
        raise WerkraumError(
            f"{where}: platform:inventory {inventory!r} is not a folder",
            hint="name the rack inventory folder, relative to the checkout (e.g. inventories/office)",
        )
    facts = load_rack_facts(folder)
    values = dict(facts.settings)
    registry = str(values.pop("registry"))
    values["image_registry"] = f"{registry}/werkraum"
    values["reserved_cidrs"] = [values.pop("kubernetes_pod_cidr"), values.pop("kubernetes_service_cidr")]
    sources = dict(facts.sources)
    sources["image_registry"] = sources.pop("registry")
    sources["reserved_cidrs"] = f"{sources.pop('kubernetes_pod_cidr')}, {sources.pop('kubernetes_service_cidr')}"
    values["ceph_expected"] = facts.ceph_expected
    sources["ceph_expected"] = f"{inventory}: its ceph group and ceph_deploy"
    if facts.ceph is not None:
        values["ceph_cluster_id"] = facts.ceph.fsid
        values["ceph_monitors"] = list(facts.ceph.monitors)
        values["ceph_kubernetes_key"] = facts.ceph.kubernetes_key
        for key in ("ceph_cluster_id", "ceph_monitors", "ceph_kubernetes_key"):
            sources[key] = f"{facts.ceph.directory} (handed over by the ceph role)"
    if facts.keycloak is not None:
        k = facts.keycloak
        values["keycloak"] = {
            "url": k.url,
            "admin_user": k.admin_user,
            "admin_password": k.admin_password,
            "ca_file": str(k.ca_file),
            "address": k.address,
        }
        sources["keycloak"] = f"{k.directory} (handed over by the keycloak role)"
    return values, sources


def build_platform(product: dict[str, Any], inventory: str | None, where: str) -> PlatformSpec:
    """The product's choices completed by the rack's facts; errors name ``where`` and the field."""
    values = dict(product)
    if inventory:
        derived, _ = rack_settings(inventory, where)
        typed_twice = sorted(set(values) & (set(derived) - {"reserved_cidrs"}))
        if typed_twice:
            raise WerkraumError(
                f"{where}: platform:spec sets {', '.join(typed_twice)}, which come from the rack ({inventory})",
                hint="remove them here: each rack fact is written once, in the inventory's group_vars/all",
            )
        derived["reserved_cidrs"] = derived["reserved_cidrs"] + list(values.pop("reserved_cidrs", []))
        values.update(derived)
    try:
        return PlatformSpec.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise WerkraumError(f"{where}: platform:spec.{field}: {first['msg']}") from None


def read_platform_file(path: Path) -> tuple[dict[str, Any], str | None]:
    """The ``platform:spec`` mapping and ``platform:inventory`` of a settings file."""
    try:
        raw = yaml.safe_load(path.read_text())
        product = raw["config"]["platform:spec"]
        inventory = raw["config"].get("platform:inventory")
        if not isinstance(product, dict):
            raise TypeError("platform:spec is not a mapping")
    except OSError as exc:
        raise WerkraumError(f"{path}: cannot read the platform settings ({exc.strerror})") from None
    except (KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise WerkraumError(f"{path}: no `config: platform:spec:` mapping ({exc})") from None
    return product, inventory


def load_platform(path: Path | None = None) -> PlatformSpec:
    path = path or platform_file()
    product, inventory = read_platform_file(path)
    return build_platform(product, inventory, str(path))
