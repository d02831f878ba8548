"""Pulumi program of the platform stack: everything is in werkraum.infra.platform_stack."""

from werkraum.infra.programs import platform_program

platform_program()
