"""Tenants: the tenant file (its model and checks), the plan table, and the fleet of all tenant files."""
