"""What the common role must leave on a host, checked on the converged instance."""

import time

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkpiQXQOylLsfpH/GxU3AIKpmlMdy5gYPqmzx/nEqLd"


def address(host):
    return host.interface("eth0").addresses[0]


def test_hosts_file_lists_rack_and_extra_entries(host):
    hosts = host.file("/etc/hosts").content_string
    assert f"{address(host)} molecule-common-default.rack.werkraum.internal molecule-common-default" in hosts
    assert "192.0.2.10 backup.example.internal backup" in hosts


def test_rack_ca_is_trusted_and_a_retired_one_is_not(host):
    assert host.file("/usr/local/share/ca-certificates/werkraum-molecule-test.crt").exists
    assert not host.file("/usr/local/share/ca-certificates/werkraum-retired.crt").exists
    # OpenSSL verifies a certificate against the system bundle only if the CA is in it.
    listed = host.check_output(
        "openssl crl2pkcs7 -nocrl -certfile /etc/ssl/certs/ca-certificates.crt | openssl pkcs7 -print_certs -noout"
    )
    assert "CN=Werkraum Molecule Test CA" in listed.replace(" = ", "=")
    assert "Werkraum Retired Test CA" not in listed


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
    assert "NOPASSWD: ALL" in host.check_output("sudo -l -U alice")
    assert host.file("/home/alice").mode == 0o750
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


# --- hardening ----------------------------------------------------------------------------


def sshd_effective(host):
    out = host.check_output("sshd -T -C user=alice,host=example,addr=10.88.0.1")
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if " " in line}


def test_sshd_effective_configuration(host):
    cfg = sshd_effective(host)
    assert cfg["permitrootlogin"] == "no"
    assert cfg["passwordauthentication"] == "no"
    assert cfg["kbdinteractiveauthentication"] == "no"
    assert cfg["authenticationmethods"] == "publickey"
    assert cfg["allowgroups"] == "werkraum-admins"
    assert cfg["clientaliveinterval"] == "300" and cfg["clientalivecountmax"] == "2"
    assert cfg["x11forwarding"] == "no" and cfg["allowtcpforwarding"] == "no"
    assert set(cfg["ciphers"].split(",")) <= {
        "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
        "aes256-ctr", "aes192-ctr", "aes128-ctr",
    }
    assert all(m.endswith("-etm@openssh.com") for m in cfg["macs"].split(","))
    assert "diffie-hellman-group1-sha1" not in cfg["kexalgorithms"]
    assert not host.file("/etc/ssh/ssh_host_ecdsa_key").exists


def test_ssh_audit_finds_no_failure(host):
    """ssh-audit (PyPI) from the machine running the tests against the instance's sshd."""
    import json
    import shutil
    import subprocess

    tool = shutil.which("ssh-audit")
    assert tool, "ssh-audit is installed with the requirements"
    proc = subprocess.run([tool, "-j", "-p", "22", address(host)], capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    failures = [
        f"{kind}: {item['algorithm']}"
        for kind in ("kex", "key", "enc", "mac")
        for item in report.get(kind, [])
        if item.get("notes", {}).get("fail")
    ]
    assert failures == [], failures
    warnings = [i["algorithm"] for k in ("kex", "key", "enc", "mac") for i in report.get(k, []) if i.get("notes", {}).get("warn")]
    print(f"ssh-audit: 0 failures, {len(warnings)} warnings {warnings}")


def test_nftables_ruleset_is_loaded(host):
    assert host.service("nftables").is_enabled
    ruleset = host.check_output("nft list table inet werkraum")
    assert "type filter hook input priority filter; policy drop;" in ruleset
    assert 'tcp dport 22 ip saddr @mgmt_v4 accept comment "ssh"' in ruleset
    assert 'tcp dport 9100 ip saddr @mgmt_v4 accept comment "node exporter"' in ruleset
    # chrony serves time to common_chrony_allow, and NTP is open to exactly that.
    assert 'udp dport 123 ip saddr 127.0.0.1 accept comment "ntp"' in ruleset
    assert "elements = { 10.88.0.0/16 }" in ruleset
    assert "tcp dport 8443 ip saddr 192.0.2.0/24 accept" in ruleset
    # Only our table is managed: a table of someone else survives a reload.
    host.run("nft add table inet other-runtime")
    assert host.run("systemctl reload nftables").rc == 0
    assert "table inet other-runtime" in host.check_output("nft list tables")
    host.run("nft delete table inet other-runtime")


def test_firewall_opens_exactly_the_declared_ports(host):
    """The ports of the roles on the host (both plays' roles) are open, and nothing else."""
    import re

    ruleset = host.check_output("nft list table inet werkraum")
    services = host.check_output("nft list chain inet werkraum services")
    assert 'tcp dport 8081 ip saddr 10.88.0.0/16 accept comment "molecule_web: web service of the test"' in services
    storage = 'accept comment "molecule_storage: range of the test"'
    assert f"tcp dport 6800-6810 ip saddr 192.0.2.0/24 {storage}" in services
    assert f"tcp dport 6800-6810 ip6 saddr 2001:db8::/32 {storage}" in services
    assert "jump services" in host.check_output("nft list chain inet werkraum input")
    # common's own (ssh, node exporter, ntp), the host's extra port and the two roles' ports: no other.
    assert set(re.findall(r"dport (\S+)", ruleset)) == {"22", "9100", "123", "8443", "8081", "6800-6810"}
    # The retired role's file (prepare.yml: port 5000, a service not installed) is gone, and its port closed.
    assert not host.file("/etc/nftables.d/werkraum/retired.nft").exists
    folder = host.file("/etc/nftables.d/werkraum")
    assert folder.is_directory and folder.mode == 0o700
    for role in ("molecule_web", "molecule_storage"):
        dropin = host.file(f"/etc/nftables.d/werkraum/{role}.nft")
        assert dropin.user == "root" and dropin.mode == 0o600
        assert host.run(f"nft -c -f /etc/nftables.d/werkraum/{role}.nft").rc == 0  # complete in itself
    # What is loaded is what the files say: loading them again changes nothing.
    assert host.run("nft -f /etc/nftables.conf").rc == 0
    assert host.check_output("nft list table inet werkraum") == ruleset


def test_firewall_drops_what_is_not_allowed(host):
    """From the management network: a declared port that listens answers; one that is not declared does not."""
    import socket

    host.run("systemd-run --unit=werkraum-test-http python3 -m http.server 8080")
    host.run("systemd-run --unit=werkraum-test-declared python3 -m http.server 8081")
    try:
        ip = address(host)
        with socket.create_connection((ip, 22), timeout=5):
            pass
        ports = set()
        for _ in range(20):  # the servers take a moment to listen
            ports = listening_ports(host)
            if {8080, 8081} <= ports:
                break
            time.sleep(0.5)
        assert {8080, 8081} <= ports
        with socket.create_connection((ip, 8081), timeout=5):  # molecule_web's port
            pass
        blocked = socket.socket()
        blocked.settimeout(3)
        try:
            assert blocked.connect_ex((ip, 8080)) != 0
        finally:
            blocked.close()
    finally:
        host.run("systemctl stop werkraum-test-http werkraum-test-declared")


def listening_ports(host):
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in host.check_output("ss -Hltn").splitlines()}


