"""`werkraum rack validate`: an offline check of a rack inventory before any converge.

The rules (`Checker`) read each host's variables as Ansible templates them (a
``"{{ werkraum_mgmt_network }}"`` is checked as the network it names; see
werkraum.rack.hostvars), so they see what a converge would see. Every problem
names the file that sets the variable, or where it belongs when nothing does
(werkraum.rack.locate); the checks collect all problems rather than stopping
at the first.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from werkraum.errors import WerkraumError
from werkraum.paths import repo_root
from werkraum.rack.facts import as_bool
from werkraum.rack.hostvars import HostVars, template_variables
from werkraum.rack.inventory import inventory_folder, resolve_source
from werkraum.rack.locate import Locator
from werkraum.rack.ssh_keys import accepted_key_types, ssh_key_problem

# Required on every host (rule 1); the roles and `werkraum netbox sync` read them.
REQUIRED = (
    "werkraum_mgmt_address",
    "werkraum_mgmt_network",
    "common_admins",
    "werkraum_site",
    "werkraum_rack",
)
# The variables the checks read, templated once per host.
CHECKED = (
    *REQUIRED,
    "ansible_user",
    "ansible_connection",
    "ansible_host",
    "ceph_deploy",
    "ceph_public_network",
    "ceph_osd_devices",
    "werkraum_gpu_substrate",
    "common_domain",
    "common_ssh_host_key_algorithms",
    "group_names",
    "inventory_hostname",
)

SSH_CONNECTIONS = frozenset(
    {
        "ssh",
        "ansible.builtin.ssh",
        "paramiko",
        "paramiko_ssh",
        "ansible.builtin.paramiko_ssh",
        "smart",
        "libssh",
        "ansible.netcommon.libssh",
    }
)
GPU_SUBSTRATES = ("kubernetes", "openstack")
OSD_PREFIXES = ("/dev/disk/by-id/", "/dev/disk/by-path/")
MIN_CEPH_HOSTS = 3
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the inventory, located at the file that sets (or should set) the variable."""

    file: str  # relative to the inventory folder, e.g. "hosts.yml", "group_vars/all/common.yml"
    host: str  # "" for rack-wide problems
    variable: str  # "" where none applies (a group's size, a host's name)
    message: str

    def __str__(self) -> str:
        parts = [self.file, f"host {self.host}" if self.host else "", self.variable, self.message]
        return ": ".join(part for part in parts if part)


def validate_inventory(path: Path) -> list[Problem]:
    """Every problem of the rack inventory at ``path`` (a folder or a source file); [] means valid.

    Unreadable YAML, an empty inventory and Ansible's own errors are a WerkraumError naming the file.
    """
    source = resolve_source(path, "any")
    locator = Locator(inventory_folder(source), source)
    hosts = template_variables(source, CHECKED, locator.netbox)
    checker = Checker(locator, hosts)
    checker.run()
    return checker.result()


# --- the rules ---------------------------------------------------------------------------------


def _ipv4_network(value: Any) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=True) if isinstance(value, str) and "/" in value else None
    except ValueError:
        return None


