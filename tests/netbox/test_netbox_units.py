"""The rack description read from an inventory, and its errors; the pinned NetBox version in one place.

The reader is tested on a made-up rack (a copy of the lab inventory with names,
networks and hosts of the test's own); the shipped inventories only have to read.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, make_lab_inventory
from werkraum.errors import WerkraumError
from werkraum.netbox.client import settings
from werkraum.netbox.local import NETBOX_VERSION
from werkraum.netbox.rack import ROLES, load_rack_description

SUBNET = "10.99.7"  # the made-up rack's management network: 10.99.7.0/24
HOSTS = {"t-gpu-1": ("gpu", 11), "t-ceph-1": ("ceph", 21), "t-ctl-1": ("control", 31), "t-svc-1": ("service", 41)}
RACK_VARS = {
    "werkraum_site": "Test Site 9",
    "werkraum_rack": "test-rack-9",
    "werkraum_device_type": {"manufacturer": "TestCo", "model": "T-1000"},
    "werkraum_mgmt_interface": "tst0",
}
TENANT_POOL = "10.123.0.0/16"


@pytest.fixture
def rack(tmp_path: Path) -> Path:
    """A made-up rack: four hosts, one per node group, on 10.99.7.0/24, with its own site, rack and device type."""
    inv = make_lab_inventory(tmp_path / "rack", "test-rack", SUBNET, HOSTS)
    lab_vars = inv / "group_vars" / "all" / "lab.yml"
    lab_vars.write_text(yaml.safe_dump({**yaml.safe_load(lab_vars.read_text()), **RACK_VARS}))
    facts = inv / "group_vars" / "all" / "platform.yml"
    facts.write_text(yaml.safe_dump({**yaml.safe_load(facts.read_text()), "werkraum_tenant_pool": TENANT_POOL}))
    return inv


def test_the_rack_is_read_as_written(rack: Path) -> None:
    got = load_rack_description(rack)
    # werkraum_mgmt_network is "{{ werkraum_lab_subnet }}" in the lab's files: the reference is followed.
    assert (got.site, got.rack, got.mgmt_network, got.tenant_pool) == (
        RACK_VARS["werkraum_site"],
        RACK_VARS["werkraum_rack"],
        f"{SUBNET}.0/24",
        TENANT_POOL,
    )
    dtype = RACK_VARS["werkraum_device_type"]
    interface = RACK_VARS["werkraum_mgmt_interface"]
    want = {
        name: (role, f"{SUBNET}.{octet}/24", interface, dtype["manufacturer"], dtype["model"])
        for name, (role, octet) in HOSTS.items()
    }
    read = {
        d.name: (d.role, d.address, d.interface, d.device_type.manufacturer, d.device_type.model) for d in got.devices
    }
    assert read == want


@pytest.mark.parametrize("name", ["lab", "office"])
def test_the_shipped_inventories_read(name: str) -> None:
    """Every host of the shipped hosts.yml becomes a device with its group's role and its address."""
    inv = ROOT / "inventories" / name
    got = load_rack_description(inv)
    prefix = ipaddress.IPv4Network(got.mgmt_network).prefixlen
    groups = yaml.safe_load((inv / "hosts.yml").read_text())["all"]["children"]
    written = {
        host: (role, f"{(hv or {})['werkraum_mgmt_address']}/{prefix}")
        for role, group in groups.items()
        if role in ROLES
        for host, hv in (group.get("hosts") or {}).items()
    }
    assert written and {d.name: (d.role, d.address) for d in got.devices} == written


def test_a_host_outside_the_node_groups_is_named(rack: Path) -> None:
    data = yaml.safe_load((rack / "hosts.yml").read_text())
    data["all"]["children"]["misc"] = {"hosts": {"odd-01": {"werkraum_mgmt_address": f"{SUBNET}.99"}}}
    (rack / "hosts.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(WerkraumError, match=r"host odd-01 is in 0 of the node groups gpu, ceph, control, service"):
        load_rack_description(rack)


def test_an_address_outside_the_management_network_is_named(rack: Path) -> None:
    text = (rack / "hosts.yml").read_text().replace(f"{SUBNET}.11", "10.9.9.9")
    (rack / "hosts.yml").write_text(text)
    with pytest.raises(WerkraumError, match=rf"host t-gpu-1: werkraum_mgmt_address 10.9.9.9 is outside {SUBNET}.0/24"):
        load_rack_description(rack)


def test_a_missing_site_is_named(rack: Path) -> None:
    lab_vars = rack / "group_vars" / "all" / "lab.yml"
    data = yaml.safe_load(lab_vars.read_text())
    del data["werkraum_site"]
    lab_vars.write_text(yaml.safe_dump(data))
    first = sorted(HOSTS)[0]  # hosts are read in name order
    with pytest.raises(WerkraumError, match=rf"host {first}: werkraum_site is missing"):
        load_rack_description(rack)


def test_a_bad_device_type_is_named(rack: Path) -> None:
    (rack / "host_vars").mkdir()
    (rack / "host_vars" / "t-gpu-1.yml").write_text("werkraum_device_type: big-box\n")
    with pytest.raises(WerkraumError, match=r"host t-gpu-1: werkraum_device_type must be a mapping"):
        load_rack_description(rack)


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETBOX_API", raising=False)
    monkeypatch.setenv("NETBOX_TOKEN", "x")
    with pytest.raises(WerkraumError, match=r"NETBOX_API not set"):
        settings()


def test_the_netbox_version_is_pinned_once() -> None:
    defaults = yaml.safe_load((ROOT / "roles" / "netbox" / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / "netbox" / "meta" / "argument_specs.yml").read_text())
    assert defaults["netbox_version"] == NETBOX_VERSION
    assert specs["argument_specs"]["main"]["options"]["netbox_version"]["default"] == NETBOX_VERSION
