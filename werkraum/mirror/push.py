"""Filling a registry from the images `werkraum mirror images` built, under the names the nodes ask for.

An image goes to ``REPO/<its upstream name without the registry host>``
(``Pins.mirror_image``), the same mapping the containerd role's ``hosts.toml``
makes when a node pulls ``registry.k8s.io/...``. Pushes go to the registry's push
site (roles/registry: ``registry_push_port``, basic authentication of a push
user); the nodes pull the same repositories from its pull site. The push verifies
the registry's certificate (``cert_dir`` holds the CA that signed it); a push that
fails names the image and the registry, and the images pushed before it stay.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.lab import podman
from werkraum.lab.lab import lab_pki, service_host
from werkraum.lab.rack import LabRack
from werkraum.mirror.files import files_dir
from werkraum.mirror.pins import Pins

# The registry role's defaults (roles/registry): its TLS ports (pulls, pushes), files folder and push user.
LAB_REGISTRY_PORT = 5000
LAB_PUSH_PORT = 5443
LAB_FILES_DIR = "/srv/registry/files"
LAB_PUSH_USER = "push"
LAB_PUSH_SECRET = "/etc/docker/registry/secrets/push-password"


@dataclass(frozen=True)
class PushTarget:
    """Where images are pushed: the registry's push site (HOST:PORT, optionally /PATH) and a push user's
    ``user:password`` (None: the registry asks for none)."""

    repo: str
    creds: str | None = None

    def __repr__(self) -> str:  # never the password
        return f"PushTarget({self.repo!r}, creds={'***' if self.creds else None})"


@dataclass(frozen=True)
class Pushed:
    name: str
    source: str
    target: str


def registry_answers(repo: str, ca_file: Path | None, creds: str | None = None) -> None:
    """Stop with an error naming the registry when its API does not answer 200 over verified TLS
    (to the push user ``creds``, when given)."""
    host = repo.split("/", 1)[0]
    url = f"https://{host}/v2/"
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    request = urllib.request.Request(url)
    if creds:
        request.add_header("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WerkraumError(
            f"registry {host} does not answer at {url}: {reason}",
            hint="is the service node converged (its registry role) and its port open from here? "
            "A certificate error means the CA given is not the one that signed the registry's certificate",
        ) from None
    if status == 401:
        raise WerkraumError(
            f"registry {host} refused {'the push user' if creds else 'a push without credentials'} at {url} (401)",
            hint="give a push user of roles/registry (registry_push_users; its password is "
            f"{LAB_PUSH_SECRET} on the service node) as --creds USER:PASSWORD",
        )
    if status != 200:
        raise WerkraumError(
            f"registry {host} answered {status} at {url}, not 200", hint="see the registry's log on its host"
        )


def push_images(
    pins: Pins, target: PushTarget, *, cert_dir: Path | None = None, names: list[str] | None = None
) -> list[Pushed]:
    """Push each pinned image (or ``names``) from podman's store to ``repo``; every missing image is named first."""
    wanted = names or list(pins.images)
    unknown = [n for n in wanted if n not in pins.images]
    if unknown:
        raise WerkraumError(
            f"no pinned image named {', '.join(unknown)}",
            hint=f"the images are the keys of kubernetes_mirror_images in {pins.source}: {', '.join(pins.images)}",
        )
    missing = [n for n in wanted if not podman.image_exists(pins.images[n])]
    if missing:
        raise WerkraumError(
            f"not built yet: {', '.join(pins.images[n] for n in missing)}",
            hint=f"run `werkraum mirror images {' '.join(missing)}` first (it needs `werkraum mirror build`)",
        )
    pairs = [(pins.images[n], pins.mirror_image(n, target.repo)) for n in wanted]
    targets = push_refs(pairs, target, cert_dir=cert_dir, again="run the command again once the registry is fixed")
    return [Pushed(name, source, target) for name, (source, _), target in zip(wanted, pairs, targets, strict=True)]


def push_refs(pairs: list[tuple[str, str]], to: PushTarget, *, cert_dir: Path | None, again: str) -> list[str]:
    """Push each (image in podman's store, target reference) to the registry's push site ``to``.

    The registry must answer over verified TLS first; a push that fails names the image,
    its target and how many went before it (they stay), and ``again`` says what to run.
    """
    registry_answers(to.repo, cert_dir / "ca.crt" if cert_dir else None, to.creds)
    pushed: list[str] = []
    for source, target in pairs:
        args = ["push", "--quiet"]
        if cert_dir is not None:
            args += ["--cert-dir", str(cert_dir)]
        if to.creds:
            args += ["--creds", to.creds]
        try:
            podman.podman(*args, source, f"docker://{target}")
        except podman.PodmanError as exc:
            raise WerkraumError(
                f"pushing {source} to {target} failed: {exc.what}",
                hint=f"{len(pushed)} image(s) before it were pushed; {again}",
            ) from None
        pushed.append(target)
    return pushed


def copy_files(source: Path, container: str, dest: str) -> int:
    """Copy the files tree into a lab host's files mirror folder; returns how many files it holds."""
    count = sum(1 for p in source.rglob("*") if p.is_file())
    if not (source / "index.json").is_file():
        raise WerkraumError(
            f"{source} holds no index.json: the files mirror is not laid out yet",
            hint="run `werkraum mirror build` (without names: it builds every binary and writes the index)",
        )
    podman.podman("exec", container, "mkdir", "-p", dest)
    podman.podman("cp", f"{source}/.", f"{container}:{dest}")
    return count


@dataclass(frozen=True)
class LabFill:
    registry: str
    images: list[Pushed]
    files: int


def fill_lab(rack: LabRack, pins: Pins) -> LabFill:
    """Push the built images to the lab's registry and copy the files tree to its service node.

    The registry is the lab's service node at its address and the registry
    role's port (the lab's certificate for it is signed by the lab CA, which
    the push trusts); the files go below the role's files folder there.
    """
    host = service_host(rack)
    if host is None:
        raise WerkraumError(f"lab {rack.name} has no service host: nowhere to run the registry")
    if not podman.container_exists(host.container):
        raise WerkraumError(
            f"host {host.name}: its container {host.container} does not exist", hint="run `werkraum lab up`"
        )
    return fill(pins, lab_push_target(rack), lab_pki(rack).trust_dir(), host.container)


def lab_push_target(rack: LabRack) -> PushTarget:
    """The lab registry's push site, with the push user's password read from the service node."""
    host = service_host(rack)
    if host is None:
        raise WerkraumError(f"lab {rack.name} has no service host: nowhere to run the registry")
    secret = podman.podman("exec", host.container, "cat", LAB_PUSH_SECRET, check=False)
    if secret.returncode != 0 or not secret.stdout.strip():
        raise WerkraumError(
            f"host {host.name}: no {LAB_PUSH_SECRET} (the registry role keeps the push user's password there)",
            hint="converge the service node first (`werkraum lab converge --limit service`)",
        )
    return PushTarget(f"{host.address}:{LAB_PUSH_PORT}", f"{LAB_PUSH_USER}:{secret.stdout.strip()}")


def fill(pins: Pins, to: PushTarget, cert_dir: Path, container: str) -> LabFill:
    """Every pinned image pushed to ``to`` (trusting ``cert_dir``'s CA), the files tree into ``container``."""
    images = push_images(pins, to, cert_dir=cert_dir)
    count = copy_files(files_dir(), container, LAB_FILES_DIR)
    return LabFill(to.repo, images, count)
