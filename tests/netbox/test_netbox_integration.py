"""`werkraum netbox sync`, the NetBox inventory and tenant prefixes, against a real NetBox on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pynetbox
import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, run_cli
from tests.fixtures import copy_tenants
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.netbox.ipam import TenantNetwork, allocate
from werkraum.netbox.local import LocalNetBox, free_port
from werkraum.tenants.fleet import load_fleet

LAB = ROOT / "inventories" / "lab"
LAB_HOSTS = {"gpu": "gpu-01", "ceph": "ceph-01", "control": "control-01", "service": "service-01"}
LAB_SITE = "werkraum-lab"  # the session's NetBox holds other racks too (the office example of the parity test)


def api(netbox: LocalNetBox) -> pynetbox.api:
    return pynetbox.api(netbox.url, token=netbox.token)


@pytest.fixture(scope="module")
def synced(netbox: LocalNetBox) -> subprocess.CompletedProcess[str]:
    return run_cli("netbox", "sync", "-i", str(LAB), env={"NETBOX_API": netbox.url, "NETBOX_TOKEN": netbox.token})


def test_sync_creates_the_lab_rack(netbox: LocalNetBox, synced: subprocess.CompletedProcess[str]) -> None:
    assert synced.returncode == 0, synced.stderr
    assert "+ created device gpu-01" in synced.stdout
    nb = api(netbox)
    site = nb.dcim.sites.get(slug=LAB_SITE)
    assert site and nb.dcim.racks.get(site_id=site.id, name="lab-rack-1")
    for role, name in LAB_HOSTS.items():
        device = nb.dcim.devices.get(name=name, site=LAB_SITE)
        assert device.role.slug == role and device.site.id == site.id
        assert device.device_type.model == "Lab container"
        assert [t.slug for t in device.tags] == ["werkraum"]
        assert device.primary_ip4 is not None
        iface = nb.dcim.interfaces.get(device_id=device.id, name="eth0")
        assert iface is not None
    assert nb.dcim.devices.get(name="gpu-01", site=LAB_SITE).primary_ip4.address == "10.231.0.11/24"
    assert nb.ipam.prefixes.get(prefix="10.231.0.0/24").status.value == "active"
    assert nb.ipam.prefixes.get(prefix="10.100.0.0/16").status.value == "container"


def test_second_sync_changes_nothing_and_says_so(nb_env: dict[str, str], synced: object) -> None:
    proc = run_cli("netbox", "sync", "-i", str(LAB), env=nb_env)
    assert proc.returncode == 0, proc.stderr
    assert "already matches" in proc.stdout and "nothing to change" in proc.stdout
    assert "created" not in proc.stdout and "updated" not in proc.stdout


def _lab_copy(tmp_path: Path, **hosts: tuple[str, str]) -> Path:
    inv = tmp_path / "lab"
    shutil.copytree(LAB, inv, symlinks=True)
    data = yaml.safe_load((inv / "hosts.yml").read_text())
    for name, (group, address) in hosts.items():
        data["all"]["children"][group]["hosts"][name] = {"werkraum_mgmt_address": address}
    (inv / "hosts.yml").write_text(yaml.safe_dump(data))
    return inv


def test_dry_run_shows_changes_and_writes_nothing(
    netbox: LocalNetBox, nb_env: dict[str, str], synced: object, tmp_path: Path
) -> None:
    inv = _lab_copy(tmp_path, **{"gpu-02": ("gpu", "10.231.0.12")})
    proc = run_cli("netbox", "sync", "-i", str(inv), "--dry-run", env=nb_env)
    assert proc.returncode == 0, proc.stderr
    assert "+ would create device gpu-02" in proc.stdout
    assert "+ would create address 10.231.0.12/24 (gpu-02)" in proc.stdout
    assert "nothing written" in proc.stdout
    assert api(netbox).dcim.devices.get(name="gpu-02", site=LAB_SITE) is None


def test_sync_updates_what_it_owns(netbox: LocalNetBox, nb_env: dict[str, str], synced: object) -> None:
    nb = api(netbox)
    device = nb.dcim.devices.get(name="ceph-01", site=LAB_SITE)
    device.update({"status": "planned"})
    proc = run_cli("netbox", "sync", "-i", str(LAB), env=nb_env)
    assert proc.returncode == 0, proc.stderr
    assert "~ updated device ceph-01: status 'planned' -> 'active'" in proc.stdout
    assert nb.dcim.devices.get(name="ceph-01", site=LAB_SITE).status.value == "active"


def test_untagged_device_is_not_taken_over(
    netbox: LocalNetBox, nb_env: dict[str, str], synced: object, tmp_path: Path
) -> None:
    nb = api(netbox)
    site = nb.dcim.sites.get(slug=LAB_SITE)
    role = nb.dcim.device_roles.get(slug="gpu")
    dtype = nb.dcim.device_types.get(model="Lab container")
    nb.dcim.devices.create(name="handmade-01", site=site.id, role=role.id, device_type=dtype.id)
    inv = _lab_copy(tmp_path, **{"handmade-01": ("gpu", "10.231.0.13")})
    proc = run_cli("netbox", "sync", "-i", str(inv), env=nb_env)
    assert proc.returncode == 1
    assert "NetBox already has device handmade-01, not created by Werkraum (it lacks the tag 'werkraum')" in proc.stderr
    assert nb.dcim.devices.get(name="handmade-01", site=LAB_SITE).status.value == "active"  # untouched
    assert nb.ipam.ip_addresses.get(address="10.231.0.13/24") is None


def test_inventory_groups_hosts_by_role(nb_env: dict[str, str], synced: object) -> None:
    proc = run_cli("netbox", "inventory", "-i", str(LAB), env=nb_env)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    for role, name in LAB_HOSTS.items():
        assert name in lines[role].split()
    graph = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(LAB / "netbox.yml"), "--graph"],
        capture_output=True,
        text=True,
        env={**os.environ, **nb_env, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg")},
        check=False,
    )
    assert graph.returncode == 0, graph.stderr
    for role, name in LAB_HOSTS.items():
        assert f"@{role}:" in graph.stdout and f"--{name}" in graph.stdout
    listed = json.loads(run_cli("netbox", "inventory", "-i", str(LAB), "--json", env=nb_env).stdout)
    assert listed["_meta"]["hostvars"]["gpu-01"]["ansible_host"] == "10.231.0.11"


def test_tenant_allocation_is_recorded_and_stable(
    netbox: LocalNetBox, nb_env: dict[str, str], synced: object, tmp_path: Path
) -> None:
    stacks = tmp_path / "stacks"
    copy_tenants(stacks)
    path = write_tenant(stacks, "minimal", MINIMAL.replace("    network: {cidr: 10.100.40.0/24}\n", ""))
    proc = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks), env=nb_env)
    assert proc.returncode == 0, proc.stderr
    assert f"from NetBox at {netbox.url}" in proc.stdout and "written to its file" in proc.stdout
    nb = api(netbox)
    tenant = nb.tenancy.tenants.get(slug="minimal")
    held = [p.prefix for p in nb.ipam.prefixes.filter(tenant_id=tenant.id)]
    assert len(held) == 1 and f"cidr: {held[0]}" in path.read_text()
    # The other tenants' own CIDRs were checked and recorded against their tenants.
    explicit = {t.slug: t.spec.network.cidr for t in load_fleet(stacks).tenants if t.spec and t.slug != "minimal"}
    assert explicit and all(explicit.values())
    for slug, cidr in explicit.items():
        owner = nb.ipam.prefixes.get(prefix=cidr).tenant
        assert owner is not None and owner.slug == slug
    assert held[0] not in explicit.values()
    again = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks), env=nb_env)
    assert again.returncode == 0 and f"{held[0]} (already in its file" in again.stdout
    # The file lost its CIDR (a rebase gone wrong): NetBox gives the same prefix back.
    path.write_text(MINIMAL.replace("    network: {cidr: 10.100.40.0/24}\n", ""))
    third = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks), env=nb_env)
    assert third.returncode == 0 and f"cidr: {held[0]}" in path.read_text()
    assert len(list(nb.ipam.prefixes.filter(tenant_id=tenant.id))) == 1


def test_explicit_cidr_that_netbox_gave_another_tenant_is_refused(
    nb_env: dict[str, str], synced: object, tmp_path: Path
) -> None:
    stacks = tmp_path / "stacks"
    copy_tenants(stacks)
    gone = load_fleet(stacks).tenants[0]
    assert gone.spec is not None
    cidr = gone.spec.network.cidr
    run_cli("tenant", "allocate", gone.slug, "--stacks", str(stacks), env=nb_env)  # records every tenant's CIDR
    gone.path.unlink()  # its file is gone, NetBox still holds its prefix
    write_tenant(stacks, "squatter", MINIMAL.replace("10.100.40.0/24", str(cidr)))
    proc = run_cli("tenant", "allocate", "squatter", "--stacks", str(stacks), env=nb_env)
    assert proc.returncode == 1
    assert f"tenant squatter: network.cidr {cidr} overlaps what NetBox holds: {cidr} (tenant {gone.slug})" in (
        proc.stderr
    )


def test_concurrent_allocations_never_share_a_prefix(netbox: LocalNetBox, synced: object) -> None:
    nb = api(netbox)

    def one(slug: str) -> str:
        return allocate(nb, TenantNetwork(slug, slug.title(), None), "10.100.0.0/16", 24)[0]

    slugs = [f"race-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(one, slugs))
    assert len(set(got)) == 8, got
    # Four runs for one new tenant at once: all end with the same single prefix.
    with ThreadPoolExecutor(max_workers=4) as pool:
        same = list(pool.map(one, ["race-same"] * 4))
    assert len(set(same)) == 1, same
    tenant = nb.tenancy.tenants.get(slug="race-same")
    assert [p.prefix for p in nb.ipam.prefixes.filter(tenant_id=tenant.id)] == [same[0]]
    assert same[0] not in got


def test_netbox_down_fails_clearly_and_writes_nothing(synced: object, tmp_path: Path) -> None:
    down = {"NETBOX_API": f"http://127.0.0.1:{free_port()}", "NETBOX_TOKEN": "nbt_x.y"}
    sync = run_cli("netbox", "sync", "-i", str(LAB), env=down)
    assert sync.returncode == 1 and "cannot be reached" in sync.stderr and down["NETBOX_API"] in sync.stderr
    inventory = run_cli("netbox", "inventory", env=down)
    assert inventory.returncode == 1 and "inventories/office/netbox.yml could not be read" in inventory.stderr
    stacks = tmp_path / "stacks"
    copy_tenants(stacks)
    body = MINIMAL.replace("    network: {cidr: 10.100.40.0/24}\n", "")
    path = write_tenant(stacks, "minimal", body)
    alloc = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks), env=down)
    assert alloc.returncode == 1 and "cannot be reached" in alloc.stderr
    assert path.read_text() == body
    unset = run_cli("netbox", "sync", "-i", str(LAB), env={"NETBOX_API": "", "NETBOX_TOKEN": ""})
    assert unset.returncode == 1 and "NETBOX_API and NETBOX_TOKEN not set" in unset.stderr


def test_a_refused_token_is_named(netbox: LocalNetBox, synced: object) -> None:
    proc = run_cli("netbox", "sync", "-i", str(LAB), env={"NETBOX_API": netbox.url, "NETBOX_TOKEN": "nbt_abc.def"})
    assert proc.returncode == 1 and "refused the token" in proc.stderr


def test_tenant_new_allocates_in_netbox_and_gives_back_on_failure(
    netbox: LocalNetBox, nb_env: dict[str, str], synced: object, tmp_path: Path
) -> None:
    from tests.tenants.test_cli_tenant import NEW

    stacks = tmp_path / "stacks"
    copy_tenants(stacks)
    nb = api(netbox)
    proc = run_cli("tenant", "new", "newco", *NEW, "--stacks", str(stacks), env=nb_env)
    assert proc.returncode == 0, proc.stderr
    held = [p.prefix for p in nb.ipam.prefixes.filter(tenant=["newco"])]
    assert len(held) == 1 and f"cidr: {held[0]}" in (stacks / "Pulumi.newco.yaml").read_text()
    other = load_fleet(stacks).tenants[0].spec
    assert other is not None
    taken = [*NEW[:-1], other.branding.domain]  # a domain another tenant has: the file is refused
    refused = run_cli("tenant", "new", "badco", *taken, "--stacks", str(stacks), env=nb_env)
    assert refused.returncode == 1 and f"{other.branding.domain} is already used by" in refused.stderr
    assert not (stacks / "Pulumi.badco.yaml").exists()
    assert list(nb.ipam.prefixes.filter(tenant=["badco"])) == []  # its prefix was given back
