# kubevirt_net.core — developer entry points.  `make demo` and `make test` do
# all set-up by themselves on a fresh machine (Python 3.11+ present).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv

.PHONY: demo test venv lab-build lab-up lab-down sanity lint unit integration clean

venv:
	@bash hack/venv.sh "$(VENV)"

lab-build:
	@bash tests/lab/build-apiserver.sh

demo: venv lab-build
	@bash hack/demo.sh

test: venv lab-build
	@bash hack/test.sh all

unit: venv
	@bash hack/test.sh unit

sanity: venv
	@bash hack/test.sh sanity

lint: venv
	@bash hack/test.sh lint

integration: venv lab-build
	@bash hack/test.sh integration

lab-up: venv lab-build
	@"$(VENV)/bin/python" -m tests.lab up

lab-down: venv
	@"$(VENV)/bin/python" -m tests.lab down

clean:
	rm -rf .build tests/output .pytest_cache
