"""The mirror's images, built here from the mirror's own binaries (the lab; a rack pulls upstream's).

Each image carries the upstream name the roles and kubeadm ask for
(``registry.k8s.io/kube-apiserver:v1.37.2`` …, from ``kubernetes_mirror_images``),
so the mirror serves it under that name's path. Two kinds:

- **static**: ``FROM scratch`` in effect, a root filesystem with only the static Go
  binary where upstream's image has it, ``/etc/passwd`` with upstream's non-root
  user, ``/tmp`` and the CA bundle (what distroless ``static`` gives upstream's);
  ``pause`` is compiled from the C source in k8s.io/kubernetes (build/pause/linux);
- **debian**: a Debian 12 minbase root filesystem with the packages the program
  calls (kube-proxy and kube-router drive iptables, nft, ipset and conntrack).

Each is imported into podman's store (``podman import``) and saved as an OCI
archive under ``~/.cache/werkraum/mirror/images``; an image is rebuilt only when
its binaries or its spec change (the digest label).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from werkraum.errors import WerkraumError, require_tool
from werkraum.lab import image as lab_image
from werkraum.lab import podman
from werkraum.mirror import files, gobuild
from werkraum.mirror.pins import Pins
from werkraum.paths import cache_dir
from werkraum.progress import say, step

NONROOT = "65532"


@dataclass(frozen=True)
class ImageSpec:
    """How one mirror image is made: its binaries (recipe name → path in the image) and its base."""

    name: str
    binaries: dict[str, str]
    entrypoint: tuple[str, ...]
    base: str = "static"  # or "debian"
    cmd: tuple[str, ...] = ()  # the default arguments (CMD); empty: none
    packages: tuple[str, ...] = ()
    user: str = NONROOT
    env: dict[str, str] = field(
        default_factory=lambda: {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    )


SPECS = {
    s.name: s
    for s in (
        ImageSpec("kube-apiserver", {"kube-apiserver": "/usr/local/bin/kube-apiserver"}, ("kube-apiserver",), user="0"),
        ImageSpec(
            "kube-controller-manager",
            {"kube-controller-manager": "/usr/local/bin/kube-controller-manager"},
            ("kube-controller-manager",),
            user="0",
        ),
        ImageSpec("kube-scheduler", {"kube-scheduler": "/usr/local/bin/kube-scheduler"}, ("kube-scheduler",), user="0"),
        ImageSpec(
            "etcd",
            {"etcd": "/usr/local/bin/etcd", "etcdctl": "/usr/local/bin/etcdctl"},
            ("/usr/local/bin/etcd",),
            user="0",
        ),
        ImageSpec("coredns", {"coredns": "/coredns"}, ("/coredns",)),
        ImageSpec("pause", {"pause": "/pause"}, ("/pause",), user="65535:65535"),
        ImageSpec("traefik", {"traefik": "/usr/local/bin/traefik"}, ("/usr/local/bin/traefik",)),
        ImageSpec(
            "local-path-provisioner",
            {"local-path-provisioner": "/usr/bin/local-path-provisioner"},
            ("/usr/bin/local-path-provisioner",),
            user="0",
        ),
        ImageSpec("metrics-server", {"metrics-server": "/metrics-server"}, ("/metrics-server",)),
        # As upstream's Dockerfile: the program as /, user nobody, its two ports.
        ImageSpec(
            "kube-state-metrics",
            {"kube-state-metrics": "/kube-state-metrics"},
            ("/kube-state-metrics", "--port=8080", "--telemetry-port=8081"),
            user="65534",
        ),
        # As upstream's release image: FROM scratch, the program as /app.
        ImageSpec("pebble", {"pebble": "/app"}, ("/app",)),
        ImageSpec("pebble-challtestsrv", {"pebble-challtestsrv": "/app"}, ("/app",)),
        # Debian's busybox-static (not a Go build), with a link per applet and `sh` as its default
        # command, as upstream's image has.
        ImageSpec("busybox", {"busybox": "/bin/busybox"}, (), cmd=("sh",), user="0"),
        ImageSpec(
            "kube-proxy",
            {"kube-proxy": "/usr/local/bin/kube-proxy"},
            ("/usr/local/bin/kube-proxy",),
            base="debian",
            packages=("iptables", "nftables", "conntrack", "ipset", "kmod"),
            user="0",
        ),
        # cgo (NVML opened at run time): Debian's glibc under it, the program where upstream's image has it.
        ImageSpec(
            "nvidia-device-plugin",
            {"nvidia-device-plugin": "/usr/bin/nvidia-device-plugin"},
            ("/usr/bin/nvidia-device-plugin",),
            base="debian",
            user="0",
        ),
        ImageSpec(
            "kube-router",
            {"kube-router": "/usr/local/bin/kube-router"},
            ("/usr/local/bin/kube-router",),
            base="debian",
            packages=("iptables", "nftables", "ipset", "iproute2", "conntrack", "kmod"),
            user="0",
        ),
    )
}


def images_dir() -> Path:
    return cache_dir() / "mirror" / "images"


def build_pause(pins: Pins) -> Path:
    """``pause`` from k8s.io/kubernetes' C source, as upstream's Makefile builds it (gcc -Os -static)."""
    out: Path = cache_dir() / "mirror" / "pause" / str(pins.values["kubernetes_pause_version"]) / "pause"
    if out.exists():
        return out
    gcc = require_tool("gcc", "it compiles the pause container", hint="apt-get install gcc libc6-dev")
    go = require_tool("go", "it fetches pause's C source from k8s.io/kubernetes", hint="install Go 1.26 (README)")
    module = f"k8s.io/kubernetes@{pins.values['kubernetes_version']}"
    proc = subprocess.run(
        [go, "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    try:
        info = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if not info.get("Dir"):
        reason = info.get("Error") or proc.stderr.strip() or "no output"
        raise WerkraumError(f"pause: the Go module proxy did not serve {module}: {reason}")
    source = Path(info["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    out.parent.mkdir(parents=True, exist_ok=True)
    version = f"v{pins.values['kubernetes_pause_version']}-0"
    build = subprocess.run(
        [gcc, "-Os", "-Wall", "-Werror", "-static", f"-DVERSION={version}", "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        raise WerkraumError(
            f"pause: gcc failed on {source}: {build.stderr.strip()[-400:]}", hint="apt-get install libc6-dev"
        )
    return out


def build_busybox(pins: Pins) -> Path:
    """BusyBox from Debian's busybox-static package, of the pinned release (the helper image of local volumes)."""
    version = str(pins.values["kubernetes_busybox_version"])
    out: Path = cache_dir() / "mirror" / "busybox" / version / "busybox"
    if out.exists():
        return out
    apt = require_tool("apt-get", "it fetches Debian's busybox-static package", hint="run on Debian (README)")
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run(
            [apt, "download", "busybox-static"], cwd=tmp, capture_output=True, text=True, check=False
        )
        debs = list(Path(tmp).glob("busybox-static_*.deb"))
        if fetched.returncode != 0 or not debs:
            raise WerkraumError(f"busybox: `apt-get download busybox-static` failed: {fetched.stderr.strip()[-300:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(Path(tmp) / "root")], check=True)
        binary = Path(tmp) / "root" / "bin" / "busybox"
        banner = subprocess.run([str(binary)], capture_output=True, text=True, check=False).stdout.split("\n", 1)[0]
        if not banner.startswith(f"BusyBox v{version} "):
            raise WerkraumError(
                f"busybox: Debian's busybox-static is {banner.split(' (')[0]!r}, the pin is {version}",
                hint=f"pin kubernetes_busybox_version to the release Debian ships, in {pins.source}",
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, out)
        out.chmod(0o755)
    return out


def _binaries(spec: ImageSpec, pins: Pins) -> dict[str, Path]:
    """Each of the spec's binaries as built (``pause`` compiled on demand); a missing one is named."""
    components = files.recipes(pins)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in spec.binaries:
        if name == "pause":
            found[name] = build_pause(pins)
            continue
        if name == "busybox":
            found[name] = build_busybox(pins)
            continue
        path = gobuild.installed(files.cache(), [components[name]])[name]
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        raise WerkraumError(
            f"image {spec.name}: not built: {', '.join(missing)}", hint=f"werkraum mirror build {' '.join(missing)}"
        )
    return found


def _digest(spec: ImageSpec, binaries: dict[str, Path]) -> str:
    blob = json.dumps([spec.__dict__, sorted((n, files._sha256(p)) for n, p in binaries.items())], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def static_rootfs(root: Path) -> None:
    (root / "tmp").mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    )
    (etc / "group").write_text("root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n")
    (etc / "nsswitch.conf").write_text("hosts: files dns\n")
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        (etc / "ssl" / "certs").mkdir(parents=True)
        shutil.copyfile(bundle, etc / "ssl" / "certs" / "ca-certificates.crt")


def build(pins: Pins, name: str, *, force: bool = False) -> tuple[str, Path, bool]:
    """Build one image; return its reference, its OCI archive and whether it was cached."""
    spec = SPECS.get(name)
    if spec is None:
        raise WerkraumError(f"no image spec for {name}", hint=f"images the lab builds: {', '.join(SPECS)}")
    ref = pins.images[name]
    binaries = _binaries(spec, pins)
    digest = _digest(spec, binaries)
    archive = images_dir() / f"{name}-{digest}.oci.tar"
    if archive.exists() and not force and podman.image_labels(ref).get("werkraum.mirror") == digest:
        return ref, archive, True
    work = cache_dir() / "image-build"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp, step(f"Building image {ref}"):
        if spec.base == "debian":
            recipe = lab_image.ImageRecipe(
                packages=("ca-certificates", *spec.packages), masked_units=(), extra={"image": spec.name}
            )
            root = lab_image.build_rootfs(recipe, Path(tmp), f"image {spec.name}: Debian 12", "about 2 minutes")
        else:
            root = Path(tmp) / "rootfs"
            static_rootfs(root)
        for binary, inside in spec.binaries.items():
            target = root / inside.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(binaries[binary], target)
            target.chmod(0o755)
        if "busybox" in binaries:
            applets = subprocess.run([str(binaries["busybox"]), "--list"], capture_output=True, text=True, check=True)
            for applet in applets.stdout.split():
                link = root / "bin" / applet
                if applet != "busybox" and not link.exists():
                    link.symlink_to("busybox")
        changes = (
            *([f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}"] if spec.entrypoint else []),
            *([f"CMD {json.dumps(list(spec.cmd))}"] if spec.cmd else []),
            f"USER {spec.user}",
            f"LABEL werkraum.mirror={digest}",
            *(f"ENV {k}={v}" for k, v in spec.env.items()),
        )
        lab_image.import_rootfs(root, ref, changes, what=f"image {ref}", numeric_owner=True)
    images_dir().mkdir(parents=True, exist_ok=True)
    for old in images_dir().glob(f"{name}-*.oci.tar"):
        old.unlink()
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    podman.podman("save", "--format", "oci-archive", "-o", str(partial), ref)
    partial.rename(archive)  # a save cut short never passes for a cached image
    say(f"    {ref}: {archive.stat().st_size // (1 << 20)} MiB")
    return ref, archive, False


def build_all(pins: Pins, names: list[str] | None = None, *, force: bool = False) -> list[tuple[str, Path, bool]]:
    with gobuild.exclusive(images_dir(), "images"):
        return [build(pins, n, force=force) for n in (names or list(SPECS))]
