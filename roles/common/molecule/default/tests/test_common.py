"""What the common role must leave on a host, checked on the converged instance."""

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkpiQXQOylLsfpH/GxU3AIKpmlMdy5gYPqmzx/nEqLd"


def test_hostname(host):
    assert host.check_output("hostname") == "molecule-common-default"


def test_hosts_file_lists_rack_and_extra_entries(host):
    hosts = host.file("/etc/hosts").content_string
    assert "10.88.0.250 molecule-common-default.rack.werkraum.internal molecule-common-default" in hosts
    assert "192.0.2.10 backup.example.internal backup" in hosts


def test_admins_have_exactly_their_keys_and_sudo(host):
    for name in ("alice", "bob"):
        user = host.user(name)
        assert user.exists
        assert "werkraum-admins" in user.groups
        keys = host.file(f"/home/{name}/.ssh/authorized_keys")
        assert keys.mode == 0o600
        assert keys.user == name
        assert keys.content_string.strip() == f"{KEY} {name}@werkraum"
        shadow = host.check_output(f"getent shadow {name}").split(":")[1]
        assert shadow.startswith("!"), "admins log in with keys only"
    assert host.check_output("sudo -l -U alice") .find("NOPASSWD: ALL") >= 0
    sudoers = host.file("/etc/sudoers.d/werkraum-admins")
    assert sudoers.mode == 0o440
    assert host.run("visudo -cf /etc/sudoers").rc == 0


def test_departed_admin_removed(host):
    assert not host.user("mallory").exists


def test_ssh_server_running(host):
    ssh = host.service("ssh")
    assert ssh.is_enabled
    assert ssh.is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_chrony_serves_time(host):
    chrony = host.service("chrony")
    assert chrony.is_enabled
    assert chrony.is_running
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "local stratum 10" in conf
    assert "allow 127.0.0.1/32" in conf
    assert "-x" in host.file("/etc/default/chrony").content_string
    tracking = host.check_output("chronyc -n tracking")
    assert "Stratum" in tracking


def test_journald_is_capped(host):
    conf = host.file("/etc/systemd/journald.conf.d/werkraum.conf").content_string
    assert "SystemMaxUse=256M" in conf
    assert "Storage=persistent" in conf
    assert host.service("systemd-journald").is_running
    # The running journald took the limit: it reports the cap it enforces.
    out = host.check_output("journalctl -b -u systemd-journald --no-pager")
    assert "max 256.0M" in out
