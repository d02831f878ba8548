"""The platform's realm and each tenant's place in it: groups of its users, and its apps' OIDC clients.

docs/identity.md says why one realm holds every tenant (a group per tenant role, not a
realm per tenant). The objects are Keycloak dynamic resources (werkraum/infra/keycloak.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s

import pulumi
from werkraum.infra import naming
from werkraum.infra.keycloak import KeycloakClient, KeycloakConnection, KeycloakGroup, KeycloakRealm
from werkraum.tenants.platform import PlatformSpec

# kubectl's OIDC login (kubelogin, `kubectl oidc-login`) listens on these loopback ports by default.
KUBECTL_REDIRECTS = ("http://localhost:8000", "http://localhost:18000")


@dataclass(frozen=True)
class IdentityPlatform:
    """What the tenant's identity takes from the platform: where Keycloak is, its realm and issuer."""

    connection: KeycloakConnection
    realm: str
    issuer: str

    @classmethod
    def from_spec(cls, spec: PlatformSpec) -> IdentityPlatform:
        kc = spec.require_keycloak()
        return cls(
            connection=KeycloakConnection(kc.url, kc.admin_user, kc.admin_password, kc.ca_file, kc.address),
            realm=spec.keycloak_realm,
            issuer=spec.oidc_issuer,
        )


class PlatformIdentity(pulumi.ComponentResource):
    """The platform's realm (keeping sign-in events for the seat count) and the Kubernetes API's client."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(self, name: str, spec: PlatformSpec, *, opts: pulumi.ResourceOptions | None = None) -> None:
        platform = IdentityPlatform.from_spec(spec)
        super().__init__("werkraum:platform:Identity", name, None, opts)
        self.realm = KeycloakRealm(
            "realm",
            platform.connection,
            realm=platform.realm,
            display_name="Werkraum",
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        # kube-apiserver trusts this client's ID tokens (kubernetes_control_oidc_client_id): a
        # public client, as kubectl runs on the user's machine and can keep no secret.
        self.kubernetes_client = KeycloakClient(
            "kubernetes-client",
            platform.connection,
            realm=self.realm.realm,
            client_id=spec.keycloak_kubernetes_client,
            display_name="Kubernetes (kubectl)",
            redirect_uris=[f"{u}/*" for u in KUBECTL_REDIRECTS],
            public=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs = {
            "keycloak_realm": self.realm.realm,
            "kubernetes_oidc_client": spec.keycloak_kubernetes_client,
        }
        self.register_outputs(self.outputs)


def app_client_id(slug: str, feature: str) -> str:
    return f"tenant-{slug}-{feature}"


class TenantIdentityProvider(pulumi.ComponentResource):
    """A tenant in the platform's realm: ``tenant-<slug>-admins`` (its admins), ``tenant-<slug>-members``
    (everyone who may use its apps: the admins and every workspace member), and one confidential OIDC
    client per app, whose settings land in the tenant's namespace as Secret ``oidc-<feature>``."""

    outputs: dict[str, pulumi.Input[object]]

    def __init__(
        self,
        slug: str,
        platform: IdentityPlatform,
        *,
        display_name: str,
        admins: Sequence[str],
        members: Sequence[str],
        app_urls: dict[str, str],
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``app_urls``: feature -> the app's URL (its redirect URIs are below it)."""
        super().__init__("werkraum:tenant:IdentityProvider", slug, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.admins = KeycloakGroup(
            f"{slug}-admins",
            platform.connection,
            realm=platform.realm,
            group=naming.admin_group(slug),
            members=admins,
            opts=child,
        )
        self.members = KeycloakGroup(
            f"{slug}-members",
            platform.connection,
            realm=platform.realm,
            group=naming.member_group(slug),
            members=sorted({*admins, *members}),
            opts=child,
        )
        self.clients: dict[str, KeycloakClient] = {}
        self.secrets: list[k8s.core.v1.Secret] = []
        for feature, url in sorted(app_urls.items()):
            client = KeycloakClient(
                f"{slug}-{feature}-client",
                platform.connection,
                realm=platform.realm,
                client_id=app_client_id(slug, feature),
                display_name=f"{display_name}: {feature}",
                redirect_uris=[f"{url.rstrip('/')}/*"],
                opts=child,
            )
            self.clients[feature] = client
            self.secrets.append(
                k8s.core.v1.Secret(
                    f"{slug}-{feature}-oidc",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=f"oidc-{feature}", namespace=namespace, labels={naming.TENANT_LABEL: slug}
                    ),
                    type="Opaque",
                    string_data={
                        "issuer": platform.issuer,
                        "client-id": app_client_id(slug, feature),
                        "client-secret": client.client_secret,
                    },
                    opts=child,
                )
            )
        self.outputs = {
            "identity": {
                "issuer": platform.issuer,
                "groups": [naming.admin_group(slug), naming.member_group(slug)],
                "clients": [app_client_id(slug, f) for f in sorted(app_urls)],
            }
        }
        self.register_outputs(self.outputs)
