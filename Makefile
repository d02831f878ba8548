# Werkraum's two set-up commands are `make lab` and `make test`; each installs
# what it needs first (scripts/bootstrap). The other targets are their parts.
SHELL := /bin/bash
VENV := .venv/bin
export CONTAINERS_CONF ?= $(CURDIR)/werkraum/data/containers.conf

.PHONY: lab test test-ceph test-kubernetes test-kubernetes-upstream test-kubernetes-molecule e2e engine bootstrap lint pytest molecule lab-down lab-status bench clean

## lab: install everything, bring up the lab rack and converge ansible/site.yml
lab: bootstrap
	$(VENV)/werkraum lab up

## test: install everything, run lint, pytest (with the CI lab: every node group through make lab's flow)
## and the Molecule scenarios of roles the CI lab does not converge; one summary
test: bootstrap
	scripts/test-all

## test-ceph: the ceph role's Molecule scenario on three qemu guests (about 45 minutes; not in make test)
test-ceph: bootstrap
	scripts/molecule-all ceph

## test-kubernetes: make lab (its cluster: control plane on control-01, gpu-01 as worker, add-ons), then the cluster
## checks against it: health, nodes, DNS, traffic, tenant isolation, quotas, storage (not in make test: the mirror
## is built from Go modules first, about an hour on a cold machine)
test-kubernetes: lab
	$(VENV)/pytest -v -m kubernetes tests/kubernetes

## test-kubernetes-upstream: make lab, then a subset of the upstream Kubernetes e2e suite on its cluster (e2e.test and
## agnhost built from the same k8s.io/kubernetes module, the tests in tests/kubernetes/upstream/selection.toml)
test-kubernetes-upstream: lab
	$(VENV)/python -m tests.kubernetes.upstream.run

## test-kubernetes-molecule: the Kubernetes roles' Molecule scenario (roles/kubernetes_control/molecule/default): a
## host that is service and control node at once and a worker, from the mirror (built first when it is not cached)
test-kubernetes-molecule: bootstrap
	scripts/molecule-all kubernetes_control

## e2e: make lab, then on its cluster through the real engine: every tenant up, no drift, a plan change, the shared
## program changed, a broken file refused, offboarding; the lab put back; then the OpenStack half on the lab OpenStack API
# The OpenStack provider plugin cannot be built here (docs/testing.md, "End to end"): make e2e
# accepts that one documented gap and still prints it as BLOCKED; `werkraum e2e` alone does not.
e2e: lab
	WERKRAUM_E2E_ACCEPT_BLOCKED="$${WERKRAUM_E2E_ACCEPT_BLOCKED-openstack}" $(VENV)/werkraum e2e

engine: bootstrap
	scripts/build-engine

bootstrap:
	scripts/bootstrap

lint: bootstrap
	scripts/test-all lint

pytest: bootstrap
	scripts/test-all pytest

## molecule: every role's Molecule scenario but ceph's and kubernetes_control's (common, gpu_node, netbox, registry and tls_proxy are verified in
## make test by the CI lab, so their scenarios run here, not there; about 20 minutes)
molecule: bootstrap
	scripts/molecule-all

lab-status:
	$(VENV)/werkraum lab status

lab-down:
	$(VENV)/werkraum lab down

## bench: the benchmarks (slow; not part of make test)
bench: bootstrap
	for b in bench/*; do [ -x "$$b" ] && "$$b"; done

clean:
	rm -rf .venv .cache .mypy_cache .ruff_cache .pytest_cache
