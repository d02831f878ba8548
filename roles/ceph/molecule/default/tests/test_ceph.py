"""Per host: the daemons the role set up run, and the secrets it wrote are private."""

from __future__ import annotations

import pytest

MONITORS = ("ceph-01", "ceph-02", "ceph-03")


def test_ceph_conf_names_every_monitor(host):
    conf = host.file("/etc/ceph/ceph.conf")
    assert conf.mode == 0o644
    for address in ("10.77.0.11", "10.77.0.12", "10.77.0.13"):
        assert f"v2:{address}:3300" in conf.content_string
    assert "auth_allow_insecure_global_id_reclaim = false" in conf.content_string


@pytest.mark.parametrize("path", ["/etc/ceph/ceph.client.admin.keyring", "/var/lib/ceph/bootstrap-osd/ceph.keyring"])
def test_keys_are_root_only(host, path):
    key = host.file(path)
    assert key.user == "root"
    assert key.mode == 0o600


def test_monitor_and_manager_run(host):
    name = host.backend.get_hostname()
    if name in MONITORS:
        assert host.service(f"ceph-mon@{name}").is_running
        assert host.service(f"ceph-mon@{name}").is_enabled
        assert host.service(f"ceph-mgr@{name}").is_running
        assert host.file(f"/var/lib/ceph/mgr/ceph-{name}/keyring").mode == 0o600


def test_osd_runs_on_the_named_disk(host):
    listing = host.check_output("ceph-volume lvm list --format json")
    assert "/dev/vd" in listing
    out = host.check_output("systemctl list-units --state=running --no-legend 'ceph-osd@*'")
    assert "ceph-osd@" in out


def test_rgw_listens_on_ceph_01_only(host):
    name = host.backend.get_hostname()
    rgw = host.service(f"ceph-radosgw@rgw.{name}")
    if name == "ceph-01":
        assert rgw.is_running and rgw.is_enabled
        assert host.socket("tcp://10.77.0.11:7480").is_listening
    else:
        assert not rgw.is_running
