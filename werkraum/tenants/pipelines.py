"""Pipeline pieces generated from a change: a GitLab child pipeline, a GitHub Actions matrix.

Each changed stack gets a job of its own that holds the stack's lock
(GitLab `resource_group`, GitHub `concurrency`), so two pipelines never run
one stack at the same time; the platform stack runs first when it changed.
"""

from __future__ import annotations

from typing import Any

import yaml

from werkraum.tenants.changed import Change

ACTIONS = ("preview", "up")


def gitlab_child_pipeline(change: Change, action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")

    def base() -> dict[str, Any]:
        return {
            "image": "$WERKRAUM_CI_IMAGE",
            "before_script": ["scripts/ci/setup"],
            "interruptible": action == "preview",
        }

    pipeline: dict[str, Any] = {
        "stages": ["platform", "tenants"],
        "variables": {"WERKRAUM_CI_IMAGE": "python:3.12-bookworm"},
    }
    if change.platform:
        pipeline["platform"] = {
            **base(),
            "stage": "platform",
            "resource_group": "pulumi-platform-rack",
            "script": [f"scripts/ci/pulumi-stack {action} platform rack"],
        }
    for slug in sorted(change.tenants):
        job: dict[str, Any] = {
            **base(),
            "stage": "tenants",
            "resource_group": f"pulumi-tenant-{slug}",
            "script": [f"scripts/ci/pulumi-stack {action} tenant {slug}"],
            "artifacts": {"when": "always", "paths": [f"pulumi-{action}-{slug}.txt"]},
        }
        if change.platform:
            job["needs"] = ["platform"]
        pipeline[f"{action}:{slug}"] = job
    if not change.platform and not change.tenants:
        pipeline["nothing-changed"] = {
            "stage": "tenants",
            "image": "$WERKRAUM_CI_IMAGE",
            "script": ["echo 'No tenant or platform stack is touched by this change.'"],
        }
    return yaml.safe_dump(pipeline, sort_keys=False)


def github_matrix(change: Change) -> dict[str, Any]:
    """`{"platform": bool, "stack": [slugs]}` for `strategy.matrix` (an empty list is replaced by a no-op)."""
    return {"platform": change.platform, "stack": sorted(change.tenants), "any": bool(change.tenants)}
