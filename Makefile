# The two commands of the README:
#   make serve   install into .venv (first time) and start the server on its embedded default
#   make test    install the test tools (first time) and run the whole suite
# And the deliberate step that fixes the released contract:
#   make release-contract   write contract/stowage-v1.binpb, the image `buf breaking` checks against
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUF := npx --no-install buf
CONTRACT := contract/stowage-v1.binpb

.PHONY: serve test test-node lint protos apidocs release-contract bench bench-run reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,azure]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

serve: $(STAMP)
	$(BIN)/stowage serve $(ARGS)

lint: $(STAMP) node_modules/.installed
	$(BIN)/python scripts/protos.py check
	$(BIN)/python scripts/protos.py deps third_party/protos
	$(BUF) lint
	$(BUF) breaking protos --against $(CONTRACT)
	$(BIN)/python scripts/apidocs.py check
	$(BIN)/ruff check .
	$(BIN)/mypy --strict clients/python

test: lint
	$(BIN)/pytest
	$(MAKE) test-node

# The Node client against a real server; needs the staged google.rpc protos (lint).
test-node: $(STAMP) node_modules/.installed
	$(BIN)/python scripts/protos.py deps third_party/protos
	node --test clients/node/

protos: $(STAMP)
	$(BIN)/python scripts/protos.py gen
	$(BIN)/python scripts/apidocs.py gen

apidocs: $(STAMP)
	$(BIN)/python scripts/apidocs.py gen

# Run when a version of the contract is released: later changes must stay
# compatible with this image (`buf breaking` in lint). Offline, no source info.
release-contract: $(STAMP) node_modules/.installed
	$(BIN)/python scripts/protos.py deps third_party/protos
	$(BUF) build protos --exclude-source-info -o $(CONTRACT)

bench: $(STAMP)
	$(BIN)/python bench/assembly_rss.py

# Stowage against restic on the reference dataset (issue 7); ARGS="--quick",
# "--scale 4", "--scaling", "--profile". Needs restic (installed when root).
bench-run: $(STAMP)
	bench/run $(ARGS)

# The reliability soak of tests/faults, with its table of figures (ARGS="--short" for the
# short run, ARGS="--seed N" for other random choices).
reliability: $(STAMP) node_modules/.installed
	$(BIN)/python bench/reliability.py $(ARGS)
