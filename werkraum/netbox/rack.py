"""The rack as an Ansible inventory describes it, in the terms NetBox stores.

The inventory (the lab's, or ``inventories/office/``) is the rack description:
hosts grouped by node role, each with ``werkraum_mgmt_address``, and these
variables, usually set for ``all``:

- ``werkraum_site``: the site's name (e.g. "Office Berlin");
- ``werkraum_rack``: the rack's name within the site;
- ``werkraum_mgmt_network``: the management network (CIDR);
- ``werkraum_device_type``: ``{manufacturer: ..., model: ...}`` (per host or group);
- ``werkraum_mgmt_interface``: the interface carrying the management address;

per-host facts that NetBox owns from then on (``HOST_FACTS``): the rack
position (NetBox's own rack elevation) and custom fields on the device that the
NetBox inventory hands back as host variables of the same name (the OSD disks,
the GPU node's substrate); and the rack facts of group_vars/all
(werkraum/rack/facts.py), of which NetBox holds the tenant prefix pool and the
ranges reserved inside it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.inventory import groups_of, load_inventory
from werkraum.rack.facts import load_rack_facts
from werkraum.rack.inventory import resolve_source

ROLES = ("gpu", "ceph", "control", "service")
ROLE_COLORS = {"gpu": "ff9800", "ceph": "2196f3", "control": "4caf50", "service": "9c27b0"}
DEFAULT_DEVICE_TYPE = {"manufacturer": "Generic", "model": "Server"}
_REFERENCE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


@dataclass(frozen=True)
class DeviceType:
    manufacturer: str
    model: str


SUBSTRATE_RE = "^(kubernetes|openstack)$"
# Per-host facts kept as custom fields of NetBox devices: variable -> (NetBox type, description, validation regex).
# The NetBox inventory (flatten_custom_fields) returns each as a host variable of the same name.
CUSTOM_FIELDS: dict[str, tuple[str, str, str]] = {
    "ceph_osd_devices": ("json", "Block devices that become Ceph OSDs, by /dev/disk/by-id or by-path", ""),
    "werkraum_gpu_substrate": ("text", "What this GPU node serves: kubernetes or openstack", SUBSTRATE_RE),
}
RACK_POSITION = "werkraum_rack_position"


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    device_type: DeviceType
    interface: str
    address: str  # with prefix length, as NetBox stores it: 10.231.0.11/24
    position: int | None = None  # lowest rack unit, front face
    custom_fields: tuple[tuple[str, Any], ...] = ()  # (variable, value) of CUSTOM_FIELDS the inventory sets


@dataclass(frozen=True)
class RackDescription:
    source: Path
    site: str
    rack: str
    mgmt_network: str
    tenant_pool: str
    reserved_in_pool: tuple[tuple[str, str], ...]  # (what, cidr): ranges inside the pool no tenant may get
    devices: tuple[Device, ...]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100]


def _resolve(value: Any, hostvars: dict[str, Any], seen: int = 0) -> Any:
    """Follow a plain ``{{ other_var }}`` reference (``--list`` does not template)."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    if match and seen < 5:
        return _resolve(hostvars.get(match.group(1)), hostvars, seen + 1)
    return value


def _required(source: Path, host: str, hostvars: dict[str, Any], var: str) -> str:
    value = _resolve(hostvars.get(var), hostvars)
    if not isinstance(value, str) or not value.strip() or "{{" in value:
        raise WerkraumError(
            f"{source}: host {host}: {var} is missing or not a plain value ({value!r})",
            hint=f"set {var} in the inventory's group_vars/all (see inventories/office/group_vars/all/main.yml)",
        )
    return value.strip()


RACK_UNITS = 42  # the height of the rack sync creates (NetBox's default)


def _position(source: Path, host: str, hv: dict[str, Any]) -> int | None:
    value = _resolve(hv.get(RACK_POSITION), hv)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RACK_UNITS:
        raise WerkraumError(
            f"{source}: host {host}: {RACK_POSITION} {value!r} is not a unit of the rack (1 to {RACK_UNITS})",
            hint="the lowest unit the host occupies, as printed on the rack",
        )
    return value


