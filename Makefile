# kubevirt_net.core — developer entry points.  `make demo` and `make test` do
# all set-up by themselves on a fresh machine (Python 3.11+ present).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv

.PHONY: demo test matrix venv system-deps lab-build lab-up lab-down sanity lint unit integration bench docs clean

venv:
	@bash hack/venv.sh "$(VENV)"

# the test-only system packages of bindep.txt (apt), e.g. FUSE for the sriov_host tests
system-deps: venv
	@bash hack/system-deps.sh

# etcd 3.6, Kubernetes 1.34 and KubeVirt v1.9.0's control plane from Go modules (cached by version)
lab-build:
	@bash lab/build/build.sh

demo: venv system-deps lab-build
	@bash hack/demo.sh

test: venv system-deps lab-build
	@bash hack/test.sh all

# the ansible-core support matrix (2.17, 2.19, 2.21), each in its own venv cached in
# ~/.cache/kubevirt-net-lab/venvs: the version-dependent sanity tests + a smoke run on a fresh
# lab (hack/matrix.sh).  make test runs 2.17 and 2.19 already (sanity, tests/integration/matrix);
# this target is for all of them by hand, MATRIX=2.21 for one
matrix: venv system-deps lab-build
	@bash hack/matrix.sh $(MATRIX)

unit: venv
	@bash hack/test.sh unit

sanity: venv
	@bash hack/test.sh sanity

lint: venv
	@bash hack/test.sh lint

integration: venv system-deps lab-build
	@bash hack/test.sh integration

lab-up: venv lab-build
	@"$(VENV)/bin/python" -m lab up

lab-down: venv
	@"$(VENV)/bin/python" -m lab down

# all benchmark scenarios on the lab (slow: tens of minutes), writes docs/benchmarks.md;
# BENCH_ARGS="--runs 3" for medians, "--scale small" for a quick look
bench: venv lab-build
	@"$(VENV)/bin/python" -m bench.run_all $(BENCH_ARGS)

# module/role/filter pages with antsibull-docs (into docs/modules, or DEST)
docs: venv
	@bash hack/docs.sh $(DEST)

clean:
	rm -rf .build tests/output .pytest_cache
