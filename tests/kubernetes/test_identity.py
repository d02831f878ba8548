"""One login, on the lab `make lab` converged: a sample tenant's admin signs in to the lab Keycloak
and uses the token against the lab's Kubernetes API.

The tenant stacks declared the groups (werkraum/infra/sso.py); kube-apiserver trusts the
platform realm's issuer (inventories/lab/group_vars/control/kubernetes.yml). The admin
was made by the stack without a password: the test gives it one through the admin API,
signs in through Keycloak's login form (tests/harness/oidc.py), and takes the password
away again afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import ROOT, WERKRAUM, have_podman

pytestmark = [pytest.mark.kubernetes, pytest.mark.lab]

LAB_INVENTORY = Path(os.environ.get("WERKRAUM_K8S_LAB_INVENTORY", ROOT / "inventories" / "lab"))
TENANT, ADMIN = "mustermann", "max@mustermann.example"
OTHER = "weber"


@dataclass
class LabIdentity:
    platform: Any  # PlatformSpec of the lab, with its Keycloak
    session: requests.Session  # reaches the lab Keycloak by its name
    api: str  # the lab API server's URL
    api_ca: Path
    user_id: str
    password: str


@pytest.fixture(scope="module")
def lab_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabIdentity]:
    from werkraum.identity.seats import realm_admin
    from werkraum.infra.pinned import pin
    from werkraum.lab.lab import keycloak_handover_dir, kubeconfig
    from werkraum.lab.rack import load_rack
    from werkraum.tenants.platform import load_platform, platform_file

    if not have_podman():
        pytest.fail("podman is not installed: run `make lab` first")
    rack = load_rack(LAB_INVENTORY.resolve())
    os.environ["WERKRAUM_KEYCLOAK_FETCH_DIR"] = str(keycloak_handover_dir(rack))
    platform = load_platform(platform_file("lab"))
    assert platform.keycloak is not None, "the lab's keycloak role handed nothing over: run `make lab` first"
    conf = yaml.safe_load(kubeconfig(rack).read_text())
    cluster = conf["clusters"][0]["cluster"]
    ca = tmp_path_factory.mktemp("api") / "ca.crt"
    import base64

    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    session = requests.Session()
    pin(session, platform.keycloak.url, platform.keycloak.address)
    password = secrets.token_urlsafe(18)
    with realm_admin(platform) as kc:
        user_id = kc.get_user_id(ADMIN)
        assert user_id, f"{ADMIN} is not in the lab Keycloak: the tenant stack {TENANT} declares it"
        kc.set_user_password(user_id, password, temporary=False)
    try:
        yield LabIdentity(platform, session, cluster["server"], ca, user_id, password)
    finally:
        with realm_admin(platform) as kc:
            for credential in kc.get_credentials(user_id):
                kc.delete_credential(user_id, credential["id"])


def _sign_in(lab: LabIdentity) -> dict[str, Any]:
    from tests.harness.oidc import browser_login

    assert lab.platform.keycloak is not None
    return browser_login(
        lab.session,
        lab.platform.oidc_issuer,
        lab.platform.keycloak_kubernetes_client,
        ADMIN,
        lab.password,
        verify=lab.platform.keycloak.ca_file,
    )


def _api(lab: LabIdentity, token: str, path: str) -> requests.Response:
    return requests.get(
        f"{lab.api}{path}", headers={"Authorization": f"Bearer {token}"}, verify=str(lab.api_ca), timeout=30
    )


def test_a_tenant_admin_signs_in_and_its_token_names_its_groups(lab_identity: LabIdentity) -> None:
    from tests.harness.oidc import claims

    token = claims(_sign_in(lab_identity)["id_token"])
    assert token["iss"] == lab_identity.platform.oidc_issuer
    assert token["aud"] == "kubernetes"
    assert token["preferred_username"] == ADMIN
    assert {f"tenant-{TENANT}-admins", f"tenant-{TENANT}-members"} <= set(token["groups"])


def test_the_admins_token_reads_its_namespace_and_not_another_tenants(lab_identity: LabIdentity) -> None:
    token = _sign_in(lab_identity)["id_token"]
    review = requests.post(
        f"{lab_identity.api}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        headers={"Authorization": f"Bearer {token}"},
        verify=str(lab_identity.api_ca),
        timeout=30,
    )
    assert review.status_code == 201, review.text
    user = review.json()["status"]["userInfo"]
    assert user["username"] == f"oidc:{ADMIN}"
    assert f"oidc:tenant-{TENANT}-admins" in user["groups"]
    own = _api(lab_identity, token, f"/api/v1/namespaces/tenant-{TENANT}/pods")
    assert own.status_code == 200, own.text
    assert own.json()["items"], f"no pods in tenant-{TENANT}: the admin sees its apps"
    other = _api(lab_identity, token, f"/api/v1/namespaces/tenant-{OTHER}/pods")
    assert other.status_code == 403, other.text
    cluster_wide = _api(lab_identity, token, "/api/v1/nodes")
    assert cluster_wide.status_code == 403, cluster_wide.text


def test_a_forged_token_is_refused(lab_identity: LabIdentity) -> None:
    header, payload, _signature = _sign_in(lab_identity)["id_token"].split(".")
    forged = f"{header}.{payload}.{'A' * 86}"
    assert _api(lab_identity, forged, f"/api/v1/namespaces/tenant-{TENANT}/pods").status_code == 401


def test_seats_count_the_tenants_users_and_who_signed_in(lab_identity: LabIdentity) -> None:
    _sign_in(lab_identity)
    from werkraum.lab.lab import lab_state_dir
    from werkraum.lab.rack import load_rack

    stacks = lab_state_dir(load_rack(LAB_INVENTORY.resolve())) / "tenants" / "stacks"
    platform = str(ROOT / "pulumi" / "platform" / "Pulumi.lab.yaml")
    proc = subprocess.run(
        [WERKRAUM, "tenant", "seats", "--platform", platform, "--stacks", str(stacks), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )
    assert proc.returncode == 0, proc.stderr
    seats = {t["slug"]: t for t in json.loads(proc.stdout)["tenants"]}
    spec = yaml.safe_load((stacks / f"Pulumi.{TENANT}.yaml").read_text())["config"]["tenant:spec"]
    named = {a.lower() for a in spec["admins"]} | {m.lower() for w in spec["workspaces"] for m in w["members"]}
    assert seats[TENANT]["users"] == len(named)
    assert seats[TENANT]["seats_licensed"] == spec["seats"]
    assert seats[TENANT]["active_30d"] >= 1
