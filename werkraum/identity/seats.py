"""Seats that are real: how many users each tenant has in Keycloak, and how many signed in lately.

A tenant's users are the members of its group ``tenant-<slug>-members`` (its admins and
its workspaces' members, declared by its stack: werkraum/infra/sso.py). Who signed in is
read from the realm's sign-in events, which the platform stack's realm keeps (LOGIN and
CODE_TO_TOKEN, 90 days: werkraum/infra/keycloak.py). `werkraum tenant seats` prints
these, as a table or as JSON for the fleet view; it never reports a tenant it could not
read (a missing group is an error naming the tenant).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from werkraum.errors import WerkraumError
from werkraum.infra import naming
from werkraum.infra.keycloak import LOGIN_EVENTS, admin
from werkraum.tenants.platform import PlatformSpec

ACTIVE_DAYS = 30


@dataclass(frozen=True)
class TenantSeats:
    slug: str
    seats_licensed: int
    users: int  # members of tenant-<slug>-members
    active_30d: int  # of those, who signed in during the last ACTIVE_DAYS days

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def realm_admin(platform: PlatformSpec) -> Iterator[KeycloakAdmin]:
    kc = platform.require_keycloak()
    props = {
        "server_url": kc.url,
        "admin_user": kc.admin_user,
        "admin_password": kc.admin_password,
        "ca_path": kc.ca_file,
        "address": kc.address,
    }
    with admin(props, platform.keycloak_realm) as client:
        yield client


def signed_in_since(kc: KeycloakAdmin, since: datetime.date) -> set[str]:
    """The ids of the users with a sign-in event on or after ``since``."""
    users: set[str] = set()
    first, page = 0, 1000
    while True:
        events = kc.get_events({"type": list(LOGIN_EVENTS), "dateFrom": since.isoformat(), "first": first, "max": page})
        users.update(str(e["userId"]) for e in events if e.get("userId"))
        if len(events) < page:
            return users
        first += page


def group_members(kc: KeycloakAdmin, slug: str) -> list[str]:
    name = naming.member_group(slug)
    try:
        group = kc.get_group_by_path(f"/{name}")
    except KeycloakError as exc:
        if exc.response_code != 404:
            raise
        group = None
    if not group or not group.get("id"):
        raise WerkraumError(
            f"tenant {slug}: Keycloak has no group {name} in realm {kc.connection.realm_name}",
            hint=f"apply the tenant first (`werkraum tenant apply {slug}`): its stack declares the group",
        )
    return [str(m["id"]) for m in kc.get_group_members(group["id"], {"max": 100000})]


def read_seats(
    platform: PlatformSpec, tenants: Iterable[tuple[str, int]], *, today: datetime.date | None = None
) -> list[TenantSeats]:
    """(slug, seats licensed) of each tenant -> its users and active users, read from Keycloak."""
    since = (today or datetime.datetime.now(datetime.UTC).date()) - datetime.timedelta(days=ACTIVE_DAYS)
    with realm_admin(platform) as kc:
        try:
            active = signed_in_since(kc, since)
            out = []
            for slug, licensed in tenants:
                members = group_members(kc, slug)
                out.append(TenantSeats(slug, licensed, len(members), len(active.intersection(members))))
        except KeycloakError as exc:
            raise WerkraumError(
                f"Keycloak at {platform.require_keycloak().url} (realm {platform.keycloak_realm}) "
                f"refused reading the seats: {exc.response_code} {exc.error_message!s}",
                hint="apply the platform stack (its realm keeps the sign-in events) and check Keycloak",
            ) from None
    return out
