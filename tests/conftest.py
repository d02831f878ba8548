"""Shared fixtures: a copy of the lab inventory under another lab name, so tests never touch a user's lab."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WERKRAUM = str(VENV_BIN / "werkraum")
CONTAINERS_CONF = str(ROOT / "werkraum" / "data" / "containers.conf")


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF, **(env or {})}
    return subprocess.run([WERKRAUM, *args], capture_output=True, text=True, env=full_env, input=stdin, check=False)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF},
        check=False,
    )


def make_lab_inventory(dest: Path, name: str, subnet_prefix: str, hosts: dict[str, tuple[str, int]]) -> Path:
    """Copy inventories/lab to ``dest`` with its own lab name, subnet and hosts {name: (group, last octet)}."""
    shutil.copytree(ROOT / "inventories" / "lab", dest)
    lab_vars = dest / "group_vars" / "all" / "lab.yml"
    data = yaml.safe_load(lab_vars.read_text())
    data["werkraum_lab_name"] = name
    data["werkraum_lab_subnet"] = f"{subnet_prefix}.0/24"
    lab_vars.write_text(yaml.safe_dump(data))
    children: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for host, (group, octet) in hosts.items():
        children.setdefault(group, {"hosts": {}})["hosts"][host] = {"werkraum_mgmt_address": f"{subnet_prefix}.{octet}"}
    (dest / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    return dest


@pytest.fixture
def state_home(tmp_path: Path) -> Iterator[Path]:
    """Keep lab state of tests out of the user's ~/.local/state."""
    path = tmp_path / "state"
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


def have_podman() -> bool:
    return shutil.which("podman") is not None
