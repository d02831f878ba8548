"""The rack's facts the platform's settings are derived from, read one way.

Who owns what (docs/architecture.md, "Who owns which fact"):

- the rack inventory's ``group_vars/all`` (in git) declares the rack-wide
  facts once: the management and external networks, DNS servers, the tenant
  pool, Kubernetes' pod and service networks, the registry and ingress names;
  ``werkraum netbox sync`` puts the networks into NetBox from there;
- the ``ceph`` role produces the cluster's fsid, its monitors and the client
  keys, and hands them to the controller (``ceph_fetch_dir``); they are read
  from there, never typed;
- the ``keycloak`` role hands Keycloak's URL, its administrator's password and
  the CA that verifies it to the controller (``keycloak_fetch_dir``); read from
  there, never typed;
- ``pulumi/platform/Pulumi.<stack>.yaml`` keeps only the product's choices
  (flavors, storage classes, the GPU resource class) and names the inventory.

The group_vars are read as files, not through NetBox, so tenant checks work
offline; their values may refer to each other with plain Jinja (``{{ x }}``,
``registry.{{ common_domain }}``). An Ansible filter or lookup is refused with
the file and variable named: these facts must be plain data.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from werkraum.errors import WerkraumError
from werkraum.rack.inventory import inventory_folder
from werkraum.rack.locate import vars_files

# Rack-wide facts in group_vars/all -> the platform setting each becomes.
FACTS = {
    "werkraum_platform_domain": "domain",
    "werkraum_mgmt_network": "management_cidr",
    "werkraum_dns_servers": "dns_nameservers",
    "werkraum_external_network": "external_network",
    "werkraum_tenant_pool": "tenant_pool",
    "werkraum_tenant_prefix_length": "tenant_prefix_length",
    "werkraum_kubernetes_pod_cidr": "kubernetes_pod_cidr",
    "werkraum_kubernetes_service_cidr": "kubernetes_service_cidr",
    "werkraum_registry": "registry",
    "werkraum_ingress_class": "ingress_class",
    "werkraum_ingress_namespace": "ingress_namespace",
}
OPTIONAL = {"werkraum_tenant_prefix_length", "werkraum_ingress_class", "werkraum_ingress_namespace"}
CEPH_GROUP = "ceph"
# The ceph role's client for Kubernetes (roles/ceph/defaults/main.yml, ceph_clients).
CEPH_KUBERNETES_CLIENT = "client.kubernetes"
_KEY_LINE = re.compile(r"^\s*key\s*=\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CephFacts:
    """What the ceph role handed to the controller: read from ``directory``."""

    directory: Path
    fsid: str
    monitors: tuple[str, ...]
    kubernetes_key: str | None  # the client.kubernetes key (secret), if the role wrote its keyring


@dataclass(frozen=True)
class KeycloakFacts:
    """What the keycloak role handed to the controller: read from ``directory``."""

    directory: Path
    url: str
    admin_user: str
    admin_password: str = field(repr=False)
    ca_file: Path
    address: str = ""  # the service node's address, when no DNS knows the URL's name (the lab)


def keycloak_dir() -> Path:
    """Where the keycloak role hands its connection over (its ``keycloak_fetch_dir`` default).

    ``WERKRAUM_KEYCLOAK_FETCH_DIR`` names another folder (the lab's state folder, a
    converge run on another machine).
    """
    if os.environ.get("WERKRAUM_KEYCLOAK_FETCH_DIR"):
        return Path(os.environ["WERKRAUM_KEYCLOAK_FETCH_DIR"])
    return Path(os.environ.get("HOME", str(Path.home()))) / ".werkraum" / "keycloak"


def read_keycloak_facts(directory: Path) -> KeycloakFacts | None:
    """The connection the keycloak role wrote; None before it ran."""
    conn = directory / "connection.yml"
    if not conn.is_file():
        return None
    try:
        data = yaml.safe_load(conn.read_text())
        facts = KeycloakFacts(
            directory=directory,
            url=str(data["url"]).rstrip("/"),
            admin_user=str(data["admin_user"]),
            admin_password=str(data["admin_password"]),
            ca_file=directory / "ca.crt",
            address=str(data.get("address") or ""),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise WerkraumError(
            f"{conn}: not the connection the keycloak role writes ({type(exc).__name__}: {exc})",
            hint="converge the service nodes again (ansible/service.yml): the role rewrites it",
        ) from None
    if not facts.ca_file.is_file():
        raise WerkraumError(
            f"{facts.ca_file} is missing beside {conn}",
            hint="converge the service nodes again (ansible/service.yml): the keycloak role hands both over",
        )
    return facts


@dataclass(frozen=True)
class RackFacts:
    inventory: Path
    settings: dict[str, Any]  # platform setting -> value
    sources: dict[str, str]  # platform setting -> "file: variable" it came from
    ceph_expected: bool  # the inventory has Ceph hosts that run the role
    ceph: CephFacts | None
    keycloak: KeycloakFacts | None = None

    def reserved_networks(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        """Networks inside the rack that no tenant network may overlap, with what each is."""
        named = [
            ("management network", self.settings["management_cidr"]),
            ("external network", self.settings["external_network"]["cidr"]),
            ("Kubernetes pod network", self.settings["kubernetes_pod_cidr"]),
            ("Kubernetes service network", self.settings["kubernetes_service_cidr"]),
        ]
        return [(what, ipaddress.IPv4Network(cidr)) for what, cidr in named]


def group_vars(folder: Path, group: str) -> tuple[dict[str, Any], dict[str, Path]]:
    """The variables of ``group_vars/<group>`` as written, and the file that sets each."""
    values: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in vars_files(folder / "group_vars", group):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise WerkraumError(f"{path}: cannot read it as YAML ({exc})") from None
        if not isinstance(data, dict):
            raise WerkraumError(f"{path}: must be a mapping of variables")
        for key, value in data.items():
            values[key] = value
            origin[key] = path
    return values, origin


_TRUE = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "off", "0", "n", "f", ""})


def as_bool(value: Any) -> bool | None:
    """Ansible's ``| bool`` of a value, None where it is no boolean at all."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


