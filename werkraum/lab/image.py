"""The lab's Debian systemd images (12 and 13), built locally with debootstrap.

No container registry is reachable from the machines Werkraum is developed and
tested on, so the image is built from Debian's packages. It is cached in
podman's image store under a tag derived from its recipe and rebuilt only when
the recipe changes.
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


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides what the image holds; its hash is the image tag."""

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

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

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
    debootstrap = require_tool(
        "debootstrap", "it builds the lab's Debian images", hint="run `make lab` or `apt-get install debootstrap`"
    )
    mirror, security = host_mirrors()
    work = cache_dir() / "image-build"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        rootfs = Path(tmp) / "rootfs"
        with step(f"Building lab image {recipe.ref} with debootstrap from {mirror} (about 2 minutes)"):
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
                Path(tmp) / "debootstrap.log",
                what="debootstrap",
                hint="the log is kept only while the build runs; check the mirror is reachable",
            )
            (rootfs / "etc/apt/sources.list").write_text(sources_list(recipe.suite, mirror, security))
            if recipe.local_ca:
                install_local_cas(rootfs)
            for unit in recipe.masked_units:
                link = rootfs / "etc/systemd/system" / unit
                link.unlink(missing_ok=True)
                link.symlink_to("/dev/null")
            # A container gets its hostname and machine-id from podman and systemd.
            for name in ("etc/hostname", "etc/machine-id"):
                (rootfs / name).write_text("")
            shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
            (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        with step(f"Importing {recipe.ref} into podman"):
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            imp = subprocess.run(
                [
                    podman.require_podman(),
                    "import",
                    "--change",
                    'CMD ["/sbin/init"]',
                    "--change",
                    "STOPSIGNAL SIGRTMIN+3",
                    "--change",
                    f"LABEL werkraum.recipe={recipe.digest()}",
                    "-",
                    recipe.ref,
                ],
                stdin=tar.stdout,
                env=podman_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise WerkraumError(
                    f"importing the lab image failed: {imp.stderr.strip() or 'tar failed'}",
                    hint="check `podman info` and the free space under /var/lib/containers",
                )


def install_local_cas(rootfs: Path) -> None:
    target = rootfs / LOCAL_CA_DIR.relative_to("/")
    shutil.copytree(LOCAL_CA_DIR, target, dirs_exist_ok=True)
    cmd = ["chroot", str(rootfs), "update-ca-certificates"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WerkraumError(f"adding this machine's CAs to the lab image failed: {proc.stderr.strip()[-300:]}")


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


def remove_images(recipe: ImageRecipe) -> list[str]:
    """Remove cached images of the recipe's release other than its own; return what was removed."""
    keep = recipe.ref
    out = podman.podman("images", "--format", "{{.Repository}}:{{.Tag}}", recipe.name).stdout.split()
    removed = [ref for ref in out if ref != keep]
    for ref in removed:
        podman.podman("rmi", ref, check=False)
    return removed
