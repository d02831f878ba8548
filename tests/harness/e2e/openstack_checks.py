"""Checks of the OpenStack half, read back from the lab cloud with openstacksdk.

The resources were created by the programs through ``ApplyingMocks`` (see
``tests.harness.e2e.openstack``); every value checked here is read from Keystone,
Neutron, Nova or Cinder and compared with the tenant's file and the platform
settings, not with what the program declared.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.harness.e2e.openstack import ApplyingMocks, Cloud, Created
from tests.harness.e2e.stacks import PLATFORM_PROJECT, PLATFORM_STACK, TENANT_PROJECT, RackSettings
from werkraum.infra import naming
from werkraum.infra.offline import OfflinePlan, run_offline
from werkraum.infra.programs import platform_program, tenant_program
from werkraum.infra.quotas import compute_quota, network_quota, volume_quota
from werkraum.tenants.loader import load_tenant_file, stack_file
from werkraum.tenants.model import TenantSpec

# Fields of each quota API that the programs set and the APIs report back as plain numbers.
COMPUTE_FIELDS = ("cores", "ram", "instances", "key_pairs", "metadata_items", "server_groups", "server_group_members")
NETWORK_FIELDS = ("floatingip", "network", "subnet", "router", "port", "security_group", "security_group_rule")
VOLUME_FIELDS = ("gigabytes", "volumes", "snapshots", "per_volume_gigabytes", "backups", "backup_gigabytes", "groups")


class OpenStackE2E:
    """Apply the platform and each tenant to the lab cloud, check them, offboard one."""

    def __init__(
        self, ws: RackSettings, stacks_dir: Path, *, conn: Any, system: Any, check: Callable[[str, bool, str], bool]
    ) -> None:
        """``conn`` is the stacks' connection (project-scoped admin); ``system`` a system-scoped one."""
        self.ws = ws
        self.stacks_dir = stacks_dir
        self.conn = conn
        self.system = system
        self.cloud = Cloud(conn)
        self.check = check
        self.platform_outputs: dict[str, Any] = {}
        self.applied: dict[str, list[Created]] = {}
        self.figures: dict[str, float] = {}

    def _apply(self, key: str, program: Callable[[], Any], **kwargs: Any) -> tuple[OfflinePlan | None, ApplyingMocks]:
        mocks = ApplyingMocks(cloud=self.cloud)
        started = time.monotonic()
        plan = None
        try:
            plan = run_offline(program, mocks=mocks, **kwargs)
        except Exception as exc:
            if not mocks.errors:
                mocks.errors.append(f"the program failed: {type(exc).__name__}: {exc}")
        self.applied[key] = mocks.created
        figure = "openstack_apply_platform_s" if key == PLATFORM_STACK else "openstack_apply_tenant_s"
        self.figures.setdefault(figure, round(time.monotonic() - started, 1))
        return plan, mocks

    def _applied_check(self, label: str, mocks: ApplyingMocks) -> bool:
        kinds = dict(Counter(c.kind for c in mocks.created))
        return self.check(
            f"{label}: the program's OpenStack resources accepted by the APIs",
            not mocks.errors,
            "; ".join(mocks.errors)[:600] if mocks.errors else f"{len(mocks.created)} created: {kinds}",
        )

    # --- platform -------------------------------------------------------------------------
    def platform(self) -> bool:
        config = yaml.safe_load((self.ws.platform_dir / f"Pulumi.{PLATFORM_STACK}.yaml").read_text())["config"]
        plan, mocks = self._apply(
            PLATFORM_STACK,
            platform_program,
            project=PLATFORM_PROJECT,
            stack=PLATFORM_STACK,
            config=config,
            outputs=lambda p: p.outputs,
        )
        if not self._applied_check("openstack platform", mocks) or plan is None:
            return False
        self.platform_outputs = plan.outputs
        spec = self.ws.platform_spec
        ext = spec.external_network
        net = self.conn.network.find_network(ext.name)
        self.check(
            f"openstack platform: external network {ext.name}",
            net is not None
            and net.is_router_external
            and net.provider_network_type == "flat"
            and net.provider_physical_network == ext.physical_network,
            f"external={getattr(net, 'is_router_external', None)} type={getattr(net, 'provider_network_type', None)} "
            f"physnet={getattr(net, 'provider_physical_network', None)}",
        )
        subnets = list(self.conn.network.subnets(network_id=net.id)) if net else []
        pools = [(p["start"], p["end"]) for s in subnets for p in s.allocation_pools]
        self.check(
            f"openstack platform: external subnet {ext.cidr}",
            [s.cidr for s in subnets] == [ext.cidr] and pools == [(ext.pool_start, ext.pool_end)],
            f"cidrs={[s.cidr for s in subnets]} pools={pools}",
        )
        for f in spec.flavors:
            flavor = self._flavor(self.platform_outputs.get("flavor_ids", {}).get(f.name))
            want_specs = {f"resources:{spec.gpu_resource_class}": str(f.gpus)} if f.gpus else {}
            got = None if flavor is None else (flavor["vcpus"], flavor["ram"], flavor["disk"], flavor["public"])
            self.check(
                f"openstack platform: flavor {f.name}",
                got == (f.vcpus, f.ram_gib * 1024, f.disk_gib, f.gpus == 0)
                and flavor is not None
                and flavor["extra_specs"] == want_specs,
                f"vcpus, ram MiB, disk, public = {got}; extra_specs={flavor and flavor['extra_specs']}",
            )
        return True

    def _flavor(self, flavor_id: str | None) -> dict[str, Any] | None:
        if not flavor_id:
            return None
        r = self.conn.compute.get(f"/flavors/{flavor_id}")
        if r.status_code != 200:
            return None
        flavor = r.json()["flavor"]
        specs = self.conn.compute.get(f"/flavors/{flavor_id}/os-extra_specs").json().get("extra_specs", {})
        return {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "public": flavor["os-flavor-access:is_public"],
            "extra_specs": specs,
        }

    # --- tenants --------------------------------------------------------------------------
    def tenant(self, slug: str) -> None:
        stacks_dir, platform_spec = self.stacks_dir, self.ws.platform_spec
        tf = load_tenant_file(stack_file(stacks_dir, slug), stacks_dir=stacks_dir)
        _, mocks = self._apply(
            slug,
            lambda: tenant_program(stacks_dir=stacks_dir, platform_spec=platform_spec),
            project=TENANT_PROJECT,
            stack=slug,
            config=tf.config,
            stack_outputs={**self.platform_outputs, **platform_spec.settings_outputs()},
        )
        if self._applied_check(f"{slug} openstack", mocks) and tf.spec is not None:
            self.check_tenant(slug, tf.spec)

    def check_tenant(self, slug: str, spec: TenantSpec) -> None:
        c, n = self.check, self.conn
        project = n.identity.find_project(naming.project(slug))
        c(
            f"{slug} openstack: project {naming.project(slug)}",
            project is not None
            and project.is_enabled
            and f"werkraum-tenant={slug}" in project.tags
            and f"werkraum-plan={spec.plan}" in project.tags,
            f"tags={getattr(project, 'tags', None)}",
        )
        if project is None:
            return
        group = n.identity.find_group(naming.admin_group(slug))
        roles = [
            a.role["id"]
            for a in n.identity.role_assignments(scope_project_id=project.id, group_id=getattr(group, "id", ""))
        ]
        member = n.identity.find_role("member")
        c(
            f"{slug} openstack: group {naming.admin_group(slug)} has role member on the project",
            group is not None and roles == [member.id],
            f"roles={roles}",
        )
        self._check_network(slug, spec, project.id)
        self._check_quotas(slug, spec, project.id)

    def _check_network(self, slug: str, spec: TenantSpec, project_id: str) -> None:
        c, n = self.check, self.conn
        assert spec.network.cidr is not None
        cidr = ipaddress.IPv4Network(spec.network.cidr)
        nets = list(n.network.networks(project_id=project_id))
        subnets = list(n.network.subnets(project_id=project_id))
        c(
            f"{slug} openstack: network and subnet {cidr}",
            [x.name for x in nets] == [f"{naming.project(slug)}-net"]
            and [s.cidr for s in subnets] == [str(cidr)]
            and subnets[0].gateway_ip == str(next(cidr.hosts()))
            and subnets[0].dns_nameservers == list(self.ws.platform_spec.dns_nameservers),
            f"networks={[x.name for x in nets]} subnets={[(s.cidr, s.gateway_ip) for s in subnets]}",
        )
        routers = list(n.network.routers(project_id=project_id))
        gateway = routers[0].external_gateway_info if routers else {}
        ports = list(n.network.ports(device_id=routers[0].id)) if routers else []
        on_subnet = [p for p in ports if any(ip["subnet_id"] == subnets[0].id for ip in p.fixed_ips)] if subnets else []
        c(
            f"{slug} openstack: router to the external network, interface on the subnet",
            len(routers) == 1
            and (gateway or {}).get("network_id") == self.platform_outputs.get("external_network_id")
            and (gateway or {}).get("enable_snat") is True
            and len(on_subnet) == 1,
            f"gateway={gateway} interfaces on subnet={len(on_subnet)}",
        )
        groups = [g for g in n.network.security_groups(project_id=project_id) if g.name != "default"]
        rules = sorted(
            (
                (r.direction, r.ether_type, r.protocol, r.port_range_min, r.remote_ip_prefix)
                for g in groups
                for r in n.network.security_group_rules(security_group_id=g.id)
            ),
            key=str,
        )
        mgmt = self.ws.platform_spec.management_cidr
        want = sorted(
            [
                ("egress", "IPv4", None, None, None),
                ("egress", "IPv6", None, None, None),
                ("ingress", "IPv4", None, None, str(cidr)),
                ("ingress", "IPv4", "tcp", 22, mgmt),
                ("ingress", "IPv4", "icmp", None, mgmt),
            ],
            key=str,
        )
        c(
            f"{slug} openstack: security group (inbound only intra-tenant, SSH and ICMP from {mgmt})",
            [g.name for g in groups] == [f"{naming.project(slug)}-default"] and rules == want,
            f"{len(rules)} rules: {rules}",
        )

    def _check_quotas(self, slug: str, spec: TenantSpec, project_id: str) -> None:
        c, n = self.check, self.conn
        q = spec.effective_quotas()
        nova = n.compute.get(f"/os-quota-sets/{project_id}").json()["quota_set"]
        neutron = n.network.get(f"/quotas/{project_id}").json()["quota"]
        cinder = n.block_storage.get(f"/os-quota-sets/{project_id}").json()["quota_set"]
        for api, got, want, fields in (
            ("Nova", nova, compute_quota(q), COMPUTE_FIELDS),
            ("Neutron", neutron, network_quota(q), NETWORK_FIELDS),
            ("Cinder", cinder, volume_quota(q), VOLUME_FIELDS),
        ):
            diff = {f: (got.get(f), want[f]) for f in fields if got.get(f) != want[f]}
            c(
                f"{slug} openstack: {api} quotas = plan {spec.plan}",
                not diff,
                f"DIFF (got, want) {diff}" if diff else ", ".join(f"{f}={got.get(f)}" for f in fields[:3]),
            )
        limits = self.system.identity.get("/limits", params={"project_id": project_id}).json().get("limits", [])
        gpu = [x["resource_limit"] for x in limits if x["resource_name"].startswith("class:")]
        c(f"{slug} openstack: GPU limit (Keystone unified limit) = {q['gpus']}", gpu == [q["gpus"]], f"limits={gpu}")
        gpu_flavors = {
            name: fid
            for name, fid in self.platform_outputs.get("flavor_ids", {}).items()
            if any(f.name == name and f.gpus for f in self.ws.platform_spec.flavors)
        }
        access = {
            name: any(a["tenant_id"] == project_id for a in self._flavor_access(fid))
            for name, fid in gpu_flavors.items()
        }
        c(
            f"{slug} openstack: GPU flavors shared only with GPU tenants",
            all(v == (q["gpus"] > 0) for v in access.values()),
            f"gpus={q['gpus']} access={access}",
        )

    def _flavor_access(self, flavor_id: str) -> list[dict[str, str]]:
        accesses: list[dict[str, str]] = self.conn.compute.get(f"/flavors/{flavor_id}/os-flavor-access").json()[
            "flavor_access"
        ]
        return accesses

    # --- offboarding ----------------------------------------------------------------------
    def snapshot(self, slug: str) -> dict[str, Any]:
        """What must not change for a tenant that is not offboarded: ids, revisions and quotas."""
        n = self.conn
        project = n.identity.find_project(naming.project(slug))
        if project is None:
            return {}
        pid = project.id
        return {
            "project": (project.id, project.is_enabled, project.description),
            "networks": sorted((x.id, x.revision_number) for x in n.network.networks(project_id=pid)),
            "routers": sorted((x.id, x.revision_number) for x in n.network.routers(project_id=pid)),
            "security_groups": sorted((x.id, x.revision_number) for x in n.network.security_groups(project_id=pid)),
            "nova": n.compute.get(f"/os-quota-sets/{pid}").json()["quota_set"],
            "neutron": n.network.get(f"/quotas/{pid}").json()["quota"],
            "cinder": n.block_storage.get(f"/os-quota-sets/{pid}").json()["quota_set"],
        }

    def offboard(self, slug: str, others: list[str]) -> None:
        before = {o: self.snapshot(o) for o in others}
        project = self.conn.identity.find_project(naming.project(slug))
        if project is None:
            self.check(f"{slug} openstack offboard", False, "the tenant was never applied, nothing to offboard")
            return
        started = time.monotonic()
        errors = []
        for created in reversed(self.applied.pop(slug, [])):
            try:
                self.cloud.delete(created)
            except Exception as exc:
                errors.append(f"{created.kind} {created.name}: {exc}")
        self.figures["openstack_offboard_s"] = round(time.monotonic() - started, 1)
        pid = project.id
        left = {
            "project": self.conn.identity.find_project(naming.project(slug)) is not None,
            "group": self.conn.identity.find_group(naming.admin_group(slug)) is not None,
            "networks": len(list(self.conn.network.networks(project_id=pid))),
            "routers": len(list(self.conn.network.routers(project_id=pid))),
            "ports": len(list(self.conn.network.ports(project_id=pid))),
        }
        # Neutron made a `default` security group for the project on its first call, and keeps it after
        # Keystone deletes the project: docs/offboarding.md has the step that removes it.
        groups = sorted(g.name for g in self.conn.network.security_groups(project_id=pid))
        self.check(
            f"{slug} openstack offboard: project, group, network, router and ports gone",
            not errors and not any(left.values()) and groups in ([], ["default"]),
            "; ".join(errors)[:400] if errors else f"left: {left}, security groups: {groups} (docs/offboarding.md)",
        )
        after = {o: self.snapshot(o) for o in others}
        self.check(
            f"{slug} openstack offboard: other tenants untouched",
            all(before[o] and before[o] == after[o] for o in others),
            f"unchanged: { {o: before[o] == after[o] for o in others} }",
        )

    def clean_up(self) -> list[str]:
        """Delete whatever is still applied (all of it after a failure midway), platform last; the refusals."""
        errors = []
        for key in [k for k in self.applied if k != PLATFORM_STACK] + [PLATFORM_STACK]:
            for created in reversed(self.applied.pop(key, [])):
                try:
                    self.cloud.delete(created)
                except Exception as exc:
                    errors.append(f"{created.kind} {created.name}: {exc}")
        return errors
