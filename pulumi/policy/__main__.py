"""Werkraum's policy pack for tenant stacks: `pulumi preview --policy-pack pulumi/policy`.

The rules live in werkraum.infra.policies: unit-tested there, and run over the
offline plan of every file in stacks/ by the test suite.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from werkraum.infra.policy_pack import tenant_policies

PolicyPack(name="werkraum-tenant", enforcement_level=EnforcementLevel.MANDATORY, policies=tenant_policies())
