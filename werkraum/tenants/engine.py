"""`werkraum tenant apply/destroy`: the Pulumi Automation API, for people at a workstation.

Both need a Pulumi CLI (the Automation API drives it) and refuse to start
without one, saying how to get it. `destroy` never removes protected resources:
it refuses while the stack holds any, and points to the offboarding runbook.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.paths import repo_root

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/, the version in scripts/ci/setup), "
    "or build it from the Go module proxy (scripts/build-engine pulumi, then put ~/.cache/werkraum/engine/bin "
    "on PATH), or offline: use `werkraum tenant plan SLUG` for an offline plan"
)


def require_pulumi() -> str:
    path = shutil.which("pulumi")
    if not path:
        raise MissingToolError(
            "no Pulumi CLI on PATH: apply and destroy drive it through the Automation API", INSTALL_HINT
        )
    return path


def _stack(slug: str) -> Any:
    from pulumi import automation as auto

    work_dir = repo_root() / "pulumi" / "tenant"
    try:
        return auto.create_or_select_stack(stack_name=slug, work_dir=str(work_dir))
    except auto.CommandError as exc:
        raise WerkraumError(f"pulumi could not select stack {slug}: {str(exc).strip()[-400:]}") from None


def apply(slug: str, on_output: Callable[[str], None] = print) -> dict[str, Any]:
    stack = _stack(slug)
    from pulumi import automation as auto

    try:
        result = stack.up(on_output=on_output, color="never")
    except auto.CommandError as exc:
        raise WerkraumError(f"pulumi up of {slug} failed: {str(exc).strip()[-600:]}") from None
    return {k: v.value for k, v in result.outputs.items()}


def protected_resources(state: dict[str, Any]) -> list[str]:
    resources = state.get("deployment", {}).get("resources", []) or []
    return [str(r.get("urn", "?")).rsplit("::", 1)[-1] for r in resources if r.get("protect")]


def destroy(slug: str, on_output: Callable[[str], None] = print) -> None:
    stack = _stack(slug)
    from pulumi import automation as auto

    state = stack.export_stack()
    protected = protected_resources({"deployment": state.deployment})
    if protected:
        raise WerkraumError(
            f"stack {slug} holds protected resources ({', '.join(protected)}): destroy would lose tenant data",
            hint="offboard as docs/tenants.md says: export the data, set `tenant:offboard: true` in its file, "
            f"`werkraum tenant apply {slug}`, then destroy",
        )
    try:
        stack.destroy(on_output=on_output, color="never")
    except auto.CommandError as exc:
        raise WerkraumError(f"pulumi destroy of {slug} failed: {str(exc).strip()[-600:]}") from None
