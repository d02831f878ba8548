"""The qemu guest lab's spec checks, guest image recipe, guest processes and CLI errors, and the ceph role's disk probe.

Starting guests takes minutes under emulation; that is exercised by the ceph
role's Molecule scenario (make test-ceph), not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.harness.vm import GUEST_DATA, ROOT_LABEL, ROOT_SIZE_GB, Disk, VmImageRecipe, VmLab, guest_recipe
from werkraum.errors import WerkraumError
from werkraum.lab.image import ImageRecipe, disk_dir

SPEC = {
    "name": "t",
    "network": "10.79.0.0/24",
    "guests": [{"name": "ceph-01", "address": "10.79.0.11", "disks": [{"serial": "osd-a", "size_gb": 4}]}],
}


def test_spec_round_trip_and_instance_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    lab = VmLab.from_spec(SPEC)
    assert lab.guests[0].disks == (Disk(serial="osd-a", size_gb=4),)
    assert lab.host_address == "10.79.0.1"
    assert len(lab.bridge) <= 15 and len(lab._tap(lab.guests[0])) <= 15  # Linux interface names
    lab.save()
    assert VmLab.load("t").spec() == lab.spec()
    (config,) = lab.instance_config()
    assert config["instance"] == "ceph-01"
    assert config["address"] == "10.79.0.11"
    assert config["identity_file"] == str(tmp_path / "werkraum" / "vm" / "t" / "id_ed25519")


def test_a_guest_outside_the_network_is_refused_by_name() -> None:
    spec = {**SPEC, "guests": [{"name": "ceph-09", "address": "10.80.0.9"}]}
    with pytest.raises(WerkraumError, match=r"guest ceph-09: address 10.80.0.9 is not in 10.79.0.0/24"):
        VmLab.from_spec(spec)


def test_an_incomplete_spec_names_what_it_needs() -> None:
    with pytest.raises(WerkraumError, match="it needs name, network and guests"):
        VmLab.from_spec({"name": "t", "guests": []})


def test_cli_refuses_a_broken_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "guests.yml"
    spec.write_text("name: t\nnetwork: [unclosed\n")
    proc = run_cli("lab", "vm", "up", "--spec", str(spec))
    assert proc.returncode == 1
    assert f"{spec}: not YAML or JSON" in proc.stderr


def test_cli_down_of_a_lab_that_is_not_up_is_harmless(tmp_path: Path) -> None:
    proc = run_cli("lab", "vm", "down", "nosuch", env={"XDG_STATE_HOME": str(tmp_path)})
    assert proc.returncode == 0
    assert "guest lab nosuch is not up" in proc.stderr
    proc = run_cli("lab", "vm", "status", "nosuch", env={"XDG_STATE_HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert "no guest lab named 'nosuch' is up" in proc.stderr


@pytest.mark.parametrize("path", ["/dev/disk/by-id/does-not-exist", "/dev/null"])
def test_disk_probe_reports_a_path_without_a_block_device_as_missing(path: str) -> None:
    script = ROOT / "roles" / "ceph" / "files" / "ceph-disk-state"
    out = subprocess.run([str(script), path], capture_output=True, text=True, check=True).stdout
    state = json.loads(out)
    assert state == {
        "device": path,
        "path": "",
        "state": "missing",
        "detail": "no block device at this path",
        "fsid": "",
        "osd_id": "",
    }


def test_the_guest_disk_is_built_from_the_one_image_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    recipe = guest_recipe()
    assert isinstance(recipe, ImageRecipe) and VmImageRecipe is guest_recipe  # the name cli_vm.py calls
    assert {"linux-image-amd64", "openssh-server", "python3"} <= set(recipe.packages)
    assert recipe.overlay == GUEST_DATA and recipe.remove == ("etc/ssh/ssh_host_*",)
    assert ("etc/fstab", "LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1\n") in recipe.files
    # The cache key follows the recipe: preloaded packages and the release rebuild the disk.
    assert guest_recipe(preload=("ceph-osd",)).digest() != recipe.digest() == guest_recipe().digest()
    assert guest_recipe(suite="trixie").digest() != recipe.digest()
    assert disk_dir(recipe, ROOT_SIZE_GB, ROOT_LABEL).name.startswith("debian-bookworm-")


def test_a_guest_is_a_process_found_and_stopped_through_its_pidfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `werkraum lab vm stop` does to a guest an earlier command started (a stand-in process, not qemu)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    lab = VmLab.from_spec(SPEC)
    assert not lab.running("ceph-01")
    lab.stop("ceph-01")  # not running: nothing to do
    stand_in = lab._qemu("ceph-01", [sys.executable, "-c", "import time; time.sleep(60)"])
    stand_in.spawn()
    pidfile = lab.dir / "ceph-01" / "qemu.pid"
    assert pidfile.read_text().strip() == str(stand_in.pid)
    later = VmLab.from_spec(SPEC)  # another command: it knows the guest only by its pidfile
    assert later.running("ceph-01")
    later.stop("ceph-01", hard=True)
    assert not later.running("ceph-01") and not pidfile.exists()


def test_ssh_tries_a_timed_out_connection_again_but_not_a_failed_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh's exit 255 "banner exchange" timeout is the connection, not the command: tried again, then the result."""
    from tests.harness import vm

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(vm.time, "sleep", lambda _s: None)
    lab = VmLab.from_spec(SPEC)
    answers = [
        (255, "", "Connection timed out during banner exchange"),
        (255, "", "ssh: connect to host 10.79.0.11 port 22: Connection timed out"),
        (0, "HEALTH_OK\n", ""),
    ]
    calls: list[str] = []

    def fake_ssh(name: str, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        code, out, err = answers.pop(0)
        return subprocess.CompletedProcess(["ssh"], code, out, err)

    monkeypatch.setattr(lab, "_ssh", fake_ssh)
    assert lab.ssh("ceph-01", "ceph health") == "HEALTH_OK\n" and len(calls) == 3
    answers[:] = [(255, "", "Permission denied (publickey)."), (0, "never asked", "")]
    with pytest.raises(WerkraumError, match=r"failed \(exit 255\): Permission denied"):
        lab.ssh("ceph-01", "ceph health")
    answers[:] = [(1, "", "Error initializing cluster client")]
    with pytest.raises(WerkraumError, match="exit 1"):
        lab.ssh("ceph-01", "ceph health")
    answers[:] = [(255, "", "Connection timed out during banner exchange")] * vm.SSH_CONNECT_TRIES
    with pytest.raises(WerkraumError, match="banner exchange"):
        lab.ssh("ceph-01", "ceph health")
    assert answers == []
