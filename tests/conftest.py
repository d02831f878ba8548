"""Shared fixtures: a copy of the lab inventory under another lab name, so tests never touch a user's lab."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WERKRAUM = str(VENV_BIN / "werkraum")
CONTAINERS_CONF = str(ROOT / "werkraum" / "data" / "containers.conf")
TEST_FSID = "11111111-2222-4333-8444-555555555555"  # the stand-in Ceph cluster of the unit tests


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF, **(env or {})}
    return subprocess.run([WERKRAUM, *args], capture_output=True, text=True, env=full_env, input=stdin, check=False)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF},
        check=False,
    )


def make_lab_inventory(
    dest: Path, name: str, subnet_prefix: str, hosts: dict[str, tuple[str, int]], *, kubernetes: bool = True
) -> Path:
    """Copy inventories/lab to ``dest`` with its own lab name, subnet and hosts {name: (group, last octet)}.

    A host of the shipped lab keeps its per-host facts (rack position, GPU substrate, OSD disks).
    ``kubernetes=False`` converges the lab without its Kubernetes cluster (werkraum_kubernetes_enabled).
    """
    shutil.copytree(ROOT / "inventories" / "lab", dest)
    shipped = yaml.safe_load((dest / "hosts.yml").read_text())["all"]["children"]
    facts = {h: dict(v or {}) for group in shipped.values() for h, v in (group.get("hosts") or {}).items()}
    lab_vars = dest / "group_vars" / "all" / "lab.yml"
    data = yaml.safe_load(lab_vars.read_text())
    data["werkraum_lab_name"] = name
    data["werkraum_lab_subnet"] = f"{subnet_prefix}.0/24"
    lab_vars.write_text(yaml.safe_dump(data))
    if not kubernetes:
        k8s_vars = dest / "group_vars" / "all" / "kubernetes.yml"
        k8s = yaml.safe_load(k8s_vars.read_text())
        k8s["werkraum_kubernetes_enabled"] = False
        k8s_vars.write_text(yaml.safe_dump(k8s))
    children: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for host, (group, octet) in hosts.items():
        host_vars = {**facts.get(host, {}), "werkraum_mgmt_address": f"{subnet_prefix}.{octet}"}
        children.setdefault(group, {"hosts": {}})["hosts"][host] = host_vars
    (dest / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    return dest


@pytest.fixture(scope="session", autouse=True)
def ceph_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A STAND-IN for the ceph role's hand-over, so the platform program has an fsid (no Ceph in unit tests)."""
    from tests.harness.e2e.stacks import write_ceph_stand_in

    directory = write_ceph_stand_in(tmp_path_factory.mktemp("ceph"), TEST_FSID)
    with _env_set("WERKRAUM_CEPH_FETCH_DIR", str(directory)):
        yield directory


@pytest.fixture(scope="session", autouse=True)
def keycloak_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A STAND-IN for the keycloak role's hand-over, so the programs have a Keycloak to name under
    mocks (nothing connects to it; tests/keycloak and the lab's checks use a real Keycloak)."""
    directory = tmp_path_factory.mktemp("keycloak")
    (directory / "connection.yml").write_text(
        "# STAND-IN for the keycloak role's hand-over (no Keycloak behind it).\n"
        "url: https://keycloak.stand-in.invalid\nadmin_user: admin\nadmin_password: stand-in-password\n"
    )
    (directory / "ca.crt").write_text("# STAND-IN: no certificate\n")
    with _env_set("WERKRAUM_KEYCLOAK_FETCH_DIR", str(directory)):
        yield directory


@pytest.fixture
def state_home(tmp_path: Path) -> Iterator[Path]:
    """Keep lab state of tests out of the user's ~/.local/state."""
    path = tmp_path / "state"
    with _env_set("XDG_STATE_HOME", str(path)):
        yield path


@contextlib.contextmanager
def _env_set(key: str, value: str) -> Iterator[None]:
    """``os.environ[key] = value`` for the block, the old value (or none) restored after it."""
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def have_podman() -> bool:
    return shutil.which("podman") is not None
