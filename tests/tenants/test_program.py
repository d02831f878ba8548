"""The tenant and platform programs under pulumi.runtime.set_mocks: what each component declares.

An offline plan: it shows the resources and their inputs, not what a cloud does with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.infra.offline import OfflinePlan, Recorded, run_offline
from werkraum.infra.plan import offline_plan
from werkraum.infra.policies import QUOTA_TYPES, quota_fields
from werkraum.infra.programs import platform_program
from werkraum.tenants.fleet import load_fleet


def one(plan: OfflinePlan, suffix: str, name: str | None = None) -> Recorded:
    found = [r for r in plan.by_type(suffix) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def k8s(plan: OfflinePlan, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in plan.resources if r.is_kubernetes and r.inputs.get("kind") == kind]


def test_identity(plans: dict[str, OfflinePlan]) -> None:
    plan = plans["mustermann"]
    project = one(plan, ":Project")
    assert project.inputs["name"] == "tenant-mustermann"
    assert project.protect
    assert "werkraum-plan=gold" in project.inputs["tags"]
    group = one(plan, ":GroupV3")
    assert group.inputs["name"] == "tenant-mustermann-admins"
    assignment = one(plan, ":RoleAssignment")
    assert assignment.inputs["groupId"] == "mustermann-admins-id"
    assert assignment.inputs["projectId"] == "mustermann-project-id"
    assert assignment.inputs["roleId"] == "getrole-member"


def test_network(plans: dict[str, OfflinePlan]) -> None:
    plan = plans["mustermann"]
    subnet = one(plan, ":Subnet")
    assert subnet.inputs["cidr"] == "10.100.12.0/24"
    assert subnet.inputs["gatewayIp"] == "10.100.12.1"
    assert subnet.inputs["tenantId"] == "mustermann-project-id"
    # The platform's DNS servers, as the rack inventory declares them (read here without werkraum's code).
    facts = yaml.safe_load((ROOT / "inventories" / "office" / "group_vars" / "all" / "platform.yml").read_text())
    assert subnet.inputs["dnsNameservers"] == facts["werkraum_dns_servers"] == ["10.10.0.1"]
    router = one(plan, ":Router")
    assert router.inputs["externalNetworkId"] == "external-network-id"
    assert one(plan, ":RouterInterface").inputs == {
        "routerId": "mustermann-router-id",
        "subnetId": "mustermann-subnet-id",
    }
    group = one(plan, ":SecGroup")
    assert group.inputs["deleteDefaultRules"] is True
    ingress = [r.inputs for r in plan.by_type(":SecGroupRule") if r.inputs["direction"] == "ingress"]
    assert {r.get("remoteIpPrefix") for r in ingress} == {"10.100.12.0/24", "10.10.0.0/24"}
    assert {r.get("portRangeMin") for r in ingress if r.get("protocol") == "tcp"} == {22}


def test_quotas_set_every_field_from_the_file(plans: dict[str, OfflinePlan]) -> None:
    plan = plans["mustermann"]
    for type_, args_class in QUOTA_TYPES.items():
        quota = one(plan, type_)
        assert set(quota_fields(args_class)) <= set(quota.inputs), type_
        assert quota.inputs["projectId"] == "mustermann-project-id"
    compute = one(plan, ":QuotaSetV2").inputs
    assert (compute["cores"], compute["ram"], compute["instances"], compute["floatingIps"]) == (64, 256 * 1024, 20, 2)
    assert one(plan, ":QuotaV2").inputs["floatingip"] == 2
    assert one(plan, ":QuoteSetV3").inputs["gigabytes"] == 2000
    gpu = one(plan, ":LimitV3").inputs
    assert (gpu["resourceName"], gpu["resourceLimit"], gpu["serviceId"]) == (
        "class:CUSTOM_NVIDIA_H100",
        2,
        "nova-service-id",
    )
    access = plan.by_type(":FlavorAccess")
    assert {r.inputs["flavorId"] for r in access} == {"flavor-g1.h100-id", "flavor-g2.h100-id"}


def test_no_gpu_flavors_without_gpus(stacks: Path) -> None:
    write_tenant(stacks, "minimal", MINIMAL)
    fleet = load_fleet(stacks)
    plan = offline_plan(fleet.by_slug("minimal"), fleet.platform, stacks)
    assert plan.by_type(":FlavorAccess") == []
    assert one(plan, ":LimitV3").inputs["resourceLimit"] == 0
    assert k8s(plan, "ResourceQuota")[0]["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"


def test_kubernetes_namespace_and_guard_rails(plans: dict[str, OfflinePlan]) -> None:
    plan = plans["weber"]
    (ns,) = k8s(plan, "Namespace")
    assert ns["metadata"]["name"] == "tenant-weber"
    assert ns["metadata"]["labels"]["werkraum.io/tenant"] == "weber"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert one(plan, ":Namespace").protect
    hard = k8s(plan, "ResourceQuota")[0]["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "6"
    assert hard["requests.cpu"] == "192"
    assert hard["requests.memory"] == "768Gi"
    policies = {p["metadata"]["name"] for p in k8s(plan, "NetworkPolicy")}
    assert {"default-deny", "allow-same-namespace", "allow-ingress-controller", "allow-dns"} <= policies
    assert "allow-https-out" in policies  # Weber uses connectors
    (binding,) = k8s(plan, "RoleBinding")
    assert binding["roleRef"]["name"] == "admin"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oidc:tenant-weber-admins"}
    ]
    assert k8s(plan, "LimitRange")[0]["metadata"]["namespace"] == "tenant-weber"


def test_no_https_egress_without_connectors(stacks: Path) -> None:
    write_tenant(stacks, "minimal", MINIMAL)
    fleet = load_fleet(stacks)
    plan = offline_plan(fleet.by_slug("minimal"), fleet.platform, stacks)
    assert "allow-https-out" not in {p["metadata"]["name"] for p in k8s(plan, "NetworkPolicy")}


def test_workspaces_and_features(plans: dict[str, OfflinePlan]) -> None:
    plan = plans["mustermann"]
    names = {d["metadata"]["name"] for d in k8s(plan, "Deployment")}
    assert names == {"app-chat", "app-files", "app-tables", "app-meetings", "app-scheduler", "ws-data-team"}
    ws = next(d for d in k8s(plan, "Deployment") if d["metadata"]["name"] == "ws-data-team")
    container = ws["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ws["spec"]["template"]["metadata"]["annotations"]["werkraum.io/members"] == "anna@mustermann.example"
    pvc = one(plan, ":PersistentVolumeClaim")
    assert pvc.protect
    assert pvc.inputs["spec"]["storageClassName"] == "ceph-rbd"
    (ingress,) = k8s(plan, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["ki.mustermann.example"], "secretName": "tenant-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "werkraum-ca"
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/", "/files", "/tables", "/meetings", "/scheduler", "/workspaces/data-team"}


def test_branding_is_configuration(plans: dict[str, OfflinePlan]) -> None:
    branding = next(c for c in k8s(plans["mustermann"], "ConfigMap") if c["metadata"]["name"] == "branding")["data"]
    assert branding["ASSISTANT_NAME"] == "Mustermann AI"
    assert branding["PRIMARY_COLOR"] == "#1E40AF"
    assert branding["SECONDARY_COLOR"] == "#3B82F6"
    assert branding["WELCOME_MESSAGE"] == "Willkommen bei Mustermann AI"
    assert branding["mustermann.svg"] == (ROOT / "stacks/logos/mustermann.svg").read_text()
    connectors = next(c for c in k8s(plans["mustermann"], "ConfigMap") if c["metadata"]["name"] == "connectors")
    assert connectors["data"]["ENABLED_CONNECTORS"] == "confluence,hubspot,sharepoint"


def test_partner_outputs(plans: dict[str, OfflinePlan]) -> None:
    out = plans["mustermann"].outputs
    assert out["project_id"] == "mustermann-project-id"
    assert out["namespace"] == "tenant-mustermann"
    assert out["network"]["subnet_cidr"] == "10.100.12.0/24"
    assert out["urls"]["chat"] == "https://ki.mustermann.example/"
    assert out["urls"]["workspace/data-team"] == "https://ki.mustermann.example/workspaces/data-team/"
    assert out["quotas"]["gpus"] == 2
    assert out["monthly_seat_revenue_eur"] == 500 * 27
    assert out["protected"] is True


def test_offboarding_lifts_protection(stacks: Path) -> None:
    write_tenant(stacks, "minimal", MINIMAL + "  tenant:offboard: true\n")
    fleet = load_fleet(stacks)
    plan = offline_plan(fleet.by_slug("minimal"), fleet.platform, stacks)
    assert not any(r.protect for r in plan.resources)
    assert plan.outputs["protected"] is False


def test_invalid_file_never_reaches_the_program(stacks: Path) -> None:
    write_tenant(stacks, "minimal", MINIMAL.replace("plan: bronze", "plan: diamond"))
    fleet = load_fleet(stacks)
    with pytest.raises(Exception, match="tenant minimal is not valid"):
        offline_plan(fleet.by_slug("minimal"), fleet.platform, stacks)


def test_platform_program() -> None:
    config = load_fleet(ROOT / "stacks").platform.model_dump()
    plan = run_offline(
        platform_program,
        project="werkraum-platform",
        stack="rack",
        config={"platform:spec": config},
        outputs=lambda p: p.outputs,
    )
    ext = one(plan, ":Network", "external")
    assert ext.inputs["external"] is True and ext.protect
    flavors = {r.inputs["name"]: r.inputs for r in plan.by_type(":Flavor")}
    assert flavors["g1.h100"]["isPublic"] is False
    assert flavors["g1.h100"]["extraSpecs"] == {"resources:CUSTOM_NVIDIA_H100": "1"}
    assert flavors["m1.small"]["isPublic"] is True
    (sc,) = k8s(plan, "StorageClass")
    assert sc["provisioner"] == "rbd.csi.ceph.com" and sc["parameters"]["pool"] == "kubernetes"
    assert k8s(plan, "IngressClass")[0]["spec"]["controller"] == "k8s.io/ingress-nginx"
    assert set(plan.outputs) >= {"external_network_id", "flavor_ids", "compute_service_id", "storage_class"}
    # Keystone accepts the tenants' GPU limits only under a registered limit (make e2e found it).
    registered = one(plan, ":RegisteredLimitV3").inputs
    assert registered["resourceName"] == "class:CUSTOM_NVIDIA_H100"
    assert registered["defaultLimit"] == 0
