"""The lab's STAND-IN app image: one small program under every app image name the tenant stacks ask for.

The tenant program deploys ``<image_registry>/<feature>:<APP_VERSION>`` and
``<image_registry>/workspace-<profile>:<APP_VERSION>``; the real apps behind those
names are a later piece of work (the app catalogue). Until then the lab builds
``werkraum/data/lab/stand-in-app`` (Go, no dependencies, static), puts it into a
``FROM scratch`` root filesystem and tags it under each of those names, so the
tenants' Deployments run pods that answer ``/healthz`` on port 8080 as uid 10001
with a read-only root. The image says what it is: its page is headed STAND-IN and
it carries the label ``werkraum.stand-in=true``. Nothing counts it as an app.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from werkraum.errors import WerkraumError, require_tool
from werkraum.infra.tenant_apps import APP_VERSION, FEATURE_PATHS
from werkraum.lab import image as lab_image
from werkraum.lab import podman
from werkraum.mirror.images import static_rootfs
from werkraum.mirror.pins import mirrored
from werkraum.mirror.push import PushTarget, push_refs
from werkraum.paths import cache_dir, repo_root
from werkraum.progress import say, step
from werkraum.tenants.plans import WORKSPACE_PROFILES

SOURCE = Path("werkraum") / "data" / "lab" / "stand-in-app"
BINARY = "stand-in-app"
LABEL = "werkraum.stand-in"


def image_names() -> list[str]:
    """Every app image name (without the registry) the tenant program can ask for."""
    return [f"{feature}:{APP_VERSION}" for feature in FEATURE_PATHS] + [
        f"workspace-{profile}:{APP_VERSION}" for profile in WORKSPACE_PROFILES
    ]


def _source_digest(source: Path) -> str:
    blob = b"".join(p.name.encode() + p.read_bytes() for p in sorted(source.iterdir()) if p.is_file())
    return hashlib.sha256(blob).hexdigest()[:12]


def build_binary() -> tuple[Path, str]:
    """The stand-in's static binary (cached by its source's digest) and that digest."""
    source = repo_root() / SOURCE
    digest = _source_digest(source)
    out = cache_dir() / "mirror" / "stand-in" / digest / BINARY
    if out.exists():
        return out, digest
    go = require_tool("go", "it builds the lab's stand-in app", hint="install Go 1.26 (README)")
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOWORK": "off", "GOFLAGS": "-mod=mod"}
    build = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        out.unlink(missing_ok=True)
        raise WerkraumError(f"the stand-in app in {SOURCE} did not build: {build.stderr.strip()[-400:]}")
    return out, digest


@dataclass(frozen=True)
class StandIn:
    """The stand-in image in podman's store: one image, tagged under every app name of ``image_registry``."""

    image_registry: str
    digest: str

    @property
    def refs(self) -> dict[str, str]:
        """App image name → the reference a pod asks for (``registry.example/werkraum/chat:1.4.2``)."""
        return {name: f"{self.image_registry.rstrip('/')}/{name}" for name in image_names()}


def build(image_registry: str) -> StandIn:
    """Build the image (once per source digest) and tag it under every app name of ``image_registry``."""
    binary, digest = build_binary()
    refs = StandIn(image_registry, digest).refs
    first = next(iter(refs.values()))
    if podman.image_labels(first).get(LABEL) != digest:
        work = cache_dir() / "image-build"
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp, step(f"Building the lab's stand-in app image {first}"):
            root = Path(tmp) / "rootfs"
            static_rootfs(root)
            shutil.copyfile(binary, root / BINARY)
            (root / BINARY).chmod(0o755)
            changes = (
                f'ENTRYPOINT ["/{BINARY}"]',
                "USER 10001:10001",
                f"LABEL {LABEL}={digest}",
                "LABEL org.opencontainers.image.description="
                '"STAND-IN for a tenant app in the Werkraum lab (werkraum/data/lab/stand-in-app); not the app"',
            )
            lab_image.import_rootfs(root, first, changes, what=f"the stand-in image {first}", numeric_owner=True)
    for ref in refs.values():
        if ref != first:
            podman.podman("tag", first, ref)
    return StandIn(image_registry, digest)


def push(stand_in: StandIn, to: PushTarget, cert_dir: Path) -> list[str]:
    """Push every tag to the lab's registry (its push site ``to``) under the path a pod's pull maps to.

    ``registry.example/werkraum/chat:1.4.2`` goes to ``repo/werkraum/chat:1.4.2``: the
    containerd role's hosts.toml for the platform registry's name points at ``repo``.
    """
    pairs = [(ref, mirrored(ref, to.repo)) for ref in stand_in.refs.values()]
    pushed = push_refs(pairs, to, cert_dir=cert_dir, again="run `werkraum lab tenants` again")
    say(f"    the stand-in app ({stand_in.digest}) under {len(pushed)} app names in {to.repo}")
    return pushed
