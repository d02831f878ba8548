"""Bringing the lab rack up, reporting on it and taking it down again.

Everything the lab creates carries the label ``werkraum.lab=<lab name>``; `down`
removes exactly what carries it and nothing else.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.lab import podman
from werkraum.lab.image import ImageRecipe, ensure_image
from werkraum.lab.pki import LabCA
from werkraum.lab.rack import LabHost, LabRack
from werkraum.netbox.local import cached_snapshot
from werkraum.paths import podman_env, repo_root, state_dir
from werkraum.playbook import PlaybookResult, raise_for_result, run_playbook
from werkraum.progress import say, step
from werkraum.rack.facts import group_vars
from werkraum.rack.inventory import resolve_source

LABEL = podman.LABEL_LAB
BOOT_TIMEOUT_S = 90
# How lab containers are run; a change of these recreates existing hosts.
# NET_ADMIN acts on the container's own network namespace only: nftables run for real.
RUN_OPTIONS = ("--systemd=always", "--cap-add", "NET_ADMIN")
# A Kubernetes node runs the kubelet, containerd and pods: privileged, in a
# cgroup namespace of its own (the kubelet manages the cgroup tree it sees), with
# containerd's root on a volume (docs/lab.md: probed 2026-12-02). Not podman's
# systemd mode: on these cgroup v1 hosts it mounts the machine's whole name=systemd
# hierarchy into a privileged container, its systemd moves itself to that
# hierarchy's root, and when it next boots it prunes the other lab hosts' cgroups,
# so `podman exec` into them fails. Here systemd gets what that mode would give it
# (tmpfs /run and /tmp, its stop signal, container=podman) and the namespaced
# hierarchy that --cgroupns=private mounts.
KUBERNETES_RUN_OPTIONS = (
    "--systemd=false",
    "--privileged",
    "--cgroupns=private",
    "--tmpfs", "/run:rw,exec,nosuid,nodev",
    "--tmpfs", "/run/lock:rw,noexec,nosuid,nodev",
    "--tmpfs", "/tmp:rw,exec,nosuid,nodev",
    "--stop-signal", "SIGRTMIN+3",
    "--env", "container=podman",
)  # fmt: skip
RUN_OPTIONS_VERSION = "4"


def run_options(host: LabHost) -> tuple[str, ...]:
    if not host.kubernetes:
        return RUN_OPTIONS
    return (*KUBERNETES_RUN_OPTIONS, "--volume", f"{host.containerd_volume}:/var/lib/containerd")


def lab_state_dir(rack: LabRack) -> Path:
    return state_dir() / "labs" / rack.name


def keycloak_handover_dir(rack: LabRack) -> Path:
    """Where the lab's keycloak role hands its connection over (its keycloak_fetch_dir)."""
    return lab_state_dir(rack) / "keycloak"


def service_host(rack: LabRack) -> LabHost | None:
    """The lab host that runs NetBox and the registry: the first service node, if the lab has one."""
    return next((h for h in rack.hosts if "service" in h.groups), None)


# The lab's ACME test CA in the cluster (roles/kubernetes_addons, inventories/lab): its API's names.
ACME_TEST_CA_NAMES = ["pebble.acme-test-ca.svc", "pebble.acme-test-ca.svc.cluster.local"]


def keycloak_name(rack: LabRack) -> str:
    """The lab Keycloak's public name: the keycloak role's default, id.<common_domain> of the lab's inventory."""
    all_vars, _ = group_vars(rack.inventory, "all")
    return f"id.{all_vars.get('common_domain', 'lab.werkraum.internal')}"


def lab_pki(rack: LabRack) -> LabCA:
    """The lab's CA, with certificates for the registry at its service node's address, for Keycloak
    by its name, and for the cluster's ACME test CA (made once each)."""
    ca = LabCA(lab_state_dir(rack) / "pki", rack.name)
    ca.ensure()
    host = service_host(rack)
    if host is not None:
        ca.issue("registry", [host.address])
        ca.issue("keycloak", [keycloak_name(rack)])
    if rack.kubernetes_hosts:
        ca.issue("acme-test-ca", ACME_TEST_CA_NAMES)
    return ca


def state_file(rack: LabRack) -> Path:
    return lab_state_dir(rack) / "state.json"


def read_state(rack: LabRack) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(state_file(rack).read_text())
        return data
    except (OSError, ValueError):
        return {}


def write_state(rack: LabRack, state: dict[str, Any]) -> None:
    path = state_file(rack)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


# --- network -------------------------------------------------------------------------


