"""`werkraum tenant ...`: scaffold, validate, allocate and plan tenant stacks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from werkraum.cli.common import handle_errors
from werkraum.errors import WerkraumError
from werkraum.paths import repo_root

STACKS_OPTION = click.option(
    "--stacks",
    "stacks_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of tenant files (default: stacks/).",
)


@click.group()
def tenant() -> None:
    """Tenants: one file each under stacks/, turned into resources by pulumi/tenant."""


def _fleet(stacks_dir: Path | None) -> Any:
    from werkraum.tenants.fleet import load_fleet

    return load_fleet(stacks_dir.resolve() if stacks_dir else None)


@tenant.command("validate")
@click.argument("slugs", nargs=-1)
@STACKS_OPTION
@handle_errors
def tenant_validate(slugs: tuple[str, ...], stacks_dir: Path | None) -> None:
    """Check tenant files (all by default): fields, plan limits, and clashes across tenants."""
    fleet = _fleet(stacks_dir)
    if not fleet.tenants:
        raise WerkraumError(f"no tenant files (Pulumi.<slug>.yaml) in {fleet.directory}")
    chosen = [fleet.by_slug(s) for s in slugs] if slugs else fleet.tenants
    names = {t.display for t in chosen}
    problems = [p for p in fleet.all_problems if p.file in names]
    for t in chosen:
        mine = [p for p in problems if p.file == t.display]
        mark = click.style("ok", fg="green") if not mine else click.style("INVALID", fg="red")
        plan = f"{t.spec.plan}, {t.spec.seats} seats" if t.spec else "-"
        click.echo(f"{mark:<8} {t.slug:<24} {plan}")
    for p in problems:
        click.echo(f"error: {p}", err=True)
    if problems:
        raise WerkraumError(f"{len(problems)} problem(s) in {len({p.file for p in problems})} tenant file(s)")
    click.echo(f"{len(chosen)} tenant file(s) valid")


@tenant.command("allocate")
@click.argument("slug")
@click.option(
    "--netbox/--no-netbox",
    "use_netbox",
    default=None,
    help="Allocate in NetBox IPAM (default: when NETBOX_API is set); --no-netbox: from the tenant files alone.",
)
@STACKS_OPTION
@handle_errors
def tenant_allocate(slug: str, stacks_dir: Path | None, use_netbox: bool | None) -> None:
    """Give a tenant without network.cidr the next free prefix of the pool, written into its file.

    With NetBox, the prefix is allocated in NetBox's IPAM against a NetBox tenant of
    the same slug (the same prefix again on a second run), and explicit CIDRs of
    all tenant files are checked against NetBox and recorded there.
    """
    from werkraum.netbox.client import wanted
    from werkraum.tenants.scaffold import allocate_network, next_free_in_files

    fleet = _fleet(stacks_dir)
    fleet.by_slug(slug)  # an unknown tenant fails before NetBox is asked
    if wanted(use_netbox):
        from werkraum.netbox.ipam import allocate_from_netbox

        cidr, changed, url = allocate_from_netbox(slug, fleet)
        source = f"NetBox at {url}"
    else:
        source = "the tenant files"
        cidr, changed = allocate_network(slug, fleet, next_free_in_files)
    if changed:
        click.echo(f"{slug}: network.cidr {cidr} allocated from {source} and written to its file")
    else:
        click.echo(f"{slug}: network.cidr {cidr} (already in its file; checked against {source})")


def _ask(value: Any, label: str, flag: str, missing: list[str], **prompt: Any) -> Any:
    if value is not None:
        return value
    if sys.stdin.isatty():
        return click.prompt(label, **prompt)
    missing.append(flag)
    return None


@tenant.command("new")
@click.argument("slug")
@click.option("--name", help="Display name, e.g. 'Acme GmbH'.")
@click.option("--plan", type=click.Choice(["bronze", "silver", "gold", "platinum"]))
@click.option("--seats", type=int)
@click.option("--contact-name")
@click.option("--contact-email")
@click.option("--admins", help="Comma-separated e-mail addresses of the tenant's admins (default: the contact).")
@click.option("--domain", help="The tenant's domain (a CNAME onto the platform).")
@click.option("--cidr", help="Tenant network; the next free prefix of the pool when omitted.")
@click.option("--features", help="Comma-separated; the plan's features when omitted.")
@click.option("--apps", default="", help="Comma-separated connectors, e.g. hubspot,sharepoint.")
@click.option("--quota", "quotas", multiple=True, help="NAME=VALUE, e.g. --quota gpus=2 (repeatable).")
@click.option("--workspace", "workspaces", multiple=True, help="NAME:PROFILE[:member,member] (repeatable).")
@click.option("--primary-color", default="#1E3A8A")
@click.option("--secondary-color", default="#60A5FA")
@click.option("--assistant-name")
@click.option("--welcome-message")
@click.option("--logo", help="Path under stacks/ (a monogram logo is generated when omitted).")
@click.option(
    "--netbox/--no-netbox",
    "use_netbox",
    default=None,
    help="Without --cidr: allocate the network in NetBox IPAM (default: when NETBOX_API is set).",
)
@STACKS_OPTION
@handle_errors
def tenant_new(slug: str, stacks_dir: Path | None, **opts: Any) -> None:
    """Scaffold stacks/Pulumi.SLUG.yaml from flags (or prompts on a terminal); it validates and plans as written."""
    from werkraum.netbox.client import wanted
    from werkraum.tenants.scaffold import NewTenant, comma_list, create_tenant, parse_quotas, parse_workspaces

    missing: list[str] = []
    name = _ask(opts["name"], "Display name", "--name", missing)
    plan = _ask(opts["plan"], "Plan", "--plan", missing, type=click.Choice(["bronze", "silver", "gold", "platinum"]))
    seats = _ask(opts["seats"], "Seats", "--seats", missing, type=int)
    contact_name = _ask(opts["contact_name"], "Contact name", "--contact-name", missing)
    contact_email = _ask(opts["contact_email"], "Contact e-mail", "--contact-email", missing)
    domain = _ask(opts["domain"], "Domain", "--domain", missing)
    if missing:
        raise WerkraumError(
            f"tenant new {slug}: missing {', '.join(missing)}",
            hint="give them as flags, or run on a terminal to be asked",
        )
    new = NewTenant(
        slug=slug,
        name=name,
        plan=plan,
        seats=seats,
        contact_name=contact_name,
        contact_email=contact_email,
        domain=domain,
        cidr=opts["cidr"],
        features=comma_list(opts["features"]) if opts["features"] else None,
        apps=comma_list(opts["apps"]),
        quotas=parse_quotas(opts["quotas"]),
        primary_color=opts["primary_color"],
        secondary_color=opts["secondary_color"],
        assistant_name=opts["assistant_name"],
        welcome_message=opts["welcome_message"],
        logo=opts["logo"],
        workspaces=parse_workspaces(opts["workspaces"]),
        admins=comma_list(opts["admins"]),
    )
    started = time.monotonic()
    fleet = _fleet(stacks_dir)
    if new.cidr is None and wanted(opts["use_netbox"]):
        from werkraum.netbox.ipam import new_tenant_prefix

        with new_tenant_prefix(slug, name, fleet) as (new.cidr, url):  # given back if the file is not written
            click.echo(f"{slug}: network.cidr {new.cidr} from NetBox at {url}", err=True)
            path = create_tenant(new, fleet)
    else:
        path = create_tenant(new, fleet)
    click.echo(f"wrote {path} (valid, {time.monotonic() - started:.2f}s); next: werkraum tenant plan {slug}")


@tenant.command("changed")
@click.option("--base", required=True, help="Compare against this ref (the merge base with HEAD is used).")
@click.option("--head", default=None, help="The change's last commit (default: the work tree).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["lines", "json", "gitlab-pipeline", "github-matrix"]),
    default="lines",
    help="lines: one slug a line; json; a GitLab child pipeline; a GitHub Actions matrix.",
)
@click.option("--action", type=click.Choice(["preview", "up"]), default="preview", help="For gitlab-pipeline.")
@handle_errors
def tenant_changed(base: str, head: str | None, fmt: str, action: str) -> None:
    """List the stacks a change touches: its tenant files, or all tenants when shared code or plans change."""
    from werkraum.tenants.changed import changed_stacks
    from werkraum.tenants.pipelines import github_matrix, gitlab_child_pipeline

    change = changed_stacks(repo_root(), base, head)
    if fmt == "json":
        click.echo(json.dumps(change.to_dict(), indent=2))
    elif fmt == "gitlab-pipeline":
        click.echo(gitlab_child_pipeline(change, action), nl=False)
    elif fmt == "github-matrix":
        click.echo(json.dumps(github_matrix(change)))
    else:
        if change.platform:
            click.echo("platform")
        for slug in sorted(change.tenants):
            click.echo(slug)
        for slug in change.removed:
            click.echo(f"# {slug}: tenant file deleted; offboard it with the offboarding job", err=True)
        for slug, why in sorted(change.tenants.items()):
            click.echo(f"# {slug}: {why}", err=True)


def _valid_tenant(slug: str, stacks_dir: Path | None, why: str = "") -> tuple[Any, Any]:
    """The fleet and the tenant's file; a tenant with any problem (its own or across tenants) is refused."""
    fleet = _fleet(stacks_dir)
    tenant_file = fleet.by_slug(slug)
    problems = [p for p in fleet.all_problems if p.file == tenant_file.display]
    if problems:
        raise WerkraumError(f"tenant {slug} is not valid{why}:\n  " + "\n  ".join(map(str, problems)))
    return fleet, tenant_file


