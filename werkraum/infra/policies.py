"""The tenant policy pack's rules, as plain functions over (type, props).

They run in two places: in-process over the offline plan before the engine is
called (``violations``, werkraum/infra/driver.py: every preview and up of a tenant
stack), and inside the engine, where `pulumi/policy` wraps them in a pulumi-policy
PolicyPack that the driver passes to preview and up when the engine can run a
Python policy pack. Props are what providers receive: camelCased.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi_openstack as openstack

from werkraum.infra.naming import TENANT_LABEL

WORLD = ("0.0.0.0/0", "::/0")
QUOTA_TYPES: dict[str, type] = {
    "openstack:compute/quotaSetV2:QuotaSetV2": openstack.compute.QuotaSetV2Args,
    "openstack:networking/quotaV2:QuotaV2": openstack.networking.QuotaV2Args,
    "openstack:blockstorage/quoteSetV3:QuoteSetV3": openstack.blockstorage.QuoteSetV3Args,
}
# Resources that must be created inside the tenant's OpenStack project.
PROJECT_SCOPED = (
    "openstack:networking/network:Network",
    "openstack:networking/subnet:Subnet",
    "openstack:networking/router:Router",
    "openstack:networking/secGroup:SecGroup",
    "openstack:networking/secGroupRule:SecGroupRule",
)
K8S_QUOTA_KEYS = ("requests.cpu", "requests.memory", "requests.storage", "requests.nvidia.com/gpu")
CLUSTER_SCOPED = ("Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "IngressClass")


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    props: Mapping[str, Any]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def quota_fields(args_class: type) -> list[str]:
    """Every quota field the provider knows (so a field added to the provider is caught too)."""
    params = inspect.signature(args_class.__init__).parameters  # type: ignore[misc]
    return [_camel(p) for p in params if p not in ("self", "__self__", "project_id", "region")]


# --- resource rules: (type, props) -> violations ---------------------------------


def no_world_open_ingress(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != "openstack:networking/secGroupRule:SecGroupRule" or props.get("direction") != "ingress":
        return []
    prefix = props.get("remoteIpPrefix")
    if prefix in WORLD or (not prefix and not props.get("remoteGroupId") and not props.get("remoteAddressGroupId")):
        return [f"ingress rule is open to the world ({prefix or 'no remote prefix'}): name a source network or group"]
    return []


def complete_openstack_quotas(type_: str, props: Mapping[str, Any]) -> list[str]:
    args_class = QUOTA_TYPES.get(type_)
    if args_class is None:
        return []
    missing = [f for f in quota_fields(args_class) if props.get(f) is None]
    if not props.get("projectId"):
        missing.insert(0, "projectId")
    return [f"quota fields not set (an unset field is created as 0): {', '.join(missing)}"] if missing else []


def kubernetes_quota_complete(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != "kubernetes:core/v1:ResourceQuota":
        return []
    hard = (props.get("spec") or {}).get("hard") or {}
    missing = [k for k in K8S_QUOTA_KEYS if k not in hard]
    return [f"ResourceQuota lacks {', '.join(missing)}"] if missing else []


def tenant_labels(type_: str, props: Mapping[str, Any]) -> list[str]:
    if not type_.startswith("kubernetes:") or props.get("kind") in ("StorageClass", "IngressClass"):
        return []
    out = []
    if not ((props.get("metadata") or {}).get("labels") or {}).get(TENANT_LABEL):
        out.append(f"metadata.labels lacks {TENANT_LABEL}")
    template = (props.get("spec") or {}).get("template")
    if template is not None and not ((template.get("metadata") or {}).get("labels") or {}).get(TENANT_LABEL):
        out.append(f"spec.template.metadata.labels lacks {TENANT_LABEL}")
    return out


RESOURCE_RULES = {
    "no-world-open-ingress": (no_world_open_ingress, "Security group rules never admit the whole internet."),
    "complete-openstack-quotas": (complete_openstack_quotas, "Nova, Neutron and Cinder quotas set every field."),
    "kubernetes-quota-complete": (kubernetes_quota_complete, "ResourceQuota limits CPU, memory, storage and GPUs."),
    "tenant-labels": (tenant_labels, f"Every Kubernetes object and pod carries {TENANT_LABEL}."),
}


# --- image rule: every image from the platform's registry --------------------------------

POD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
IMAGE_REGISTRY_ENV = "WERKRAUM_IMAGE_REGISTRY"  # how the driver tells the engine's pack the registry


def _pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    kind, spec = props.get("kind"), props.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def platform_images(type_: str, props: Mapping[str, Any], registry: str) -> list[str]:
    """Every container of a pod comes from the platform's registry (GDPR, air-gapped racks: docs/mirror.md)."""
    if not type_.startswith("kubernetes:") or props.get("kind") not in POD_KINDS:
        return []
    pod = _pod_spec(props)
    out = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(field) or []:
            image = str(container.get("image") or "")
            if not image.startswith(f"{registry.rstrip('/')}/"):
                out.append(
                    f"{field} {container.get('name', '?')}: image {image or '(none)'} is not from the platform "
                    f"registry {registry}: mirror it there (docs/mirror.md) and name it by that reference"
                )
    return out