def ensure_network(rack: LabRack) -> None:
    if podman.network_exists(rack.network):
        info = podman.inspect_network(rack.network)
        if info.get("labels", {}).get(LABEL) != rack.name:
            raise WerkraumError(
                f"a podman network named {rack.network} exists but was not created by lab {rack.name}",
                hint=f"remove or rename it (`podman network rm {rack.network}`), or change werkraum_lab_name",
            )
        subnets = [s.get("subnet") for s in info.get("subnets", [])]
        if rack.subnet not in subnets:
            raise WerkraumError(
                f"lab network {rack.network} has subnet {', '.join(map(str, subnets))}, "
                f"the inventory says {rack.subnet}",
                hint="run `werkraum lab down` and `werkraum lab up` to recreate the lab",
            )
        return
    say(f"    creating network {rack.network} ({rack.subnet})")
    podman.podman("network", "create", "--subnet", rack.subnet, "--label", f"{LABEL}={rack.name}", rack.network)


# --- hosts -----------------------------------------------------------------------------


def ensure_host(rack: LabRack, host: LabHost, image: str) -> str:
    """Create or start the host's container; returns what was done."""
    container = podman.Container(
        host.container,
        image,
        [
            "--hostname", host.name,
            "--network", rack.network,
            "--ip", host.address,
            *run_options(host),
            "--label", f"werkraum.lab.run={RUN_OPTIONS_VERSION}",
            "--label", f"{LABEL}={rack.name}",
            "--label", f"werkraum.lab.host={host.name}",
            "--label", f"werkraum.lab.address={host.address}",
            "--label", f"werkraum.lab.image={image}",
            "--label", f"werkraum.lab.groups={','.join(host.groups)}",
        ],
    )  # fmt: skip
    if podman.container_exists(host.container):
        info = podman.inspect_container(host.container)
        labels = info.get("Config", {}).get("Labels") or {}
        if labels.get(LABEL) != rack.name:
            raise WerkraumError(
                f"host {host.name}: a container named {host.container} exists but was not created by lab {rack.name}",
                hint=f"remove it (`podman rm -f {host.container}`) or change werkraum_lab_name",
            )
        address = labels.get("werkraum.lab.address")
        if (
            labels.get("werkraum.lab.image") != image
            or address != host.address
            or labels.get("werkraum.lab.run") != RUN_OPTIONS_VERSION
        ):
            say(f"    {host.name}: image, address or run options changed, recreating the container")
            container.stop()
            remove_volume(host)  # a new host gets a new disk: no containers of the old one
        elif info.get("State", {}).get("Running"):
            return "running"
        else:
            container.spawn()  # `podman start`: it exists, stopped
            return "started"
    if host.kubernetes and not podman.volume_exists(host.containerd_volume):
        podman.podman("volume", "create", "--label", f"{LABEL}={rack.name}", host.containerd_volume)
    container.spawn()
    return "created"


def remove_volume(host: LabHost) -> None:
    if podman.volume_exists(host.containerd_volume):
        podman.podman("volume", "rm", "--force", host.containerd_volume)


def wait_booted(host: LabHost, timeout_s: float = BOOT_TIMEOUT_S) -> str:
    """Wait until systemd in the host reports running (or degraded, with its failed units named)."""
    container = podman.Container(
        host.container,
        name=f"host {host.name}",
        timeout=timeout_s,
        hint=f"look inside with `podman exec -it {host.container} systemctl list-jobs`; "
        "`werkraum lab down` and `werkraum lab up` recreate it",
    ).wait_healthy()
    if container.state == "degraded":
        say(f"    {host.name}: systemd is degraded, failed units: {'; '.join(container.failed_units)}")
    return container.state


# --- the lab as a whole --------------------------------------------------------------


@dataclass
class UpResult:
    hosts: dict[str, str]
    converge: PlaybookResult | None


