"""`werkraum mirror`: the artifact mirror's binaries, built from the Go module proxy, in kubespray's layout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from werkraum.cli.common import handle_errors
from werkraum.errors import WerkraumError
from werkraum.mirror.gobuild import BuildResult
from werkraum.paths import repo_root

if TYPE_CHECKING:
    from werkraum.mirror.files import Entry
    from werkraum.mirror.pins import Pins


def report_builds(results: list[BuildResult], pins: Path) -> None:
    """One line per component (cached, built or FAILED, with seconds); an error naming each failure.

    Shared by `werkraum mirror build` and the harness's `werkraum engine build`.
    """
    width = max([len(r.component.name) for r in results] + [9]) + 2
    vwidth = max([len(r.component.version) for r in results] + [7]) + 2
    click.echo(f"\n{'component':<{width}} {'version':<{vwidth}} {'result':<8} seconds")
    for r in results:
        state = "cached" if r.cached else ("built" if r.ok else "FAILED")
        click.echo(f"{r.component.name:<{width}} {r.component.version:<{vwidth}} {state:<8} {r.seconds:.1f}")
        if r.ok and r.component.wants:
            click.echo(f"{'':<{width}} note: the Python side wants {r.component.wants}")
    failed = [r for r in results if not r.ok]
    if failed:
        named = ", ".join(f"{r.component.name} ({r.component.module}@{r.component.version})" for r in failed)
        raise WerkraumError(f"not built: {named}", hint=f"the error of each is printed above; {pins} pins the versions")


def build_mirror(pinned: Pins, names: tuple[str, ...] = (), *, force: bool = False) -> list[Entry] | None:
    """Build the binaries (cached), report each, and lay out the files mirror when all were asked for.

    `werkraum mirror build` and `werkraum lab up` (before it fills the lab's mirror) run this.
    """
    from werkraum.mirror import files

    results = files.build(pinned, names, force=force)
    report_builds(results, pinned.source)
    return None if names else files.assemble(pinned)


@click.group()
def mirror() -> None:
    """The Kubernetes binaries for the mirror (versions: roles/kubernetes_defaults)."""


@mirror.command("build")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Rebuild even when a build of the same recipe is cached.")
@handle_errors
def mirror_build(names: tuple[str, ...], force: bool) -> None:
    """Build NAMES (default: every recipe) from the Go module proxy, then lay out the files mirror.

    Builds are cached in ~/.cache/werkraum/mirror/go; the files tree (kubespray's
    offline layout, with index.json) is written to ~/.cache/werkraum/mirror/files
    once every binary it holds is built. A component that fails is named with its
    module, version and error; the others still build, and the exit is non-zero.
    """
    from werkraum.mirror import files, pins

    entries = build_mirror(pins.load(repo_root()), names, force=force)
    if entries is not None:
        click.echo(f"\nfiles mirror: {files.files_dir()} ({len(entries)} files, index.json)")


@mirror.command("images")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Rebuild even when the image of the same binaries and spec exists.")
@handle_errors
def mirror_images(names: tuple[str, ...], force: bool) -> None:
    """Build NAMES (default: every image) from the mirror's binaries, under their upstream names.

    Each image goes into podman's store and is saved as an OCI archive in
    ~/.cache/werkraum/mirror/images. A binary that is not built yet is named with
    the `werkraum mirror build` command that builds it.
    """
    from werkraum.mirror import images, pins

    pinned = pins.load(repo_root())
    for ref, archive, cached in images.build_all(pinned, list(names) or None, force=force):
        click.echo(f"{ref:<64} {'cached' if cached else 'built':<7} {archive}")


@mirror.command("push")
@click.argument("names", nargs=-1)
@click.option(
    "--registry",
    "repo",
    required=True,
    help="The registry's push site (HOST:PORT, optionally /PATH; roles/registry's registry_push_port, 5443): "
    "the same repositories the nodes pull from its pull site (kubernetes_image_repo).",
)
@click.option(
    "--creds",
    envvar="WERKRAUM_REGISTRY_CREDS",
    default=None,
    help="A push user's USER:PASSWORD (roles/registry's registry_push_users; the password is "
    "/etc/docker/registry/secrets/USER-password on the service node). Also $WERKRAUM_REGISTRY_CREDS.",
)
@click.option(
    "--cert-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="A folder with the CA (ca.crt) that signed the registry's certificate (default: the system's CAs).",
)
@handle_errors
def mirror_push(names: tuple[str, ...], repo: str, creds: str | None, cert_dir: Path | None) -> None:
    """Push NAMES (default: every pinned image) from podman's store to the registry, under their upstream paths.

    `registry.k8s.io/kube-apiserver:v1.37.2` goes to `REGISTRY/kube-apiserver:v1.37.2`,
    as the containerd role's hosts.toml asks for it. The lab's registry:
    `werkraum lab mirror`. On a rack, `skopeo copy` from upstream does the same (docs/mirror.md).
    """
    from werkraum.mirror import pins, push

    target = push.PushTarget(repo, creds)
    for item in push.push_images(pins.load(repo_root()), target, cert_dir=cert_dir, names=list(names) or None):
        click.echo(f"{item.source:<64} -> {item.target}")


@mirror.command("index")
@click.argument("folder", type=click.Path(path_type=Path))
@handle_errors
def mirror_index(folder: Path) -> None:
    """Write FOLDER/index.json: every file of a files mirror with its size and sha256.

    Run it once on a mirror filled from upstream (kubespray's offline lists); the
    lab's mirror writes its own. The Kubernetes roles read the index before any
    change and stop, naming the file, when the mirror lacks one.
    """
    from werkraum.mirror import files

    entries = files.write_index(folder)
    click.echo(f"{folder / files.INDEX}: {len(entries)} files")


@mirror.command("status")
@handle_errors
def mirror_status() -> None:
    """Which binaries are built, and which files the mirror's index holds (nothing is built)."""
    from werkraum.mirror import files, gobuild, pins

    pinned = pins.load(repo_root())
    components = files.recipes(pinned)
    for name, path in gobuild.installed(files.cache(), components.values()).items():
        click.echo(f"{name:<26} {components[name].version:<10} {path if path else 'not built'}")
    held = files.held_files()
    for key, relative in pinned.files.items():
        click.echo(f"file {key:<21} {'in the mirror' if relative in held else 'missing'}  {relative}")
