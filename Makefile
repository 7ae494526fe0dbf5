# portflow: `make start` runs the ping example, `make test` runs the tests. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: start test lint bench install clean services fuzz

$(STAMP): pyproject.toml $(wildcard examples/plugin/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,bench,nats]'
	@if [ -f examples/plugin/pyproject.toml ]; then $(BIN)/pip install --quiet -e examples/plugin; fi
	$(BIN)/python -c "import yaml, sys; sys.exit(0 if yaml.__with_libyaml__ else 'PyYAML was built without libyaml')"
	touch $(STAMP)

install: $(STAMP)

start: install
	$(BIN)/portflow start --from-specs examples/ping.yaml -e PORT=$(PORT)

test: install
	$(BIN)/pytest

# ruff (style, bugs, security, async traps) over the whole tree; mypy (strict on the core modules).
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Longer fuzzing runs of the property-based targets (seconds each in `make test`). One line per target.
FUZZ_EXAMPLES ?= 20000
fuzz: install
	PORTFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 tests/test_fuzz_spec.py
	PORTFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 tests/plugins/net/test_fuzz_request.py

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@echo "== benchmarks/ping.sh (side by side with Node-RED)"; bash benchmarks/ping.sh

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
