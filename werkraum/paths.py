"""Where things live: the repository, the caches and the per-lab state."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


def repo_root() -> Path:
    """The checkout the CLI works on: ``WERKRAUM_ROOT`` or the folder above the package."""
    env = os.environ.get("WERKRAUM_ROOT")
    return Path(env).resolve() if env else PACKAGE_DIR.parent


def cache_dir() -> Path:
    """Build caches shared by every checkout (the lab image's rootfs build)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "werkraum"


def state_dir() -> Path:
    """Per-lab state (hosts, last converge, ansible-runner artifacts)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "werkraum"


def containers_conf() -> Path:
    return DATA_DIR / "containers.conf"


def podman_env() -> dict[str, str]:
    """The environment podman (and Ansible's podman connection) must run with."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(containers_conf()))
    return env
