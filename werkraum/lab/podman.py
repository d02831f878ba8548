"""A thin, typed wrapper around the podman command line, and the lab's systemd containers as services."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

from werkraum.errors import WerkraumError, require_tool
from werkraum.lifecycle import Check, NotReady, Service, ServiceError
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


def image_labels(ref: str) -> dict[str, str]:
    """The image's labels; empty when podman's store has no such image."""
    if not image_exists(ref):
        return {}
    labels: dict[str, str] = podman_json("image", "inspect", ref)[0].get("Labels") or {}
    return labels


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


def volume_exists(name: str) -> bool:
    return podman("volume", "exists", name, check=False).returncode == 0


def volumes_with_label(label: str, value: str) -> list[str]:
    out = podman("volume", "ls", "--filter", f"label={label}={value}", "--format", "{{.Name}}").stdout
    return [line for line in out.splitlines() if line.strip()]


def networks_with_label(label: str, value: str) -> list[str]:
    out = podman("network", "ls", "--filter", f"label={label}={value}", "--format", "{{.Name}}").stdout
    return [line for line in out.splitlines() if line.strip()]


class Container(Service):
    """A podman container with systemd as PID 1, run detached; healthy once systemd has booted and ``ready`` passes.

    ``degraded_ok``: a boot with failed units counts as booted (the units are kept
    in ``failed_units``); otherwise it is an error that names them.
    """

    def __init__(
        self,
        container: str,
        image: str = "",
        options: Sequence[str] = (),
        *,
        name: str | None = None,
        ready: Check | None = None,
        awaited: str = "systemd to finish booting",
        degraded_ok: bool = True,
        timeout: float = 90,
        interval: float = 0.5,
        hint: str | None = None,
    ) -> None:
        self.container = container
        self.image = image
        self.options = tuple(options)
        self.name = name or f"container {container}"
        self.ready = ready
        self.awaited = awaited
        self.degraded_ok = degraded_ok
        self.timeout = timeout
        self.interval = interval
        self.log = f"`podman logs {container}`"
        self.hint = hint or f"look inside with `podman exec -it {container} systemctl list-jobs`"
        self.state = "unknown"
        self.failed_units: list[str] = []

    def spawn(self) -> None:
        """Start the container if it exists (stopped), else run it from the image."""
        if container_exists(self.container):
            podman("start", self.container)
        else:
            podman("run", "--detach", "--name", self.container, *self.options, self.image)

    def running(self) -> bool:
        info = inspect_container(self.container) if container_exists(self.container) else {}
        return bool(info.get("State", {}).get("Running"))

    def exited(self) -> str | None:
        info = inspect_container(self.container) if container_exists(self.container) else {}
        state = info.get("State", {})
        if state.get("Running"):
            return None
        logs = podman("logs", "--tail", "10", self.container, check=False)
        return (
            f"container {self.container} stopped while booting (exit code {state.get('ExitCode')}); last output:\n    "
            + "\n    ".join((logs.stdout + logs.stderr).strip().splitlines()[-10:])
        )

    def healthy(self) -> bool:
        probe = podman("exec", self.container, "systemctl", "is-system-running", check=False)
        # No answer at all is podman's failure, not systemd's: say what podman said.
        said = (probe.stderr.strip().splitlines() or ["unknown"])[-1]
        self.state = probe.stdout.strip() or f"no answer ({said})"
        if self.state == "degraded":
            failed = podman("exec", self.container, "systemctl", "--failed", "--no-legend", "--plain", check=False)
            self.failed_units = [line for line in failed.stdout.splitlines() if line.strip()]
            if not self.degraded_ok:
                raise ServiceError(
                    f"{self.name} booted with failed units:\n    " + "\n    ".join(self.failed_units),
                    hint=f"look inside with `podman exec -it {self.container} journalctl -b`",
                )
        elif self.state != "running":
            raise NotReady(f"systemd state: {self.state}")
        return self.ready() if self.ready else True

    def stop(self) -> None:
        """Remove the container (its image stays)."""
        if container_exists(self.container):
            podman("rm", "-f", "-t", "5", self.container)