def test_ports_listen_only_where_intended(host):
    sockets = host.check_output("ss -Hltnu")
    assert f"{address(host)}:9100" in sockets  # node exporter on the management address only
    assert "0.0.0.0:9100" not in sockets and "*:9100" not in sockets
    assert listening_ports(host) <= {22, 9100, 25}


def test_node_exporter_answers_on_the_management_address(host):
    metrics = host.check_output(f"python3 -c \"import urllib.request; print(urllib.request.urlopen('http://{address(host)}:9100/metrics').read().decode())\"")
    assert "node_systemd_unit_state" in metrics


def test_unattended_security_upgrades(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert "Debian-Security" in host.file("/etc/apt/apt.conf.d/52werkraum-unattended-upgrades").content_string
    assert host.service("unattended-upgrades").is_enabled


def test_kernel_settings_written_but_not_applied_in_a_container(host):
    conf = host.file("/etc/sysctl.d/90-werkraum.conf").content_string
    assert "kernel.kptr_restrict = 2" in conf and "net.ipv4.tcp_syncookies = 1" in conf
    assert "install usb-storage /bin/true" in host.file("/etc/modprobe.d/werkraum-blacklist.conf").content_string
    assert "* hard core 0" in host.file("/etc/security/limits.d/90-werkraum.conf").content_string


def test_auditd_configured_and_kept_off_in_a_container(host):
    rules = host.file("/etc/audit/rules.d/werkraum.rules").content_string
    assert "-w /etc/sudoers -p wa -k privilege" in rules
    assert "max_log_file_action = ROTATE" in host.file("/etc/audit/auditd.conf").content_string
    auditd = host.service("auditd")
    assert not auditd.is_enabled and not auditd.is_running
    assert host.run("systemctl is-failed auditd").stdout.strip() != "failed"


def test_fail2ban_guards_ssh(host):
    assert host.service("fail2ban").is_running
    assert "Jail list:\tsshd" in host.check_output("fail2ban-client status")


def test_daily_rootkit_scan_runs_without_mail_and_hides_fail2ban_fixtures(host):
    """The timer's unit, run now: Debian's default mails root and fails without an MTA (`mail: not found`)."""
    assert host.service("chkrootkit.timer").is_enabled
    run = host.run("systemctl start chkrootkit.service")
    assert run.rc == 0, host.run("journalctl -u chkrootkit.service --no-pager -n 30").stdout
    raw = host.file("/var/log/chkrootkit/log.today.raw").content_string
    today = host.file("/var/log/chkrootkit/log.today").content_string
    fixtures = "/usr/lib/python3/dist-packages/fail2ban/tests/files/config/apache-auth/"
    assert fixtures in raw, "the scan no longer reports fail2ban's fixtures: drop common_chkrootkit_ignore's default"
    assert fixtures not in today
    assert "mail: not found" not in host.run("journalctl -u chkrootkit.service --no-pager").stdout


LYNIS_THRESHOLD = 80


def test_lynis_hardening_index(host):
    """lynis (Debian) on the converged host; the index and the remaining findings are in docs/security.md."""
    out = host.run("lynis audit system --quick --no-colors")
    index = int(next(line for line in out.stdout.splitlines() if "Hardening index" in line).split(":")[1].split()[0])
    print(f"lynis hardening index: {index}")
    assert index >= LYNIS_THRESHOLD


def test_systemd_is_healthy(host):
    """No unit failed: what a container cannot run is kept off, not left failing."""
    failed = host.run("systemctl --failed --no-legend --plain").stdout.strip()
    assert failed == "", failed
    assert not host.service("acct").is_enabled
