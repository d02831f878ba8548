"""What `make lab` runs, run by CI: the four-host lab rack through the same flow.

One host of every node group (gpu, ceph, control, service) under a lab name and
subnet of its own, so a user's running lab is never touched. `werkraum lab up`
deploys NetBox on service-01 from the written-down hosts.yml, syncs the rack
into NetBox and converges every host from NetBox's inventory (netbox.yml); a
second run changes nothing. Then each role is verified on the host it
converged (this is where CI verifies common, gpu_node, keycloak, netbox, registry and tls_proxy:
their Molecule
scenarios run in `make molecule`, docs/testing.md), and the failure paths
(a failed task, a stopped host, foreign containers) are named by host and task.
The steps depend on each other and run in order.

The Kubernetes plays are left out here (werkraum_kubernetes_enabled: false; the
hosts still run as Kubernetes hosts): building their mirror does not fit CI's
time. tests/kubernetes/ runs them, in `make test-kubernetes`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import have_podman, make_lab_inventory, podman, run_cli

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        not have_podman() and not os.environ.get("CI"), reason="podman is not installed (make test installs it)"
    ),
]

NAME = "werkraum-itest"
FOREIGN = "werkraum-itest-foreign"
PREFIX = "10.232.7"
HOSTS = {"gpu-01": ("gpu", 11), "ceph-01": ("ceph", 21), "control-01": ("control", 31), "service-01": ("service", 41)}
# What each host's firewall opens: common's SSH and node exporter everywhere, NTP on the
# control node (it serves the lab's time), NetBox's HTTPS and redirect and the registry's
# HTTPS (pulls, and pushes on 5443) on the service node.
OPEN_PORTS = {
    "gpu-01": {"22", "9100"},
    "ceph-01": {"22", "9100"},
    "control-01": {"22", "9100", "123"},
    "service-01": {"22", "9100", "443", "80", "5000", "5443"},
}
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOkpiQXQOylLsfpH/GxU3AIKpmlMdy5gYPqmzx/nEqLd labadmin@werkraum-lab"

Lab = tuple[Path, dict[str, str]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not have_podman():  # in CI: this is the only check of what make lab runs, so it never skips there
        pytest.fail("podman is not installed: run scripts/bootstrap (make test does)")
    tmp = tmp_path_factory.mktemp("lab")
    # Without the Kubernetes plays: their mirror is built from Go modules first (about an hour on a
    # cold machine), which does not fit CI's 90 minutes beside the rest. `make test-kubernetes`
    # converges and checks them on the lab with its cluster (docs/testing.md).
    inventory = make_lab_inventory(tmp / "inventory", NAME, PREFIX, HOSTS, kubernetes=False)
    # An admin who left: the common role removes the account wherever it exists.
    (inventory / "group_vars" / "all" / "itest.yml").write_text("common_admins_absent: [mallory]\n")
    env = {"XDG_STATE_HOME": str(tmp / "state")}
    run_cli("lab", "down", "-i", str(inventory), env=env)
    yield inventory, env
    run_cli("lab", "down", "-i", str(inventory), env=env)
    podman("rm", "-f", FOREIGN)


def _exec(host: str, *cmd: str) -> str:
    proc = podman("exec", f"{NAME}-{host}", *cmd)
    assert proc.returncode == 0, f"{host}: {' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


def _status(lab: Lab) -> tuple[int, dict[str, object], str]:
    inventory, env = lab
    proc = run_cli("lab", "status", "--json", "-i", str(inventory), env=env)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _netbox(lab: Lab) -> dict[str, str]:
    inventory, env = lab
    proc = run_cli("lab", "netbox-env", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr
    return dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())


# --- the flow of make lab ------------------------------------------------------------


def test_first_up_converges_every_node_group_from_netbox(lab: Lab) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "==> Starting 4 lab hosts" in proc.stderr  # progress is visible
    # NetBox first, from the written-down rack; then the sync; then everything from NetBox.
    assert "Converging site.yml on lab werkraum-itest (hosts: service-01), inventory hosts.yml" in proc.stderr
    assert f"Syncing lab {NAME} into NetBox" in proc.stderr and "created device gpu-01" in proc.stderr
    assert "Converging site.yml on lab werkraum-itest, inventory netbox.yml" in proc.stderr
    assert "converge: 4 hosts" in proc.stdout and "0 failed, 0 unreachable" in proc.stdout
    code, report, _ = _status(lab)
    last = report["last_converge"]
    assert code == 0 and isinstance(last, dict)
    assert "netbox.yml" in last["inventory"] and set(last["ok"]) == set(HOSTS)


def test_second_converge_changes_nothing(lab: Lab) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "running" in proc.stderr  # hosts kept, not recreated
    assert "NetBox already holds the lab rack: nothing to change" in proc.stderr
    assert "converge: 4 hosts" in proc.stdout and ", 0 changed, 0 failed, 0 unreachable" in proc.stdout


# --- each role, verified on the host it converged -----------------------------------


def test_netbox_holds_the_rack_and_its_per_host_facts(lab: Lab) -> None:
    nb = _netbox(lab)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {nb['NETBOX_TOKEN']}"
    ca = nb["REQUESTS_CA_BUNDLE"]  # per call: $REQUESTS_CA_BUNDLE of the environment would win over the session's
    devices = {
        d["name"]: d for d in api.get(f"{nb['NETBOX_API']}/api/dcim/devices/", timeout=20, verify=ca).json()["results"]
    }
    assert set(devices) == set(HOSTS)
    assert devices["gpu-01"]["custom_fields"]["werkraum_gpu_substrate"] == "kubernetes"
    assert devices["ceph-01"]["custom_fields"]["ceph_osd_devices"] == []
    assert devices["gpu-01"]["position"] == 10 and devices["gpu-01"]["primary_ip4"]["address"] == f"{PREFIX}.11/24"
    status = api.get(f"{nb['NETBOX_API']}/api/status/", timeout=20, verify=ca).json()
    assert status["netbox-version"].startswith("4.7") and status["rq-workers-running"] >= 1
    refused = requests.get(f"{nb['NETBOX_API']}/api/dcim/devices/", verify=ca, timeout=20)
    assert refused.status_code in (401, 403)


def test_netbox_role_on_service_node(lab: Lab) -> None:
    for unit in ("netbox", "netbox-rq", "nginx", "postgresql", "redis-server", "netbox-backup.timer"):
        assert _exec("service-01", "systemctl", "is-active", unit).strip() == "active", unit
    assert _exec("service-01", "stat", "-c", "%U %a", "/etc/netbox/api-token").split() == ["root", "600"]
    redirect = _exec(
        "service-01", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://localhost/"
    )
    assert redirect.startswith("301 https://")


KEYCLOAK = "id.lab.werkraum.internal"  # id.<common_domain> of inventories/lab, the keycloak role's default name
ISSUER_PROBE = """
import http.client, socket, ssl, sys
name, address = sys.argv[1:3]
tls = ssl.create_default_context().wrap_socket(socket.create_connection((address, 443), timeout=30), server_hostname=name)
conn = http.client.HTTPSConnection(name, 443)
conn.sock = tls
conn.request("GET", "/realms/master/.well-known/openid-configuration")
print(conn.getresponse().read().decode())
"""


def test_keycloak_role_on_service_node_serves_its_issuer_over_tls_from_the_lab_ca(lab: Lab) -> None:
    for unit in ("keycloak", "postgresql", "nginx", "keycloak-backup.timer"):
        assert _exec("service-01", "systemctl", "is-active", unit).strip() == "active", unit
    assert _exec("service-01", "stat", "-c", "%U %a", "/etc/keycloak/secrets/admin-password").split() == ["root", "600"]
    # By its name, through the shared nginx, verified against the lab CA every host trusts
    # (no DNS in the lab: the connection goes to the address, TLS names the host).
    for host in ("service-01", "control-01"):
        answer = _exec(host, "python3", "-c", ISSUER_PROBE, KEYCLOAK, f"{PREFIX}.41")
        assert json.loads(answer)["issuer"] == f"https://{KEYCLOAK}/realms/master", host
    ready = json.loads(_exec("service-01", "curl", "-sf", "--max-time", "10", "http://127.0.0.1:9000/health/ready"))
    assert ready["status"] == "UP"
    # The temporary bootstrap administrator was replaced by the permanent one.
    password = _exec("service-01", "cat", "/etc/keycloak/secrets/admin-password").strip()
    token = _exec(
        "service-01",
        "curl",
        "-s",
        "--max-time",
        "30",
        "http://127.0.0.1:8080/realms/master/protocol/openid-connect/token",
        "-d",
        "client_id=admin-cli",
        "-d",
        "grant_type=password",
        "-d",
        "username=admin",
        "-d",
        f"password={password}",
    )
    assert "access_token" in json.loads(token)


def test_kubernetes_nodes_run_privileged_with_containerd_on_a_volume(lab: Lab) -> None:
    """control-01 and gpu-01 (substrate kubernetes) can run the kubelet; the others stay unprivileged."""
    for host in HOSTS:
        info = json.loads(podman("container", "inspect", f"{NAME}-{host}").stdout)[0]
        kubernetes = host in ("control-01", "gpu-01")
        assert info["HostConfig"]["Privileged"] is kubernetes, host
        mounts = {m["Destination"]: m.get("Name") for m in info["Mounts"]}
        if kubernetes:
            assert mounts.get("/var/lib/containerd") == f"{NAME}-{host}-containerd", host
        else:
            assert "/var/lib/containerd" not in mounts, host


def test_registry_on_service_node_is_trusted_through_the_lab_ca(lab: Lab) -> None:
    """The registry answers over TLS with the certificate the lab's CA signed, and every host trusts that CA."""
    _, env = lab
    ca = Path(env["XDG_STATE_HOME"]) / "werkraum" / "labs" / NAME / "pki" / "ca.crt"
    url = f"https://{PREFIX}.41:5000/v2/"
    for unit in ("docker-registry", "nginx"):
        assert _exec("service-01", "systemctl", "is-active", unit).strip() == "active", unit
    answer = requests.get(url, verify=str(ca), timeout=15)
    assert answer.status_code == 200
    assert answer.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=15)  # the system's CAs alone do not vouch for it
    probe = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=15).status)"
    for host in ("gpu-01", "control-01"):  # the Kubernetes nodes pull from it, trusting the CA system-wide
        assert _exec(host, "python3", "-c", probe).strip() == "200", host
        assert _exec(host, "test", "-f", "/usr/local/share/ca-certificates/werkraum-lab.crt") == ""
    # Nobody pushes through the pull site; the push site wants a push user.
    upload = f"https://{PREFIX}.41:5000/v2/itest/blobs/uploads/"
    assert requests.post(upload, verify=str(ca), timeout=15).status_code == 403
    push = f"https://{PREFIX}.41:5443/v2/"
    assert requests.get(push, verify=str(ca), timeout=15).status_code == 401
    password = _exec("service-01", "cat", "/etc/docker/registry/secrets/push-password").strip()
    assert requests.get(push, verify=str(ca), auth=("push", password), timeout=15).status_code == 200


