"""The add-ons' manifests as the role renders them (Ansible's own template module, the role's defaults), checked
against the Kubernetes schemas: Traefik's ACME resolver on a rack (Let's Encrypt) and in the lab (its test CA)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.conftest import ROOT, VENV_BIN

ROLE = ROOT / "roles" / "kubernetes_addons"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def play(
    tmp_path: Path, name: str, variables: dict[str, object], tasks_first: str = ""
) -> subprocess.CompletedProcess[str]:
    """Render manifests/NAME.yaml.j2 with the role's defaults (and kubernetes_defaults') and ``variables``,
    after the role's tasks file ``tasks_first`` when one is named."""
    out = tmp_path / f"{name}.yaml"
    tasks: list[dict[str, object]] = (
        [{"ansible.builtin.import_tasks": str(ROLE / "tasks" / tasks_first)}] if tasks_first else []
    )
    tasks.append(
        {
            "ansible.builtin.template": {
                "src": str(ROLE / "templates" / "manifests" / f"{name}.yaml.j2"),
                "dest": str(out),
                "mode": "0600",
            }
        }
    )
    play = [
        {
            "name": "render",
            "hosts": "localhost",
            "gather_facts": False,
            "vars_files": [
                str(ROOT / "roles" / "kubernetes_defaults" / "defaults" / "main.yml"),
                str(ROLE / "defaults" / "main.yml"),
                str(tmp_path / "vars.yml"),
            ],
            "tasks": tasks,
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            *("-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"),
            str(tmp_path / "play.yml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def render(tmp_path: Path, name: str, variables: dict[str, object], tasks_first: str = "") -> list[dict[str, Any]]:
    """The manifests ``play`` rendered, each checked against the Kubernetes schemas."""
    proc = play(tmp_path, name, variables, tasks_first)
    assert proc.returncode == 0, proc.stdout[-2000:]
    out = tmp_path / f"{name}.yaml"
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    return docs


def of(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


RACK: dict[str, object] = {
    "kubernetes_addons_ingress_published_address": "203.0.113.10",
    "kubernetes_image_repo": "registry.example:5000",
}


def test_on_a_rack_traefik_gets_certificates_from_lets_encrypt_and_keeps_them_on_the_node(tmp_path: Path) -> None:
    docs = render(tmp_path, "traefik", {**RACK, "kubernetes_addons_acme_email": "ops@example.net"})
    pod = of(docs, "DaemonSet", "traefik")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    prefix = "--certificatesResolvers.werkraum.acme."
    assert f"{prefix}caServer=https://acme-v02.api.letsencrypt.org/directory" in args
    assert f"{prefix}httpChallenge.entryPoint=web" in args
    assert f"{prefix}storage=/data/acme.json" in args
    assert f"{prefix}email=ops@example.net" in args
    assert not any("caCertificates" in a for a in args)
    assert {"name": "acme", "hostPath": {"path": "/var/lib/traefik-acme", "type": "DirectoryOrCreate"}} in pod[
        "volumes"
    ]
    (init,) = pod["initContainers"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert not [d for d in docs if d["kind"] == "ConfigMap"]


def test_without_acme_traefik_has_no_resolver_and_no_node_folder(tmp_path: Path) -> None:
    docs = render(tmp_path, "traefik", {**RACK, "kubernetes_addons_acme_enabled": False})
    pod = of(docs, "DaemonSet", "traefik")["spec"]["template"]["spec"]
    assert not any("certificatesResolvers" in a for a in pod["containers"][0]["args"])
    assert "initContainers" not in pod and [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_in_the_lab_traefik_trusts_the_lab_ca_of_its_acme_test_ca(tmp_path: Path) -> None:
    lab = {
        **RACK,
        "kubernetes_addons_acme_ca_server": "https://pebble.acme-test-ca.svc:14000/dir",
        "kubernetes_addons_acme_ca_certificate": PEM,
    }
    docs = render(tmp_path, "traefik", lab)
    assert of(docs, "ConfigMap", "traefik-acme-ca")["data"]["ca.crt"].strip() == PEM
    template = of(docs, "DaemonSet", "traefik")["spec"]["template"]
    args = template["spec"]["containers"][0]["args"]
    assert "--certificatesResolvers.werkraum.acme.caCertificates=/etc/traefik/acme-ca/ca.crt" in args
    assert "--certificatesResolvers.werkraum.acme.caServer=https://pebble.acme-test-ca.svc:14000/dir" in args
    assert template["metadata"]["annotations"]["werkraum.io/acme-ca"]  # a new CA rolls the pods


def test_the_acme_test_ca_answers_every_name_with_the_ingress_node(tmp_path: Path) -> None:
    lab = {
        **RACK,
        "kubernetes_addons_acme_test_ca_enabled": True,
        "kubernetes_addons_acme_test_ca_certificate": PEM,
        "kubernetes_addons_acme_test_ca_private_key": "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----",
    }
    docs = render(tmp_path, "acme-test-ca", lab)
    assert (
        of(docs, "Namespace", "acme-test-ca")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    pod = of(docs, "Deployment", "pebble")["spec"]["template"]["spec"]
    pebble, dns = pod["containers"]
    assert (
        pebble["image"] == "ghcr.io/letsencrypt/pebble:2.10.3"
    )  # the upstream name: containerd pulls it from the mirror
    assert pebble["args"] == ["-config", "/etc/pebble/pebble-config.json", "-dnsserver", "127.0.0.1:8053"]
    assert dns["args"][:2] == ["-defaultIPv4", "203.0.113.10"]
    assert {"name": "PEBBLE_WFE_NONCEREJECT", "value": "0"} in pebble["env"]
    assert of(docs, "Secret", "pebble-tls")["stringData"]["tls.crt"].strip() == PEM
    assert {p["name"]: p["port"] for p in of(docs, "Service", "pebble")["spec"]["ports"]} == {
        "acme": 14000,
        "management": 15000,
    }


def test_the_device_plugin_runs_on_gpu_nodes_with_their_sharing_config_and_the_nvidia_runtime(tmp_path: Path) -> None:
    docs = render(tmp_path, "nvidia-device-plugin", RACK)
    runtime = of(docs, "RuntimeClass", "nvidia")
    assert runtime["handler"] == "nvidia"  # gpu_node's containerd runtime
    assert runtime["scheduling"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    pod = of(docs, "DaemonSet", "nvidia-device-plugin")["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia" and pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    (container,) = pod["containers"]
    assert container["image"] == "nvcr.io/nvidia/k8s-device-plugin:v0.18.0"
    assert container["args"] == ["--config-file=/etc/werkraum/gpu/device-plugin.yaml"]
    config = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config["hostPath"] == {"path": "/etc/werkraum/gpu/device-plugin.yaml", "type": "File"}  # gpu_node's file


def test_kube_state_metrics_labels_tenants_and_serves_only_through_the_api_servers_proxy(tmp_path: Path) -> None:
    docs = render(tmp_path, "kube-state-metrics", RACK)
    pod = of(docs, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0"
    assert (
        "--metric-labels-allowlist=namespaces=[werkraum.io/tenant,werkraum.io/plan],"
        "pods=[werkraum.io/tenant,werkraum.io/workspace]"
    ) in container["args"]
    assert container["securityContext"]["runAsUser"] == 65534 and container["securityContext"]["readOnlyRootFilesystem"]
    service = of(docs, "Service", "kube-state-metrics")["spec"]
    assert service["clusterIP"] == "None" and "type" not in service  # no node port
    (rule,) = of(docs, "Role", "kube-state-metrics-reader")["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["services/proxy"],
        "resourceNames": ["kube-state-metrics:http-metrics", "kube-state-metrics:telemetry"],
        "verbs": ["get"],
    }


FSID = "0b5f4d36-6b1e-4c52-9a0e-2f2d9d1f3a11"


def ceph_hand_over(folder: Path, *, key: bool = True) -> Path:
    """The files the ceph role hands to the controller (roles/ceph/tasks/clients.yml), as it writes them."""
    folder.mkdir()
    (folder / "ceph.conf").write_text(
        f"# Clients of cluster {FSID} (written by the ceph role).\n[global]\nfsid = {FSID}\n"
        "mon_host = [v2:10.10.0.31:3300,v1:10.10.0.31:6789],[v2:10.10.0.32:3300,v1:10.10.0.32:6789]\n"
    )
    if key:
        (folder / "ceph.client.kubernetes.keyring").write_text(
            '[client.kubernetes]\n\tkey = AQBv7hVnAAAAABAAm0gk0Xq3wq0sPZbQvN6U2g==\n\tcaps mon = "profile rbd"\n'
        )
    return folder


def test_ceph_csi_is_fed_the_fsid_monitors_and_key_the_ceph_role_handed_over(tmp_path: Path) -> None:
    folder = ceph_hand_over(tmp_path / "ceph")
    docs = render(
        tmp_path, "ceph-csi-rbd", {**RACK, "kubernetes_addons_ceph_csi_client_dir": str(folder)}, "ceph_csi.yml"
    )
    config = of(docs, "ConfigMap", "ceph-csi-config")
    assert json.loads(config["data"]["config.json"]) == [
        {"clusterID": FSID, "monitors": ["10.10.0.31:6789", "10.10.0.32:6789"]}
    ]
    secret = of(docs, "Secret", "csi-rbd-secret")
    # The platform stack's RBD StorageClasses name this Secret in this namespace (werkraum/infra/platform_stack.py).
    assert secret["metadata"]["namespace"] == "ceph-csi"
    assert secret["stringData"] == {"userID": "kubernetes", "userKey": "AQBv7hVnAAAAABAAm0gk0Xq3wq0sPZbQvN6U2g=="}
    images = {
        c["image"]
        for d in docs
        if d["kind"] in {"Deployment", "DaemonSet"}
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "quay.io/cephcsi/cephcsi:v3.15.0",
        "registry.k8s.io/sig-storage/csi-provisioner:v5.3.0",
        "registry.k8s.io/sig-storage/csi-attacher:v4.11.0",
        "registry.k8s.io/sig-storage/csi-resizer:v1.14.0",
        "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0",
    }
    assert of(docs, "CSIDriver", "rbd.csi.ceph.com")["spec"]["attachRequired"] is True


def test_ceph_csi_without_the_ceph_roles_hand_over_stops_naming_the_file(tmp_path: Path) -> None:
    folder = ceph_hand_over(tmp_path / "ceph", key=False)
    proc = play(
        tmp_path, "ceph-csi-rbd", {**RACK, "kubernetes_addons_ceph_csi_client_dir": str(folder)}, "ceph_csi.yml"
    )
    assert proc.returncode != 0
    assert f"{folder}/ceph.client.kubernetes.keyring" in proc.stdout and "ansible/ceph.yml" in proc.stdout
    assert not (tmp_path / "ceph-csi-rbd.yaml").exists()
