# Local Kubernetes cluster for tests: Go-built control plane + a real node (tests/cluster/README.md).
.PHONY: cluster-build cluster-up cluster-down cluster-status image

# Control-plane and node binaries (pinned, cached; rebuilt only when a pin changes).
cluster-build:
	tests/cluster/build.sh
	tests/cluster/build-node.sh

cluster-up: setup
	tests/cluster/up.sh

# kflow:dev from the root Dockerfile (BuildKit), loaded into the node; rebuilt when its inputs change.
image: setup
	tests/cluster/image.sh

cluster-down:
	tests/cluster/down.sh

cluster-status:
	python3 tests/cluster/clusterctl.py status

# Flux controllers for the GitOps tests (tests/gitops/, README "GitOps with Flux"); cached.
.PHONY: flux-build
flux-build:
	tests/gitops/build.sh

# ---- kflow ----------------------------------------------------------------------------------
# A project virtualenv (.venv): Debian 12's python3 refuses `pip install` outside one (PEP 668). An
# active virtualenv ($VIRTUAL_ENV) is used as it is. Every target below runs in it.
VENV ?= $(or $(VIRTUAL_ENV),.venv)
PYTHON ?= $(abspath $(VENV))/bin/python
export PYTHON
export PATH := $(abspath $(VENV))/bin:$(PATH)
.PHONY: setup demo test test-unit lint bench

# Python dependencies of kflow and its tests (editable install).
setup: $(VENV)/.kflow-setup
$(VENV)/.kflow-setup: pyproject.toml
	scripts/venv.sh $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The main job on the embedded default: the getting-started flow, run locally.
demo: setup
	$(PYTHON) -m kflow.cli run flows/01_getting_started_data_pipeline.yaml

# Test servers and emulators listen on the node's address: pods reach the host only there.
NODE_IP ?= 10.244.0.1

# The whole test suite on real components: PostgreSQL, and the Go-built control plane with a real
# node. Everything is installed or built when missing, and stopped afterwards even when tests fail.
test: setup
	$(MAKE) cluster-up
	scripts/postgres.sh start  # after cluster-up: it listens on the node's address too
	KFLOW_GCP_EMULATOR_HOST=$(NODE_IP) scripts/gcp-emulators.sh start >/dev/null
	tests/gitops/build.sh >/dev/null
	status=0; KFLOW_TEST_BIND_ADDRESS=$(NODE_IP) KFLOW_GCP_EMULATOR_HOST=$(NODE_IP) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider --durations=30 || status=$$?; \
	  $(MAKE) cluster-down; scripts/gcp-emulators.sh stop; scripts/postgres.sh stop; exit $$status

# Fast loop without the control plane.
test-unit: setup
	$(PYTHON) -m pytest -q -m "not cluster and not postgres and not gcp"

lint: setup
	$(PYTHON) -m ruff check operator tests bench

bench: setup
	$(PYTHON) bench/local_overhead.py
