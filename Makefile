# gpufabric: `make demo` and `make test` each set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTIONS := $(CURDIR)/.collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/gpufabric/platform

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS):$(CURDIR)
export ANSIBLE_NOCOLOR := 1
ifdef CI
export NO_COLOR := 1
export PY_COLORS := 0
endif

.PHONY: help setup demo test unit integration molecule sanity bench cluster-up cluster-down control-plane clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-test.txt
	@echo "[setup] creating $(VENV) and installing pinned packages (about 1 minute the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../.. $@

setup: $(VENV)/.installed $(COLLECTION_LINK) ## Python environment, collection path, Debian packages the tests run
	@bash tests/harness/install-packages.sh

control-plane: ## Build (once, about 6 minutes) or reuse kube-apiserver + etcd
	@bash tests/harness/build-control-plane.sh >/dev/null

SPOKES ?= 0
cluster-up: setup ## Start (or resume) the hub and SPOKES=N spokes; writes .cluster/kubeconfig, fleet.kubeconfig
	@$(BIN)/python -m tests.harness.fleet up --spokes $(SPOKES)

cluster-down: setup ## Stop every local cluster started and remove .cluster/
	@$(BIN)/python -m tests.harness.fleet down

HOSTS ?= 3
.PHONY: hosts-up hosts-down
hosts-up: setup ## Start HOSTS=N test hosts (own address, hostname, sshd; root); writes .hosts/inventory.yml
	@$(BIN)/python -m tests.harness.hosts up --count $(HOSTS)

hosts-down: setup ## Stop the test hosts and remove .hosts/
	@$(BIN)/python -m tests.harness.hosts down

demo: setup ## A hub and two spokes on this machine, the fleet spec applied, then the tables
	@$(MAKE) --no-print-directory cluster-up SPOKES=2
	@$(BIN)/python -m tests.harness.demo

unit: setup ## Unit tests of the core (no server)
	@$(BIN)/python -m pytest tests/unit

integration: setup control-plane ## Integration tests against a fresh real control plane
	@$(BIN)/python -m pytest tests/integration

molecule: setup control-plane ## Molecule scenarios (converge, idempotence, verify) on localhost
	@cd extensions && $(BIN)/molecule test --all

sanity: setup ## ansible-test sanity, offline-safe
	@bash tests/sanity/run.sh

test: setup control-plane ## Every test: unit, integration, molecule, sanity
	@$(BIN)/python -m pytest tests
	@cd extensions && $(BIN)/molecule test --all
	@bash tests/sanity/run.sh

bench: setup control-plane ## Benchmarks (figures beside their floors; never asserted)
	@$(BIN)/python tests/bench/bench_core.py
	@$(BIN)/python -m tests.bench.bench_modules
	@$(BIN)/python -m tests.bench.bench_fabric
	@$(BIN)/python -m tests.bench.bench_spokes
	@$(BIN)/python -m tests.bench.bench_appliance

clean: cluster-down ## Remove local state (the cached control-plane binaries stay)
	@rm -rf $(VENV) $(COLLECTIONS) tests/output
