"""`werkraum tenant`: validate, new, allocate, plan, as a user runs them (real processes, exit codes)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from tests.conftest import run_cli
from tests.tenants.conftest import MINIMAL, write_tenant


def test_validate_all_samples() -> None:
    proc = run_cli("tenant", "validate")
    assert proc.returncode == 0, proc.stderr
    assert "3 tenant file(s) valid" in proc.stdout


def test_validate_broken_file_exits_1_without_traceback(stacks: Path) -> None:
    write_tenant(stacks, "broken", MINIMAL.replace("plan: bronze", "plan: diamond").replace("seats: 10", "seats: x"))
    proc = run_cli("tenant", "validate", "--stacks", str(stacks))
    assert proc.returncode == 1
    assert "Pulumi.broken.yaml:4: tenant:spec.plan: 'diamond' is not allowed" in proc.stderr
    assert "Pulumi.broken.yaml:5: tenant:spec.seats: 'x' is not a whole number" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Naming one good tenant checks only that one.
    assert run_cli("tenant", "validate", "schmidt", "--stacks", str(stacks)).returncode == 0


def test_validate_unknown_slug_and_empty_folder(tmp_path: Path) -> None:
    assert "no tenant 'nobody'" in run_cli("tenant", "validate", "nobody").stderr
    (tmp_path / "empty").mkdir()
    proc = run_cli("tenant", "validate", "--stacks", str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "no tenant files" in proc.stderr


NEW = ["--name", "Acme GmbH", "--plan", "silver", "--seats", "50", "--contact-name", "Ada Acme"]
NEW += ["--contact-email", "ada@acme.example", "--domain", "ki.acme.example"]


def test_new_writes_a_file_that_validates_and_plans(stacks: Path) -> None:
    proc = run_cli("tenant", "new", "acme", *NEW, "--stacks", str(stacks))
    assert proc.returncode == 0, proc.stderr
    text = (stacks / "Pulumi.acme.yaml").read_text()
    assert "cidr: 10.100.0.0/24" in text  # the first free prefix of the pool
    assert (stacks / "logos" / "acme.svg").is_file()
    assert run_cli("tenant", "validate", "--stacks", str(stacks)).returncode == 0
    plan = run_cli("tenant", "plan", "acme", "--offline", "--stacks", str(stacks))
    assert plan.returncode == 0, plan.stderr
    assert "OFFLINE PLAN of stack acme" in plan.stdout
    assert "openstack:identity/project:Project" in plan.stdout


def test_new_with_options_and_second_allocation(stacks: Path) -> None:
    args = [*NEW, "--quota", "gpus=1", "--workspace", "lab:notebook-gpu:a@acme.example,b@acme.example"]
    assert run_cli("tenant", "new", "acme", *args, "--stacks", str(stacks)).returncode == 0
    second = [*NEW[:-1], "ki.acme2.example"]
    assert run_cli("tenant", "new", "acme-two", *second, "--stacks", str(stacks)).returncode == 0
    assert "cidr: 10.100.1.0/24" in (stacks / "Pulumi.acme-two.yaml").read_text()
    assert "profile: notebook-gpu" in (stacks / "Pulumi.acme.yaml").read_text()


def test_new_refuses_and_leaves_nothing_behind(stacks: Path) -> None:
    before = sorted(p.name for p in stacks.rglob("*"))
    bad = [*NEW[:-1], "ki.mustermann.example"]  # a domain that is taken
    proc = run_cli("tenant", "new", "acme", *bad, "--stacks", str(stacks))
    assert proc.returncode == 1
    assert "ki.mustermann.example is already used by" in proc.stderr
    assert sorted(p.name for p in stacks.rglob("*")) == before


def test_new_without_terminal_names_missing_flags(stacks: Path) -> None:
    proc = run_cli("tenant", "new", "acme", "--plan", "silver", "--stacks", str(stacks), stdin="")
    assert proc.returncode == 1
    assert "missing --name, --seats, --contact-name, --contact-email, --domain" in proc.stderr


def test_new_refuses_existing_and_bad_slug(stacks: Path) -> None:
    assert "already exists" in run_cli("tenant", "new", "weber", *NEW, "--stacks", str(stacks)).stderr
    assert "slug 'Acme!' is not valid" in run_cli("tenant", "new", "Acme!", *NEW, "--stacks", str(stacks)).stderr


def test_allocate_writes_back_and_keeps_comments(stacks: Path) -> None:
    body = "# keep this comment\n" + MINIMAL.replace("    network: {cidr: 10.100.40.0/24}\n", "")
    path = write_tenant(stacks, "minimal", body)
    proc = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks))
    assert proc.returncode == 0, proc.stderr
    assert "10.100.0.0/24 allocated" in proc.stdout
    text = path.read_text()
    assert text.startswith("# keep this comment\n") and "cidr: 10.100.0.0/24" in text
    again = run_cli("tenant", "allocate", "minimal", "--stacks", str(stacks))
    assert "(already in its file" in again.stdout
    assert path.read_text() == text


def test_plan_refuses_an_invalid_tenant(stacks: Path) -> None:
    write_tenant(stacks, "broken", MINIMAL.replace("plan: bronze", "plan: diamond"))
    proc = run_cli("tenant", "plan", "broken", "--stacks", str(stacks))
    assert proc.returncode == 1
    assert "tenant broken is not valid, so it is not planned" in proc.stderr


def test_plan_json_is_labelled_offline() -> None:
    proc = run_cli("tenant", "plan", "schmidt", "--json")
    data = json.loads(proc.stdout)
    assert data["kind"] == "offline-plan"
    assert data["outputs"]["namespace"] == "tenant-schmidt"
    assert any(r["protect"] for r in data["resources"])


def test_plan_runs_pulumi_preview_when_a_cli_is_installed(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = run_cli("tenant", "plan", "weber", env=env)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["preview", "--stack", "weber"]
    assert args[4].endswith("pulumi/tenant")