def up(
    rack: LabRack,
    *,
    converge: bool = True,
    rebuild_image: bool = False,
    after_service: Callable[[], None] | None = None,
) -> UpResult:
    """Start the lab's hosts and converge them; ``after_service`` runs once the service node is converged.

    (The CLI passes the filling of the lab's mirror there: the registry runs on the
    service node, and the Kubernetes nodes converged after it install from it.)
    """
    podman.require_podman()
    images: dict[str, str] = {}
    for suite in sorted({h.suite for h in rack.hosts}):
        with step(f"Lab image (Debian {suite})"):
            images[suite] = ensure_image(ImageRecipe(suite=suite), rebuild=rebuild_image)
    actions: dict[str, str] = {}
    with step(f"Starting {len(rack.hosts)} lab hosts on {rack.network} ({rack.subnet})"):
        ensure_network(rack)
        for host in rack.hosts:
            try:
                actions[host.name] = ensure_host(rack, host, images[host.suite])
            except podman.PodmanError as exc:
                raise WerkraumError(
                    f"host {host.name}: could not start its container {host.container}: {exc.what}",
                    hint="fix the cause above, then run `werkraum lab up` again (hosts already up are kept)",
                ) from None
            say(f"    {host.name:<12} {host.address:<15} {actions[host.name]}")
        for host in rack.hosts:
            say(f"    {host.name:<12} systemd {wait_booted(host)}")
    # Made with the hosts (once), so a converge outside `werkraum lab` finds it too.
    say(f"    lab CA: {lab_pki(rack).folder}")
    state = read_state(rack)
    state.update(
        {
            "name": rack.name,
            "network": rack.network,
            "subnet": rack.subnet,
            "image": images.get("bookworm") or next(iter(images.values())),
            "images": images,
            "inventory": str(rack.inventory),
            "hosts": {
                h.name: {"address": h.address, "container": h.container, "groups": list(h.groups)} for h in rack.hosts
            },
        }
    )
    write_state(rack, state)
    result = None
    if converge:
        if service_host(rack):
            result = converge_from_netbox(rack, after_service=after_service)
        elif after_service is not None:
            raise WerkraumError(
                f"lab {rack.name} has Kubernetes hosts but no service host: nowhere to run the registry",
                hint="add a host to the service group of the lab inventory",
            )
        else:
            result = run_converge(rack)
    return UpResult(actions, result)


def write_connection_inventory(rack: LabRack) -> Path:
    """A second inventory source naming each host's container as its ``ansible_host``.

    Lab hosts are containers: Ansible reaches them by container name, not by the
    management address NetBox hands back (a real rack's hosts use that). A plain
    value per host, unlike a templated extra variable, is also what a task
    delegated to another host connects with (a worker's join token is made on
    the first control node).
    """
    path = lab_state_dir(rack) / "connection.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    hosts = {h.name: {"ansible_host": h.container} for h in rack.hosts}
    path.write_text(json.dumps({"all": {"hosts": hosts}}, indent=2, sort_keys=True))
    return path


