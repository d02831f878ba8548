"""The two Pulumi programs. pulumi/*/__main__.py call these; so does the offline plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from werkraum.infra.platform_stack import PlatformStack
from werkraum.infra.tenant import PlatformOutputs, TenantStack
from werkraum.paths import repo_root
from werkraum.tenants.loader import load_tenant_file, stack_file
from werkraum.tenants.platform import PlatformSpec, build_platform, load_platform

DEFAULT_PLATFORM_STACK = "organization/werkraum-platform/rack"


def platform_program(*, with_openstack: bool = True) -> PlatformStack:
    config = pulumi.Config("platform")
    spec = build_platform(config.require_object("spec"), config.get("inventory"), f"stack {pulumi.get_stack()}")
    platform = PlatformStack(pulumi.get_stack(), spec, with_openstack=with_openstack)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    return platform


def tenant_program(
    stacks_dir: Path | None = None,
    platform_spec: PlatformSpec | None = None,
    *,
    with_openstack: bool = True,
    opts: pulumi.ResourceOptions | None = None,
) -> TenantStack:
    """Read `tenant:spec`, check it exactly as `werkraum tenant validate` does, declare the tenant.

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
    tenant = TenantStack(
        slug,
        tenant_file.spec,
        platform=PlatformOutputs(ref, with_openstack=with_openstack),
        platform_spec=platform_spec or load_platform(),
        stacks_dir=stacks_dir,
        offboard=bool(config.get_bool("offboard")),
        with_openstack=with_openstack,
        opts=opts,
    )
    for key, value in tenant.partner_outputs.items():
        pulumi.export(key, value)
    return tenant


def config_for_engine(config: dict[str, Any]) -> dict[str, str]:
    """A stack file's config as the engine hands it to a program (objects as JSON strings)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