def _echo_line(line: str) -> None:
    click.echo(line)


def _driver(slug: str, fleet: Any) -> Any:
    """The driver of the tenant's stack, planning its policy check with the fleet's files and platform."""
    from werkraum.infra.driver import tenant as tenant_driver

    return tenant_driver(slug, stacks_dir=fleet.directory, platform=fleet.platform, on_output=_echo_line)


@tenant.command("apply")
@click.argument("slug")
@STACKS_OPTION
@handle_errors
def tenant_apply(slug: str, stacks_dir: Path | None) -> None:
    """`pulumi up` of one tenant's stack through the driver (needs a Pulumi CLI).

    Werkraum's policy rules run first, over the tenant's offline plan: a broken rule
    refuses before the engine is started (so also without a Pulumi CLI).
    """
    fleet, _ = _valid_tenant(slug, stacks_dir)
    applied = _driver(slug, fleet).up()
    click.echo(json.dumps(applied.shown(), indent=2, default=str))


@tenant.command("destroy")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for the slug to be typed again (for CI).")
@click.option("--remove-stack", is_flag=True, help="Also remove the stack from the backend once it is empty.")
@STACKS_OPTION
@handle_errors
def tenant_destroy(slug: str, yes: bool, remove_stack: bool, stacks_dir: Path | None) -> None:
    """`pulumi destroy` of one tenant's stack; refuses while protected resources remain."""
    from werkraum.infra.driver import require_pulumi

    fleet = _fleet(stacks_dir)
    fleet.by_slug(slug)
    require_pulumi()
    if not yes:
        if not sys.stdin.isatty():
            raise WerkraumError(
                f"destroy {slug}: confirmation needed", hint="run on a terminal to type the slug, or pass --yes (CI)"
            )
        typed = click.prompt(f"This deletes the resources of tenant {slug}. Type the slug to confirm")
        if typed != slug:
            raise WerkraumError(f"confirmation {typed!r} does not match {slug!r}: nothing was destroyed")
    driver = _driver(slug, fleet)
    driver.destroy()
    if remove_stack:
        driver.remove()
        click.echo(f"stack {slug} destroyed and removed; delete its file in a PR")
        return
    click.echo(
        f"stack {slug} destroyed; remove it with `werkraum tenant destroy {slug} --remove-stack` "
        "and delete its file in a PR"
    )


