"""Which stacks a change touches, so a pipeline previews and applies only those.

- a tenant file (added or changed): that tenant; deleted: listed as removed
  (offboarding is its own, deliberate job and never happens by deleting a file);
- a logo: the tenants whose branding uses it;
- the shared tenant program, its components, the tenant model or plan table,
  or the pinned SDK versions: every tenant;
- the platform program or its settings, or the rack facts they are derived
  from (the group_vars/all of the rack inventory that ``platform:inventory``
  names, werkraum/rack/facts.py): the platform stack, first, and then every
  tenant (tenants read its outputs and its ranges).
"""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.tenants.loader import SPEC_KEY, slug_of

# Paths whose change touches every tenant stack.
ALL_TENANTS = (
    "pulumi/tenant/*",
    "werkraum/infra/*",
    "werkraum/tenants/*",
    "requirements.txt",
)
PLATFORM = ("pulumi/platform/*", "werkraum/infra/platform_stack.py", "werkraum/rack/facts.py")


def _rack_facts_patterns(repo: Path) -> tuple[str, ...]:
    """The group_vars/all files of the rack inventories the platform stacks derive their settings from."""
    patterns = []
    for path in sorted((repo / "pulumi" / "platform").glob("Pulumi.*.yaml")):
        try:
            inventory = (yaml.safe_load(path.read_text()) or {}).get("config", {}).get("platform:inventory")
        except (yaml.YAMLError, OSError, AttributeError):
            continue
        if isinstance(inventory, str) and inventory:
            base = inventory.strip("/")
            patterns += [f"{base}/group_vars/all/*", f"{base}/group_vars/all.yml"]
    return tuple(patterns)


@dataclass
class Change:
    platform: bool = False
    tenants: dict[str, str] = field(default_factory=dict)  # slug -> why
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "tenants": sorted(self.tenants),
            "reasons": dict(sorted(self.tenants.items())),
            "removed": sorted(self.removed),
        }


def _git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise MissingToolError("git is not installed", hint="apt-get install git") from None
    if proc.returncode != 0:
        raise WerkraumError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def changed_files(repo: Path, base: str, head: str | None = None) -> list[tuple[str, str]]:
    """(status, path) of files changed since the merge base of ``base`` and ``head`` (default: the work tree)."""
    if _git(repo, "rev-parse", "--is-inside-work-tree").strip() != "true":
        raise WerkraumError(f"{repo} is not a git work tree")
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{base}^{{commit}}"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise WerkraumError(
            f"base {base!r} is not a commit in {repo}",
            hint="fetch it first (CI: `git fetch origin $CI_MERGE_REQUEST_TARGET_BRANCH_NAME`), or give a SHA",
        )
    merge_base = _git(repo, "merge-base", base, head or "HEAD").strip()
    args = ["diff", "--name-status", "--no-renames", merge_base]
    if head:
        args.append(head)
    out = _git(repo, *args)
    files = [tuple(line.split("\t", 1)) for line in out.splitlines() if "\t" in line]
    if not head:  # untracked files of the work tree count as added
        files += [("A", p) for p in _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()]
    return [(s[0], p) for s, p in files]


def _logo_users(stacks: Path) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for path in sorted(stacks.glob("Pulumi.*.yaml")):
        try:
            logo = yaml.safe_load(path.read_text())["config"][SPEC_KEY]["branding"]["logo"]
        except (KeyError, TypeError, yaml.YAMLError, OSError):
            continue
        users.setdefault(str(logo), []).append(slug_of(path))
    return users


def classify(
    files: list[tuple[str, str]], stacks: Path, all_slugs: list[str], rack_facts: tuple[str, ...] = ()
) -> Change:
    change = Change()
    logos = _logo_users(stacks)
    platform = PLATFORM + rack_facts

    def every(why: str) -> None:
        for slug in all_slugs:
            change.tenants.setdefault(slug, why)

    for status, path in files:
        if path.startswith("stacks/Pulumi.") and path.endswith(".yaml"):
            slug = slug_of(Path(path))
            if status == "D":
                change.removed.append(slug)
            else:
                change.tenants[slug] = f"{path} {'added' if status == 'A' else 'changed'}"
        elif path.startswith("stacks/"):
            for slug in logos.get(path.removeprefix("stacks/"), []):
                change.tenants.setdefault(slug, f"{path} changed")
        elif any(fnmatch.fnmatch(path, p) for p in platform):
            change.platform = True
            every(f"platform changed ({path})")
        elif any(fnmatch.fnmatch(path, p) for p in ALL_TENANTS):
            every(f"shared tenant code changed ({path})")
    for slug in change.removed:
        change.tenants.pop(slug, None)
    return change


def changed_stacks(repo: Path, base: str, head: str | None = None) -> Change:
    stacks = repo / "stacks"
    slugs = sorted(slug_of(p) for p in stacks.glob("Pulumi.*.yaml"))
    return classify(changed_files(repo, base, head), stacks, slugs, _rack_facts_patterns(repo))
