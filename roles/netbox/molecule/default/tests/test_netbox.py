"""What the netbox role leaves on a Debian 13 service node: a working NetBox behind TLS."""

import json

CURL = "curl -sk --max-time 20"


def _token(host):
    return host.file("/etc/netbox/api-token").content_string.strip()


def test_services_run_and_start_at_boot(host):
    for name in ("postgresql", "redis-server", "netbox", "netbox-rq", "nginx", "netbox-backup.timer"):
        service = host.service(name)
        assert service.is_enabled, name
        assert service.is_running, name


def test_api_status_answers_over_https(host):
    out = host.check_output(f"{CURL} -H 'Authorization: Bearer {_token(host)}' https://127.0.0.1/api/status/")
    status = json.loads(out)
    assert status["netbox-version"].startswith("4.7.3")
    assert status["rq-workers-running"] >= 1


def test_token_works_and_is_root_only(host):
    token = host.file("/etc/netbox/api-token")
    assert token.user == "root" and token.mode == 0o600
    assert _token(host).startswith("nbt_")
    code = host.check_output(
        f"{CURL} -o /dev/null -w '%{{http_code}}' -H 'Authorization: Bearer {_token(host)}' "
        "https://127.0.0.1/api/dcim/sites/"
    )
    assert code == "200"
    refused = host.check_output(f"{CURL} -o /dev/null -w '%{{http_code}}' https://127.0.0.1/api/dcim/sites/")
    assert refused in ("401", "403")


def test_secrets_are_root_only(host):
    assert host.file("/etc/netbox").mode == 0o700
    for name in ("db-password", "secret-key", "admin-password", "token-pepper"):
        f = host.file(f"/etc/netbox/{name}")
        assert f.user == "root" and f.mode == 0o600, name
    conf = host.file("/opt/netbox/conf/configuration.py")
    assert conf.mode == 0o640 and conf.group == "netbox"
    assert host.file("/etc/ssl/private/netbox.key").mode == 0o600


def test_ui_and_static_files_are_served(host):
    css = host.run(f"{CURL} -o /dev/null -w '%{{http_code}} %{{content_type}}' https://127.0.0.1/static/netbox.css")
    assert css.stdout.startswith("200 text/css")
    login = host.check_output(f"{CURL} https://127.0.0.1/login/")
    assert "NetBox" in login and "/static/" in login


def test_http_redirects_to_https(host):
    out = host.check_output("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/api/status/")
    assert out.startswith("301 https://")


def test_certificate_names_the_server(host):
    subject = host.check_output("openssl x509 -in /etc/ssl/certs/netbox.crt -noout -subject -ext subjectAltName")
    assert "netbox.molecule.test" in subject


def test_backup_and_restore_round_trip(host):
    token = _token(host)
    auth = f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json'"
    created = host.check_output(
        f"{CURL} {auth} -X POST https://127.0.0.1/api/dcim/sites/ -d '{{\"name\": \"Backup Test\", \"slug\": \"backup-test\"}}'"
    )
    site_id = json.loads(created)["id"]
    assert host.run("systemctl start netbox-backup.service").rc == 0
    dump = host.check_output("ls -1t /var/backups/netbox/netbox-*.dump | head -1")
    assert host.file(dump).mode == 0o600
    host.check_output(f"{CURL} {auth} -X DELETE https://127.0.0.1/api/dcim/sites/{site_id}/")
    restore = host.run(f"/usr/local/sbin/netbox-restore {dump}")
    assert restore.rc == 0, restore.stderr
    for _ in range(60):
        found = host.run(f"{CURL} {auth} 'https://127.0.0.1/api/dcim/sites/?slug=backup-test'")
        if found.rc == 0 and found.stdout.startswith("{"):
            break
        host.run("sleep 1")
    assert json.loads(found.stdout)["count"] == 1
    assert host.run("/usr/local/sbin/netbox-restore /etc/hostname").rc != 0