def test_netbox_backup_and_restore_round_trip(lab: Lab) -> None:
    token = _exec("service-01", "cat", "/etc/netbox/api-token").strip()

    def api(*args: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", f"{NAME}-service-01", "curl", "-sk", "--max-time", "20",
                      "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json", *args)  # fmt: skip

    sites = "https://127.0.0.1/api/dcim/sites/"
    site = json.loads(api("-X", "POST", sites, "-d", '{"name": "Backup Test", "slug": "backup-test"}').stdout)
    _exec("service-01", "systemctl", "start", "netbox-backup.service")
    dump = _exec("service-01", "sh", "-c", "ls -1t /var/backups/netbox/netbox-*.dump | head -1").strip()
    assert _exec("service-01", "stat", "-c", "%a", dump).strip() == "600"
    api("-X", "DELETE", f"{sites}{site['id']}/")
    _exec("service-01", "/usr/local/sbin/netbox-restore", dump)
    found: dict[str, object] = {}
    for _ in range(60):  # NetBox restarts after the restore
        out = api(f"{sites}?slug=backup-test")
        if out.returncode == 0 and out.stdout.startswith("{"):
            found = json.loads(out.stdout)
            break
        time.sleep(1)
    assert found.get("count") == 1  # the site deleted after the backup is back
    api("-X", "DELETE", f"{sites}{site['id']}/")


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_common_role_on_every_host(lab: Lab, host: str) -> None:
    assert _exec(host, "systemctl", "is-system-running").strip() == "running", _exec(host, "systemctl", "--failed")
    for unit in ("ssh", "chrony", "nftables", "fail2ban", "prometheus-node-exporter", "unattended-upgrades"):
        assert _exec(host, "systemctl", "is-active", unit).strip() == "active", f"{host}: {unit}"
    assert "werkraum-admins" in _exec(host, "id", "-nG", "labadmin").split()
    assert _exec(host, "cat", "/home/labadmin/.ssh/authorized_keys").strip() == ADMIN_KEY
    sshd = dict(line.split(" ", 1) for line in _exec(host, "sshd", "-T").splitlines() if " " in line)
    assert sshd["permitrootlogin"] == "no" and sshd["passwordauthentication"] == "no"
    assert sshd["allowgroups"] == "werkraum-admins"
    chain = _exec(host, "nft", "list", "chain", "inet", "werkraum", "input")
    assert "policy drop" in chain and 'tcp dport 22 ip saddr @mgmt_v4 accept comment "ssh"' in chain
    import re

    # Exactly the ports of the roles that run on the host: none for a service no role installs
    # (Keystone 5000, kube-apiserver 6443, etcd, kubelet, Prometheus, ...; ceph-01 runs no ceph role here).
    ruleset = _exec(host, "nft", "list", "table", "inet", "werkraum")
    assert set(re.findall(r"dport (\S+)", ruleset)) == OPEN_PORTS[host], f"{host}: {ruleset}"
    if host == "service-01":
        services = _exec(host, "nft", "list", "chain", "inet", "werkraum", "services")
        assert f'tcp dport 443 ip saddr {PREFIX}.0/24 accept comment "netbox: https"' in services
    address = f"{PREFIX}.{HOSTS[host][1]}"
    sockets = _exec(host, "ss", "-Hltn")
    assert f"{address}:9100" in sockets and "0.0.0.0:9100" not in sockets  # node exporter: management address only


