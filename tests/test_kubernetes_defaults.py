"""The Kubernetes check stops a play before any change: a wrong pin, a control group without quorum, a node
whose address is not its own, a firewall that drops pod traffic, no mirror, a mirror without a file.

The role changes nothing on a host (it asks the mirror), so it runs here with the
local connection, against a files mirror served by a real HTTP server from a tree
that `werkraum mirror index` indexed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, run_cli
from werkraum.lifecycle import Process, free_port, http_check
from werkraum.mirror import pins


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A files mirror over HTTP holding every pinned file but containerd's archive."""
    root = tmp_path / "files"
    pinned = pins.load(ROOT)
    for key, relative in pinned.files.items():
        if key != "containerd":
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(key)
    assert run_cli("mirror", "index", str(root)).returncode == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)]
    check = http_check(f"{url}/index.json")
    with Process("files mirror", argv, check=check, log=tmp_path / "mirror.log", timeout=30):
        yield url, root


def this_address() -> str:
    """The machine's own IPv4 address (Ansible's all_ipv4_addresses leaves loopback out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        address: str = probe.getsockname()[0]
    return address


def play(
    tmp_path: Path, variables: dict[str, object], control: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run kubernetes_defaults on this machine as control-01 of a control group (``control``: name -> address)."""
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump(
            [{"name": "pins", "hosts": "control-01", "gather_facts": False, "roles": ["kubernetes_defaults"]}]
        )
    )
    members = control or {"control-01": this_address()}
    inventory = {
        "all": {"children": {"control": {"hosts": {h: {"werkraum_mgmt_address": a} for h, a in members.items()}}}}
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        # One line per result: the messages are matched as the user reads them, unwrapped.
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    }
    cmd = [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        str(tmp_path / "hosts.yml"),
        "-c",
        "local",
        str(tmp_path / "play.yml"),
    ]
    return subprocess.run(
        [*cmd, "-e", f"@{tmp_path / 'vars.yml'}", "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_an_unsupported_minor_is_refused_naming_the_variable_and_host(tmp_path: Path) -> None:
    proc = play(tmp_path, {"kubernetes_version": "v1.33.0"})
    assert proc.returncode == 2
    assert "kubernetes_version=v1.33.0 (host control-01): not a release of a minor these roles support" in proc.stdout


def test_a_rack_without_a_mirror_is_refused(tmp_path: Path) -> None:
    proc = play(tmp_path, {})
    assert proc.returncode == 2
    assert "host control-01: kubernetes_files_repo and kubernetes_image_repo must name the rack's mirror" in proc.stdout


def test_an_unreachable_mirror_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = play(tmp_path, {"kubernetes_files_repo": url, "kubernetes_image_repo": "registry.invalid"})
    assert proc.returncode == 2
    assert f"the mirror's index {url}/index.json could not be read" in proc.stdout


def test_a_file_the_mirror_lacks_is_named_before_anything_else(tmp_path: Path, mirror: tuple[str, Path]) -> None:
    url, _root = mirror
    proc = play(tmp_path, {"kubernetes_files_repo": url, "kubernetes_image_repo": "registry.invalid"})
    assert proc.returncode == 2
    containerd = pins.load(ROOT).files["containerd"]
    assert f"the mirror {url} lacks {containerd} (pinned in roles/kubernetes_defaults" in proc.stdout
    assert "changed=0" in proc.stdout


def test_a_control_group_of_two_has_no_quorum(tmp_path: Path) -> None:
    proc = play(tmp_path, {}, control={"control-01": this_address(), "control-02": "192.0.2.12"})
    assert proc.returncode == 2
    assert (
        'host control-01: the control group "control" (kubernetes_control_group) has 2 host(s): control-01, control-02'
        in proc.stdout
    )
    assert "2 cannot lose one" in proc.stdout


def test_three_control_nodes_need_an_endpoint_in_front_of_them(tmp_path: Path) -> None:
    control = {"control-01": this_address(), "control-02": "192.0.2.12", "control-03": "192.0.2.13"}
    proc = play(tmp_path, {}, control=control)
    assert proc.returncode == 2
    assert f"kubernetes_control_plane_endpoint={this_address()}:6443 must be" in proc.stdout
    assert "not one node's address" in proc.stdout
    # With a name in front of the three, the play goes on to the next check (the mirror).
    proc = play(tmp_path, {"kubernetes_control_plane_endpoint": "api.k8s.example:6443"}, control=control)
    assert "kubernetes_files_repo and kubernetes_image_repo must name the rack's mirror" in proc.stdout


def test_a_node_whose_address_is_not_its_own_is_named(tmp_path: Path) -> None:
    proc = play(tmp_path, {}, control={"control-01": "192.0.2.77"})
    assert proc.returncode == 2
    assert (
        "host control-01: a Kubernetes node needs a DNS-label name, and kubernetes_address (192.0.2.77)" in proc.stdout
    )
    assert "must be one of this host's addresses" in proc.stdout


def test_overlapping_pod_and_service_networks_are_refused(tmp_path: Path) -> None:
    proc = play(tmp_path, {"kubernetes_pod_subnet": "10.42.0.0/16", "kubernetes_service_subnet": "10.42.128.0/20"})
    assert proc.returncode == 2
    assert "kubernetes_pod_subnet=10.42.0.0/16 and kubernetes_service_subnet=10.42.128.0/20 must be" in proc.stdout


def test_a_firewall_that_drops_forwarded_traffic_is_named(tmp_path: Path) -> None:
    proc = play(tmp_path, {"common_firewall_enabled": True, "common_firewall_forward_policy": "drop"})
    assert proc.returncode == 2
    assert "host control-01: common_firewall_forward_policy is drop: a Kubernetes node forwards" in proc.stdout
