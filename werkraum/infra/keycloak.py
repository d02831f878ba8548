"""Keycloak objects the platform and tenant programs declare: a realm, groups with their members, OIDC clients.

No Keycloak provider plugin can be built here (the Go module proxy refuses
terraform-provider-keycloak and pulumi-keycloak's provider, docs/identity.md), so
these are Pulumi **dynamic** resources: the engine runs their provider class in its
Python provider process, which talks to Keycloak's admin REST API with
python-keycloak. The provider holds no client between calls (the engine pickles it);
each call logs in with the connection in the resource's inputs, whose password is a
secret and stays encrypted in the stack's state.

Members are users named by their e-mail address. A group's provider creates the users
it needs (without a password: they set one through Keycloak's "forgot password" or an
invitation) and, when a member leaves or the group goes, deletes the users it created
that are in no group any more, so offboarding leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakConnectionError, KeycloakError

import pulumi
from pulumi import dynamic
from werkraum.errors import WerkraumError
from werkraum.infra.pinned import pin


@dataclass(frozen=True)
class KeycloakConnection:
    """Where the platform's Keycloak is and who administers it (the keycloak role's admin of the master realm)."""

    server_url: str
    username: str
    password: pulumi.Input[str]
    # A CA bundle that signs Keycloak's certificate (the rack's CA); "": the system's.
    ca_path: str = ""
    # The address to reach the URL's host at, when no DNS knows the name (the lab); "": DNS.
    address: str = ""

    def inputs(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "admin_user": self.username,
            "admin_password": pulumi.Output.secret(self.password),
            "ca_path": self.ca_path,
            "address": self.address,
        }


@contextmanager
def admin(props: Mapping[str, Any], realm: str = "master") -> Iterator[KeycloakAdmin]:
    """A logged-in admin client for ``realm``; Keycloak's failures as errors that name it and the realm."""
    url = str(props["server_url"])
    try:
        connection = KeycloakOpenIDConnection(
            server_url=url,
            username=str(props["admin_user"]),
            password=str(props["admin_password"]),
            realm_name=realm,
            user_realm_name="master",
            client_id="admin-cli",
            verify=str(props.get("ca_path") or "") or True,
            timeout=30,
        )
        # The sessions python-keycloak sends with: the admin API's and the token endpoint's (its own client).
        address = str(props.get("address") or "")
        pin(connection._s, url, address)
        pin(connection.keycloak_openid.connection._s, url, address)
        yield KeycloakAdmin(connection=connection)
    except KeycloakConnectionError as exc:
        raise WerkraumError(
            f"Keycloak at {url} cannot be reached: {_said(exc)}",
            hint="check the platform's keycloak url and that the service node serves it (roles/keycloak)",
        ) from None
    except KeycloakError as exc:
        if "invalid_grant" in _said(exc):
            raise WerkraumError(
                f"Keycloak at {url} refused the administrator {props['admin_user']}: {_said(exc)}",
                hint="the platform's keycloak admin password must be the keycloak role's "
                "/etc/keycloak/secrets/admin-password on the service node",
            ) from None
        raise WerkraumError(
            f"Keycloak at {url} (realm {realm}): {exc.response_code or ''} {_said(exc)}".strip(),
            hint="check the platform's keycloak settings and that Keycloak is up (roles/keycloak)",
        ) from None


def _said(exc: KeycloakError) -> str:
    body = exc.response_body
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body or exc.error_message)


_CONNECTION = ("server_url", "admin_user", "admin_password", "ca_path", "address")


def _unless_gone(call: Any, *args: Any) -> None:
    """Delete something; that it is gone already (404) is what was wanted."""
    try:
        call(*args)
    except KeycloakError as exc:
        if exc.response_code != 404:
            raise


def _diff(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    fields: Sequence[str],
    replace_on: Sequence[str],
    *,
    delete_first: bool = True,
) -> dynamic.DiffResult:
    """What changed among ``fields`` (and the connection); a change of one of ``replace_on`` replaces.
    ``delete_first``: the old object goes before the new one is made (a group or client keeps its
    name across a replacement, which Keycloak refuses twice)."""
    changes = [k for k in (*fields, *_CONNECTION) if olds.get(k) != news.get(k)]
    replaces = [k for k in changes if k in replace_on]
    return dynamic.DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=delete_first)


# --- the realm -----------------------------------------------------------------------------