def run_converge(
    rack: LabRack,
    playbook: Path | None = None,
    *,
    inventory: Path | None = None,
    limit: str | None = None,
    extravars: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> PlaybookResult:
    playbook = playbook or repo_root() / "ansible" / "site.yml"
    source = inventory or rack.static_source
    connection = write_connection_inventory(rack)
    what = f"{playbook.name} on lab {rack.name}" + (f" (hosts: {limit})" if limit else "")
    what += f", inventory {source.name}"
    seed = cached_snapshot()
    with step(f"Converging {what}"):
        result = run_playbook(
            playbook,
            [source, connection],
            private_data_dir=lab_state_dir(rack) / "runner",
            limit=limit,
            extravars=extravars,
            env={
                "CONTAINERS_CONF": podman_env()["CONTAINERS_CONF"],
                "WERKRAUM_NETBOX_SEED": str(seed) if seed else "",
                # group_vars read the lab CA and the registry's certificate from here.
                "WERKRAUM_LAB_PKI": str(lab_pki(rack).folder),
                # roles/keycloak hands the lab Keycloak's connection over here (werkraum/lab/tenants.py reads it).
                "WERKRAUM_KEYCLOAK_FETCH_DIR": str(keycloak_handover_dir(rack)),
                **(env or {}),
            },
        )
    state = read_state(rack)
    state["last_converge"] = result.to_dict()
    write_state(rack, state)
    say(f"    converge: {result.summary()}")
    raise_for_result(
        result,
        hint="an unreachable lab host is usually a stopped container: see `werkraum lab status`, "
        f"then `werkraum lab up`; events and stats: {result.artifacts}",
    )
    return result


# --- NetBox in the lab ------------------------------------------------------------------


def netbox_env(rack: LabRack) -> dict[str, str]:
    """How to reach the lab's NetBox: URL, token and its self-signed certificate as the CA."""
    host = service_host(rack)
    if host is None:
        raise WerkraumError(f"lab {rack.name} has no service host, so no NetBox")
    token = podman.podman("exec", host.container, "cat", "/etc/netbox/api-token", check=False)
    cert = podman.podman("exec", host.container, "cat", "/etc/ssl/certs/netbox.crt", check=False)
    if token.returncode != 0 or cert.returncode != 0:
        raise WerkraumError(
            f"host {host.name}: NetBox is not deployed yet (no /etc/netbox/api-token)",
            hint="run `werkraum lab up` to deploy it",
        )
    ca = lab_state_dir(rack) / "netbox-ca.pem"
    ca.parent.mkdir(parents=True, exist_ok=True)
    ca.write_text(cert.stdout)
    return {
        "NETBOX_API": f"https://{host.address}",
        "NETBOX_TOKEN": token.stdout.strip(),
        "REQUESTS_CA_BUNDLE": str(ca),
        "SSL_CERT_FILE": str(ca),
    }


def kubeconfig(rack: LabRack) -> Path:
    """The lab cluster's admin kubeconfig, copied from its first control node into the lab's state folder (0600)."""
    host = next((h for h in rack.hosts if "control" in h.groups), None)
    if host is None:
        raise WerkraumError(f"lab {rack.name} has no control host, so no Kubernetes cluster")
    conf = podman.podman("exec", host.container, "cat", "/etc/kubernetes/admin.conf", check=False)
    if conf.returncode != 0:
        raise WerkraumError(
            f"host {host.name}: the cluster is not initialised yet (no /etc/kubernetes/admin.conf)",
            hint="run `werkraum lab up` (make lab) to converge the control plane",
        )
    path = lab_state_dir(rack) / "kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(conf.stdout)
    tmp.replace(path)
    return path


def converge_from_netbox(
    rack: LabRack, *, limit: str | None = None, after_service: Callable[[], None] | None = None
) -> PlaybookResult:
    """Deploy NetBox on the service node, sync the lab rack into it, converge the rack from its inventory.

    The same flow as a real rack's: the service node is converged from the
    written-down hosts.yml (NetBox does not exist before it), the rack is synced
    into NetBox from that file, and every host is then converged from netbox.yml,
    with the same group_vars beside both.
    """
    from werkraum.netbox.client import session
    from werkraum.netbox.rack import load_rack_description
    from werkraum.netbox.sync import sync_rack

    host = service_host(rack)
    assert host is not None
    source = resolve_source(rack.inventory, "netbox")  # before anything runs: a lab without netbox.yml stops here
    if limit is None:  # a limited converge uses the NetBox that runs already
        run_converge(rack, limit=host.name)
    if after_service is not None:
        after_service()
    env = netbox_env(rack)
    with step(f"Syncing lab {rack.name} into NetBox at {env['NETBOX_API']}"):
        with session(env["NETBOX_API"], env["NETBOX_TOKEN"], env["REQUESTS_CA_BUNDLE"]) as api:
            report = sync_rack(api, load_rack_description(rack.static_source))
        for line in report.lines() or ["    NetBox already holds the lab rack: nothing to change"]:
            say(f"    {line.strip()}")
    # Lab hosts are reached by container name (write_connection_inventory).
    return run_converge(rack, inventory=source, limit=limit, env=env)


def status(rack: LabRack) -> dict[str, Any]:
    """Live state of each host, plus the last converge; ``healthy`` only when all hosts run."""
    podman.require_podman()
    state = read_state(rack)
    hosts = []
    for host in rack.hosts:
        info = podman.inspect_container(host.container) if podman.container_exists(host.container) else {}
        ours = (info.get("Config", {}).get("Labels") or {}).get(LABEL) == rack.name
        running = bool(info.get("State", {}).get("Running")) and ours
        hosts.append(
            {
                "name": host.name,
                "groups": list(host.groups),
                "address": host.address,
                "container": host.container,
                "state": ("running" if running else "stopped") if ours else "missing",
            }
        )
    network = podman.network_exists(rack.network)
    last: dict[str, Any] | None = state.get("last_converge")
    converge_failed = last is not None and last.get("status") != "successful"
    return {
        "name": rack.name,
        "network": rack.network if network else None,
        "subnet": rack.subnet,
        "image": state.get("image"),
        "hosts": hosts,
        "last_converge": last,
        "converge_failed": converge_failed,
        "healthy": network and all(h["state"] == "running" for h in hosts) and not converge_failed,
    }


def down(name: str) -> dict[str, list[str]]:
    """Remove every container, volume and network labelled with this lab's name, and its state."""
    podman.require_podman()
    removed: dict[str, list[str]] = {"containers": [], "volumes": [], "networks": []}
    for container in podman.containers_with_label(LABEL, name):
        cname = container["Names"][0] if container.get("Names") else container["Id"]
        podman.Container(cname).stop()
        removed["containers"].append(cname)
        say(f"    removed container {cname}")
    for volume in podman.volumes_with_label(LABEL, name):
        podman.podman("volume", "rm", "--force", volume)
        removed["volumes"].append(volume)
        say(f"    removed volume {volume}")
    for network in podman.networks_with_label(LABEL, name):
        podman.podman("network", "rm", network)
        removed["networks"].append(network)
        say(f"    removed network {network}")
    shutil.rmtree(state_dir() / "labs" / name, ignore_errors=True)
    return removed
