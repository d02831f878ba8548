"""The lab's tenants: the sample tenant files applied to the lab cluster by the real Pulumi engine.

The last phase of `werkraum lab up` (and `werkraum lab tenants` alone): the
platform stack ``lab`` (pulumi/platform/Pulumi.lab.yaml: the lab inventory's facts,
a local-path storage class, no OpenStack yet) and then every tenant under stacks/,
each through the driver's ``up`` as `werkraum tenant apply` runs it: the policy check
over the tenant's offline plan first, then the engine. The programs are the
product's (werkraum/infra/programs.py), run inline by the Automation API: the
Python language host plugin cannot be built here (docs/testing.md). An up returns
when the tenant's Deployments are Available (their pods Running, so their claims
bound), its Services have endpoints and its Ingress has an address; only the
workspace claims skip their own await (werkraum/infra/tenant_apps.py says why).

The stacks live in a file backend in the lab's state folder; the tenant files are
copies of stacks/ (with ``tenant:platform_stack`` naming the lab's platform
stack), refreshed from the checkout on every run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import pulumi
from werkraum.errors import WerkraumError
from werkraum.infra import naming
from werkraum.infra.driver import FileBackend, StackDriver
from werkraum.infra.driver import platform as platform_driver
from werkraum.infra.driver import tenant as tenant_driver
from werkraum.infra.programs import platform_program, tenant_program
from werkraum.lab import podman
from werkraum.lab.lab import keycloak_handover_dir, kubeconfig, lab_state_dir
from werkraum.lab.rack import LabRack
from werkraum.paths import repo_root
from werkraum.progress import say, step
from werkraum.tenants.fleet import tenant_paths
from werkraum.tenants.loader import slug_of
from werkraum.tenants.platform import PlatformSpec, load_platform
from werkraum.tenants.platform import platform_file as settings_file

PLATFORM_STACK = "lab"
PLATFORM_REF = f"organization/werkraum-platform/{PLATFORM_STACK}"


def platform_file() -> Path:
    return settings_file(PLATFORM_STACK)


@dataclass(frozen=True)
class TenantPods:
    """What one tenant runs in the lab cluster once its up returned."""

    slug: str
    namespace: str
    deployments: dict[str, bool]  # name -> Available
    pods: dict[str, tuple[str, str]]  # name -> (phase, node)
    claims: dict[str, str]  # name -> phase

    @property
    def problems(self) -> list[str]:
        found = [f"Deployment {d} is not Available" for d, ok in self.deployments.items() if not ok]
        found += [f"pod {p} is {phase}" for p, (phase, _node) in self.pods.items() if phase != "Running"]
        found += [f"claim {c} is {phase}" for c, phase in self.claims.items() if phase != "Bound"]
        if not self.deployments:
            found.append("no Deployment")
        return found


@dataclass
class LabTenantsResult:
    platform_changes: dict[str, int]
    platform_s: float
    changes: dict[str, dict[str, int]] = field(default_factory=dict)  # slug -> changes of its up
    seconds: dict[str, float] = field(default_factory=dict)  # slug -> its up, until its apps were ready
    tenants: list[TenantPods] = field(default_factory=list)


class StackFolders:
    """A folder of stack files: ``stacks/`` (copies of tenant files) and ``platform/`` (a platform settings file)."""

    root: Path

    @property
    def stacks_dir(self) -> Path:
        return self.root / "stacks"

    @property
    def platform_dir(self) -> Path:
        return self.root / "platform"


class LabTenants(StackFolders):
    """The lab's file backend, its copies of the tenant files and the drivers of its stacks."""

    def __init__(self, rack: LabRack, engine_root: Path, on_output: Callable[[str], None] | None = None) -> None:
        self.rack = rack
        self.root = lab_state_dir(rack) / "tenants"
        self.engine_root = engine_root
        self.on_output = on_output or (lambda line: None)
        # The programs run in this process and read the platform's Keycloak from the hand-over of
        # the lab's keycloak role (werkraum/rack/facts.py): this lab's, not a rack's in ~/.werkraum.
        os.environ["WERKRAUM_KEYCLOAK_FETCH_DIR"] = str(keycloak_handover_dir(rack))

    def _passphrase(self) -> str:
        """The passphrase of the lab stacks' secrets: made once, kept root-only beside the backend."""
        path = self.root / "passphrase"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def backend(self) -> FileBackend:
        return FileBackend(self.root, self.engine_root, kubeconfig(self.rack), self._passphrase())

    def prepare(self) -> list[str]:
        """Fresh copies of stacks/ (naming the lab's platform stack) and of the lab's platform settings."""
        source = repo_root() / "stacks"
        if self.stacks_dir.exists():
            shutil.rmtree(self.stacks_dir)
        shutil.copytree(source, self.stacks_dir)
        slugs = []
        for path in tenant_paths(self.stacks_dir):
            data = yaml.safe_load(path.read_text())
            data["config"]["tenant:platform_stack"] = PLATFORM_REF
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
            slugs.append(slug_of(path))
        if not slugs:
            raise WerkraumError(f"{source}: no tenant file (Pulumi.<slug>.yaml) to apply to the lab")
        self.platform_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(platform_file(), self.platform_dir / platform_file().name)
        return slugs

    def platform_spec(self) -> PlatformSpec:
        return load_platform(self.platform_dir / platform_file().name)

    def platform(self, backend: FileBackend) -> StackDriver:
        def program() -> None:
            platform_program()

        return platform_driver(
            PLATFORM_STACK,
            inline=backend.inline(program, "platform", self.platform_dir),
            on_output=self.on_output,
        )

    def tenant(
        self,
        slug: str,
        backend: FileBackend,
        spec: PlatformSpec,
        *,
        transforms: Sequence[pulumi.ResourceTransform] = (),
    ) -> StackDriver:
        """The tenant's stack; ``transforms`` are registered before its program runs (the e2e run's edits)."""
        stacks_dir = self.stacks_dir

        def program() -> None:
            for transform in transforms:
                pulumi.runtime.register_stack_transform(transform)
            tenant_program(stacks_dir, spec)

        return tenant_driver(
            slug,
            stacks_dir=stacks_dir,
            platform=spec,
            inline=backend.inline(program, "tenant", stacks_dir),
            on_output=self.on_output,
        )

    def apply(self, publish: Callable[[PlatformSpec], None] | None = None) -> LabTenantsResult:
        """The platform stack, then every tenant; each tenant's pods and claims are read back afterwards.

        ``publish`` gets the platform settings once they are read and checked, before any
        stack runs (the lab's command pushes the stand-in app image to their registry).
        """
        slugs = self.prepare()
        spec = self.platform_spec()
        if spec.openstack:
            raise WerkraumError(
                f"{platform_file()}: the lab runs no OpenStack yet, so its platform settings say `openstack: false`",
                hint="set platform:spec.openstack to false there",
            )
        if publish is not None:
            publish(spec)
        backend = self.backend()
        with step(f"Applying the platform stack {PLATFORM_STACK} to the lab cluster"):
            started = time.monotonic()
            applied = self.platform(backend).up()
            say(f"    {applied.changes or 'no changes'}")
        result = LabTenantsResult(applied.changes, round(time.monotonic() - started, 1))
        for slug in slugs:
            with step(f"Applying tenant {slug} to the lab cluster (the engine waits for its apps)"):
                started = time.monotonic()
                up = self.tenant(slug, backend, spec).up()
                result.seconds[slug] = round(time.monotonic() - started, 1)
                result.changes[slug] = up.changes
                pods = read_tenant(self.rack, slug)
                result.tenants.append(pods)
                running = sum(1 for phase, _ in pods.pods.values() if phase == "Running")
                say(f"    {up.changes or 'no changes'}; {running} pods running, {len(pods.claims)} claims")
        broken = {t.slug: t.problems for t in result.tenants if t.problems}
        if broken:
            raise WerkraumError(
                "the engine's up returned, but not every tenant runs: "
                + "; ".join(f"{slug}: {', '.join(problems)}" for slug, problems in broken.items()),
                hint="see `kubectl get pods,pvc -A` on the lab's control node (werkraum lab kubeconfig)",
            )
        return result


