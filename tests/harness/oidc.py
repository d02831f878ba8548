"""Signing in to Keycloak as a person does in a browser: the authorization code flow with PKCE.

The tests sign in through Keycloak's own login form (no direct-access grant, which the
platform's clients do not allow): GET the authorization endpoint, post the user's name
and password to the form it returns, take the code from the redirect to the client's
loopback address (kubectl's), and exchange it for tokens.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

FORM_ACTION = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)


def browser_login(
    session: requests.Session,
    issuer: str,
    client_id: str,
    username: str,
    password: str,
    *,
    redirect_uri: str = "http://localhost:8000/callback",
    verify: str | bool = True,
) -> dict[str, Any]:
    """The token response (id_token, access_token, ...) of ``username`` signing in to ``client_id``;
    a session that signed in before is sent straight back with a code, as a browser is."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    query = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid email profile",
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = session.get(
        f"{issuer}/protocol/openid-connect/auth?{urlencode(query)}", verify=verify, timeout=30, allow_redirects=False
    )
    location = page.headers.get("Location", "")
    if not (page.status_code == 302 and location.startswith(redirect_uri)):  # no session yet: the login form
        page.raise_for_status()
        if issuer.startswith("http://127.0.0.1"):
            # Keycloak marks its session cookies Secure; a browser sends them to 127.0.0.1 (a secure
            # context) over plain HTTP, Python's cookie jar does not (tests/harness/keycloak.py's server).
            for cookie in session.cookies:
                cookie.secure = False
        found = FORM_ACTION.search(page.text)
        assert found, f"no login form at {page.url}: {page.text[:300]}"
        action = urljoin(page.url, html.unescape(found.group(1)))
        answer = session.post(
            action,
            data={"username": username, "password": password, "credentialId": ""},
            verify=verify,
            allow_redirects=False,
            timeout=30,
        )
        location = answer.headers.get("Location", "")
        assert answer.status_code == 302 and location.startswith(redirect_uri), (
            f"signing in as {username} did not redirect to {redirect_uri} ({answer.status_code}): "
            f"{location or answer.text[:400]}"
        )
    params = parse_qs(urlsplit(location).query)
    assert params.get("state") == [state], location
    token = session.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": params["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        verify=verify,
        timeout=30,
    )
    token.raise_for_status()
    tokens: dict[str, Any] = token.json()
    return tokens


def claims(jwt: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the server that accepts the token verifies it)."""
    payload = jwt.split(".")[1]
    import json

    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
