"""The OpenStack half of the end-to-end run: the programs' resources applied to a real OpenStack API.

No OpenStack provider plugin can be built here (docs/testing.md: the module proxy
refuses every pulumi-openstack and terraform-provider-openstack version), so
`pulumi up` cannot create OpenStack resources. What can be done for real is this:
run Werkraum's own platform and tenant programs under Pulumi's mock monitor and,
for every OpenStack resource they declare, make the API calls the provider would
make (terraform-provider-openstack's, as documented) against the lab's Keystone,
Neutron, Nova and Cinder APIs. Dependencies between resources are the program's own
(real ids flow from one resource into the next), so the APIs judge exactly the
values the programs ask for. Offboarding deletes what was created, in reverse.

This is a replay, not the provider: no state, no diff, no drift detection; those
checks stay BLOCKED in the report.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from werkraum.infra.offline import RecordingMocks, plain_numbers

Applied = tuple[str, dict[str, Any]]  # real id, extra state


def snake(name: str) -> str:
    """camelCase (how the mock monitor hands inputs over) to the APIs' snake_case."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass
class Created:
    type: str
    name: str
    id: str
    inputs: dict[str, Any]

    @property
    def kind(self) -> str:
        """The type's last part (``openstack:networking/router:Router`` -> ``Router``)."""
        return self.type.rsplit(":", 1)[-1]


