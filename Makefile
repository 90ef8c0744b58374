# The two commands of the README:
#   make serve   install into .venv (first time) and start the server on its embedded default
#   make test    install the test tools (first time) and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint protos bench

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
	npx --no-install buf lint
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

protos: $(STAMP)
	$(BIN)/python scripts/protos.py gen

bench: $(STAMP)
	$(BIN)/python bench/assembly_rss.py
