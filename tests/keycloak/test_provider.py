"""The Keycloak dynamic provider's create, update and delete, against a real Keycloak (tests/harness/keycloak.py).

Pulumi's mocks never call a dynamic provider's methods, so the provider classes are
called here as the engine's provider process calls them, with the inputs a program
declares, and what they did is read back from Keycloak with python-keycloak.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import dill
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakGetError

from tests.harness.keycloak import LocalKeycloak
from werkraum.errors import WerkraumError
from werkraum.infra.keycloak import (
    GROUPS_MAPPER,
    LOGIN_EVENTS,
    MADE_BY,
    ClientProvider,
    GroupProvider,
    RealmProvider,
    admin,
)


def connection(kc: LocalKeycloak) -> dict[str, Any]:
    return {
        "server_url": kc.url,
        "admin_user": kc.admin_user,
        "admin_password": kc.admin_password,
        "ca_path": "",
        "address": "",
    }


def reader(kc: LocalKeycloak, realm: str) -> KeycloakAdmin:
    return KeycloakAdmin(
        connection=KeycloakOpenIDConnection(
            server_url=kc.url,
            username=kc.admin_user,
            password=kc.admin_password,
            realm_name=realm,
            user_realm_name="master",
        )
    )


@pytest.fixture
def realm(keycloak: LocalKeycloak) -> Any:
    name = f"werkraum-test-{secrets.token_hex(3)}"
    props = {**connection(keycloak), "realm": name, "display_name": "Werkraum (test)", "login_events_days": 90}
    RealmProvider().create(props)
    yield name
    RealmProvider().delete(name, props)


def outs(result: Any) -> dict[str, Any]:
    """What a create or update returned as the resource's outputs."""
    assert result.outs is not None
    return dict(result.outs)


def members(kc: KeycloakAdmin, group_id: str) -> list[str]:
    return sorted(m["username"] for m in kc.get_group_members(group_id))


def test_the_providers_pickle_by_reference_as_the_engine_ships_them() -> None:
    for provider in (RealmProvider(), GroupProvider(), ClientProvider()):
        blob = dill.dumps(provider, recurse=True)
        assert len(blob) < 200 and type(dill.loads(blob)) is type(provider)


def test_a_realm_is_made_renamed_for_display_and_removed(keycloak: LocalKeycloak) -> None:
    name = f"werkraum-test-{secrets.token_hex(3)}"
    props = {**connection(keycloak), "realm": name, "display_name": "One", "login_events_days": 90}
    made = RealmProvider().create(props)
    assert made.id == name and reader(keycloak, "master").get_realm(name)["displayName"] == "One"
    renamed = {**props, "display_name": "Two"}
    diff = RealmProvider().diff(name, props, renamed)
    assert diff.changes and diff.replaces == []
    RealmProvider().update(name, props, renamed)
    assert reader(keycloak, "master").get_realm(name)["displayName"] == "Two"
    assert RealmProvider().diff(name, props, {**props, "realm": name + "x"}).replaces == ["realm"]
    RealmProvider().delete(name, renamed)
    with pytest.raises(KeycloakGetError):
        reader(keycloak, "master").get_realm(name)
    RealmProvider().delete(name, renamed)  # gone already: nothing to do


def test_a_group_has_exactly_its_members_and_takes_only_the_users_it_made(keycloak: LocalKeycloak, realm: str) -> None:
    kc = reader(keycloak, realm)
    kept = kc.create_user({"username": "own@example.net", "email": "own@example.net", "enabled": True})
    props = {
        **connection(keycloak),
        "realm": realm,
        "name": "tenant-acme-admins",
        "members": ["anna@acme.example", "own@example.net"],
    }
    made = GroupProvider().create(props)
    assert members(kc, made.id) == ["anna@acme.example", "own@example.net"]
    assert outs(made)["made_users"] == [kc.get_user_id("anna@acme.example")]  # not the user that was there
    news = {**props, "members": ["bert@acme.example"]}
    assert GroupProvider().diff(made.id, outs(made), news).changes
    updated = GroupProvider().update(made.id, outs(made), news)
    assert members(kc, made.id) == ["bert@acme.example"]
    assert kc.get_user_id("anna@acme.example") is None  # made by it, in no group now: deleted
    assert kc.get_user_id("own@example.net") == kept  # not made by it: left alone
    GroupProvider().delete(made.id, outs(updated))
    with pytest.raises(KeycloakGetError):
        kc.get_group(made.id)
    assert kc.get_user_id("bert@acme.example") is None
    assert kc.get_user_id("own@example.net") == kept


