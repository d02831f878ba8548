"""A real NetBox on loopback, for tests, benchmarks and trying things out.

This is the NetBox from PyPI (the same package the ``netbox`` role installs), with
a PostgreSQL cluster and a Redis of its own in a temporary folder, served by
gunicorn on 127.0.0.1. Nothing is shared with the machine's own services.

Migrating an empty database takes 5 to 8 minutes on two cores, so the first
start dumps the freshly migrated database into the cache (keyed by NetBox and
PostgreSQL version); later starts restore that dump in seconds and ``migrate``
then has nothing left to do.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from werkraum.errors import MissingToolError, WerkraumError
from werkraum.lifecycle import Process, command_check, free_port, http_check, tcp_check
from werkraum.paths import cache_dir
from werkraum.progress import say

NETBOX_VERSION = "4.7.3"  # keep in step with roles/netbox/defaults/main.yml (a test checks)
ADMIN_USER = "admin"
START_TIMEOUT_S = 120


def postgres_bindir() -> Path:
    """The newest PostgreSQL server installed from Debian's packages."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise MissingToolError(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed",
            hint="apt-get install postgresql (scripts/bootstrap does it)",
        )
    return candidates[-1].parent


def redis_server() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if not found:
        raise MissingToolError("redis-server is not installed", hint="apt-get install redis-server")
    return found


