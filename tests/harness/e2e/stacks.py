"""The stacks of the end-to-end run: the lab cluster's own tenants, and the rack's settings for the OpenStack half.

The Kubernetes half runs on the lab rack's cluster (`make lab`): the lab's platform
stack and tenant stacks (werkraum/lab/tenants.py, its file backend and its copies of
the tenant files) are driven through Werkraum's one driver with the product's
programs, run in this process by the Python SDK's language server (``pulumi up
--client``; the Python language host binary cannot be built here, docs/testing.md).
Nothing skips the engine's waiting: pods run on the lab's worker.

The OpenStack half has no engine provider here (it cannot be built): its programs
run under mocks that apply each resource to the lab OpenStack API
(tests/harness/e2e/openstack.py), with the rack's platform settings
(``RackSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi
from werkraum.infra.driver import FileBackend, StackDriver
from werkraum.lab.tenants import LabTenants, StackFolders
from werkraum.tenants.platform import PlatformSpec, load_platform

PLATFORM_PROJECT = "werkraum-platform"
TENANT_PROJECT = "werkraum-tenant"
PLATFORM_STACK = "rack"
SHARED_CHANGE_ANNOTATION = "werkraum.io/e2e-shared-change"


def _annotate(args: pulumi.ResourceTransformArgs, key: str) -> pulumi.ResourceTransformResult:
    """The resource's inputs with one more metadata annotation (``true``)."""
    props: dict[str, Any] = dict(args.props)
    metadata: dict[str, Any] = dict(props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), key: "true"}
    props["metadata"] = metadata
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def shared_change(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Stands in for an edit of the shared tenant program: one more annotation on every namespace."""
    return _annotate(args, SHARED_CHANGE_ANNOTATION) if args.type_ == "kubernetes:core/v1:Namespace" else None


@dataclass
class LabWorkspace:
    """The lab cluster's tenant stacks as the run drives them: werkraum lab tenants' backend and files."""

    tenants: LabTenants

    @cached_property
    def backend(self) -> FileBackend:
        return self.tenants.backend()

    @cached_property
    def platform_spec(self) -> PlatformSpec:
        return self.tenants.platform_spec()

    @property
    def stacks_dir(self) -> Path:
        return self.tenants.stacks_dir

    def platform(self) -> StackDriver:
        return self.tenants.platform(self.backend)

    def tenant(self, slug: str, *, shared_program_changed: bool = False) -> StackDriver:
        """The tenant's stack; ``shared_program_changed``: with ``shared_change`` as if the program were edited."""
        transforms = [shared_change] if shared_program_changed else []
        return self.tenants.tenant(slug, self.backend, self.platform_spec, transforms=transforms)


@dataclass
class RackSettings(StackFolders):
    """The rack's platform settings for the OpenStack half's checks (a copy in the run's scratch folder)."""

    root: Path

    @cached_property
    def platform_spec(self) -> PlatformSpec:
        return load_platform(self.platform_dir / f"Pulumi.{PLATFORM_STACK}.yaml")


def resource_count(stack: StackDriver) -> int:
    """Resources in the stack's state, without the stack itself and its default providers (0: no stack)."""
    if not stack.exists():
        return 0
    state = stack.export_state()["deployment"]
    return sum(1 for r in state.get("resources") or [] if not str(r.get("type", "")).startswith("pulumi:"))


def write_ceph_stand_in(directory: Path, fsid: str) -> Path:
    """A STAND-IN for the ceph role's hand-over (ceph.conf and the client.kubernetes keyring).

    The end-to-end run and the unit tests have no Ceph cluster; the platform's RBD
    storage classes only name one, so a fixed fsid written in the role's format
    lets the program run. Nothing provisions volumes from it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ceph.conf").write_text(
        f"# STAND-IN for the ceph role's hand-over (no Ceph cluster here).\n"
        f"[global]\nfsid = {fsid}\nmon_host = [v2:192.0.2.31:3300,v1:192.0.2.31:6789]\n"
    )
    keyring = directory / "ceph.client.kubernetes.keyring"
    keyring.write_text("[client.kubernetes]\n\tkey = QVFCc3RhbmQtaW4ta2V5LW5vdC1hLXJlYWwtb25lPT0=\n")
    keyring.chmod(0o600)
    return directory
