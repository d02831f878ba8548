"""The mirror's files tree, in kubespray's offline layout, and its index.

``build`` builds the Kubernetes binaries from the Go module proxy (the recipes in
``werkraum/data/mirror/recipes.toml``, the versions from the pins) and ``assemble``
lays them out as upstream publishes them: single binaries where upstream ships
single binaries, tarballs of the same shape where upstream ships tarballs
(containerd's ``bin/``, the CNI plugins' flat archive, crictl's one-file archive).
``index.json`` at the top lists every file with its size and sha256; the roles read
it first and stop before any change when a file they need is not in it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.mirror import gobuild
from werkraum.mirror.pins import Pins
from werkraum.paths import DATA_DIR, cache_dir

RECIPES = DATA_DIR / "mirror" / "recipes.toml"
INDEX = "index.json"

# Which built binaries make up each mirror file (kubernetes_mirror_files' keys).
# A tarball's members keep upstream's paths inside it.
SINGLE = {"kubeadm": "kubeadm", "kubelet": "kubelet", "kubectl": "kubectl", "runc": "runc"}
TARBALLS: dict[str, dict[str, str]] = {
    "containerd": {
        "bin/containerd": "containerd",
        "bin/containerd-shim-runc-v2": "containerd-shim-runc-v2",
        "bin/ctr": "ctr",
    },
    "cni_plugins": {
        "./bridge": "cni-bridge",
        "./host-local": "cni-host-local",
        "./loopback": "cni-loopback",
        "./portmap": "cni-portmap",
    },
    "crictl": {"crictl": "crictl"},
}


def recipes(pins: Pins) -> dict[str, gobuild.Component]:
    return gobuild.load_components(RECIPES, pins.versions)


def cache() -> gobuild.GoCache:
    return gobuild.GoCache(root=cache_dir() / "mirror" / "go", recipes=RECIPES)


def files_dir() -> Path:
    """The lab's files mirror, served by the service node's mirror as ``kubernetes_files_repo``."""
    return cache_dir() / "mirror" / "files"


def build(pins: Pins, names: Iterable[str] = (), *, force: bool = False) -> list[gobuild.BuildResult]:
    """Build the named binaries (default: all); failures are recorded, the others still build."""
    components = recipes(pins)
    chosen = list(names) or list(components)
    unknown = [n for n in chosen if n not in components]
    if unknown:
        raise WerkraumError(
            f"unknown mirror component(s): {', '.join(unknown)}",
            hint=f"recipes in {RECIPES}: {', '.join(components)}",
        )
    return gobuild.build_all(cache(), (components[n] for n in chosen), force=force)


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tarball(target: Path, members: dict[str, Path]) -> None:
    """A reproducible .tar.gz: fixed owner and time, members in the given order, mode 0755."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, source in members.items():
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = 0o755
            info.mtime = 0
            with source.open("rb") as f:
                tar.addfile(info, f)
    target.write_bytes(gzip.compress(buf.getvalue(), mtime=0))


def assemble(pins: Pins, root: Path | None = None) -> list[Entry]:
    """Lay the built binaries out under ``root`` (default: the lab's files mirror) and write the index.

    Every binary must have been built (``build``); one that was not is named with
    the command that builds it, and nothing is written.
    """
    root = root or files_dir()
    components = recipes(pins)
    built = gobuild.installed(cache(), components.values())
    wanted = set(SINGLE.values()) | {b for members in TARBALLS.values() for b in members.values()}
    missing = sorted(n for n in wanted if built.get(n) is None)
    if missing:
        raise WerkraumError(
            f"the mirror cannot be assembled: not built: {', '.join(missing)}",
            hint=f"werkraum mirror build {' '.join(missing)}",
        )
    # One layout at a time: a second `werkraum mirror build` or `lab up` waits (they share the staging folder).
    with gobuild.exclusive(cache().root, "Go binaries"):
        return _lay_out(pins, root, built)


def _lay_out(pins: Pins, root: Path, built: dict[str, Path | None]) -> list[Entry]:
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for key, relative in pins.files.items():
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if key in SINGLE:
            source = built[SINGLE[key]]
            assert source is not None
            shutil.copyfile(source, target)
            target.chmod(0o755)
        elif key in TARBALLS:
            members = {name: built[binary] for name, binary in TARBALLS[key].items()}
            _tarball(target, {n: p for n, p in members.items() if p is not None})
        else:
            raise WerkraumError(
                f"{pins.source}: kubernetes_mirror_files.{key}: the lab mirror does not know how to make it",
                hint=f"add it to werkraum/mirror/files.py (SINGLE or TARBALLS) and a recipe to {RECIPES}",
            )
    entries = write_index(staging, versions=pins.versions)
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return entries


def held_files(root: Path | None = None) -> dict[str, dict[str, object]]:
    """The files an index lists (path → size and sha256); none when the tree has no index yet."""
    index = (root or files_dir()) / INDEX
    if not index.exists():
        return {}
    try:
        held = json.loads(index.read_text())["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise WerkraumError(
            f"{index}: not an index of the files mirror ({exc})", hint="run `werkraum mirror build` to lay it out again"
        ) from exc
    return dict(held)


def write_index(root: Path, *, versions: dict[str, str] | None = None) -> list[Entry]:
    """Write ``index.json`` over every file below ``root`` (a tree filled from upstream, or ``assemble``'s).

    The roles read it to learn which files the mirror holds and their sha256. An
    empty tree is refused: an index that lists nothing would only move the error
    to the first host.
    """
    if not root.is_dir():
        raise WerkraumError(f"{root}: no such folder", hint="give the top of the files mirror (kubernetes_files_repo)")
    entries = [
        Entry(str(path.relative_to(root)), path.stat().st_size, _sha256(path))
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != INDEX
    ]
    if not entries:
        raise WerkraumError(f"{root}: holds no files to index", hint="fill the mirror first (docs/mirror.md)")
    index = {"files": {e.path: {"size": e.size, "sha256": e.sha256} for e in entries}, "versions": versions or {}}
    (root / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return entries
