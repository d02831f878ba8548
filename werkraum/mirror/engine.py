"""The Pulumi engine (the CLI and its provider plugins), built from Go modules, like the mirror's binaries.

The lab applies its tenants with it (`werkraum lab tenants`); a rack's CI installs
upstream's Pulumi instead. The builder is ``werkraum.mirror.gobuild``; this module
names the engine's recipe file (werkraum/data/engine/versions.toml) and its cache,
``~/.cache/werkraum/engine``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from werkraum.mirror import gobuild
from werkraum.mirror.gobuild import BuildResult, Component, GoBuildError
from werkraum.paths import cache_dir

VERSIONS_FILE = Path(__file__).resolve().parents[1] / "data" / "engine" / "versions.toml"
# What applying a tenant's Kubernetes half and its identity needs: the CLI, the Kubernetes
# provider plugin and the host of Python dynamic resources (the Keycloak objects).
KUBERNETES_ENGINE = ("pulumi", "kubernetes", "python-dynamic")

__all__ = [
    "VERSIONS_FILE",
    "BuildResult",
    "Component",
    "GoBuildError",
    "bin_dir",
    "build_all",
    "engine_dir",
    "installed",
]


def cache() -> gobuild.GoCache:
    return gobuild.GoCache(root=cache_dir() / "engine", recipes=VERSIONS_FILE)


def load_components(path: Path = VERSIONS_FILE) -> dict[str, Component]:
    return gobuild.load_components(path)


def engine_dir() -> Path:
    """The cache's root; the Automation API takes ``<root>/bin/pulumi`` from it."""
    return cache().root


def bin_dir() -> Path:
    return cache().bin_dir


def build_all(components: Iterable[Component], *, force: bool = False) -> list[BuildResult]:
    return gobuild.build_all(cache(), components, force=force)


def installed(components: Iterable[Component]) -> dict[str, Path | None]:
    return gobuild.installed(cache(), components)
