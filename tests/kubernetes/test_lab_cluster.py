"""Checks a Kubernetes operator would trust, on the cluster `make lab` converged.

`make test-kubernetes` brings the lab up (`werkraum lab up`: control-01 runs the
control plane, gpu-01 joins as a worker, the add-ons are applied) and runs these
against it, with the cluster's admin kubeconfig on control-01. The workloads of
these checks live in namespaces named ``werkraum-check-*``, made with the same
NetworkPolicies, ResourceQuota keys and Pod Security level as a tenant's
(werkraum/infra/tenant_kubernetes.py), and are deleted afterwards. They run the
lab registry's BusyBox (docs/mirror.md): its httpd serves, its wget and nslookup ask.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, have_podman, podman

pytestmark = [pytest.mark.kubernetes, pytest.mark.lab]

LAB_INVENTORY = Path(os.environ.get("WERKRAUM_K8S_LAB_INVENTORY", ROOT / "inventories" / "lab"))
BUSYBOX = "docker.io/library/busybox:1.35.0"
A, B = "werkraum-check-a", "werkraum-check-b"
TIMEOUT = "180s"
TRAEFIK_PROBE = """
import urllib.error, urllib.request
try:
    urllib.request.urlopen("http://gpu-01/", timeout=5)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def _lab() -> tuple[str, str]:
    from werkraum.lab.rack import load_rack

    rack = load_rack(LAB_INVENTORY.resolve())
    control = next(h for h in rack.hosts if "control" in h.groups)
    worker = next(h for h in rack.kubernetes_hosts if "gpu" in h.groups)
    return control.container, worker.container


@pytest.fixture(scope="module")
def lab() -> tuple[str, str]:
    if not have_podman():
        pytest.fail("podman is not installed: run `make lab` first (make test-kubernetes does)")
    control, worker = _lab()
    if podman("exec", control, "test", "-e", "/etc/kubernetes/admin.conf").returncode != 0:
        pytest.fail(f"{control}: no cluster (no /etc/kubernetes/admin.conf): run `make lab` first")
    return control, worker


def run_kubectl(lab: tuple[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl on the first control node, with the cluster's admin kubeconfig."""
    return subprocess.run(
        ["podman", "exec", "-i", lab[0], "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def kubectl(lab: tuple[str, str], *args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = run_kubectl(lab, *args, stdin=stdin)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout
    return proc.stdout + proc.stderr


def kjson(lab: tuple[str, str], *args: str) -> Any:
    return json.loads(kubectl(lab, *args, "-o", "json"))


def apply(lab: tuple[str, str], *docs: dict[str, Any]) -> None:
    kubectl(lab, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in docs))


def network_policy(namespace: str, name: str, pods: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A NetworkPolicy in ``namespace`` for the pods ``pods`` selects ({} = every pod)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": pods, **spec},
    }


def namespace_peer(name: str) -> dict[str, Any]:
    """A policy peer: every pod of the namespace called ``name``."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def tenant_like_namespace(name: str) -> list[dict[str, Any]]:
    """A namespace with a tenant's Pod Security level and NetworkPolicies (tenant_kubernetes.py)."""
    everyone: dict[str, Any] = {}

    def policy(policy_name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return network_policy(name, policy_name, everyone, spec)

    system = namespace_peer("kube-system")
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        },
        policy("default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        policy(
            "allow-same-namespace",
            {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": everyone}]}],
                "egress": [{"to": [{"podSelector": everyone}]}],
            },
        ),
        policy("allow-dns", {"policyTypes": ["Egress"], "egress": [{"to": [system], "ports": dns}]}),
    ]


def pod(namespace: str, name: str, command: str, requests: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX,
                    "command": ["sh", "-c", command],
                    "resources": {"requests": requests, "limits": requests} if requests else {},
                }
            ],
        },
    }


