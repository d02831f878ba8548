"""The pulumi-policy wrappers of werkraum.infra.policies (pulumi/policy/__main__.py serves them)."""

from __future__ import annotations

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from werkraum.infra.policies import RESOURCE_RULES, Res, tenant_isolation


def resource_policy(name: str) -> ResourceValidationPolicy:
    rule, description = RESOURCE_RULES[name]

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def validate_isolation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for message in tenant_isolation(Res(r.resource_type, r.name, r.props) for r in args.resources):
        report_violation(message, None)


def tenant_policies() -> list[Policy]:
    return [
        *(resource_policy(name) for name in RESOURCE_RULES),
        StackValidationPolicy(
            name="tenant-isolation",
            description="One namespace with default-deny; OpenStack objects in the tenant's project.",
            validate=validate_isolation,
        ),
    ]
