"""From the tenant's six quota figures to every field of the Nova, Neutron and Cinder quotas.

pulumi-openstack's quota resources are all-in: a field left unset is created as
0, so every field is set here, derived from the tenant's figures.
"""

from __future__ import annotations

from collections.abc import Mapping

from werkraum.tenants.plans import QuotaName

UNLIMITED = -1


def compute_quota(q: Mapping[QuotaName, int]) -> dict[str, int]:
    return {
        "cores": q["vcpus"],
        "ram": q["ram_gib"] * 1024,  # MiB
        "instances": q["instances"],
        "floating_ips": q["floating_ips"],
        "fixed_ips": UNLIMITED,  # nova-network legacy, enforced by Neutron ports instead
        "key_pairs": 20,
        "metadata_items": 128,
        "injected_files": 5,
        "injected_file_content_bytes": 10240,
        "injected_file_path_bytes": 255,
        "security_groups": UNLIMITED,  # Neutron enforces these (below)
        "security_group_rules": UNLIMITED,
        "server_groups": 10,
        "server_group_members": 10,
    }


def network_quota(q: Mapping[QuotaName, int]) -> dict[str, int]:
    return {
        "floatingip": q["floating_ips"],
        "network": 5,
        "subnet": 10,
        "subnetpool": 0,
        "router": 2,
        "port": max(50, q["instances"] * 4),
        "security_group": 10,
        "security_group_rule": 100,
        "rbac_policy": 10,
    }


def volume_quota(q: Mapping[QuotaName, int]) -> dict[str, object]:
    return {
        "gigabytes": q["volume_gib"],
        "volumes": max(10, q["instances"] * 4),
        "snapshots": max(10, q["instances"] * 2),
        "per_volume_gigabytes": min(q["volume_gib"], 2000),
        "backups": max(10, q["instances"] * 2),
        "backup_gigabytes": q["volume_gib"],
        "groups": 10,
        "volume_type_quota": {},
    }


def kubernetes_quota(q: Mapping[QuotaName, int], workspaces: int) -> dict[str, str]:
    return {
        "requests.cpu": str(q["vcpus"]),
        "limits.cpu": str(q["vcpus"] * 2),
        "requests.memory": f"{q['ram_gib']}Gi",
        "limits.memory": f"{q['ram_gib']}Gi",
        "requests.nvidia.com/gpu": str(q["gpus"]),
        "requests.storage": f"{q['volume_gib']}Gi",
        "persistentvolumeclaims": str(max(10, workspaces * 2)),
        "pods": str(max(50, q["instances"] * 5)),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
