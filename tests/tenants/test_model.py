"""The tenant file's model: a file's values and its plan's defaults; every broken file gets the file, the line,
the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.tenants.conftest import MINIMAL, MINIMAL_LOGO, write_tenant
from werkraum.tenants.fleet import Fleet
from werkraum.tenants.loader import load_tenant_file
from werkraum.tenants.plans import PLANS, WORKSPACE_PROFILES, plan_table_markdown

BRONZE = PLANS["bronze"]


def test_files_are_read_into_the_model(fleet: Fleet) -> None:
    """Name, plan and seats of each fixture file, as plain YAML has them, are what the model holds."""
    for tenant in fleet.tenants:
        raw = yaml.safe_load(tenant.path.read_text())["config"]["tenant:spec"]
        assert tenant.problems == [] and tenant.spec is not None, tenant.slug
        assert (tenant.spec.name, tenant.spec.plan, tenant.spec.seats) == (raw["name"], raw["plan"], raw["seats"])
        assert tenant.spec.plan_info is PLANS[raw["plan"]]
    assert len({t.spec.plan for t in fleet.tenants if t.spec}) > 1  # the fixtures cover several plans


def test_plan_defaults_fill_what_a_file_leaves_out(stacks: Path) -> None:
    spec = load_tenant_file(write_tenant(stacks, "minimal", MINIMAL)).spec
    assert spec is not None
    assert spec.effective_quotas() == BRONZE.defaults
    assert spec.effective_features() == list(BRONZE.features)


def test_quotas_in_a_file_override_only_those_defaults(fleet: Fleet) -> None:
    for tenant in fleet.tenants:
        assert tenant.spec is not None
        raw = yaml.safe_load(tenant.path.read_text())["config"]["tenant:spec"].get("quotas", {})
        assert tenant.spec.effective_quotas() == {**tenant.spec.plan_info.defaults, **raw}, tenant.slug


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
        ("10.100.40.0/24", "10.100.40.7/24", ":8: tenant:spec.network.cidr: '10.100.40.7/24' is not an IPv4 network"),
        ("10.100.40.0/24", "8.8.8.0/24", "tenant:spec.network.cidr: 8.8.8.0/24 is not a private range"),
        ('"#111111"', "red", ":12: tenant:spec.branding.primary_color: 'red' is not a colour as #RRGGBB"),
        ("ki.minimal.example", "KI_minimal", "tenant:spec.branding.domain: 'KI_minimal' is not a lower-case DNS name"),
        (MINIMAL_LOGO, "../../etc/logo.svg", "tenant:spec.branding.logo: must be a path relative to stacks/"),
        (MINIMAL_LOGO, "logos/none.svg", "tenant:spec.branding.logo: logos/none.svg does not exist under"),
        (
            "    seats: 10\n",
            f"    seats: {BRONZE.seats[1] + 1}\n",
            f":5: tenant:spec.seats: {BRONZE.seats[1] + 1} is outside the bronze plan's "
            f"{BRONZE.seats[0]}–{BRONZE.seats[1]} seats",
        ),
        (
            "    network:",
            f"    quotas: {{vcpus: {BRONZE.maximum['vcpus'] + 1}}}\n    network:",
            f"tenant:spec.quotas.vcpus: {BRONZE.maximum['vcpus'] + 1} is above the bronze plan's maximum of "
            f"{BRONZE.maximum['vcpus']} (allowed: 0–{BRONZE.maximum['vcpus']}, default {BRONZE.defaults['vcpus']})",
        ),
        (
            "    network:",
            "    features: [chat, meetings]\n    network:",
            f"tenant:spec.features[1]: 'meetings' is not in the bronze plan (allowed: {', '.join(BRONZE.features)})",
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
    quota = PLANS["silver"].defaults["gpus"]
    count = quota // WORKSPACE_PROFILES["notebook-gpu"][2] + 1  # one GPU workspace more than the quota holds
    body = MINIMAL.replace("plan: bronze", "plan: silver").replace("seats: 10", "seats: 20")
    body += "    workspaces:\n" + "".join(f"      - {{name: w{i}, profile: notebook-gpu}}\n" for i in range(count))
    problems = _problems(stacks, body)
    need = count * WORKSPACE_PROFILES["notebook-gpu"][2]
    expected = f"the workspaces need {need} gpus together, more than the quota of {quota}"
    assert any(expected in p for p in problems), problems


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