def test_every_host_knows_the_rack_by_name(lab: Lab) -> None:
    for host in HOSTS:
        hosts = _exec(host, "cat", "/etc/hosts")
        for other, (_, octet) in HOSTS.items():
            assert f"{PREFIX}.{octet} {other}.lab.werkraum.internal {other}" in hosts, (host, other)


def test_sshd_and_firewall_seen_from_the_management_network(lab: Lab) -> None:
    """From this machine (on the lab network, so inside the management network): ssh-audit, a dropped port."""
    import socket
    import sys

    address = f"{PREFIX}.31"
    tool = shutil.which("ssh-audit") or str(Path(sys.executable).parent / "ssh-audit")
    report = json.loads(subprocess.run([tool, "-j", "-p", "22", address], capture_output=True, text=True,
                                       timeout=60, check=False).stdout)  # fmt: skip
    failures = [
        f"{kind}: {item['algorithm']}"
        for kind in ("kex", "key", "enc", "mac")
        for item in report.get(kind, [])
        if item.get("notes", {}).get("fail")
    ]
    assert failures == [], failures
    listening = {int(line.split()[3].rsplit(":", 1)[1]) for line in _exec("control-01", "ss", "-Hltn").splitlines()}
    assert listening <= {22, 9100, 25}, listening
    _exec("control-01", "systemd-run", "--unit=werkraum-itest-http", "python3", "-m", "http.server", "8080")
    try:
        with socket.create_connection((address, 22), timeout=5):
            pass
        blocked = socket.socket()
        blocked.settimeout(3)
        try:
            assert blocked.connect_ex((address, 8080)) != 0  # it listens, but the firewall drops it
        finally:
            blocked.close()
    finally:
        podman("exec", f"{NAME}-control-01", "systemctl", "stop", "werkraum-itest-http")


