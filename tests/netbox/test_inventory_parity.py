"""The rack read back from NetBox is the rack written down: the same variables for every host.

`werkraum netbox sync` puts the office example (inventories/office/hosts.yml)
into the tests' real NetBox; then both sources of the folder are templated by
Ansible itself (an ansible-playbook run that connects to no host, so nothing is
sent to the office's addresses), with the same group_vars beside both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli
from werkraum.netbox.local import LocalNetBox
from werkraum.rack.hostvars import HostVars, template_variables

OFFICE = ROOT / "inventories" / "office"


def role_variables() -> list[str]:
    """What the roles read (their argument specs) and what the inventory sets (connection, rack facts)."""
    names = {"group_names", "ansible_host", "ansible_user", "ansible_become", "werkraum_mgmt_address"}
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            names |= set(entry.get("options", {}))
    for path in OFFICE.glob("group_vars/**/*.yml"):
        names |= set(yaml.safe_load(path.read_text()) or {})
    # Every per-host fact hosts.yml writes (OSD disks, GPU substrate, addresses), but the rack position:
    # that is NetBox's own rack elevation, which the inventory plugin does not hand back (no role reads it).
    for group in yaml.safe_load((OFFICE / "hosts.yml").read_text())["all"]["children"].values():
        for host_vars in (group.get("hosts") or {}).values():
            names |= set(host_vars or {})
    return sorted(names - {"werkraum_rack_position"})


@pytest.fixture(scope="module")
def both(netbox: LocalNetBox) -> tuple[dict[str, HostVars], dict[str, HostVars]]:
    env = {"NETBOX_API": netbox.url, "NETBOX_TOKEN": netbox.token}
    synced = run_cli("netbox", "sync", "-i", str(OFFICE), env=env)
    assert synced.returncode == 0, synced.stderr
    names = role_variables()
    static = template_variables(OFFICE / "hosts.yml", names)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        from_netbox = template_variables(OFFICE / "netbox.yml", names, netbox=True)
    return static, from_netbox


def test_sync_records_the_per_host_facts(netbox: LocalNetBox, both: object) -> None:
    import pynetbox

    nb = pynetbox.api(netbox.url, token=netbox.token)
    ceph = nb.dcim.devices.get(name="ceph-02", site="office-berlin")
    assert ceph.custom_fields["ceph_osd_devices"] == [
        "/dev/disk/by-id/nvme-EXAMPLE_SSD_SERIAL_32A",
        "/dev/disk/by-id/nvme-EXAMPLE_SSD_SERIAL_32B",
    ]
    gpu = nb.dcim.devices.get(name="gpu-01", site="office-berlin")
    assert gpu.custom_fields["werkraum_gpu_substrate"] == "kubernetes"
    assert float(gpu.position) == 2 and gpu.face.value == "front"


def test_every_host_reads_the_same_variables_from_netbox_as_from_the_file(
    both: tuple[dict[str, HostVars], dict[str, HostVars]],
) -> None:
    static, from_netbox = both
    assert set(from_netbox) == set(static) == {
        "control-01", "service-01", "ceph-01", "ceph-02", "ceph-03", "gpu-01",
    }  # fmt: skip
    for host in sorted(static):
        s, n = static[host], from_netbox[host]
        assert n.errors == s.errors == {}, host
        assert set(n.values) == set(s.values), f"{host}: set in one source only"
        differ = {k: (s.values[k], n.values[k]) for k in s.values if s.values[k] != n.values[k]}
        assert differ == {}, f"{host}: (file, NetBox) differ"
        assert sorted(n.groups) == sorted(s.groups)


def test_a_converge_from_netbox_sees_the_settings_and_the_disks(
    both: tuple[dict[str, HostVars], dict[str, HostVars]],
) -> None:
    _, from_netbox = both
    ceph = from_netbox["ceph-01"].values
    assert ceph["ansible_user"] == "ops" and ceph["ansible_host"] == "10.10.0.31"
    assert [a["name"] for a in ceph["common_admins"]] == ["ops"]
    assert ceph["ceph_osd_devices"] == [
        "/dev/disk/by-id/nvme-EXAMPLE_SSD_SERIAL_31A",
        "/dev/disk/by-id/nvme-EXAMPLE_SSD_SERIAL_31B",
    ]
    assert ceph["ceph_public_network"] == "10.10.0.0/24"
    assert from_netbox["gpu-01"].values["werkraum_gpu_substrate"] == "kubernetes"
    assert from_netbox["gpu-01"].values["common_chrony_servers"] == ["10.10.0.11"]


def test_rack_validate_reads_the_netbox_source_too(netbox: LocalNetBox, both: object, tmp_path: Path) -> None:
    env = {"NETBOX_API": netbox.url, "NETBOX_TOKEN": netbox.token}
    proc = run_cli("rack", "validate", "-i", str(OFFICE), env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"inventory {OFFICE / 'hosts.yml'}: 6 hosts, no problems" in proc.stdout
    assert f"inventory {OFFICE / 'netbox.yml'} (from NetBox): 6 hosts, no problems" in proc.stdout
