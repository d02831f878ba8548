"""Names and labels shared by every tenant resource, so policies can check them."""

from __future__ import annotations

TENANT_LABEL = "werkraum.io/tenant"
PLAN_LABEL = "werkraum.io/plan"
MANAGED_LABEL = "app.kubernetes.io/managed-by"


def namespace(slug: str) -> str:
    return f"tenant-{slug}"


def project(slug: str) -> str:
    return f"tenant-{slug}"


def admin_group(slug: str) -> str:
    """The tenant admins' group, in Keystone and as the OIDC group Kubernetes sees."""
    return f"tenant-{slug}-admins"


def member_group(slug: str) -> str:
    """Everyone who may use the tenant's apps (its admins and its workspaces' members), in Keycloak."""
    return f"tenant-{slug}-members"


def labels(slug: str, plan: str, **extra: str) -> dict[str, str]:
    return {TENANT_LABEL: slug, PLAN_LABEL: plan, MANAGED_LABEL: "werkraum", **extra}
