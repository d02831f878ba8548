"""What every tenant shares: the external network, flavors (GPU flavors private), storage and ingress classes.

Two halves, each a ComponentResource over the platform settings: the OpenStack half and
the Kubernetes half. The platform program composes both (PlatformStack).
"""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

import pulumi
from werkraum.errors import WerkraumError
from werkraum.infra.sso import PlatformIdentity
from werkraum.tenants.platform import PlatformSpec, StorageClassSpec


def _ceph_cluster_id(spec: PlatformSpec) -> str:
    """The fsid the RBD storage classes name: what the ceph role handed over, never typed."""
    if spec.ceph_cluster_id:
        return spec.ceph_cluster_id
    classes = ", ".join(sc.name for sc in spec.rbd_storage_classes)
    if not spec.ceph_expected:
        raise WerkraumError(
            f"the rack has no Ceph cluster, but the platform settings declare RBD storage classes ({classes})",
            hint="make them `provisioner: local-path` classes in platform:spec.storage_classes, "
            "or add Ceph hosts to the rack inventory",
        )
    raise WerkraumError(
        f"the Ceph cluster's fsid is not known yet, and the storage classes {classes} need it",
        hint="converge the ceph nodes first: the ceph role hands ceph.conf and the client keyrings to the "
        "controller (ceph_fetch_dir, ~/.werkraum/ceph/ceph by default; WERKRAUM_CEPH_FETCH_DIR names another)",
    )


def _moved_from(opts: pulumi.ResourceOptions | None) -> list[pulumi.Alias]:
    """An alias to the Platform component, the parent these resources had before the halves were components."""
    parent = opts.parent if opts is not None else None
    return [pulumi.Alias(parent=parent)] if parent is not None else []


