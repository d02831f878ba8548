"""A wrong variable stops the play at its start, naming the variable; a GPU node without a GPU stops too.

Runs the real roles with ansible-playbook against a container of the lab image
(the podman connection), and checks that nothing was changed before the stop.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONTAINERS_CONF, ROOT, VENV_BIN, have_podman, podman, run_cli

pytestmark = [pytest.mark.lab, pytest.mark.skipif(not have_podman(), reason="podman is not installed")]
TARGET = "werkraum-argtest"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkpiQXQOylLsfpH/GxU3AIKpmlMdy5gYPqmzx/nEqLd a@b"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    image = run_cli("lab", "image").stdout.strip()
    podman("rm", "-f", TARGET)
    assert podman("run", "-d", "--name", TARGET, "--systemd=always", image).returncode == 0
    yield TARGET
    podman("rm", "-f", TARGET)


def play(tmp_path: Path, role: str, variables: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "inventory").write_text(
        f"{TARGET} ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n"
    )
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"name": "t", "hosts": "all", "become": True, "roles": [role]}]))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "CONTAINERS_CONF": CONTAINERS_CONF,
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    }
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml")]
    return subprocess.run(
        [*cmd, "-e", f"@{tmp_path / 'vars.yml'}"], capture_output=True, text=True, env=env, check=False
    )


def assert_stopped_unchanged(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert message in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    recap = proc.stdout.rsplit("PLAY RECAP", 1)[1]
    assert "changed=0" in recap and "failed=1" in recap


@pytest.mark.parametrize(
    ("role", "variables", "message"),
    [
        (
            "common",
            {"common_admins": [{"name": "eve", "ssh_keys": ["ssh-ed25519 not*base64 eve@x"]}]},
            "common_admins: the SSH key of 'eve' is not an OpenSSH public key",
        ),
        (
            "common",
            {
                "common_admins": [{"name": "eve", "ssh_keys": [KEY]}],
                "common_firewall_extra_ports": [{"port": 70000, "comment": "too-high"}],
            },
            "is not valid: port and port_end must be whole numbers in 1-65535",
        ),
        (
            "common",
            {"common_firewall_extra_ports": [{"port": 0}]},
            "is not valid: port and port_end must be whole numbers in 1-65535",
        ),
        ("common", {"common_firewall_extra_ports": [{"port": "https"}]}, "common_firewall_extra_ports"),
        (
            "common",
            {"common_firewall_extra_ports": [{"port": 8080, "sources": ["10.0.0"]}]},
            "common_firewall_extra_ports: firewall port",
        ),
        (
            "common",
            {"common_chrony_allow": ["all"]},
            "common_chrony_allow ['all'] must be a list of networks in CIDR form (the firewall opens NTP to them)",
        ),
        ("netbox", {"netbox_firewall_ports": [{"port": "https"}]}, "found in 'netbox_firewall_ports'"),
        (
            "gpu_node",
            {"gpu_expect_gpu": False, "gpu_sharing_mode": "magic"},
            "value of gpu_sharing_mode must be one of: none, time-slicing, mig, got: magic",
        ),
        ("gpu_node", {"gpu_expect_gpu": False, "gpu_sharing_mode": "mig"}, "mig needs gpu_mig_profiles"),
        (
            "gpu_node",
            {"gpu_expect_gpu": False},
            "gpu_container_runtime=containerd, but /etc/containerd/conf.d does not exist: the containerd role",
        ),
        ("netbox", {"netbox_gunicorn_workers": "many"}, "netbox_gunicorn_workers"),
        (
            "netbox",
            {},
            "needs Python 3.12 or newer and this host has 3.11 (Debian 12 ships 3.11): run the service node on Debian 13",
        ),
        (
            "gpu_node",
            {"gpu_expect_gpu": False, "gpu_sharing_mode": "mig", "gpu_mig_profiles": ["big"]},
            "mig needs gpu_mig_profiles",
        ),
        (
            "ceph",
            {"ceph_group": "all", "ceph_public_network": "10.0.0"},
            "ceph_public_network must be a CIDR (it is '10.0.0')",
        ),
        (
            "ceph",
            {"ceph_group": "all", "ceph_public_network": "0.0.0.0/0", "ceph_osd_devices": ["/dev/sdb"]},
            "(names like /dev/sdb change between boots); not stable: /dev/sdb",
        ),
        (
            "ceph",
            {
                "ceph_group": "all",
                "ceph_public_network": "0.0.0.0/0",
                "ceph_osd_devices": ["/dev/disk/by-id/virtio-absent"],
            },
            f"{TARGET}: /dev/disk/by-id/virtio-absent is missing (no block device at this path)",
        ),
        (
            "ceph",
            {
                "ceph_group": "all",
                "ceph_public_network": "0.0.0.0/0",
                "ceph_firewall_ports": [{"port": 7300, "port_end": 6800, "comment": "backwards"}],
            },
            "ceph_firewall_ports: firewall port",
        ),
    ],
)
def test_wrong_variable_stops_the_play(
    target: str, tmp_path: Path, role: str, variables: dict[str, object], message: str
) -> None:
    assert_stopped_unchanged(play(tmp_path, role, variables), message)


def test_gpu_node_without_gpu_stops_before_any_change(target: str, tmp_path: Path) -> None:
    proc = play(tmp_path, "gpu_node", {})
    assert_stopped_unchanged(proc, f"gpu_node: {TARGET} has no NVIDIA GPU (no PCI device of vendor 10de)")
    assert "gpu_expect_gpu: false" in " ".join(proc.stdout.split())
    assert podman("exec", target, "test", "-e", "/etc/modprobe.d/blacklist-nouveau.conf").returncode != 0
