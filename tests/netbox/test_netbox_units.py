"""The rack description read from an inventory, and its errors; the pinned NetBox version in one place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from werkraum.errors import WerkraumError
from werkraum.netbox.client import settings
from werkraum.netbox.local import NETBOX_VERSION
from werkraum.netbox.rack import load_rack_description


def _copy(tmp_path: Path, source: str = "lab") -> Path:
    dest = tmp_path / source
    shutil.copytree(ROOT / "inventories" / source, dest, symlinks=True)
    return dest


def test_lab_and_office_describe_racks() -> None:
    lab = load_rack_description(ROOT / "inventories" / "lab")
    assert (lab.site, lab.rack, lab.mgmt_network, lab.tenant_pool) == (
        "Werkraum Lab",
        "lab-rack-1",
        "10.231.0.0/24",
        "10.100.0.0/16",
    )
    assert {d.name: (d.role, d.address) for d in lab.devices}["gpu-01"] == ("gpu", "10.231.0.11/24")
    office = load_rack_description(ROOT / "inventories" / "office")
    assert len(office.devices) == 6 and {d.role for d in office.devices} == {"gpu", "ceph", "control", "service"}
    assert office.devices[0].interface == "eno1" and office.devices[0].device_type.manufacturer == "Supermicro"


def test_a_host_outside_the_node_groups_is_named(tmp_path: Path) -> None:
    inv = _copy(tmp_path)
    data = yaml.safe_load((inv / "hosts.yml").read_text())
    data["all"]["children"]["misc"] = {"hosts": {"odd-01": {"werkraum_mgmt_address": "10.231.0.99"}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(WerkraumError, match=r"host odd-01 is in 0 of the node groups gpu, ceph, control, service"):
        load_rack_description(inv)


def test_an_address_outside_the_management_network_is_named(tmp_path: Path) -> None:
    inv = _copy(tmp_path)
    text = (inv / "hosts.yml").read_text().replace("10.231.0.11", "10.9.9.9")
    (inv / "hosts.yml").write_text(text)
    with pytest.raises(WerkraumError, match=r"host gpu-01: werkraum_mgmt_address 10.9.9.9 is outside 10.231.0.0/24"):
        load_rack_description(inv)


def test_a_missing_site_is_named(tmp_path: Path) -> None:
    inv = _copy(tmp_path)
    lab = inv / "group_vars" / "all" / "lab.yml"
    lab.write_text(lab.read_text().replace("werkraum_site: Werkraum Lab\n", ""))
    with pytest.raises(WerkraumError, match=r"host ceph-01: werkraum_site is missing"):
        load_rack_description(inv)


def test_a_bad_device_type_is_named(tmp_path: Path) -> None:
    inv = _copy(tmp_path)
    (inv / "host_vars").mkdir()
    (inv / "host_vars" / "gpu-01.yml").write_text("werkraum_device_type: big-box\n")
    with pytest.raises(WerkraumError, match=r"host gpu-01: werkraum_device_type must be a mapping"):
        load_rack_description(inv)


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
