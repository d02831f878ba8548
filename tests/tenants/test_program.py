"""The tenant and platform programs under pulumi.runtime.set_mocks: what each component declares.

An offline plan: it shows the resources and their inputs, not what a cloud does with them.
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.fixtures import tenant_slugs
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.infra.offline import OfflinePlan, Recorded, run_offline
from werkraum.infra.plan import mock_platform_outputs, offline_plan
from werkraum.infra.policies import QUOTA_TYPES, quota_fields
from werkraum.infra.programs import platform_program
from werkraum.tenants.fleet import Fleet, load_fleet
from werkraum.tenants.model import TenantSpec
from werkraum.tenants.plans import PLANS, WORKSPACE_PROFILES

# Every test over the fixture tenants runs for each of them: their plans, quotas, features,
# connectors, logos and workspaces differ (tests/fixtures/tenants), and the expected values
# are read from each file.
each_tenant = pytest.mark.parametrize("slug", tenant_slugs())


def one(plan: OfflinePlan, suffix: str, name: str | None = None) -> Recorded:
    found = [r for r in plan.by_type(suffix) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def k8s(plan: OfflinePlan, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in plan.resources if r.is_kubernetes and r.inputs.get("kind") == kind]


def spec_of(fleet: Fleet, slug: str) -> TenantSpec:
    spec = fleet.by_slug(slug).spec
    assert spec is not None
    return spec


def mock_id(resource: Recorded) -> str:
    """The id the offline plan's mocks give a resource (werkraum/infra/offline.py)."""
    return f"{resource.name}-id"


