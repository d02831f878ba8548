"""A real OpenStack API beside the lab: Keystone, Neutron, and the API services of Nova and Cinder.

Debian 12's own packages (release Zed) in one systemd container on a podman network
of its own. Neutron runs ML2 with the router plugin and no agents: networks,
subnets, routers, ports and security groups are real API objects, but no packet
flows. Nova's and Cinder's API services answer quota and flavor calls from their
databases; nothing schedules a VM or creates a volume (docs/testing.md).

The first start provisions a container from the lab's Debian 12 image with
``tests/harness/data/openstack-api.sh`` (about 4 minutes) and commits the result as
an image tagged by the script's digest; later starts boot that image (seconds).
Credentials are written to ``~/.local/state/werkraum/openstack-api/clouds.yaml``
(cloud ``werkraum-lab``), the place ``OS_CLIENT_CONFIG_FILE`` points to in the
end-to-end run.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness.paths import HARNESS_DATA
from werkraum.errors import WerkraumError
from werkraum.lab import podman
from werkraum.lab.image import ImageRecipe, ensure_image, run_logged
from werkraum.paths import podman_env, state_dir
from werkraum.progress import say, step

CLOUD = "werkraum-lab"
SYSTEM_CLOUD = "werkraum-lab-system"
LAB_LABEL_VALUE = "openstack-api"
IMAGE_NAME = "localhost/werkraum-openstack-api"
PASSWORD_LABEL = "werkraum.openstack.password"
SCRIPT = HARNESS_DATA / "openstack-api.sh"
# Service -> (port, a path that answers once the service is up, with a token).
SERVICES = {"keystone": 5000, "neutron": 9696, "nova": 8774, "cinder": 8776}
BOOT_TIMEOUT_S = 90
READY_TIMEOUT_S = 240


@dataclass(frozen=True)
class OpenStackApiLab:
    """Where the lab's OpenStack API lives and listens."""

    root: Path
    physnet: str = "physnet1"
    network: str = "werkraum-openstack-api"
    subnet: str = "10.232.0.0/29"
    address: str = "10.232.0.2"
    container: str = "werkraum-openstack-api"

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    @property
    def auth_url(self) -> str:
        return f"http://{self.address}:{SERVICES['keystone']}/v3"

    @property
    def build_log(self) -> Path:
        return self.root / "build.log"

    def image_ref(self, base: str) -> str:
        """The provisioned image's tag: the script, the base image and everything the script is given."""
        blob = "\n".join([SCRIPT.read_text(), base, self.physnet, self.address]).encode()
        return f"{IMAGE_NAME}:{hashlib.sha256(blob).hexdigest()[:12]}"


def default_lab(physnet: str = "physnet1") -> OpenStackApiLab:
    return OpenStackApiLab(root=state_dir() / "openstack-api", physnet=physnet)


# --- podman -------------------------------------------------------------------------


def _ensure_network(lab: OpenStackApiLab) -> None:
    if podman.network_exists(lab.network):
        labels = podman.inspect_network(lab.network).get("labels", {})
        if labels.get(podman.LABEL_LAB) != LAB_LABEL_VALUE:
            raise WerkraumError(
                f"a podman network named {lab.network} exists but was not created by Werkraum's lab OpenStack API",
                hint=f"remove it (`podman network rm {lab.network}`) and run again",
            )
        return
    podman.podman(
        "network", "create", "--subnet", lab.subnet, "--label", f"{podman.LABEL_LAB}={LAB_LABEL_VALUE}", lab.network
    )


def _host(lab: OpenStackApiLab, name: str, image: str, **kwargs: Any) -> podman.Container:
    """The systemd container the APIs run in (``name``: the lab's, or the one an image is provisioned in)."""
    settings: dict[str, Any] = {
        "name": f"the lab OpenStack API host {name}",
        "degraded_ok": False,
        "hint": f"look inside with `podman exec -it {name} systemctl list-jobs`, then `werkraum lab openstack down`",
        **kwargs,
    }
    return podman.Container(
        name,
        image,
        [
            "--hostname", "openstack-api",
            "--network", lab.network,
            "--ip", lab.address,
            "--systemd=always",
            "--label", f"{podman.LABEL_LAB}={LAB_LABEL_VALUE}",
            "--label", f"werkraum.lab.image={image}",
        ],
        **settings,
    )  # fmt: skip


def _image_password(ref: str) -> str:
    data = podman.podman_json("image", "inspect", ref)
    labels = (data[0] if data else {}).get("Labels") or {}
    password = labels.get(PASSWORD_LABEL)
    if not password:
        raise WerkraumError(
            f"image {ref} carries no {PASSWORD_LABEL} label",
            hint=f"remove it (`podman rmi {ref}`) so that the next run provisions it again",
        )
    return str(password)


# --- provisioning -------------------------------------------------------------------


