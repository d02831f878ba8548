"""The end-to-end run: the real Pulumi engine against lab Kubernetes and OpenStack APIs (make e2e)."""
