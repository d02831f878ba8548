"""Which file of an inventory sets a host's variable, or where it belongs when nothing does.

Found by reading the inventory's YAML (its source, group_vars/, host_vars/) in
Ansible's precedence order; Ansible itself is not run here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from werkraum.errors import WerkraumError
from werkraum.rack.hostvars import HostVars
from werkraum.rack.inventory import NETBOX, STATIC

# Facts of one host: written under the host in hosts.yml (or NetBox's device); all else is a setting in group_vars/.
PER_HOST = frozenset({"werkraum_mgmt_address", "ansible_host", "ceph_osd_devices", "werkraum_gpu_substrate"})
GROUP_HOME = {"ceph_public_network": "ceph", "ceph_deploy": "ceph"}


class _TolerantLoader(yaml.SafeLoader):
    """Safe YAML that reads Ansible's tags (!vault, !unsafe) as plain values: only the keys matter here."""


def _construct_tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _construct_tagged)

VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise WerkraumError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        where, why = "", " ".join(str(exc).split())
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f" line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}:"
            why = " ".join(filter(None, (exc.context, exc.problem)))
        raise WerkraumError(
            f"{path}: not valid YAML:{where} {why}",
            hint="fix the syntax there; Ansible cannot read the inventory until then",
        ) from None


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def vars_files(base: Path, name: str) -> list[Path]:
    """The files Ansible's host_group_vars plugin reads for ``name``, in load order (later ones win)."""
    files = [base / f"{name}{suffix}" for suffix in VARS_SUFFIXES if (base / f"{name}{suffix}").is_file()]
    folder = base / name
    if folder.is_dir():
        files += sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix in VARS_SUFFIXES and not p.name.startswith(".")
        )
    return files


@dataclass
class _SourceVars:
    """Variables set inside a YAML inventory source: per host (all its entries), per group, for all."""

    hosts: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)

    def walk(self, group: str, node: Any) -> None:
        if not isinstance(node, dict):
            return
        if isinstance(node.get("vars"), dict):
            self.groups.setdefault(group, set()).update(map(str, node["vars"]))
        hosts = node.get("hosts")
        if isinstance(hosts, dict):
            for host, hostvars in hosts.items():
                entry = self.hosts.setdefault(str(host), set())
                if isinstance(hostvars, dict):
                    entry.update(map(str, hostvars))
        children = node.get("children")
        if isinstance(children, dict):
            for child, child_node in children.items():
                self.walk(str(child), child_node)


class Locator:
    """Names the file that sets a host's variable, in Ansible's precedence order (highest first)."""

    def __init__(self, folder: Path, source: Path) -> None:
        self.folder = folder
        self.source = source
        self.netbox = source.is_file() and self._is_netbox(source)
        self.source_vars = _SourceVars()
        self._keys: dict[Path, set[str]] = {}
        for path in self._yaml_sources():
            data = _load_yaml(path)
            if data is None:
                raise WerkraumError(f"{path}: empty inventory (no hosts)")
            if isinstance(data, dict) and "plugin" not in data:
                for group, node in data.items():
                    self.source_vars.walk(str(group), node)
        for sub in ("group_vars", "host_vars"):
            for path in sorted((folder / sub).rglob("*")):
                if path.is_file() and path.suffix in VARS_SUFFIXES and not path.name.startswith("."):
                    self._keys[path] = self._var_keys(path)

    @staticmethod
    def _is_netbox(source: Path) -> bool:
        if source.name == NETBOX:
            return True
        try:
            return "nb_inventory" in source.read_text(encoding="utf-8", errors="replace").split("plugin:", 1)[-1][:80]
        except OSError:
            return False

    def _yaml_sources(self) -> list[Path]:
        if self.source.is_dir():
            return sorted(p for p in self.source.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))
        return [self.source] if self.source.suffix in (".yml", ".yaml", ".json") else []

    def _var_keys(self, path: Path) -> set[str]:
        data = _load_yaml(path)
        if data is None:
            return set()
        if not isinstance(data, dict):
            raise WerkraumError(
                f"{path}: must be a mapping of variable names to values",
                hint="write `name: value` lines at the top level of the file",
            )
        return {str(key) for key in data}

    @property
    def source_name(self) -> str:
        """The source file, relative; for a plain inventory folder, its first YAML file (else hosts.yml)."""
        if self.source.is_dir():
            sources = self._yaml_sources()
            return _relative(sources[0], self.folder) if sources else STATIC
        return _relative(self.source, self.folder)

    def host_label(self, host: str) -> str:
        """Where a host and its facts are written: hosts.yml, or NetBox's device behind netbox.yml."""
        return f"{self.source_name} (NetBox device {host})" if self.netbox else self.source_name

    def _set_in(self, files: Iterable[Path], variable: str) -> str | None:
        for path in reversed(list(files)):
            if variable in self._keys.get(path, set()):
                return _relative(path, self.folder)
        return None

    def _candidates(self, host: HostVars, variable: str) -> Iterator[str | None]:
        groups = sorted(g for g in host.groups if g not in ("all", "ungrouped"))
        yield self._set_in(vars_files(self.folder / "host_vars", host.name), variable)
        if variable in self.source_vars.hosts.get(host.name, set()):
            yield self.source_name
        for group in reversed(groups):
            yield self._set_in(vars_files(self.folder / "group_vars", group), variable)
        yield self._set_in(vars_files(self.folder / "group_vars", "all"), variable)
        for group in [*reversed(groups), "all"]:
            if variable in self.source_vars.groups.get(group, set()):
                yield self.source_name

    def file_of(self, host: HostVars, variable: str) -> str:
        """The file that sets ``variable`` for ``host``, else where it should go."""
        for found in self._candidates(host, variable):
            if found:
                return found
        if self.netbox and variable in host.values:
            return self.host_label(host.name)  # set by NetBox itself (a custom field, compose)
        return self.home_of(variable, host.name)

    def home_of(self, variable: str, host: str) -> str:
        """Where an unset variable belongs: per-host facts under the host, settings in group_vars."""
        if variable in PER_HOST:
            return self.host_label(host)
        group = GROUP_HOME.get(variable, "all")
        for name in (f"{group}.yml", f"{group}.yaml"):
            if (self.folder / "group_vars" / name).is_file():
                return f"group_vars/{name}"
        return f"group_vars/{group}/"