def _kubectl_json(rack: LabRack, *args: str) -> dict[str, Any]:
    control = next((h for h in rack.kubernetes_hosts if "control" in h.groups), None)
    if control is None:
        raise WerkraumError(f"lab {rack.name} has no control host, so no Kubernetes cluster")
    proc = podman.podman(
        "exec", control.container, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args, "-o", "json"
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def read_tenant(rack: LabRack, slug: str) -> TenantPods:
    """The tenant namespace's Deployments (Available?), pods (phase, node) and claims (phase)."""
    namespace = naming.namespace(slug)
    items = _kubectl_json(rack, "-n", namespace, "get", "deployments,pods,persistentvolumeclaims")["items"]

    def of(kind: str) -> list[dict[str, Any]]:
        return [i for i in items if i["kind"] == kind]

    def available(deployment: dict[str, Any]) -> bool:
        conditions = deployment.get("status", {}).get("conditions", [])
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    return TenantPods(
        slug,
        namespace,
        deployments={d["metadata"]["name"]: available(d) for d in of("Deployment")},
        pods={
            p["metadata"]["name"]: (p.get("status", {}).get("phase", "?"), p.get("spec", {}).get("nodeName", ""))
            for p in of("Pod")
        },
        claims={c["metadata"]["name"]: c.get("status", {}).get("phase", "?") for c in of("PersistentVolumeClaim")},
    )
