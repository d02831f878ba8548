"""What the registry role must leave on a service node: a registry that takes and serves images over TLS, and files."""

import json

import pytest

FRONT = "127.0.0.1:5000"
PUSH = "127.0.0.1:5443"
IMAGE = f"{FRONT}/molecule/hello:1"

# An OCI image of one layer, written as an OCI layout by the host's own Python:
# pushing and pulling it with skopeo exercises the registry's API through nginx.
MAKE_IMAGE = r"""
import hashlib, io, json, os, tarfile
root = "/tmp/oci-hello"
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
def put(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, digest), "wb").write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    body = b"hello from the werkraum registry test\n"
    info = tarfile.TarInfo("hello.txt"); info.size = len(body); info.mtime = 0
    tar.addfile(info, io.BytesIO(body))
layer = put(buf.getvalue())
config = put(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}, "config": {}}).encode())
manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    **manifest, "annotations": {"org.opencontainers.image.ref.name": "1"}}]},
    open(os.path.join(root, "index.json"), "w"))
open(os.path.join(root, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
print(manifest["digest"])
"""


@pytest.fixture(scope="module")
def ca_dir(host):
    """The registry's own certificate as the one CA skopeo trusts."""
    host.check_output("mkdir -p /tmp/registry-ca && cp /etc/ssl/certs/registry.crt /tmp/registry-ca/ca.crt")
    return "/tmp/registry-ca"


def test_registry_and_its_front_run(host):
    for unit in ("docker-registry", "nginx"):
        assert host.service(unit).is_running
        assert host.service(unit).is_enabled


def test_registry_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:5001").is_listening
    assert host.socket("tcp://127.0.0.1:5002").is_listening
    assert not host.socket("tcp://0.0.0.0:5001").is_listening
    assert host.socket("tcp://0.0.0.0:5000").is_listening


def test_v2_answers_over_tls_with_a_certificate_for_both_names(host):
    for name in ("registry.molecule.test", "127.0.0.1"):
        out = host.check_output(
            f"curl -sS --fail --cacert /etc/ssl/certs/registry.crt --resolve registry.molecule.test:5000:127.0.0.1 "
            f"-D - -o /dev/null https://{name}:5000/v2/"
        )
        assert "200" in out.splitlines()[0]
        assert "docker-distribution-api-version: registry/2.0" in out.lower()
    # Without the certificate as CA the client refuses: TLS is real.
    assert host.run(f"curl -sS --fail -o /dev/null https://{FRONT}/v2/").rc != 0


def _push_password(host):
    return host.file("/etc/docker/registry/secrets/push-password").content_string.strip()


def test_an_image_is_pushed_and_pulled_back(host, ca_dir):
    host.check_output(f"python3 - <<'EOF'\n{MAKE_IMAGE}\nEOF")
    # skopeo compresses the layer on its way to a registry, so the manifest pushed is a new one:
    # its digest is what the registry must serve back. Pushes go to the push site, as user push.
    host.check_output(
        f"skopeo copy --dest-cert-dir {ca_dir} --dest-creds push:{_push_password(host)} "
        f"--digestfile /tmp/pushed.digest oci:/tmp/oci-hello:1 docker://{PUSH}/molecule/hello:1"
    )
    pushed = host.file("/tmp/pushed.digest").content_string.strip()
    inspected = json.loads(host.check_output(f"skopeo inspect --cert-dir {ca_dir} docker://{IMAGE}"))
    assert pushed.startswith("sha256:") and inspected["Digest"] == pushed
    host.check_output(f"rm -rf /tmp/pulled && skopeo copy --src-cert-dir {ca_dir} docker://{IMAGE} dir:/tmp/pulled")
    layer = inspected["Layers"][0].split(":", 1)[1]
    assert "hello.txt" in host.check_output(f"tar -tf /tmp/pulled/{layer}")
    # The blobs are on the filesystem driver's disk.
    assert host.file(f"/var/lib/docker-registry/docker/registry/v2/blobs/sha256/{layer[:2]}/{layer}/data").exists


def test_a_missing_image_is_a_404(host):
    code = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/ssl/certs/registry.crt "
        f"https://{FRONT}/v2/molecule/absent/manifests/1"
    )
    assert code == "404"


def test_files_mirror_serves_files_and_no_listing(host):
    host.check_output("mkdir -p /srv/registry/files/dl.k8s.io && echo mirrored > /srv/registry/files/dl.k8s.io/probe.txt")
    got = host.check_output(f"curl -sS --fail --cacert /etc/ssl/certs/registry.crt https://{FRONT}/files/dl.k8s.io/probe.txt")
    assert got == "mirrored"
    listing = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/ssl/certs/registry.crt https://{FRONT}/files/dl.k8s.io/"
    )
    assert listing in ("403", "404")


def test_metrics_on_the_debug_listener(host):
    metrics = host.check_output("curl -sS --fail http://127.0.0.1:5002/metrics")
    # Distribution's own metrics (namespace "registry"), next to the Go runtime's.
    assert "\nregistry_" in metrics
    assert "go_goroutines" in metrics


def test_configuration_is_not_world_readable(host):
    config = host.file("/etc/docker/registry/config.yml")
    assert config.mode == 0o640
    assert config.group == "docker-registry"
    assert host.file("/etc/ssl/private/registry.key").mode == 0o600


def test_pushes_need_the_push_site_and_a_push_users_password(host, ca_dir):
    host.check_output(f"python3 - <<'EOF'\n{MAKE_IMAGE}\nEOF")
    # The pull site takes no push at all, not even with the password.
    refused = host.run(
        f"skopeo copy --dest-cert-dir {ca_dir} --dest-creds push:{_push_password(host)} "
        f"oci:/tmp/oci-hello:1 docker://{FRONT}/molecule/refused:1"
    )
    assert refused.rc != 0 and "403" in refused.stderr + refused.stdout
    upload = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/ssl/certs/registry.crt -X POST "
        f"https://{FRONT}/v2/molecule/refused/blobs/uploads/"
    )
    assert upload == "403"
    # The push site wants a push user: none, or a wrong password, is a 401.
    for creds in ("", "-u push:wrong"):
        code = host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/ssl/certs/registry.crt {creds} "
            f"https://{PUSH}/v2/"
        )
        assert code == "401", creds
    good = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/ssl/certs/registry.crt "
        f"-u push:{_push_password(host)} https://{PUSH}/v2/"
    )
    assert good == "200"


def test_push_secrets_are_root_only_and_the_htpasswd_is_bcrypt(host):
    assert host.file("/etc/docker/registry/secrets").mode == 0o700
    assert host.file("/etc/docker/registry/secrets/push-password").mode == 0o600
    htpasswd = host.file("/etc/docker/registry/push.htpasswd")
    assert htpasswd.mode == 0o640 and htpasswd.group == "www-data"
    user, digest = htpasswd.content_string.strip().split(":", 1)
    assert user == "push" and digest.startswith("$2y$")