@dataclass
class Cloud:
    """The API calls behind each OpenStack resource type the programs use, and their deletion."""

    conn: Any

    # --- identity -------------------------------------------------------------------------
    def project(self, i: dict[str, Any]) -> Applied:
        p = self.conn.identity.create_project(
            name=i["name"],
            description=i.get("description", ""),
            is_enabled=i.get("enabled", True),
            tags=i.get("tags", []),
            domain_id="default",
        )
        return p.id, {}

    def group(self, i: dict[str, Any]) -> Applied:
        g = self.conn.identity.create_group(name=i["name"], description=i.get("description", ""), domain_id="default")
        return g.id, {}

    def role_assignment(self, i: dict[str, Any]) -> Applied:
        self.conn.identity.assign_project_role_to_group(i["projectId"], i["groupId"], i["roleId"])
        return f"{i['projectId']}/{i['groupId']}/{i['roleId']}", {}

    def limit(self, i: dict[str, Any]) -> Applied:
        body = {
            "project_id": i["projectId"],
            "service_id": i["serviceId"],
            "resource_name": i["resourceName"],
            "resource_limit": i["resourceLimit"],
            "description": i.get("description", ""),
        }
        r = self._ok(self.conn.identity.post("/limits", json={"limits": [body]}))
        return r.json()["limits"][0]["id"], {}

    def registered_limit(self, i: dict[str, Any]) -> Applied:
        body = {
            "service_id": i["serviceId"],
            "resource_name": i["resourceName"],
            "default_limit": i["defaultLimit"],
            "description": i.get("description", ""),
        }
        r = self._ok(self.conn.identity.post("/registered_limits", json={"registered_limits": [body]}))
        return r.json()["registered_limits"][0]["id"], {}

    # --- networking -----------------------------------------------------------------------
    def network(self, i: dict[str, Any]) -> Applied:
        args: dict[str, Any] = {"name": i["name"], "admin_state_up": i.get("adminStateUp", True)}
        if "tenantId" in i:
            args["project_id"] = i["tenantId"]
        if "external" in i:
            args["is_router_external"] = i["external"]
        if "shared" in i:
            args["is_shared"] = i["shared"]
        segments = i.get("segments") or []
        if segments:
            args["segments"] = [
                {"provider:network_type": s.get("networkType"), "provider:physical_network": s.get("physicalNetwork")}
                for s in segments
            ]
        net = self.conn.network.create_network(**args)
        if i.get("tags"):
            self.conn.network.set_tags(net, i["tags"])
        return net.id, {}

    def subnet(self, i: dict[str, Any]) -> Applied:
        args = {snake(k): v for k, v in i.items() if k not in ("tags", "tenantId", "allocationPools")}
        if "tenantId" in i:
            args["project_id"] = i["tenantId"]
        args["is_dhcp_enabled"] = args.pop("enable_dhcp", True)
        args["allocation_pools"] = i.get("allocationPools", [])
        args.setdefault("ip_version", 4)  # the provider's default
        sub = self.conn.network.create_subnet(**args)
        if i.get("tags"):
            self.conn.network.set_tags(sub, i["tags"])
        return sub.id, {}

    def router(self, i: dict[str, Any]) -> Applied:
        router = self.conn.network.create_router(
            name=i["name"],
            project_id=i.get("tenantId"),
            admin_state_up=i.get("adminStateUp", True),
            external_gateway_info={"network_id": i["externalNetworkId"], "enable_snat": i.get("enableSnat", True)},
        )
        if i.get("tags"):
            self.conn.network.set_tags(router, i["tags"])
        return router.id, {}

    def router_interface(self, i: dict[str, Any]) -> Applied:
        out = self.conn.network.add_interface_to_router(i["routerId"], subnet_id=i["subnetId"])
        return out["port_id"], {}

    def security_group(self, i: dict[str, Any]) -> Applied:
        sg = self.conn.network.create_security_group(
            name=i["name"], description=i.get("description", ""), project_id=i.get("tenantId")
        )
        if i.get("deleteDefaultRules"):
            for rule in self.conn.network.security_group_rules(security_group_id=sg.id):
                self.conn.network.delete_security_group_rule(rule)
        if i.get("tags"):
            self.conn.network.set_tags(sg, i["tags"])
        return sg.id, {}

    def security_group_rule(self, i: dict[str, Any]) -> Applied:
        args = {snake(k): v for k, v in i.items() if k != "tenantId"}
        args["ether_type"] = args.pop("ethertype")
        if "tenantId" in i:
            args["project_id"] = i["tenantId"]
        return self.conn.network.create_security_group_rule(**args).id, {}

    def network_quota(self, i: dict[str, Any]) -> Applied:
        quota = {snake(k): v for k, v in i.items() if k not in ("projectId", "region")}
        self._ok(self.conn.network.put(f"/quotas/{i['projectId']}", json={"quota": quota}))
        return i["projectId"], {}

    # --- compute and block storage ----------------------------------------------------------
    def compute_quota(self, i: dict[str, Any]) -> Applied:
        quota = {snake(k): v for k, v in i.items() if k not in ("projectId", "region")}
        self._ok(self.conn.compute.put(f"/os-quota-sets/{i['projectId']}", json={"quota_set": quota}))
        return i["projectId"], {}

    def volume_quota(self, i: dict[str, Any]) -> Applied:
        quota = {snake(k): v for k, v in i.items() if k not in ("projectId", "region", "volumeTypeQuota")}
        for vtype, value in (i.get("volumeTypeQuota") or {}).items():
            quota[vtype] = value
        self._ok(self.conn.block_storage.put(f"/os-quota-sets/{i['projectId']}", json={"quota_set": quota}))
        return i["projectId"], {}

    def flavor(self, i: dict[str, Any]) -> Applied:
        body = {
            "name": i["name"],
            "vcpus": i["vcpus"],
            "ram": i["ram"],
            "disk": i.get("disk", 0),
            "os-flavor-access:is_public": i.get("isPublic", True),
        }
        r = self._ok(self.conn.compute.post("/flavors", json={"flavor": body}))
        flavor_id = r.json()["flavor"]["id"]
        if i.get("extraSpecs"):
            self._ok(
                self.conn.compute.post(f"/flavors/{flavor_id}/os-extra_specs", json={"extra_specs": i["extraSpecs"]})
            )
        return flavor_id, {}

    def flavor_access(self, i: dict[str, Any]) -> Applied:
        action = {"addTenantAccess": {"tenant": i["tenantId"]}}
        self._ok(self.conn.compute.post(f"/flavors/{i['flavorId']}/action", json=action))
        return f"{i['flavorId']}/{i['tenantId']}", {}

    # --- deletion ------------------------------------------------------------------------
    def delete(self, c: Created) -> None:
        """Undo one applied resource, as the provider's delete would."""
        n, i = self.conn, c.inputs
        deleters: dict[str, Callable[[], Any]] = {
            "Project": lambda: n.identity.delete_project(c.id),
            "GroupV3": lambda: n.identity.delete_group(c.id),
            "RoleAssignment": lambda: n.identity.unassign_project_role_from_group(
                i["projectId"], i["groupId"], i["roleId"]
            ),
            "LimitV3": lambda: self._ok(n.identity.delete(f"/limits/{c.id}")),
            "RegisteredLimitV3": lambda: self._ok(n.identity.delete(f"/registered_limits/{c.id}")),
            "Network": lambda: n.network.delete_network(c.id),
            "Subnet": lambda: n.network.delete_subnet(c.id),
            "Router": lambda: n.network.delete_router(c.id),
            "RouterInterface": lambda: n.network.remove_interface_from_router(i["routerId"], subnet_id=i["subnetId"]),
            "SecGroup": lambda: n.network.delete_security_group(c.id),
            "SecGroupRule": lambda: n.network.delete_security_group_rule(c.id),
            "QuotaV2": lambda: self._ok(n.network.delete(f"/quotas/{c.id}")),
            "QuotaSetV2": lambda: self._ok(n.compute.delete(f"/os-quota-sets/{c.id}")),
            "QuoteSetV3": lambda: self._ok(n.block_storage.delete(f"/os-quota-sets/{c.id}")),
            "Flavor": lambda: self._ok(n.compute.delete(f"/flavors/{c.id}")),
            "FlavorAccess": lambda: self._ok(
                n.compute.post(
                    f"/flavors/{i['flavorId']}/action", json={"removeTenantAccess": {"tenant": i["tenantId"]}}
                )
            ),
        }
        deleters[c.kind]()

    @staticmethod
    def _ok(response: Any) -> Any:
        if response.status_code >= 400:
            raise CloudRefusedError(
                f"{response.request.method} {response.url}: {response.status_code} {response.text[:400]}"
            )
        return response

    def appliers(self) -> dict[str, Callable[[dict[str, Any]], Applied]]:
        return {
            "openstack:identity/project:Project": self.project,
            "openstack:identity/groupV3:GroupV3": self.group,
            "openstack:identity/roleAssignment:RoleAssignment": self.role_assignment,
            "openstack:identity/limitV3:LimitV3": self.limit,
            "openstack:identity/registeredLimitV3:RegisteredLimitV3": self.registered_limit,
            "openstack:networking/network:Network": self.network,
            "openstack:networking/subnet:Subnet": self.subnet,
            "openstack:networking/router:Router": self.router,
            "openstack:networking/routerInterface:RouterInterface": self.router_interface,
            "openstack:networking/secGroup:SecGroup": self.security_group,
            "openstack:networking/secGroupRule:SecGroupRule": self.security_group_rule,
            "openstack:networking/quotaV2:QuotaV2": self.network_quota,
            "openstack:compute/quotaSetV2:QuotaSetV2": self.compute_quota,
            "openstack:blockstorage/quoteSetV3:QuoteSetV3": self.volume_quota,
            "openstack:compute/flavor:Flavor": self.flavor,
            "openstack:compute/flavorAccess:FlavorAccess": self.flavor_access,
        }

    # --- data sources -----------------------------------------------------------------------
    def lookup(self, token: str, args: dict[str, Any]) -> dict[str, Any] | None:
        if token == "openstack:identity/getRole:getRole":
            role = self.conn.identity.find_role(args["name"], ignore_missing=False)
            return {**args, "id": role.id, "name": role.name}
        if token == "openstack:identity/getService:getService":
            found = [
                s
                for s in self.conn.identity.services()
                if s.name == args.get("name") and (not args.get("type") or s.type == args["type"])
            ]
            if len(found) != 1:
                raise CloudRefusedError(f"service {args}: {len(found)} found in the catalog")
            return {**args, "id": found[0].id}
        return None


class CloudRefusedError(Exception):
    """The lab cloud refused a call: the message names the method, URL, status and body."""


@dataclass
class ApplyingMocks(RecordingMocks):
    """Mocks that create every OpenStack resource for real and record the rest (Kubernetes) as usual."""

    cloud: Cloud | None = None
    created: list[Created] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The SDK registers resources from a thread pool: one API call at a time keeps the order readable.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if not args.typ.startswith("openstack:") or self.cloud is None:
            return super().new_resource(args)
        inputs = dict(args.inputs)
        plain = _plain_inputs(inputs)
        applier = self.cloud.appliers().get(args.typ)
        with self.lock:
            try:
                if applier is None:
                    raise CloudRefusedError(f"no API call is known for {args.typ}")
                real_id, state = applier(plain)
            except Exception as exc:
                self.errors.append(f"{args.typ} {args.name}: {type(exc).__name__}: {exc}")
                raise
            self.created.append(Created(args.typ, args.name, real_id, plain))
        return real_id, {**inputs, **state}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if self.cloud is not None:
            found = self.cloud.lookup(args.token, dict(args.args))
            if found is not None:
                return found, []
        return super().call(args)


def _plain_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = plain_numbers(inputs)
    return plain
