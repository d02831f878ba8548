"""`werkraum rack validate`: each rule broken once in a copy of the office inventory, found and located.

Every test runs the real check (one ansible-playbook run on the controller, no host reached).
"""

from __future__ import annotations

import base64
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from werkraum.errors import WerkraumError
from werkraum.rack.hostvars import HostVars
from werkraum.rack.locate import Locator
from werkraum.rack.ssh_keys import ssh_key_problem
from werkraum.rack.validate import Problem, validate_inventory

ROOT = Path(__file__).resolve().parent.parent
OFFICE = ROOT / "inventories" / "office"
LAB = ROOT / "inventories" / "lab"
ALL_VARS = "group_vars/all/main.yml"


def _copy_static(src: Path, dest: Path) -> Path:
    """The written-down rack only (hosts.yml and group_vars/): never NetBox's source."""
    dest.mkdir()
    shutil.copy(src / "hosts.yml", dest / "hosts.yml")
    shutil.copytree(src / "group_vars", dest / "group_vars")
    return dest


@pytest.fixture
def office(tmp_path: Path) -> Path:
    return _copy_static(OFFICE, tmp_path / "office")


def edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def host_entry(data: Any, group: str, host: str) -> dict[str, Any]:
    entry: dict[str, Any] = data["all"]["children"][group]["hosts"][host]
    return entry


def openssh(key: Any) -> str:
    line: str = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return line


def ed25519_key() -> str:
    return openssh(ed25519.Ed25519PrivateKey.generate().public_key())


def test_shipped_inventories_are_valid() -> None:
    # The lab reaches its hosts through podman (no ansible_user) and deploys no Ceph on its one ceph host.
    assert validate_inventory(LAB / "hosts.yml") == []
    assert validate_inventory(OFFICE / "hosts.yml") == []


def test_missing_ansible_user_over_ssh(office: Path) -> None:
    edit(office / ALL_VARS, lambda d: d.pop("ansible_user"))
    assert validate_inventory(office) == [
        Problem("group_vars/all/", "", "ansible_user", "is not set (Ansible logs in over SSH as this admin)")
    ]


def test_missing_common_admins(office: Path) -> None:
    edit(office / ALL_VARS, lambda d: d.pop("common_admins"))
    assert validate_inventory(office) == [Problem("group_vars/all/", "", "common_admins", "is not set")]


def test_bad_admin_keys_each_reported(office: Path) -> None:
    ed = ed25519_key()
    weak = openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    strong = openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    ecdsa = openssh(ec.generate_private_key(ec.SECP384R1()).public_key())

    def admins(data: Any) -> None:
        data["common_admins"] = [
            {"name": "ops", "ssh_keys": [ed, strong, ecdsa]},
            {
                "name": "alice",
                "ssh_keys": [
                    "ssh-ed25519 AAAA!!notbase64 alice@laptop",
                    "ssh-rsa " + ed.split()[1] + " alice@desk",  # an Ed25519 key labelled RSA
                    weak + " alice@old",
                    "ssh-dss AAAAB3NzaC1kc3M= alice@ancient",
                ],
            },
            {"name": "ops", "ssh_keys": [ed]},
            {"name": "Bob", "ssh_keys": []},
        ]

    edit(office / ALL_VARS, admins)
    problems = validate_inventory(office)
    assert {(p.file, p.host, p.variable) for p in problems} == {(ALL_VARS, "", "common_admins")}
    assert [p.message for p in problems] == sorted(
        [
            "[0] ops: ssh_keys[2] is of type ecdsa-sha2-nistp384, which sshd refuses under "
            "common_ssh_host_key_algorithms (it accepts sk-ssh-ed25519@openssh.com, ssh-ed25519, ssh-rsa): "
            "the admin could not log in",
            "[1] alice: ssh_keys[0] key data is not valid base64",
            "[1] alice: ssh_keys[1] says ssh-rsa but its data is a 'ssh-ed25519' key (a pasted-together line?)",
            "[1] alice: ssh_keys[2] is a 1024-bit RSA key; use ssh-ed25519, or RSA with at least 2048 bits",
            "[1] alice: ssh_keys[3] type 'ssh-dss' is not one of ssh-ed25519, ecdsa-sha2-nistp256, "
            "ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, "
            "sk-ecdsa-sha2-nistp256@openssh.com, ssh-rsa",
            "[2] ops: name ops is listed twice",
            "[3] Bob: name 'Bob' is not a Linux user name (lower-case, starting with a letter or '_', at most 32)",
            "[3] Bob: ssh_keys must be a non-empty list of public keys",
        ]
    )


