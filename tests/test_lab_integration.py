"""The lab rack for real: podman systemd hosts converged by ansible/site.yml.

One lab of two hosts (a control node, the lab's time source, and a GPU node)
under its own name and subnet, so a user's running lab is never touched. The
steps depend on each other and run in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import have_podman, make_lab_inventory, podman, run_cli

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not have_podman(), reason="podman is not installed (make test installs it)"),
]

NAME = "werkraum-itest"
FOREIGN = "werkraum-itest-foreign"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("lab")
    inventory = make_lab_inventory(
        tmp / "inventory", NAME, "10.232.7", {"control-01": ("control", 31), "gpu-01": ("gpu", 11)}
    )
    env = {"XDG_STATE_HOME": str(tmp / "state")}
    run_cli("lab", "down", "-i", str(inventory), env=env)
    yield inventory, env
    run_cli("lab", "down", "-i", str(inventory), env=env)
    podman("rm", "-f", FOREIGN)


def _status(lab: tuple[Path, dict[str, str]]) -> tuple[int, dict[str, object]]:
    inventory, env = lab
    proc = run_cli("lab", "status", "--json", "-i", str(inventory), env=env)
    return proc.returncode, json.loads(proc.stdout)


def test_first_up_converges_every_host(lab: tuple[Path, dict[str, str]]) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "==> Starting 2 lab hosts" in proc.stderr  # progress is visible
    assert "2 hosts" in proc.stdout and "0 failed, 0 unreachable" in proc.stdout
    # The hosts really are systemd hosts converged by the common role.
    out = podman("exec", f"{NAME}-gpu-01", "systemctl", "is-active", "chrony", "ssh")
    assert out.stdout.split() == ["active", "active"]
    sources = podman("exec", f"{NAME}-gpu-01", "chronyc", "-n", "sources").stdout
    assert "10.232.7.31" in sources  # the GPU node follows the control node for time, through its firewall
    for host in ("gpu-01", "control-01"):
        state = podman("exec", f"{NAME}-{host}", "systemctl", "is-system-running").stdout.strip()
        assert state == "running", podman("exec", f"{NAME}-{host}", "systemctl", "--failed").stdout
    assert "policy drop" in podman("exec", f"{NAME}-gpu-01", "nft", "list", "chain", "inet", "werkraum", "input").stdout


def test_second_up_changes_nothing(lab: tuple[Path, dict[str, str]]) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "running" in proc.stderr  # hosts kept, not recreated
    assert ", 0 changed, 0 failed, 0 unreachable" in proc.stdout


def test_status_shows_hosts_addresses_and_last_converge(lab: tuple[Path, dict[str, str]]) -> None:
    code, report = _status(lab)
    assert code == 0
    hosts = {h["name"]: h for h in report["hosts"]}  # type: ignore[union-attr]
    assert hosts["gpu-01"]["address"] == "10.232.7.11"
    assert hosts["control-01"]["state"] == "running"
    last = report["last_converge"]
    assert isinstance(last, dict)
    assert sum(last["changed"].values()) == 0
    assert last["status"] == "successful"


def test_rack_job_through_ansible_runner_keeps_artifacts(lab: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    inventory, env = lab
    artifacts = tmp_path / "rack-artifacts"
    secret = "s3cr3t-netbox-token-value"
    proc = run_cli(
        "rack",
        "converge",
        "--check",
        "-i",
        str(inventory),
        "--artifacts",
        str(artifacts),
        env={**env, "NETBOX_TOKEN": secret},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    leaked = [p for p in artifacts.rglob("*") if p.is_file() and secret in p.read_text(errors="replace")]
    assert leaked == [], f"the environment's secrets reached the artifacts: {leaked}"
    assert "check: 2 hosts" in proc.stdout and ", 0 changed, 0 failed, 0 unreachable" in proc.stdout
    summary = json.loads((artifacts / "summary.json").read_text())
    assert summary["status"] == "successful" and set(summary["ok"]) == {"control-01", "gpu-01"}
    events = list((artifacts / "latest" / "job_events").glob("*.json"))
    assert len(events) > 20  # every task's events are kept
    assert (artifacts / "latest" / "stdout").read_text().count("PLAY RECAP") == 1


def test_unreachable_host_fails_the_converge_by_name(lab: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    inventory, env = lab
    podman("stop", "-t", "2", f"{NAME}-gpu-01")
    proc = run_cli("lab", "converge", "-i", str(inventory), env=env)
    assert proc.returncode == 1
    assert "did not converge: unreachable: gpu-01" in proc.stderr
    assert "Traceback" not in proc.stderr
    rack = run_cli("rack", "converge", "-i", str(inventory), "--artifacts", str(tmp_path / "a"), env=env)
    assert rack.returncode == 1 and "unreachable: gpu-01" in rack.stderr
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["unreachable"] == {"gpu-01": 1}
    code, report = _status(lab)
    assert code == 1  # status does not call a half-stopped lab healthy
    assert {h["name"]: h["state"] for h in report["hosts"]}["gpu-01"] == "stopped"  # type: ignore[union-attr,index]


def test_up_restarts_a_stopped_host(lab: tuple[Path, dict[str, str]]) -> None:
    inventory, env = lab
    proc = run_cli("lab", "up", "--no-converge", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gpu-01       10.232.7.11     started" in proc.stderr


def test_foreign_container_is_refused_and_left_alone(lab: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _inventory, env = lab
    image = run_cli("lab", "image").stdout.strip()
    podman("rm", "-f", FOREIGN)
    assert podman("run", "-d", "--name", FOREIGN, image, "sleep", "600").returncode == 0
    other = make_lab_inventory(tmp_path / "inv2", NAME, "10.232.7", {"foreign": ("service", 41)})
    proc = run_cli("lab", "up", "--no-converge", "-i", str(other), env=env)
    assert proc.returncode == 1
    assert f"host foreign: a container named {FOREIGN} exists but was not created by lab {NAME}" in proc.stderr


def test_host_that_stops_while_booting_is_named(lab: tuple[Path, dict[str, str]]) -> None:
    from werkraum.errors import WerkraumError
    from werkraum.lab.lab import wait_booted
    from werkraum.lab.rack import LabHost

    image = run_cli("lab", "image").stdout.strip()
    name = f"{NAME}-broken"
    podman("rm", "-f", name)
    assert podman("run", "--name", name, "--label", f"werkraum.lab={NAME}", image, "false").returncode != 0
    with pytest.raises(WerkraumError, match=r"host broken: container werkraum-itest-broken stopped while booting"):
        wait_booted(LabHost("broken", ("gpu",), "10.232.7.99", name), timeout_s=10)


def test_down_removes_what_it_created_and_nothing_else(lab: tuple[Path, dict[str, str]]) -> None:
    inventory, env = lab
    proc = run_cli("lab", "down", "-i", str(inventory), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "removed 3 containers, 1 networks" in proc.stdout  # two hosts and the broken one
    assert podman("ps", "-a", "-q", "--filter", f"label=werkraum.lab={NAME}").stdout.strip() == ""
    assert podman("network", "exists", f"{NAME}-net").returncode != 0
    assert podman("container", "exists", FOREIGN).returncode == 0  # not ours: untouched
    assert not (Path(env["XDG_STATE_HOME"]) / "werkraum" / "labs" / NAME).exists()