class _Renderer:
    """Plain Jinja over group_vars/all, the way Ansible would template those values."""

    def __init__(self, values: dict[str, Any], origin: dict[str, Path]) -> None:
        self.values = values
        self.origin = origin
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)

    def render(self, name: str, value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict):
            return {k: self.render(name, v, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(name, v, depth) for v in value]
        if not isinstance(value, str) or "{{" not in value:
            return value
        where = self.origin.get(name, "group_vars/all")
        try:
            template = self.env.parse(value)
            # Only what this value refers to is rendered (other variables may well be per-host).
            names = jinja2.meta.find_undeclared_variables(template)
            if depth > 5:
                raise jinja2.TemplateError("references nest too deep (a cycle?)")
            context = {n: self.render(n, self.values[n], depth + 1) for n in names if n in self.values}
            rendered = self.env.from_string(value).render(context)
        except jinja2.TemplateError as exc:
            raise WerkraumError(
                f"{where}: {name}: {value!r} cannot be read as a plain rack fact ({exc})",
                hint="platform facts may refer to other variables of group_vars/all ({{ other }}), "
                "but not use Ansible filters, lookups or per-host variables",
            ) from None
        return yaml.safe_load(rendered) if rendered.strip().startswith(("[", "{")) else rendered


def _ceph_dir(folder: Path, all_vars: dict[str, Any], renderer: _Renderer) -> Path | None:
    """Where the ceph role hands its files to the controller (its ``ceph_fetch_dir``); None if it hands none.

    ``WERKRAUM_CEPH_FETCH_DIR`` names another folder (a converge run on another
    machine, CI's copy of the hand-over, or the end-to-end run's stand-in).
    """
    if os.environ.get("WERKRAUM_CEPH_FETCH_DIR"):
        return Path(os.environ["WERKRAUM_CEPH_FETCH_DIR"])
    ceph_vars, _ = group_vars(folder, CEPH_GROUP)
    group = str(ceph_vars.get("ceph_group", all_vars.get("ceph_group", CEPH_GROUP)))
    configured = ceph_vars.get("ceph_fetch_dir", all_vars.get("ceph_fetch_dir"))
    home = os.environ.get("HOME", str(Path.home()))
    if configured is None:  # the role's default: {{ lookup('env', 'HOME') }}/.werkraum/ceph/{{ ceph_group }}
        return Path(home) / ".werkraum" / "ceph" / group
    if not str(configured).strip():
        return None  # the role hands nothing over (ceph_fetch_dir: "")
    text = str(configured).replace("{{ lookup('env', 'HOME') }}", home).replace('{{ lookup("env", "HOME") }}', home)
    return Path(str(renderer.render("ceph_fetch_dir", text))).expanduser()


def read_ceph_facts(directory: Path) -> CephFacts | None:
    """The fsid, monitors and Kubernetes client key the ceph role wrote; None before it ran."""
    conf = directory / "ceph.conf"
    if not conf.is_file():
        return None
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read_string(conf.read_text())
        fsid = parser.get("global", "fsid").strip()
        mon_host = parser.get("global", "mon_host", fallback="").strip()
    except (OSError, configparser.Error) as exc:
        raise WerkraumError(
            f"{conf}: not the ceph.conf the ceph role writes ({exc})",
            hint="converge the ceph nodes again: the role rewrites it",
        ) from None
    key = None
    keyring = directory / f"ceph.{CEPH_KUBERNETES_CLIENT}.keyring"
    if keyring.is_file():
        found = _KEY_LINE.search(keyring.read_text())
        key = found.group(1) if found else None
    # mon_host as the role writes it: address vectors "[v2:a:3300,v1:a:6789],[v2:b:3300,...]" (or plain addresses).
    monitors = tuple(re.findall(r"\[[^\]]*\]|[^,\s\[\]]+", mon_host))
    return CephFacts(directory=directory, fsid=fsid, monitors=monitors, kubernetes_key=key)


def _ceph_expected(folder: Path) -> bool:
    """Whether the inventory's Ceph hosts run the ceph role (the container lab's do not).

    A static hosts.yml without a ceph group means a rack without Ceph (the small
    start, S3 off-site); a NetBox-only folder is taken to have one unless its
    group_vars switch the role off.
    """
    ceph_vars, _ = group_vars(folder, CEPH_GROUP)
    if not as_bool(ceph_vars.get("ceph_deploy", True)):
        return False
    static = folder / "hosts.yml"
    if not static.is_file():
        return True
    try:
        data = yaml.safe_load(static.read_text()) or {}
    except yaml.YAMLError as exc:
        raise WerkraumError(f"{static}: cannot read it as YAML ({exc})") from None
    ceph = ((data.get("all") or {}).get("children") or {}).get(CEPH_GROUP) or {}
    return bool(ceph.get("hosts"))


def load_rack_facts(inventory: Path, *, ceph: bool = True) -> RackFacts:
    """Read the rack facts of an inventory folder; every error names the file and variable.

    ``ceph=False`` skips the ceph role's hand-over (what NetBox's sync needs is in group_vars alone).
    """
    folder = inventory_folder(inventory.resolve())
    if not (folder / "group_vars").is_dir():
        raise WerkraumError(
            f"inventory {folder} has no group_vars/ folder",
            hint="a rack inventory keeps its settings in group_vars/ (see inventories/office/)",
        )
    values, origin = group_vars(folder, "all")
    renderer = _Renderer(values, origin)
    settings: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for var, setting in FACTS.items():
        if var not in values:
            if var in OPTIONAL:
                continue
            raise WerkraumError(
                f"{folder / 'group_vars' / 'all'}: {var} is not set",
                hint=f"declare it once in group_vars/all (see inventories/office/group_vars/all/platform.yml); "
                f"the platform's {setting} is derived from it",
            )
        settings[setting] = renderer.render(var, values[var])
        sources[setting] = f"{origin[var].relative_to(folder)}: {var}"
    expected = _ceph_expected(folder)
    handed_over = _ceph_dir(folder, values, renderer) if expected and ceph else None
    facts = read_ceph_facts(handed_over) if handed_over else None
    return RackFacts(
        inventory=folder,
        settings=settings,
        sources=sources,
        ceph_expected=expected,
        ceph=facts,
        keycloak=read_keycloak_facts(keycloak_dir()) if ceph else None,
    )
