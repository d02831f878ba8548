"""The tenant file's model: every broken file gets the file, the line, the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tenants.conftest import MINIMAL, SAMPLES, write_tenant
from werkraum.tenants.loader import load_tenant_file
from werkraum.tenants.plans import PLANS, plan_table_markdown


@pytest.mark.parametrize("slug", SAMPLES)
def test_samples_are_valid(slug: str) -> None:
    tenant = load_tenant_file(ROOT / "stacks" / f"Pulumi.{slug}.yaml")
    assert tenant.problems == []
    assert tenant.spec is not None


def test_sample_plans_and_seats(fleet) -> None:  # type: ignore[no-untyped-def]
    got = {t.slug: (t.spec.name, t.spec.plan, t.spec.seats) for t in fleet.tenants}
    assert got == {
        "mustermann": ("Mustermann GmbH", "gold", 500),
        "schmidt": ("Schmidt AG", "silver", 200),
        "weber": ("Weber & Co", "platinum", 1000),
    }


def test_plan_defaults_fill_what_a_file_leaves_out(stacks: Path) -> None:
    spec = load_tenant_file(write_tenant(stacks, "minimal", MINIMAL)).spec
    assert spec is not None
    assert spec.effective_quotas() == PLANS["bronze"].defaults
    assert spec.effective_features() == ["chat", "files"]


def _problems(stacks: Path, body: str, slug: str = "broken") -> list[str]:
    return [str(p) for p in load_tenant_file(write_tenant(stacks, slug, body)).problems]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    plan: bronze\n",
            "    plan: diamond\n",
            ":4: tenant:spec.plan: 'diamond' is not allowed (allowed: 'bronze', 'silver'",
        ),
        ("    seats: 10\n", "    seats: ten\n", ":5: tenant:spec.seats: 'ten' is not a whole number"),
        ("    seats: 10\n", "    seats: 10\n    colour: red\n", ":6: tenant:spec.colour: unknown field"),
        ("mia@minimal.example", "mia-at-minimal", ":6: tenant:spec.contact.email: 'mia-at-minimal' is not an e-mail"),
        ("10.100.40.0/24", "10.100.40.7/24", ":7: tenant:spec.network.cidr: '10.100.40.7/24' is not an IPv4 network"),
        ("10.100.40.0/24", "8.8.8.0/24", "tenant:spec.network.cidr: 8.8.8.0/24 is not a private range"),
        ('"#111111"', "red", ":11: tenant:spec.branding.primary_color: 'red' is not a colour as #RRGGBB"),
        ("ki.minimal.example", "KI_minimal", "tenant:spec.branding.domain: 'KI_minimal' is not a lower-case DNS name"),
        ("logos/mustermann.svg", "../../etc/logo.svg", "tenant:spec.branding.logo: must be a path relative to stacks/"),
        ("logos/mustermann.svg", "logos/none.svg", "tenant:spec.branding.logo: logos/none.svg does not exist under"),
        ("    seats: 10\n", "    seats: 500\n", ":5: tenant:spec.seats: 500 is outside the bronze plan's 1–50 seats"),
        (
            "    network:",
            "    quotas: {vcpus: 99}\n    network:",
            "tenant:spec.quotas.vcpus: 99 is above the bronze plan's maximum of 16 (allowed: 0–16, default 8)",
        ),
        (
            "    network:",
            "    features: [chat, meetings]\n    network:",
            "tenant:spec.features[1]: 'meetings' is not in the bronze plan (allowed: chat, files)",
        ),
        (
            "    network:",
            "    workspaces: [{name: gpu, profile: notebook-gpu}]\n    network:",
            "tenant:spec.workspaces[0].profile: 'notebook-gpu' needs GPUs; the bronze plan has none",
        ),
        ("    name: Minimal KG\n", "", ":2: tenant:spec.name: required field is missing"),
    ],
)
def test_broken_fields_are_located_and_explained(stacks: Path, old: str, new: str, expected: str) -> None:
    assert old in MINIMAL
    problems = _problems(stacks, MINIMAL.replace(old, new, 1))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(stacks / "Pulumi.broken.yaml")) for p in problems)


def test_workspaces_must_fit_the_quota(stacks: Path) -> None:
    body = MINIMAL.replace("plan: bronze", "plan: silver").replace("seats: 10", "seats: 20")
    body += "    workspaces:\n" + "".join(f"      - {{name: w{i}, profile: notebook-gpu}}\n" for i in range(2))
    problems = _problems(stacks, body)
    assert any("the workspaces need 2 gpus together, more than the quota of 1" in p for p in problems), problems


def test_duplicate_workspace_names(stacks: Path) -> None:
    body = MINIMAL + "    workspaces:\n      - {name: a, profile: analytics}\n      - {name: a, profile: analytics}\n"
    assert any("workspaces[1].name: 'a' is used by another workspace" in p for p in _problems(stacks, body))


def test_yaml_syntax_error_names_the_line(stacks: Path) -> None:
    problems = _problems(stacks, MINIMAL.replace("    seats: 10\n", "    seats: [10\n"))
    assert len(problems) == 1
    assert "not valid YAML" in problems[0] and "Pulumi.broken.yaml:" in problems[0]


def test_unknown_config_keys_and_bad_file_names(stacks: Path) -> None:
    problems = _problems(stacks, MINIMAL + "  tenant:colour: red\n  aws:region: eu-central-1\n")
    assert any("tenant:colour: unknown config key" in p for p in problems)
    assert any("aws:region: unknown config key" in p for p in problems)
    bad_name = _problems(stacks, MINIMAL, slug="Bad_Slug")
    assert any("the file name must be Pulumi.<slug>.yaml" in p for p in bad_name)


def test_missing_spec_and_non_mapping_files(stacks: Path) -> None:
    assert any("tenant:spec: required" in p for p in _problems(stacks, "config:\n  openstack:cloud: rack\n"))
    assert any("top-level `config:` mapping" in p for p in _problems(stacks, "- just a list\n"))


def test_docs_show_the_plan_table_written_in_code() -> None:
    assert plan_table_markdown() in (ROOT / "docs" / "tenants.md").read_text()