def test_time_flows_from_the_control_node(lab: Lab) -> None:
    assert "local stratum 10" in _exec("control-01", "cat", "/etc/chrony/chrony.conf")
    for host in ("gpu-01", "ceph-01", "service-01"):
        # Each host follows control-01, through both firewalls.
        assert f"{PREFIX}.31" in _exec(host, "chronyc", "-n", "sources"), host


def test_gpu_node_role_without_a_gpu(lab: Lab) -> None:
    assert "blacklist nouveau" in _exec("gpu-01", "cat", "/etc/modprobe.d/blacklist-nouveau.conf")
    # Kubernetes is off in this lab: no containerd (its role installs it from the mirror), no drop-in.
    assert podman("exec", f"{NAME}-gpu-01", "test", "-e", "/etc/containerd/conf.d/nvidia.toml").returncode != 0
    assert "timeSlicing:" in _exec("gpu-01", "cat", "/etc/werkraum/gpu/device-plugin.yaml")
    assert _exec("gpu-01", "systemctl", "is-active", "werkraum-gpu-metrics.timer").strip() == "active"
    _exec("gpu-01", "systemctl", "start", "werkraum-gpu-metrics.service")
    prom = _exec("gpu-01", "cat", "/var/lib/prometheus/node-exporter/nvidia_gpu.prom")
    assert prom.strip() == "werkraum_gpu_exporter_up 0"  # no GPU, and it says so
    assert "Candidate: 535" in _exec("gpu-01", "apt-cache", "policy", "nvidia-driver")  # non-free: installable
    status = json.loads(_exec("gpu-01", "cat", "/etc/werkraum/gpu/status.json"))
    assert status["gpus"] == [] and "driver packages" in " ".join(status["skipped"])
    assert podman("exec", f"{NAME}-gpu-01", "dpkg", "-s", "nvidia-driver").returncode != 0  # nothing pretends


