# Deckhand's tasks. `make test` is what CI runs (.ci/run); it installs and starts what it needs.
SHELL := /bin/bash
JOB ?= build
# the project whose .circleci/config.yml `make run` executes (default: an example that runs offline)
DIR ?= examples/hello

.PHONY: all deps build nomad-plugin test test-unit test-nomad test-nomad-harness docker images test-deps bench run clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

deps: node_modules/.package-lock.json

build: deps
	rm -rf dist
	npx tsc -p tsconfig.json
	node dist/agent/generate-validators.js >/dev/null
	node scripts/bundle.mjs
	node scripts/bundle-nomad-plugin.mjs

# The Nomad task driver plugin: one executable file, nomad-plugin/dist/deckhand (docs/nomad.md).
nomad-plugin: deps
	node scripts/bundle-nomad-plugin.mjs

# A Docker engine, installed and started if none is running.
docker:
	bash scripts/ensure-docker.sh

# The images jobs run in, built locally (nothing can be pulled from outside): all `make run` needs
# besides the engine.
images: docker
	bash scripts/build-test-images.sh

# What only the tests need besides: a registry binary for pull tests on loopback, the peers the
# suite talks to (chromium, a second gRPC implementation, moto, pytest, gotestsum), and Packer and
# Terraform for the fleet's templates and modules (docs/fleet.md).
test-deps:
	bash scripts/ensure-registry-binary.sh
	bash scripts/ensure-test-tools.sh
	bash scripts/ensure-fleet-tools.sh

# The whole suite: compiler, expressions, schema, corpus, and the Docker executor against a real engine;
# then the Nomad plugin's Go harness.
test: build images test-deps
	node --test --test-reporter=spec $$(find dist/test -name '*.test.js' | sort)
	$(MAKE) --no-print-directory test-nomad-harness

# The Nomad task driver plugin driven as a Nomad client drives it, and `deckhand nomad`'s job files,
# client configs and HTTP calls checked with Nomad's API types and HCL parser (Go, nomad-plugin/harness).
# Go's build cache (GOCACHE) keeps the harness build between runs.
test-nomad: build images
	$(MAKE) --no-print-directory test-nomad-harness

test-nomad-harness:
	bash scripts/ensure-nomad-harness-tools.sh
	cd nomad-plugin/harness && go test -count=1 -timeout 15m ./...

# Tests outside test/executor/docker/ and test/executor/machine/ that run jobs on the Docker engine
# (`deckhand execute`/`run`, DockerExecutor, the job-tools containers, the machine executor's sshd
# containers): only `make test` runs them. Paths under test/, no .ts.
ENGINE_TESTS := \
	artifacts/end-to-end \
	control-api/output-processor control-api/queue control-api/rerun-ssh control-api/restart control-api/serve \
	cli/agent cli/env-file cli/machine-jobs cli/nomad-task \
	fleet/client-engine fleet/drain-lifecycle fleet/packer fleet/terraform fleet/terraform-gcp \
	job-tools/glob job-tools/halt job-tools/install job-tools/split \
	output/backpressure output/stream/faults output/stream/memory output/stream/store-faults output/stream/streaming \
	runner/engine-loss runner/execute runner/machine-job runner/ssh-sections \
	steps/add-ssh-keys steps/checkout steps/persist-to-workspace steps/save-cache steps/setup-remote-docker steps/store-artifacts steps/store-test-results \
	test-results/execute \
	vm/aws-provider vm/docker-provider vm/static-provider \
	reliability/agent-faults reliability/scale reliability/store-faults \
	workflow/run workflow/s3-store

# Only the tests that need no Docker engine (fast inner loop). The executor contract on the chroot
# test double and the runner's tests need root and busybox-static (installed when missing).
test-unit: build
	node --test $$(find dist/test -name '*.test.js' -not -path '*/executor/docker/*' -not -path '*/executor/machine/*' $(foreach t,$(ENGINE_TESTS),-not -path 'dist/test/$(t).test.js') | sort)

bench: build images
	node dist/bench/compile.js
	node dist/bench/compile-large.js
	node dist/bench/compile-bounds.js
	node dist/bench/startup.js
	node dist/bench/output-masker.js
	node dist/bench/execute.js
	node dist/bench/agent.js
	node dist/bench/workflow.js
	node dist/bench/storage.js
	node dist/bench/output-throughput.js
	node dist/bench/output-latency.js
	node dist/bench/vm-acquire.js
	node dist/bench/machine-ssh.js
	node dist/bench/nomad-plugin.js
	node dist/bench/reclaim.js
	bash scripts/ensure-fleet-tools.sh
	node dist/bench/fleet.js
	node dist/bench/control-api.js
	node dist/bench/rerun-ssh.js
	node dist/bench/debug-ssh.js

# Run one job of a project's config locally in Docker: make run [DIR=path/to/repo] [JOB=build]
run: build images
	cd $(DIR) && $(CURDIR)/bin/deckhand.js execute --job $(JOB)

clean:
	rm -rf dist
