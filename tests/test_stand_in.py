"""The lab's STAND-IN app image (werkraum/mirror/stand_in.py): built here, run as a tenant's pod would run it.

It must keep the contract the tenant program gives every app (port 8080, /healthz,
any non-root uid, a read-only root) and say what it is, so that nobody takes it for
the app: the lab's tenants run it until the real apps are deployed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import have_podman, podman
from werkraum.infra.tenant_apps import APP_VERSION, FEATURE_PATHS
from werkraum.mirror import stand_in
from werkraum.tenants.plans import WORKSPACE_PROFILES

pytestmark = pytest.mark.lab
REGISTRY = "registry.stand-in-test.example/werkraum"


@pytest.fixture(scope="module")
def built() -> Iterator[stand_in.StandIn]:
    if not have_podman():
        pytest.fail("podman is not installed (scripts/bootstrap installs it)")
    image = stand_in.build(REGISTRY)
    yield image
    for ref in image.refs.values():
        podman("rmi", "--force", ref)


def test_it_is_tagged_under_every_app_name_the_tenant_program_asks_for(built: stand_in.StandIn) -> None:
    wanted = {f"{REGISTRY}/{f}:{APP_VERSION}" for f in FEATURE_PATHS}
    wanted |= {f"{REGISTRY}/workspace-{p}:{APP_VERSION}" for p in WORKSPACE_PROFILES}
    assert set(built.refs.values()) == wanted
    ids = {podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() for ref in wanted}
    assert len(ids) == 1  # one image under every name


def test_it_says_it_is_a_stand_in(built: stand_in.StandIn) -> None:
    ref = next(iter(built.refs.values()))
    labels = podman("image", "inspect", "--format", "{{json .Labels}}", ref).stdout
    assert f'"werkraum.stand-in":"{built.digest}"' in labels
    assert "STAND-IN" in labels


def test_it_serves_healthz_and_the_branding_as_uid_10001_with_a_read_only_root(built: stand_in.StandIn) -> None:
    ref = built.refs[f"chat:{APP_VERSION}"]
    name = "werkraum-stand-in-test"
    podman("rm", "--force", name)
    started = podman(
        "run", "-d", "--name", name, "--read-only", "--user", "10001:10001", "--cap-drop", "ALL",
        "--env", "TENANT_NAME=Weber & Co", "--env", "PRIMARY_COLOR=#123456", ref,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        for _ in range(50):
            health = podman("exec", name, "/stand-in-app", "-check", "http://127.0.0.1:8080/healthz")
            if health.returncode == 0:
                break
            time.sleep(0.2)
        assert health.returncode == 0 and "200 OK" in health.stdout, health.stdout + health.stderr
        page = podman("exec", name, "/stand-in-app", "-check", "http://127.0.0.1:8080/")
        assert "<h1>STAND-IN</h1>" in page.stdout and "Weber &amp; Co" in page.stdout and "#123456" in page.stdout
        missing = podman("exec", name, "/stand-in-app", "-check", "http://127.0.0.1:8081/healthz")
        assert missing.returncode == 1 and "connection refused" in missing.stderr
        assert podman("top", name, "user").stdout.split()[-1] == "10001"
        logs = podman("logs", name).stdout
        assert 'serving :8080 for "Weber & Co"' in logs
    finally:
        podman("rm", "--force", name)
