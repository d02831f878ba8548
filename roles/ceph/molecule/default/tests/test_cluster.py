"""The cluster as a whole, checked from this machine: HEALTH_OK, an S3 round trip
through RGW with boto3, an RBD round trip through the kernel client, the loss of
a host (power pulled) and its return, and a disk with data on it refused.

Each step prints what it saw (run with -s), so the Molecule log shows the
cluster's state at every point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

# The qemu guest lab is test harness, in the checkout's tests/ (not in the werkraum package).
sys.path.insert(0, str(Path(__file__).resolve().parents[5]))
from tests.harness.vm import VmLab  # noqa: E402

LAB = "molecule-ceph"
HEALTH_TIMEOUT_S = 1200
SCENARIO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab() -> VmLab:
    return VmLab.load(LAB)


def ceph(lab: VmLab, args: str, guest: str = "ceph-01") -> str:
    return lab.ssh(guest, f"ceph --connect-timeout 30 {args}")


def status(lab: VmLab, guest: str = "ceph-01") -> dict:
    return json.loads(ceph(lab, "status -f json", guest))


def wait_for(lab: VmLab, what: str, check, timeout: float = HEALTH_TIMEOUT_S, guest: str = "ceph-01") -> dict:
    """Poll `ceph status` until check(status) holds; print each new health summary on the way."""
    started = time.monotonic()
    last = ""
    while True:
        st = status(lab, guest)
        summary = f"{st['health']['status']}: " + "; ".join(
            c["summary"]["message"] for c in st["health"].get("checks", {}).values()
        )
        if summary != last:
            print(f"    [{time.monotonic() - started:5.0f}s] {summary}")
            last = summary
        if check(st):
            print(f"  {what}: reached after {time.monotonic() - started:.0f}s")
            return st
        if time.monotonic() - started > timeout:
            print(ceph(lab, "health detail", guest))
            pytest.fail(f"{what}: not reached within {timeout:.0f}s (last: {summary})")
        time.sleep(10)


def health_ok(st: dict) -> bool:
    return st["health"]["status"] == "HEALTH_OK"


def s3_client() -> tuple[object, dict]:
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ceph" / "s3-backup.json"
    assert path.stat().st_mode & 0o777 == 0o600, f"{path} must be private"
    creds = json.loads(path.read_text())
    client = boto3.client(
        "s3",
        endpoint_url=creds["endpoints"][0],
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="default",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10, "mode": "standard"}),
    )
    return client, creds


def rbd_write(lab: VmLab, image: str, megabytes: int) -> str:
    """Create an image, map it with the kernel client, write random data, return its sha256."""
    out = lab.ssh(
        "ceph-01",
        f"set -e; rbd create kubernetes/{image} --size 64; dev=$(rbd map kubernetes/{image}); "
        f"head -c {megabytes}M /dev/urandom > /root/{image}.in; "
        f"dd if=/root/{image}.in of=$dev bs=1M oflag=direct status=none; rbd unmap $dev; "
        f"sha256sum < /root/{image}.in",
    )
    return out.split()[0]


def rbd_read(lab: VmLab, image: str, megabytes: int) -> str:
    """Map the image afresh (no page cache) and return the sha256 of what the cluster holds."""
    out = lab.ssh(
        "ceph-01",
        f"set -e; dev=$(rbd map kubernetes/{image}); "
        f"dd if=$dev bs=1M count={megabytes} iflag=direct status=none | sha256sum; rbd unmap $dev",
    )
    return out.split()[0]


def test_health_ok_with_three_osds(lab: VmLab) -> None:
    st = wait_for(lab, "HEALTH_OK", health_ok)
    print(ceph(lab, "status"))
    assert st["osdmap"]["num_osds"] == 3
    assert st["osdmap"]["num_up_osds"] == 3
    assert sorted(st["quorum_names"]) == ["ceph-01", "ceph-02", "ceph-03"]
    pools = json.loads(ceph(lab, "osd pool ls detail -f json"))
    for pool in pools:
        assert (pool["size"], pool["min_size"]) == (3, 2), pool["pool_name"]
    rbd_pools = {p["pool_name"] for p in pools if "rbd" in p.get("application_metadata", {})}
    assert {"volumes", "images", "kubernetes"} <= rbd_pools


def test_s3_round_trip_through_rgw() -> None:
    client, creds = s3_client()
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    body = os.urandom(256 * 1024)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="nightly/db.dump", Body=body)
    got = client.get_object(Bucket=bucket, Key="nightly/db.dump")["Body"].read()
    assert got == body
    print(f"  S3 round trip: put and got back {len(body)} bytes, {creds['endpoints'][0]}/{bucket}/nightly/db.dump")


def test_client_files_handed_to_the_controller() -> None:
    fetched = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ceph"
    conf = (fetched / "ceph.conf").read_text()
    for address in ("10.77.0.11", "10.77.0.12", "10.77.0.13"):
        assert f"[v2:{address}:3300,v1:{address}:6789]" in conf, conf
    for client in ("openstack", "kubernetes"):
        keyring = fetched / f"ceph.client.{client}.keyring"
        assert keyring.stat().st_mode & 0o777 == 0o600
        assert f"[client.{client}]" in keyring.read_text()
    print(f"  client ceph.conf and keyrings in {fetched}: mon_host names all three monitors")


def test_rbd_round_trip_through_the_kernel_client(lab: VmLab) -> None:
    written = rbd_write(lab, "roundtrip", 16)
    read = rbd_read(lab, "roundtrip", 16)
    assert read == written
    print(f"  RBD round trip: 16 MiB written through rbd map and read back, sha256 {read[:16]}...")


def test_losing_a_host_degrades_and_recovers(lab: VmLab) -> None:
    client, _ = s3_client()
    bucket = f"loss-{uuid.uuid4().hex[:8]}"
    body = os.urandom(128 * 1024)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="before", Body=body)
    written = rbd_write(lab, "loss", 8)

    print("  pulling the power of ceph-03")
    lab.stop("ceph-03", hard=True)
    st = wait_for(lab, "ceph-03's OSD down, cluster degraded", lambda s: s["osdmap"]["num_up_osds"] == 2, timeout=600)
    print(ceph(lab, "status"))
    assert st["health"]["status"] == "HEALTH_WARN", "losing one of three hosts must degrade, not fail, the cluster"
    assert sorted(st["quorum_names"]) == ["ceph-01", "ceph-02"]

    assert client.get_object(Bucket=bucket, Key="before")["Body"].read() == body
    client.put_object(Bucket=bucket, Key="during", Body=body)
    assert rbd_read(lab, "loss", 8) == written
    print("  with ceph-03 down: the S3 object and the RBD image read back intact; a new S3 write succeeded")

    print("  starting ceph-03 again")
    lab.start("ceph-03")
    lab.wait_ssh(["ceph-03"])
    wait_for(lab, "HEALTH_OK after ceph-03 returned", health_ok)
    print(ceph(lab, "status"))
    assert client.get_object(Bucket=bucket, Key="during")["Body"].read() == body
    assert rbd_read(lab, "loss", 8) == written


def test_a_disk_with_a_filesystem_is_refused_and_left_alone(lab: VmLab) -> None:
    before = lab.ssh("ceph-01", "blkid -p -o export /dev/disk/by-id/virtio-old-data")
    assert "TYPE=ext4" in before
    env = dict(os.environ)
    env["ANSIBLE_ROLES_PATH"] = str(SCENARIO.parents[2])
    extra = {"ceph_osd_devices": ["/dev/disk/by-id/virtio-osd-a", "/dev/disk/by-id/virtio-old-data"]}
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / "converge.yml"),
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1200,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "ceph-01: /dev/disk/by-id/virtio-old-data" in out, out[-3000:]
    assert "ext4" in out
    recap = out[out.rindex("PLAY RECAP") :]
    print(recap)
    assert set(re.findall(r"changed=(\d+)", recap)) == {"0"}, recap
    assert lab.ssh("ceph-01", "blkid -p -o export /dev/disk/by-id/virtio-old-data") == before
    print("  the play stopped, named ceph-01's virtio-old-data (ext4) and changed nothing; the disk is untouched")
