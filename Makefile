# Local Kubernetes control plane for tests (tests/cluster/README.md).
.PHONY: cluster-build cluster-up cluster-down cluster-status

cluster-build:
	tests/cluster/build.sh

cluster-up:
	tests/cluster/up.sh

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

# The whole test suite on real components: PostgreSQL, and the Go-built control plane with the node
# agent. Everything is installed or built when missing, and stopped afterwards even when tests fail.
test: setup
	scripts/postgres.sh start
	$(MAKE) cluster-up
	status=0; $(PYTHON) -m pytest -q -p no:cacheprovider || status=$$?; \
	  $(MAKE) cluster-down; scripts/postgres.sh stop; exit $$status

# Fast loop without the control plane.
test-unit: setup
	$(PYTHON) -m pytest -q -m "not cluster and not postgres"

lint:
	$(PYTHON) -m ruff check operator tests bench

bench:
	$(PYTHON) bench/local_overhead.py
