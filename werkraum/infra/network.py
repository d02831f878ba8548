"""The tenant's network: network, subnet, router to the external network, and security groups.

Inbound is denied by default: the security group has no default rules, allows
traffic inside the tenant's own subnet, and opens only SSH and ICMP from the
platform's management network (operations). Outbound is open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi_openstack as openstack

import pulumi
from werkraum.infra import naming


class TenantNetwork(pulumi.ComponentResource):
    def __init__(
        self,
        slug: str,
        cidr: str,
        *,
        project_id: pulumi.Input[str],
        external_network_id: pulumi.Input[str],
        management_cidr: pulumi.Input[str],
        dns_nameservers: pulumi.Input[Sequence[pulumi.Input[str]]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("werkraum:tenant:Network", slug, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        net = ipaddress.IPv4Network(cidr)
        hosts = list(net.hosts())
        tags = [f"werkraum-tenant={slug}"]
        self.network = openstack.networking.Network(
            f"{slug}-net",
            name=f"{naming.project(slug)}-net",
            tenant_id=project_id,
            admin_state_up=True,
            tags=tags,
            opts=child,
        )
        self.subnet = openstack.networking.Subnet(
            f"{slug}-subnet",
            name=f"{naming.project(slug)}-subnet",
            network_id=self.network.id,
            tenant_id=project_id,
            cidr=str(net),
            ip_version=4,
            gateway_ip=str(hosts[0]),
            enable_dhcp=True,
            dns_nameservers=dns_nameservers,
            allocation_pools=[
                openstack.networking.SubnetAllocationPoolArgs(
                    start=str(hosts[min(9, len(hosts) - 2)]), end=str(hosts[-1])
                )
            ],
            tags=tags,
            opts=child,
        )
        self.router = openstack.networking.Router(
            f"{slug}-router",
            name=f"{naming.project(slug)}-router",
            tenant_id=project_id,
            external_network_id=external_network_id,
            admin_state_up=True,
            enable_snat=True,
            tags=tags,
            opts=child,
        )
        self.router_interface = openstack.networking.RouterInterface(
            f"{slug}-router-if", router_id=self.router.id, subnet_id=self.subnet.id, opts=child
        )
        self.security_group = openstack.networking.SecGroup(
            f"{slug}-secgroup",
            name=f"{naming.project(slug)}-default",
            description="Werkraum tenant default: inbound denied except intra-tenant and platform operations",
            tenant_id=project_id,
            delete_default_rules=True,
            tags=tags,
            opts=child,
        )
        rules: list[tuple[str, dict[str, pulumi.Input[str] | int]]] = [
            ("egress-v4", {"direction": "egress", "ethertype": "IPv4"}),
            ("egress-v6", {"direction": "egress", "ethertype": "IPv6"}),
            ("ingress-intra-tenant", {"direction": "ingress", "ethertype": "IPv4", "remote_ip_prefix": str(net)}),
            (
                "ingress-ssh-mgmt",
                {
                    "direction": "ingress",
                    "ethertype": "IPv4",
                    "protocol": "tcp",
                    "port_range_min": 22,
                    "port_range_max": 22,
                    "remote_ip_prefix": management_cidr,
                },
            ),
            (
                "ingress-icmp-mgmt",
                {"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "remote_ip_prefix": management_cidr},
            ),
        ]
        self.rules = [
            openstack.networking.SecGroupRule(
                f"{slug}-{name}",
                security_group_id=self.security_group.id,
                tenant_id=project_id,
                description=name,
                opts=child,
                **args,  # type: ignore[arg-type]
            )
            for name, args in rules
        ]
        self.register_outputs(
            {"network_id": self.network.id, "subnet_id": self.subnet.id, "router_id": self.router.id, "cidr": str(net)}
        )
