"""A real Kubernetes API beside the lab: etcd, kube-apiserver and kube-controller-manager, no nodes.

The binaries come from `werkraum engine build` (Go module proxy). Everything runs as
plain processes of this machine on loopback; state, certificates, logs and the
kubeconfig live in ``~/.local/state/werkraum/kube-api``. Admission includes
ResourceQuota, LimitRanger and NamespaceLifecycle, authorization is RBAC, and the
controller manager runs the namespace, garbage-collector, resource-quota and
volume-claim-protection controllers, so a namespace deleted by offboarding really goes away. Pods never run:
there is no kubelet.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from werkraum.errors import WerkraumError, require_tool
from werkraum.lifecycle import Process, http_check
from werkraum.mirror import engine
from werkraum.paths import state_dir
from werkraum.progress import say, step

ADMISSION = "NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,DefaultStorageClass,PodSecurity"
CONTROLLERS = (
    "namespace-controller,garbage-collector-controller,resourcequota-controller,"
    "serviceaccount-controller,serviceaccount-token-controller,persistentvolumeclaim-protection-controller"
)


@dataclass(frozen=True)
class KubeApiLab:
    """Where the lab's Kubernetes API lives and listens."""

    root: Path
    etcd_client_port: int = 12379
    etcd_peer_port: int = 12380
    apiserver_port: int = 16443
    controller_manager_port: int = 16444

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def pidfile(self, name: str) -> Path:
        return self.root / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"


def default_lab() -> KubeApiLab:
    return KubeApiLab(root=state_dir() / "kube-api")


def _binaries() -> dict[str, Path]:
    components = engine.load_components()
    wanted = ["etcd", "kube-apiserver", "kube-controller-manager"]
    found = engine.installed(components[n] for n in wanted)
    missing = [n for n in wanted if found[n] is None]
    if missing:
        raise WerkraumError(
            f"the lab's Kubernetes API needs {', '.join(missing)}, which is not built",
            hint=f"run scripts/build-engine {' '.join(missing)} (builds from the Go module proxy; cached afterwards)",
        )
    return {n: p for n, p in found.items() if p is not None}


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WerkraumError(f"openssl {' '.join(args[:2])} failed in {cwd}: {proc.stderr.strip()}")


def _signed_cert(pki: Path, name: str, subject: str, *x509_args: str) -> None:
    """A key and a certificate signed by the lab CA (``x509_args``: e.g. an extensions file)."""
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject, cwd=pki)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "365", *x509_args, "-out", f"{name}.crt", cwd=pki)  # fmt: skip


