"""Pulumi program of a tenant stack: everything is in werkraum.infra (one component per concern)."""

from werkraum.infra.programs import tenant_program

tenant_program()
