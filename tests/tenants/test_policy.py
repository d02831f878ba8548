"""The policy pack's rules: unit-tested one by one, then run over every fixture tenant (stacks/: test_examples.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from tests.fixtures import tenant_slugs
from werkraum.infra.offline import OfflinePlan
from werkraum.infra.policies import (
    Res,
    check_all,
    complete_openstack_quotas,
    kubernetes_quota_complete,
    no_world_open_ingress,
    platform_images,
    tenant_isolation,
    tenant_labels,
)
from werkraum.infra.policy_pack import resource_policy, tenant_policies, validate_isolation
from werkraum.tenants.fleet import Fleet

RULE = "openstack:networking/secGroupRule:SecGroupRule"


@pytest.mark.parametrize(
    ("props", "violates"),
    [
        ({"direction": "ingress", "remoteIpPrefix": "0.0.0.0/0"}, True),
        ({"direction": "ingress", "remoteIpPrefix": "::/0"}, True),
        ({"direction": "ingress"}, True),  # no source at all means every source
        ({"direction": "ingress", "remoteIpPrefix": "10.10.0.0/24"}, False),
        ({"direction": "ingress", "remoteGroupId": "sg-1"}, False),
        ({"direction": "egress", "remoteIpPrefix": "0.0.0.0/0"}, False),
    ],
)
def test_no_world_open_ingress(props: dict[str, Any], violates: bool) -> None:
    assert bool(no_world_open_ingress(RULE, props)) is violates


def test_complete_quotas_names_missing_fields() -> None:
    full = {
        "projectId": "p",
        "floatingip": 1,
        "network": 1,
        "port": 1,
        "rbacPolicy": 1,
        "router": 1,
        "securityGroup": 1,
        "securityGroupRule": 1,
        "subnet": 1,
        "subnetpool": 0,
    }
    assert complete_openstack_quotas("openstack:networking/quotaV2:QuotaV2", full) == []
    partial = {k: v for k, v in full.items() if k not in ("port", "subnetpool")}
    (msg,) = complete_openstack_quotas("openstack:networking/quotaV2:QuotaV2", partial)
    assert "port" in msg and "subnetpool" in msg


def test_kubernetes_quota_needs_gpus() -> None:
    rq = "kubernetes:core/v1:ResourceQuota"
    hard = {"requests.cpu": "1", "requests.memory": "1Gi", "requests.storage": "1Gi"}
    assert kubernetes_quota_complete(rq, {"spec": {"hard": hard}}) == ["ResourceQuota lacks requests.nvidia.com/gpu"]
    assert kubernetes_quota_complete(rq, {"spec": {"hard": {**hard, "requests.nvidia.com/gpu": "0"}}}) == []


def test_labels_on_objects_and_pod_templates() -> None:
    dep = {"kind": "Deployment", "metadata": {"labels": {"werkraum.io/tenant": "a"}}, "spec": {"template": {}}}
    assert tenant_labels("kubernetes:apps/v1:Deployment", dep) == [
        "spec.template.metadata.labels lacks werkraum.io/tenant"
    ]
    assert tenant_labels("kubernetes:core/v1:ConfigMap", {"metadata": {}}) == [
        "metadata.labels lacks werkraum.io/tenant"
    ]


def _ns(name: str) -> Res:
    return Res("kubernetes:core/v1:Namespace", name, {"kind": "Namespace", "metadata": {"name": name}})


DENY = Res(
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "deny",
    {
        "kind": "NetworkPolicy",
        "metadata": {"namespace": "t"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    },
)


def test_isolation() -> None:
    assert tenant_isolation([_ns("t"), DENY]) == []
    stray = Res("kubernetes:core/v1:ConfigMap", "cm", {"kind": "ConfigMap", "metadata": {"namespace": "other"}})
    assert tenant_isolation([_ns("t"), DENY, stray]) == ["cm: ConfigMap is outside the tenant namespace t"]
    assert "no default-deny NetworkPolicy" in tenant_isolation([_ns("t")])[0]
    crb = Res("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "crb", {"kind": "ClusterRoleBinding"})
    assert any("cluster-wide" in m for m in tenant_isolation([_ns("t"), DENY, crb]))
    net = Res("openstack:networking/network:Network", "net", {"name": "n"})
    assert tenant_isolation([net]) == ["net: Network is not placed in the tenant's project (tenantId)"]


def test_pack_wrappers_report_through_pulumi_policy() -> None:
    reports: list[str] = []
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    policy = resource_policy("no-world-open-ingress")
    args = ResourceValidationArgs(
        RULE, {"direction": "ingress", "remoteIpPrefix": "0.0.0.0/0"}, "urn:x", "r", opts, None
    )
    policy.validate(args, lambda message, urn=None: reports.append(message))
    assert reports and "open to the world" in reports[0]
    resource = PolicyResource("openstack:networking/network:Network", {}, "urn:n", "net", opts, None, None, [], {})
    validate_isolation(StackValidationArgs([resource]), lambda message, urn=None: reports.append(message))
    assert any("tenantId" in r for r in reports)
    assert {p.name for p in tenant_policies()} == {
        "no-world-open-ingress",
        "complete-openstack-quotas",
        "kubernetes-quota-complete",
        "tenant-labels",
        "platform-images",
        "tenant-isolation",
    }


@pytest.mark.parametrize("slug", tenant_slugs())
def test_every_fixture_tenant_passes_the_pack(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    resources = [Res(r.type, r.name, r.inputs) for r in plans[slug].resources if r.custom]
    assert check_all(resources, fleet.platform.image_registry) == []


def test_an_image_from_outside_the_platform_registry_is_refused() -> None:
    pod = {"containers": [{"name": "app", "image": "docker.io/library/nginx:1.27"}]}
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": pod}}}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}
    registry = "registry.werkraum.example/werkraum"
    for props in (deployment, cron, {"kind": "Pod", "spec": pod}):
        (found,) = platform_images("kubernetes:apps/v1:Deployment", props, registry)
        assert "docker.io/library/nginx:1.27 is not from the platform registry" in found
    # a look-alike host is not the registry
    fake = {"kind": "Pod", "spec": {"containers": [{"name": "x", "image": f"{registry}.evil.example/x:1"}]}}
    assert platform_images("kubernetes:core/v1:Pod", fake, registry)
    good = {"kind": "Pod", "spec": {"containers": [{"name": "x", "image": f"{registry}/chat:1.4.2"}]}}
    assert platform_images("kubernetes:core/v1:Pod", good, registry) == []