@each_tenant
def test_identity(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    project = one(plan, ":Project")
    assert project.inputs["name"] == f"tenant-{slug}"
    assert project.protect
    assert f"werkraum-plan={spec_of(fleet, slug).plan}" in project.inputs["tags"]
    group = one(plan, ":GroupV3")
    assert group.inputs["name"] == f"tenant-{slug}-admins"
    assignment = one(plan, ":RoleAssignment")
    assert assignment.inputs["groupId"] == mock_id(group)
    assert assignment.inputs["projectId"] == mock_id(project)
    assert assignment.inputs["roleId"] == "getrole-member"  # the mocks' answer to getRole(name="member")


@each_tenant
def test_network(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    cidr = spec_of(fleet, slug).network.cidr
    assert cidr is not None
    project = one(plan, ":Project")
    subnet = one(plan, ":Subnet")
    assert subnet.inputs["cidr"] == cidr
    assert subnet.inputs["gatewayIp"] == str(next(ipaddress.IPv4Network(cidr).hosts()))
    assert subnet.inputs["tenantId"] == mock_id(project)
    # The platform's DNS servers, as the rack inventory the platform names declares them (read without werkraum's code).
    settings = yaml.safe_load((ROOT / "pulumi" / "platform" / "Pulumi.rack.yaml").read_text())["config"]
    facts_file = ROOT / settings["platform:inventory"] / "group_vars" / "all" / "platform.yml"
    assert subnet.inputs.get("dnsNameservers", []) == yaml.safe_load(facts_file.read_text())["werkraum_dns_servers"]
    router = one(plan, ":Router")
    assert router.inputs["externalNetworkId"] == mock_platform_outputs(fleet.platform)["external_network_id"]
    assert one(plan, ":RouterInterface").inputs == {"routerId": mock_id(router), "subnetId": mock_id(subnet)}
    group = one(plan, ":SecGroup")
    assert group.inputs["deleteDefaultRules"] is True
    ingress = [r.inputs for r in plan.by_type(":SecGroupRule") if r.inputs["direction"] == "ingress"]
    assert {r.get("remoteIpPrefix") for r in ingress} == {cidr, fleet.platform.management_cidr}
    assert {r.get("portRangeMin") for r in ingress if r.get("protocol") == "tcp"} == {22}


@each_tenant
def test_quotas_set_every_field_from_the_file(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    quotas = spec_of(fleet, slug).effective_quotas()
    project_id = mock_id(one(plan, ":Project"))
    for type_, args_class in QUOTA_TYPES.items():
        quota = one(plan, type_)
        assert set(quota_fields(args_class)) <= set(quota.inputs), type_
        assert quota.inputs["projectId"] == project_id
    compute = one(plan, ":QuotaSetV2").inputs
    assert (compute["cores"], compute["ram"], compute["instances"], compute["floatingIps"]) == (
        quotas["vcpus"],
        quotas["ram_gib"] * 1024,
        quotas["instances"],
        quotas["floating_ips"],
    )
    assert one(plan, ":QuotaV2").inputs["floatingip"] == quotas["floating_ips"]
    assert one(plan, ":QuoteSetV3").inputs["gigabytes"] == quotas["volume_gib"]
    platform = mock_platform_outputs(fleet.platform)
    gpu = one(plan, ":LimitV3").inputs
    assert (gpu["resourceName"], gpu["resourceLimit"], gpu["serviceId"]) == (
        f"class:{fleet.platform.gpu_resource_class}",
        quotas["gpus"],
        platform["compute_service_id"],
    )
    gpu_flavors = {platform["flavor_ids"][f.name] for f in fleet.platform.flavors if f.gpus}
    assert gpu_flavors and quotas["gpus"] > 0  # the fixture tenants all have GPUs; MINIMAL (below) has none
    assert {r.inputs["flavorId"] for r in plan.by_type(":FlavorAccess")} == gpu_flavors


def test_no_gpu_flavors_without_gpus(stacks: Path) -> None:
    write_tenant(stacks, "minimal", MINIMAL)
    fleet = load_fleet(stacks)
    plan = offline_plan(fleet.by_slug("minimal"), fleet.platform, stacks)
    assert plan.by_type(":FlavorAccess") == []
    assert one(plan, ":LimitV3").inputs["resourceLimit"] == 0
    assert k8s(plan, "ResourceQuota")[0]["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"


@each_tenant
def test_kubernetes_namespace_and_guard_rails(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    spec = spec_of(fleet, slug)
    quotas = spec.effective_quotas()
    (ns,) = k8s(plan, "Namespace")
    assert ns["metadata"]["name"] == f"tenant-{slug}"
    assert ns["metadata"]["labels"]["werkraum.io/tenant"] == slug
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert one(plan, "kubernetes:core/v1:Namespace").protect
    hard = k8s(plan, "ResourceQuota")[0]["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == str(quotas["gpus"])
    assert hard["requests.cpu"] == str(quotas["vcpus"])
    assert hard["requests.memory"] == f"{quotas['ram_gib']}Gi"
    policies = {p["metadata"]["name"] for p in k8s(plan, "NetworkPolicy")}
    assert {"default-deny", "allow-same-namespace", "allow-ingress-controller", "allow-dns"} <= policies
    # HTTPS out exactly for a tenant with connectors (test-beta has none, the others have some).
    assert ("allow-https-out" in policies) is bool(spec.apps)
    (binding,) = k8s(plan, "RoleBinding")
    assert binding["roleRef"]["name"] == "admin"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"oidc:tenant-{slug}-admins"}
    ]
    assert k8s(plan, "LimitRange")[0]["metadata"]["namespace"] == f"tenant-{slug}"


def test_fixtures_cover_with_and_without_connectors(fleet: Fleet) -> None:
    assert {bool(t.spec.apps) for t in fleet.tenants if t.spec} == {True, False}


def feature_path(feature: str) -> str:
    return "/" if feature == "chat" else f"/{feature}"  # the chat is the tenant's start page


@each_tenant
def test_workspaces_and_features(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    spec = spec_of(fleet, slug)
    features = spec.effective_features()
    deployments = {d["metadata"]["name"]: d for d in k8s(plan, "Deployment")}
    assert set(deployments) == {f"app-{f}" for f in features} | {f"ws-{w.name}" for w in spec.workspaces}
    volumes = {r.inputs["metadata"]["name"]: r for r in plan.by_type(":PersistentVolumeClaim")}
    assert set(volumes) == {f"ws-{w.name}-data" for w in spec.workspaces}
    for w in spec.workspaces:
        template = deployments[f"ws-{w.name}"]["spec"]["template"]
        limits = template["spec"]["containers"][0]["resources"]["limits"]
        gpus = WORKSPACE_PROFILES[w.profile][2]
        assert limits.get("nvidia.com/gpu") == (str(gpus) if gpus else None), w.name
        runtime = template["spec"].get("runtimeClassName")
        assert runtime == (fleet.platform.gpu_runtime_class if gpus else None), w.name
        assert template["metadata"]["annotations"]["werkraum.io/members"] == ",".join(w.members)
        pvc = volumes[f"ws-{w.name}-data"]
        assert pvc.protect
        assert pvc.inputs["spec"]["storageClassName"] == fleet.platform.default_storage_class
    (ingress,) = k8s(plan, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": [spec.branding.domain]}]  # no Secret: Traefik keeps the certificate
    resolver = ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.tls.certresolver"]
    assert resolver == fleet.platform.certificate_resolver
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {feature_path(f) for f in features} | {f"/workspaces/{w.name}" for w in spec.workspaces}


@each_tenant
def test_branding_is_configuration(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    spec = spec_of(fleet, slug)
    b = spec.branding
    maps = {c["metadata"]["name"]: c for c in k8s(plans[slug], "ConfigMap")}
    branding = maps["branding"]
    assert branding["data"]["TENANT_NAME"] == spec.name
    assert branding["data"]["ASSISTANT_NAME"] == b.assistant_name
    assert branding["data"]["PRIMARY_COLOR"] == b.primary_color
    assert branding["data"]["SECONDARY_COLOR"] == b.secondary_color
    assert branding["data"]["WELCOME_MESSAGE"] == b.welcome_message
    assert branding["data"]["PUBLIC_URL"] == f"https://{b.domain}"
    logo = fleet.directory / b.logo
    name = logo.name
    assert branding["data"]["LOGO_FILE"] == name
    if name.endswith(".svg"):  # text, in data
        assert branding["data"][name] == logo.read_text()
    else:  # a PNG: bytes, in binaryData
        assert name not in branding["data"]
        assert base64.b64decode(branding["binaryData"][name]) == logo.read_bytes()
    assert maps["connectors"]["data"]["ENABLED_CONNECTORS"] == ",".join(sorted(spec.apps))


def test_fixtures_cover_svg_and_png_logos(fleet: Fleet) -> None:
    assert {Path(t.spec.branding.logo).suffix for t in fleet.tenants if t.spec} == {".svg", ".png"}


@each_tenant
def test_partner_outputs(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    plan = plans[slug]
    spec = spec_of(fleet, slug)
    out = plan.outputs
    assert out["project_id"] == mock_id(one(plan, ":Project"))
    assert out["namespace"] == f"tenant-{slug}"
    assert out["network"]["subnet_cidr"] == spec.network.cidr
    features = spec.effective_features()
    assert set(out["urls"]) == set(features) | {f"workspace/{w.name}" for w in spec.workspaces}
    for f in features:
        assert out["urls"][f] == f"https://{spec.branding.domain}{feature_path(f).rstrip('/')}/"
    for w in spec.workspaces:
        assert out["urls"][f"workspace/{w.name}"] == f"https://{spec.branding.domain}/workspaces/{w.name}/"
    assert out["quotas"] == spec.effective_quotas()
    assert out["monthly_seat_revenue_eur"] == spec.seats * PLANS[spec.plan].price_eur_per_seat
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


def test_platform_program(fleet: Fleet) -> None:
    platform = fleet.platform
    plan = run_offline(
        platform_program,
        project="werkraum-platform",
        stack="rack",
        config={"platform:spec": platform.model_dump()},
        outputs=lambda p: p.outputs,
    )
    ext = one(plan, ":Network", "external")
    assert ext.inputs["external"] is True and ext.protect
    flavors = {r.inputs["name"]: r.inputs for r in plan.by_type(":Flavor")}
    assert set(flavors) == {f.name for f in platform.flavors}
    assert any(f.gpus for f in platform.flavors) and not all(f.gpus for f in platform.flavors)
    for f in platform.flavors:  # GPU flavors are private (shared per tenant), with the GPU resource class
        assert flavors[f.name]["isPublic"] is (f.gpus == 0), f.name
        if f.gpus:
            assert flavors[f.name]["extraSpecs"] == {f"resources:{platform.gpu_resource_class}": str(f.gpus)}
    classes = {sc["metadata"]["name"]: sc for sc in k8s(plan, "StorageClass")}
    assert set(classes) == {s.name for s in platform.storage_classes}
    for s in platform.storage_classes:
        assert classes[s.name]["provisioner"] == "rbd.csi.ceph.com" and classes[s.name]["parameters"]["pool"] == s.pool
    assert k8s(plan, "IngressClass")[0]["spec"]["controller"] == "traefik.io/ingress-controller"
    assert set(plan.outputs) >= {"external_network_id", "flavor_ids", "compute_service_id", "storage_class"}
    # Keystone accepts the tenants' GPU limits only under a registered limit (make e2e found it).
    registered = one(plan, ":RegisteredLimitV3").inputs
    assert registered["resourceName"] == f"class:{platform.gpu_resource_class}"
    assert registered["defaultLimit"] == 0
