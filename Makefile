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

# ---- kflow ----------------------------------------------------------------------------------
PYTHON ?= python3
.PHONY: setup demo test test-unit lint bench

# Python dependencies of kflow and its tests (editable install).
setup:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# The main job on the embedded default: the getting-started flow, run locally.
demo: setup
	kflow run flows/01_getting_started_data_pipeline.yaml

# The whole test suite on real components: PostgreSQL, and the Go-built control plane with a real
# node. Everything is installed or built when missing, and stopped afterwards even when tests fail.
test: setup
	$(MAKE) cluster-up
	scripts/postgres.sh start  # after cluster-up: it listens on the node's address too
	status=0; $(PYTHON) -m pytest -q -p no:cacheprovider || status=$$?; \
	  $(MAKE) cluster-down; scripts/postgres.sh stop; exit $$status

# Fast loop without the control plane.
test-unit: setup
	$(PYTHON) -m pytest -q -m "not cluster and not postgres"

lint:
	$(PYTHON) -m ruff check operator tests bench

bench:
	$(PYTHON) bench/local_overhead.py
