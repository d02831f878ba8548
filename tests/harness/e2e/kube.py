"""Read the lab cluster as its admin: what the end-to-end checks look at (kubectl on the first control node)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from werkraum.errors import WerkraumError
from werkraum.lab import podman

# The kinds Werkraum puts into a tenant namespace (for versions()), and the cluster-wide ones it reads.
NAMESPACED = (
    "ResourceQuota",
    "LimitRange",
    "ConfigMap",
    "Service",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "RoleBinding",
    "Deployment",
    "Ingress",
)
RESOURCES = {
    "Namespace": "namespaces",
    "StorageClass": "storageclasses.storage.k8s.io",
    "IngressClass": "ingressclasses.networking.k8s.io",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "ConfigMap": "configmaps",
    "Service": "services",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
    "Deployment": "deployments.apps",
    "Ingress": "ingresses.networking.k8s.io",
    "Pod": "pods",
}


@dataclass
class Kube:
    """kubectl in ``container`` (the lab's first control node) with the cluster's admin kubeconfig."""

    container: str

    def _kubectl(self, *args: str) -> Any:
        proc = podman.podman(
            "exec", self.container, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args, check=False
        )
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise WerkraumError(f"kubectl {' '.join(args)} on {self.container}: {proc.stderr.strip()[-400:]}")
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        found: dict[str, Any] | None = self._kubectl(
            "get", RESOURCES[kind], name, *(["-n", namespace] if namespace else []), "-o", "json"
        )
        return found

    def items(self, kind: str, namespace: str | None = None, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", RESOURCES[kind], *(["-n", namespace] if namespace else []), "-o", "json"]
        listed = self._kubectl(*args, *(["-l", selector] if selector else []))
        return list((listed or {}).get("items", []))

    def names(self, kind: str, namespace: str | None = None, selector: str = "") -> list[str]:
        return sorted(item["metadata"]["name"] for item in self.items(kind, namespace, selector))

    def versions(self, namespace: str) -> dict[str, str]:
        """kind/name -> resourceVersion of every object Werkraum puts into a namespace (and the namespace)."""
        found: dict[str, str] = {}
        ns = self.get("Namespace", namespace)
        if ns:
            found[f"Namespace/{namespace}"] = ns["metadata"]["resourceVersion"]
        for kind in NAMESPACED:
            for item in self.items(kind, namespace):
                found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return found

    def wait_gone(self, kind: str, name: str, timeout: float = 300) -> float:
        """Seconds until the object is gone (a namespace waits for its pods and claims to go)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.get(kind, name) is None:
                return time.monotonic() - started
            time.sleep(2)
        raise WerkraumError(f"{kind} {name} still exists after {timeout:.0f}s")