# The user events the realm keeps: sign-ins, which the seat count reads (werkraum/identity/seats.py).
LOGIN_EVENTS = ("LOGIN", "CODE_TO_TOKEN")


def _user_profile(kc: KeycloakAdmin, realm: str) -> None:
    """The realm's user profile as the tenant files need it: first and last name optional (the files name
    users by e-mail only, and Keycloak's default profile would stop each one's first sign-in at an "update
    profile" form), and attributes outside the profile kept for administrators only (MADE_BY, which
    Keycloak 24 and later would otherwise drop)."""
    kc.change_current_realm(realm)
    try:
        profile = kc.get_realm_users_profile()
        for attribute in profile.get("attributes", []):
            if attribute.get("name") in ("firstName", "lastName"):
                attribute.pop("required", None)
        profile["unmanagedAttributePolicy"] = "ADMIN_EDIT"
        kc.update_realm_users_profile(profile)
    finally:
        kc.change_current_realm("master")


def _realm_payload(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "displayName": props["display_name"],
        "eventsEnabled": True,
        "enabledEventTypes": list(LOGIN_EVENTS),
        "eventsExpiration": int(props["login_events_days"]) * 86400,
    }


class RealmProvider(dynamic.ResourceProvider):
    """A realm: the platform's one realm holds every tenant's groups and clients."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        with admin(props) as kc:
            kc.create_realm({"realm": props["realm"], "enabled": True, **_realm_payload(props)}, skip_exists=True)
            kc.update_realm(props["realm"], _realm_payload(props))  # a realm left by an earlier, failed run
            _user_profile(kc, props["realm"])
        return dynamic.CreateResult(id_=str(props["realm"]), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # A new realm name is a new realm: made before the old one goes.
        return _diff(
            olds, news, ("realm", "display_name", "login_events_days"), replace_on=("realm",), delete_first=False
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        with admin(news) as kc:
            kc.update_realm(news["realm"], _realm_payload(news))
            _user_profile(kc, news["realm"])
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with admin(props) as kc:
            _unless_gone(kc.delete_realm, props["realm"])


class KeycloakRealm(dynamic.Resource, module="werkraum", name="KeycloakRealm"):
    realm: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        connection: KeycloakConnection,
        *,
        realm: str,
        display_name: str,
        login_events_days: int = 90,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``login_events_days``: how long Keycloak keeps sign-in events (the seat count looks back 30 days)."""
        props = {
            **connection.inputs(),
            "realm": realm,
            "display_name": display_name,
            "login_events_days": login_events_days,
        }
        super().__init__(RealmProvider(), name, props, opts)


# --- groups and their members ----------------------------------------------------------------


# The attribute that marks a user this provider made (and may delete once it is in no group).
MADE_BY = "werkraum-made-by"


def _user(kc: KeycloakAdmin, email: str) -> tuple[str, bool]:
    """The user named ``email`` (its id), made when missing; and whether this provider made it
    (now, or in an earlier run that failed before its state was written)."""
    found = kc.get_user_id(email)
    if found:
        attributes = kc.get_user(found).get("attributes") or {}
        return str(found), MADE_BY in attributes
    made = kc.create_user(
        {"username": email, "email": email, "enabled": True, "attributes": {MADE_BY: ["werkraum tenant stack"]}},
        exist_ok=True,
    )
    return str(made), True


def _in_no_group(kc: KeycloakAdmin, user_id: str) -> bool:
    return not kc.get_user_groups(user_id)


