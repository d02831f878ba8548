"""What the keycloak role leaves on a Debian 13 service node: Keycloak behind TLS, issuing tokens."""

import json
import os
import stat
from pathlib import Path

import yaml

NAME = "id.molecule.test"
# Through the TLS proxy by the public name (the certificate is the proxy's own, self-signed).
CURL = f"curl -s --max-time 30 --resolve {NAME}:443:127.0.0.1 --cacert /etc/ssl/certs/keycloak.crt"


def _admin_password(host):
    return host.file("/etc/keycloak/secrets/admin-password").content_string.strip()


def _token(host, user="admin"):
    out = host.check_output(
        f"{CURL} -X POST https://{NAME}/realms/master/protocol/openid-connect/token "
        f"-d client_id=admin-cli -d grant_type=password -d username={user} -d password={_admin_password(host)}"
    )
    return json.loads(out)


def test_services_run_and_start_at_boot(host):
    for name in ("postgresql", "keycloak", "nginx", "keycloak-backup.timer"):
        service = host.service(name)
        assert service.is_enabled, name
        assert service.is_running, name


def test_the_pinned_release_runs_on_debians_java(host):
    assert host.file("/opt/keycloak/current").linked_to == "/opt/keycloak/keycloak-26.7.3"
    assert host.package("openjdk-21-jre-headless").is_installed
    # kc.sh is the unit's main process; its Java is the child.
    java = host.check_output("pgrep -a -P $(systemctl show -p MainPID --value keycloak) java")
    assert java.split()[1] == "/usr/lib/jvm/java-21-openjdk-amd64/bin/java", java


def test_discovery_document_is_served_over_tls_with_the_public_issuer(host):
    discovery = json.loads(host.check_output(f"{CURL} https://{NAME}/realms/master/.well-known/openid-configuration"))
    assert discovery["issuer"] == f"https://{NAME}/realms/master"
    assert discovery["token_endpoint"] == f"https://{NAME}/realms/master/protocol/openid-connect/token"


def test_a_token_is_issued_to_the_permanent_administrator(host):
    token = _token(host)
    assert token["token_type"].lower() == "bearer" and token["access_token"].count(".") == 2
    users = json.loads(
        host.check_output(
            f"{CURL} -H 'Authorization: Bearer {token['access_token']}' https://{NAME}/admin/realms/master/users"
        )
    )
    assert [u["username"] for u in users] == ["admin"]  # the temporary bootstrap-admin is gone
    assert _token(host, "bootstrap-admin").get("error") == "invalid_grant"


def test_health_and_metrics_are_on_loopback_only(host):
    ready = json.loads(host.check_output("curl -s --max-time 10 http://127.0.0.1:9000/health/ready"))
    assert ready["status"] == "UP"
    metrics = host.check_output("curl -s --max-time 10 http://127.0.0.1:9000/metrics")
    assert "jvm_memory_used_bytes" in metrics
    # HTTP and management on loopback only; no cluster transport (JGroups' 7800 and 57800).
    local = [line.split()[3].rsplit(":", 1) for line in host.check_output("ss -Htln").splitlines()]
    by_port: dict[str, set[str]] = {}
    for address, port in local:
        by_port.setdefault(port, set()).add(address)
    for port in ("8080", "9000"):
        assert by_port.get(port) and by_port[port] <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, (port, by_port)
    assert "7800" not in by_port and "57800" not in by_port, by_port
    # The proxy does not serve the management interface's paths.
    assert host.check_output(f"{CURL} -o /dev/null -w '%{{http_code}}' https://{NAME}/health/ready") == "404"


def test_secrets_are_root_only(host):
    assert host.file("/etc/keycloak/secrets").mode == 0o700
    for name in ("db-password", "admin-password"):
        f = host.file(f"/etc/keycloak/secrets/{name}")
        assert f.user == "root" and f.mode == 0o600, name
    env = host.file("/etc/keycloak/keycloak.env")
    assert env.user == "root" and env.mode == 0o600
    conf = host.file("/opt/keycloak/current/conf/keycloak.conf")
    assert conf.group == "keycloak" and conf.mode == 0o640 and "password" not in conf.content_string.replace(
        "# (db-password", ""
    )


def test_a_backup_is_made_and_is_a_dump_of_the_realms(host):
    host.check_output("systemctl start keycloak-backup.service")
    dumps = host.check_output("ls -1 /var/backups/keycloak").split()
    assert dumps and all(d.startswith("keycloak-") and d.endswith(".dump") for d in dumps)
    listing = host.check_output(f"pg_restore --list /var/backups/keycloak/{dumps[-1]}")
    assert "TABLE DATA public realm " in listing and "TABLE DATA public user_entity " in listing


def test_the_connection_is_handed_to_the_controller_root_only(host):
    folder = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "keycloak-handover"
    connection = folder / "connection.yml"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in (connection, folder / "ca.crt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    data = yaml.safe_load(connection.read_text())
    assert data["url"] == f"https://{NAME}"
    assert data["admin_user"] == "admin"
    assert data["admin_password"] == _admin_password(host)
    assert data["address"] == ""
    # No CA given: the certificate the proxy serves (self-signed) is what verifies it.
    served = host.file("/etc/ssl/certs/keycloak.crt").content_string
    assert (folder / "ca.crt").read_text() == served
