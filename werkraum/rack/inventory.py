"""Rack inventory folders and which source in them a command reads.

A rack inventory is a folder (``inventories/office/``, ``inventories/lab/``) with
its settings in ``group_vars/`` (and ``host_vars/``) and one or both sources:

- ``hosts.yml``: the rack written down by hand. It bootstraps the rack (the
  service node that runs NetBox is converged from it) and is what
  ``werkraum netbox sync`` puts into NetBox;
- ``netbox.yml``: the same rack read back from NetBox (the netbox.netbox
  inventory plugin), what converges read once NetBox runs.

Ansible loads ``group_vars/`` beside whichever file it is given, so both
sources see the same settings. Given the folder itself, Ansible would read both
files at once; Werkraum's commands therefore pick one (``static`` or
``netbox``), and a person running ansible-playbook names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from werkraum.errors import WerkraumError

STATIC = "hosts.yml"
NETBOX = "netbox.yml"
Kind = Literal["static", "netbox", "any"]


def inventory_folder(path: Path) -> Path:
    """The rack inventory folder of ``path`` (a folder, or a source file inside one)."""
    return path if path.is_dir() else path.parent


def resolve_source(path: Path, kind: Kind = "any") -> Path:
    """The inventory source to read: ``path`` itself if it is a file, else the folder's source of ``kind``.

    ``any`` prefers NetBox's source where the folder has one (NetBox is the source
    of truth once it runs), else the static one.
    """
    path = path.resolve()
    if not path.exists():
        moved = path.name == NETBOX and path.parent.name == "inventories"
        raise WerkraumError(
            f"inventory {path} does not exist",
            hint="the NetBox source moved into each rack's folder, beside its group_vars: "
            "inventories/office/netbox.yml (or pass the folder, inventories/office)"
            if moved
            else None,
        )
    if path.is_file():
        if kind == "static" and path.name == NETBOX:
            raise WerkraumError(
                f"inventory {path} is NetBox's source; this command needs the rack written down ({STATIC})",
                hint=f"pass the folder {path.parent} or {path.parent / STATIC}",
            )
        return path
    static, netbox = path / STATIC, path / NETBOX
    if kind != "any":
        wanted, what = (static, "the rack written down by hand") if kind == "static" else (netbox, "the NetBox source")
        if wanted.is_file():
            return wanted
        hint = (
            f"write one like inventories/office/{STATIC}; {NETBOX} alone is read from NetBox"
            if kind == "static"
            else f"copy inventories/lab/{NETBOX} into {path} and set its `site` filter to the slug of "
            "werkraum_site (lower case, '-' for spaces)"
        )
        raise WerkraumError(f"inventory {path} has no {wanted.name} ({what})", hint=hint)
    if netbox.is_file():
        return netbox
    if static.is_file():
        return static
    # A folder of another layout (a plain Ansible inventory directory): Ansible reads it whole.
    return path


def validation_sources(inventory: Path) -> list[Path]:
    """The sources `rack validate` checks: a folder's hosts.yml offline, its netbox.yml too when NETBOX_API is set.

    A folder with only netbox.yml is read from NetBox; a folder of another layout, or
    one file, is read as Ansible would read it.
    """
    path = resolve_source(inventory)  # a path that does not exist stops here
    folder = inventory.resolve()
    if not folder.is_dir():
        return [path]
    sources = [folder / STATIC] if (folder / STATIC).is_file() else []
    if (folder / NETBOX).is_file() and (os.environ.get("NETBOX_API") or not sources):
        sources.append(folder / NETBOX)
    return sources or [path]