def ensure_pki(lab: KubeApiLab) -> None:
    """A CA, the API server's serving cert, the service-account keys and two client certs (once)."""
    require_tool("openssl", "to make the lab Kubernetes API's certificates", "apt-get install openssl")
    pki = lab.pki
    if (pki / "admin.crt").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "365",
        "-subj",
        "/CN=werkraum-lab-kubernetes-ca",
        cwd=pki,
    )
    (pki / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _signed_cert(pki, "server", "/CN=kube-apiserver", "-extfile", "server.ext")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    _signed_cert(pki, "controller-manager", "/CN=system:kube-controller-manager")
    _signed_cert(pki, "admin", "/O=system:masters/CN=werkraum-admin")
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def _kubeconfig(lab: KubeApiLab, user: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: werkraum-lab
  cluster:
    server: {lab.server}
    certificate-authority: {lab.pki / "ca.crt"}
users:
- name: {user}
  user:
    client-certificate: {lab.pki / (user + ".crt")}
    client-key: {lab.pki / (user + ".key")}
contexts:
- name: werkraum-lab
  context: {{cluster: werkraum-lab, user: {user}}}
current-context: werkraum-lab
"""


def _process(
    lab: KubeApiLab,
    name: str,
    argv: list[str] | None = None,
    *,
    url: str = "",
    ctx: ssl.SSLContext | None = None,
    timeout: float = 60,
) -> Process:
    """One of the three: detached (it outlives a run with --keep), found by its pidfile, healthy once ``url`` is 200."""
    return Process(
        name,
        argv or (),
        check=http_check(url, context=ctx) if url else None,
        awaited=f"{url} answering 200",
        log=lab.log(name),
        pidfile=lab.pidfile(name),
        cwd=lab.root,
        timeout=timeout,
        interval=1,
    )


def _admin_context(lab: KubeApiLab) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(lab.pki / "ca.crt"))
    ctx.load_cert_chain(str(lab.pki / "admin.crt"), str(lab.pki / "admin.key"))
    return ctx


def up(lab: KubeApiLab | None = None) -> KubeApiLab:
    """Start etcd, kube-apiserver and kube-controller-manager (each only if not running); write the kubeconfig."""
    lab = lab or default_lab()
    bins = _binaries()
    lab.root.mkdir(parents=True, exist_ok=True)
    ensure_pki(lab)
    pki = lab.pki
    with step("etcd"):
        _process(
            lab,
            "etcd",
            [
                str(bins["etcd"]),
                "--name",
                "lab",
                "--data-dir",
                str(lab.root / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{lab.etcd_client_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{lab.etcd_client_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{lab.etcd_peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{lab.etcd_peer_port}",
                "--initial-cluster",
                f"lab=http://127.0.0.1:{lab.etcd_peer_port}",
                "--quota-backend-bytes",
                str(2 * 1024**3),
            ],
            url=f"http://127.0.0.1:{lab.etcd_client_port}/health",
        ).ensure()
    with step("kube-apiserver"):
        _process(
            lab,
            "kube-apiserver",
            [
                str(bins["kube-apiserver"]),
                "--etcd-servers",
                f"http://127.0.0.1:{lab.etcd_client_port}",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(lab.apiserver_port),
                "--tls-cert-file",
                str(pki / "server.crt"),
                "--tls-private-key-file",
                str(pki / "server.key"),
                "--client-ca-file",
                str(pki / "ca.crt"),
                "--service-account-key-file",
                str(pki / "sa.pub"),
                "--service-account-signing-key-file",
                str(pki / "sa.key"),
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-cluster-ip-range",
                "10.96.0.0/16",
                "--authorization-mode",
                "RBAC",
                "--enable-admission-plugins",
                ADMISSION,
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",  # no nodes: nothing to publish in the kubernetes Service
            ],
            url=f"{lab.server}/readyz",
            ctx=_admin_context(lab),
            timeout=180,
        ).ensure()
    lab.kubeconfig.write_text(_kubeconfig(lab, "admin"))
    lab.kubeconfig.chmod(0o600)
    cm_config = lab.root / "controller-manager.kubeconfig"
    cm_config.write_text(_kubeconfig(lab, "controller-manager"))
    with step("kube-controller-manager"):
        _process(
            lab,
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                "--kubeconfig",
                str(cm_config),
                "--authentication-kubeconfig",
                str(cm_config),
                "--authorization-kubeconfig",
                str(cm_config),
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(lab.controller_manager_port),
                "--controllers",
                CONTROLLERS,
                "--service-account-private-key-file",
                str(pki / "sa.key"),
                "--root-ca-file",
                str(pki / "ca.crt"),
                "--use-service-account-credentials=true",  # each controller acts with its own RBAC role
            ],
            url=f"https://127.0.0.1:{lab.controller_manager_port}/healthz",
            ctx=ssl._create_unverified_context(),  # its serving cert is self-signed per start
            timeout=120,
        ).ensure()
    say(f"Kubernetes API: {lab.server}  kubeconfig: {lab.kubeconfig}")
    return lab


def down(lab: KubeApiLab | None = None, *, keep_data: bool = False) -> None:
    """Stop the three processes; remove the state unless keep_data."""
    lab = lab or default_lab()
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        _process(lab, name).stop()
    if not keep_data:
        shutil.rmtree(lab.root, ignore_errors=True)
