"""A real NetBox on loopback for the whole session (werkraum/netbox/local.py), not a mock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from werkraum.netbox.local import LocalNetBox


def _have_services() -> bool:
    from pathlib import Path

    return bool(list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))) and bool(
        shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    )


@pytest.fixture(scope="session")
def netbox() -> Iterator[LocalNetBox]:
    if not _have_services():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL or redis-server is missing: run scripts/bootstrap (make test does)")
        pytest.skip("PostgreSQL or redis-server is not installed (make test installs them)")
    with LocalNetBox() as nb:
        yield nb


@pytest.fixture
def nb_env(netbox: LocalNetBox) -> dict[str, str]:
    return {"NETBOX_API": netbox.url, "NETBOX_TOKEN": netbox.token}