# --- stack rule ------------------------------------------------------------------------


def tenant_isolation_findings(resources: Iterable[Res]) -> list[tuple[Res | None, str]]:
    """One namespace per tenant stack with a default-deny policy; OpenStack objects inside the tenant project.

    Each finding names the resource it is about, or None for the stack as a whole.
    """
    resources = list(resources)
    out: list[tuple[Res | None, str]] = []
    k8s = [r for r in resources if r.type.startswith("kubernetes:")]
    namespaces = [r for r in k8s if r.props.get("kind") == "Namespace"]
    if k8s and len(namespaces) != 1:
        out.append((None, f"a tenant stack declares exactly one Namespace (found {len(namespaces)})"))
    ns_name = ((namespaces[0].props.get("metadata") or {}).get("name")) if namespaces else None
    for r in k8s:
        kind = r.props.get("kind")
        if kind in ("ClusterRole", "ClusterRoleBinding"):
            out.append((r, f"tenant stacks may not declare cluster-wide {kind}s"))
        elif kind not in CLUSTER_SCOPED and (r.props.get("metadata") or {}).get("namespace") != ns_name:
            out.append((r, f"{kind} is outside the tenant namespace {ns_name}"))
    if k8s and not any(_is_default_deny(r) for r in k8s):
        out.append((None, "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress)"))
    for r in resources:
        if r.type in PROJECT_SCOPED and not r.props.get("tenantId"):
            out.append((r, f"{r.type.rsplit(':', 1)[-1]} is not placed in the tenant's project (tenantId)"))
    return out


def tenant_isolation(resources: Iterable[Res]) -> list[str]:
    """The isolation findings as messages (`name: message` where a resource is named)."""
    return [f"{r.name}: {msg}" if r is not None else msg for r, msg in tenant_isolation_findings(resources)]


def _is_default_deny(r: Res) -> bool:
    spec = r.props.get("spec") or {}
    return (
        r.props.get("kind") == "NetworkPolicy"
        and not (spec.get("podSelector") or {})
        and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


@dataclass(frozen=True)
class Violation:
    """One rule broken: which rule, on which resource (None: the stack as a whole), and why."""

    rule: str
    resource: Res | None
    message: str

    def __str__(self) -> str:
        where = f" on {self.resource.type} {self.resource.name}" if self.resource is not None else ""
        return f"policy '{self.rule}'{where}: {self.message}"


def violations(resources: Iterable[Res], image_registry: str) -> list[Violation]:
    """Every rule of the pack over a stack's resources, as pulumi/policy runs them in the engine;
    ``image_registry``: the platform's (PlatformSpec.image_registry), the only one pods may pull from."""
    resources = list(resources)
    out = [
        Violation(rule, r, msg)
        for r in resources
        for rule, (fn, _) in RESOURCE_RULES.items()
        for msg in fn(r.type, r.props)
    ]
    out += [
        Violation("platform-images", r, msg)
        for r in resources
        for msg in platform_images(r.type, r.props, image_registry)
    ]
    out += [Violation("tenant-isolation", r, msg) for r, msg in tenant_isolation_findings(resources)]
    return out


def check_all(resources: Iterable[Res], image_registry: str) -> list[str]:
    """Every rule over a stack's resources: `rule: resource: message` lines (empty when compliant)."""
    return [
        f"{v.rule}: {v.resource.name}: {v.message}" if v.resource is not None else f"{v.rule}: {v.message}"
        for v in violations(resources, image_registry)
    ]
