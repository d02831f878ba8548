"""Reading Ansible inventories through `ansible-inventory`, so every format Ansible accepts works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.paths import repo_root


def venv_bin(tool: str) -> str:
    """A tool from the virtualenv the CLI runs in, else from PATH."""
    candidate = Path(sys.executable).parent / tool
    if candidate.exists():
        return str(candidate)
    found = shutil.which(tool)
    if not found:
        raise MissingToolError(
            f"{tool} is not installed",
            hint="run `make bootstrap` (it installs Ansible into .venv/) and use .venv/bin/werkraum",
        )
    return found


def tool_env() -> dict[str, str]:
    """Environment for Ansible tools: the venv's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Werkraum's settings, among them: an inventory source that fails to parse is an error.
    env.setdefault("ANSIBLE_CONFIG", str(repo_root() / "ansible" / "ansible.cfg"))
    return env


def _plain(obj: dict[str, Any]) -> Any:
    """Values from inventory plugins come marked unsafe (not to be templated): keep the value."""
    return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj


def load_inventory(source: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`ansible-inventory --list` of ``source``; an empty or unreadable inventory is an error."""
    if not source.exists():
        raise WerkraumError(f"inventory {source} does not exist")
    proc = subprocess.run(
        [venv_bin("ansible-inventory"), "-i", str(source), "--list"],
        capture_output=True,
        text=True,
        env=env or tool_env(),
        check=False,
    )
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    if proc.returncode != 0:
        raise WerkraumError(
            f"inventory {source} could not be read: " + " ".join(warnings or proc.stderr.splitlines()[-3:]),
        )
    data: dict[str, Any] = json.loads(proc.stdout or "{}", object_hook=_plain)
    hosts = data.get("_meta", {}).get("hostvars", {})
    if not hosts:
        raise WerkraumError(
            f"inventory {source} holds no hosts" + (f" ({' '.join(warnings)})" if warnings else ""),
            hint="an empty inventory usually means a plugin failed quietly; run "
            f"`ansible-inventory -i {source} --list -vvv` to see why",
        )
    return data


def groups_of(data: dict[str, Any]) -> dict[str, list[str]]:
    """Host name -> the groups it belongs to (all and ungrouped left out)."""
    result: dict[str, list[str]] = {h: [] for h in data.get("_meta", {}).get("hostvars", {})}

    def walk(group: str) -> list[str]:
        node = data.get(group, {})
        members = list(node.get("hosts", []))
        for child in node.get("children", []):
            child_members = walk(child)
            for host in child_members:
                if child not in ("all", "ungrouped") and child not in result.setdefault(host, []):
                    result[host].append(child)
            members.extend(child_members)
        return members

    for host in walk("all"):
        result.setdefault(host, [])
    return result