def service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def fetch(lab: tuple[str, str], namespace: str, client: str, url: str) -> tuple[bool, str]:
    """Whether ``client`` in ``namespace`` gets ``url`` within 6 s, and what it said.

    Only an answer or a blocked connection counts: kube-router's firewall rejects what a
    policy does not admit (connection refused), and a drop ends in busybox's ``timeout``
    (143; wget's own ``-T`` crashes Debian's static busybox 1.35 here). Any other failure
    (a name that does not resolve, an error answered by something else) fails the test, so
    a blocked connection is never confused with a broken client; each blocked case is
    checked beside an admitted one to the same server.
    """
    proc = run_kubectl(lab, "-n", namespace, "exec", client, "--", "timeout", "6", "wget", "-q", "-O", "-", url)
    said = (proc.stdout + proc.stderr).strip()
    blocked = proc.returncode == 143 or "Connection refused" in said
    assert proc.returncode == 0 or blocked, f"{namespace}/{client} -> {url}: exit {proc.returncode}: {said}"
    return proc.returncode == 0, said


def wait_for_default_service_account(lab: tuple[str, str], namespace: str, timeout_s: float = 90) -> None:
    """Pods are refused until the controller-manager made the namespace's ``default`` ServiceAccount.

    That takes milliseconds, except while a controller-manager takes over its lease (after
    a restart of the control plane, e.g. the runbook's certificate rotation).
    """
    deadline = time.monotonic() + timeout_s
    while run_kubectl(lab, "-n", namespace, "get", "serviceaccount", "default").returncode != 0:
        assert time.monotonic() < deadline, f"{namespace}: no default ServiceAccount after {timeout_s:.0f}s"
        time.sleep(2)


@pytest.fixture(scope="module")
def namespaces(lab: tuple[str, str]) -> Iterator[dict[str, str]]:
    """Two tenant-like namespaces, each with a web server (pod and Service) and a client."""
    kubectl(lab, "delete", "namespace", A, B, "--ignore-not-found", "--wait=true", "--timeout", TIMEOUT)
    for ns in (A, B):
        apply(lab, *tenant_like_namespace(ns))
        wait_for_default_service_account(lab, ns)
        apply(
            lab,
            pod(ns, "web", f"echo {ns} > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"),
            service(ns, "web"),
            pod(ns, "client", "exec sleep 3600"),
        )
    for ns in (A, B):
        kubectl(lab, "-n", ns, "wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout", TIMEOUT)
    ips = {ns: kjson(lab, "-n", ns, "get", "pod", "web")["status"]["podIP"] for ns in (A, B)}
    yield ips
    kubectl(lab, "delete", "namespace", A, B, "--ignore-not-found", "--wait=false")


# --- the cluster itself ------------------------------------------------------------------


