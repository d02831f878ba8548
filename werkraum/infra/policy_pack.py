"""The pulumi-policy wrappers of werkraum.infra.policies (pulumi/policy/__main__.py serves them)."""

from __future__ import annotations

import os

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from werkraum.infra.policies import IMAGE_REGISTRY_ENV, RESOURCE_RULES, Res, platform_images, tenant_isolation_findings


def resource_policy(name: str) -> ResourceValidationPolicy:
    rule, description = RESOURCE_RULES[name]

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    registry = os.environ.get(IMAGE_REGISTRY_ENV, "")
    if not registry:
        report_violation(f"{IMAGE_REGISTRY_ENV} is not set: the driver names the platform registry", args.urn)
        return
    for message in platform_images(args.resource_type, args.props, registry):
        report_violation(message, args.urn)


def validate_isolation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The isolation findings, each reported on the resource it names (by URN), or on the stack."""
    resources = [(Res(r.resource_type, r.name, r.props), r.urn) for r in args.resources]
    urns = {id(res): urn for res, urn in resources}
    for res, message in tenant_isolation_findings(res for res, _ in resources):
        if res is None:
            report_violation(message, None)
        else:
            report_violation(f"{res.name}: {message}", urns[id(res)])


def tenant_policies() -> list[Policy]:
    return [
        *(resource_policy(name) for name in RESOURCE_RULES),
        ResourceValidationPolicy(
            name="platform-images",
            description="Every pod's images come from the platform's registry.",
            validate=validate_images,
        ),
        StackValidationPolicy(
            name="tenant-isolation",
            description="One namespace with default-deny; OpenStack objects in the tenant's project.",
            validate=validate_isolation,
        ),
    ]
