# Single-node Throwbox: see README.md and docs/getting-started.md.
.PHONY: up down status artifacts test test-failures unit lint bench clean-state cluster cluster-status cluster-down test-cluster

up:
	scripts/up.sh

down:
	scripts/down.sh

status:
	scripts/status.sh

# Versioned artifacts (wheel, venv-free bundle, sandbox image tarballs, manifest) in
# .state/artifacts: what a cluster installs (docs/terraform.md). ARGS=--no-images skips the images.
artifacts:
	scripts/ensure-venv.sh
	scripts/build-artifacts.sh $(ARGS)

test:
	scripts/test.sh $(ARGS)

# The disruptive failure tests alone (make test runs them too, last).
test-failures:
	scripts/up.sh
	.venv/bin/pytest -q tests/integration/test_failures.py $(ARGS)

unit:
	scripts/ensure-venv.sh
	.venv/bin/pytest -q tests/unit $(ARGS)

lint:
	scripts/ensure-venv.sh
	.venv/bin/ruff check .

bench:
	@if [ -f bench/run.py ]; then .venv/bin/python bench/run.py $(ARGS); else echo "bench/run.py does not exist yet"; fi

# The local multi-node cluster (docs/cluster.md): 3 servers, 2 control planes, 2+ workers.
cluster:
	scripts/cluster/up.sh

cluster-status:
	scripts/cluster/status.sh

cluster-down:
	scripts/cluster/down.sh

# Brings the cluster up, runs tests/cluster against it, takes it down.
test-cluster:
	scripts/cluster/test.sh $(ARGS)

# Drops Kafka's log, Consul's KV (API keys, functions) and Nomad's state. Stack must be down.
clean-state:
	@for f in .state/run/*.pid; do \
	  [ -f "$$f" ] && kill -0 "$$(cat "$$f")" 2>/dev/null && { echo "$$f: still running; run 'make down' first"; exit 1; }; \
	done; true
	@if grep -q " $(CURDIR)/.state/" /proc/self/mounts; then echo "mounts left under .state; run 'make down' first"; exit 1; fi
	rm -rf .state
