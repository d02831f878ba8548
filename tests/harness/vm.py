"""Lab hosts that need a kernel and block devices of their own: qemu guests.

Containers share the machine's kernel and have no disks of their own, so a role
that partitions disks or loads kernel modules (Ceph's OSDs, ``rbd map``) is
tested against qemu guests instead. KVM is not available on the machines
Werkraum is developed and tested on, so guests run under software emulation
(TCG): slow, but a real kernel, real virtio disks and a real network.

The guest image is a Debian disk built locally with debootstrap (no image can be
downloaded here), cached under a tag derived from its recipe. Each guest boots
it through a copy-on-write overlay, with the kernel and initrd passed to qemu,
and reads its hostname, address and SSH key from the kernel command line (a
one-shot unit baked into the image). Guests share a bridge of their own with an
address for this machine on it, and reach Debian's mirror through qemu's
user-mode network.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.paths import HARNESS_DATA
from werkraum.errors import WerkraumError, require_tool
from werkraum.lab.image import host_mirrors, install_local_cas, local_ca_digest, run_logged, sources_list
from werkraum.paths import cache_dir, state_dir
from werkraum.progress import say, step

GUEST_DATA = HARNESS_DATA / "vm"
ROOT_LABEL = "rootfs"
ROOT_SIZE_GB = 12
SSH_TIMEOUT_S = 420


# --- the guest image -------------------------------------------------------------------


def _guest_files_digest() -> str:
    """A digest of the files copied into every guest image (tests/harness/data/vm)."""
    files = sorted(p for p in GUEST_DATA.rglob("*") if p.is_file())
    blob = b"".join(str(p.relative_to(GUEST_DATA)).encode() + p.read_bytes() for p in files)
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class VmImageRecipe:
    """What the guest disk holds; its hash names the cached image."""

    suite: str = "bookworm"
    # A bare Debian host as the installer leaves it: kernel, systemd, SSH, Python for Ansible.
    packages: tuple[str, ...] = (
        "linux-image-amd64",
        "systemd",
        "systemd-sysv",
        "udev",
        "kmod",
        "initramfs-tools",
        "openssh-server",
        "python3",
        "sudo",
        "iproute2",
        "procps",
        "ca-certificates",
        "dbus",
        "e2fsprogs",
    )
    # Packages a role would install anyway, preloaded so that a test does not
    # spend minutes in dpkg under emulation (the role's install task still runs).
    preload: tuple[str, ...] = ()
    revision: int = 1
    guest_files: str = field(default_factory=_guest_files_digest)
    local_ca: str = field(default_factory=local_ca_digest)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @property
    def directory(self) -> Path:
        return cache_dir() / "vm-images" / f"debian-{self.suite}-{self.digest()}"


def require(tool: str, package: str) -> str:
    return require_tool(
        tool, "the lab's qemu guests need it", hint=f"run `make bootstrap` or `apt-get install {package}`"
    )


def ensure_vm_image(recipe: VmImageRecipe) -> Path:
    """Return the folder with root.qcow2, vmlinuz and initrd.img, building it if absent."""
    target = recipe.directory
    if (target / "root.qcow2").is_file():
        say(f"    guest image {target.name} is cached (recipe unchanged)")
        return target
    debootstrap = require("debootstrap", "debootstrap")
    qemu_img = require("qemu-img", "qemu-utils")
    mirror, security = host_mirrors()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        packages = ",".join(recipe.packages)
        with step(f"Building guest image {target.name} with debootstrap (about 4 minutes)"):
            cmd = [debootstrap, "--variant=minbase", f"--include={packages}", recipe.suite, str(rootfs), mirror]
            run_logged(cmd, Path(tmp) / "debootstrap.log", what="debootstrap")
        with step("Configuring the guest image (network, SSH, first-boot unit)"):
            _configure_rootfs(rootfs, recipe, mirror, security)
        if recipe.preload:
            with step(f"Preloading {len(recipe.preload)} packages into the guest image with apt"):
                _apt_install(rootfs, recipe.preload, Path(tmp) / "apt.log")
        _finish_rootfs(rootfs)
        out = Path(tmp) / "image"
        out.mkdir()
        kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
        initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise WerkraumError("the guest image has no kernel or initrd in /boot", hint="check the debootstrap log")
        shutil.copy2(kernels[-1], out / "vmlinuz")
        shutil.copy2(initrds[-1], out / "initrd.img")
        with step(f"Writing the guest disk ({ROOT_SIZE_GB} GiB ext4, sparse)"):
            raw = Path(tmp) / "root.raw"
            with raw.open("wb") as fh:
                fh.truncate(ROOT_SIZE_GB * 1024**3)
            _check(["mkfs.ext4", "-q", "-L", ROOT_LABEL, "-d", str(rootfs), str(raw)], "mkfs.ext4")
            _check([qemu_img, "convert", "-O", "qcow2", str(raw), str(out / "root.qcow2")], "qemu-img convert")
        out.rename(target)
    # Older recipes of this release are dead weight (about 1.5 GB each).
    for old in target.parent.glob(f"debian-{recipe.suite}-*"):
        if old != target and (old / "root.qcow2").is_file() and not _in_use(old):
            shutil.rmtree(old, ignore_errors=True)
            say(f"    removed the older guest image {old.name}")
    return target


def _in_use(image: Path) -> bool:
    """Whether a guest of any lab still boots from this image (its overlay needs it)."""
    return any(p.read_text() == str(image) for p in (state_dir() / "vm").glob("*/*/image"))


def _configure_rootfs(rootfs: Path, recipe: VmImageRecipe, mirror: str, security: str) -> None:
    (rootfs / "etc/apt/sources.list").write_text(sources_list(recipe.suite, mirror, security))
    if recipe.local_ca:
        install_local_cas(rootfs)
    (rootfs / "etc/fstab").write_text(f"LABEL={ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\n")
    for name in ("etc/hostname", "etc/machine-id"):
        (rootfs / name).write_text("")
    # Host keys are made per guest at first boot, not shared through the image.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for src in GUEST_DATA.rglob("*"):
        if src.is_file():
            dest = rootfs / src.relative_to(GUEST_DATA)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    sysinit = rootfs / "etc/systemd/system/sysinit.target.wants"
    sysinit.mkdir(parents=True, exist_ok=True)
    _link(sysinit / "werkraum-guest-config.service", "/etc/systemd/system/werkraum-guest-config.service")
    _link(wants / "systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service")
    _link(rootfs / "etc/systemd/system/getty@tty1.service", "/dev/null")


def _finish_rootfs(rootfs: Path) -> None:
    # qemu's user-mode network answers DNS on 10.0.2.3 (no resolver daemon in the image).
    (rootfs / "etc/resolv.conf").write_text("nameserver 10.0.2.3\n")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def _apt_install(rootfs: Path, packages: tuple[str, ...], log: Path) -> None:
    """Install packages in the image with apt (debootstrap cannot resolve virtual packages)."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# no daemon starts while the image is built\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy2("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    try:
        env = "DEBIAN_FRONTEND=noninteractive"
        script = f"{env} apt-get update -q && {env} apt-get install -y -q --no-install-recommends {' '.join(packages)}"
        run_logged(["chroot", str(rootfs), "sh", "-c", script], log, what="apt-get install")
    finally:
        policy.unlink(missing_ok=True)
        (rootfs / "etc/resolv.conf").unlink(missing_ok=True)