def test_a_member_of_two_groups_stays_while_one_of_them_has_them(keycloak: LocalKeycloak, realm: str) -> None:
    kc = reader(keycloak, realm)
    base = {**connection(keycloak), "realm": realm}
    admins = GroupProvider().create({**base, "name": "tenant-b-admins", "members": ["carla@b.example"]})
    users = GroupProvider().create({**base, "name": "tenant-b-members", "members": ["carla@b.example"]})
    GroupProvider().delete(admins.id, outs(admins))
    assert kc.get_user_id("carla@b.example") is not None
    assert members(kc, users.id) == ["carla@b.example"]
    GroupProvider().delete(users.id, outs(users))


def test_a_client_is_confidential_with_its_redirects_and_the_groups_claim(keycloak: LocalKeycloak, realm: str) -> None:
    kc = reader(keycloak, realm)
    props = {
        **connection(keycloak),
        "realm": realm,
        "client_id": "tenant-acme-chat",
        "display_name": "Chat",
        "redirect_uris": ["https://ki.acme.example/*"],
    }
    made = ClientProvider().create(props)
    client = kc.get_client(made.id)
    assert client["clientId"] == "tenant-acme-chat" and client["publicClient"] is False
    assert client["redirectUris"] == ["https://ki.acme.example/*"] and client["directAccessGrantsEnabled"] is False
    (mapper,) = [m for m in client["protocolMappers"] if m["name"] == "groups"]
    assert mapper["protocolMapper"] == GROUPS_MAPPER["protocolMapper"] and mapper["config"]["claim.name"] == "groups"
    assert (
        outs(made)["client_secret"] == kc.get_client_secrets(made.id)["value"] and len(outs(made)["client_secret"]) > 20
    )
    news = {**props, "redirect_uris": ["https://ki.acme.example/oauth/callback"]}
    ClientProvider().update(made.id, outs(made), news)
    assert kc.get_client(made.id)["redirectUris"] == ["https://ki.acme.example/oauth/callback"]
    assert ClientProvider().diff(made.id, props, {**props, "client_id": "x"}).replaces == ["client_id"]
    ClientProvider().delete(made.id, news)
    assert kc.get_client_id("tenant-acme-chat") is None


def test_a_wrong_password_and_a_keycloak_that_is_down_are_named(keycloak: LocalKeycloak) -> None:
    refused = f"Keycloak at {re.escape(keycloak.url)} refused the administrator admin: .*invalid_grant"
    with pytest.raises(WerkraumError, match=refused), admin({**connection(keycloak), "admin_password": "wrong"}) as kc:
        kc.get_realms()
    unknown = f"Keycloak at {re.escape(keycloak.url)} \\(realm no-such-realm\\): 404"
    with pytest.raises(WerkraumError, match=unknown), admin(connection(keycloak), "no-such-realm") as kc:
        kc.get_groups()
    down = {**connection(keycloak), "server_url": "http://127.0.0.1:9"}
    with (
        pytest.raises(WerkraumError, match=re.escape("Keycloak at http://127.0.0.1:9 cannot be reached")),
        admin(down) as kc,
    ):
        kc.get_realms()