def test_a_key_type_sshd_is_told_to_accept_passes(office: Path) -> None:
    ecdsa = openssh(ec.generate_private_key(ec.SECP384R1()).public_key())
    edit(office / ALL_VARS, lambda d: d.update(
        common_admins=[{"name": "ops", "ssh_keys": [ecdsa]}],
        common_ssh_host_key_algorithms=["ssh-ed25519", "ecdsa-sha2-nistp384"],
    ))  # fmt: skip
    assert validate_inventory(office) == []


def test_ssh_key_wire_format() -> None:
    def blob(*fields: bytes) -> str:
        return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()

    assert ssh_key_problem(ed25519_key() + " me@host") is None
    assert (
        ssh_key_problem("ssh-ed25519 " + blob(b"ssh-ed25519", b"x" * 31)) == "holds a 31-byte Ed25519 key (32 expected)"
    )
    assert ssh_key_problem("ssh-ed25519 " + blob(b"ssh-ed25519", b"x" * 32, b"extra")) == (
        "has extra bytes after the key data"
    )
    assert ssh_key_problem("ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\xffssh").decode()) == (
        "the key data ends early"
    )
    assert ssh_key_problem("ecdsa-sha2-nistp256 " + blob(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04")) == (
        "names curve 'nistp384', not the one of ecdsa-sha2-nistp256"
    )
    assert ssh_key_problem("ssh-ed25519") == "has no key data after its type"


def test_address_outside_network(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: host_entry(d, "ceph", "ceph-02").update(werkraum_mgmt_address="10.10.1.32"))
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml", "ceph-02", "werkraum_mgmt_address", "10.10.1.32 is outside werkraum_mgmt_network 10.10.0.0/24"
        )
    ]


def test_duplicate_address_names_both_hosts(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: host_entry(d, "ceph", "ceph-02").update(werkraum_mgmt_address="10.10.0.31"))
    assert validate_inventory(office) == [
        Problem("hosts.yml", "ceph-02", "werkraum_mgmt_address", "10.10.0.31 is also ceph-01's: give each host its own")
    ]


def test_ansible_host_elsewhere_than_mgmt_address(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: host_entry(d, "gpu", "gpu-01").update(ansible_host="10.10.0.99"))
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml",
            "gpu-01",
            "ansible_host",
            "10.10.0.99 differs from werkraum_mgmt_address 10.10.0.41: Ansible would reach the host elsewhere",
        )
    ]


def test_unstable_and_duplicate_osd_disks(office: Path) -> None:
    stable = "/dev/disk/by-id/nvme-EXAMPLE_SSD_SERIAL_31A"
    edit(
        office / "hosts.yml",
        lambda d: host_entry(d, "ceph", "ceph-01").update(ceph_osd_devices=["/dev/sdb", stable, stable]),
    )
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml",
            "ceph-01",
            "ceph_osd_devices",
            "'/dev/sdb' is not a stable disk name: use /dev/disk/by-id/... or /dev/disk/by-path/... "
            "(/dev/sdX and /dev/nvmeXnY change between boots)",
        ),
        Problem("hosts.yml", "ceph-01", "ceph_osd_devices", f"{stable} is listed twice"),
    ]


