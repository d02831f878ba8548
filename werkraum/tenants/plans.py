"""The plan table: the one place where plans, their defaults and their limits are written.

A tenant file names a plan; the plan gives every quota and the feature set,
and a file may override quotas up to the plan's maximum and pick features
that the plan includes. docs/tenants.md documents this table (a test keeps the
two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlanName = Literal["bronze", "silver", "gold", "platinum"]
QuotaName = Literal["vcpus", "ram_gib", "gpus", "volume_gib", "instances", "floating_ips"]

QUOTA_NAMES: tuple[QuotaName, ...] = ("vcpus", "ram_gib", "gpus", "volume_gib", "instances", "floating_ips")

# Everything a tenant can switch on: feature -> the app it deploys.
FEATURES: dict[str, str] = {
    "chat": "AI assistant chat with the tenant's models",
    "files": "document store with search over the tenant's files",
    "tables": "shared tables and small databases",
    "meetings": "video meetings with transcription",
    "scheduler": "scheduled jobs and automations",
    "notebooks": "Jupyter workspaces (CPU or GPU)",
}

# Third-party connectors a tenant can enable (credentials are set by the tenant in the UI).
APPS: tuple[str, ...] = (
    "confluence",
    "hubspot",
    "jira",
    "nextcloud",
    "salesforce",
    "sharepoint",
    "slack",
    "teams",
)

# Workspace profiles: profile -> (vCPU, RAM GiB, GPUs, volume GiB) per workspace.
WORKSPACE_PROFILES: dict[str, tuple[int, int, int, int]] = {
    "notebook-cpu": (2, 8, 0, 20),
    "notebook-gpu": (8, 32, 1, 100),
    "analytics": (4, 16, 0, 50),
}


@dataclass(frozen=True)
class Plan:
    name: PlanName
    price_eur_per_seat: int
    seats: tuple[int, int]  # min, max licensed users
    defaults: dict[QuotaName, int]
    maximum: dict[QuotaName, int]
    features: tuple[str, ...]  # included (also the default set)
    max_apps: int
    max_workspaces: int
    gpu_profiles: bool  # may use GPU workspace profiles

    def quotas(self, overrides: dict[QuotaName, int]) -> dict[QuotaName, int]:
        return {name: overrides.get(name, self.defaults[name]) for name in QUOTA_NAMES}


def _q(  # noqa: PLR0917 - one positional per column of the plan table
    vcpus: int, ram_gib: int, gpus: int, volume_gib: int, instances: int, floating_ips: int
) -> dict[QuotaName, int]:
    return {
        "vcpus": vcpus,
        "ram_gib": ram_gib,
        "gpus": gpus,
        "volume_gib": volume_gib,
        "instances": instances,
        "floating_ips": floating_ips,
    }


PLANS: dict[str, Plan] = {
    "bronze": Plan(
        name="bronze",
        price_eur_per_seat=20,
        seats=(1, 50),
        defaults=_q(8, 32, 0, 250, 4, 1),
        maximum=_q(16, 64, 0, 500, 8, 1),
        features=("chat", "files"),
        max_apps=2,
        max_workspaces=2,
        gpu_profiles=False,
    ),
    "silver": Plan(
        name="silver",
        price_eur_per_seat=24,
        seats=(10, 250),
        defaults=_q(32, 128, 1, 1000, 10, 2),
        maximum=_q(64, 256, 1, 2000, 20, 4),
        features=("chat", "files", "tables", "scheduler"),
        max_apps=5,
        max_workspaces=5,
        gpu_profiles=True,
    ),
    "gold": Plan(
        name="gold",
        price_eur_per_seat=27,
        seats=(50, 1000),
        defaults=_q(64, 256, 2, 2000, 20, 2),
        maximum=_q(128, 512, 4, 5000, 40, 8),
        features=("chat", "files", "tables", "meetings", "scheduler", "notebooks"),
        max_apps=10,
        max_workspaces=20,
        gpu_profiles=True,
    ),
    "platinum": Plan(
        name="platinum",
        price_eur_per_seat=30,
        seats=(200, 5000),
        defaults=_q(128, 512, 4, 10000, 50, 4),
        maximum=_q(256, 1024, 8, 20000, 100, 16),
        features=("chat", "files", "tables", "meetings", "scheduler", "notebooks"),
        max_apps=len(APPS),
        max_workspaces=50,
        gpu_profiles=True,
    ),
}


def plan_table_markdown() -> str:
    """The plan table as docs/tenants.md shows it."""
    head = "| plan | EUR/seat/month | seats | " + " | ".join(QUOTA_NAMES) + " | features | apps | workspaces |"
    rows = [head, "|" + " --- |" * (len(QUOTA_NAMES) + 6)]
    for p in PLANS.values():
        quotas = " | ".join(f"{p.defaults[q]} (≤ {p.maximum[q]})" for q in QUOTA_NAMES)
        rows.append(
            f"| {p.name} | {p.price_eur_per_seat} | {p.seats[0]}–{p.seats[1]} | {quotas} | "
            f"{', '.join(p.features)} | ≤ {p.max_apps} | ≤ {p.max_workspaces} |"
        )
    return "\n".join(rows)
