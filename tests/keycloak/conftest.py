"""A real Keycloak on loopback for the whole session (tests/harness/keycloak.py), not a mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.keycloak import LocalKeycloak


@pytest.fixture(scope="session")
def keycloak() -> Iterator[LocalKeycloak]:
    with LocalKeycloak() as kc:
        yield kc