def test_ceph_role_is_not_run_where_it_is_off(lab: Lab) -> None:
    # The container lab's ceph-01 has no disks: ceph_deploy is false, so the role never ran there.
    assert podman("exec", f"{NAME}-ceph-01", "test", "-e", "/etc/ceph/ceph.conf").returncode != 0
    assert podman("exec", f"{NAME}-ceph-01", "dpkg", "-s", "ceph-mon").returncode != 0


def test_departed_admin_is_removed(lab: Lab) -> None:
    inventory, env = lab
    _exec("control-01", "useradd", "--create-home", "--groups", "werkraum-admins", "mallory")
    proc = run_cli("lab", "converge", "--limit", "control-01", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert podman("exec", f"{NAME}-control-01", "id", "mallory").returncode != 0
    assert not _exec("control-01", "getent", "group", "werkraum-admins").strip().endswith("mallory")


# --- the rack job, and failures named by host and task ----------------------------------


def test_rack_job_through_ansible_runner_keeps_artifacts(lab: Lab, tmp_path: Path) -> None:
    inventory, env = lab
    artifacts = tmp_path / "rack-artifacts"
    secret = "s3cr3t-netbox-token-value"
    proc = run_cli(
        "rack", "converge", "--check", "-i", str(inventory / "hosts.yml"), "--limit", "control-01",
        "--artifacts", str(artifacts), env={**env, "NETBOX_TOKEN": secret},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    leaked = [p for p in artifacts.rglob("*") if p.is_file() and secret in p.read_text(errors="replace")]
    assert leaked == [], f"the environment's secrets reached the artifacts: {leaked}"
    assert "check: 1 hosts" in proc.stdout and ", 0 changed, 0 failed, 0 unreachable" in proc.stdout
    summary = json.loads((artifacts / "summary.json").read_text())
    assert summary["status"] == "successful" and set(summary["ok"]) == {"control-01"}
    assert len(list((artifacts / "latest" / "job_events").glob("*.json"))) > 20  # every task's events are kept
    assert (artifacts / "latest" / "stdout").read_text().count("PLAY RECAP") == 1


def test_failed_task_is_named_by_host_and_task(lab: Lab) -> None:
    inventory, env = lab
    host_vars = inventory / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "gpu-01.yml").write_text("gpu_sharing_mode: halves\n")  # not one of the role's choices
    try:
        proc = run_cli("lab", "converge", "--limit", "gpu-01", "-i", str(inventory), env=env)
        assert proc.returncode == 1
        assert "did not converge: failed: gpu-01" in proc.stderr
        assert "gpu-01: task '" in proc.stderr and "Validating arguments against arg spec 'main'" in proc.stderr
        assert "gpu_sharing_mode" in proc.stderr and "Traceback" not in proc.stderr
        code, report, stderr = _status(lab)
        assert code == 1 and report["converge_failed"] is True
        assert "the last converge failed" in stderr and "gpu-01: task '" in stderr and "Validating arguments" in stderr
    finally:
        shutil.rmtree(host_vars)
    again = run_cli("lab", "converge", "--limit", "gpu-01", "-i", str(inventory), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _status(lab)[0] == 0


def test_unreachable_host_fails_the_converge_by_name(lab: Lab, tmp_path: Path) -> None:
    inventory, env = lab
    podman("stop", "-t", "2", f"{NAME}-gpu-01")
    proc = run_cli("lab", "converge", "--limit", "gpu-01", "-i", str(inventory), env=env)
    assert proc.returncode == 1
    assert "did not converge: unreachable: gpu-01" in proc.stderr and "Traceback" not in proc.stderr
    rack = run_cli(
        "rack", "converge", "-i", str(inventory / "hosts.yml"), "--limit", "gpu-01",
        "--artifacts", str(tmp_path / "a"), env=env,
    )  # fmt: skip
    assert rack.returncode == 1 and "unreachable: gpu-01" in rack.stderr
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["unreachable"] == {"gpu-01": 1}
    code, report, stderr = _status(lab)
    assert code == 1  # status calls neither a half-stopped lab nor a failed converge healthy
    assert {h["name"]: h["state"] for h in report["hosts"]}["gpu-01"] == "stopped"  # type: ignore[union-attr,index]
    assert "gpu-01: task 'Gathering Facts'" in stderr


def test_up_restarts_a_stopped_host(lab: Lab) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "--no-converge", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"gpu-01       {PREFIX}.11     started" in proc.stderr


def test_foreign_container_is_refused_and_left_alone(lab: Lab, tmp_path: Path) -> None:
    _inventory, env = lab
    image = run_cli("lab", "image").stdout.strip()
    podman("rm", "-f", FOREIGN)
    assert podman("run", "-d", "--name", FOREIGN, image, "sleep", "600").returncode == 0
    other = make_lab_inventory(tmp_path / "inv2", NAME, PREFIX, {"foreign": ("service", 42)})
    proc = run_cli("lab", "up", "--no-converge", "-i", str(other), env=env)
    assert proc.returncode == 1
    assert f"host foreign: a container named {FOREIGN} exists but was not created by lab {NAME}" in proc.stderr


def test_host_that_stops_while_booting_is_named(lab: Lab) -> None:
    from werkraum.errors import WerkraumError
    from werkraum.lab.lab import wait_booted
    from werkraum.lab.rack import LabHost

    image = run_cli("lab", "image").stdout.strip()
    name = f"{NAME}-broken"
    podman("rm", "-f", name)
    assert podman("run", "--name", name, "--label", f"werkraum.lab={NAME}", image, "false").returncode != 0
    with pytest.raises(WerkraumError, match=r"host broken: container werkraum-itest-broken stopped while booting"):
        wait_booted(LabHost("broken", ("gpu",), f"{PREFIX}.99", name), timeout_s=10)


def test_down_removes_what_it_created_and_nothing_else(lab: Lab) -> None:
    inventory, env = lab
    proc = run_cli("lab", "down", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr
    # four hosts and the broken one; containerd's volumes of control-01 and gpu-01
    assert "removed 5 containers, 2 volumes, 1 networks" in proc.stdout
    assert podman("volume", "ls", "-q", "--filter", f"label=werkraum.lab={NAME}").stdout.strip() == ""
    assert podman("ps", "-a", "-q", "--filter", f"label=werkraum.lab={NAME}").stdout.strip() == ""
    assert podman("network", "exists", f"{NAME}-net").returncode != 0
    assert podman("container", "exists", FOREIGN).returncode == 0  # not ours: untouched
    assert not (Path(env["XDG_STATE_HOME"]) / "werkraum" / "labs" / NAME).exists()
