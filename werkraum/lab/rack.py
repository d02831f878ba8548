"""The lab rack as the lab inventory declares it: name, network and hosts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.inventory import groups_of, load_inventory
from werkraum.lab.image import SUITES
from werkraum.rack.inventory import inventory_folder, resolve_source

HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class LabHost:
    name: str
    groups: tuple[str, ...]
    address: str
    container: str
    suite: str = "bookworm"  # the Debian release of its image (werkraum_lab_suite)
    kubernetes: bool = False  # a Kubernetes node: a control node, or a GPU node that serves Kubernetes

    @property
    def containerd_volume(self) -> str:
        """The volume under containerd's root: its overlayfs snapshotter cannot work on the container's own overlay."""
        return f"{self.container}-containerd"


@dataclass(frozen=True)
class LabRack:
    name: str
    subnet: str
    inventory: Path  # the inventory folder (its netbox.yml and group_vars/)
    hosts: tuple[LabHost, ...]
    source: Path | None = None  # the written-down inventory the hosts were read from (hosts.yml, or the file given)
    # The playbooks converge Kubernetes on its hosts (werkraum_kubernetes_enabled); its hosts
    # run as Kubernetes hosts either way, so the lab's hosting is the same with and without.
    kubernetes_enabled: bool = True

    @property
    def kubernetes_hosts(self) -> tuple[LabHost, ...]:
        """The hosts the playbooks make Kubernetes nodes of (none when Kubernetes is off)."""
        return tuple(h for h in self.hosts if h.kubernetes) if self.kubernetes_enabled else ()

    @property
    def static_source(self) -> Path:
        return self.source or resolve_source(self.inventory, "static")

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise WerkraumError(f"lab {self.name} has no host {name!r}")


def load_rack(inventory: Path) -> LabRack:
    """Read and check the lab inventory; errors name the file and the host or variable."""
    source = resolve_source(inventory, "static")
    data = load_inventory(source)
    hostvars: dict[str, dict[str, Any]] = data["_meta"]["hostvars"]
    groups = groups_of(data)
    any_vars = next(iter(hostvars.values()))
    name = str(any_vars.get("werkraum_lab_name", ""))
    subnet_text = str(any_vars.get("werkraum_lab_subnet", ""))
    if not HOSTNAME.match(name):
        raise WerkraumError(
            f"{inventory}: werkraum_lab_name {name!r} is missing or not a valid name",
            hint="use lower-case letters, digits and '-' (e.g. werkraum-lab)",
        )
    try:
        subnet = ipaddress.ip_network(subnet_text)
    except ValueError:
        raise WerkraumError(
            f"{inventory}: werkraum_lab_subnet {subnet_text!r} is not a network in CIDR form",
            hint="e.g. 10.231.0.0/24",
        ) from None
    if not subnet.is_private or subnet.num_addresses < 8:
        raise WerkraumError(f"{inventory}: werkraum_lab_subnet {subnet} must be a private network of /29 or larger")
    gateway = next(subnet.hosts())
    seen: dict[str, str] = {}
    hosts = []
    for host in sorted(hostvars):
        if not HOSTNAME.match(host):
            raise WerkraumError(f"{inventory}: host name {host!r} is not a valid host name")
        address_text = str(hostvars[host].get("werkraum_mgmt_address", ""))
        try:
            address = ipaddress.ip_address(address_text)
        except ValueError:
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_mgmt_address {address_text!r} is not an IP address",
                hint=f"give each lab host a fixed address in {subnet}",
            ) from None
        if address not in subnet or address in (subnet.network_address, subnet.broadcast_address, gateway):
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_mgmt_address {address} is not a usable address of "
                f"the lab subnet {subnet} (the first address is the gateway)"
            )
        if str(address) in seen:
            raise WerkraumError(f"{inventory}: hosts {seen[str(address)]} and {host} share the address {address}")
        seen[str(address)] = host
        suite = str(hostvars[host].get("werkraum_lab_suite", "bookworm"))
        if suite not in SUITES:
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_lab_suite {suite!r} is not one of {', '.join(SUITES)}"
            )
        host_groups = tuple(sorted(groups.get(host, [])))
        kubernetes = "control" in host_groups or (
            "gpu" in host_groups and hostvars[host].get("werkraum_gpu_substrate") == "kubernetes"
        )
        hosts.append(LabHost(host, host_groups, str(address), f"{name}-{host}", suite, kubernetes))
    enabled = any_vars.get("werkraum_kubernetes_enabled", True)
    if not isinstance(enabled, bool):
        raise WerkraumError(
            f"{inventory}: werkraum_kubernetes_enabled {enabled!r} is not true or false",
            hint="set it to true (the lab's Kubernetes cluster) or false (the hosts without it)",
        )
    return LabRack(
        name=name,
        subnet=str(subnet),
        inventory=inventory_folder(source),
        hosts=tuple(hosts),
        source=source,
        kubernetes_enabled=enabled,
    )
