"""The Kubernetes stack's pinned versions and mirror layout, read from the role that pins them.

``roles/kubernetes_defaults/defaults/main.yml`` is the one place the versions are
written. Ansible reads it as role defaults; this module renders the same file with
Jinja (as Ansible would: each value may use the others, and ``regex_replace``), so
the builder and the roles see the same versions and the same mirror paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from werkraum.errors import WerkraumError

DEFAULTS = Path("roles") / "kubernetes_defaults" / "defaults" / "main.yml"
# A pin file value that names the inventory (the cluster's shape, this host's
# address) is Ansible's to template per host; the mirror keeps it as written.
INVENTORY = re.compile(r"\b(groups|hostvars|inventory_hostname|werkraum_\w+|ansible_\w+)\b")
VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class Pins:
    """The rendered pins: every ``kubernetes_*`` value, the mirror's files and images."""

    source: Path
    values: dict[str, Any]

    @property
    def versions(self) -> dict[str, str]:
        """``kubernetes_version``, ``kubernetes_etcd_version``, …, plus the two the builder derives.

        ``kubernetes_staging_version`` is the tag of k8s.io/kubernetes' published
        staging modules (v1.37.2 → v0.37.2), ``kubernetes_minor`` the minor (37).
        """
        found = {k: str(v) for k, v in self.values.items() if k.endswith("_version") and isinstance(v, str)}
        _major, minor, patch = re.split(r"[.+-]", found["kubernetes_version"].lstrip("v"))[:3]
        found["kubernetes_staging_version"] = f"v0.{minor}.{patch}"
        found["kubernetes_minor"] = minor
        return found

    @property
    def files(self) -> dict[str, str]:
        return dict(self.values["kubernetes_mirror_files"])

    @property
    def images(self) -> dict[str, str]:
        return dict(self.values["kubernetes_mirror_images"])

    def mirror_image(self, name: str, repo: str) -> str:
        """Where the mirror keeps an image: ``repo`` + its upstream name without the registry host."""
        return mirrored(self.images[name], repo)


def mirrored(ref: str, repo: str) -> str:
    """``ref`` under ``repo`` by the path it has below its own registry host, as containerd's hosts.toml maps it."""
    return f"{repo.rstrip('/')}/{ref.split('/', 1)[1]}"


def _regex_replace(value: str, pattern: str, replacement: str = "") -> str:
    return re.sub(pattern, replacement, value)


def _render(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters["regex_replace"] = _regex_replace

    def one(value: Any, where: str) -> Any:
        if isinstance(value, str) and "{{" in value and INVENTORY.search(value):
            return value
        if isinstance(value, str) and "{{" in value:
            try:
                return env.from_string(value).render(**rendered)
            except jinja2.TemplateError as exc:
                raise WerkraumError(f"{path}: {where}: cannot render {value!r}: {exc}") from exc
        if isinstance(value, dict):
            return {k: one(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [one(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    rendered: dict[str, Any] = {k: v for k, v in raw.items() if not (isinstance(v, str) and "{{" in v)}
    for key, value in raw.items():
        rendered[key] = one(value, key)
    return rendered


def load(root: Path) -> Pins:
    """The pins of the checkout at ``root``; a version that is not ``vX.Y.Z`` names its variable."""
    path = root / DEFAULTS
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise WerkraumError(f"{path}: cannot read the Kubernetes pins: {exc}") from exc
    if not isinstance(raw, dict) or "kubernetes_version" not in raw:
        raise WerkraumError(f"{path}: no kubernetes_version pinned")
    for key, value in raw.items():
        if key.endswith("_version") and not (isinstance(value, str) and VERSION.match(value)):
            raise WerkraumError(
                f"{path}: {key}: {value!r} is not a version (vMAJOR.MINOR.PATCH)",
                hint="pin an exact release; quote it so YAML keeps it a string",
            )
    return Pins(source=path, values=_render(raw, path))