@tenant.command("preview")
@click.argument("slug")
@STACKS_OPTION
@handle_errors
def tenant_preview(slug: str, stacks_dir: Path | None) -> None:
    """`pulumi preview --diff` of one tenant's stack, after Werkraum's policy rules (CI's preview job)."""
    fleet, _ = _valid_tenant(slug, stacks_dir, ", so it is not previewed")
    _driver(slug, fleet).preview()


@tenant.command("drift")
@click.argument("slug")
@STACKS_OPTION
@handle_errors
def tenant_drift(slug: str, stacks_dir: Path | None) -> None:
    """Refresh and preview one tenant's stack, expecting no change: exit 0 no drift, 3 drifted, else an error."""
    fleet, _ = _valid_tenant(slug, stacks_dir, ", so it is not checked")
    drift_exit(_driver(slug, fleet))


def drift_exit(driver: Any) -> None:
    """Exit 3 when the stack drifted; an engine failure exits with the engine's own code (never 3)."""
    from werkraum.infra.driver import EngineError

    try:
        drift = driver.drift()
    except EngineError as exc:
        exc.exit_code = exc.engine_code if exc.engine_code not in (None, 0, 3) else 1
        raise
    if drift.drifted:
        click.echo(f"{driver.label} drifted: the cloud differs from its code (the engine's output is above)", err=True)
        sys.exit(3)
    click.echo(f"{driver.label}: no drift", err=True)


