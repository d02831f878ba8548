"""The tenant spec (`tenant:spec` in stacks/Pulumi.<slug>.yaml) as a typed model.

Pydantic checks shapes and types (unknown keys are errors); `plan_problems`
checks what depends on the plan. Both report problems as a field path plus a
message that says what was wrong and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from werkraum.tenants.plans import APPS, FEATURES, PLANS, QUOTA_NAMES, WORKSPACE_PROFILES, Plan, QuotaName

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = rf"^({DNS_LABEL}\.)+[a-z]{{2,63}}$"
EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$"
COLOR_RE = r"^#[0-9A-Fa-f]{6}$"
LOGO_RE = r"^[A-Za-z0-9._/-]+\.(svg|png)$"
WORKSPACE_RE = rf"^{DNS_LABEL}$"

Email = Annotated[str, StringConstraints(pattern=EMAIL_RE, max_length=254)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Color = Annotated[str, StringConstraints(pattern=COLOR_RE)]
Feature = Literal["chat", "files", "tables", "meetings", "scheduler", "notebooks"]
App = Literal["confluence", "hubspot", "jira", "nextcloud", "salesforce", "sharepoint", "slack", "teams"]
Profile = Literal["notebook-cpu", "notebook-gpu", "analytics"]
Quota = Annotated[StrictInt, Field(ge=0)]

assert set(Feature.__args__) == set(FEATURES)  # type: ignore[attr-defined]
assert set(App.__args__) == set(APPS)  # type: ignore[attr-defined]
assert set(Profile.__args__) == set(WORKSPACE_PROFILES)  # type: ignore[attr-defined]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Strict):
    name: Text
    email: Email


class Quotas(Strict):
    vcpus: Quota | None = None
    ram_gib: Quota | None = None
    gpus: Quota | None = None
    volume_gib: Quota | None = None
    instances: Quota | None = None
    floating_ips: Quota | None = None

    def given(self) -> dict[QuotaName, int]:
        return {name: value for name in QUOTA_NAMES if (value := getattr(self, name)) is not None}


class Network(Strict):
    cidr: str | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 network in CIDR form with no host bits set ({exc})") from None
        if not net.is_private:
            raise ValueError(f"{net} is not a private range (use 10/8, 172.16/12 or 192.168/16)")
        if not 16 <= net.prefixlen <= 28:
            raise ValueError(f"{net}: the prefix length must be between /16 and /28")
        return str(net)


class Branding(Strict):
    domain: Annotated[str, StringConstraints(pattern=DOMAIN_RE, max_length=253)]
    logo: Annotated[str, StringConstraints(pattern=LOGO_RE)]
    primary_color: Color
    secondary_color: Color
    assistant_name: Text
    welcome_message: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("must be a path relative to stacks/ (no leading / and no ..)")
        return value


class Workspace(Strict):
    name: Annotated[str, StringConstraints(pattern=WORKSPACE_RE, max_length=40)]
    profile: Profile
    members: list[Email] = Field(default_factory=list)


class TenantSpec(Strict):
    name: Text
    plan: Literal["bronze", "silver", "gold", "platinum"]
    seats: Annotated[StrictInt, Field(gt=0)]
    contact: Contact
    # The tenant's admins (e-mail addresses): its Keycloak group tenant-<slug>-admins, which may
    # administer its Kubernetes namespace and OpenStack project. At least one.
    admins: Annotated[list[Email], Field(min_length=1)]
    quotas: Quotas = Field(default_factory=Quotas)
    network: Network = Field(default_factory=Network)
    features: list[Feature] | None = None
    apps: list[App] = Field(default_factory=list)
    branding: Branding
    workspaces: list[Workspace] = Field(default_factory=list)

    @property
    def plan_info(self) -> Plan:
        return PLANS[self.plan]

    def effective_quotas(self) -> dict[QuotaName, int]:
        return self.plan_info.quotas(self.quotas.given())

    def users(self) -> list[str]:
        """Every user the tenant file names (admins and workspace members), lower-case, once each."""
        return sorted({e.lower() for e in [*self.admins, *(m for w in self.workspaces for m in w.members)]})

    def effective_features(self) -> list[str]:
        return list(self.features) if self.features is not None else list(self.plan_info.features)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a tenant file: where (file, field path, line) and what."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def plan_problems(spec: TenantSpec) -> list[tuple[str, str]]:
    """What the plan does not allow, as (field path, message)."""
    plan = spec.plan_info
    out: list[tuple[str, str]] = []
    low, high = plan.seats
    if not low <= spec.seats <= high:
        out.append(
            ("seats", f"{spec.seats} is outside the {plan.name} plan's {low}–{high} seats (choose another plan)")
        )
    for name, value in spec.quotas.given().items():
        if value > plan.maximum[name]:
            out.append(
                (
                    f"quotas.{name}",
                    f"{value} is above the {plan.name} plan's maximum of {plan.maximum[name]} "
                    f"(allowed: 0–{plan.maximum[name]}, default {plan.defaults[name]})",
                )
            )
    features = spec.effective_features()
    for i, feature in enumerate(spec.features or []):
        if feature not in plan.features:
            out.append(
                (f"features[{i}]", f"{feature!r} is not in the {plan.name} plan (allowed: {', '.join(plan.features)})")
            )
    if len(set(features)) != len(features):
        out.append(("features", "lists a feature twice"))
    if len(set(spec.apps)) != len(spec.apps):
        out.append(("apps", "lists an app twice"))
    admins = [a.lower() for a in spec.admins]
    for i, admin in enumerate(admins):
        if admin in admins[:i]:
            out.append((f"admins[{i}]", f"{spec.admins[i]!r} is listed twice"))
    if len(spec.apps) > plan.max_apps:
        out.append(("apps", f"{len(spec.apps)} apps; the {plan.name} plan allows {plan.max_apps}"))
    if len(spec.workspaces) > plan.max_workspaces:
        out.append(
            ("workspaces", f"{len(spec.workspaces)} workspaces; the {plan.name} plan allows {plan.max_workspaces}")
        )
    seen: set[str] = set()
    quotas = spec.effective_quotas()
    used: dict[QuotaName, int] = {"vcpus": 0, "ram_gib": 0, "gpus": 0, "volume_gib": 0}
    for i, ws in enumerate(spec.workspaces):
        emails = [m.lower() for m in ws.members]
        for j, email in enumerate(emails):
            if email in emails[:j]:
                out.append((f"workspaces[{i}].members[{j}]", f"{ws.members[j]!r} is listed twice"))
        if ws.name in seen:
            out.append((f"workspaces[{i}].name", f"{ws.name!r} is used by another workspace of this tenant"))
        seen.add(ws.name)
        cpu, ram, gpu, vol = WORKSPACE_PROFILES[ws.profile]
        if gpu and not plan.gpu_profiles:
            out.append((f"workspaces[{i}].profile", f"{ws.profile!r} needs GPUs; the {plan.name} plan has none"))
        for key, amount in (("vcpus", cpu), ("ram_gib", ram), ("gpus", gpu), ("volume_gib", vol)):
            used[key] += amount  # type: ignore[index]
    for key, total in used.items():
        if total > quotas[key]:
            out.append(
                (
                    "workspaces",
                    f"the workspaces need {total} {key} together, more than the quota of {quotas[key]}",
                )
            )
    return out