def _custom_fields(source: Path, host: str, hv: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The per-host facts NetBox keeps as custom fields; a value Ansible would still template is refused."""
    found = []
    for name in sorted(CUSTOM_FIELDS):
        if name not in hv:
            continue
        value = _resolve(hv[name], hv)
        if "{{" in str(value):
            raise WerkraumError(
                f"{source}: host {host}: {name} {value!r} is a template, not a value NetBox can hold",
                hint=f"write {name} out under the host in {source.name}: NetBox stores it as it is",
            )
        found.append((name, value))
    return tuple(found)


def load_rack_description(inventory: Path) -> RackDescription:
    """Read the written-down inventory (hosts.yml); every error names the file, the host and the variable."""
    source = resolve_source(inventory, "static")
    data = load_inventory(source)
    hostvars_all: dict[str, dict[str, Any]] = data["_meta"]["hostvars"]
    groups = groups_of(data)
    sites, racks, networks = set(), set(), set()
    devices = []
    for host in sorted(hostvars_all):
        hv = hostvars_all[host]
        roles = [g for g in groups.get(host, []) if g in ROLES]
        if len(roles) != 1:
            raise WerkraumError(
                f"{inventory}: host {host} is in {len(roles)} of the node groups {', '.join(ROLES)}"
                + (f" ({', '.join(roles)})" if roles else ""),
                hint="put each host in exactly one of them: its NetBox device role",
            )
        sites.add(_required(inventory, host, hv, "werkraum_site"))
        racks.add(_required(inventory, host, hv, "werkraum_rack"))
        network_text = _required(inventory, host, hv, "werkraum_mgmt_network")
        try:
            network = ipaddress.IPv4Network(network_text)
        except ValueError:
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_mgmt_network {network_text!r} is not a network in CIDR form"
            ) from None
        networks.add(str(network))
        address_text = _required(inventory, host, hv, "werkraum_mgmt_address")
        try:
            address = ipaddress.IPv4Address(address_text)
        except ValueError:
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_mgmt_address {address_text!r} is not an IPv4 address"
            ) from None
        if address not in network:
            raise WerkraumError(f"{inventory}: host {host}: werkraum_mgmt_address {address} is outside {network}")
        dtype = _resolve(hv.get("werkraum_device_type"), hv) or DEFAULT_DEVICE_TYPE
        if not isinstance(dtype, dict) or not {"manufacturer", "model"} <= set(dtype):
            raise WerkraumError(
                f"{inventory}: host {host}: werkraum_device_type must be a mapping with manufacturer and model",
                hint="e.g. werkraum_device_type: {manufacturer: Supermicro, model: SYS-1029U}",
            )
        devices.append(
            Device(
                name=host,
                role=roles[0],
                device_type=DeviceType(str(dtype["manufacturer"]), str(dtype["model"])),
                interface=str(_resolve(hv.get("werkraum_mgmt_interface"), hv) or "eth0"),
                address=f"{address}/{network.prefixlen}",
                position=_position(source, host, hv),
                custom_fields=_custom_fields(inventory, host, hv),
            )
        )
    for var, values in (("werkraum_site", sites), ("werkraum_rack", racks), ("werkraum_mgmt_network", networks)):
        if len(values) > 1:
            raise WerkraumError(
                f"{inventory}: hosts disagree on {var} ({', '.join(sorted(values))})",
                hint="one inventory describes one rack; split it, or set the variable once for all",
            )
    seen: dict[str, str] = {}
    units: dict[int, str] = {}
    for device in devices:
        if device.address in seen:
            raise WerkraumError(f"{inventory}: hosts {seen[device.address]} and {device.name} share {device.address}")
        seen[device.address] = device.name
        if device.position is not None:
            if device.position in units:
                raise WerkraumError(
                    f"{inventory}: hosts {units[device.position]} and {device.name} share "
                    f"{RACK_POSITION} {device.position}",
                    hint="each host occupies its own rack units: give one of them another position",
                )
            units[device.position] = device.name
    facts = load_rack_facts(source, ceph=False)
    pool = ipaddress.IPv4Network(facts.settings["tenant_pool"])
    return RackDescription(
        source=source,
        site=sites.pop(),
        rack=racks.pop(),
        mgmt_network=networks.pop(),
        tenant_pool=str(pool),
        reserved_in_pool=tuple((what, str(net)) for what, net in facts.reserved_networks() if net.overlaps(pool)),
        devices=tuple(devices),
    )
