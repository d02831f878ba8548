"""Pulumi components: what the platform and each tenant stack declare (used by pulumi/platform and pulumi/tenant)."""