def test_two_ceph_hosts(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: d["all"]["children"]["ceph"]["hosts"].pop("ceph-03"))
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml",
            "",
            "",
            "the ceph group has 2 hosts (ceph-01, ceph-02) with ceph_deploy true: Ceph needs at least 3 "
            "(three copies of each object on three hosts), or none",
        )
    ]


def test_ceph_host_without_disks_or_network(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: host_entry(d, "ceph", "ceph-03").pop("ceph_osd_devices"))
    edit(office / "group_vars/ceph/main.yml", lambda d: d.pop("ceph_public_network"))
    unset = "is not set (the network Ceph's clients and daemons talk on)"
    assert validate_inventory(office) == [
        Problem("group_vars/ceph/", host, "ceph_public_network", unset) for host in ("ceph-01", "ceph-02", "ceph-03")
    ] + [
        Problem(
            "hosts.yml", "ceph-03", "ceph_osd_devices", "must list the host's OSD disks (e.g. /dev/disk/by-id/nvme-...)"
        )
    ]


def test_no_control_host(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: d["all"]["children"].pop("control"))
    assert validate_inventory(office) == [
        Problem("hosts.yml", "", "", "no host is in the control group: the rack needs at least one control node")
    ]


@pytest.mark.parametrize(("count", "survives"), [(2, 0), (4, 1)])
def test_an_even_control_group_has_no_quorum(office: Path, count: int, survives: int) -> None:
    def more_control(d: Any) -> None:
        control = d["all"]["children"]["control"]["hosts"]
        for n in range(2, count + 1):
            control[f"control-0{n}"] = dict(
                control["control-01"], werkraum_mgmt_address=f"10.10.0.1{n}", werkraum_rack_position=30 + n
            )

    edit(office / "hosts.yml", more_control)
    names = ", ".join(f"control-0{n}" for n in range(1, count + 1))
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml",
            "",
            "",
            f"the control group has {count} hosts ({names}): the control planes' quorum (etcd, and the "
            f"OpenStack databases) needs an odd number: 1, 3 or 5; {count} survive {survives} lost host(s), "
            f"no more than {count - 1} would",
        )
    ]


def test_bad_gpu_substrate(office: Path) -> None:
    edit(office / "hosts.yml", lambda d: host_entry(d, "gpu", "gpu-01").update(werkraum_gpu_substrate="both"))
    assert validate_inventory(office) == [
        Problem(
            "hosts.yml",
            "gpu-01",
            "werkraum_gpu_substrate",
            "'both' is not allowed: kubernetes or openstack (a GPU node serves one)",
        )
    ]


def test_invalid_and_case_duplicate_host_names(office: Path) -> None:
    def rename(data: Any) -> None:
        gpu = data["all"]["children"]["gpu"]["hosts"]
        gpu["GPU_01"] = gpu.pop("gpu-01")
        data["all"]["children"]["service"]["hosts"]["Ceph-01"] = {"werkraum_mgmt_address": "10.10.0.22"}

    edit(office / "hosts.yml", rename)
    invalid = (
        "is not a valid host name: lower-case letters, digits and '-', at most 63, no '-' at either end (RFC 1123)"
    )
    assert validate_inventory(office) == [
        Problem("hosts.yml", "Ceph-01", "", invalid),
        Problem("hosts.yml", "GPU_01", "", invalid),
        Problem("hosts.yml", "ceph-01", "", "is the same name as Ceph-01 (host names are case-insensitive)"),
    ]