class PlatformOpenStack(pulumi.ComponentResource):
    """The platform's OpenStack half: the external network, its subnet, the flavors (GPU flavors private)
    and the GPUs' registered limit."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("werkraum:platform:OpenStack", name, None, opts)
        moved = _moved_from(opts)
        child = pulumi.ResourceOptions(parent=self, aliases=moved)
        ext = spec.external_network
        self.external_network = openstack.networking.Network(
            "external",
            name=ext.name,
            external=True,
            shared=False,
            admin_state_up=True,
            segments=[
                openstack.networking.NetworkSegmentArgs(network_type="flat", physical_network=ext.physical_network)
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=True, aliases=moved),
        )
        self.external_subnet = openstack.networking.Subnet(
            "external-subnet",
            name=f"{ext.name}-subnet",
            network_id=self.external_network.id,
            cidr=ext.cidr,
            gateway_ip=ext.gateway,
            enable_dhcp=False,
            allocation_pools=[openstack.networking.SubnetAllocationPoolArgs(start=ext.pool_start, end=ext.pool_end)],
            opts=child,
        )
        self.flavors = {
            f.name: openstack.compute.Flavor(
                f"flavor-{f.name}",
                name=f.name,
                vcpus=f.vcpus,
                ram=f.ram_gib * 1024,
                disk=f.disk_gib,
                is_public=f.gpus == 0,  # GPU flavors are shared per tenant (FlavorAccess)
                extra_specs={f"resources:{spec.gpu_resource_class}": str(f.gpus)} if f.gpus else {},
                opts=child,
            )
            for f in spec.flavors
        }
        self.compute_service_id = openstack.identity.get_service_output(name="nova", type="compute").id
        # Keystone refuses a project limit without a registered limit of the same service and
        # resource (403, found by make e2e against the lab Keystone): each tenant's GPU limit
        # needs this one. A project without a limit of its own gets none.
        self.gpu_registered_limit = openstack.identity.RegisteredLimitV3(
            "gpu-registered-limit",
            service_id=self.compute_service_id,
            resource_name_=f"class:{spec.gpu_resource_class}",
            default_limit=0,
            description="GPUs a project gets unless its tenant stack sets a limit",
            opts=child,
        )
        self.outputs = {
            "external_network_id": self.external_network.id,
            "compute_service_id": self.compute_service_id,
            "flavor_ids": {name: flavor.id for name, flavor in self.flavors.items()},
        }
        self.register_outputs(self.outputs)


RBD_PROVISIONER = "rbd.csi.ceph.com"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"


def _rbd_parameters(sc: StorageClassSpec, cluster_id: str | None) -> dict[str, str]:
    return {
        "clusterID": cluster_id or "",
        "pool": sc.pool,
        "imageFeatures": "layering",
        "csi.storage.k8s.io/provisioner-secret-name": "csi-rbd-secret",
        "csi.storage.k8s.io/provisioner-secret-namespace": "ceph-csi",
        "csi.storage.k8s.io/controller-expand-secret-name": "csi-rbd-secret",
        "csi.storage.k8s.io/controller-expand-secret-namespace": "ceph-csi",
        "csi.storage.k8s.io/node-stage-secret-name": "csi-rbd-secret",
        "csi.storage.k8s.io/node-stage-secret-namespace": "ceph-csi",
        "csi.storage.k8s.io/fstype": "ext4",
    }


class PlatformKubernetes(pulumi.ComponentResource):
    """The platform's Kubernetes half: the storage classes (RBD ones naming the Ceph cluster) and the ingress class."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        cluster_id = _ceph_cluster_id(spec) if spec.rbd_storage_classes else None
        super().__init__("werkraum:platform:Kubernetes", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, aliases=_moved_from(opts))
        self.outputs = {"ceph_cluster_id": cluster_id or "", "ceph_monitors": list(spec.ceph_monitors)}
        if spec.ceph_kubernetes_key:
            # For the rack's ceph-csi (its csi-rbd-secret): the key stays encrypted in the stack's state.
            self.outputs["ceph_kubernetes_key"] = pulumi.Output.secret(spec.ceph_kubernetes_key)
        self.storage_classes = [
            k8s.storage.v1.StorageClass(
                f"sc-{sc.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sc.name,
                    annotations={"storageclass.kubernetes.io/is-default-class": "true" if sc.default else "false"},
                ),
                # RBD: an image in the pool, kept when its claim goes (tenant data). local-path: a folder
                # on the node the pod is scheduled to (so bound then), deleted with its claim.
                provisioner=RBD_PROVISIONER if sc.provisioner == "ceph-rbd" else LOCAL_PATH_PROVISIONER,
                reclaim_policy="Retain" if sc.provisioner == "ceph-rbd" else "Delete",
                allow_volume_expansion=True if sc.provisioner == "ceph-rbd" else None,
                volume_binding_mode="Immediate" if sc.provisioner == "ceph-rbd" else "WaitForFirstConsumer",
                parameters=_rbd_parameters(sc, cluster_id) if sc.provisioner == "ceph-rbd" else None,
                opts=child,
            )
            for sc in spec.storage_classes
        ]
        self.ingress_class = k8s.networking.v1.IngressClass(
            "ingress-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=spec.ingress_class, annotations={"ingressclass.kubernetes.io/is-default-class": "true"}
            ),
            spec=k8s.networking.v1.IngressClassSpecArgs(controller=spec.ingress_controller),
            opts=child,
        )
        self.register_outputs(self.outputs)


class PlatformStack(pulumi.ComponentResource):
    """The platform stack: its OpenStack half (where the rack runs OpenStack), its Kubernetes half,
    its realm in Keycloak, and the outputs tenants read."""

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("werkraum:platform:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A platform without OpenStack (spec.openstack false) declares only its Kubernetes half.
        self.openstack = PlatformOpenStack(name, spec, opts=child) if spec.openstack else None
        self.kubernetes = PlatformKubernetes(name, spec, opts=child)
        self.identity = PlatformIdentity(name, spec, opts=child)
        self.outputs: dict[str, pulumi.Input[object]] = {
            **spec.settings_outputs(),
            **(self.openstack.outputs if self.openstack is not None else {}),
            **self.kubernetes.outputs,
            **self.identity.outputs,
        }
        self.register_outputs(self.outputs)
