"""The OpenStack replay of the end-to-end run, without a cloud: ids flow, refusals are named.

The real API calls are exercised by `make e2e` against the lab's Keystone and
Neutron (docs/testing.md); here a recording stand-in for `Cloud` checks that the
programs' dependencies carry the ids the cloud gave back, that a refusal names the
resource and stops the program, and that deletion runs in reverse.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.harness.e2e.openstack import ApplyingMocks, Cloud, CloudRefusedError, Created, snake
from werkraum.infra.offline import run_offline
from werkraum.infra.programs import platform_program, tenant_program
from werkraum.tenants.fleet import load_fleet


class FakeCloud(Cloud):
    """Answers every call with a fresh id and remembers what was asked."""

    def __init__(self, refuse: str | None = None) -> None:
        super().__init__(conn=None)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []
        self.refuse = refuse
        self._ids = itertools.count(1)

    def appliers(self) -> dict[str, Any]:
        def make(kind: str) -> Any:
            def apply(inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
                if kind == self.refuse:
                    raise CloudRefusedError(f"POST /{kind}: 400 refused")
                self.calls.append((kind, inputs))
                return f"real-{kind}-{next(self._ids)}", {}

            return apply

        return {token: make(token.rsplit(":", 1)[-1]) for token in super().appliers()}

    def lookup(self, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return {**args, "id": f"real-{token.rsplit(':', 1)[-1]}-{args.get('name')}"}

    def delete(self, c: Created) -> None:
        self.deleted.append(c.name)


def _platform(cloud: FakeCloud) -> dict[str, Any]:
    config = load_fleet(ROOT / "stacks").platform.model_dump()
    plan = run_offline(
        platform_program,
        project="werkraum-platform",
        stack="rack",
        config={"platform:spec": config},
        outputs=lambda p: p.outputs,
        mocks=ApplyingMocks(cloud=cloud),
    )
    return plan.outputs


def _tenant(mocks: ApplyingMocks, slug: str, outputs: dict[str, Any]) -> ApplyingMocks:
    fleet = load_fleet(ROOT / "stacks")
    run_offline(
        lambda: tenant_program(stacks_dir=ROOT / "stacks", platform_spec=fleet.platform),
        project="werkraum-tenant",
        stack=slug,
        config=fleet.by_slug(slug).config,
        stack_outputs={**outputs, **fleet.platform.settings_outputs()},
        mocks=mocks,
    )
    return mocks


def test_snake_case() -> None:
    assert snake("perVolumeGigabytes") == "per_volume_gigabytes"
    assert snake("floatingip") == "floatingip"
    assert snake("remoteIpPrefix") == "remote_ip_prefix"


def test_platform_ids_flow_into_the_tenant() -> None:
    cloud = FakeCloud()
    outputs = _platform(cloud)
    assert outputs["external_network_id"].startswith("real-Network-")
    assert outputs["compute_service_id"] == "real-getService-nova"
    mocks = _tenant(ApplyingMocks(cloud=cloud), "mustermann", outputs)
    calls = {kind: inputs for kind, inputs in cloud.calls}
    project_id = next(c.id for c in mocks.created if c.type.endswith(":Project"))
    assert calls["Router"]["externalNetworkId"] == outputs["external_network_id"]
    assert calls["Subnet"]["tenantId"] == project_id
    assert calls["RoleAssignment"]["roleId"] == "real-getRole-member"
    assert calls["LimitV3"]["serviceId"] == "real-getService-nova"
    net_id = next(c.id for c in mocks.created if c.type.endswith(":Network"))
    assert calls["Subnet"]["networkId"] == net_id
    # Only OpenStack resources reach the cloud; the Kubernetes half is recorded as before.
    assert all(c.type.startswith("openstack:") for c in mocks.created)
    assert any(r.is_kubernetes for r in mocks.resources)
    # Dependencies come before dependents, so deleting in reverse is safe.
    order = [c.kind for c in mocks.created]
    assert order.index("Project") < order.index("Network") < order.index("Subnet") < order.index("RouterInterface")


def test_a_refusal_names_the_resource_and_stops() -> None:
    cloud = FakeCloud()
    outputs = _platform(cloud)
    mocks = ApplyingMocks(cloud=FakeCloud(refuse="Subnet"))
    # What the SDK raises is generic; the mocks keep the cloud's answer with the resource.
    with pytest.raises(Exception):  # noqa: B017
        _tenant(mocks, "mustermann", outputs)
    assert mocks.errors == [
        "openstack:networking/subnet:Subnet mustermann-subnet: CloudRefusedError: POST /Subnet: 400 refused"
    ]
    assert "Subnet" not in [c.kind for c in mocks.created]
