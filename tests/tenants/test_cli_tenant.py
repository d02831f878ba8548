"""`werkraum tenant`: validate, new, allocate, plan, as a user runs them (real processes, exit codes)."""

from __future__ import annotations

import ipaddress
import itertools
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.fake_pulumi import install
from tests.fixtures import TENANTS, make_checkout, tenant_slugs
from tests.tenants.conftest import MINIMAL, write_tenant
from werkraum.tenants.fleet import Fleet


def test_validate_a_folder_of_valid_files() -> None:
    proc = run_cli("tenant", "validate", "--stacks", str(TENANTS))
    assert proc.returncode == 0, proc.stderr
    assert f"{len(tenant_slugs())} tenant file(s) valid" in proc.stdout


def test_validate_broken_file_exits_1_without_traceback(stacks: Path) -> None:
    write_tenant(stacks, "broken", MINIMAL.replace("plan: bronze", "plan: diamond").replace("seats: 10", "seats: x"))
    proc = run_cli("tenant", "validate", "--stacks", str(stacks))
    assert proc.returncode == 1
    assert "Pulumi.broken.yaml:4: tenant:spec.plan: 'diamond' is not allowed" in proc.stderr
    assert "Pulumi.broken.yaml:5: tenant:spec.seats: 'x' is not a whole number" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Naming one good tenant checks only that one.
    assert run_cli("tenant", "validate", tenant_slugs()[0], "--stacks", str(stacks)).returncode == 0


def test_validate_unknown_slug_and_empty_folder(tmp_path: Path) -> None:
    assert "no tenant 'nobody'" in run_cli("tenant", "validate", "nobody", "--stacks", str(TENANTS)).stderr
    (tmp_path / "empty").mkdir()
    proc = run_cli("tenant", "validate", "--stacks", str(tmp_path / "empty"))
    assert proc.returncode == 1
    assert "no tenant files" in proc.stderr


NEW = ["--name", "Acme GmbH", "--plan", "silver", "--seats", "50", "--contact-name", "Ada Acme"]
NEW += ["--contact-email", "ada@acme.example", "--domain", "ki.acme.example"]


def pool_prefixes(fleet: Fleet) -> list[str]:
    """The first two prefixes of the platform's tenant pool, which no fixture tenant and no reserved range uses."""
    pool = ipaddress.IPv4Network(fleet.platform.tenant_pool)
    first = list(itertools.islice(pool.subnets(new_prefix=fleet.platform.tenant_prefix_length), 2))
    used = [ipaddress.IPv4Network(t.spec.network.cidr) for t in fleet.tenants if t.spec and t.spec.network.cidr]
    used += [net for _, net in fleet.platform.reserved_networks()]
    assert not any(n.overlaps(u) for n in first for u in used)
    return [str(n) for n in first]


def test_new_writes_a_file_that_validates_and_plans(stacks: Path, fleet: Fleet) -> None:
    proc = run_cli("tenant", "new", "acme", *NEW, "--stacks", str(stacks))
    assert proc.returncode == 0, proc.stderr
    text = (stacks / "Pulumi.acme.yaml").read_text()
    assert f"cidr: {pool_prefixes(fleet)[0]}" in text  # the first free prefix of the pool
    assert (stacks / "logos" / "acme.svg").is_file()
    assert run_cli("tenant", "validate", "--stacks", str(stacks)).returncode == 0
    plan = run_cli("tenant", "plan", "acme", "--offline", "--stacks", str(stacks))
    assert plan.returncode == 0, plan.stderr
    assert "OFFLINE PLAN of stack acme" in plan.stdout
    assert "openstack:identity/project:Project" in plan.stdout


def test_new_with_options_and_second_allocation(stacks: Path, fleet: Fleet) -> None:
    args = [*NEW, "--quota", "gpus=1", "--workspace", "lab:notebook-gpu:a@acme.example,b@acme.example"]
    assert run_cli("tenant", "new", "acme", *args, "--stacks", str(stacks)).returncode == 0
    # Another tenant: its own domain and its own admin (a user belongs to one tenant).
    second = [*NEW[:-1], "ki.acme2.example", "--admins", "it@acme2.example"]
    assert run_cli("tenant", "new", "acme-two", *second, "--stacks", str(stacks)).returncode == 0
    assert f"cidr: {pool_prefixes(fleet)[1]}" in (stacks / "Pulumi.acme-two.yaml").read_text()
    assert "profile: notebook-gpu" in (stacks / "Pulumi.acme.yaml").read_text()


def test_new_refuses_and_leaves_nothing_behind(stacks: Path, fleet: Fleet) -> None:
    before = sorted(p.name for p in stacks.rglob("*"))
    spec = fleet.tenants[0].spec
    assert spec is not None
    taken = spec.branding.domain
    bad = [*NEW[:-1], taken]  # a domain that is taken
    proc = run_cli("tenant", "new", "acme", *bad, "--stacks", str(stacks))
    assert proc.returncode == 1
    assert f"{taken} is already used by" in proc.stderr
    assert sorted(p.name for p in stacks.rglob("*")) == before


def test_new_without_terminal_names_missing_flags(stacks: Path) -> None:
    proc = run_cli("tenant", "new", "acme", "--plan", "silver", "--stacks", str(stacks), stdin="")
    assert proc.returncode == 1
    assert "missing --name, --seats, --contact-name, --contact-email, --domain" in proc.stderr


def test_new_refuses_existing_and_bad_slug(stacks: Path) -> None:
    assert "already exists" in run_cli("tenant", "new", tenant_slugs()[0], *NEW, "--stacks", str(stacks)).stderr
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
    slug = tenant_slugs()[0]
    proc = run_cli("tenant", "plan", slug, "--json", "--stacks", str(TENANTS))
    data = json.loads(proc.stdout)
    assert data["kind"] == "offline-plan"
    assert data["outputs"]["namespace"] == f"tenant-{slug}"
    assert any(r["protect"] for r in data["resources"])


def test_plan_runs_pulumi_preview_when_a_cli_is_installed(tmp_path: Path) -> None:
    """With a `pulumi` on PATH (the STAND-IN of tests/fake_pulumi.py), `plan` previews the stack, not offline."""
    checkout = make_checkout(tmp_path / "checkout")
    fake = install(tmp_path, preview={"text": "fake preview output"})
    slug = tenant_slugs()[0]
    proc = run_cli("tenant", "plan", slug, env={**fake.env(), "WERKRAUM_ROOT": str(checkout)})
    assert proc.returncode == 0, proc.stderr
    assert "fake preview output" in proc.stdout and "OFFLINE PLAN" not in proc.stdout
    (preview,) = [c for c in fake.calls() if c[0] == "preview"]
    assert preview[-2:] == ["--stack", slug]
