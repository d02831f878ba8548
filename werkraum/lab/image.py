"""The lab's Debian images, built locally with debootstrap: one recipe, two outputs.

No container registry or image server is reachable from the machines Werkraum is
developed and tested on, so every image is built from Debian's packages. An
:class:`ImageRecipe` says what the root filesystem holds (release, packages,
files, units, mirrors, this machine's CAs); its digest is the cache key. The same
recipe gives either output:

- ``ensure_image``: an image in podman's store, tagged with the digest (the rack's
  container hosts, the lab OpenStack API's base);
- ``ensure_disk``: a bootable qcow2 disk with its kernel and initrd, in a folder
  named after the digest (the qemu guests of tests/harness/vm.py).

Each is rebuilt only when its recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from werkraum.errors import WerkraumError, require_tool
from werkraum.lab import podman
from werkraum.paths import cache_dir, podman_env
from werkraum.progress import say, step

# Debian releases a lab host can run: 12 for the rack's nodes, 13 where Python 3.12+
# is needed (NetBox on the service node).
SUITES = {"bookworm": "12", "trixie": "13"}
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"


def local_ca_digest(ca_dir: Path = LOCAL_CA_DIR) -> str:
    """A digest of the CAs this machine trusts beyond Debian's (e.g. a TLS-inspecting proxy's).

    Lab hosts get the same CAs, so that they reach PyPI and the mirror as the
    machine does; a change of them rebuilds the image.
    """
    certs = sorted(ca_dir.rglob("*.crt")) if ca_dir.is_dir() else []
    blob = b"".join(c.name.encode() + c.read_bytes() for c in certs)
    return hashlib.sha256(blob).hexdigest()[:12] if certs else ""


def tree_digest(folder: Path) -> str:
    """A digest of the files below ``folder``: their paths in it and their content."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    blob = b"".join(str(p.relative_to(folder)).encode() + p.read_bytes() for p in files)
    return hashlib.sha256(blob).hexdigest()[:12]


# The fields an ImageRecipe had when the first lab images were built. Those added since
# enter the digest only when set, so that a recipe which does not use them keeps its tag.
_FIRST_FIELDS = ("suite", "variant", "packages", "masked_units", "revision", "extra", "local_ca")


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides what an image holds; its digest is the cache key.

    The defaults are the rack's container hosts; tests/harness/vm.py's
    ``guest_recipe`` is the qemu guests' (a kernel, SSH, an overlay of files).
    """

    suite: str = "bookworm"
    variant: str = "minbase"
    # What a bare Debian host of the rack has before Ansible touches it: systemd
    # as PID 1, python3 for Ansible, sudo, and the tools testinfra calls.
    packages: tuple[str, ...] = (
        "python3",
        "systemd",
        "systemd-sysv",
        "dbus",
        "sudo",
        "iproute2",
        "procps",
        "ca-certificates",
    )
    # Units that make no sense in a container and only slow down its boot.
    masked_units: tuple[str, ...] = (
        "getty@tty1.service",
        "console-getty.service",
        "systemd-remount-fs.service",
        "sys-kernel-config.mount",
        "sys-kernel-debug.mount",
    )
    revision: int = 1
    extra: dict[str, str] = field(default_factory=dict)
    local_ca: str = field(default_factory=local_ca_digest)
    # Installed with apt after debootstrap, which cannot resolve virtual packages.
    preload: tuple[str, ...] = ()
    # A folder whose files are copied into the root filesystem (the digest covers their content).
    overlay: Path | None = None
    # (target, unit file): enabled as the target's wants, e.g. ("multi-user.target", "/lib/systemd/...").
    enabled_units: tuple[tuple[str, str], ...] = ()
    # Globs removed from the root filesystem after debootstrap (e.g. SSH host keys, made per host).
    remove: tuple[str, ...] = ()
    # (path, content): written last, after the packages are installed.
    files: tuple[tuple[str, str], ...] = ()

    def digest(self, *output: object) -> str:
        """The cache key; ``output`` adds what an output itself decides (a disk's size and label)."""
        key = asdict(self)
        for name in [n for n in key if n not in _FIRST_FIELDS]:
            if not key[name]:
                del key[name]
        if self.overlay:
            key["overlay"] = tree_digest(self.overlay)
        if output:
            key["output"] = list(output)
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        return f"localhost/werkraum-debian{SUITES[self.suite]}"

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.digest()}"