def _ipv4_address(value: Any) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _domain_ok(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return len(value) <= 253 and all(DNS_LABEL.match(label) for label in labels)


def _hosts_text(names: Sequence[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class Checker:
    """Runs every rule over the templated hosts; each violation becomes one located Problem."""

    def __init__(self, locator: Locator, hosts: dict[str, HostVars]) -> None:
        self.locator = locator
        self.hosts = hosts
        self.problems: list[Problem] = []

    def add(self, host: HostVars, variable: str, message: str) -> None:
        self.problems.append(Problem(self.locator.file_of(host, variable), host.name, variable, message))

    def add_name(self, host: HostVars, message: str) -> None:
        self.problems.append(Problem(self.locator.host_label(host.name), host.name, "", message))

    def add_rack(self, message: str) -> None:
        self.problems.append(Problem(self.locator.source_name, "", "", message))

    def run(self) -> None:
        for host in self.hosts.values():
            for variable, error in sorted(host.errors.items()):
                self.add(host, variable, f"does not template: {error}")
            self.check_required(host)
            self.check_ceph(host)
            self.check_gpu(host)
            self.check_address(host)
            self.check_admins(host)
        self.check_names()
        self.check_unique_addresses()
        self.check_same_everywhere()
        self.check_groups()

    def result(self) -> list[Problem]:
        """The problems, those that every host shares (a setting of group_vars/all) reported once."""
        if len(self.hosts) < 2:
            return sorted(set(self.problems))
        by_setting: dict[tuple[str, str, str], set[str]] = {}
        for problem in self.problems:
            by_setting.setdefault((problem.file, problem.variable, problem.message), set()).add(problem.host)
        shared = {key for key, hosts in by_setting.items() if hosts >= set(self.hosts)}
        result = {p for p in self.problems if (p.file, p.variable, p.message) not in shared}
        result |= {Problem(file, "", variable, message) for file, variable, message in shared}
        return sorted(result)

    # rule 1
    def check_required(self, host: HostVars) -> None:
        for variable in REQUIRED:
            if variable not in host.values and host.ok(variable):
                self.add(host, variable, "is not set")
        checks = (
            ("werkraum_mgmt_address", _ipv4_address, "is not an IPv4 address"),
            ("werkraum_mgmt_network", _ipv4_network, "is not an IPv4 network in CIDR form (e.g. 10.10.0.0/24)"),
        )
        for variable, parse, message in checks:
            if variable in host.values and parse(host.values[variable]) is None:
                self.add(host, variable, f"{host.values[variable]!r} {message}")
        domain = host.values.get("common_domain")
        if "common_domain" in host.values and not (_nonempty_str(domain) and _domain_ok(str(domain))):
            self.add(host, "common_domain", f"{domain!r} is not a DNS domain name (lower-case labels)")
        for variable in ("werkraum_site", "werkraum_rack"):
            if variable in host.values and not _nonempty_str(host.values[variable]):
                self.add(host, variable, f"{host.values[variable]!r} is not a name (a non-empty string)")
        self.check_ansible_user(host)

    def check_ansible_user(self, host: HostVars) -> None:
        if not host.ok("ansible_connection", "ansible_user"):
            return
        connection = str(host.values.get("ansible_connection", "ssh"))
        if connection not in SSH_CONNECTIONS:
            return
        user = host.values.get("ansible_user")
        if "ansible_user" not in host.values:
            self.add(host, "ansible_user", "is not set (Ansible logs in over SSH as this admin)")
        elif not isinstance(user, str) or not LINUX_USER.match(user):
            self.add(host, "ansible_user", f"{user!r} is not a Linux user name")

    # rule 2
    def ceph_deploy(self, host: HostVars) -> bool:
        """Whether Ceph is deployed on ``host`` (ansible/ceph.yml: ``ceph_deploy | default(true) | bool``)."""
        return (
            "ceph" in host.groups and host.ok("ceph_deploy") and as_bool(host.values.get("ceph_deploy", True)) is True
        )

    def check_ceph(self, host: HostVars) -> None:
        if "ceph" not in host.groups:
            return
        if "ceph_deploy" in host.values and as_bool(host.values["ceph_deploy"]) is None:
            self.add(host, "ceph_deploy", f"{host.values['ceph_deploy']!r} is not true or false")
        if not self.ceph_deploy(host):
            return
        network = host.values.get("ceph_public_network")
        if host.ok("ceph_public_network"):
            if "ceph_public_network" not in host.values:
                self.add(host, "ceph_public_network", "is not set (the network Ceph's clients and daemons talk on)")
            elif not isinstance(network, str) or not _ip_network_ok(network):
                self.add(host, "ceph_public_network", f"{network!r} is not a network in CIDR form")
        if host.ok("ceph_osd_devices"):
            self.check_osd_devices(host, host.values.get("ceph_osd_devices"))

    def check_osd_devices(self, host: HostVars, devices: Any) -> None:
        if not isinstance(devices, list) or not devices:
            self.add(host, "ceph_osd_devices", "must list the host's OSD disks (e.g. /dev/disk/by-id/nvme-...)")
            return
        seen: set[str] = set()
        for device in devices:
            if not isinstance(device, str) or not device.startswith(OSD_PREFIXES) or device in OSD_PREFIXES:
                self.add(
                    host,
                    "ceph_osd_devices",
                    f"{device!r} is not a stable disk name: use /dev/disk/by-id/... or /dev/disk/by-path/... "
                    "(/dev/sdX and /dev/nvmeXnY change between boots)",
                )
            elif device in seen:
                self.add(host, "ceph_osd_devices", f"{device} is listed twice")
            seen.add(str(device))

    # rule 3
    def check_gpu(self, host: HostVars) -> None:
        if "gpu" not in host.groups or not host.ok("werkraum_gpu_substrate"):
            return
        substrate = host.values.get("werkraum_gpu_substrate")
        if substrate not in GPU_SUBSTRATES:
            shown = "is not set" if "werkraum_gpu_substrate" not in host.values else f"{substrate!r} is not allowed"
            self.add(host, "werkraum_gpu_substrate", f"{shown}: kubernetes or openstack (a GPU node serves one)")

    # rule 4
    def check_address(self, host: HostVars) -> None:
        address = _ipv4_address(host.values.get("werkraum_mgmt_address"))
        network = _ipv4_network(host.values.get("werkraum_mgmt_network"))
        if address and network:
            if address not in network:
                self.add(host, "werkraum_mgmt_address", f"{address} is outside werkraum_mgmt_network {network}")
            elif network.prefixlen <= 30 and address in (network.network_address, network.broadcast_address):
                kind = "network" if address == network.network_address else "broadcast"
                self.add(host, "werkraum_mgmt_address", f"{address} is the {kind} address of {network}")
        target = host.values.get("ansible_host")
        try:
            target_ip = ipaddress.ip_address(target) if isinstance(target, str) else None
        except ValueError:
            target_ip = None  # a name: Ansible resolves it
        if address and target_ip and target_ip != address:
            self.add(
                host,
                "ansible_host",
                f"{target_ip} differs from werkraum_mgmt_address {address}: Ansible would reach the host elsewhere",
            )

    def check_unique_addresses(self) -> None:
        owners: dict[ipaddress.IPv4Address, str] = {}
        for host in self.hosts.values():
            address = _ipv4_address(host.values.get("werkraum_mgmt_address"))
            if address is None:
                continue
            if address in owners:
                self.add(
                    host, "werkraum_mgmt_address", f"{address} is also {owners[address]}'s: give each host its own"
                )
            else:
                owners[address] = host.name

    # rule 5
    def check_names(self) -> None:
        seen: dict[str, str] = {}
        for host in self.hosts.values():
            if not DNS_LABEL.match(host.name):
                self.add_name(
                    host,
                    "is not a valid host name: lower-case letters, digits and '-', at most 63, "
                    "no '-' at either end (RFC 1123)",
                )
            folded = host.name.lower()
            if folded in seen:
                self.add_name(host, f"is the same name as {seen[folded]} (host names are case-insensitive)")
            else:
                seen[folded] = host.name

    def check_same_everywhere(self) -> None:
        """One inventory is one rack: the site, the rack and the management network are the same on every host."""
        for variable in ("werkraum_mgmt_network", "werkraum_site", "werkraum_rack"):
            # Compared as JSON (values may be lists); a network that does not parse is reported as that alone.
            values = {
                h.name: json.dumps(h.values[variable], sort_keys=True)
                for h in self.hosts.values()
                if variable in h.values
                and (variable != "werkraum_mgmt_network" or _ipv4_network(h.values[variable]) is not None)
            }
            if len(set(values.values())) < 2:
                continue
            common = Counter(values.values()).most_common(1)[0][0]
            others = [name for name, value in values.items() if value == common]
            for name, value in values.items():
                if value != common:
                    self.add(
                        self.hosts[name],
                        variable,
                        f"{json.loads(value)!r} differs from {json.loads(common)!r} on {_hosts_text(others)}: "
                        "one inventory describes one rack",
                    )

    # rule 6
    def check_groups(self) -> None:
        control = sorted(h.name for h in self.hosts.values() if "control" in h.groups)
        if not control:
            self.add_rack("no host is in the control group: the rack needs at least one control node")
        elif len(control) % 2 == 0:
            # kubespray refuses an even etcd group for the same reason; Galera, RabbitMQ and
            # OVN's RAFT on the control nodes count votes the same way.
            self.add_rack(
                f"the control group has {len(control)} hosts ({', '.join(control)}): the control planes' "
                f"quorum (etcd, and the OpenStack databases) needs an odd number: 1, 3 or 5; "
                f"{len(control)} survive {(len(control) - 1) // 2} lost host(s), no more than {len(control) - 1} would"
            )
        ceph = [h.name for h in self.hosts.values() if self.ceph_deploy(h)]
        if 0 < len(ceph) < MIN_CEPH_HOSTS:
            self.add_rack(
                f"the ceph group has {len(ceph)} hosts ({', '.join(ceph)}) with ceph_deploy true: Ceph needs at "
                f"least {MIN_CEPH_HOSTS} (three copies of each object on three hosts), or none"
            )

    # rule 7
    def check_admins(self, host: HostVars) -> None:
        if "common_admins" not in host.values:
            return
        admins = host.values["common_admins"]
        if not isinstance(admins, list) or not admins:
            self.add(host, "common_admins", "must be a non-empty list of admins, each with name and ssh_keys")
            return
        names: set[str] = set()
        algorithms = host.values.get("common_ssh_host_key_algorithms", _role_default_algorithms())
        accepted = accepted_key_types([str(a) for a in algorithms] if isinstance(algorithms, list) else [])
        for index, admin in enumerate(admins):
            name = admin.get("name") if isinstance(admin, dict) else None
            label = f"[{index}] {name}" if isinstance(name, str) and name else f"[{index}]"
            for message in _admin_problems(admin, names, accepted):
                self.add(host, "common_admins", f"{label}: {message}")


def _ip_network_ok(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return "/" in value


def _role_default_algorithms() -> list[str]:
    """The common role's default common_ssh_host_key_algorithms (its defaults/main.yml: the one place it is set)."""
    defaults = repo_root() / "roles" / "common" / "defaults" / "main.yml"
    try:
        value = (yaml.safe_load(defaults.read_text()) or {}).get("common_ssh_host_key_algorithms", [])
    except (OSError, yaml.YAMLError):
        return []
    return [str(a) for a in value] if isinstance(value, list) else []


def _admin_problems(admin: Any, names: set[str], accepted: set[str]) -> Iterator[str]:
    """What is wrong with one entry of common_admins (``names``: the names seen before it).

    ``accepted``: the key types sshd will let in under the common role's
    settings; a valid key of another type would lock its admin out.
    """
    if not isinstance(admin, dict):
        yield "is not a mapping with name and ssh_keys"
        return
    name = admin.get("name")
    if not isinstance(name, str) or not LINUX_USER.match(name):
        yield f"name {name!r} is not a Linux user name (lower-case, starting with a letter or '_', at most 32)"
    elif name in names:
        yield f"name {name} is listed twice"
    else:
        names.add(name)
    keys = admin.get("ssh_keys")
    if not isinstance(keys, list) or not keys:
        yield "ssh_keys must be a non-empty list of public keys"
        return
    for key_index, key in enumerate(keys):
        problem = ssh_key_problem(key)
        if problem:
            yield f"ssh_keys[{key_index}] {problem}"
        elif accepted and str(key).split()[0] not in accepted:
            yield (
                f"ssh_keys[{key_index}] is of type {str(key).split()[0]}, which sshd refuses under "
                f"common_ssh_host_key_algorithms (it accepts {', '.join(sorted(accepted))}): the admin could not log in"
            )


def require_valid(source: Path) -> int:
    """`rack validate`'s checks of one inventory source; raises naming every problem, else returns its host count."""
    from werkraum.inventory import load_inventory

    problems = validate_inventory(source)
    if problems:
        raise WerkraumError(
            f"inventory {source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
            + "".join(f"\n    {p}" for p in problems),
            hint="fix each one where it names; nothing was converged",
        )
    return len(load_inventory(source)["_meta"]["hostvars"])
