"""Two TLS sites of the shared proxy on one host: each serves its own, with its own certificate."""

RESOLVE = "--resolve alpha.molecule.test:443:127.0.0.1 --resolve beta.molecule.test:8443:127.0.0.1"


def curl(host, args):
    return host.check_output(f"curl -sS --fail {RESOLVE} {args}")


def test_nginx_runs_with_a_valid_configuration_and_no_default_site(host):
    assert host.service("nginx").is_running
    assert host.run("nginx -t").rc == 0
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    for site in ("alpha", "beta", "http-redirect"):
        assert host.file(f"/etc/nginx/sites-enabled/{site}.conf").is_symlink


def test_proxied_site_serves_its_upstream_with_its_self_signed_certificate(host):
    body = curl(host, "--cacert /etc/ssl/certs/alpha.crt https://alpha.molecule.test/")
    assert body == "served by the upstream"
    headers = curl(host, "--cacert /etc/ssl/certs/alpha.crt -D - -o /dev/null https://alpha.molecule.test/").lower()
    assert "strict-transport-security: max-age=31536000" in headers
    san = host.check_output("openssl x509 -in /etc/ssl/certs/alpha.crt -noout -ext subjectAltName")
    assert "DNS:alpha.molecule.test" in san
    assert "IP Address:127.0.0.1" in san


def test_static_site_serves_its_folder_with_the_given_certificate(host):
    body = curl(host, "--cacert /etc/molecule/beta.crt https://beta.molecule.test:8443/files/probe.txt")
    assert body == "served from a folder"
    assert host.file("/etc/ssl/certs/beta.crt").content_string.strip() == host.file("/etc/molecule/beta.crt").content_string.strip()
    headers = curl(host, "--cacert /etc/molecule/beta.crt -D - -o /dev/null https://beta.molecule.test:8443/files/probe.txt")
    assert "strict-transport-security" not in headers.lower()


def test_each_site_presents_its_own_certificate(host):
    # The alpha site's CA does not vouch for beta: the two certificates differ.
    assert host.run(f"curl -sS --fail {RESOLVE} --cacert /etc/ssl/certs/alpha.crt https://beta.molecule.test:8443/files/probe.txt").rc != 0


def test_plain_http_redirects_to_https(host):
    out = host.check_output("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/some/path")
    assert out == "301 https://127.0.0.1/some/path"


def test_keys_are_readable_by_root_only(host):
    for site in ("alpha", "beta"):
        key = host.file(f"/etc/ssl/private/{site}.key")
        assert key.mode == 0o600
        assert key.user == "root"
