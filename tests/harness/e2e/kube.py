"""Read the lab's Kubernetes API as the admin user: what the end-to-end checks look at."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from tests.harness.e2e.kube_api import KubeApiLab
from werkraum.errors import WerkraumError

# kind -> (API path prefix, plural); namespaced kinds take the namespace in the path.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "StorageClass": ("/apis/storage.k8s.io/v1", "storageclasses", False),
    "IngressClass": ("/apis/networking.k8s.io/v1", "ingressclasses", False),
    "ResourceQuota": ("/api/v1", "resourcequotas", True),
    "LimitRange": ("/api/v1", "limitranges", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
}


@dataclass
class Kube:
    lab: KubeApiLab

    def _url(self, kind: str, namespace: str | None, name: str | None) -> str:
        prefix, plural, namespaced = KINDS[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        return f"{self.lab.server}{path}" + (f"/{name}" if name else "")

    def _get(self, url: str) -> requests.Response:
        pki = self.lab.pki
        try:
            return requests.get(
                url, cert=(str(pki / "admin.crt"), str(pki / "admin.key")), verify=str(pki / "ca.crt"), timeout=30
            )
        except requests.RequestException as exc:
            raise WerkraumError(f"the lab Kubernetes API at {self.lab.server} did not answer: {exc}") from exc

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        resp = self._get(self._url(kind, namespace, name))
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        obj: dict[str, Any] = resp.json()
        return obj

    def names(self, kind: str, namespace: str | None = None, selector: str = "") -> list[str]:
        url = self._url(kind, namespace, None) + (f"?labelSelector={selector}" if selector else "")
        resp = self._get(url)
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        return sorted(item["metadata"]["name"] for item in resp.json().get("items", []))

    def versions(self, namespace: str) -> dict[str, str]:
        """kind/name -> resourceVersion of every object Werkraum puts into a namespace (and the namespace)."""
        found: dict[str, str] = {}
        ns = self.get("Namespace", namespace)
        if ns:
            found[f"Namespace/{namespace}"] = ns["metadata"]["resourceVersion"]
        for kind, (_, _, namespaced) in KINDS.items():
            if not namespaced:
                continue
            resp = self._get(self._url(kind, namespace, None))
            if resp.status_code == 200:
                for item in resp.json().get("items", []):
                    found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found

    def wait_gone(self, kind: str, name: str, timeout: float = 180) -> float:
        """Seconds until the object is gone (a namespace waits for the namespace controller)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.get(kind, name) is None:
                return time.monotonic() - started
            time.sleep(1)
        raise WerkraumError(f"{kind} {name} still exists after {timeout:.0f}s")
