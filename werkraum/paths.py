"""Where things live: the repository, the caches and the per-lab state."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


# What marks a Werkraum checkout (as .git marks a git one): these exist at its top.
MARKERS = ("ansible/site.yml", "inventories", "stacks")


def is_checkout(path: Path) -> bool:
    return all((path / marker).exists() for marker in MARKERS)


def find_checkout(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that is a Werkraum checkout."""
    start = start.resolve()
    return next((folder for folder in (start, *start.parents) if is_checkout(folder)), None)


def repo_root() -> Path:
    """The checkout the CLI works on: ``WERKRAUM_ROOT``, else the one the working directory is in.

    Found by walking up from the working directory, like git: a virtualenv made in
    one clone works on whichever clone you stand in. Outside any checkout this is
    an error that says so (werkraum.errors.NotInCheckoutError).
    """
    env = os.environ.get("WERKRAUM_ROOT")
    if env:
        root = Path(env).resolve()
        if not root.is_dir():
            from werkraum.errors import NotInCheckoutError

            raise NotInCheckoutError(
                f"WERKRAUM_ROOT={env} is not a folder",
                hint="point WERKRAUM_ROOT at the top of a clone, or unset it and run werkraum inside one",
            )
        return root  # taken as it is: it may hold only part of a checkout (a CI job's, a test's)
    found = find_checkout(Path.cwd())
    if found is None:
        from werkraum.errors import NotInCheckoutError

        raise NotInCheckoutError(
            f"{Path.cwd()} is not inside a Werkraum checkout (no folder above it has {', '.join(MARKERS)})",
            hint="cd into your clone of the repository, or set WERKRAUM_ROOT to it",
        )
    return found


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