def _provision(lab: OpenStackApiLab, base: str, ref: str) -> None:
    """Provision a container from ``base`` with the script and commit it as ``ref``."""
    build = f"{lab.container}-build"
    password = secrets.token_urlsafe(18)
    lab.root.mkdir(parents=True, exist_ok=True)
    host = _host(lab, build, base)
    host.stop()
    try:
        host.start()
        podman.podman("cp", str(SCRIPT), f"{build}:/root/openstack-api.sh")
        cmd = [
            podman.require_podman(),
            "exec",
            "-e",
            f"OS_LAB_ADDRESS={lab.address}",
            "-e",
            f"OS_LAB_PASSWORD={password}",
            "-e",
            f"OS_LAB_PHYSNET={lab.physnet}",
            build,
            "bash",
            "/root/openstack-api.sh",
        ]
        run_logged(
            cmd,
            lab.build_log,
            what="lab OpenStack API",
            show=lambda _n, line: line[4:].rstrip() if line.startswith("=== ") else None,
            hint="a package mirror that cannot be reached is the usual cause",
            env=podman_env(),
        )
        # A clean database on disk before the commit.
        podman.podman("exec", build, "systemctl", "stop", "cinder-api", "nova-api", "neutron-api", "neutron-rpc-server")
        podman.podman("exec", build, "systemctl", "stop", "keystone", "mariadb")
        podman.podman(
            "commit",
            "--change",
            f"LABEL {PASSWORD_LABEL}={password}",
            "--change",
            f"LABEL {podman.LABEL_LAB}={LAB_LABEL_VALUE}",
            build,
            ref,
        )
    finally:
        host.stop()


def ensure_api_image(lab: OpenStackApiLab, *, rebuild: bool = False) -> str:
    base = ensure_image(ImageRecipe())
    ref = lab.image_ref(base)
    if podman.image_exists(ref) and not rebuild:
        say(f"    lab OpenStack API image {ref} is cached")
        return ref
    _ensure_network(lab)
    with step(
        f"Provisioning the lab OpenStack API image {ref} (Keystone, Neutron, Nova and Cinder APIs; about 4 min, once)"
    ):
        _provision(lab, base, ref)
    return ref


# --- up / down ----------------------------------------------------------------------


def clouds_config(lab: OpenStackApiLab, password: str) -> dict[str, Any]:
    """``werkraum-lab`` (admin of project admin, as the stacks use it) and ``werkraum-lab-system``.

    The system-scoped entry exists because Keystone lists unified limits of other
    projects only to a system-scoped token; a project-scoped one sees its own.
    """
    auth = {"auth_url": lab.auth_url, "username": "admin", "password": password, "user_domain_name": "Default"}
    # Debian's uwsgi settings strip Content-Length and close kept-alive connections: a client
    # that reuses one sees "Connection reset by peer" now and then. Go's HTTP client (the
    # provider's) retries those itself; keystoneauth does with connect_retries.
    common = {"region_name": "RegionOne", "interface": "public", "identity_api_version": 3, "connect_retries": 3}
    return {
        "clouds": {
            CLOUD: {"auth": {**auth, "project_name": "admin", "project_domain_name": "Default"}, **common},
            SYSTEM_CLOUD: {"auth": {**auth, "system_scope": "all"}, **common},
        }
    }


def connect(lab: OpenStackApiLab, cloud: str = CLOUD) -> Any:
    """An openstacksdk connection from the written clouds.yaml (by default: admin of project `admin`)."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(lab.clouds_yaml)], vendor_files=[])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud))


def _apis_answer(lab: OpenStackApiLab) -> bool:
    """Keystone issues a token and Neutron, Nova and Cinder answer an authenticated call."""
    conn = connect(lab)
    conn.authorize()
    list(conn.network.networks(limit=1))
    conn.compute.get("/flavors").raise_for_status()
    conn.block_storage.get(f"/os-quota-sets/{conn.current_project_id}").raise_for_status()
    return True


def up(lab: OpenStackApiLab, *, rebuild: bool = False) -> OpenStackApiLab:
    podman.require_podman()
    ref = ensure_api_image(lab, rebuild=rebuild)
    _ensure_network(lab)
    with step(f"Starting the lab OpenStack API on {lab.address} (cloud {CLOUD})"):
        if podman.container_exists(lab.container):
            labels = podman.inspect_container(lab.container).get("Config", {}).get("Labels") or {}
            if labels.get(podman.LABEL_LAB) != LAB_LABEL_VALUE:
                raise WerkraumError(
                    f"a container named {lab.container} exists but was not created by Werkraum's lab OpenStack API",
                    hint=f"remove it (`podman rm -f {lab.container}`) and run again",
                )
        lab.root.mkdir(parents=True, exist_ok=True)
        lab.clouds_yaml.write_text(yaml.safe_dump(clouds_config(lab, _image_password(ref)), sort_keys=False))
        lab.clouds_yaml.chmod(0o600)
        host = _host(
            lab,
            lab.container,
            ref,
            ready=lambda: _apis_answer(lab),
            awaited="systemd to boot, then Keystone, Neutron, Nova and Cinder to answer",
            timeout=BOOT_TIMEOUT_S + READY_TIMEOUT_S,
            interval=1,
            hint=f"look inside with `podman exec -it {lab.container} systemctl status keystone neutron-api nova-api`",
        )
        host.stop()
        host.start()
        say(f"    credentials: {lab.clouds_yaml} (OS_CLIENT_CONFIG_FILE=that file, OS_CLOUD={CLOUD})")
    return lab


def down(lab: OpenStackApiLab) -> None:
    """Remove the container and its network (the provisioned image stays cached)."""
    podman.Container(lab.container).stop()
    if podman.network_exists(lab.network):
        podman.podman("network", "rm", lab.network, check=False)
    lab.clouds_yaml.unlink(missing_ok=True)