def host_mirrors(sources_dir: Path = Path("/etc/apt")) -> tuple[str, str]:
    """The Debian and Debian-security mirrors this machine's apt uses, so the image does too."""
    mirror, security = DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for url in re.findall(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            if url.rstrip("/").endswith("debian-security"):
                security = url.rstrip("/")
            elif url.rstrip("/").endswith("/debian"):
                mirror = url.rstrip("/")
    return mirror, security


def sources_list(s: str, mirror: str, security: str) -> str:
    """apt's sources for Debian release ``s`` (main, updates, security) from the given mirrors."""
    return f"deb {mirror} {s} main\ndeb {mirror} {s}-updates main\ndeb {security} {s}-security main\n"


# --- the root filesystem ------------------------------------------------------------------


def build_rootfs(recipe: ImageRecipe, work: Path, title: str, about: str) -> Path:
    """Debootstrap the recipe's release into ``work``/rootfs and shape it as the recipe says (``about``: how long)."""
    debootstrap = require_tool(
        "debootstrap", "it builds the lab's Debian images", hint="run `make lab` or `apt-get install debootstrap`"
    )
    mirror, security = host_mirrors()
    rootfs = work / "rootfs"
    with step(f"{title} with debootstrap from {mirror} ({about})"):
        cmd = [
            debootstrap,
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.packages)}",
            recipe.suite,
            str(rootfs),
            mirror,
        ]
        run_logged(
            cmd,
            work / "debootstrap.log",
            what="debootstrap",
            hint="the log is kept only while the build runs; check the mirror is reachable",
        )
        configure_rootfs(rootfs, recipe, mirror, security)
    if recipe.preload:
        with step(f"Preloading {len(recipe.preload)} packages into the image with apt"):
            _apt_install(rootfs, recipe.preload, work / "apt.log")
    for path, content in recipe.files:
        (rootfs / path).write_text(content)
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    return rootfs


def configure_rootfs(rootfs: Path, recipe: ImageRecipe, mirror: str, security: str) -> None:
    """apt's sources, this machine's CAs, the overlay and the units, on a debootstrapped root filesystem."""
    (rootfs / "etc/apt/sources.list").write_text(sources_list(recipe.suite, mirror, security))
    if recipe.local_ca:
        install_local_cas(rootfs)
    # A host gets its hostname and machine-id from podman, or at first boot.
    for name in ("etc/hostname", "etc/machine-id"):
        (rootfs / name).write_text("")
    for pattern in recipe.remove:
        for path in rootfs.glob(pattern):
            path.unlink()
    if recipe.overlay:
        for src in sorted(recipe.overlay.rglob("*")):
            if src.is_file():
                dest = rootfs / src.relative_to(recipe.overlay)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    units = rootfs / "etc/systemd/system"
    for target, unit in recipe.enabled_units:
        _link(units / f"{target}.wants" / Path(unit).name, unit)
    for unit in recipe.masked_units:
        _link(units / unit, "/dev/null")


