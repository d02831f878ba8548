"""End-to-end run of the tenant stacks through the real Pulumi engine (make e2e)."""
