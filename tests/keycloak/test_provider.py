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
from werkraum.infra.keycloak import GROUPS_MAPPER, ClientProvider, GroupProvider, RealmProvider, admin


def connection(kc: LocalKeycloak) -> dict[str, Any]:
    return {"server_url": kc.url, "admin_user": kc.admin_user, "admin_password": kc.admin_password, "ca_path": ""}


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
    props = {**connection(keycloak), "realm": name, "display_name": "Werkraum (test)"}
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
    props = {**connection(keycloak), "realm": name, "display_name": "One"}
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