def test_template_error_in_one_variable_hides_nothing(office: Path) -> None:
    (office / "host_vars").mkdir()
    (office / "host_vars" / "ceph-01.yml").write_text(
        'werkraum_site: "{{ no_such_variable }}"\ncommon_domain: "{{ 1 + }}"\nwerkraum_rack: rack-2\n'
    )
    edit(office / "hosts.yml", lambda d: host_entry(d, "gpu", "gpu-01").update(werkraum_gpu_substrate="vms"))
    assert validate_inventory(office) == [
        Problem(
            "host_vars/ceph-01.yml",
            "ceph-01",
            "common_domain",
            "does not template: Syntax error in template: unexpected 'end of print statement'",
        ),
        Problem(
            "host_vars/ceph-01.yml",
            "ceph-01",
            "werkraum_rack",
            "'rack-2' differs from 'rack-1' on ceph-02, ceph-03, control-01 and 2 more: "
            "one inventory describes one rack",
        ),
        Problem(
            "host_vars/ceph-01.yml", "ceph-01", "werkraum_site", "does not template: 'no_such_variable' is undefined"
        ),
        Problem(
            "hosts.yml",
            "gpu-01",
            "werkraum_gpu_substrate",
            "'vms' is not allowed: kubernetes or openstack (a GPU node serves one)",
        ),
    ]


def test_unreadable_yaml_names_the_file(office: Path) -> None:
    (office / "group_vars" / "gpu" / "gpu_node.yml").write_text("gpu_sharing_mode: [time-slicing\n")
    with pytest.raises(WerkraumError, match=r"/office/group_vars/gpu/gpu_node.yml: not valid YAML: line 2"):
        validate_inventory(office)


def test_empty_inventory_is_an_error(office: Path) -> None:
    (office / "hosts.yml").write_text("---\n# nothing yet\n")
    with pytest.raises(WerkraumError, match=r"/office/hosts.yml: empty inventory"):
        validate_inventory(office)


def test_inventory_without_hosts_is_an_error(office: Path) -> None:
    (office / "hosts.yml").write_text("all:\n  children:\n    control: {}\n")
    with pytest.raises(WerkraumError, match=r"holds no hosts"):
        validate_inventory(office)


def test_netbox_source_names_the_device(office: Path) -> None:
    netbox = office / "netbox.yml"
    netbox.write_text("plugin: netbox.netbox.nb_inventory\n")
    locator = Locator(office, netbox)
    host = HostVars("ceph-01", ["ceph"], {"werkraum_mgmt_address": "10.10.0.31"}, {})
    assert locator.file_of(host, "werkraum_mgmt_address") == "netbox.yml (NetBox device ceph-01)"
    assert locator.file_of(host, "ceph_osd_devices") == "netbox.yml (NetBox device ceph-01)"
    assert locator.file_of(host, "ceph_public_network") == "group_vars/ceph/main.yml"
    assert locator.file_of(host, "ansible_user") == ALL_VARS


def test_problem_text() -> None:
    assert (
        str(Problem("hosts.yml", "ceph-01", "ceph_osd_devices", "bad"))
        == "hosts.yml: host ceph-01: ceph_osd_devices: bad"
    )
    assert str(Problem("hosts.yml", "", "", "no control")) == "hosts.yml: no control"


def test_rack_validate_and_converge_refuse_a_broken_inventory_before_any_change(office: Path, tmp_path: Path) -> None:
    """The CLI: each problem on its own line with file, host and variable; `rack converge` stops before Ansible runs."""
    from tests.conftest import run_cli

    edit(office / "hosts.yml", lambda d: host_entry(d, "ceph", "ceph-02").update(ceph_osd_devices=["/dev/sdb"]))
    edit(office / ALL_VARS, lambda d: d.pop("ansible_user"))
    proc = run_cli("rack", "validate", "-i", str(office))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "hosts.yml: host ceph-02: ceph_osd_devices:" in proc.stderr and "/dev/sdb" in proc.stderr
    assert "group_vars/all/: ansible_user: is not set" in proc.stderr  # where it belongs: it is set nowhere
    artifacts = tmp_path / "artifacts"
    converge = run_cli("rack", "converge", "-i", str(office / "hosts.yml"), "--artifacts", str(artifacts))
    assert converge.returncode == 1 and "problems" in converge.stderr and "nothing was converged" in converge.stderr
    assert not artifacts.exists()  # ansible-runner never started: no host was contacted
