"""The product's example tenants in stacks/: each one validates, plans offline and passes the policy pack.

The only test that reads stacks/. It asserts no value of any sample, so the samples
can be edited, added or removed freely; the other unit tests use tests/fixtures/tenants.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.conftest import ROOT
from werkraum.infra.plan import offline_plan
from werkraum.infra.policies import Res, check_all
from werkraum.tenants.fleet import load_fleet, tenant_paths
from werkraum.tenants.loader import slug_of

EXAMPLES = ROOT / "stacks"


def test_there_are_examples() -> None:
    assert tenant_paths(EXAMPLES), f"no Pulumi.<slug>.yaml in {EXAMPLES}"


@pytest.mark.parametrize("path", tenant_paths(EXAMPLES), ids=slug_of)
def test_example_validates_plans_and_passes_the_pack(path: Path) -> None:
    fleet = load_fleet(EXAMPLES)
    assert [str(p) for p in fleet.problems] == []  # cross-tenant checks: slugs, domains, networks
    tenant = fleet.by_slug(slug_of(path))
    assert [str(p) for p in tenant.problems] == []
    assert tenant.spec is not None
    plan = offline_plan(tenant, fleet.platform, EXAMPLES)
    assert plan.outputs["tenant"] == tenant.slug
    assert (
        check_all([Res(r.type, r.name, r.inputs) for r in plan.resources if r.custom], fleet.platform.image_registry)
        == []
    )
    for r in plan.resources:
        if r.is_kubernetes:
            kubernetes_validate.validate(r.declared, fleet.platform.kubernetes_version, strict=True)
