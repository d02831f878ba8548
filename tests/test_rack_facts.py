"""The platform's settings are derived from the rack (inventory and the ceph role's hand-over), never typed twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TEST_FSID, run_cli
from tests.harness.e2e.stacks import write_ceph_stand_in
from werkraum.errors import WerkraumError
from werkraum.infra.offline import run_offline
from werkraum.infra.programs import platform_program
from werkraum.netbox.rack import load_rack_description
from werkraum.rack.facts import load_rack_facts, read_ceph_facts
from werkraum.tenants.platform import build_platform, load_platform

OFFICE = ROOT / "inventories" / "office"


def _office(tmp_path: Path) -> Path:
    dest = tmp_path / "office"
    shutil.copytree(OFFICE, dest)
    return dest


def _set(folder: Path, file: str, **values: object) -> None:
    path = folder / "group_vars" / "all" / file
    data = yaml.safe_load(path.read_text())
    data.update(values)
    path.write_text(yaml.safe_dump(data))


def _product() -> dict[str, object]:
    raw = yaml.safe_load((ROOT / "pulumi" / "platform" / "Pulumi.rack.yaml").read_text())["config"]
    assert raw["platform:inventory"] == "inventories/office"
    return dict(raw["platform:spec"])


def test_the_platform_takes_the_racks_facts_from_its_inventory(tmp_path: Path) -> None:
    office = _office(tmp_path)
    _set(office, "main.yml", werkraum_mgmt_network="10.20.0.0/24")
    _set(office, "platform.yml", werkraum_dns_servers=["10.20.0.53"], werkraum_tenant_pool="10.120.0.0/16")
    spec = build_platform(_product(), str(office), "test")
    assert spec.management_cidr == "10.20.0.0/24"
    assert spec.dns_nameservers == ["10.20.0.53"]
    assert spec.tenant_pool == "10.120.0.0/16"
    assert spec.image_registry == "registry.werkraum.example/werkraum"  # registry.{{ werkraum_platform_domain }}
    assert spec.reserved_cidrs == ["10.42.0.0/16", "10.43.0.0/16"]
    assert spec.ingress_class == "traefik" and spec.flavors[0].name == "m1.small"  # the product's choices stay


def test_a_rack_fact_typed_again_in_the_platform_file_is_refused(tmp_path: Path) -> None:
    product = {**_product(), "management_cidr": "10.10.0.0/24", "dns_nameservers": ["10.10.0.11"]}
    with pytest.raises(WerkraumError, match=r"Pulumi.x.yaml: platform:spec sets dns_nameservers, management_cidr"):
        build_platform(product, "inventories/office", "Pulumi.x.yaml")


def test_a_missing_fact_names_the_folder_and_variable(tmp_path: Path) -> None:
    office = _office(tmp_path)
    path = office / "group_vars" / "all" / "platform.yml"
    path.write_text(path.read_text().replace("werkraum_tenant_pool: 10.100.0.0/16\n", ""))
    with pytest.raises(WerkraumError, match=r"group_vars/all: werkraum_tenant_pool is not set"):
        load_rack_facts(office)


def test_a_fact_that_is_not_plain_data_is_refused_by_name(tmp_path: Path) -> None:
    office = _office(tmp_path)
    _set(office, "platform.yml", werkraum_dns_servers="{{ groups['control'] | map('extract', hostvars) }}")
    with pytest.raises(WerkraumError, match=r"platform.yml: werkraum_dns_servers: .* cannot be read as a plain"):
        load_rack_facts(office)


def test_ceph_facts_come_from_the_ceph_roles_hand_over(tmp_path: Path) -> None:
    handed = write_ceph_stand_in(tmp_path / "ceph", "6b7d3f2e-6a36-4c43-9a53-0f7c3a1d2e01")
    ceph = read_ceph_facts(handed)
    assert ceph is not None and ceph.fsid == "6b7d3f2e-6a36-4c43-9a53-0f7c3a1d2e01"
    assert ceph.monitors == ("[v2:192.0.2.31:3300,v1:192.0.2.31:6789]",)
    assert ceph.kubernetes_key and ceph.kubernetes_key.endswith("=")
    assert read_ceph_facts(tmp_path / "nothing-handed-over") is None
    # The tests' session stand-in is what the shipped platform settings read now.
    assert load_platform().ceph_cluster_id == TEST_FSID


def test_before_the_ceph_role_ran_the_platform_program_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WERKRAUM_CEPH_FETCH_DIR", str(tmp_path / "empty"))
    spec = load_platform()
    assert spec.ceph_cluster_id is None and spec.ceph_expected
    with pytest.raises(Exception, match=r"the Ceph cluster's fsid is not known yet.*ceph-rbd"):
        run_offline(
            platform_program,
            project="werkraum-platform",
            stack="rack",
            config={"platform:spec": _product(), "platform:inventory": "inventories/office"},
        )


def test_the_platform_program_uses_the_handed_over_fsid_and_keeps_the_key_secret() -> None:
    plan = run_offline(
        platform_program,
        project="werkraum-platform",
        stack="rack",
        config={"platform:spec": _product(), "platform:inventory": "inventories/office"},
        outputs=lambda p: p.outputs,
    )
    (sc,) = [r for r in plan.resources if r.type.endswith("StorageClass")]
    assert sc.inputs["parameters"]["clusterID"] == TEST_FSID
    assert plan.outputs["ceph_cluster_id"] == TEST_FSID
    assert plan.outputs["management_cidr"] == "10.10.0.0/24"


def test_a_rack_without_ceph_has_no_rbd_storage(tmp_path: Path) -> None:
    office = _office(tmp_path)
    hosts = yaml.safe_load((office / "hosts.yml").read_text())
    del hosts["all"]["children"]["ceph"]
    (office / "hosts.yml").write_text(yaml.safe_dump(hosts))
    facts = load_rack_facts(office)
    assert facts.ceph_expected is False and facts.ceph is None
    assert build_platform({**_product(), "storage_classes": []}, str(office), "t").ceph_expected is False


def test_netbox_sync_takes_the_tenant_pool_from_the_inventory(tmp_path: Path) -> None:
    office = _office(tmp_path)
    _set(office, "platform.yml", werkraum_tenant_pool="10.42.0.0/15")  # holds the pod network
    rack = load_rack_description(office)
    assert rack.tenant_pool == "10.42.0.0/15"
    assert ("Kubernetes pod network", "10.42.0.0/16") in rack.reserved_in_pool
    devices = {d.name: d for d in rack.devices}
    assert dict(devices["ceph-01"].custom_fields)["ceph_osd_devices"][0].startswith("/dev/disk/by-id/")
    assert dict(devices["gpu-01"].custom_fields) == {"werkraum_gpu_substrate": "kubernetes"}
    assert devices["gpu-01"].position == 2


def test_platform_settings_names_where_each_fact_came_from() -> None:
    proc = run_cli("platform", "settings")
    assert proc.returncode == 0, proc.stderr
    assert "rack facts from inventories/office" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("management_cidr"))
    assert "10.10.0.0/24" in line and "group_vars/all/main.yml: werkraum_mgmt_network" in line
    fsid = next(x for x in proc.stdout.splitlines() if x.strip().startswith("ceph_cluster_id"))
    assert TEST_FSID in fsid and "handed over by the ceph role" in fsid
    assert "QVFC" not in proc.stdout  # the key is never printed
