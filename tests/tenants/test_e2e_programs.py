"""The end-to-end run's Kubernetes-only programs, composed in the harness from the product's components.

No OpenStack provider can be built here, so `make e2e` declares only the Kubernetes half
of each stack (tests/harness/e2e/stacks.py). Run offline, each must declare exactly the
Kubernetes resources of the product's program, with the same inputs, and nothing of
OpenStack; the product's programs keep declaring both halves.
"""

from __future__ import annotations

from typing import Any

from tests.harness.e2e.stacks import kubernetes_platform_program, kubernetes_tenant_program
from werkraum.infra.offline import OfflinePlan, run_offline
from werkraum.infra.plan import TENANT_PROJECT, mock_platform_outputs, offline_plan
from werkraum.infra.programs import platform_program
from werkraum.tenants.fleet import Fleet


def declared(plan: OfflinePlan) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.type, r.name): r.inputs for r in plan.resources if r.custom}


def test_the_tenant_program_of_the_run_is_the_products_kubernetes_half(fleet: Fleet) -> None:
    platform_outputs = fleet.platform.settings_outputs()  # what the run's platform stack exports
    for t in fleet.tenants:
        product = declared(offline_plan(t, fleet.platform, fleet.directory))
        harness = run_offline(
            lambda: kubernetes_tenant_program(fleet.directory),
            project=TENANT_PROJECT,
            stack=t.slug,
            config=t.config,
            stack_outputs=platform_outputs,
        )
        kubernetes = {key: inputs for key, inputs in product.items() if key[0].startswith("kubernetes:")}
        assert declared(harness) == kubernetes
        assert any(key[0].startswith("openstack:") for key in product)  # the product declares both halves
        protected = {r.name for r in harness.resources if r.protect}
        assert f"{t.slug}-namespace" in protected


def test_the_platform_program_of_the_run_is_the_products_kubernetes_half(fleet: Fleet) -> None:
    config = {"platform:spec": fleet.platform.model_dump()}
    product = run_offline(
        platform_program, project="werkraum-platform", stack="rack", config=config, outputs=lambda p: p.outputs
    )
    harness = run_offline(kubernetes_platform_program, project="werkraum-platform", stack="rack", config=config)
    kubernetes = {key: inputs for key, inputs in declared(product).items() if key[0].startswith("kubernetes:")}
    assert declared(harness) == kubernetes and kubernetes
    # Everything a tenant's Kubernetes half reads from the platform stack is among the product's outputs.
    assert set(mock_platform_outputs(fleet.platform)) <= set(product.outputs)