def test_api_server_is_healthy(lab: tuple[str, str]) -> None:
    assert kubectl(lab, "get", "--raw", "/readyz").strip() == "ok"
    assert kubectl(lab, "get", "--raw", "/livez").strip() == "ok"
    version = json.loads(kubectl(lab, "version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"


def test_nodes_are_ready_with_the_pinned_kubelet(lab: tuple[str, str]) -> None:
    nodes = {n["metadata"]["name"]: n for n in kjson(lab, "get", "nodes")["items"]}
    assert set(nodes) == {"control-01", "gpu-01"}
    for name, node in nodes.items():
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", f"{name}: {ready}"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2", name
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "containerd://2.3.7", name
    labels = nodes["control-01"]["metadata"]["labels"]
    assert "node-role.kubernetes.io/control-plane" in labels
    taints = {t["key"] for t in nodes["control-01"]["spec"].get("taints", [])}
    assert "node-role.kubernetes.io/control-plane" in taints  # tenants' pods go to the workers
    assert nodes["gpu-01"]["metadata"]["labels"].get("werkraum.io/ingress") == "true"


def test_control_plane_runs_as_static_pods_and_the_system_is_rolled_out(lab: tuple[str, str]) -> None:
    pods = kjson(lab, "-n", "kube-system", "get", "pods")["items"]
    running = {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"}
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-control-01" in running, component
    for kind, name in (("daemonset", "kube-proxy"), ("daemonset", "kube-router"), ("deployment", "coredns")):
        kubectl(lab, "-n", "kube-system", "rollout", "status", f"{kind}/{name}", "--timeout", "60s")
    router = kjson(lab, "-n", "kube-system", "get", "daemonset", "kube-router")["status"]
    assert router["numberReady"] == 2  # on both nodes: routes and the NetworkPolicy firewall


def test_the_lab_worker_advertises_its_gpu_and_containerd_knows_the_nvidia_runtime(lab: tuple[str, str]) -> None:
    node = kjson(lab, "get", "node", "gpu-01")
    # an extended resource: no device behind it (inventories/lab/group_vars/all/kubernetes.yml)
    assert node["status"]["capacity"].get("nvidia.com/gpu") == "4"
    dump = podman("exec", lab[1], "containerd", "config", "dump")
    assert dump.returncode == 0, dump.stderr
    assert "runtimes.nvidia" in dump.stdout and "/usr/bin/nvidia-container-runtime" in dump.stdout


def test_add_ons_are_rolled_out(lab: tuple[str, str]) -> None:
    classes = kjson(lab, "get", "storageclass")["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default == ["local-path"]
    kubectl(lab, "-n", "local-path-storage", "rollout", "status", "deployment/local-path-provisioner")
    kubectl(lab, "-n", "kube-system", "rollout", "status", "deployment/metrics-server")
    kubectl(lab, "-n", "traefik", "rollout", "status", "daemonset/traefik")
    # Traefik answers on the ingress node's port 80 (no route for this host: its 404). The
    # IngressClass is the platform stack's, not an add-on's.
    answer = podman("exec", lab[0], "python3", "-c", TRAEFIK_PROBE)
    assert answer.stdout.strip() == "404", answer.stdout + answer.stderr


def test_resource_metrics_are_served(lab: tuple[str, str]) -> None:
    deadline = time.monotonic() + 120
    while True:  # metrics-server's first scrape of each kubelet takes up to a resolution period
        out = kubectl(lab, "top", "nodes", "--no-headers", check=False)
        if "control-01" in out and "gpu-01" in out and "error" not in out.lower():
            break
        assert time.monotonic() < deadline, out
        time.sleep(10)


# --- traffic and DNS ---------------------------------------------------------------------


def test_dns_resolves_services(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    out = kubectl(lab, "-n", A, "exec", "client", "--", "nslookup", "kubernetes.default.svc.cluster.local")
    assert "10.43.0.1" in out
    out = kubectl(lab, "-n", A, "exec", "client", "--", "nslookup", f"web.{A}.svc.cluster.local")
    assert "Address" in out and "NXDOMAIN" not in out


def test_pod_to_pod_and_service_traffic_in_a_namespace(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    ok, body = fetch(lab, A, "client", f"http://{namespaces[A]}:8080/index.html")
    assert ok and body == A, body
    ok, body = fetch(lab, A, "client", "http://web/index.html")
    assert ok and body == A, body


def test_the_workloads_run_on_the_worker(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    for ns in (A, B):
        assert kjson(lab, "-n", ns, "get", "pod", "web")["spec"]["nodeName"] == "gpu-01"


# --- tenant isolation --------------------------------------------------------------------


def test_a_tenant_cannot_reach_another_tenants_pods_or_services(
    lab: tuple[str, str], namespaces: dict[str, str]
) -> None:
    ok, body = fetch(lab, B, "client", f"http://{namespaces[A]}:8080/index.html")
    assert not ok, f"{B} reached {A}'s pod: {body}"
    ok, body = fetch(lab, B, "client", f"http://web.{A}.svc.cluster.local/index.html")
    assert not ok, f"{B} reached {A}'s Service: {body}"
    ok, body = fetch(lab, A, "client", f"http://{namespaces[B]}:8080/index.html")
    assert not ok, f"{A} reached {B}'s pod: {body}"
    # ... while each still reaches its own, and resolves names (allow-dns).
    ok, body = fetch(lab, B, "client", "http://web/index.html")
    assert ok and body == B, body


def test_an_allowing_policy_opens_exactly_what_it_names(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    allow = network_policy(
        A,
        "allow-from-b",
        {"matchLabels": {"app": "web"}},
        {"policyTypes": ["Ingress"], "ingress": [{"from": [namespace_peer(B)]}]},
    )
    egress = network_policy(
        B,
        "allow-to-a",
        {"matchLabels": {"app": "client"}},
        {"policyTypes": ["Egress"], "egress": [{"to": [namespace_peer(A)]}]},
    )
    apply(lab, allow, egress)
    try:
        deadline = time.monotonic() + 60
        while True:  # kube-router syncs its firewall on the change
            ok, body = fetch(lab, B, "client", f"http://{namespaces[A]}:8080/index.html")
            if ok or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert ok and body == A, body
    finally:
        kubectl(lab, "-n", A, "delete", "networkpolicy", "allow-from-b")
        kubectl(lab, "-n", B, "delete", "networkpolicy", "allow-to-a")
    deadline = time.monotonic() + 60
    while True:
        ok, _ = fetch(lab, B, "client", f"http://{namespaces[A]}:8080/index.html")
        if not ok or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert not ok, "the connection stayed open after the allowing policies were deleted"


# --- quotas ------------------------------------------------------------------------------


def test_a_tenant_over_its_quota_is_refused(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tenant-quota", "namespace": B},
        "spec": {
            "hard": {
                "requests.cpu": "1",
                "limits.cpu": "1",
                "requests.memory": "1Gi",
                "limits.memory": "1Gi",
                "requests.nvidia.com/gpu": "1",
            }
        },
    }
    apply(lab, quota)
    try:
        for name, resources, refused in (
            ("too-much-cpu", {"cpu": "2", "memory": "64Mi"}, "requests.cpu"),
            ("too-much-memory", {"cpu": "100m", "memory": "2Gi"}, "requests.memory"),
            ("too-many-gpus", {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "2"}, "requests.nvidia.com/gpu"),
        ):
            out = kubectl(
                lab, "apply", "-f", "-", stdin=json.dumps(pod(B, name, "exec sleep 60", resources)), check=False
            )
            assert "exceeded quota: tenant-quota" in out and refused in out, f"{name}: {out}"
        # Within the quota, a GPU pod is admitted and scheduled onto the worker's advertised GPU.
        gpu_pod = pod(B, "one-gpu", "exec sleep 3600", {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "1"})
        apply(lab, gpu_pod)
        kubectl(lab, "-n", B, "wait", "--for=condition=Ready", "pod/one-gpu", "--timeout", TIMEOUT)
        assert kjson(lab, "-n", B, "get", "pod", "one-gpu")["spec"]["nodeName"] == "gpu-01"
        used = kjson(lab, "-n", B, "get", "resourcequota", "tenant-quota")["status"]["used"]
        assert used["requests.nvidia.com/gpu"] == "1"
    finally:
        kubectl(lab, "-n", B, "delete", "pod", "one-gpu", "--ignore-not-found", "--wait=false")
        kubectl(lab, "-n", B, "delete", "resourcequota", "tenant-quota", "--ignore-not-found")


# --- storage -----------------------------------------------------------------------------


def test_a_claim_is_bound_and_keeps_what_a_pod_wrote(lab: tuple[str, str], namespaces: dict[str, str]) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": A},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    }
    writer = pod(A, "writer", "echo kept > /data/file && exec sleep 3600")
    writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    writer["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    apply(lab, claim, writer)
    kubectl(lab, "-n", A, "wait", "--for=condition=Ready", "pod/writer", "--timeout", TIMEOUT)
    assert kjson(lab, "-n", A, "get", "pvc", "data")["status"]["phase"] == "Bound"
    assert kubectl(lab, "-n", A, "exec", "writer", "--", "cat", "/data/file").strip() == "kept"


# --- the sample tenants, applied by make lab's last phase (werkraum lab tenants) ----------------


def _sample_tenants() -> dict[str, Any]:
    """The tenant files under stacks/ by slug (make lab applies each to the cluster)."""
    from werkraum.tenants.fleet import load_fleet

    fleet = load_fleet(ROOT / "stacks")
    return {t.slug: t.spec for t in fleet.tenants}


def stand_in_check(lab: tuple[str, str], namespace: str, url: str) -> tuple[bool, str]:
    """Ask ``url`` from the tenant's chat app pod: the stand-in's own ``-check`` (it has no shell)."""
    proc = run_kubectl(lab, "-n", namespace, "exec", "deploy/app-chat", "--", "/stand-in-app", "-check", url)
    said = (proc.stdout + proc.stderr).strip()
    blocked = "connection refused" in said or "Client.Timeout" in said or "i/o timeout" in said
    assert proc.returncode == 0 or blocked, f"{namespace} -> {url}: exit {proc.returncode}: {said}"
    return proc.returncode == 0, said


def https_get(address: str, domain: str, path: str = "/", *, root: str | None = None) -> tuple[int, str]:
    """GET https://domain/path from ``address`` (the ingress node), with SNI and Host of the tenant's domain.

    With ``root`` (PEM) the certificate must chain to it and name the domain; without, it is not checked.
    """
    import socket
    import ssl

    if root is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=root)
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


ACME_ROOT = "/api/v1/namespaces/acme-test-ca/services/https:pebble:management/proxy/roots/0"


def test_every_sample_tenant_runs_its_apps_on_the_worker(lab: tuple[str, str]) -> None:
    for slug, spec in _sample_tenants().items():
        ns = f"tenant-{slug}"
        deployments = kjson(lab, "-n", ns, "get", "deployments")["items"]
        names = {d["metadata"]["name"] for d in deployments}
        assert names == {f"app-{f}" for f in spec.effective_features()} | {f"ws-{w.name}" for w in spec.workspaces}
        for d in deployments:
            available = {c["type"]: c["status"] for c in d["status"].get("conditions", [])}.get("Available")
            assert available == "True" and d["status"].get("readyReplicas") == 1, (ns, d["metadata"]["name"])
        for p in kjson(lab, "-n", ns, "get", "pods")["items"]:
            assert p["status"]["phase"] == "Running" and p["spec"]["nodeName"] == "gpu-01", p["metadata"]["name"]
            image = p["spec"]["containers"][0]["image"]
            assert image.startswith("registry.werkraum.example/werkraum/"), image  # the STAND-IN, by the app's name
        claims = kjson(lab, "-n", ns, "get", "pvc")["items"]
        assert {c["metadata"]["name"] for c in claims} == {f"ws-{w.name}-data" for w in spec.workspaces}
        for c in claims:
            assert c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "tenant-local"


def test_a_gpu_workspace_holds_its_gpu_and_the_quota_counts_it(lab: tuple[str, str]) -> None:
    for slug, spec in _sample_tenants().items():
        ns = f"tenant-{slug}"
        gpus = sum(1 for w in spec.workspaces if w.profile == "notebook-gpu")
        used = kjson(lab, "-n", ns, "get", "resourcequota", "tenant-quota")["status"]["used"]
        assert used.get("requests.nvidia.com/gpu", "0") == str(gpus), (slug, used)


KSM_METRICS = "/api/v1/namespaces/kube-system/services/kube-state-metrics:http-metrics/proxy/metrics"
READ_WITH_TOKEN = """
import ssl, sys, urllib.error, urllib.request
token = sys.stdin.read().strip()
tls = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
server, paths = sys.argv[1], sys.argv[2:]
for path in paths:
    request = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, context=tls, timeout=20) as answer:
            print(answer.status, len(answer.read()))
    except urllib.error.HTTPError as e:
        print(e.code, 0)
"""


def test_object_metrics_name_each_tenants_quota_and_gpus(lab: tuple[str, str]) -> None:
    """kube-state-metrics, as Prometheus reads it: through the API server's service proxy."""
    metrics = kubectl(lab, "get", "--raw", KSM_METRICS)
    for slug, spec in _sample_tenants().items():
        ns = f"tenant-{slug}"
        (labels,) = [
            line
            for line in metrics.splitlines()
            if line.startswith("kube_namespace_labels{") and f'namespace="{ns}"' in line
        ]
        assert f'label_werkraum_io_tenant="{slug}"' in labels and "label_werkraum_io_plan=" in labels, labels
        quota = [
            line
            for line in metrics.splitlines()
            if line.startswith("kube_resourcequota{") and f'namespace="{ns}"' in line and 'type="used"' in line
        ]
        gpus = sum(1 for w in spec.workspaces if w.profile == "notebook-gpu")
        used = [line for line in quota if 'resource="requests.nvidia.com/gpu"' in line]
        assert used and float(used[0].rsplit(" ", 1)[1]) == gpus, (ns, used)
    assert 'kube_pod_container_resource_requests{namespace="tenant-' in metrics


def test_the_metrics_readers_token_reads_the_metrics_and_nothing_else(lab: tuple[str, str]) -> None:
    token = kubectl(lab, "-n", "kube-system", "create", "token", "kube-state-metrics-reader", "--duration", "10m")
    forbidden = "/api/v1/namespaces/kube-system/secrets"
    # The API as admin.conf names it (the node's address, which its certificate names).
    server = kubectl(lab, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}").strip()
    proc = subprocess.run(
        ["podman", "exec", "-i", lab[0], "python3", "-c", READ_WITH_TOKEN, server, KSM_METRICS, forbidden],
        input=token,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (allowed_status, allowed_size), (denied_status, _) = (line.split() for line in proc.stdout.split("\n") if line)
    assert allowed_status == "200" and int(allowed_size) > 1000, proc.stdout
    assert denied_status == "403", proc.stdout


def test_a_tenants_own_policies_keep_other_tenants_out(lab: tuple[str, str]) -> None:
    slugs = [s for s, spec in _sample_tenants().items() if "chat" in spec.effective_features()]
    assert len(slugs) >= 2, "two sample tenants with a chat app are needed"
    a, b = (f"tenant-{s}" for s in slugs[:2])
    ok, said = stand_in_check(lab, a, "http://app-chat/healthz")
    assert ok, f"{a} does not reach its own Service: {said}"
    ok, said = stand_in_check(lab, a, f"http://app-chat.{b}.svc.cluster.local/healthz")
    assert not ok, f"{a} reached {b}'s Service: {said}"
    pod_ip = kjson(lab, "-n", b, "get", "pods", "-l", "app.kubernetes.io/name=app-chat")["items"][0]["status"]["podIP"]
    ok, said = stand_in_check(lab, a, f"http://{pod_ip}:8080/healthz")
    assert not ok, f"{a} reached {b}'s pod {pod_ip}: {said}"


def test_each_tenants_domain_serves_its_branding_through_the_ingress(lab: tuple[str, str]) -> None:
    from werkraum.lab.rack import load_rack

    rack = load_rack(LAB_INVENTORY.resolve())
    worker = next(h for h in rack.kubernetes_hosts if "gpu" in h.groups)
    for slug, spec in _sample_tenants().items():
        ns = f"tenant-{slug}"
        ingress = kjson(lab, "-n", ns, "get", "ingress", "tenant")
        assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": worker.address}], slug
        status, body = https_get(worker.address, spec.branding.domain)
        assert status == 200 and "STAND-IN" in body, (slug, status, body[:200])
        assert html.escape(spec.name) in body  # TENANT_NAME from the tenant's branding ConfigMap


def test_each_tenants_domain_gets_its_certificate_from_the_acme_ca(lab: tuple[str, str]) -> None:
    """Traefik's ACME client got a certificate for every tenant domain from the lab's ACME test CA (pebble),
    which validated the domain over HTTP-01 on the ingress node; it chains to pebble's root, not Traefik's own."""
    import ssl

    from werkraum.lab.rack import load_rack

    root = kubectl(lab, "get", "--raw", ACME_ROOT)
    assert "BEGIN CERTIFICATE" in root, root[:200]
    worker = next(h for h in load_rack(LAB_INVENTORY.resolve()).kubernetes_hosts if "gpu" in h.groups)
    for slug, spec in _sample_tenants().items():
        deadline, error = time.monotonic() + 180, ""
        while time.monotonic() < deadline:
            try:
                status, body = https_get(worker.address, spec.branding.domain, root=root)
            except ssl.SSLCertVerificationError as exc:  # Traefik's default certificate until the order is done
                error = str(exc)
                time.sleep(5)
                continue
            assert status == 200 and "STAND-IN" in body, (slug, status)
            break
        else:
            pytest.fail(f"{spec.branding.domain}: no certificate from the ACME test CA within 180 s: {error}")
