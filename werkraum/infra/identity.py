"""The tenant's OpenStack project, its admin group and the group's role on the project."""

from __future__ import annotations

import pulumi_openstack as openstack

import pulumi
from werkraum.infra import naming

# Keystone's `admin` role is cloud-wide in many policies; tenant admins get `member`.
TENANT_ADMIN_ROLES = ("member",)


class TenantIdentity(pulumi.ComponentResource):
    project_id: pulumi.Output[str]

    def __init__(
        self, slug: str, display_name: str, plan: str, *, protect: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("werkraum:tenant:Identity", slug, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.project = openstack.identity.Project(
            f"{slug}-project",
            name=naming.project(slug),
            description=f"Werkraum tenant {display_name} ({plan})",
            enabled=True,
            tags=[f"werkraum-tenant={slug}", f"werkraum-plan={plan}"],
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.admin_group = openstack.identity.GroupV3(
            f"{slug}-admins",
            name=naming.admin_group(slug),
            description=f"Admins of tenant {display_name}",
            opts=child,
        )
        self.assignments = [
            openstack.identity.RoleAssignment(
                f"{slug}-admins-{role}",
                group_id=self.admin_group.id,
                project_id=self.project.id,
                role_id=openstack.identity.get_role_output(name=role).id,
                opts=child,
            )
            for role in TENANT_ADMIN_ROLES
        ]
        self.project_id = self.project.id
        self.register_outputs({"project_id": self.project.id, "admin_group": self.admin_group.name})
