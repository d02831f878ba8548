"""The tenant's apps: one per enabled feature, one per workspace, behind one TLS ingress.

Every app reads the tenant's branding (name, colours, logo, welcome message)
from the `branding` ConfigMap and the enabled connectors from `connectors`.
Workspace volumes are protected: deleting them loses the tenant's data.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi_kubernetes as k8s

import pulumi
from werkraum.infra import naming
from werkraum.tenants.plans import WORKSPACE_PROFILES

meta = k8s.meta.v1.ObjectMetaArgs
APP_VERSION = "1.4.2"

# feature -> URL path under the tenant's domain
FEATURE_PATHS: dict[str, str] = {
    "chat": "/",
    "files": "/files",
    "tables": "/tables",
    "meetings": "/meetings",
    "scheduler": "/scheduler",
    "notebooks": "/notebooks",
}


FEATURE_REQUESTS = {"cpu": "250m", "memory": "512Mi"}
FEATURE_LIMITS = {"cpu": "1", "memory": "1Gi"}


def scaled_requests(requests: dict[str, str], percent: int) -> dict[str, str]:
    """CPU and memory requests scaled to ``percent`` (PlatformSpec.kubernetes_requests_percent); others kept.

    CPU in millicores, memory in MiB, each at least 1; at 100 the requests are returned as they are.
    """
    if percent == 100:
        return dict(requests)
    out = dict(requests)
    if "cpu" in requests:
        cpu = requests["cpu"]
        millis = int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
        out["cpu"] = f"{max(1, millis * percent // 100)}m"
    if "memory" in requests:
        memory = requests["memory"]
        mib = int(memory[:-2]) * 1024 if memory.endswith("Gi") else int(memory.removesuffix("Mi"))
        out["memory"] = f"{max(1, mib * percent // 100)}Mi"
    return out


@dataclass(frozen=True)
class WorkspaceInput:
    name: str
    profile: str
    members: Sequence[str]


@dataclass(frozen=True)
class BrandingInput:
    domain: str
    display_name: str
    assistant_name: str
    primary_color: str
    secondary_color: str
    welcome_message: str
    logo_file: str
    logo: bytes


class TenantApps(pulumi.ComponentResource):
    urls: dict[str, str]

    def __init__(
        self,
        slug: str,
        plan: str,
        *,
        namespace: str,
        features: Sequence[str],
        apps: Sequence[str],
        workspaces: Sequence[WorkspaceInput],
        branding: BrandingInput,
        image_registry: pulumi.Input[str],
        storage_class: pulumi.Input[str],
        ingress_class: pulumi.Input[str],
        certificate_resolver: pulumi.Input[str],
        protect: bool,
        requests_percent: pulumi.Input[int] = 100,
        gpu_runtime_class: pulumi.Input[str] = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("werkraum:tenant:Apps", slug, None, opts)
        self._gpu_runtime_class = pulumi.Output.from_input(gpu_runtime_class)
        child = pulumi.ResourceOptions(parent=self)
        labels = naming.labels(slug, plan)
        self._requests_percent = pulumi.Output.from_input(requests_percent)

        def m(name: str, annotations: dict[str, str] | None = None, **extra: str) -> k8s.meta.v1.ObjectMetaArgs:
            return meta(name=name, namespace=namespace, labels={**labels, **extra}, annotations=annotations)

        self.branding = k8s.core.v1.ConfigMap(
            f"{slug}-branding",
            metadata=m("branding"),
            data={
                "TENANT_NAME": branding.display_name,
                "ASSISTANT_NAME": branding.assistant_name,
                "PRIMARY_COLOR": branding.primary_color,
                "SECONDARY_COLOR": branding.secondary_color,
                "WELCOME_MESSAGE": branding.welcome_message,
                "PUBLIC_URL": f"https://{branding.domain}",
                "LOGO_FILE": branding.logo_file,
                **({branding.logo_file: branding.logo.decode()} if branding.logo_file.endswith(".svg") else {}),
            },
            binary_data=(
                None
                if branding.logo_file.endswith(".svg")
                else {branding.logo_file: base64.b64encode(branding.logo).decode()}
            ),
            opts=child,
        )
        self.connectors = k8s.core.v1.ConfigMap(
            f"{slug}-connectors",
            metadata=m("connectors"),
            data={"ENABLED_CONNECTORS": ",".join(sorted(apps))},
            opts=child,
        )
        routes: list[tuple[str, str]] = []  # (path, service)
        self.deployments: list[k8s.apps.v1.Deployment] = []
        self.services: list[k8s.core.v1.Service] = []
        self.volumes: list[k8s.core.v1.PersistentVolumeClaim] = []
        self.urls = {}
        for feature in features:
            name = f"app-{feature}"
            self._app(
                slug,
                name,
                image=pulumi.Output.concat(image_registry, f"/{feature}:{APP_VERSION}"),
                meta=m,
                labels=labels,
            )
            routes.append((FEATURE_PATHS[feature], name))
            self.urls[feature] = f"https://{branding.domain}{FEATURE_PATHS[feature].rstrip('/')}/"
        for ws in workspaces:
            cpu, ram, gpus, volume = WORKSPACE_PROFILES[ws.profile]
            name = f"ws-{ws.name}"
            pvc = k8s.core.v1.PersistentVolumeClaim(
                f"{slug}-{name}-data",
                # The engine waits for the claim through its workspace's Deployment, whose pod cannot run
                # before the claim is bound. Its own await is skipped: the provider we can build
                # (pulumi-kubernetes, 2026-01-15) waits on an update of a bound claim of a
                # WaitForFirstConsumer class for the Pending phase it never has again, until it
                # times out (pulumi-kubernetes #4179, fixed in #4181 on 2026-02-24; docs/testing.md).
                metadata=m(
                    f"{name}-data", annotations={"pulumi.com/skipAwait": "true"}, **{"werkraum.io/workspace": ws.name}
                ),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"],
                    storage_class_name=storage_class,
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{volume}Gi"}),
                ),
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )
            self.volumes.append(pvc)
            resources = {"cpu": str(cpu), "memory": f"{ram}Gi"}
            limits = {**resources, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
            self._app(
                slug,
                name,
                image=pulumi.Output.concat(image_registry, f"/workspace-{ws.profile}:{APP_VERSION}"),
                meta=m,
                labels={**labels, "werkraum.io/workspace": ws.name},
                requests={**resources, **({"nvidia.com/gpu": str(gpus)} if gpus else {})},
                limits=limits,
                volume=pvc.metadata.name,
                annotations={"werkraum.io/members": ",".join(ws.members), "werkraum.io/profile": ws.profile},
                runtime_class=self._gpu_runtime_class if gpus else None,
            )
            path = f"/workspaces/{ws.name}"
            routes.append((path, name))
            self.urls[f"workspace/{ws.name}"] = f"https://{branding.domain}{path}/"
        self.ingress = k8s.networking.v1.Ingress(
            f"{slug}-ingress",
            metadata=meta(
                name="tenant",
                namespace=namespace,
                labels=labels,
                # Traefik's ACME client gets the domain's certificate (HTTP-01 on port 80) and renews it.
                annotations={"traefik.ingress.kubernetes.io/router.tls.certresolver": certificate_resolver},
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=ingress_class,
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[branding.domain])],
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=branding.domain,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path=path,
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name=service, port=k8s.networking.v1.ServiceBackendPortArgs(name="http")
                                        )
                                    ),
                                )
                                for path, service in routes
                            ]
                        ),
                    )
                ],
            ),
            opts=child,
        )
        self.register_outputs({"urls": self.urls})

    def _app(
        self,
        slug: str,
        name: str,
        *,
        image: pulumi.Input[str],
        meta: Callable[..., k8s.meta.v1.ObjectMetaArgs],
        labels: dict[str, str],
        requests: dict[str, str] | None = None,
        limits: dict[str, str] | None = None,
        volume: pulumi.Input[str] | None = None,
        annotations: dict[str, str] | None = None,
        runtime_class: pulumi.Output[str] | None = None,
    ) -> None:
        selector = {"app.kubernetes.io/name": name, naming.TENANT_LABEL: labels[naming.TENANT_LABEL]}
        pod_labels = {**labels, **selector}
        mounts = [k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data")] if volume else []
        volumes = (
            [
                k8s.core.v1.VolumeArgs(
                    name="data",
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=volume),
                )
            ]
            if volume
            else []
        )
        deployment = k8s.apps.v1.Deployment(
            f"{slug}-{name}",
            metadata=meta(name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate") if volume else None,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        runtime_class_name=runtime_class.apply(lambda v: v or None) if runtime_class else None,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=10001, fs_group=10001
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="app",
                                image=image,
                                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8080)],
                                env_from=[
                                    k8s.core.v1.EnvFromSourceArgs(
                                        config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="branding")
                                    ),
                                    k8s.core.v1.EnvFromSourceArgs(
                                        config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="connectors")
                                    ),
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=self._requests_percent.apply(
                                        lambda percent: scaled_requests(requests or FEATURE_REQUESTS, percent)
                                    ),
                                    limits=limits or FEATURE_LIMITS,
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http")
                                ),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        service = k8s.core.v1.Service(
            f"{slug}-{name}-svc",
            metadata=meta(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.deployments.append(deployment)
        self.services.append(service)
