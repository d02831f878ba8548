"""The Pulumi engine (and, until the lab cluster replaces it, the lab's bare Kubernetes API), built from Go modules.

The builder is the product's (``werkraum.mirror.gobuild``, which also builds the
mirror's Kubernetes binaries); this module only names the engine's recipe file and
its cache, ``~/.cache/werkraum/engine``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.harness.paths import HARNESS_DATA
from werkraum.mirror import gobuild
from werkraum.mirror.gobuild import BuildResult, Component, GoBuildError
from werkraum.paths import cache_dir

VERSIONS_FILE = HARNESS_DATA / "engine" / "versions.toml"

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
