"""Bringing the lab rack up, reporting on it and taking it down again.

Everything the lab creates carries the label ``werkraum.lab=<lab name>``; `down`
removes exactly what carries it and nothing else.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.lab import podman
from werkraum.lab.image import ImageRecipe, ensure_image
from werkraum.lab.rack import LabHost, LabRack
from werkraum.netbox.local import cached_snapshot
from werkraum.paths import podman_env, repo_root, state_dir
from werkraum.playbook import PlaybookResult, raise_for_result, run_playbook
from werkraum.progress import say, step
from werkraum.rack.inventory import resolve_source

LABEL = podman.LABEL_LAB
BOOT_TIMEOUT_S = 90
# How lab containers are run; a change of these recreates existing hosts.
# NET_ADMIN acts on the container's own network namespace only: nftables run for real.
RUN_OPTIONS = ("--systemd=always", "--cap-add", "NET_ADMIN")
RUN_OPTIONS_VERSION = "2"


def lab_state_dir(rack: LabRack) -> Path:
    return state_dir() / "labs" / rack.name


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
            *RUN_OPTIONS,
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
        elif info.get("State", {}).get("Running"):
            return "running"
        else:
            container.spawn()  # `podman start`: it exists, stopped
            return "started"
    container.spawn()
    return "created"


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


def up(rack: LabRack, *, converge: bool = True, rebuild_image: bool = False) -> UpResult:
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
        result = converge_from_netbox(rack) if netbox_host(rack) else run_converge(rack)
    return UpResult(actions, result)


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
    what = f"{playbook.name} on lab {rack.name}" + (f" (hosts: {limit})" if limit else "")
    what += f", inventory {source.name}"
    seed = cached_snapshot()
    with step(f"Converging {what}"):
        result = run_playbook(
            playbook,
            source,
            private_data_dir=lab_state_dir(rack) / "runner",
            limit=limit,
            extravars=extravars,
            env={
                "CONTAINERS_CONF": podman_env()["CONTAINERS_CONF"],
                "WERKRAUM_NETBOX_SEED": str(seed) if seed else "",
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


def netbox_host(rack: LabRack) -> LabHost | None:
    """The lab host that runs NetBox: the first service node, if the lab has one."""
    return next((h for h in rack.hosts if "service" in h.groups), None)


def netbox_env(rack: LabRack) -> dict[str, str]:
    """How to reach the lab's NetBox: URL, token and its self-signed certificate as the CA."""
    host = netbox_host(rack)
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


def converge_from_netbox(rack: LabRack, *, limit: str | None = None) -> PlaybookResult:
    """Deploy NetBox on the service node, sync the lab rack into it, converge the rack from its inventory.

    The same flow as a real rack's: the service node is converged from the
    written-down hosts.yml (NetBox does not exist before it), the rack is synced
    into NetBox from that file, and every host is then converged from netbox.yml,
    with the same group_vars beside both.
    """
    from werkraum.netbox.client import session
    from werkraum.netbox.rack import load_rack_description
    from werkraum.netbox.sync import sync_rack

    host = netbox_host(rack)
    assert host is not None
    source = resolve_source(rack.inventory, "netbox")  # before anything runs: a lab without netbox.yml stops here
    if limit is None:  # a limited converge uses the NetBox that runs already
        run_converge(rack, limit=host.name)
    env = netbox_env(rack)
    with step(f"Syncing lab {rack.name} into NetBox at {env['NETBOX_API']}"):
        with session(env["NETBOX_API"], env["NETBOX_TOKEN"], env["REQUESTS_CA_BUNDLE"]) as api:
            report = sync_rack(api, load_rack_description(rack.static_source))
        for line in report.lines() or ["    NetBox already holds the lab rack: nothing to change"]:
            say(f"    {line.strip()}")
    # Lab hosts are containers: Ansible reaches them by container name, not by the
    # primary address NetBox hands back as ansible_host (a real rack's hosts use it).
    return run_converge(
        rack,
        inventory=source,
        limit=limit,
        extravars={"ansible_host": f"{rack.name}-{{{{ inventory_hostname }}}}"},
        env=env,
    )


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
    """Remove every container and network labelled with this lab's name, and its state."""
    podman.require_podman()
    removed: dict[str, list[str]] = {"containers": [], "networks": []}
    for container in podman.containers_with_label(LABEL, name):
        cname = container["Names"][0] if container.get("Names") else container["Id"]
        podman.Container(cname).stop()
        removed["containers"].append(cname)
        say(f"    removed container {cname}")
    for network in podman.networks_with_label(LABEL, name):
        podman.podman("network", "rm", network)
        removed["networks"].append(network)
        say(f"    removed network {network}")
    shutil.rmtree(state_dir() / "labs" / name, ignore_errors=True)
    return removed
