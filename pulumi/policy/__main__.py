"""Werkraum's policy pack for tenant stacks, run inside the engine.

The driver (werkraum/infra/driver.py) passes this folder as a policy pack to every
preview and up of a tenant stack when the engine can run a Python pack (a
`pulumi-language-python` host beside the CLI, as the released CLI ships it). The rules
live in werkraum.infra.policies: the driver also runs them in-process over the
tenant's offline plan before the engine starts, and the tests run them over every file.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from werkraum.infra.policy_pack import tenant_policies

PolicyPack(name="werkraum-tenant", enforcement_level=EnforcementLevel.MANDATORY, policies=tenant_policies())
