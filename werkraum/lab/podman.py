"""A thin, typed wrapper around the podman command line."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from werkraum.errors import WerkraumError, require_tool
from werkraum.paths import podman_env

LABEL_LAB = "werkraum.lab"


class PodmanError(WerkraumError):
    pass


def require_podman() -> str:
    return require_tool(
        "podman",
        "the lab rack runs its hosts in podman containers",
        hint="run `make lab` (it installs podman and runc from Debian's packages) or `apt-get install podman runc`",
    )


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [require_podman(), *args]
    proc = subprocess.run(cmd, env=podman_env(), text=True, capture_output=capture, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise PodmanError(
            f"`podman {' '.join(args[:3])}` failed (exit {proc.returncode}): " + (detail[-1] if detail else "no output")
        )
    return proc


def podman_json(*args: str) -> Any:
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def container_exists(name: str) -> bool:
    return podman("container", "exists", name, check=False).returncode == 0


def network_exists(name: str) -> bool:
    return podman("network", "exists", name, check=False).returncode == 0


def inspect_container(name: str) -> dict[str, Any]:
    data = podman_json("container", "inspect", name)
    return data[0] if data else {}


def inspect_network(name: str) -> dict[str, Any]:
    data = podman_json("network", "inspect", name)
    return data[0] if data else {}


def containers_with_label(label: str, value: str) -> list[dict[str, Any]]:
    return list(podman_json("ps", "-a", "--filter", f"label={label}={value}", "--format", "json"))


def networks_with_label(label: str, value: str) -> list[str]:
    out = podman("network", "ls", "--filter", f"label={label}={value}", "--format", "{{.Name}}").stdout
    return [line for line in out.splitlines() if line.strip()]
