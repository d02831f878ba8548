"""Werkraum: infrastructure as code for a self-hosted, multi-tenant AI workspace platform."""

__version__ = "0.1.0"
