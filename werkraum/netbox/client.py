"""Connecting to NetBox, with errors that say which NetBox and what to do.

The URL and token come from ``NETBOX_API`` and ``NETBOX_TOKEN``, the same variables
the netbox.netbox inventory plugin reads. Tokens of either version work:
``nbt_<key>.<secret>`` (v2, sent as Bearer) or a v1 token.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pynetbox
import requests

from werkraum.errors import WerkraumError

TIMEOUT_S = 20
TAG = "werkraum"  # every object Werkraum creates carries it; nothing without it is changed or removed


class _Session(requests.Session):
    """requests' session with a timeout on every call (pynetbox sets none)."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", TIMEOUT_S)
        # Per call: requests would otherwise let $REQUESTS_CA_BUNDLE override the session's CA.
        kwargs.setdefault("verify", self.verify)
        return super().request(*args, **kwargs)


def wanted(flag: bool | None) -> bool:
    """A --netbox/--no-netbox flag as given, else NetBox when NETBOX_API is set."""
    return bool(os.environ.get("NETBOX_API")) if flag is None else flag


def settings(url: str | None = None, token: str | None = None) -> tuple[str, str]:
    url = (url or os.environ.get("NETBOX_API") or "").rstrip("/")
    token = token or os.environ.get("NETBOX_TOKEN") or ""
    if not url or not token:
        missing = [n for n, v in (("NETBOX_API", url), ("NETBOX_TOKEN", token)) if not v]
        raise WerkraumError(
            f"no NetBox to talk to: {' and '.join(missing)} not set",
            hint="export NETBOX_API=https://netbox.example and NETBOX_TOKEN=nbt_... (or pass --url/--token); "
            "in the lab, `werkraum lab netbox-env` prints them",
        )
    return url, token


def connect(url: str | None = None, token: str | None = None, ca_bundle: str | None = None) -> pynetbox.api:
    """An API handle, checked by one status call (NetBox down or a refused token fail here)."""
    url, token = settings(url, token)
    api = pynetbox.api(url, token=token)
    session = _Session()
    session.verify = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or True
    api.http_session = session
    with translate_errors(url):
        status = api.status()
        api.dcim.sites.count()  # the status page needs no token; this call does
    api.werkraum_version = status.get("netbox-version", "?")
    api.werkraum_url = url
    return api


@contextlib.contextmanager
def session(url: str | None = None, token: str | None = None, ca_bundle: str | None = None) -> Iterator[pynetbox.api]:
    """A connected API handle; any NetBox error inside the block becomes a WerkraumError naming this NetBox."""
    api = connect(url, token, ca_bundle)
    with translate_errors(api.werkraum_url):
        yield api


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn connection and API errors into WerkraumError naming the NetBox."""
    try:
        yield
    except requests.exceptions.SSLError as exc:
        raise WerkraumError(
            f"NetBox at {url}: its TLS certificate is not trusted ({exc.__class__.__name__})",
            hint="point REQUESTS_CA_BUNDLE at the CA that signed it",
        ) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise WerkraumError(
            f"NetBox at {url} cannot be reached ({exc.__class__.__name__}: {str(exc)[:160]})",
            hint="is it running and is NETBOX_API right? Nothing was written.",
        ) from None
    except pynetbox.RequestError as exc:
        code = exc.req.status_code
        if code in (401, 403):
            raise WerkraumError(
                f"NetBox at {url} refused the token ({code})",
                hint="check NETBOX_TOKEN: it must be an enabled, write-enabled token",
            ) from None
        raise WerkraumError(f"NetBox at {url} answered {code}: {str(exc.error)[:400]}") from None
