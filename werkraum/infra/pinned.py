"""Reaching a TLS server by its name at an address given beside it (as `curl --resolve` does).

The lab's Keycloak answers as ``id.lab.werkraum.internal``, a name no DNS on the lab's
machine knows; its hand-over names the service node's address beside the URL. Requests
to that name go to the address, with the name in the Host header, in SNI and in the
certificate's check, so nothing about TLS is relaxed. A rack's DNS resolves the name
and the hand-over names no address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class PinnedAddressAdapter(HTTPAdapter):
    """Sends every request for ``name`` to ``address``; TLS still checks the certificate against ``name``."""

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        self.name = name
        self.address = address
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        if parts.hostname == self.name:
            netloc = self.address + (f":{parts.port}" if parts.port else "")
            request.url = urlunsplit(parts._replace(netloc=netloc))
            request.headers["Host"] = parts.netloc
        return super().send(request, *args, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("host") == self.address and host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self.name
            pool_kwargs["assert_hostname"] = self.name
        return host_params, pool_kwargs


def pin(session: requests.Session, url: str, address: str) -> None:
    """Send ``session``'s requests for ``url``'s host to ``address`` (nothing when ``address`` is empty)."""
    if not address:
        return
    host = urlsplit(url).hostname or ""
    adapter = PinnedAddressAdapter(host, address)
    session.mount(f"https://{host}", adapter)
    session.mount(f"http://{host}", adapter)
