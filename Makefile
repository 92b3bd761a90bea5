# Deckhand's tasks. `make test` is what CI runs (.ci/run); it installs and starts what it needs.
SHELL := /bin/bash
JOB ?= build
CONFIG ?= .circleci/config.yml

.PHONY: all deps build test test-unit docker images bench run clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

deps: node_modules/.package-lock.json

build: deps
	rm -rf dist
	npx tsc -p tsconfig.json
	node dist/agent/config/schema/generate-validator.js >/dev/null

# A Docker engine and the locally built test images (nothing can be pulled).
docker:
	bash scripts/ensure-docker.sh

images: docker
	bash scripts/build-test-images.sh

# The whole suite: compiler, expressions, schema, corpus, and the Docker executor against a real engine.
test: build images
	node --test --test-reporter=spec $$(find dist/test -name '*.test.js' | sort)

# Only the tests that need no Docker engine (fast inner loop).
test-unit: build
	node --test $$(find dist/test -name '*.test.js' -not -path '*/executor/*' | sort)

bench: build
	node dist/bench/compile.js
	node dist/bench/startup.js

# Compile one job of a config to its JobSpec (execution in Docker lands with `deckhand execute`).
run: build
	node bin/deckhand.js config process -c $(CONFIG) --job $(JOB) --jobspec

clean:
	rm -rf dist