@tenant.command("offboard")
@click.argument("slug")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the export (default: offboard-SLUG/ in the checkout).",
)
@handle_errors
def tenant_offboard(slug: str, out_dir: Path | None) -> None:
    """Offboard a tenant whose file says `tenant:offboard: true` (the protected CI job).

    Exports its outputs and state into --out (outputs.json, state.json), applies
    (lifting protection), destroys its resources and removes the stack. Refused
    (exit 2) unless the file exists and is marked.
    """
    from werkraum.infra.driver import tenant as tenant_driver

    driver = tenant_driver(slug, on_output=_echo_line)
    out = out_dir or repo_root() / f"offboard-{slug}"
    driver.check_offboard_marked()  # exit 2 before anything else
    _valid_tenant(slug, None, ", so it is not offboarded")
    files = driver.offboard(out)
    click.echo(
        f"offboard: {slug} destroyed; export in {out} ({', '.join(f.name for f in files)}). "
        "Delete its file in a pull request."
    )


@tenant.command("plan")
@click.argument("slug")
@click.option("--offline", is_flag=True, help="Compute the plan offline even if a Pulumi CLI is installed.")
@click.option("--json", "as_json", is_flag=True, help="Print the offline plan as JSON.")
@STACKS_OPTION
@handle_errors
def tenant_plan(slug: str, offline: bool, as_json: bool, stacks_dir: Path | None) -> None:
    """Show what the tenant's stack declares: the driver's preview with a Pulumi CLI, else an offline plan."""
    from werkraum.infra.driver import pulumi_cli

    fleet, tenant_file = _valid_tenant(slug, stacks_dir, ", so it is not planned")
    cli = pulumi_cli()
    if cli and not offline:
        click.echo(f"running pulumi preview for stack {slug} (pulumi/tenant, through the driver)", err=True)
        _driver(slug, fleet).preview()
        return
    from werkraum.infra.plan import offline_plan, plan_document, plan_lines

    started = time.monotonic()
    plan = offline_plan(tenant_file, fleet.platform, fleet.directory)
    took = time.monotonic() - started
    if as_json:
        click.echo(json.dumps(plan_document(plan), indent=2, default=str))
        return
    why = "--offline" if cli else "no Pulumi CLI on PATH"
    click.secho(
        f"OFFLINE PLAN of stack {slug} ({why}): what the program declares, computed with pulumi.runtime.set_mocks.",
        bold=True,
    )
    click.echo("No engine, provider or cloud was asked: ids are placeholders and drift is not seen.\n")
    for line in plan_lines(plan, took):
        click.echo(line)
    click.echo("outputs:")
    click.echo(json.dumps(plan.outputs, indent=2, default=str))


@tenant.command("seats")
@click.argument("slugs", nargs=-1)
@click.option(
    "--platform",
    "platform_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The platform settings whose Keycloak to ask (default: pulumi/platform/Pulumi.rack.yaml).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@STACKS_OPTION
@handle_errors
def tenant_seats(slugs: tuple[str, ...], platform_path: Path | None, fmt: str, stacks_dir: Path | None) -> None:
    """Seats licensed, users and users signed in during the last 30 days, per tenant, read from Keycloak."""
    from werkraum.identity.seats import ACTIVE_DAYS, read_seats
    from werkraum.tenants.fleet import load_fleet
    from werkraum.tenants.platform import load_platform

    platform = load_platform(platform_path.resolve() if platform_path else None)
    fleet = load_fleet(stacks_dir.resolve() if stacks_dir else None, platform)
    chosen = [fleet.by_slug(s) for s in slugs] if slugs else fleet.tenants
    invalid = [t.display for t in chosen if t.spec is None]
    if invalid:
        raise WerkraumError(f"not valid: {', '.join(invalid)}", hint="`werkraum tenant validate` names the problems")
    if not chosen:
        raise WerkraumError(f"no tenant files (Pulumi.<slug>.yaml) in {fleet.directory}")
    seats = read_seats(platform, [(t.slug, t.spec.seats) for t in chosen if t.spec is not None])
    if fmt == "json":
        click.echo(json.dumps({"active_days": ACTIVE_DAYS, "tenants": [s.as_dict() for s in seats]}, indent=2))
        return
    click.echo(f"{'tenant':<24} {'licensed':>8} {'users':>6} {f'active {ACTIVE_DAYS}d':>10}")
    for s in seats:
        click.echo(f"{s.slug:<24} {s.seats_licensed:>8} {s.users:>6} {s.active_30d:>10}")
