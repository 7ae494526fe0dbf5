# portflow: `make start` runs the ping example, `make test` runs the tests. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The TypeScript compiler's JavaScript (npm, pinned by js/package-lock.json), shipped in the wheel.
VENDOR := src/portflow/lang/vendor
TSC_JS := $(VENDOR)/typescript.js
PORT ?= 8000

.PHONY: start test lint bench install clean services fuzz pictures typescript

$(TSC_JS): js/package.json js/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed to build $(TSC_JS) (the TypeScript compiler for typescript snippets)"; exit 1; }
	cd js && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp js/node_modules/typescript/lib/typescript.js $(TSC_JS).tmp
	cp js/node_modules/typescript/LICENSE.txt $(VENDOR)/typescript.LICENSE.txt
	cp js/node_modules/typescript/ThirdPartyNoticeText.txt $(VENDOR)/typescript.ThirdPartyNoticeText.txt
	mv $(TSC_JS).tmp $(TSC_JS)

typescript: $(TSC_JS)

$(STAMP): pyproject.toml $(wildcard examples/plugin/pyproject.toml) $(TSC_JS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test,lint,bench]'
	@if [ -f examples/plugin/pyproject.toml ]; then $(BIN)/pip install --quiet -e examples/plugin; fi
	$(BIN)/python -c "import yaml, sys; sys.exit(0 if yaml.__with_libyaml__ else 'PyYAML was built without libyaml')"
	touch $(STAMP)

install: $(STAMP)

start: install
	$(BIN)/portflow start --from-specs examples/ping.yaml -e PORT=$(PORT)

test: install
	$(BIN)/pytest

# ruff (style, bugs, security, async traps) over the whole tree; mypy (strict on the core modules);
# `portflow lint` over every example (each file its own namespace).
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	@for f in examples/*.yaml; do $(BIN)/portflow lint -f $$f -e PORT=8000 || exit 1; done

# Longer fuzzing runs of the property-based targets (seconds each in `make test`). One line per target.
FUZZ_EXAMPLES ?= 20000
fuzz: install
	PORTFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 tests/test_fuzz_spec.py
	PORTFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider --timeout=0 tests/plugins/net/test_fuzz_request.py

# The picture of each example (tests/cli/test_graph.py checks they are not stale).
pictures: install
	@for f in examples/*.yaml; do $(BIN)/portflow graph -f $$f -o svg > $${f%.yaml}.svg || exit 1; done

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@echo "== benchmarks/ping.sh (side by side with Node-RED)"; bash benchmarks/ping.sh

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info js/node_modules $(VENDOR)
