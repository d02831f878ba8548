"""The platform's shared settings (pulumi/platform/Pulumi.<stack>.yaml, `platform:spec`).

Tenant validation reads the reserved ranges and the tenant prefix pool from it;
the platform Pulumi program creates what tenants share from it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

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
    name: str
    pool: str
    default: bool = False


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
    ceph_cluster_id: str
    ingress_class: str = "nginx"
    ingress_namespace: str = "ingress-nginx"
    cluster_issuer: str = "werkraum-ca"
    image_registry: str
    kubernetes_version: str = "1.33"

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
            "cluster_issuer": self.cluster_issuer,
            "image_registry": self.image_registry,
            "domain": self.domain,
        }

    def reserved_networks(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        """Ranges no tenant network may overlap, with what each is."""
        named = [("management network", self.management_cidr), ("external network", self.external_network.cidr)]
        named += [(f"reserved range {c}", c) for c in self.reserved_cidrs]
        return [(what, ipaddress.IPv4Network(c)) for what, c in named]


def platform_file(stack: str = "rack") -> Path:
    return repo_root() / "pulumi" / "platform" / f"Pulumi.{stack}.yaml"


def load_platform(path: Path | None = None) -> PlatformSpec:
    path = path or platform_file()
    try:
        raw = yaml.safe_load(path.read_text())
        return PlatformSpec.model_validate(raw["config"]["platform:spec"])
    except OSError as exc:
        raise WerkraumError(f"{path}: cannot read the platform settings ({exc.strerror})") from None
    except (KeyError, TypeError, yaml.YAMLError) as exc:
        raise WerkraumError(f"{path}: no `config: platform:spec:` mapping ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WerkraumError(f"{path}: platform:spec.{where}: {first['msg']}") from None