class GroupProvider(dynamic.ResourceProvider):
    """A group of a realm with exactly the members named (users by e-mail, made when missing)."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        with admin(props, props["realm"]) as kc:
            group_id = (
                kc.create_group({"name": props["name"]}, skip_exists=True)
                or kc.get_group_by_path(f"/{props['name']}")["id"]
            )
            made = self._set_members(kc, str(group_id), list(props["members"]))
        return dynamic.CreateResult(id_=str(group_id), outs={**props, "group_id": group_id, "made_users": made})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return _diff(olds, news, ("realm", "name", "members"), replace_on=("realm", "name"))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        with admin(news, news["realm"]) as kc:
            made = self._set_members(kc, id_, list(news["members"]))
            kept = self._drop_strays(kc, sorted(set(olds.get("made_users") or []) | set(made)))
        return dynamic.UpdateResult(outs={**news, "group_id": id_, "made_users": kept})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with admin(props, props["realm"]) as kc:
            _unless_gone(kc.delete_group, id_)
            self._drop_strays(kc, list(props.get("made_users", [])))

    @staticmethod
    def _set_members(kc: KeycloakAdmin, group_id: str, new: list[str]) -> list[str]:
        """Make the group's members exactly ``new`` (adding the missing, removing the others); return the
        ids of its members this provider made (MADE_BY), whoever added them to the group."""
        ours: list[str] = []
        present = {m["username"]: m["id"] for m in kc.get_group_members(group_id, {"max": 10000})}
        for email in new:
            user_id, made_by_us = _user(kc, email)
            if made_by_us:
                ours.append(user_id)
            if email.lower() not in present:
                kc.group_user_add(user_id, group_id)
        wanted = {e.lower() for e in new}
        for username, user_id in present.items():
            if username not in wanted:
                kc.group_user_remove(user_id, group_id)
        return ours

    @staticmethod
    def _drop_strays(kc: KeycloakAdmin, made: list[str]) -> list[str]:
        """Delete the users this provider made that are in no group any more; return those still in one."""
        kept: list[str] = []
        for user_id in made:
            try:
                if _in_no_group(kc, user_id):
                    kc.delete_user(user_id)
                else:
                    kept.append(user_id)
            except KeycloakError as exc:
                if exc.response_code != 404:  # gone already
                    raise
        return kept


class KeycloakGroup(dynamic.Resource, module="werkraum", name="KeycloakGroup"):
    group_id: pulumi.Output[str]
    made_users: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        connection: KeycloakConnection,
        *,
        realm: pulumi.Input[str],
        group: str,
        members: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            **connection.inputs(),
            "realm": realm,
            "name": group,
            "members": sorted({m.lower() for m in members}),
            "group_id": None,
            "made_users": None,
        }
        super().__init__(GroupProvider(), name, props, opts)


# --- OIDC clients -------------------------------------------------------------------------------

GROUPS_MAPPER = {
    "name": "groups",
    "protocol": "openid-connect",
    "protocolMapper": "oidc-group-membership-mapper",
    "config": {
        "full.path": "false",
        "claim.name": "groups",
        "id.token.claim": "true",
        "access.token.claim": "true",
        "userinfo.token.claim": "true",
    },
}


def _client_payload(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "clientId": props["client_id"],
        "name": props["display_name"],
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": bool(props.get("public")),
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": list(props["redirect_uris"]),
        "webOrigins": ["+"],
        "attributes": {"post.logout.redirect.uris": "+", "pkce.code.challenge.method": "S256"},
    }


def _secret(kc: KeycloakAdmin, uuid: str, props: Mapping[str, Any]) -> str:
    """A confidential client's secret; a public client (a CLI's, e.g. kubectl's) has none."""
    return "" if props.get("public") else str(kc.get_client_secrets(uuid)["value"])


class ClientProvider(dynamic.ResourceProvider):
    """An OIDC client (authorization code with PKCE) whose tokens carry the user's groups: confidential
    for an app, public for a command-line tool on the user's machine."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        with admin(props, props["realm"]) as kc:
            uuid = kc.get_client_id(props["client_id"])  # left by an earlier run that failed before its state
            if uuid:
                kc.update_client(uuid, _client_payload(props))
            else:
                uuid = kc.create_client({**_client_payload(props), "protocolMappers": [GROUPS_MAPPER]})
            secret = _secret(kc, str(uuid), props)
        return dynamic.CreateResult(id_=str(uuid), outs={**props, "client_secret": secret})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return _diff(
            olds,
            news,
            ("realm", "client_id", "display_name", "redirect_uris", "public"),
            replace_on=("realm", "client_id"),
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        with admin(news, news["realm"]) as kc:
            kc.update_client(id_, _client_payload(news))
            secret = _secret(kc, id_, news)
        return dynamic.UpdateResult(outs={**news, "client_secret": secret})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with admin(props, props["realm"]) as kc:
            _unless_gone(kc.delete_client, id_)


class KeycloakClient(dynamic.Resource, module="werkraum", name="KeycloakClient"):
    client_secret: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        connection: KeycloakConnection,
        *,
        realm: pulumi.Input[str],
        client_id: str,
        display_name: str,
        redirect_uris: Sequence[str],
        public: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            **connection.inputs(),
            "realm": realm,
            "client_id": client_id,
            "display_name": display_name,
            "redirect_uris": list(redirect_uris),
            "public": public,
            "client_secret": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["client_secret"])
        super().__init__(ClientProvider(), name, props, pulumi.ResourceOptions.merge(secret, opts))
