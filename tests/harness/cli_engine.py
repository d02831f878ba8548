"""`werkraum engine`: build the Pulumi engine (the CLI and its provider plugins) from the Go module proxy."""

from __future__ import annotations

import click

from werkraum.cli.common import handle_errors
from werkraum.cli.mirror import report_builds
from werkraum.errors import WerkraumError


@click.group()
def engine() -> None:
    """The Pulumi CLI and its provider plugins, built from Go modules (werkraum/data/engine/versions.toml)."""


@engine.command("build")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Rebuild even when a build of the same recipe is cached.")
@handle_errors
def engine_build(names: tuple[str, ...], force: bool) -> None:
    """Build NAMES (default: every pinned component) into ~/.cache/werkraum/engine.

    Each step prints its duration. A component the proxy does not serve, or that
    fails to build, is named with its module, version and the error; the others
    still build, and the command exits non-zero.
    """
    from werkraum.mirror import engine as eng

    components = eng.load_components()
    unknown = [n for n in names if n not in components]
    if unknown:
        raise WerkraumError(
            f"unknown engine component(s): {', '.join(unknown)}",
            hint=f"pinned in {eng.VERSIONS_FILE}: {', '.join(components)}",
        )
    chosen = [components[n] for n in names] if names else list(components.values())
    results = eng.build_all(chosen, force=force)
    click.echo(f"put on PATH: {eng.bin_dir()}")
    report_builds(results, eng.VERSIONS_FILE)


@engine.command("status")
@handle_errors
def engine_status() -> None:
    """Which pinned components are built (nothing is built or downloaded)."""
    from werkraum.mirror import engine as eng

    components = eng.load_components()
    for name, path in eng.installed(components.values()).items():
        c = components[name]
        click.echo(f"{name:<16} {c.version:<36} {str(path) if path else 'not built'}")
    click.echo(f"PATH entry: {eng.bin_dir()}")
