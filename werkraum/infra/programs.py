"""The two Pulumi programs. pulumi/*/__main__.py call these; so does the offline plan."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from werkraum.infra.platform_stack import PlatformStack
from werkraum.infra.sso import IdentityPlatform
from werkraum.infra.tenant import KubernetesPlatform, OpenStackPlatform, TenantStack
from werkraum.paths import repo_root
from werkraum.tenants.loader import load_tenant_file, stack_file
from werkraum.tenants.model import TenantSpec
from werkraum.tenants.platform import PlatformSpec, build_platform, load_platform

DEFAULT_PLATFORM_STACK = "organization/werkraum-platform/rack"


def platform_settings() -> PlatformSpec:
    """The platform settings of the running stack (`platform:spec`, completed by the rack it names)."""
    config = pulumi.Config("platform")
    return build_platform(config.require_object("spec"), config.get("inventory"), f"stack {pulumi.get_stack()}")


def export_all(outputs: dict[str, pulumi.Input[object]]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)


def platform_program() -> PlatformStack:
    platform = PlatformStack(pulumi.get_stack(), platform_settings())
    export_all(platform.outputs)
    return platform


@dataclass(frozen=True)
class TenantInputs:
    """What a tenant program starts from: the stack's tenant file, checked, and the platform stack."""

    slug: str
    spec: TenantSpec
    offboard: bool
    stacks_dir: Path
    platform: pulumi.StackReference


def tenant_inputs(stacks_dir: Path | None = None) -> TenantInputs:
    """Read `tenant:spec`, check it exactly as `werkraum tenant validate` does, reference the platform stack.

    A file with problems never reaches the engine: the program stops before any
    resource is declared and names every problem.
    """
    slug = pulumi.get_stack()
    stacks_dir = stacks_dir or repo_root() / "stacks"
    config = pulumi.Config("tenant")
    config.require_object("spec")  # the engine read it from the same file (stackConfigDir)
    tenant_file = load_tenant_file(stack_file(stacks_dir, slug), stacks_dir=stacks_dir)
    if tenant_file.problems or tenant_file.spec is None:
        raise ValueError(f"tenant {slug} is not valid:\n" + "\n".join(str(p) for p in tenant_file.problems))
    ref = pulumi.StackReference(config.get("platform_stack") or DEFAULT_PLATFORM_STACK)
    return TenantInputs(slug, tenant_file.spec, bool(config.get_bool("offboard")), stacks_dir, ref)


def tenant_program(
    stacks_dir: Path | None = None,
    platform_spec: PlatformSpec | None = None,
    *,
    opts: pulumi.ResourceOptions | None = None,
) -> TenantStack:
    """The whole tenant of the stack's tenant file: both halves, or the Kubernetes half on a platform
    without OpenStack (``platform_spec``: the platform's settings, pulumi/platform/Pulumi.rack.yaml by default)."""
    t = tenant_inputs(stacks_dir)
    spec = platform_spec or load_platform()
    tenant = TenantStack(
        t.slug,
        t.spec,
        openstack=OpenStackPlatform.read(t.platform, spec) if spec.openstack else None,
        kubernetes=KubernetesPlatform.read(t.platform),
        identity=IdentityPlatform.from_spec(spec),
        stacks_dir=t.stacks_dir,
        offboard=t.offboard,
        opts=opts,
    )
    export_all(tenant.partner_outputs)
    return tenant


def config_for_engine(config: dict[str, Any]) -> dict[str, str]:
    """A stack file's config as the engine hands it to a program (objects as JSON strings)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
