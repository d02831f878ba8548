"""The tenant's Kubernetes namespace with its guard rails.

Namespace (labelled, Pod Security baseline), ResourceQuota including
`nvidia.com/gpu`, LimitRange, NetworkPolicies (default deny; same namespace,
the ingress controller and DNS allowed; HTTPS out when connectors need it)
and RBAC for the tenant's admins (an OIDC group).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

import pulumi
from werkraum.infra import naming
from werkraum.infra.quotas import kubernetes_quota
from werkraum.tenants.plans import QuotaName

meta = k8s.meta.v1.ObjectMetaArgs
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def namespace_peer(name: pulumi.Input[str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """A NetworkPolicy peer: every pod of the namespace called ``name``."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name})
    )


class TenantKubernetes(pulumi.ComponentResource):
    namespace_name: str

    def __init__(
        self,
        slug: str,
        plan: str,
        quotas: Mapping[QuotaName, int],
        *,
        workspaces: int,
        egress_https: bool,
        ingress_namespace: pulumi.Input[str],
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("werkraum:tenant:Kubernetes", slug, None, opts)
        ns = naming.namespace(slug)
        self.namespace_name = ns
        labels = naming.labels(slug, plan)
        self.namespace = k8s.core.v1.Namespace(
            f"{slug}-namespace",
            metadata=meta(
                name=ns,
                labels={
                    **labels,
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        def m(name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return meta(name=name, namespace=ns, labels=labels)

        self.quota = k8s.core.v1.ResourceQuota(
            f"{slug}-quota",
            metadata=m("tenant-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=kubernetes_quota(quotas, workspaces)),
            opts=child,
        )
        self.limits = k8s.core.v1.LimitRange(
            f"{slug}-limits",
            metadata=m("tenant-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": "1", "memory": "2Gi"},
                        default_request={"cpu": "250m", "memory": "512Mi"},
                        max={"cpu": str(max(1, quotas["vcpus"])), "memory": f"{max(1, quotas['ram_gib'])}Gi"},
                    ),
                    k8s.core.v1.LimitRangeItemArgs(
                        type="PersistentVolumeClaim",
                        max={"storage": f"{max(1, quotas['volume_gib'])}Gi"},
                    ),
                ]
            ),
            opts=child,
        )
        np = k8s.networking.v1
        all_pods = k8s.meta.v1.LabelSelectorArgs()
        policies: list[tuple[str, k8s.networking.v1.NetworkPolicySpecArgs]] = [
            ("default-deny", np.NetworkPolicySpecArgs(pod_selector=all_pods, policy_types=["Ingress", "Egress"])),
            (
                "allow-same-namespace",
                np.NetworkPolicySpecArgs(
                    pod_selector=all_pods,
                    policy_types=["Ingress", "Egress"],
                    ingress=[np.NetworkPolicyIngressRuleArgs(from_=[np.NetworkPolicyPeerArgs(pod_selector=all_pods)])],
                    egress=[np.NetworkPolicyEgressRuleArgs(to=[np.NetworkPolicyPeerArgs(pod_selector=all_pods)])],
                ),
            ),
            (
                "allow-ingress-controller",
                np.NetworkPolicySpecArgs(
                    pod_selector=all_pods,
                    policy_types=["Ingress"],
                    ingress=[np.NetworkPolicyIngressRuleArgs(from_=[namespace_peer(ingress_namespace)])],
                ),
            ),
            (
                "allow-dns",
                np.NetworkPolicySpecArgs(
                    pod_selector=all_pods,
                    policy_types=["Egress"],
                    egress=[
                        np.NetworkPolicyEgressRuleArgs(
                            to=[namespace_peer("kube-system")],
                            ports=[
                                np.NetworkPolicyPortArgs(protocol="UDP", port=53),
                                np.NetworkPolicyPortArgs(protocol="TCP", port=53),
                            ],
                        )
                    ],
                ),
            ),
        ]
        if egress_https:
            policies.append(
                (
                    "allow-https-out",
                    np.NetworkPolicySpecArgs(
                        pod_selector=all_pods,
                        policy_types=["Egress"],
                        egress=[
                            np.NetworkPolicyEgressRuleArgs(
                                to=[
                                    np.NetworkPolicyPeerArgs(
                                        ip_block=np.IPBlockArgs(cidr="0.0.0.0/0", except_=PRIVATE_RANGES)
                                    )
                                ],
                                ports=[np.NetworkPolicyPortArgs(protocol="TCP", port=443)],
                            )
                        ],
                    ),
                )
            )
        self.network_policies = [
            np.NetworkPolicy(f"{slug}-np-{name}", metadata=m(name), spec=spec, opts=child) for name, spec in policies
        ]
        self.admin_binding = k8s.rbac.v1.RoleBinding(
            f"{slug}-admins",
            metadata=m("tenant-admins"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    api_group="rbac.authorization.k8s.io", kind="Group", name=f"oidc:{naming.admin_group(slug)}"
                )
            ],
            opts=child,
        )
        self.register_outputs({"namespace": ns})