def netbox_venv(version: str = NETBOX_VERSION) -> Path:
    """A virtualenv with NetBox installed from PyPI, built once per version and cached."""
    venv = cache_dir() / "netbox" / version / "venv"
    stamp = venv / ".werkraum-installed"
    if stamp.exists():
        return venv
    say(f"    installing NetBox {version} from PyPI into {venv} (once; about 2 minutes)")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--upgrade", "pip"],
        [str(venv / "bin" / "pip"), "install", "-q", f"netbox=={version}"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
            raise WerkraumError(
                f"installing NetBox {version} failed at `{' '.join(cmd[-3:])}`:\n    {tail}",
                hint="NetBox compiles psycopg: apt-get install libpq-dev gcc; and PyPI must be reachable",
            )
    stamp.write_text(version + "\n")
    return venv


def cached_snapshot(version: str = NETBOX_VERSION) -> Path | None:
    """The cached migrated database of this NetBox version, if a local NetBox has made one."""
    found = sorted((cache_dir() / "netbox" / version).glob("migrated-pg*.dump"))
    return found[-1] if found else None


@dataclass
class LocalNetBox:
    """One NetBox instance on loopback. Use as a context manager, or start()/stop()."""

    version: str = NETBOX_VERSION
    workers: int = 3
    url: str = ""
    token: str = ""
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _root: Path | None = None
    # PostgreSQL, Redis and gunicorn, in the order they start (and stop the other way round).
    _services: list[Process] = field(default_factory=list)
    _pg: tuple[Path, Path, int] | None = None

    # --- helpers -------------------------------------------------------------------

    def _as_postgres(self, cmd: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root; CI runs as root.
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _run(self, cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise WerkraumError(f"local NetBox: {what} failed:\n    {tail}")
        return proc.stdout

    def _netbox_env(self) -> dict[str, str]:
        assert self._root
        return {**os.environ, "NETBOX_ROOT": str(self._root / "netbox"), "DJANGO_SETTINGS_MODULE": "netbox.settings"}

    def manage(self, *args: str) -> str:
        venv = netbox_venv(self.version)
        return self._run([str(venv / "bin" / "netbox"), *args], f"netbox {' '.join(args)}", env=self._netbox_env())

    @property
    def snapshot(self) -> Path:
        major = postgres_bindir().parent.name
        return cache_dir() / "netbox" / self.version / f"migrated-pg{major}.dump"

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> LocalNetBox:
        venv = netbox_venv(self.version)
        bindir = postgres_bindir()
        redis = redis_server()
        self._root = Path(tempfile.mkdtemp(prefix="werkraum-netbox-"))
        os.chmod(self._root, 0o755)  # the postgres user must reach its data folder
        try:
            self._start_services(bindir, redis)
            self._configure()
            self._prepare_database(bindir)
            self._serve(venv)
            self._provision_token()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_services(self, bindir: Path, redis: str) -> None:
        assert self._root
        pgdata, pgsock = self._root / "pg", self._root / "pgsock"
        for d in (pgdata, pgsock):
            d.mkdir()
            if os.geteuid() == 0:
                shutil.chown(d, "postgres", "postgres")
        pg_port = free_port()
        self._run(
            self._as_postgres([str(bindir / "initdb"), "-D", str(pgdata), "-U", "netbox", "-A", "trust", "-E", "UTF8"]),
            "initdb",
        )
        self._pg = (bindir, pgdata, pg_port)
        self._services.append(
            Process(
                "local NetBox: PostgreSQL",
                self._as_postgres(
                    [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(pg_port), "-k", str(pgsock),
                     "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
                ),
                check=command_check([str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(pg_port)]),
                awaited=f"pg_isready on 127.0.0.1:{pg_port}",
                log=pgdata / "server.log",
                cwd=self._root,
                stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
                stop_timeout=30,
            ).start()
        )  # fmt: skip
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "netbox", "netbox"]
        self._run(createdb, "createdb")
        self.redis_port = free_port()
        self._services.append(
            Process(
                "local NetBox: Redis",
                [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                check=tcp_check("127.0.0.1", self.redis_port),
                awaited=f"127.0.0.1:{self.redis_port} accepting connections",
                log=self._root / "redis.log",
                cwd=self._root,
            ).start()
        )

    def _configure(self) -> None:
        assert self._root and self._pg
        conf = self._root / "netbox" / "conf"
        conf.mkdir(parents=True)
        (conf / "__init__.py").write_text("")
        redis = {"HOST": "127.0.0.1", "PORT": self.redis_port, "PASSWORD": "", "SSL": False}
        (conf / "configuration.py").write_text(
            "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n"
            f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.postgresql', 'NAME': 'netbox', "
            f"'USER': 'netbox', 'PASSWORD': '', 'HOST': '127.0.0.1', 'PORT': {self._pg[2]}, 'CONN_MAX_AGE': 300}}}}\n"
            f"REDIS = {{'tasks': {{**{redis!r}, 'DATABASE': 0}}, 'caching': {{**{redis!r}, 'DATABASE': 1}}}}\n"
            f"SECRET_KEY = {secrets.token_urlsafe(50)!r}\n"
            f"API_TOKEN_PEPPERS = {{1: {secrets.token_urlsafe(50)!r}}}\n"
            "ISOLATED_DEPLOYMENT = True\nCENSUS_REPORTING_ENABLED = False\nRELEASE_CHECK_URL = None\n"
        )

    def _prepare_database(self, bindir: Path) -> None:
        assert self._pg
        port = str(self._pg[2])
        if self.snapshot.exists():
            self._run(
                [str(bindir / "pg_restore"), "-h", "127.0.0.1", "-p", port, "-U", "netbox", "-d", "netbox",
                 "--no-owner", str(self.snapshot)],
                f"restoring {self.snapshot}",
            )  # fmt: skip
            self.manage("migrate", "--no-input")  # nothing to do, unless the snapshot is stale
            return
        say(f"    migrating an empty NetBox {self.version} database (once; 5 to 8 minutes)")
        self.manage("migrate", "--no-input")
        self.snapshot.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.snapshot.with_suffix(".tmp")
        self._run(
            [str(bindir / "pg_dump"), "-h", "127.0.0.1", "-p", port, "-U", "netbox", "-Fc", "-f", str(tmp), "netbox"],
            "pg_dump",
        )
        tmp.replace(self.snapshot)

    def _serve(self, venv: Path) -> None:
        assert self._root
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._services.append(
            Process(
                "local NetBox: gunicorn",
                [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(self.workers),
                 "--threads", "3", "--timeout", "120", "netbox.wsgi"],
                # Any answer short of a server error means NetBox runs (it wants a token even here).
                check=http_check(f"{self.url}/api/status/", ok=lambda status: status < 500),
                awaited=f"{self.url}/api/status/ answering below 500",
                log=self._root / "gunicorn.log",
                cwd=self._root,
                env=self._netbox_env(),
                timeout=START_TIMEOUT_S,
                stop_timeout=30,
            ).start()
        )  # fmt: skip

    def _provision_token(self) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; U = get_user_model(); "
            f"U.objects.filter(username={ADMIN_USER!r}).exists() or "
            f"U.objects.create_superuser({ADMIN_USER!r}, 'admin@example.invalid', {self.admin_password!r})",
        )
        reply = requests.post(
            f"{self.url}/api/users/tokens/provision/",
            json={"username": ADMIN_USER, "password": self.admin_password},
            timeout=30,
        )
        if reply.status_code != 201:
            raise WerkraumError(f"local NetBox: provisioning a token failed: {reply.status_code} {reply.text[:200]}")
        data = reply.json()
        self.token = f"nbt_{data['key']}.{data['token']}" if data.get("key") else data["token"]

    def stop_web(self) -> None:
        """Stop gunicorn only (NetBox 'down' for tests); the database stays."""
        self._services[-1].stop()

    def stop(self) -> None:
        for service in reversed(self._services):
            service.stop()
        self._services.clear()
        self._pg = None
        if self._root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> LocalNetBox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
