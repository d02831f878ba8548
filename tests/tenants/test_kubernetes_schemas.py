"""Every Kubernetes object the fixture tenants' stacks declare, validated against the real Kubernetes schemas.

(The samples in stacks/ get the same check in test_examples.py.)
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.fixtures import tenant_slugs
from werkraum.infra.offline import OfflinePlan
from werkraum.tenants.fleet import Fleet


@pytest.mark.parametrize("slug", tenant_slugs())
def test_kubernetes_objects_match_the_schema(slug: str, plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    objects = [r for r in plans[slug].resources if r.is_kubernetes]
    assert len(objects) > 15
    version = fleet.platform.kubernetes_version
    for obj in objects:
        kubernetes_validate.validate(obj.declared, version, strict=True)  # raises on the first error


def test_the_validator_catches_a_wrong_object(plans: dict[str, OfflinePlan], fleet: Fleet) -> None:
    quota = next(r.inputs for r in plans[tenant_slugs()[0]].resources if r.inputs.get("kind") == "ResourceQuota")
    broken = {**quota, "spec": {**quota["spec"], "hardd": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, fleet.platform.kubernetes_version, strict=True)
