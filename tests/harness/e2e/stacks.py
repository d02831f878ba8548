"""The real Pulumi engine, driven through Werkraum's one driver (werkraum/infra/driver.py), on a file backend.

The programs run in this process by the Python SDK's language server (``pulumi up
--client``): the Python language host binary cannot be built here (docs/testing.md).
They are composed here, in the harness, from the product's components: only the
Kubernetes half of each stack is declared (``PlatformKubernetes``; ``TenantOnKubernetes``
with the platform outputs it reads), since no OpenStack provider plugin can be built
here. The product's programs (werkraum/infra/programs.py) always declare both halves.
Pods cannot run either (the lab API server has no nodes), so workloads carry
``pulumi.com/skipAwait``: the engine does not wait for readiness that never comes.
Each tenant preview and up passes the driver's policy check first, over the tenant's
full offline plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi
from werkraum.infra.driver import FileBackend, StackDriver
from werkraum.infra.driver import platform as platform_driver
from werkraum.infra.driver import tenant as tenant_driver
from werkraum.infra.platform_stack import PlatformKubernetes
from werkraum.infra.programs import export_all, platform_settings, tenant_inputs
from werkraum.infra.tenant import KubernetesPlatform, TenantOnKubernetes, partner_outputs
from werkraum.mirror import engine
from werkraum.tenants.platform import PlatformSpec, load_platform

PLATFORM_PROJECT = "werkraum-platform"
TENANT_PROJECT = "werkraum-tenant"
PLATFORM_STACK = "rack"

# Kinds whose readiness needs pods (or a controller that is not running here).
AWAITED_KINDS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:networking.k8s.io/v1:Ingress",
)
SHARED_CHANGE_ANNOTATION = "werkraum.io/e2e-shared-change"


def _annotate(args: pulumi.ResourceTransformArgs, key: str) -> pulumi.ResourceTransformResult:
    """The resource's inputs with one more metadata annotation (``true``)."""
    props: dict[str, Any] = dict(args.props)
    metadata: dict[str, Any] = dict(props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), key: "true"}
    props["metadata"] = metadata
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def _skip_await(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    return _annotate(args, "pulumi.com/skipAwait") if args.type_ in AWAITED_KINDS else None


def _shared_change(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Stands in for an edit of the shared tenant program: one more annotation on every namespace."""
    return _annotate(args, SHARED_CHANGE_ANNOTATION) if args.type_ == "kubernetes:core/v1:Namespace" else None


def kubernetes_platform_program() -> None:
    """The platform stack's Kubernetes half, with every output a tenant's Kubernetes half reads."""
    spec = platform_settings()
    half = PlatformKubernetes(pulumi.get_stack(), spec)
    export_all({**spec.settings_outputs(), **half.outputs})


def kubernetes_tenant_program(stacks_dir: Path) -> None:
    """A tenant stack's Kubernetes half: the namespace with its guard rails and the apps, as the product declares them."""
    t = tenant_inputs(stacks_dir)
    protect = not t.offboard
    half = TenantOnKubernetes(
        t.slug, t.spec, KubernetesPlatform.read(t.platform), stacks_dir=t.stacks_dir, protect=protect
    )
    export_all(partner_outputs(t.slug, t.spec, protect=protect, kubernetes=half))


@dataclass
class Workspace:
    """Scratch folders of one end-to-end run: file backend, PULUMI_HOME, copies of the stack files."""

    root: Path
    kubeconfig: Path

    @cached_property
    def platform_spec(self) -> PlatformSpec:
        """The platform settings of this run (read once; the tenant programs and checks share them)."""
        return load_platform(self.platform_dir / f"Pulumi.{PLATFORM_STACK}.yaml")

    @property
    def backend(self) -> Path:
        return self.engine.backend

    @property
    def stacks_dir(self) -> Path:
        return self.root / "stacks"

    @property
    def platform_dir(self) -> Path:
        return self.root / "platform"

    @property
    def engine(self) -> FileBackend:
        """The run's file backend and PULUMI_HOME, with the engine built into werkraum.mirror.engine's cache."""
        return FileBackend(self.root, engine.engine_dir(), self.kubeconfig, passphrase="werkraum-e2e")

    def platform(self, on_output: Callable[[str], None] | None = None) -> StackDriver:
        def program() -> None:
            pulumi.runtime.register_stack_transform(_skip_await)
            kubernetes_platform_program()

        return platform_driver(
            PLATFORM_STACK,
            inline=self.engine.inline(program, "platform", self.platform_dir),
            on_output=on_output,
        )

    def tenant(
        self, slug: str, *, shared_change: bool = False, on_output: Callable[[str], None] | None = None
    ) -> StackDriver:
        stacks_dir = self.stacks_dir

        def program() -> None:
            pulumi.runtime.register_stack_transform(_skip_await)
            if shared_change:
                pulumi.runtime.register_stack_transform(_shared_change)
            kubernetes_tenant_program(stacks_dir)

        return tenant_driver(
            slug,
            stacks_dir=stacks_dir,
            platform=self.platform_spec,
            inline=self.engine.inline(program, "tenant", stacks_dir),
            on_output=on_output,
        )


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
