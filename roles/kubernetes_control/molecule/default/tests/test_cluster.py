"""What the Kubernetes roles must leave: a control plane at the pinned version, a joined worker, the pod
network, DNS, and the add-ons rolled out, every binary and image from the scenario's own mirror."""

import json
import time
from pathlib import Path

import pytest
import yaml

PINS = yaml.safe_load(
    (Path(__file__).resolve().parents[5] / "roles" / "kubernetes_defaults" / "defaults" / "main.yml").read_text()
)
VERSION = PINS["kubernetes_version"]
CONTROL, WORKER = "molecule-kubernetes-control", "molecule-kubernetes-worker"
BUSYBOX = f"docker.io/library/busybox:{PINS['kubernetes_busybox_version']}"


def kubectl(host, *args: str):
    cmd = host.run("kubectl --kubeconfig /etc/kubernetes/admin.conf " + " ".join(args))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout


def objects(host, *args: str):
    return json.loads(kubectl(host, *args, "-o", "json"))


def test_the_api_server_is_healthy_and_at_the_pinned_version(host) -> None:
    assert kubectl(host, "get", "--raw", "/readyz").strip() == "ok"
    assert kubectl(host, "get", "--raw", "/livez").strip() == "ok"
    assert json.loads(kubectl(host, "get", "--raw", "/version"))["gitVersion"] == VERSION


def test_both_nodes_are_ready_with_the_pinned_kubelet(host) -> None:
    nodes = {n["metadata"]["name"]: n for n in objects(host, "get", "nodes")["items"]}
    assert set(nodes) == {CONTROL, WORKER}
    for node in nodes.values():
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == VERSION
    taints = [t["key"] for t in nodes[CONTROL]["spec"].get("taints", [])]
    assert "node-role.kubernetes.io/control-plane" in taints
    assert nodes[WORKER]["metadata"]["labels"].get("werkraum.io/ingress") == "true"
    assert nodes[WORKER]["status"]["capacity"].get("nvidia.com/gpu") == "1"


@pytest.mark.parametrize(
    ("namespace", "kind", "name"),
    [
        ("kube-system", "deployment", "coredns"),
        ("kube-system", "daemonset", "kube-proxy"),
        ("kube-system", "daemonset", "kube-router"),
        ("kube-system", "deployment", "metrics-server"),
        ("local-path-storage", "deployment", "local-path-provisioner"),
        ("kube-system", "deployment", "kube-state-metrics"),
        ("traefik", "daemonset", "traefik"),
    ],
)
def test_the_cluster_parts_are_rolled_out(host, namespace: str, kind: str, name: str) -> None:
    kubectl(host, "-n", namespace, "rollout", "status", f"{kind}/{name}", "--timeout=120s")


def test_every_pod_image_came_from_the_scenario_mirror(host) -> None:
    """containerd fetched each image from the service node's registry: its hosts.toml names no other."""
    hosts_toml = host.file("/etc/containerd/certs.d/registry.k8s.io/hosts.toml")
    assert hosts_toml.exists and "https://10.88.236.10:5000" in hosts_toml.content_string
    pods = objects(host, "get", "pods", "-A")["items"]
    assert pods and all(p["status"]["phase"] in ("Running", "Succeeded") for p in pods), [
        (p["metadata"]["name"], p["status"]["phase"]) for p in pods if p["status"]["phase"] != "Running"
    ]


def test_a_pod_on_the_worker_resolves_a_service_and_reaches_the_api(host) -> None:
    kubectl(host, "delete", "pod", "molecule-dns", "--ignore-not-found", "--wait=true")
    kubectl(
        host,
        "run",
        "molecule-dns",
        f"--image={BUSYBOX}",
        "--restart=Never",
        "--overrides",
        "'" + json.dumps({"spec": {"nodeSelector": {"kubernetes.io/hostname": WORKER}}}) + "'",
        "--command",
        "--",
        "sleep",
        "600",
    )
    try:
        kubectl(host, "wait", "--for=condition=Ready", "pod/molecule-dns", "--timeout=120s")
        for _ in range(10):
            lookup = host.run(
                "kubectl --kubeconfig /etc/kubernetes/admin.conf exec molecule-dns -- "
                "nslookup kubernetes.default.svc.cluster.local"
            )
            if lookup.rc == 0:
                break
            time.sleep(3)
        assert lookup.rc == 0, lookup.stdout + lookup.stderr
        assert "10.43.0.1" in lookup.stdout
        # BusyBox 1.35's wget speaks an older TLS than the API server accepts: the API server
        # answering the handshake through the Service address (its TLS alert) is what is
        # checked; a path that does not reach it ends in "Connection refused" or the timeout.
        # (wget's own -T crashes Debian's static BusyBox 1.35: the timeout is timeout's.)
        api = host.run(
            "kubectl --kubeconfig /etc/kubernetes/admin.conf exec molecule-dns -- "
            "timeout 6 wget -q -O /dev/null --no-check-certificate https://10.43.0.1/livez"
        )
        said = api.stdout + api.stderr
        assert api.rc == 0 or "TLS error from peer" in said, said
    finally:
        kubectl(host, "delete", "pod", "molecule-dns", "--ignore-not-found", "--wait=false")


def test_the_default_storage_class_is_local_path(host) -> None:
    classes = objects(host, "get", "storageclass")["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default == ["local-path"]
