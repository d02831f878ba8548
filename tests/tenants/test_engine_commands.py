"""`werkraum tenant apply/destroy/plan/offboard`: refusals and argument handling, through the one driver.

The real runs need a Pulumi CLI; here a `pulumi` that must never be reached, or the
STAND-IN of tests/fake_pulumi.py that logs what the driver asked it, takes its place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pexpect
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import VENV_BIN, WERKRAUM, run_cli
from tests.fake_pulumi import FakePulumi, install
from tests.fixtures import make_checkout, tenant_slugs
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.cli import main
from werkraum.infra import plan as plan_module


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


SLUG = tenant_slugs()[0]


def test_apply_refuses_a_policy_breaking_tenant_before_the_engine(
    stacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reached through the platform stack's outputs (no valid tenant file breaks a rule by itself,
    tests/tenants/test_driver.py): the platform stack says its management network is the world."""
    real = plan_module.mock_platform_outputs
    monkeypatch.setattr(
        plan_module, "mock_platform_outputs", lambda platform: {**real(platform), "management_cidr": "0.0.0.0/0"}
    )
    fake = install(tmp_path)
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["tenant", "apply", SLUG, "--stacks", str(stacks)])
    assert result.exit_code == 1, result.output
    assert (
        f"error: tenant {SLUG} refused by policy 'no-world-open-ingress' on "
        f"openstack:networking/secGroupRule:SecGroupRule {SLUG}-ingress-ssh-mgmt: ingress rule is open to the world"
    ) in result.stderr
    assert fake.calls() == []  # nothing was asked of the engine
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # and no Pulumi CLI is needed for the refusal
    again = CliRunner().invoke(main, ["tenant", "apply", SLUG, "--stacks", str(stacks)])
    assert again.exit_code == 1 and "refused by policy 'no-world-open-ingress'" in again.stderr


def _checkout_with_fake(tmp_path: Path, **scenario: object) -> tuple[Path, FakePulumi, dict[str, str]]:
    checkout = make_checkout(tmp_path / "checkout")
    fake = install(tmp_path, **scenario)
    return checkout, fake, {**fake.env(), "WERKRAUM_ROOT": str(checkout)}


def test_destroy_refuses_while_protected_resources_remain(tmp_path: Path) -> None:
    state = {
        "resources": [
            {"urn": f"urn:pulumi:{SLUG}::werkraum-tenant::openstack:identity/project:Project::{SLUG}-project",
             "protect": True},
            {"urn": f"urn:pulumi:{SLUG}::werkraum-tenant::kubernetes:core/v1:Namespace::{SLUG}-namespace",
             "protect": True},
        ]
    }  # fmt: skip
    _, fake, env = _checkout_with_fake(tmp_path, state=state)
    proc = run_cli("tenant", "destroy", SLUG, "--yes", env=env)
    assert proc.returncode == 1
    assert f"stack {SLUG} holds protected resources ({SLUG}-project, {SLUG}-namespace)" in proc.stderr
    assert "tenant:offboard: true" in proc.stderr
    assert "destroy" not in fake.commands()


def test_apply_prints_the_outputs_with_secrets_masked(tmp_path: Path) -> None:
    _, fake, env = _checkout_with_fake(tmp_path, outputs={"tenant": SLUG, "token": "s3cret"}, secrets=["token"])
    proc = run_cli("tenant", "apply", SLUG, env=env)
    assert proc.returncode == 0, proc.stderr
    assert '"tenant": "' + SLUG + '"' in proc.stdout and "s3cret" not in proc.stdout and "[secret]" in proc.stdout
    assert "up" in fake.commands()


def test_plan_previews_through_the_driver_when_a_cli_is_installed(tmp_path: Path) -> None:
    _, fake, env = _checkout_with_fake(tmp_path, preview={"text": "Previewing update\n+ 40 to create"})
    proc = run_cli("tenant", "plan", SLUG, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "+ 40 to create" in proc.stdout and "OFFLINE PLAN" not in proc.stdout
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert preview[-2:] == ["--stack", SLUG] and "--diff" in preview
    assert "cannot run the policy pack pulumi/policy" in proc.stderr  # said, not faked
    offline = run_cli("tenant", "plan", SLUG, "--offline", env=env)
    assert offline.returncode == 0 and f"OFFLINE PLAN of stack {SLUG} (--offline)" in offline.stdout


def test_offboard_command_refuses_an_unmarked_or_unknown_tenant(tmp_path: Path) -> None:
    _, fake, env = _checkout_with_fake(tmp_path)
    unmarked = run_cli("tenant", "offboard", SLUG, env=env)
    assert unmarked.returncode == 2 and "does not set 'tenant:offboard: true'" in unmarked.stderr
    unknown = run_cli("tenant", "offboard", "nobody", env=env)
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr
    assert fake.calls() == []


def test_offboard_command_writes_the_export(tmp_path: Path) -> None:
    checkout, fake, env = _checkout_with_fake(tmp_path, outputs={"tenant": SLUG})
    path = checkout / "stacks" / f"Pulumi.{SLUG}.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["tenant:offboard"] = True
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_cli("tenant", "offboard", SLUG, "--out", str(tmp_path / "export"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "destroy.txt", "outputs.json", "state.json", "unprotect.txt"
    ]  # fmt: skip
    assert fake.commands()[-1] == "stack rm"
