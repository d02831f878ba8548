"""A real Keycloak on loopback for the tests: the release the keycloak role pins, in development mode.

The same keycloak-quarkus-dist the role installs (its version and sha256 read from
roles/keycloak/defaults/main.yml), downloaded once from Maven Central into the cache,
run with ``kc.sh start-dev`` (its embedded database, HTTP on 127.0.0.1) on the
machine's Java, with a bootstrap administrator. Development mode differs from the
role's production server in its database and TLS, not in the admin REST API the
dynamic provider talks to.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.lifecycle import Process, free_port, http_check
from werkraum.paths import cache_dir

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "roles" / "keycloak" / "defaults" / "main.yml"
START_TIMEOUT_S = 240


def pins() -> tuple[str, str, str]:
    """The role's keycloak_version, its sha256 and the Maven Central URL of the tar.gz."""
    values = yaml.safe_load(DEFAULTS.read_text())
    version = str(values["keycloak_version"])
    algo, digest = str(values["keycloak_checksum"]).split(":", 1)
    if algo != "sha256":
        raise WerkraumError(f"{DEFAULTS}: keycloak_checksum is {algo}, the harness checks sha256")
    # The role's own keycloak_download_url, rendered as Ansible would (it names only the version).
    url = jinja2.Template(str(values["keycloak_download_url"])).render(keycloak_version=version).strip()
    url = "".join(url.split())  # folded over two lines in the YAML
    return version, digest, url


def java_home() -> Path:
    """A Java of 17 or newer: Debian's (bootstrap installs openjdk-17-jre-headless on Debian 12)."""
    for candidate in ("/usr/lib/jvm/java-21-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-amd64"):
        if (Path(candidate) / "bin" / "java").exists():
            return Path(candidate)
    java = shutil.which("java")
    if java:
        return Path(java).resolve().parent.parent
    raise MissingToolError(
        "java is not installed: it runs the tests' Keycloak",
        hint="apt-get install openjdk-17-jre-headless (scripts/bootstrap does)",
    )


def unpacked() -> Path:
    """The pinned release unpacked in the cache (downloaded and checked once)."""
    version, digest, url = pins()
    home = cache_dir() / "keycloak" / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").exists():
        return home
    archive = home.parent / f"keycloak-quarkus-dist-{version}.tar.gz"
    home.parent.mkdir(parents=True, exist_ok=True)
    if not archive.exists():
        partial = archive.with_suffix(".partial")
        try:
            with urllib.request.urlopen(url, timeout=120) as answer, partial.open("wb") as out:
                shutil.copyfileobj(answer, out)
        except OSError as exc:
            raise WerkraumError(f"cannot download {url}: {exc}", hint="Maven Central must be reachable") from None
        partial.rename(archive)
    got = hashlib.sha256(archive.read_bytes()).hexdigest()
    if got != digest:
        archive.unlink()
        raise WerkraumError(f"{url}: sha256 {got}, the role pins {digest} ({DEFAULTS})")
    with tempfile.TemporaryDirectory(dir=home.parent) as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="tar")
        (Path(tmp) / f"keycloak-{version}").rename(home)
    return home


@dataclass
class LocalKeycloak:
    """Keycloak in development mode on a free loopback port, for one test session."""

    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port: int = 0
    _process: Process | None = None
    _data: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalKeycloak:
        home = unpacked()
        self.port, management = free_port(), free_port()
        self._data = tempfile.TemporaryDirectory(prefix="werkraum-keycloak-")
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home()),
            "JAVA_OPTS_KC_HEAP": "-Xms128m -Xmx512m",
            "KC_BOOTSTRAP_ADMIN_USERNAME": self.admin_user,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        self._process = Process(
            "tests' Keycloak",
            [
                str(home / "bin" / "kc.sh"),
                "start-dev",
                "--http-host=127.0.0.1",
                f"--http-port={self.port}",
                f"--http-management-port={management}",
                "--health-enabled=true",
                "--cache=local",
                "--db=dev-mem",
            ],
            check=http_check(f"http://127.0.0.1:{management}/health/ready"),
            awaited=f"http://127.0.0.1:{management}/health/ready",
            log=Path(self._data.name) / "keycloak.log",
            cwd=Path(self._data.name),
            env=env,
            timeout=START_TIMEOUT_S,
            stop_timeout=30,
        ).start()
        return self

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        if self._data:
            self._data.cleanup()

    def __enter__(self) -> LocalKeycloak:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
