"""The upstream e2e suite's test images, built here (the lab reaches no public registry).

The tests ask for ``registry.k8s.io/e2e-test-images/<name>:<version>`` (the names and
versions are read from the module's ``test/utils/image/manifest.go``); the lab's
containerd pulls ``registry.k8s.io`` from the lab registry, so each image is pushed
there under that path. What each is, against upstream's:

- ``agnhost`` (and ``agnhost`` at the previous tag the Deployment tests roll from):
  the ``test/images/agnhost`` program of the same module, built here, in a Debian 12
  minbase root filesystem with the tools upstream's Alpine image installs
  (dig, curl, nc, ip, iperf, bash, socat, ipcs) and its files (``/agnhost-2``,
  ``/uploads``, porter's certificate, the user and group of the SupplementalGroups
  test, ``/coredns`` from the mirror's build). Upstream's is Alpine (musl); this one
  is glibc, so the DNS tests' "musl" querier asks with glibc's resolver here.
- ``glibc-dns-testing``: upstream's is debian:bookworm-slim with dnsutils and a
  CoreDNS; the same image as agnhost above holds both.
- ``busybox``: the mirror's BusyBox (Debian's busybox-static 1.35) under upstream's tag.

Each is labelled ``werkraum.built-here`` so that nobody takes it for upstream's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.lab import image as lab_image
from werkraum.lab import podman
from werkraum.mirror import files, gobuild
from werkraum.mirror.pins import Pins, mirrored
from werkraum.paths import cache_dir
from werkraum.progress import step

UPSTREAM = "registry.k8s.io/e2e-test-images"
LABEL = "werkraum.built-here"
TOOLS = (
    "ca-certificates",
    "dnsutils",
    "curl",
    "netcat-openbsd",
    "iproute2",
    "iperf",
    "bash",
    "socat",
    "util-linux",
    "procps",
)


def manifest_versions(module_dir: Path) -> dict[str, str]:
    """``{"Agnhost": "2.66.1", ...}``: each image's tag as the suite of this module asks for it."""
    manifest = module_dir / "test" / "utils" / "image" / "manifest.go"
    try:
        text = manifest.read_text()
    except OSError as exc:
        raise WerkraumError(f"{manifest}: cannot read the e2e suite's image list: {exc}") from exc
    found = dict(re.findall(r'configs\[(\w+)\] = Config\{list\.\w+, "[^"]+", "([^"]+)"\}', text))
    wanted = ("Agnhost", "AgnhostPrev", "BusyBox", "GlibcDnsTesting")
    missing = [name for name in wanted if name not in found]
    if missing:
        raise WerkraumError(f"{manifest}: no version for {', '.join(missing)}: the suite's image list changed shape")
    return found


@dataclass(frozen=True)
class TestImages:
    """The built images: each reference the suite asks for → the local image it is a tag of."""

    refs: tuple[str, ...]

    def pairs(self, repo: str) -> list[tuple[str, str]]:
        """(local reference, target in the lab registry ``repo``), as containerd maps registry.k8s.io."""
        return [(ref, mirrored(ref, repo)) for ref in self.refs]


def build(pins: Pins, agnhost: Path, module_dir: Path) -> TestImages:
    """Build (once per content) the agnhost image and tag it and the mirror's BusyBox under the suite's names."""
    versions = manifest_versions(module_dir)
    coredns = gobuild.installed(files.cache(), [files.recipes(pins)["coredns"]])["coredns"]
    busybox = pins.images["busybox"]
    if coredns is None or not podman.image_exists(busybox):
        raise WerkraumError(
            "the lab mirror's coredns build or BusyBox image is missing", hint="run `make lab` (it builds the mirror)"
        )
    porter = module_dir / "test" / "images" / "agnhost" / "porter"
    digest = hashlib.sha256(
        json.dumps(
            [TOOLS, files._sha256(agnhost), files._sha256(coredns), (porter / "localhost.crt").read_text()]
        ).encode()
    ).hexdigest()[:12]
    first = f"{UPSTREAM}/agnhost:{versions['Agnhost']}"
    if podman.image_labels(first).get(LABEL) != digest:
        work = cache_dir() / "image-build"
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp, step(f"Building the e2e suite's image {first}"):
            recipe = lab_image.ImageRecipe(packages=TOOLS, masked_units=(), extra={"image": "e2e-agnhost"})
            root = lab_image.build_rootfs(recipe, Path(tmp), "the e2e agnhost image: Debian 12", "about 3 minutes")
            _shape(root, agnhost, coredns, porter)
            changes = (
                'ENTRYPOINT ["/agnhost"]',
                'CMD ["pause"]',
                "USER 0",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"LABEL {LABEL}={digest}",
                "LABEL org.opencontainers.image.description="
                '"agnhost of k8s.io/kubernetes built by Werkraum on Debian 12, not upstream\'s Alpine image"',
            )
            lab_image.import_rootfs(root, first, changes, what=f"the e2e image {first}", numeric_owner=True)
    refs = [
        first,
        f"{UPSTREAM}/agnhost:{versions['AgnhostPrev']}",
        f"{UPSTREAM}/glibc-dns-testing:{versions['GlibcDnsTesting']}",
    ]
    for ref in refs[1:]:
        podman.podman("tag", first, ref)
    bb = f"{UPSTREAM}/busybox:{versions['BusyBox']}"
    podman.podman("tag", busybox, bb)
    return TestImages((*refs, bb))


def _shape(root: Path, agnhost: Path, coredns: Path, porter: Path) -> None:
    """What upstream's agnhost Dockerfile adds beside its packages."""
    shutil.copyfile(agnhost, root / "agnhost")
    (root / "agnhost").chmod(0o755)
    (root / "agnhost-2").symlink_to("agnhost")
    shutil.copyfile(coredns, root / "coredns")
    (root / "coredns").chmod(0o755)
    (root / "uploads").mkdir(exist_ok=True)
    for name in ("localhost.crt", "localhost.key"):
        shutil.copyfile(porter / name, root / name)
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write("user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n")
    with (root / "etc" / "group").open("a") as group:
        group.write("user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")
    home = root / "home" / "user-defined-in-image"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, 1000, 1000)
