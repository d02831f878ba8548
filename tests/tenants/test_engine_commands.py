"""`werkraum tenant apply/destroy`: their refusals and argument handling (the real runs need a Pulumi CLI)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pexpect

from tests.conftest import VENV_BIN, WERKRAUM, run_cli
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.tenants.engine import protected_resources


def no_pulumi_env() -> dict[str, str]:
    return {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin"}


def fake_pulumi(tmp_path: Path) -> dict[str, str]:
    """A `pulumi` on PATH that must never be reached by a refused command (it fails loudly if it is)."""
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\necho 'pulumi was called' >&2\nexit 99\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}


def test_apply_without_pulumi_cli_says_how_to_get_one() -> None:
    proc = run_cli("tenant", "apply", "mustermann", env=no_pulumi_env())
    assert proc.returncode == 3
    assert "no Pulumi CLI on PATH" in proc.stderr and "https://www.pulumi.com/docs/install/" in proc.stderr


def test_destroy_without_pulumi_cli() -> None:
    proc = run_cli("tenant", "destroy", "mustermann", "--yes", env=no_pulumi_env())
    assert proc.returncode == 3 and "no Pulumi CLI on PATH" in proc.stderr


def test_apply_refuses_an_invalid_tenant_before_anything(stacks: Path, tmp_path: Path) -> None:
    write_tenant(stacks, "broken", MINIMAL.replace("seats: 10", "seats: -1"))
    proc = run_cli("tenant", "apply", "broken", "--stacks", str(stacks), env=fake_pulumi(tmp_path))
    assert proc.returncode == 1
    assert "tenant broken is not valid" in proc.stderr and "pulumi was called" not in proc.stderr


def test_unknown_slug(tmp_path: Path) -> None:
    for command in ("apply", "destroy"):
        proc = run_cli("tenant", command, "nobody", env=fake_pulumi(tmp_path))
        assert proc.returncode == 1 and "no tenant 'nobody'" in proc.stderr


def test_destroy_without_terminal_needs_yes(tmp_path: Path) -> None:
    proc = run_cli("tenant", "destroy", "weber", env=fake_pulumi(tmp_path), stdin="")
    assert proc.returncode == 1
    assert "confirmation needed" in proc.stderr and "--yes" in proc.stderr
    assert "pulumi was called" not in proc.stderr


def test_destroy_on_a_terminal_needs_the_slug_typed_again(tmp_path: Path) -> None:
    child = pexpect.spawn(
        WERKRAUM,
        ["tenant", "destroy", "weber"],
        env={**os.environ, **fake_pulumi(tmp_path)},
        encoding="utf-8",
        timeout=30,
    )
    child.expect("Type the slug to confirm")
    child.sendline("webber")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "does not match 'weber': nothing was destroyed" in (child.before or "")


def test_protected_resources_are_found_in_the_state() -> None:
    state = {
        "deployment": {
            "resources": [
                {
                    "urn": "urn:pulumi:weber::werkraum-tenant::openstack:identity/project:Project::weber-project",
                    "protect": True,
                },
                {"urn": "urn:pulumi:weber::werkraum-tenant::openstack:networking/network:Network::weber-net"},
            ]
        }
    }
    assert protected_resources(state) == ["weber-project"]
    assert protected_resources({"deployment": {}}) == []