def test_the_realm_keeps_sign_ins_and_asks_no_names(keycloak: LocalKeycloak, realm: str) -> None:
    kc = reader(keycloak, realm)
    settings = kc.get_realm(realm)
    assert settings["eventsEnabled"] is True
    assert set(settings["enabledEventTypes"]) == set(LOGIN_EVENTS)
    assert settings["eventsExpiration"] == 90 * 86400
    attributes = {a["name"]: a for a in kc.get_realm_users_profile()["attributes"]}
    assert "required" not in attributes["firstName"] and "required" not in attributes["lastName"]
    assert kc.get_realm_users_profile()["unmanagedAttributePolicy"] == "ADMIN_EDIT"  # keeps MADE_BY


def test_a_group_whose_first_create_failed_midway_is_finished_and_owns_its_users(
    keycloak: LocalKeycloak, realm: str
) -> None:
    """Keycloak went away after the group and a user were made: the engine recorded nothing, the next
    run's create finds both, and the user it made is still removed with the group."""
    kc = reader(keycloak, realm)
    kc.create_group({"name": "tenant-half-admins"})
    kc.create_user({"username": "half@acme.example", "email": "half@acme.example", "attributes": {MADE_BY: ["x"]}})
    kc.create_user({"username": "byhand@acme.example", "email": "byhand@acme.example"})
    props = {
        **connection(keycloak),
        "realm": realm,
        "name": "tenant-half-admins",
        "members": ["byhand@acme.example", "half@acme.example"],
        "group_id": None,
        "made_users": None,
    }
    made = GroupProvider().create(props)
    assert members(kc, made.id) == ["byhand@acme.example", "half@acme.example"]
    GroupProvider().delete(made.id, outs(made))
    assert kc.get_user_id("half@acme.example") is None
    assert kc.get_user_id("byhand@acme.example") is not None  # not made by the provider: kept


def test_a_client_left_by_a_failed_run_is_taken_over_and_a_public_client_has_no_secret(
    keycloak: LocalKeycloak, realm: str
) -> None:
    kc = reader(keycloak, realm)
    left = kc.create_client({"clientId": "kubernetes", "publicClient": False})
    props = {
        **connection(keycloak),
        "realm": realm,
        "client_id": "kubernetes",
        "display_name": "Kubernetes (kubectl)",
        "redirect_uris": ["http://localhost:8000/*"],
        "public": True,
        "client_secret": None,
    }
    made = ClientProvider().create(props)
    assert made.id == left
    assert outs(made)["client_secret"] == ""
    assert kc.get_client(left)["publicClient"] is True


def test_a_member_signs_in_through_the_login_form_and_counts_as_an_active_seat(
    keycloak: LocalKeycloak, realm: str
) -> None:
    import datetime

    import requests

    from tests.harness.oidc import browser_login, claims
    from werkraum.identity.seats import group_members, signed_in_since

    base = {**connection(keycloak), "realm": realm}
    ClientProvider().create(
        {
            **base,
            "client_id": "kubernetes",
            "display_name": "Kubernetes",
            "redirect_uris": ["http://localhost:8000/*"],
            "public": True,
            "client_secret": None,
        }
    )
    for group in ("tenant-acme-admins", "tenant-acme-members"):
        GroupProvider().create({**base, "name": group, "members": ["ada@acme.example", "bob@acme.example"]})
    kc = reader(keycloak, realm)
    ada = kc.get_user_id("ada@acme.example")
    kc.set_user_password(ada, "a-test-password-1", temporary=False)
    tokens = browser_login(
        requests.Session(), f"{keycloak.url}/realms/{realm}", "kubernetes", "ada@acme.example", "a-test-password-1"
    )
    token = claims(tokens["id_token"])
    assert token["preferred_username"] == "ada@acme.example"
    assert set(token["groups"]) == {"tenant-acme-admins", "tenant-acme-members"}
    assert token["aud"] == "kubernetes"
    users = group_members(kc, "acme")
    active = signed_in_since(kc, datetime.date.today() - datetime.timedelta(days=30))
    assert len(users) == 2
    assert active.intersection(users) == {ada}
    with pytest.raises(WerkraumError, match="no group tenant-nobody-members"):
        group_members(kc, "nobody")