def _link(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def install_local_cas(rootfs: Path) -> None:
    target = rootfs / LOCAL_CA_DIR.relative_to("/")
    shutil.copytree(LOCAL_CA_DIR, target, dirs_exist_ok=True)
    cmd = ["chroot", str(rootfs), "update-ca-certificates"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WerkraumError(f"adding this machine's CAs to the lab image failed: {proc.stderr.strip()[-300:]}")


def _apt_install(rootfs: Path, packages: tuple[str, ...], log: Path) -> None:
    """Install packages in the image with apt, with no daemon started and this machine's resolver."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# no daemon starts while the image is built\nexit 101\n")
    policy.chmod(0o755)
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copy2("/etc/resolv.conf", resolv)
    try:
        env = "DEBIAN_FRONTEND=noninteractive"
        script = f"{env} apt-get update -q && {env} apt-get install -y -q --no-install-recommends {' '.join(packages)}"
        run_logged(["chroot", str(rootfs), "sh", "-c", script], log, what="apt-get install")
    finally:
        policy.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)


def _debootstrap_progress(n: int, line: str) -> str | None:
    return line.strip()[:100] if line.startswith("I: Retrieving") or n % 50 == 0 else None


def run_logged(
    cmd: list[str],
    log: Path,
    *,
    what: str,
    show: Callable[[int, str], str | None] = _debootstrap_progress,
    hint: str = "check the mirror is reachable",
    env: dict[str, str] | None = None,
) -> None:
    """Run a long command into ``log``, saying what ``show`` picks from its lines so progress stays visible."""
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        tail: list[str] = []
        for n, line in enumerate(proc.stdout, 1):
            fh.write(line)
            tail = ([*tail, line.rstrip()])[-15:]
            message = show(n, line)
            if message:
                say(f"    {what}: {message}")
        code = proc.wait()
    if code != 0:
        raise WerkraumError(
            f"{what} failed (exit {code}); last lines:\n    " + "\n    ".join(tail),
            hint=f"full log: {log}; {hint}",
        )


def run_checked(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WerkraumError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")


# --- output 1: an image in podman's store --------------------------------------------------


def ensure_image(recipe: ImageRecipe | None = None, *, rebuild: bool = False) -> str:
    """Return the image reference, building the image first if the recipe's tag is absent."""
    recipe = recipe or ImageRecipe()
    ref = recipe.ref
    if not rebuild and podman.image_exists(ref):
        say(f"    lab image {ref} is cached (recipe unchanged)")
        return ref
    build_image(recipe)
    return ref


def build_image(recipe: ImageRecipe) -> None:
    work = cache_dir() / "image-build"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        rootfs = build_rootfs(recipe, Path(tmp), f"Building lab image {recipe.ref}", "about 2 minutes")
        with step(f"Importing {recipe.ref} into podman"):
            changes = ('CMD ["/sbin/init"]', "STOPSIGNAL SIGRTMIN+3", f"LABEL werkraum.recipe={recipe.digest()}")
            import_rootfs(rootfs, recipe.ref, changes, what="the lab image")


def import_rootfs(rootfs: Path, ref: str, changes: tuple[str, ...], *, what: str, numeric_owner: bool = False) -> None:
    """``tar`` a root filesystem into ``podman import`` as ``ref``, with Dockerfile-style ``changes``.

    ``numeric_owner`` stores ids only (the mirror's images, whose files belong to
    ids the build machine may not name); a failure names ``what`` and podman's error.
    """
    tar_cmd = ["tar", "-C", str(rootfs), *(["--numeric-owner"] if numeric_owner else []), "-c", "."]
    tar = subprocess.Popen(tar_cmd, stdout=subprocess.PIPE)
    args = [podman.require_podman(), "import"]
    for change in changes:
        args += ["--change", change]
    imp = subprocess.run(
        [*args, "-", ref], stdin=tar.stdout, env=podman_env(), capture_output=True, text=True, check=False
    )
    if tar.stdout:
        tar.stdout.close()
    tar.wait()
    if imp.returncode != 0 or tar.returncode != 0:
        raise WerkraumError(
            f"importing {what} failed: {imp.stderr.strip() or 'tar failed'}",
            hint="check `podman info` and the free space under /var/lib/containers",
        )


def remove_images(recipe: ImageRecipe) -> list[str]:
    """Remove cached images of the recipe's release other than its own; return what was removed."""
    keep = recipe.ref
    out = podman.podman("images", "--format", "{{.Repository}}:{{.Tag}}", recipe.name).stdout.split()
    removed = [ref for ref in out if ref != keep]
    for ref in removed:
        podman.podman("rmi", ref, check=False)
    return removed


# --- output 2: a bootable qcow2 disk --------------------------------------------------------


def disk_dir(recipe: ImageRecipe, size_gb: int, label: str) -> Path:
    """Where the recipe's disk lives: root.qcow2 (an ext4 root labelled ``label``), vmlinuz, initrd.img."""
    return cache_dir() / "vm-images" / f"debian-{recipe.suite}-{recipe.digest('disk', size_gb, label)}"


def ensure_disk(
    recipe: ImageRecipe, *, size_gb: int, label: str, in_use: Callable[[Path], bool] = lambda _folder: False
) -> Path:
    """The folder with the recipe's disk, building it if absent; then older disks of the release not ``in_use`` go."""
    target = disk_dir(recipe, size_gb, label)
    if (target / "root.qcow2").is_file():
        say(f"    guest image {target.name} is cached (recipe unchanged)")
        return target
    qemu_img = require_tool("qemu-img", "it writes the guests' disks", hint="apt-get install qemu-utils")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        rootfs = build_rootfs(recipe, Path(tmp), f"Building guest image {target.name}", "about 4 minutes")
        out = Path(tmp) / "image"
        out.mkdir()
        kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
        initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise WerkraumError("the guest image has no kernel or initrd in /boot", hint="check the debootstrap log")
        shutil.copy2(kernels[-1], out / "vmlinuz")
        shutil.copy2(initrds[-1], out / "initrd.img")
        with step(f"Writing the guest disk ({size_gb} GiB ext4, sparse)"):
            raw = Path(tmp) / "root.raw"
            with raw.open("wb") as fh:
                fh.truncate(size_gb * 1024**3)
            run_checked(["mkfs.ext4", "-q", "-L", label, "-d", str(rootfs), str(raw)], "mkfs.ext4")
            run_checked([qemu_img, "convert", "-O", "qcow2", str(raw), str(out / "root.qcow2")], "qemu-img convert")
        out.rename(target)
    # Older recipes of this release are dead weight (about 1.5 GB each).
    for old in target.parent.glob(f"debian-{recipe.suite}-*"):
        if old != target and (old / "root.qcow2").is_file() and not in_use(old):
            shutil.rmtree(old, ignore_errors=True)
            say(f"    removed the older guest image {old.name}")
    return target
