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
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.paths import HARNESS_DATA
from werkraum.errors import WerkraumError, require_tool
from werkraum.lab.image import ImageRecipe, ensure_disk, run_checked
from werkraum.lifecycle import Process
from werkraum.paths import state_dir
from werkraum.progress import say, step

# How often VmLab.ssh tries a connection that timed out before the command ran.
SSH_CONNECT_TRIES = 4


def _connection_timed_out(stderr: str) -> bool:
    """ssh's own messages for a connection that never reached the command (not a command's error)."""
    return "Connection timed out" in stderr or "banner exchange" in stderr


GUEST_DATA = HARNESS_DATA / "vm"
ROOT_LABEL = "rootfs"
ROOT_SIZE_GB = 12
SSH_TIMEOUT_S = 420


# --- the guest image -------------------------------------------------------------------

# A bare Debian host as the installer leaves it: kernel, systemd, SSH, Python for Ansible.
GUEST_PACKAGES = (
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


def guest_recipe(suite: str = "bookworm", preload: tuple[str, ...] = ()) -> ImageRecipe:
    """The guest disk's recipe: the one lab image recipe with a kernel, SSH and the first-boot unit.

    ``preload``: packages a role would install anyway, baked in so that a test does
    not spend minutes in dpkg under emulation (the role's install task still runs).
    The guest reads its hostname, address and SSH key from the kernel command line
    (werkraum-guest-config, from tests/harness/data/vm); SSH host keys are made per
    guest at first boot; qemu's user-mode network answers DNS on 10.0.2.3.
    """
    return ImageRecipe(
        suite=suite,
        packages=GUEST_PACKAGES,
        masked_units=("getty@tty1.service",),
        preload=tuple(preload),
        overlay=GUEST_DATA,
        enabled_units=(
            ("sysinit.target", "/etc/systemd/system/werkraum-guest-config.service"),
            ("multi-user.target", "/lib/systemd/system/systemd-networkd.service"),
        ),
        remove=("etc/ssh/ssh_host_*",),
        files=(
            ("etc/fstab", f"LABEL={ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\n"),
            ("etc/resolv.conf", "nameserver 10.0.2.3\n"),
        ),
    )


# The name tests/harness/cli_vm.py builds the recipe with.
VmImageRecipe = guest_recipe


def require(tool: str, package: str) -> str:
    return require_tool(
        tool, "the lab's qemu guests need it", hint=f"run `make bootstrap` or `apt-get install {package}`"
    )


def ensure_vm_image(recipe: ImageRecipe) -> Path:
    """Return the folder with root.qcow2, vmlinuz and initrd.img, building it if absent."""
    return ensure_disk(recipe, size_gb=ROOT_SIZE_GB, label=ROOT_LABEL, in_use=_in_use)


def _in_use(image: Path) -> bool:
    """Whether a guest of any lab still boots from this image (its overlay needs it)."""
    return any(p.read_text() == str(image) for p in (state_dir() / "vm").glob("*/*/image"))


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
    # The guests this object started (their qemu is its child): waited for through their executor.
    _started: dict[str, Process] = field(default_factory=dict, repr=False, compare=False)

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
            run_checked(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], f"creating tap {tap}")
        run_checked(["ip", "link", "set", tap, "master", self.bridge, "up"], f"attaching tap {tap}")
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
        ]  # fmt: skip
        for disk in guest.disks:
            fmt = "raw" if disk.filesystem else "qcow2"
            cmd += [
                "-drive", f"if=none,id={disk.serial},file={self._disk_path(guest, disk)},format={fmt}",
                "-device", f"virtio-blk-pci,drive={disk.serial},serial={disk.serial}",
            ]  # fmt: skip
        (gdir / "console.log").unlink(missing_ok=True)
        qemu_process = self._qemu(guest.name, cmd)
        qemu_process.spawn()
        self._started[guest.name] = qemu_process
        say(f"    {guest.name}: started (qemu, TCG), address {guest.address}")

    def stop(self, name: str, *, hard: bool = True) -> None:
        """Stop a guest: ``hard`` pulls the power (a failed host), else an ACPI shutdown."""
        qemu = self._qemu(name)
        if not qemu.running():
            return
        if hard:
            qemu.stop(signal.SIGKILL, timeout=25)
        else:
            self._qmp(name, "system_powerdown")
            qemu.stop(0, timeout=300)  # signal 0 sends nothing: the guest powers off; SIGKILL if not within 300 s
        self._started.pop(name, None)
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
        return self._qemu(name).running()

    def wait_ssh(self, names: list[str], timeout: float = SSH_TIMEOUT_S) -> None:
        """Until every guest of ``names`` answers SSH (they boot side by side, so one wait is about the longest)."""
        with step(f"Waiting for SSH on {', '.join(names)} (emulated boot: about a minute)"):
            deadline = time.monotonic() + timeout
            for name in names:
                qemu = self._started.get(name) or self._qemu(name)  # started here, or by an earlier run
                qemu.wait_healthy(max(deadline - time.monotonic(), 1))
                say(f"    {name}: SSH answers")

    def ssh(self, name: str, command: str, *, check: bool = True, timeout: float = 600) -> str:
        """Run ``command`` on a running guest; an SSH connection that times out is tried again.

        Under software emulation a guest busy with recovery (or a sibling booting)
        sometimes misses SSH's banner deadline: ssh exits 255 with "Connection timed
        out during banner exchange" before the command ran. That is the connection,
        not a result, so it is retried (SSH_CONNECT_TRIES in all); any other failure,
        and a command's own exit code, are returned at once.
        """
        for attempt in range(1, SSH_CONNECT_TRIES + 1):
            proc = self._ssh(name, command, timeout)
            if not (proc.returncode == 255 and _connection_timed_out(proc.stderr)) or attempt == SSH_CONNECT_TRIES:
                break
            say(f"    {name}: SSH connection timed out ({attempt}/{SSH_CONNECT_TRIES}), trying again in 10 s")
            time.sleep(10)
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
            run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"werkraum-{self.name}",
                         "-f", str(self.key)], "ssh-keygen")  # fmt: skip

    def _ensure_bridge(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            return
        prefix = ipaddress.ip_network(self.network).prefixlen
        run_checked(["ip", "link", "add", self.bridge, "type", "bridge"], f"creating bridge {self.bridge}")
        run_checked(["ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.bridge], "addressing the bridge")
        run_checked(["ip", "link", "set", self.bridge, "up"], "bringing the bridge up")

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
            run_checked([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image / "root.qcow2"),
                         str(root)], "qemu-img create (overlay)")  # fmt: skip
        for disk in guest.disks:
            path = self._disk_path(guest, disk)
            if path.exists():
                continue
            if disk.filesystem:
                with path.open("wb") as fh:
                    fh.truncate(disk.size_gb * 1024**3)
                run_checked([f"mkfs.{disk.filesystem}", "-q", "-F", str(path)], f"mkfs.{disk.filesystem}")
            else:
                cmd = [qemu_img, "create", "-q", "-f", "qcow2", str(path), f"{disk.size_gb}G"]
                run_checked(cmd, "qemu-img create")

    def _qemu(self, name: str, argv: list[str] | None = None) -> Process:
        """The guest's qemu: detached (it runs on between two `werkraum lab vm` calls), healthy once SSH answers."""
        gdir = self.dir / name
        return Process(
            f"guest {name}",
            argv or (),
            check=lambda: self._ssh_ok(name),
            awaited=f"SSH on {self.guest(name).address} and systemd to finish booting",
            log=gdir / "qemu.log",
            pidfile=gdir / "qemu.pid",
            timeout=SSH_TIMEOUT_S,
            interval=3,
            hint=f"read its console: {gdir / 'console.log'}",
        )

    def _ssh_ok(self, name: str) -> bool:
        guest = self.guest(name)
        try:
            with socket.create_connection((guest.address, 22), timeout=3):
                pass
        except OSError:
            return False
        return self._ssh(name, "systemctl is-system-running --wait >/dev/null; true", 300).returncode == 0

    def _ssh(self, name: str, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """One ssh run of ``command`` (see ``ssh`` for the retried connection failures)."""
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