def _link(link: Path, target: str) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def _check(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WerkraumError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")


# --- guests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disk:
    """An extra virtio disk, seen in the guest as /dev/disk/by-id/virtio-<serial>."""

    serial: str
    size_gb: int = 10
    # A filesystem made on the disk before the guest boots: a disk "with data on it".
    filesystem: str | None = None


@dataclass(frozen=True)
class Guest:
    name: str
    address: str
    memory_mb: int = 3072
    cpus: int = 2
    disks: tuple[Disk, ...] = ()


@dataclass
class VmLab:
    """A set of guests on one bridge, with its state under ``state_dir()/vm/<name>``."""

    name: str
    network: str
    guests: list[Guest]

    @property
    def dir(self) -> Path:
        return state_dir() / "vm" / self.name

    @property
    def bridge(self) -> str:
        return f"wrk{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"

    @property
    def host_address(self) -> str:
        net = ipaddress.ip_network(self.network)
        return str(next(net.hosts()))

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    def guest(self, name: str) -> Guest:
        for guest in self.guests:
            if guest.name == name:
                return guest
        raise WerkraumError(f"lab {self.name!r} has no guest {name!r}", hint="see `werkraum lab vm status`")

    # -- spec and state --

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> VmLab:
        try:
            net = ipaddress.ip_network(spec["network"])
            guests = []
            for raw in spec["guests"]:
                disks = tuple(Disk(**d) for d in raw.get("disks", []))
                guest = Guest(
                    name=raw["name"],
                    address=raw["address"],
                    memory_mb=int(raw.get("memory_mb", 3072)),
                    cpus=int(raw.get("cpus", 2)),
                    disks=disks,
                )
                if ipaddress.ip_address(guest.address) not in net:
                    raise WerkraumError(f"guest {guest.name}: address {guest.address} is not in {net}")
                guests.append(guest)
            return cls(name=spec["name"], network=str(net), guests=guests)
        except (KeyError, TypeError, ValueError) as exc:
            raise WerkraumError(
                f"the guest spec is invalid: {exc!r}",
                hint="it needs name, network and guests (name, address, optional memory_mb, cpus, disks)",
            ) from exc

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "network": self.network, "guests": [asdict(g) for g in self.guests]}

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "lab.json").write_text(json.dumps(self.spec(), indent=2))

    @classmethod
    def load(cls, name: str) -> VmLab:
        path = state_dir() / "vm" / name / "lab.json"
        if not path.is_file():
            raise WerkraumError(f"no guest lab named {name!r} is up", hint="start it with `werkraum lab vm up`")
        return cls.from_spec(json.loads(path.read_text()))

    # -- lifecycle --

    def up(self, image: Path) -> None:
        require("qemu-system-x86_64", "qemu-system-x86")
        self.save()
        self._ensure_key()
        self._ensure_bridge()
        for guest in self.guests:
            self._prepare_disks(guest, image)
        for guest in self.guests:
            if not self.running(guest.name):
                self.start(guest.name, image)
        self.wait_ssh([g.name for g in self.guests])

    def start(self, name: str, image: Path | None = None) -> None:
        guest = self.guest(name)
        gdir = self.dir / guest.name
        image = image or Path((gdir / "image").read_text())
        qemu = require("qemu-system-x86_64", "qemu-system-x86")
        tap = self._tap(guest)
        self._ensure_bridge()
        if not Path(f"/sys/class/net/{tap}").exists():
            _check(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], f"creating tap {tap}")
        _check(["ip", "link", "set", tap, "master", self.bridge, "up"], f"attaching tap {tap}")
        net = ipaddress.ip_network(self.network)
        key = base64.b64encode(self.key.with_suffix(".pub").read_bytes().strip()).decode()
        index = self.guests.index(guest) + 1
        # The guest finds its lab NIC by this MAC (werkraum-guest-config); the other NIC is the uplink.
        lab_mac = f"52:54:00:77:{index:02x}:01"
        cmdline = (
            f"root=LABEL={ROOT_LABEL} rw console=ttyS0 quiet "
            f"werkraum.hostname={guest.name} werkraum.address={guest.address}/{net.prefixlen} "
            f"werkraum.mac={lab_mac} werkraum.key={key}"
        )
        cmd = [
            qemu,
            "-name", guest.name,
            "-machine", "q35",
            "-accel", "tcg,tb-size=256",
            "-cpu", "max",
            "-smp", str(guest.cpus),
            "-m", str(guest.memory_mb),
            "-display", "none",
            "-serial", f"file:{gdir / 'console.log'}",
            "-kernel", str(image / "vmlinuz"),
            "-initrd", str(image / "initrd.img"),
            "-append", cmdline,
            "-drive", f"file={gdir / 'root.qcow2'},if=virtio,format=qcow2",
            "-netdev", f"tap,id=lab,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=lab,mac={lab_mac}",
            "-netdev", "user,id=uplink",
            "-device", f"virtio-net-pci,netdev=uplink,mac=52:54:00:aa:{index:02x}:01",
            "-qmp", f"unix:{gdir / 'qmp.sock'},server=on,wait=off",
            "-pidfile", str(gdir / "qemu.pid"),
            "-daemonize",
        ]  # fmt: skip
        for disk in guest.disks:
            fmt = "raw" if disk.filesystem else "qcow2"
            cmd += [
                "-drive", f"if=none,id={disk.serial},file={self._disk_path(guest, disk)},format={fmt}",
                "-device", f"virtio-blk-pci,drive={disk.serial},serial={disk.serial}",
            ]  # fmt: skip
        (gdir / "console.log").unlink(missing_ok=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise WerkraumError(f"qemu did not start guest {guest.name}: {proc.stderr.strip()[-400:]}")
        say(f"    {guest.name}: started (qemu, TCG), address {guest.address}")

    def stop(self, name: str, *, hard: bool = True) -> None:
        """Stop a guest: ``hard`` pulls the power (a failed host), else an ACPI shutdown."""
        pid = self._pid(name)
        if pid is None:
            return
        if hard:
            os.kill(pid, signal.SIGKILL)
        else:
            self._qmp(name, "system_powerdown")
        for _ in range(600 if not hard else 50):
            if not _alive(pid):
                break
            time.sleep(0.5)
        else:
            os.kill(pid, signal.SIGKILL)
        (self.dir / name / "qemu.pid").unlink(missing_ok=True)
        say(f"    {name}: stopped ({'power pulled' if hard else 'shut down'})")

    def down(self) -> None:
        for guest in self.guests:
            self.stop(guest.name)
            tap = self._tap(guest)
            if Path(f"/sys/class/net/{tap}").exists():
                subprocess.run(["ip", "link", "del", tap], check=False)
        if Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "del", self.bridge], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def running(self, name: str) -> bool:
        return self._pid(name) is not None

    def wait_ssh(self, names: list[str], timeout: float = SSH_TIMEOUT_S) -> None:
        with step(f"Waiting for SSH on {', '.join(names)} (emulated boot: about a minute)"):
            deadline = time.monotonic() + timeout
            pending = list(names)
            while pending:
                for name in list(pending):
                    if not self.running(name):
                        raise WerkraumError(
                            f"guest {name} stopped while booting",
                            hint=f"read its console: {self.dir / name / 'console.log'}",
                        )
                    if self._ssh_ok(name):
                        pending.remove(name)
                        say(f"    {name}: SSH answers")
                if pending and time.monotonic() > deadline:
                    raise WerkraumError(
                        f"guest(s) {', '.join(pending)} did not answer SSH within {timeout:.0f}s",
                        hint=f"read the console log under {self.dir}",
                    )
                if pending:
                    time.sleep(3)

    def ssh(self, name: str, command: str, *, check: bool = True, timeout: float = 600) -> str:
        proc = self._ssh(name, command, timeout)
        if check and proc.returncode != 0:
            raise WerkraumError(f"{name}: `{command}` failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
        return proc.stdout

    def ssh_options(self) -> list[str]:
        return [
            "-i", str(self.key),
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10",
            "-o", "BatchMode=yes",
        ]  # fmt: skip

    def instance_config(self) -> list[dict[str, Any]]:
        """What Molecule's default driver needs to reach each guest."""
        return [
            {
                "instance": g.name,
                "address": g.address,
                "user": "root",
                "port": 22,
                "identity_file": str(self.key),
                "become_method": False,
            }
            for g in self.guests
        ]

    # -- internals --

    def _ensure_key(self) -> None:
        if not self.key.is_file():
            require("ssh-keygen", "openssh-client")
            _check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"werkraum-{self.name}", "-f", str(self.key)],
                   "ssh-keygen")  # fmt: skip

    def _ensure_bridge(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            return
        prefix = ipaddress.ip_network(self.network).prefixlen
        _check(["ip", "link", "add", self.bridge, "type", "bridge"], f"creating bridge {self.bridge}")
        _check(["ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.bridge], "addressing the bridge")
        _check(["ip", "link", "set", self.bridge, "up"], "bringing the bridge up")

    def _tap(self, guest: Guest) -> str:
        return f"{self.bridge}t{self.guests.index(guest) + 1}"

    def _disk_path(self, guest: Guest, disk: Disk) -> Path:
        return self.dir / guest.name / f"disk-{disk.serial}.{'raw' if disk.filesystem else 'qcow2'}"

    def _prepare_disks(self, guest: Guest, image: Path) -> None:
        gdir = self.dir / guest.name
        gdir.mkdir(parents=True, exist_ok=True)
        (gdir / "image").write_text(str(image))
        qemu_img = require("qemu-img", "qemu-utils")
        root = gdir / "root.qcow2"
        if not root.exists():
            _check([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image / "root.qcow2"), str(root)],
                   "qemu-img create (overlay)")  # fmt: skip
        for disk in guest.disks:
            path = self._disk_path(guest, disk)
            if path.exists():
                continue
            if disk.filesystem:
                with path.open("wb") as fh:
                    fh.truncate(disk.size_gb * 1024**3)
                _check([f"mkfs.{disk.filesystem}", "-q", "-F", str(path)], f"mkfs.{disk.filesystem}")
            else:
                _check([qemu_img, "create", "-q", "-f", "qcow2", str(path), f"{disk.size_gb}G"], "qemu-img create")

    def _pid(self, name: str) -> int | None:
        path = self.dir / name / "qemu.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _ssh_ok(self, name: str) -> bool:
        guest = self.guest(name)
        try:
            with socket.create_connection((guest.address, 22), timeout=3):
                pass
        except OSError:
            return False
        return self._ssh(name, "systemctl is-system-running --wait >/dev/null; true", 300).returncode == 0

    def _ssh(self, name: str, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        address = self.guest(name).address
        return subprocess.run(
            ["ssh", *self.ssh_options(), f"root@{address}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _qmp(self, name: str, command: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(self.dir / name / "qmp.sock"))
        with sock:
            reader = sock.makefile("r")
            reader.readline()  # greeting
            for msg in ({"execute": "qmp_capabilities"}, {"execute": command}):
                sock.sendall(json.dumps(msg).encode() + b"\n")
                reader.readline()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not a running guest.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
