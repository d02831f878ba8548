"""A platform without OpenStack and without Ceph (the lab's, pulumi/platform/Pulumi.lab.yaml), run offline.

The product's programs declare only the Kubernetes half there, local-path storage
classes instead of RBD ones, and requests scaled by kubernetes_requests_percent;
on the rack's settings nothing of that changes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from werkraum.errors import WerkraumError
from werkraum.infra.offline import OfflinePlan, Recorded, run_offline
from werkraum.infra.plan import offline_plan
from werkraum.infra.programs import platform_program
from werkraum.infra.tenant_apps import scaled_requests
from werkraum.tenants.fleet import Fleet
from werkraum.tenants.platform import PlatformSpec, StorageClassSpec, build_platform, load_platform, platform_file


def lab_like(platform: PlatformSpec) -> PlatformSpec:
    return platform.model_copy(
        update={
            "openstack": False,
            "storage_classes": [StorageClassSpec(name="tenant-local", provisioner="local-path", default=True)],
            "kubernetes_requests_percent": 2,
        }
    )


def app_container(plan: OfflinePlan, name: str) -> dict[str, Any]:
    deployment = next(r for r in plan.by_type("Deployment") if r.inputs["metadata"]["name"] == name)
    container: dict[str, Any] = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    return container


def custom(plan: OfflinePlan) -> list[Recorded]:
    return [r for r in plan.resources if r.custom]


def test_the_labs_platform_settings_have_no_openstack_no_ceph_and_scaled_requests() -> None:
    spec = load_platform(platform_file("lab"))
    assert spec.openstack is False
    assert [(s.name, s.provisioner, s.default) for s in spec.storage_classes] == [("tenant-local", "local-path", False)]
    assert spec.default_storage_class == "tenant-local"  # what tenants' claims name
    assert spec.rbd_storage_classes == []
    assert spec.kubernetes_requests_percent == 2
    assert spec.image_registry == "registry.werkraum.example/werkraum"  # the lab inventory's werkraum_registry
    assert spec.gpu_runtime_class is None  # no device behind the lab's advertised GPUs: runc
    assert spec.certificate_resolver == "werkraum"  # Traefik's resolver, fed by the lab's ACME test CA


def test_the_platform_program_without_openstack_declares_local_path_classes(fleet: Fleet) -> None:
    config = {"platform:spec": lab_like(fleet.platform).model_dump()}
    plan = run_offline(
        platform_program, project="werkraum-platform", stack="lab", config=config, outputs=lambda p: p.outputs
    )
    assert not [r.type for r in custom(plan) if r.type.startswith("openstack:")]
    (storage,) = plan.by_type("StorageClass")
    assert storage.inputs["provisioner"] == "rancher.io/local-path"
    assert storage.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage.inputs["reclaimPolicy"] == "Delete"
    assert "parameters" not in storage.inputs
    assert plan.outputs["requests_percent"] == 2
    assert "flavor_ids" not in plan.outputs


def test_a_tenant_on_a_platform_without_openstack_is_its_kubernetes_half_with_scaled_requests(fleet: Fleet) -> None:
    lab = lab_like(fleet.platform)
    for t in fleet.tenants:
        rack_plan = offline_plan(t, fleet.platform, fleet.directory)
        lab_plan = offline_plan(t, lab, fleet.directory)
        assert not [r.type for r in custom(lab_plan) if r.type.startswith("openstack:")]
        # Its Kubernetes half and its identity (Keycloak groups and clients) are the rack's.
        both = sorted((r.type, r.name) for r in custom(rack_plan) if not r.type.startswith("openstack:"))
        assert sorted((r.type, r.name) for r in custom(lab_plan)) == both
        for deployment in rack_plan.by_type("Deployment"):
            name = deployment.inputs["metadata"]["name"]
            on_rack, in_lab = app_container(rack_plan, name)["resources"], app_container(lab_plan, name)["resources"]
            assert in_lab["limits"] == on_rack["limits"]
            assert in_lab["requests"] == scaled_requests(on_rack["requests"], 2)
            assert in_lab["requests"].get("nvidia.com/gpu") == on_rack["requests"].get("nvidia.com/gpu")


def test_requests_scale_in_millicores_and_mebibytes_and_stay_at_100() -> None:
    assert scaled_requests({"cpu": "250m", "memory": "512Mi"}, 2) == {"cpu": "5m", "memory": "10Mi"}
    assert scaled_requests({"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}, 2) == {
        "cpu": "160m",
        "memory": "655Mi",
        "nvidia.com/gpu": "1",
    }
    assert scaled_requests({"cpu": "1m", "memory": "1Mi"}, 1) == {"cpu": "1m", "memory": "1Mi"}
    assert scaled_requests({"cpu": "8", "memory": "32Gi"}, 100) == {"cpu": "8", "memory": "32Gi"}


@pytest.mark.parametrize(
    ("storage_class", "message"),
    [
        ({"name": "fast"}, "a ceph-rbd class names its RBD pool"),
        ({"name": "scratch", "provisioner": "local-path", "pool": "kubernetes"}, "pool: is for ceph-rbd classes"),
        ({"name": "nfs", "provisioner": "nfs"}, "storage_classes.0.provisioner"),
    ],
)
def test_a_storage_class_that_cannot_work_is_refused_with_its_field(
    fleet: Fleet, storage_class: dict[str, str], message: str
) -> None:
    product = {**fleet.platform.model_dump(), "storage_classes": [storage_class]}
    with pytest.raises(WerkraumError, match=re.escape(message)):
        build_platform(product, None, "Pulumi.test.yaml")


def test_requests_percent_outside_1_to_100_is_refused(fleet: Fleet) -> None:
    for percent in (0, 101):
        product = {**fleet.platform.model_dump(), "kubernetes_requests_percent": percent}
        with pytest.raises(WerkraumError, match=re.escape("platform:spec.kubernetes_requests_percent")):
            build_platform(product, None, "Pulumi.test.yaml")
