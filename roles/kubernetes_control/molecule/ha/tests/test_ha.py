"""Three control nodes: each runs an API server, a controller-manager, a scheduler and an etcd member of one
cluster; the API answers through the shared endpoint and on every node's own address."""

import json

NODES = ["molecule-kubernetes-ha-1", "molecule-kubernetes-ha-2", "molecule-kubernetes-ha-3"]
ADDRESSES = ["10.88.237.11", "10.88.237.12", "10.88.237.13"]


def kubectl(host, *args: str) -> str:
    cmd = host.run("kubectl --kubeconfig /etc/kubernetes/admin.conf " + " ".join(args))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def test_three_control_nodes_are_ready(host) -> None:
    nodes = json.loads(kubectl(host, "get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert "node-role.kubernetes.io/control-plane" in labels
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


def test_each_node_runs_its_own_control_plane(host) -> None:
    pods = json.loads(kubectl(host, "-n", "kube-system", "get", "pods", "-o", "json"))["items"]
    running = {
        (p["metadata"]["labels"].get("component"), p["spec"]["nodeName"])
        for p in pods
        if p["status"]["phase"] == "Running"
    }
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert {(component, n) for n in NODES} <= running, component


def test_etcd_has_three_started_members(host) -> None:
    out = kubectl(
        host,
        "-n",
        "kube-system",
        "exec",
        "etcd-molecule-kubernetes-ha-3",
        "--",
        "etcdctl",
        "--cacert",
        "/etc/kubernetes/pki/etcd/ca.crt",
        "--cert",
        "/etc/kubernetes/pki/etcd/server.crt",
        "--key",
        "/etc/kubernetes/pki/etcd/server.key",
        "member",
        "list",
        "-w",
        "json",
    )
    members = json.loads(out)["members"]
    assert sorted(m["name"] for m in members) == NODES
    assert all(m.get("clientURLs") for m in members), "a member has not started"


def test_the_endpoint_and_every_api_server_answer(host) -> None:
    assert kubectl(host, "--server", "https://control-plane.molecule.test:6443", "get", "--raw", "/readyz") == "ok"
    for address in ADDRESSES:
        # Each API server's certificate names its own address (kubeadm's SANs).
        assert kubectl(host, "--server", f"https://{address}:6443", "get", "--raw", "/readyz") == "ok", address


def test_the_admin_kubeconfig_names_the_shared_endpoint(host) -> None:
    assert "server: https://control-plane.molecule.test:6443" in host.file("/etc/kubernetes/admin.conf").content_string
